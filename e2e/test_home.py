"""Each role signs in through the real login page and sees its own home page (Chromium)."""

from decimal import Decimal

import pytest

from e2e.conftest import login, screenshot
from inventory.services import stock_movement_post
from inventory.tests.factories import PASSWORD, ProductFactory
from sales.tests.factories import post_sale

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def shop(world_tx):
    tea = ProductFactory(sku="TEA-1", name="Breakfast tea", mrp=Decimal("4.50"), dp=Decimal("4.00"))
    for store in (world_tx.store_own, world_tx.store_other):
        stock_movement_post(store=store, product=tea, quantity=Decimal("30"), kind="opening")
    post_sale(store=world_tx.store_own, lines=[(tea, 2, None)])  # 9.00 today in the staff member's store
    post_sale(store=world_tx.store_other, lines=[(tea, 10, None)])  # 45.00 in the other store
    return world_tx


@pytest.mark.parametrize(
    ("role", "sees", "does_not_see"),
    [
        ("staff", ["Count stock", "£9.00"], ["Exports for the books", "£54.00", "Other Road"]),
        ("owner", ["Reconcile counts", "£54.00", "Other Road"], []),
        ("accountant", ["Exports for the books", "£54.00"], ["Count stock"]),
    ],
)
def test_each_role_sees_its_home_page(page_factory, shop, role, sees, does_not_see):
    user = getattr(shop, role)
    page = page_factory()

    login(page, user.username, PASSWORD)
    page.wait_for_selector("[data-testid=takings-today]")

    text = page.inner_text("body")
    assert role in page.inner_text("[data-testid=role]")
    for expected in sees:
        assert expected in text, f"{role} should see {expected!r}"
    for hidden in does_not_see:
        assert hidden not in text, f"{role} must not see {hidden!r}"
    screenshot(page, f"home-{role}")


def test_home_works_at_phone_width(page_factory, shop):
    page = page_factory(width=375, height=812)
    login(page, shop.staff.username, PASSWORD)
    page.wait_for_selector("[data-testid=takings-today]")

    # the menu is folded behind the burger and opens on tap
    assert not page.is_visible("nav.nav")
    page.click("label.nav-burger")
    assert page.is_visible("nav.nav")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"page scrolls sideways at phone width ({width}px)"
    screenshot(page, "home-staff-phone")


def test_wrong_password_shows_a_message(page_factory, shop):
    page = page_factory()
    login(page, shop.owner.username, "not-the-password")
    assert "Please enter a correct username and password" in page.inner_text("body")
