"""The stock ledger services: on_hand always equals the sum of movements, races included."""

import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Sum

from inventory.exceptions import ReceiptRejected
from inventory.models import PurchaseOrder, PurchaseOrderLine, StockLevel, StockMovement
from inventory.services import product_price_change, purchase_order_place, purchase_order_receive, stock_movement_post
from inventory.tests.factories import ProductFactory, StoreFactory, make_user

pytestmark = pytest.mark.django_db


def ledger_sum(store, product) -> Decimal:
    return StockMovement.objects.filter(store=store, product=product).aggregate(s=Sum("quantity"))["s"] or Decimal(0)


def test_post_movement_creates_level_and_moves_on_hand():
    store, product = StoreFactory(), ProductFactory()

    stock_movement_post(store=store, product=product, quantity=Decimal("12"), kind="opening")
    stock_movement_post(store=store, product=product, quantity=Decimal("-5"), kind="sale")

    level = StockLevel.objects.get(store=store, product=product)
    assert level.on_hand == Decimal("7")
    assert ledger_sum(store, product) == Decimal("7")
    assert StockMovement.objects.filter(store=store, product=product).count() == 2


@pytest.mark.parametrize(
    ("quantity", "kind", "reason", "message"),
    [
        (Decimal("0"), "adjustment", "x", "non-zero"),
        (Decimal("1.5"), "opening", "", "whole number"),
        (Decimal("3"), "adjustment", "", "needs a reason"),
        (Decimal("3"), "teleport", "", "Unknown movement kind"),
    ],
)
def test_bad_movements_are_refused_and_change_nothing(quantity, kind, reason, message):
    store, product = StoreFactory(), ProductFactory()

    with pytest.raises(ValidationError, match=message):
        stock_movement_post(store=store, product=product, quantity=quantity, kind=kind, reason=reason)

    assert StockMovement.objects.count() == 0
    assert not StockLevel.objects.filter(store=store, product=product, on_hand__gt=0).exists()


def test_same_source_posts_once():
    store, product = StoreFactory(), ProductFactory()
    kwargs = dict(store=store, product=product, quantity=Decimal("-1"), kind="sale", source_type="t", source_id=7)
    stock_movement_post(**kwargs)

    with pytest.raises(ValidationError, match="already posted"):
        stock_movement_post(**kwargs)

    assert StockLevel.objects.get(store=store, product=product).on_hand == Decimal("-1")


def test_ledger_is_append_only():
    store, product = StoreFactory(), ProductFactory()
    movement = stock_movement_post(store=store, product=product, quantity=Decimal("2"), kind="opening")

    movement.quantity = Decimal("50")
    with pytest.raises(TypeError):
        movement.save()
    with pytest.raises(TypeError):
        movement.delete()
    with pytest.raises(TypeError):
        StockMovement.objects.all().delete()
    with pytest.raises(TypeError):
        StockMovement.objects.update(quantity=Decimal("9"))
    assert StockMovement.objects.get().quantity == Decimal("2")


def _order(store, product, qty="10", cost="4.00"):
    order = PurchaseOrder.objects.create(supplier=product.supplier, store=store)
    line = PurchaseOrderLine.objects.create(
        order=order, product=product, quantity_ordered=Decimal(qty), unit_cost=Decimal(cost)
    )
    return order, line


def test_receiving_posts_receipts_and_moving_average_cost():
    # given 10 on the shelf at an average cost of 6.00
    store, product = StoreFactory(), ProductFactory(cost_price=Decimal("6.00"))
    owner = make_user("owner")
    stock_movement_post(store=store, product=product, quantity=Decimal("10"), kind="opening")
    StockLevel.objects.filter(store=store, product=product).update(average_cost=Decimal("6.00"))
    order, line = _order(store, product, qty="30", cost="4.00")
    purchase_order_place(order=order, actor=owner)

    # when 10 arrive at 4.00, then 20 more
    purchase_order_receive(order=order, quantities={line.pk: Decimal("10")}, actor=owner)
    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.PARTLY_RECEIVED
    purchase_order_receive(order=order, quantities={line.pk: Decimal("20")}, actor=owner)

    # then (10·6 + 10·4) / 20 = 5.00, then (20·5 + 20·4) / 40 = 4.50
    level = StockLevel.objects.get(store=store, product=product)
    assert level.on_hand == Decimal("40")
    assert level.average_cost == Decimal("4.5000")
    assert ledger_sum(store, product) == Decimal("40")
    order.refresh_from_db()
    line.refresh_from_db()
    assert order.status == PurchaseOrder.Status.RECEIVED
    assert line.quantity_received == Decimal("30")
    assert StockMovement.objects.filter(kind="receipt").count() == 2


def test_receiving_a_draft_or_a_foreign_line_changes_nothing():
    store, product = StoreFactory(), ProductFactory()
    order, line = _order(store, product)

    with pytest.raises(ReceiptRejected, match="draft"):
        purchase_order_receive(order=order, quantities={line.pk: Decimal("1")})
    purchase_order_place(order=order, actor=make_user("owner"))
    with pytest.raises(ReceiptRejected, match="not on purchase order"):
        purchase_order_receive(order=order, quantities={line.pk + 999: Decimal("1")})
    with pytest.raises(ReceiptRejected, match="negative"):
        purchase_order_receive(order=order, quantities={line.pk: Decimal("-1")})

    assert StockMovement.objects.count() == 0
    assert order.receipts.count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_posts_keep_on_hand_equal_to_the_ledger(require_postgres):
    store, product = StoreFactory(), ProductFactory()
    stock_movement_post(store=store, product=product, quantity=Decimal("100"), kind="opening")
    barrier = threading.Barrier(20)
    errors = []

    def worker(n):
        try:
            barrier.wait()
            stock_movement_post(store=store, product=product, quantity=Decimal(-1 - n % 3), kind="sale")
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    expected = Decimal(100) - sum(Decimal(1 + n % 3) for n in range(20))
    assert StockLevel.objects.get(store=store, product=product).on_hand == expected
    assert ledger_sum(store, product) == expected
    assert StockMovement.objects.filter(kind="sale").count() == 20


@pytest.mark.parametrize(
    ("mrp", "dp", "cost", "message"),
    [
        ("-1.00", "0.50", "0.20", "negative"),
        ("5.00", "6.00", "2.00", "cannot be above the list price"),
        ("5.00", "4.00", "-0.01", "negative"),
    ],
)
def test_bad_prices_are_refused_and_history_unchanged(mrp, dp, cost, message):
    product = ProductFactory(mrp=Decimal("10.00"), dp=Decimal("9.00"), cost_price=Decimal("6.00"))

    with pytest.raises(ValidationError, match=message):
        product_price_change(product=product, mrp=Decimal(mrp), dp=Decimal(dp), cost_price=Decimal(cost))

    product.refresh_from_db()
    assert (product.mrp, product.dp, product.cost_price) == (Decimal("10.00"), Decimal("9.00"), Decimal("6.00"))
    assert product.price_history.count() == 0


def test_price_change_keeps_history():
    product = ProductFactory(mrp=Decimal("10.00"), dp=Decimal("9.00"), cost_price=Decimal("6.00"))
    product_price_change(product=product, mrp=Decimal("12.00"), dp=Decimal("10.00"), cost_price=Decimal("7.00"))
    product.refresh_from_db()
    assert product.mrp == Decimal("12.00")
    assert list(product.price_history.values_list("mrp", "dp", "cost_price")) == [
        (Decimal("12.00"), Decimal("10.00"), Decimal("7.00")),
        (Decimal("10.00"), Decimal("9.00"), Decimal("6.00")),
    ]
