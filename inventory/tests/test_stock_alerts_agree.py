"""The home page's Stock alerts panel: every low line says what is on order, and its counts count its rows."""

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inventory.models import PurchaseOrder, PurchaseOrderLine, StockLevel
from inventory.selectors import low_stock
from inventory.tests.factories import PASSWORD, ProductFactory

pytestmark = pytest.mark.django_db

TUESDAY = date(2026, 12, 8)
STATUSES = [s.value for s in PurchaseOrder.Status]


def _client(user) -> Client:
    c = Client()
    assert c.login(username=user.username, password=PASSWORD)
    return c


def _level(store, product, *, on_hand, min_qty=None) -> StockLevel:
    # Read-side test data: stock normally changes through inventory.services.
    return StockLevel.objects.create(
        store=store, product=product, on_hand=Decimal(on_hand), min_qty=None if min_qty is None else Decimal(min_qty)
    )


def _order(store, product, *, ordered, received=0, status=PurchaseOrder.Status.ORDERED, expected=TUESDAY):
    order = PurchaseOrder.objects.create(supplier=product.supplier, store=store, status=status, expected_date=expected)
    PurchaseOrderLine.objects.create(
        order=order,
        product=product,
        quantity_ordered=Decimal(ordered),
        quantity_received=Decimal(received),
        unit_cost=Decimal("1.00"),
    )


def _panel(user) -> str:
    return _client(user).get(reverse("inventory:stock_alerts")).content.decode()


def _pill(html: str, testid: str) -> int:
    m = re.search(rf'data-testid="{testid}">(\d+) ', html)
    return int(m.group(1)) if m else 0


def _rows(html: str, covered: str) -> int:
    return html.count(f'data-testid="low-row" data-covered="{covered}"')


def test_a_low_line_on_order_says_how_much_and_when_and_is_not_counted_as_to_order(world):
    # given: paper 3 on hand under a minimum of 7, 24 ordered for Tuesday; soap 2 under 5 with nothing on order
    paper, soap, salt = ProductFactory(sku="PAP006"), ProductFactory(sku="SOAP"), ProductFactory(sku="SALT")
    _level(world.store_own, paper, on_hand=3, min_qty=7)
    _order(world.store_own, paper, ordered=24)
    _order(world.store_own, paper, ordered=50, status=PurchaseOrder.Status.DRAFT)  # a draft is not on order
    _level(world.store_own, soap, on_hand=2, min_qty=5)
    # salt: 1 under 10, 12 ordered of which 10 came: 2 still open, not enough to lift it above 10
    _level(world.store_own, salt, on_hand=1, min_qty=10)
    _order(world.store_own, salt, ordered=12, received=10, status=PurchaseOrder.Status.PARTLY_RECEIVED)
    # when
    html = _panel(world.staff)
    # then
    paper_row = html.split("PAP006")[1].split("</tr>")[0]
    assert "on order: 24, due Tue 8 Dec" in paper_row and "covered" in paper_row
    salt_row = html.split("SALT")[1].split("</tr>")[0]
    assert "on order: 2, due Tue 8 Dec" in salt_row and "not enough" in salt_row
    assert "nothing on order" in html.split("SOAP")[1].split("</tr>")[0]
    assert (_pill(html, "low-to-order"), _pill(html, "low-covered")) == (2, 1)
    assert (_rows(html, "no"), _rows(html, "yes")) == (2, 1)
    # the lines to order come first
    assert html.index("SOAP") < html.index("PAP006") and html.index("SALT") < html.index("PAP006")


def test_the_counts_cover_the_lines_beyond_the_listed_ones(world):
    for i in range(23):
        _level(world.store_own, ProductFactory(), on_hand=i % 3, min_qty=5)
    low = low_stock(user=world.staff, limit=20)
    assert (low.to_order, low.covered, len(low.rows), low.hidden) == (23, 0, 20, 3)
    html = _panel(world.staff)
    assert _pill(html, "low-to-order") == 23 and _rows(html, "no") == 20
    assert "3 more" in html


line = st.fixed_dictionaries(
    {
        "own": st.booleans(),
        "on_hand": st.integers(-3, 15),
        "min_qty": st.none() | st.integers(0, 12),
        "orders": st.lists(
            st.tuples(
                st.sampled_from(STATUSES), st.integers(1, 30), st.integers(0, 30), st.none() | st.integers(-3, 20)
            ),
            max_size=3,
        ),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(line, max_size=8))
def test_counts_shown_equal_the_rows_listed_and_the_rule(world, lines):
    """For random small stock books: the panel's counts are its rows, for the staff member (one store) and
    the owner (both), and each row is where the rule puts it."""
    with transaction.atomic():
        expected = {"staff": [0, 0], "owner": [0, 0]}
        for spec in lines:
            store = world.store_own if spec["own"] else world.store_other
            product = ProductFactory()
            _level(store, product, on_hand=spec["on_hand"], min_qty=spec["min_qty"])
            open_qty = 0
            for status, ordered, received, due in spec["orders"]:
                received = min(received, ordered)
                expected_date = None if due is None else TUESDAY + timedelta(days=due)
                _order(store, product, ordered=ordered, received=received, status=status, expected=expected_date)
                if status in (PurchaseOrder.Status.ORDERED, PurchaseOrder.Status.PARTLY_RECEIVED):
                    open_qty += ordered - received
            floor = spec["min_qty"] if spec["min_qty"] is not None else 0
            is_low = spec["on_hand"] < 0 or (spec["min_qty"] is not None and spec["on_hand"] <= spec["min_qty"])
            covered = open_qty > 0 and max(spec["on_hand"], 0) + open_qty > floor
            if is_low:
                for who in ("owner", "staff") if spec["own"] else ("owner",):
                    expected[who][covered] += 1
        for who in ("staff", "owner"):
            html = _panel(getattr(world, who))
            shown = (_pill(html, "low-to-order"), _pill(html, "low-covered"))
            assert shown == (_rows(html, "no"), _rows(html, "yes")) == tuple(expected[who])
            assert ("No product is at or below its minimum" in html) == (sum(expected[who]) == 0)
        transaction.set_rollback(True)
