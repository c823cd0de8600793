"""The dashboards in Chromium: a filter swaps the KPIs and the chart in place and lands in the URL;
the KPIs pick up a new sale by themselves; every page fits a phone."""

from decimal import Decimal

import pytest

from e2e.conftest import login, screenshot
from inventory.models import Category
from inventory.services import stock_movement_post
from inventory.tests.factories import PASSWORD, ProductFactory
from sales.tests.factories import post_sale

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def shop(world_tx):
    drinks = Category.objects.create(name="Drinks")
    snacks = Category.objects.create(name="Snacks")
    tea = ProductFactory(sku="TEA-1", name="Breakfast tea", category=drinks, mrp=Decimal("4.50"), dp=Decimal("4.00"))
    crisps = ProductFactory(sku="CRISP-1", name="Crisps", category=snacks, mrp=Decimal("1.00"), dp=Decimal("0.90"))
    for store in (world_tx.store_own, world_tx.store_other):
        for product in (tea, crisps):
            stock_movement_post(store=store, product=product, quantity=Decimal("50"), kind="opening")
    post_sale(store=world_tx.store_own, lines=[(tea, 2, None), (crisps, 1, None)])  # 10.00
    post_sale(store=world_tx.store_other, lines=[(tea, 10, None)])  # 45.00
    world_tx.obj.update(tea=tea, crisps=crisps)
    return world_tx


def kpi(page, name="revenue") -> str:
    return page.inner_text(f"[data-testid=kpi-{name}]")


def chart_data(page, testid="chart-stores"):
    return page.evaluate(
        """(id) => { const c = document.querySelector(`[data-testid=${id}]`);
                     const chart = c && window.Chart && window.Chart.getChart(c);
                     return chart ? chart.data.datasets[0].data : null; }""",
        testid,
    )


def test_changing_the_store_filter_updates_kpis_chart_and_url(page_factory, shop):
    page = page_factory()
    login(page, shop.owner.username, PASSWORD)
    page.goto("/sales/dashboard/?period=today")
    page.wait_for_selector("[data-testid=kpi-revenue]")
    assert kpi(page) == "£55.00"
    assert chart_data(page, "chart-trend") is not None  # drawn by Chart.js
    assert sorted(chart_data(page)) == [10.0, 45.0]
    screenshot(page, "dashboard-owner-before-filter")

    page.select_option("[data-testid=filter-store]", str(shop.store_other.pk))
    page.wait_for_function("document.querySelector('[data-testid=kpi-revenue]').innerText === '£45.00'")

    assert f"store={shop.store_other.pk}" in page.url
    assert "<html" not in page.content()[200:]  # the body was swapped, not the page reloaded
    assert "Other Road" in page.inner_text("[data-testid=table-stores]")
    assert "Own Street" not in page.inner_text("[data-testid=table-stores]")
    assert chart_data(page, "chart-trend") is not None

    page.select_option("[data-testid=filter-category]", label="Snacks")
    page.wait_for_function("document.querySelector('[data-testid=kpi-revenue]').innerText === '£0.00'")
    assert chart_data(page, "chart-categories") is None  # no snack sold at Other Road today
    screenshot(page, "dashboard-owner-after-filter")

    page.reload()  # the filters survive a reload: they are in the URL
    page.wait_for_selector("[data-testid=kpi-revenue]")
    assert kpi(page) == "£0.00"
    assert page.input_value("[data-testid=filter-store]") == str(shop.store_other.pk)


def test_kpis_refresh_by_themselves_after_a_sale(page_factory, shop):
    page = page_factory()
    login(page, shop.staff.username, PASSWORD)
    page.goto("/sales/dashboard/?period=today")
    page.wait_for_selector("[data-testid=kpi-revenue]")
    assert kpi(page) == "£10.00"

    post_sale(store=shop.store_own, lines=[(shop.obj["tea"], 1, None)])

    page.wait_for_function("document.querySelector('[data-testid=kpi-revenue]').innerText === '£14.50'", timeout=15000)
    assert "Margin" not in page.inner_text("body")


@pytest.mark.parametrize(
    "path", ["/sales/dashboard/", "/sales/inventory-kpis/", "/sales/profit/", "/sales/cash-flow/", "/sales/exports/"]
)
def test_pages_fit_a_phone(page_factory, shop, path):
    page = page_factory(width=375, height=812)
    login(page, shop.owner.username, PASSWORD)
    page.goto(path)
    page.wait_for_load_state("networkidle")

    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"{path} scrolls sideways at phone width ({width}px)"
    screenshot(page, "phone" + path.rstrip("/").replace("/", "-"))
