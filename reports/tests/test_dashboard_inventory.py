"""The inventory overview (array-based, cached closed days) against a from-scratch computation from the ledger.

A small chain trades for ten weeks with random sales, returns, deliveries, counts and write-offs, so that
shelves run empty and even negative; every figure of the overview is then recomputed the slow, obvious way:
closing stock of a day = Σ movements up to the end of that day, units from the sale lines.
"""

import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.db.models import Sum
from django.http import QueryDict

from inventory.models import Product, StockLevel, StockMovement
from inventory.services import stock_movement_post
from inventory.tests.factories import ProductFactory
from reports import selectors as sel
from reports.filters import parse_filters
from sales.models import SaleLine
from sales.tests.factories import post_sale

pytestmark = pytest.mark.django_db
LONDON = ZoneInfo("Europe/London")
D = Decimal
FIRST, LAST = date(2025, 2, 1), date(2025, 4, 10)


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=LONDON)


@pytest.fixture
def trading(world):
    """Two stores × four products (one sold by weight) trading from 1 February to 10 April 2025."""
    cache.clear()
    sel._LOCAL.clear()
    rng = random.Random(11)
    products = [
        ProductFactory(sku=f"P{i}", mrp=D("2.00") + i, dp=D("1.80") + i, cost_price=D("1.00") + i) for i in range(3)
    ] + [ProductFactory(sku="CHEESE", unit="kg", mrp=D("12.00"), dp=D("11.00"), cost_price=D("7.00"))]
    stores = [world.store_own, world.store_other]
    for store in stores:
        for product in products:
            stock_movement_post(store=store, product=product, quantity=D("6"), kind="opening", occurred_at=at(FIRST, 7))
    day = FIRST
    while day <= LAST:
        for store in stores:
            for product in products:
                if rng.random() < 0.45:
                    qty = D(rng.choice(["0.5", "1.25", "2"])) if product.unit == "kg" else D(rng.randint(1, 3))
                    post_sale(store=store, lines=[(product, qty, None)], when=at(day, rng.randint(9, 17)))
                if rng.random() < 0.04:
                    post_sale(store=store, lines=[(product, -1, None)], when=at(day, 18), kind="return")
                if day.weekday() == 0 and rng.random() < 0.6:
                    stock_movement_post(
                        store=store, product=product, quantity=D(rng.randint(2, 9)), kind="receipt",
                        occurred_at=at(day, 7),
                    )  # fmt: skip
                if rng.random() < 0.03:
                    stock_movement_post(
                        store=store, product=product, quantity=D(rng.choice([-2, -1, 1])), kind="count",
                        occurred_at=at(day, 20),
                    )  # fmt: skip
                if rng.random() < 0.02:
                    stock_movement_post(
                        store=store, product=product, quantity=D("-1"), kind="write_off", occurred_at=at(day, 21),
                        reason="damaged",
                    )  # fmt: skip
        day += timedelta(days=1)
    # An order-up-to level on one line, so both overstock rules are used.
    StockLevel.objects.filter(store=world.store_own, product=products[0]).update(max_qty=D("1"))
    return world


def filters(user, start: date, end: date):
    query = f"period=custom&start={start}&end={end}"
    return parse_filters(user=user, params=QueryDict(query), today=date(2025, 7, 15))


def closing(store_id: int, product_id: int, day: date) -> Decimal:
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=LONDON)
    moved = StockMovement.objects.filter(store_id=store_id, product_id=product_id, occurred_at__lt=end)
    return moved.aggregate(q=Sum("quantity"))["q"] or D("0")


def units_sold(store_id: int, product_id: int, start: date, end: date) -> Decimal:
    lines = SaleLine.objects.filter(
        sale__store_id=store_id, product_id=product_id, sale__local_date__gte=start, sale__local_date__lte=end
    )
    return lines.aggregate(q=Sum("quantity"))["q"] or D("0")


