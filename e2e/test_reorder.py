"""Browser tests: the owner accepts a reorder suggestion into a draft purchase order, and orders for a season."""

from datetime import date, timedelta

import pytest

from e2e.conftest import login, screenshot
from forecasting import services
from forecasting.models import ReorderSuggestion, StockAlert
from forecasting.tests.factories import finished_run, sales_days, stock_level
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


def test_owner_orders_for_a_season_coming_back_from_its_alert_on_a_phone(page_factory):
    # given mince pies forecast at 1 a day, which sold 5 a day in the same four weeks last year
    end = date(2025, 3, 31)
    store = StoreFactory(code="XMS", name="Season Street")
    pies = ProductFactory(sku="PIE-E2E", name="Mince pies", supplier=SupplierFactory(name="Bakewell"), case_pack=1)
    stock_level(store=store, product=pies, on_hand=2)
    run = finished_run(pairs=[(store, pies)], end=end, daily=1.0, rmse=0.5)
    sales_days(store=store, product=pies, units=[5] * 28, end=end + timedelta(days=28 - 364))
    services.reorder_suggestions_build(store_ids=[store.pk], run=run)
    promised = int(StockAlert.objects.get(kind="season").message.rsplit("buys ", 1)[1].rstrip("."))
    owner = make_user("owner", username="e2e_owner_season")
    phone = page_factory(width=375, height=800)
    login(phone, owner.username, PASSWORD)
    # when the owner opens the folded alerts and presses "Order for the season"
    phone.goto(f"/forecasting/reorder/?store={store.pk}")
    phone.locator("[data-testid=alerts-more] summary").click()
    alert = phone.locator("[data-testid=alerts-more] tr", has_text="season coming back")
    assert "last year sold 140" in alert.inner_text()
    screenshot(phone, "reorder-season-alert-375")
    alert.locator("[data-testid=season-order]").click()
    phone.wait_for_load_state("networkidle")
    # then the page says what was ordered, and the accepted line is listed with that quantity
    assert f"{promised} accepted for the season" in phone.inner_text(".messages")
    row = phone.locator("[data-testid=suggestion-row]").filter(has_text="PIE-E2E")
    assert "accepted" in row.inner_text()
    line = ReorderSuggestion.objects.get(product=pies, status="accepted")
    assert line.quantity == promised
    screenshot(phone, "reorder-season-ordered-375")
