"""The count page driven like a keyboard-wedge scanner (code + Enter, repeated) in Chromium."""

from decimal import Decimal

import pytest

from e2e.conftest import login, screenshot
from inventory.models import StockCount
from inventory.services import stock_movement_post
from inventory.tests.factories import PASSWORD, ProductFactory

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def count_shop(world_tx):
    products = [
        ProductFactory(sku=f"P{n:03d}", barcode=f"77000000{n:05d}", name=f"Shelf product {n}") for n in range(1, 101)
    ]
    for product in products:
        stock_movement_post(store=world_tx.store_own, product=product, quantity=Decimal("6"), kind="opening")
    world_tx.obj["products"] = products
    return world_tx


def _start_count_in_the_browser(page, shop):
    page.goto("/inventory/counts/")
    page.click("[data-testid=start-count]")
    page.select_option("#id_store", str(shop.store_own.pk))
    page.click("[data-testid=start-form] button[type=submit]")
    page.wait_for_selector("[data-testid=scan-code]")


def _scan(page, code):
    page.fill("[data-testid=scan-code]", code)
    page.press("[data-testid=scan-code]", "Enter")


def test_staff_counts_like_a_scanner_without_reloads(page_factory, count_shop):
    page = page_factory()
    login(page, count_shop.staff.username, PASSWORD)
    _start_count_in_the_browser(page, count_shop)
    page.evaluate("window.__sameDocument = true")

    # when: the scanner sends the same barcode three times, then a SKU, each followed by Enter
    for code in ["7700000000001", "7700000000001", "7700000000001", "P002"]:
        _scan(page, code)
    page.wait_for_function("document.getElementById('scan-queue').textContent === ''")

    # then: the lines incremented in place, with no page load in between
    assert page.inner_text("[data-testid=line-P001] [data-testid=qty]") == "3"
    assert page.inner_text("[data-testid=line-P002] [data-testid=qty]") == "1"
    assert page.evaluate("window.__sameDocument") is True
    assert "2 of 100 lines counted" in page.inner_text("[data-testid=count-progress]")

    # a typed total, and an unknown code kept with a note
    page.fill("[data-testid=scan-qty]", "12")
    page.check("[data-testid=mode-set]")
    _scan(page, "P003")
    page.wait_for_selector("[data-testid=line-P003]")
    assert page.inner_text("[data-testid=line-P003] [data-testid=qty]") == "12"
    _scan(page, "NO-SUCH-CODE")
    page.wait_for_selector("[data-testid=unknown-form]")
    assert "matches no product" in page.inner_text("[data-testid=scan-feedback]")
    page.fill("#unknown-note", "green bottle without label")
    page.click("[data-testid=unknown-form] button[type=submit]")
    page.wait_for_selector("[data-testid=line-unknown-NO-SUCH-CODE]")
    assert page.evaluate("window.__sameDocument") is True
    screenshot(page, "count-scanner-desktop")


def test_counting_a_100_product_store_on_a_phone(page_factory, count_shop):
    page = page_factory(width=375, height=812)
    login(page, count_shop.staff.username, PASSWORD)
    _start_count_in_the_browser(page, count_shop)
    screenshot(page, "count-phone-start")

    # every product scanned, the fast way: codes typed back to back without waiting for the server
    for product in count_shop.obj["products"]:
        _scan(page, product.barcode)
    page.wait_for_function("document.getElementById('scan-queue').textContent === ''", timeout=60000)
    _scan(page, "P050")  # one product found twice on the shelf
    page.wait_for_function("document.getElementById('scan-queue').textContent === ''")

    assert "100 of 100 lines counted" in page.inner_text("[data-testid=count-progress]")
    assert page.inner_text("[data-testid=line-P050] [data-testid=qty]") == "2"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the count page scrolls sideways at phone width ({width}px)"
    screenshot(page, "count-phone-scanned")

    page.click("[data-testid=submit-count]")
    page.wait_for_load_state("networkidle")
    assert "is submitted" in page.inner_text("body")
    count = StockCount.objects.get()
    assert count.status == "submitted"
    assert sorted(count.lines.values_list("counted_qty", flat=True)) == [Decimal("1")] * 99 + [Decimal("2")]
    screenshot(page, "count-phone-submitted")
