"""Browser test: the owner accepts a reorder suggestion and turns it into a draft purchase order."""

from datetime import date

import pytest

from e2e.conftest import login, screenshot
from forecasting import services
from forecasting.models import ReorderSuggestion
from forecasting.tests.factories import finished_run, stock_level
from inventory.models import PurchaseOrder
from inventory.tests.factories import PASSWORD, ProductFactory, StoreFactory, SupplierFactory, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_owner_accepts_a_suggestion_into_a_draft_purchase_order(page_factory):
    # given a store low on tea, a forecast of 10 a day and its suggestions
    store = StoreFactory(code="E2E", name="Browser Street")
    tea = ProductFactory(sku="TEA-E2E", name="Breakfast tea", supplier=SupplierFactory(name="Leaf & Co"), case_pack=12)
    stock_level(store=store, product=tea, on_hand=5)
    run = finished_run(pairs=[(store, tea)], end=date(2025, 3, 31), daily=10.0, rmse=2.0)
    services.reorder_suggestions_build(store_ids=[store.pk], run=run)
    owner = make_user("owner", username="e2e_owner")
    page = page_factory()
    login(page, owner.username, PASSWORD)
    # when the owner opens the reorder page, reads why, and accepts the line (HTMX swaps the row)
    page.goto("/forecasting/reorder/")
    # the count of customers who met empty shelves loads beside the alerts (no model run yet: none)
    badge = page.locator("[data-testid=stock-exposure-badge]")
    badge.wait_for()
    assert "0 customers met empty shelves" in badge.inner_text()
    row = page.locator("[data-testid=suggestion-row]").filter(has_text="TEA-E2E")
    row.locator("summary", has_text="Why").click()
    assert "Safety stock" in row.inner_text()
    row.locator("[data-testid=accept]").click()
    page.locator("[data-testid=suggestion-row]").filter(has_text="accepted").wait_for()
    screenshot(page, "reorder-accepted-1280")
    page.reload()
    page.click("[data-testid=create-pos]")
    page.wait_for_load_state("networkidle")
    # then one draft purchase order holds the suggested quantity
    order = PurchaseOrder.objects.get()
    suggestion = ReorderSuggestion.objects.get(product=tea)
    assert (order.status, order.supplier.name, order.store.code) == ("draft", "Leaf & Co", "E2E")
    assert order.lines.get().quantity_ordered == suggestion.quantity
    assert suggestion.status == "ordered"
    assert "Draft purchase order(s) created" in page.inner_text(".messages")
    screenshot(page, "reorder-ordered-1280")
    phone = page_factory(width=375, height=800)
    login(phone, owner.username, PASSWORD)
    phone.goto("/forecasting/reorder/?status=ordered")
    screenshot(phone, "reorder-ordered-375")