def from_scratch(start: date, end: date) -> dict:
    """The overview's totals and stockout days computed directly from the ledger and the sale lines."""
    days = (end - start).days + 1
    out = {"zero_days": {}, "value": D("0"), "dead": 0, "over": 0, "cogs": D("0"), "units": D("0")}
    for level in StockLevel.objects.select_related("product"):
        key = (level.store_id, level.product_id)
        out["zero_days"][key] = sum(1 for i in range(days) if closing(*key, start + timedelta(days=i)) <= 0)
        on_hand, cost = level.on_hand, level.average_cost or level.product.cost_price
        out["value"] += max(on_hand, D("0")) * cost
        units = units_sold(*key, start, end)
        out["units"] += units
        lines = SaleLine.objects.filter(
            sale__store_id=key[0], product_id=key[1], sale__local_date__gte=start, sale__local_date__lte=end
        )
        out["cogs"] += sum((round(line.quantity * line.unit_cost, 2) for line in lines), D("0"))
        if on_hand > 0 and units_sold(*key, end - timedelta(days=sel.DEAD_STOCK_DAYS - 1), end) <= 0:
            out["dead"] += 1
        if on_hand > 0 and units > 0:
            over_max = level.max_qty is not None and on_hand > level.max_qty
            over_cover = level.max_qty is None and on_hand * days > sel.OVERSTOCK_DAYS * units
            out["over"] += over_max or over_cover
    return out


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2025, 3, 1), date(2025, 3, 31)),
        (date(2025, 2, 1), date(2025, 4, 30)),
        (date(2025, 4, 5), date(2025, 4, 5)),
    ],
)
def test_the_overview_equals_a_computation_from_the_ledger(trading, start, end):
    expected = from_scratch(start, end)

    f = filters(trading.owner, start, end)
    inv = sel.inventory_overview(f)
    zero_days = sel.stockout_days(filters(trading.owner, start, end))

    t = inv["total"]
    assert zero_days == expected["zero_days"]
    assert sum(expected["zero_days"].values()) > 0  # the chain did run out, or the test would prove little
    assert t["zero_days"] == sum(expected["zero_days"].values())
    assert t["value"] == expected["value"]
    assert (t["units_sold"], t["cogs"]) == (expected["units"], expected["cogs"])
    assert (t["dead_lines"], t["overstock_lines"]) == (expected["dead"], expected["over"])
    assert sum(r["zero_days"] for r in inv["stores"]) == t["zero_days"]
    assert [line["zero_days"] for line in inv["stockouts"]] == sorted(
        (z for z in expected["zero_days"].values() if z), reverse=True
    )[: sel.TOP_N]


def test_late_movements_and_sales_reach_the_cached_overview(trading):
    def overview():
        return sel.inventory_overview(filters(trading.owner, date(2025, 3, 1), date(2025, 3, 31)))

    before = overview()
    product = Product.objects.get(sku="P1")

    # Forty found in a count booked late into the closed period (the shelf never emptied after it),
    # then a backdated sale: the cached closed days see both.
    stock_movement_post(
        store=trading.store_own, product=product, quantity=D("40"), kind="count", occurred_at=at(date(2025, 3, 2), 6)
    )
    after_count = overview()
    expected_count = from_scratch(date(2025, 3, 1), date(2025, 3, 31))
    post_sale(store=trading.store_own, lines=[(product, 3, None)], when=at(date(2025, 3, 3), 12))
    after_sale = overview()
    expected_sale = from_scratch(date(2025, 3, 1), date(2025, 3, 31))

    assert after_count["total"]["zero_days"] < before["total"]["zero_days"]
    assert after_count["total"]["zero_days"] == sum(expected_count["zero_days"].values())
    assert after_sale["total"]["units_sold"] == after_count["total"]["units_sold"] + 3
    assert after_sale["total"]["zero_days"] == sum(expected_sale["zero_days"].values())
