"""The customer insights page in Chromium: charts drawn, tables beside them, phone width, no personal
data for the accountant."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from customers.tests.factories import CustomerFactory
from e2e.conftest import login, screenshot
from inventory.tests.factories import PASSWORD, ProductFactory
from sales.tests.factories import post_sale

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def members(world_tx):
    tea = ProductFactory(sku="TEA-9", name="Green tea", mrp=Decimal("5.00"), dp=Decimal("4.00"))
    now = timezone.now()
    for i in range(6):
        c = CustomerFactory(name=f"Browser Person {i}", home_store=world_tx.store_own)
        for k in range(1 + i):
            price = None if (i + k) % 2 else Decimal("4.00")
            post_sale(
                store=world_tx.store_own, lines=[(tea, 1 + k, price)], customer=c, when=now - timedelta(days=9 * k + i)
            )
    return world_tx


def test_insights_page_draws_its_charts_for_the_owner_and_hides_names_from_the_accountant(page_factory, members):
    page = page_factory()
    login(page, members.owner.username, PASSWORD)
    page.goto("/customers/insights/")
    page.wait_for_selector("[data-testid=rfm-segments] canvas")
    drawn = page.evaluate(
        "() => Array.from(document.querySelectorAll('canvas[data-chart]')).filter(c => window.Chart.getChart(c)).length"
    )
    assert drawn == 5
    assert page.locator("[data-testid=repeat-rate] table").is_visible()
    assert "Champions" in page.content() or "New" in page.content()
    screenshot(page, "customers-insights-owner-1280")

    # the store filter swaps the body with HTMX and the charts are drawn again
    page.select_option("select[name=store]", str(members.store_own.pk))
    page.wait_for_url(f"**store={members.store_own.pk}**")
    page.wait_for_function("() => document.querySelectorAll('canvas[data-chart]').length === 5")
    assert page.evaluate(
        "() => Array.from(document.querySelectorAll('canvas[data-chart]')).every(c => window.Chart.getChart(c))"
    )

    phone = page_factory(width=375, height=800)
    login(phone, members.owner.username, PASSWORD)
    phone.goto("/customers/insights/")
    phone.wait_for_selector("[data-testid=rfm-segments] canvas")
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 375
    screenshot(phone, "customers-insights-owner-375")

    acc = page_factory()
    login(acc, members.accountant.username, PASSWORD)
    acc.goto("/customers/")
    acc.wait_for_selector("[data-testid=customer-table]")
    assert "Browser Person" not in acc.content()
    screenshot(acc, "customers-list-accountant-1280")
