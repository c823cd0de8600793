"""sale_record: one receipt → sale, lines, stock movements, points and rollups, exactly once."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from customers.exceptions import InsufficientPoints
from customers.models import PointsEntry
from customers.tests.factories import CustomerFactory, LoyaltyTierFactory
from inventory.models import StockLevel, StockMovement
from inventory.services import stock_movement_post
from inventory.tests.factories import ProductFactory, StoreFactory
from sales.exceptions import ReceiptConflict
from sales.models import Sale, SalesDaily, StockAdjustment, StoreDaily
from sales.rollups import rollups_rebuild
from sales.services import LineInput, ReceiptInput, sale_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    store = StoreFactory(code="LDN", timezone="Europe/London")
    tea = ProductFactory(sku="TEA", mrp=Decimal("4.00"), dp=Decimal("3.50"), cost_price=Decimal("2.00"))
    mug = ProductFactory(sku="MUG", mrp=Decimal("8.00"), dp=Decimal("7.00"), cost_price=Decimal("3.00"))
    for p in (tea, mug):
        stock_movement_post(store=store, product=p, quantity=Decimal("20"), kind="opening")
    return store, tea, mug


def receipt(store, lines, ref="R1", **kw):
    return ReceiptInput(
        store=store,
        pos_reference=ref,
        occurred_at=kw.pop("at", timezone.now() - timedelta(minutes=5)),
        lines=[LineInput(product=p, quantity=Decimal(q), unit_price=Decimal(price)) for p, q, price in lines],
        **kw,
    )


def test_recording_a_sale_writes_lines_movements_and_rollups(shop):
    store, tea, mug = shop

    result = sale_record(receipt=receipt(store, [(tea, 2, "4.00"), (mug, 1, "7.00")], payment_method="cash"))

    sale = result.sale
    assert result.status == "accepted"
    assert sale.total == Decimal("15.00")
    assert sale.discount_total == Decimal("1.00")  # mug sold at DP: 8.00 - 7.00
    assert sale.cost_total == Decimal("7.00")
    assert [line.price_type for line in sale.lines.order_by("line_no")] == ["mrp", "dp"]
    assert StockLevel.objects.get(store=store, product=tea).on_hand == Decimal("18")
    assert StockLevel.objects.get(store=store, product=mug).on_hand == Decimal("19")
    assert StockMovement.objects.filter(kind="sale", source_type="sales.saleline").count() == 2
    daily = SalesDaily.objects.get(store=store, product=tea)
    assert (daily.units, daily.revenue, daily.cost, daily.transactions) == (
        Decimal("2"),
        Decimal("8.00"),
        Decimal("4.00"),
        1,
    )
    takings = StoreDaily.objects.get(store=store, payment_method="cash")
    assert (takings.revenue, takings.transactions, takings.units) == (Decimal("15.00"), 1, Decimal("3"))


def test_posting_the_same_receipt_again_changes_nothing(shop):
    store, tea, _ = shop
    first = sale_record(receipt=receipt(store, [(tea, 2, "4.00")]))

    again = sale_record(receipt=receipt(store, [(tea, 2, "4.00")], at=first.sale.occurred_at))

    assert again.status == "duplicate"
    assert again.sale.pk == first.sale.pk
    assert Sale.objects.count() == 1
    assert StockLevel.objects.get(store=store, product=tea).on_hand == Decimal("18")
    assert SalesDaily.objects.get(store=store, product=tea).units == Decimal("2")


def test_same_reference_with_other_content_is_a_conflict(shop):
    store, tea, _ = shop
    first = sale_record(receipt=receipt(store, [(tea, 2, "4.00")]))

    with pytest.raises(ReceiptConflict, match="different content"):
        sale_record(receipt=receipt(store, [(tea, 3, "4.00")], at=first.sale.occurred_at))

    assert StockLevel.objects.get(store=store, product=tea).on_hand == Decimal("18")


def test_the_same_reference_in_another_store_is_another_sale(shop):
    store, tea, _ = shop
    other = StoreFactory(code="BRS")
    sale_record(receipt=receipt(store, [(tea, 1, "4.00")]))
    sale_record(receipt=receipt(other, [(tea, 1, "4.00")]))
    assert Sale.objects.count() == 2


@pytest.mark.parametrize(
    ("lines", "kw", "message"),
    [
        ([], {}, "at least one line"),
        ([("tea", 0, "4.00")], {}, "cannot be zero"),
        ([("tea", -1, "4.00")], {}, "positive quantities"),
        ([("tea", 1, "-4.00")], {}, "cannot be negative"),
        ([("tea", "1.5", "4.00")], {}, "sold by the unit"),
        ([("tea", 1, "4.00")], {"payment_method": "bitcoin"}, "Unknown payment method"),
        ([("tea", 1, "4.00")], {"points_redeemed": 10}, "loyalty customer"),
        ([("tea", 1, "4.00")], {"at": timezone.now() + timedelta(days=3)}, "future"),
    ],
)
def test_bad_receipts_are_refused_and_change_nothing(shop, lines, kw, message):
    store, tea, _ = shop
    products = {"tea": tea}
    bad = receipt(store, [(products[p], q, price) for p, q, price in lines], **kw)

    with pytest.raises(ValidationError, match=message):
        sale_record(receipt=bad)

    assert Sale.objects.count() == 0
    assert StockLevel.objects.get(store=store, product=tea).on_hand == Decimal("20")


def test_inactive_store_is_refused(shop):
    store, tea, _ = shop
    store.active = False
    store.save()
    with pytest.raises(ValidationError, match="inactive"):
        sale_record(receipt=receipt(store, [(tea, 1, "4.00")]))


def test_points_are_earned_by_tier_multiplier_and_redeemed_against_the_balance(shop):
    store, tea, mug = shop
    gold = LoyaltyTierFactory(rank=2, name="Gold", points_multiplier=Decimal("2"))
    customer = CustomerFactory(tier=gold)

    sale_record(receipt=receipt(store, [(mug, 2, "7.00")], ref="P1", customer=customer))
    customer.refresh_from_db()
    assert customer.points_balance == 28  # 14.00 spent × 1 point × 2

    # 10 points at 0.01 pay 0.10 of the 4.00; 3.90 earns 7 points at ×2
    sale_record(receipt=receipt(store, [(tea, 1, "4.00")], ref="P2", customer=customer, points_redeemed=10))
    customer.refresh_from_db()
    assert customer.points_balance == 28 - 10 + 7
    assert PointsEntry.objects.filter(customer=customer).aggregate(s=Sum("points"))["s"] == 25


def test_redeeming_more_than_the_balance_refuses_the_whole_receipt(shop):
    store, tea, _ = shop
    customer = CustomerFactory()

    with pytest.raises(InsufficientPoints):
        sale_record(receipt=receipt(store, [(tea, 1, "4.00")], customer=customer, points_redeemed=500))

    assert Sale.objects.count() == 0
    assert StockLevel.objects.get(store=store, product=tea).on_hand == Decimal("20")
    assert PointsEntry.objects.count() == 0


def test_a_return_puts_stock_back_and_nets_the_rollups(shop):
    store, tea, _ = shop
    sold = sale_record(receipt=receipt(store, [(tea, 3, "4.00")], ref="S1")).sale

    sale_record(receipt=receipt(store, [(tea, -1, "4.00")], ref="RET1", kind="return", original_reference="S1"))

    assert StockLevel.objects.get(store=store, product=tea).on_hand == Decimal("18")
    returned = Sale.objects.get(pos_reference="RET1")
    assert returned.original == sold
    daily = SalesDaily.objects.get(store=store, product=tea)
    assert (daily.units, daily.revenue, daily.returns_units, daily.returns_value, daily.transactions) == (
        Decimal("2"),
        Decimal("8.00"),
        Decimal("1"),
        Decimal("4.00"),
        1,
    )


def test_local_day_is_the_store_day(shop):
    store, tea, _ = shop
    tokyo = StoreFactory(code="TYO", timezone="Asia/Tokyo")
    # 20:00 UTC on 1 March is already 2 March in Tokyo
    at = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    sale = sale_record(receipt=receipt(tokyo, [(tea, 1, "4.00")], at=at)).sale
    assert str(sale.local_date) == "2026-03-02"


def _rollup_rows():
    sd = sorted(
        SalesDaily.objects.values_list(
            "store_id",
            "product_id",
            "date",
            "units",
            "revenue",
            "cost",
            "discount",
            "units_mrp",
            "revenue_mrp",
            "returns_units",
            "returns_value",
            "transactions",
        )
    )
    st = sorted(
        StoreDaily.objects.values_list(
            "store_id",
            "date",
            "payment_method",
            "transactions",
            "revenue",
            "cost",
            "discount",
            "units",
            "returns_value",
            "customers",
        )
    )
    return sd, st


def test_incremental_rollups_equal_a_full_rebuild(shop):
    store, tea, mug = shop
    customer = CustomerFactory()
    sale_record(receipt=receipt(store, [(tea, 2, "4.00"), (mug, 1, "6.50")], ref="A", customer=customer))
    sale_record(receipt=receipt(store, [(tea, 1, "3.50")], ref="B", payment_method="cash"))
    sale_record(receipt=receipt(store, [(tea, -1, "4.00")], ref="C", kind="return", no_receipt=True))
    incremental = _rollup_rows()

    rollups_rebuild()

    assert _rollup_rows() == incremental


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_identical_posts_make_one_sale(require_postgres):
    store = StoreFactory(code="RACE")
    tea = ProductFactory(sku="RACE-TEA")
    stock_movement_post(store=store, product=tea, quantity=Decimal("50"), kind="opening")
    at = timezone.now() - timedelta(minutes=1)
    barrier = threading.Barrier(8)
    statuses, errors = [], []

    def post():
        try:
            barrier.wait()
            statuses.append(sale_record(receipt=receipt(store, [(tea, 1, "10.00")], ref="SAME", at=at)).status)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert sorted(statuses) == ["accepted"] + ["duplicate"] * 7
    assert Sale.objects.filter(store=store).count() == 1
    assert StockLevel.objects.get(store=store, product=tea).on_hand == Decimal("49")
    assert SalesDaily.objects.get(store=store, product=tea).units == Decimal("1")


def test_a_reference_held_by_a_stock_adjustment_is_a_conflict(shop):
    store, tea, _ = shop
    StockAdjustment.objects.create(store=store, pos_reference="ADJ1", occurred_at=timezone.now(), content_hash="x")

    with pytest.raises(ReceiptConflict, match="ADJ1"):
        sale_record(receipt=receipt(store, [(tea, 1, "4.00")], ref="ADJ1"))

    assert Sale.objects.count() == 0
    assert StockLevel.objects.get(store=store, product=tea).on_hand == Decimal("20")


def test_a_product_without_a_stock_level_gets_one(shop):
    store, _, _ = shop
    jam = ProductFactory(sku="JAM", cost_price=Decimal("1.25"))

    sale = sale_record(receipt=receipt(store, [(jam, 2, "3.00")])).sale

    level = StockLevel.objects.get(store=store, product=jam)
    assert level.on_hand == Decimal("-2")
    assert sale.lines.get().unit_cost == Decimal("1.25")  # no receipt yet: the product's cost price
    assert StockMovement.objects.filter(product=jam).aggregate(q=Sum("quantity"))["q"] == level.on_hand


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_different_receipts_keep_stock_points_and_rollups_exact(require_postgres):
    store = StoreFactory(code="RUSH")
    tea = ProductFactory(sku="RUSH-TEA", mrp=Decimal("2.00"), dp=Decimal("1.80"), cost_price=Decimal("1.00"))
    mug = ProductFactory(sku="RUSH-MUG", mrp=Decimal("5.00"), dp=Decimal("4.50"), cost_price=Decimal("2.00"))
    customer = CustomerFactory()
    for p in (tea, mug):
        stock_movement_post(store=store, product=p, quantity=Decimal("100"), kind="opening")
    at = timezone.now() - timedelta(minutes=1)
    barrier = threading.Barrier(8)
    errors = []

    def post(n):
        try:
            barrier.wait()
            for k in range(5):  # products in both orders, so lock order matters
                lines = [(tea, 1, "2.00"), (mug, 2, "5.00")] if (n + k) % 2 else [(mug, 1, "5.00"), (tea, 3, "2.00")]
                sale_record(receipt=receipt(store, lines, ref=f"R{n}-{k}", at=at, customer=customer))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert Sale.objects.filter(store=store).count() == 40
    for p in (tea, mug):
        level = StockLevel.objects.get(store=store, product=p)
        assert level.on_hand == StockMovement.objects.filter(store=store, product=p).aggregate(q=Sum("quantity"))["q"]
    customer.refresh_from_db()
    assert customer.points_balance == PointsEntry.objects.filter(customer=customer).aggregate(s=Sum("points"))["s"]
    incremental = _rollup_rows()
    rollups_rebuild()
    assert _rollup_rows() == incremental
