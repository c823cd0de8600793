"""Stock counts: planning, scanning, cut-off, recounts, reconciliation once — and the bad input and races."""

import threading
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from conftest import build_world
from inventory.exceptions import CountAlreadyReconciled, CountNotOpen, StoreNotAllowed, UnknownCode
from inventory.models import StockCount, StockCountLine, StockLevel, StockMovement
from inventory.selectors import cycle_count_plan
from inventory.services import (
    stock_count_abandon,
    stock_count_close,
    stock_count_line_annotate,
    stock_count_line_set,
    stock_count_reconcile,
    stock_count_scan,
    stock_count_start,
    stock_count_submit,
    stock_movement_post,
)
from inventory.tests.factories import CategoryFactory, ProductFactory, make_user
from sales.tests.factories import post_sale

pytestmark = pytest.mark.django_db


def stock(store, product, qty, *, when=None):
    stock_movement_post(
        store=store,
        product=product,
        quantity=Decimal(qty),
        kind="opening",
        occurred_at=when or timezone.now() - timedelta(days=2),
    )


def on_hand(store, product) -> Decimal:
    return StockLevel.objects.get(store=store, product=product).on_hand


def ledger(store, product) -> Decimal:
    return StockMovement.objects.filter(store=store, product=product).aggregate(s=Sum("quantity"))["s"]


def line_of(count, product) -> StockCountLine:
    return count.lines.get(product=product)


@pytest.fixture
def shop(world):
    return counts_shop(world)


def counts_shop(world):
    """Tea (10) and mugs (4) in both stores of `world`."""
    tea = ProductFactory(sku="TEA-1", barcode="9990000000011", name="Breakfast tea", cost_price=Decimal("2.00"))
    mug = ProductFactory(sku="MUG-1", barcode="9990000000028", name="Mug", cost_price=Decimal("3.00"))
    for store in (world.store_own, world.store_other):
        stock(store, tea, 10)
        stock(store, mug, 4)
    world.obj.update(tea=tea, mug=mug)
    return world


# --- starting counts ------------------------------------------------------------------------------


def test_whole_store_count_plans_every_carried_product_with_thresholds_from_settings(shop, settings):
    settings.RETAILOPS = {**settings.RETAILOPS, "COUNT_RECOUNT_UNITS": 3, "COUNT_RECOUNT_VALUE": "20.00"}

    count = stock_count_start(store=shop.store_own, actor=shop.staff, blind=True)

    assert count.status == StockCount.Status.OPEN
    assert count.blind is True
    assert (count.recount_units_threshold, count.recount_value_threshold) == (Decimal("3"), Decimal("20.00"))
    assert sorted(count.lines.values_list("product__sku", flat=True)) == ["MUG-1", "TEA-1"]
    assert count.lines.filter(counted_at__isnull=False).count() == 0


def test_category_and_product_list_counts(shop):
    drinks = CategoryFactory(name="Drinks")
    herbal = CategoryFactory(name="Herbal", parent=drinks)
    mint = ProductFactory(sku="MINT-1", category=herbal)
    stock(shop.store_own, mint, 2)

    by_category = stock_count_start(store=shop.store_own, actor=shop.staff, scope="category", category=drinks)
    by_list = stock_count_start(store=shop.store_own, actor=shop.staff, scope="products", products=[shop.obj["mug"]])

    assert list(by_category.lines.values_list("product__sku", flat=True)) == ["MINT-1"]
    assert by_category.category == drinks
    assert list(by_list.lines.values_list("product__sku", flat=True)) == ["MUG-1"]


def test_cycle_plan_ranks_by_usage_and_counts_only_due_products(shop):
    own = shop.store_own
    post_sale(store=own, lines=[(shop.obj["tea"], 5, None)])  # 5 × 2.00 = 10.00 at cost: class A
    plan = cycle_count_plan(store=own)
    assert [(r.product.sku, r.abc_class, r.due) for r in plan] == [("TEA-1", "A", True), ("MUG-1", "C", True)]

    # given the tea was counted and reconciled today, only the mug stays due
    count = stock_count_start(store=own, actor=shop.owner, scope="products", products=[shop.obj["tea"]])
    stock_count_scan(count=count, code="TEA-1", actor=shop.owner, quantity=5, mode="set")
    stock_count_submit(count=count, actor=shop.owner)
    stock_count_reconcile(count=count, actor=shop.owner)

    cycle = stock_count_start(store=own, actor=shop.staff, scope="cycle")

    assert list(cycle.lines.values_list("product__sku", flat=True)) == ["MUG-1"]
    tea_row = next(r for r in cycle_count_plan(store=own) if r.product.sku == "TEA-1")
    assert (tea_row.due, tea_row.due_in_days) == (False, 30)


def test_staff_cannot_start_a_count_of_another_store(shop):
    with pytest.raises(StoreNotAllowed):
        stock_count_start(store=shop.store_other, actor=shop.staff)
    assert StockCount.objects.count() == 0


def test_accountant_cannot_start_a_count(shop):
    with pytest.raises(PermissionDenied):
        stock_count_start(store=shop.store_own, actor=shop.accountant)


def test_product_list_with_a_product_the_store_does_not_stock_is_refused(shop):
    elsewhere = ProductFactory(sku="ONLY-OTH")
    stock(shop.store_other, elsewhere, 3)

    with pytest.raises(StoreNotAllowed, match="does not stock ONLY-OTH"):
        stock_count_start(store=shop.store_own, actor=shop.staff, scope="products", products=[elsewhere])
    assert StockCount.objects.count() == 0


# --- scanning ---------------------------------------------------------------------------------------


def test_scans_by_sku_or_barcode_increment_and_typed_quantities_set(shop):
    count = stock_count_start(store=shop.store_own, actor=shop.staff)

    stock_count_scan(count=count, code="tea-1", actor=shop.staff)  # SKU, any case
    stock_count_scan(count=count, code="9990000000011", actor=shop.staff)  # barcode
    stock_count_scan(count=count, code=" TEA-1 ", actor=shop.staff, quantity="3")
    assert line_of(count, shop.obj["tea"]).counted_qty == Decimal("5")

    result = stock_count_scan(count=count, code="TEA-1", actor=shop.staff, quantity="9", mode="set")
    assert (result.line.counted_qty, result.added) == (Decimal("9"), Decimal("4"))
    line = stock_count_line_set(count=count, line_id=line_of(count, shop.obj["mug"]).pk, quantity="0", actor=shop.staff)
    assert (line.counted_qty, line.counted_at is not None, line.counted_by) == (Decimal("0"), True, shop.staff)


def test_unknown_code_is_refused_then_recorded_as_an_unknown_item_with_a_note(shop):
    count = stock_count_start(store=shop.store_own, actor=shop.staff)

    with pytest.raises(UnknownCode, match="matches no product"):
        stock_count_scan(count=count, code="999888", actor=shop.staff)
    with pytest.raises(ValidationError, match="note"):
        stock_count_scan(count=count, code="999888", actor=shop.staff, record_unknown=True)
    assert count.lines.filter(product__isnull=True).count() == 0

    stock_count_scan(count=count, code="999888", actor=shop.staff, record_unknown=True, note="blue mug, no label")
    stock_count_scan(count=count, code="999888", actor=shop.staff, record_unknown=True, note="blue mug, no label")

    unknown = count.lines.get(product__isnull=True)
    assert (unknown.unknown_code, unknown.counted_qty, unknown.note) == ("999888", Decimal("2"), "blue mug, no label")


@pytest.mark.parametrize(
    ("quantity", "mode", "message"),
    [
        ("-2", "set", "cannot be negative"),
        ("-2", "add", "cannot go below zero"),
        ("100001", "add", "not a plausible"),
        ("1e9", "set", "not a plausible"),
        ("1.5", "add", "whole units"),
        ("abc", "add", "is not a quantity"),
        ("NaN", "add", "is not a quantity"),
        ("0", "add", "other than zero"),
    ],
)
def test_bad_quantities_are_refused_and_change_nothing(shop, quantity, mode, message):
    count = stock_count_start(store=shop.store_own, actor=shop.staff)
    stock_count_scan(count=count, code="TEA-1", actor=shop.staff)

    with pytest.raises(ValidationError, match=message):
        stock_count_scan(count=count, code="TEA-1", actor=shop.staff, quantity=quantity, mode=mode)

    assert line_of(count, shop.obj["tea"]).counted_qty == Decimal("1")


def test_a_product_the_store_does_not_stock_cannot_be_counted(shop):
    elsewhere = ProductFactory(sku="ONLY-OTH")
    stock(shop.store_other, elsewhere, 3)
    count = stock_count_start(store=shop.store_own, actor=shop.staff)

    with pytest.raises(StoreNotAllowed, match="not stocked at OWN"):
        stock_count_scan(count=count, code="ONLY-OTH", actor=shop.staff)
    assert not count.lines.filter(product=elsewhere).exists()


def test_a_product_outside_a_partial_count_is_refused(shop):
    count = stock_count_start(store=shop.store_own, actor=shop.staff, scope="products", products=[shop.obj["mug"]])

    with pytest.raises(ValidationError, match="not part of this count"):
        stock_count_scan(count=count, code="TEA-1", actor=shop.staff)


def test_staff_cannot_scan_into_another_stores_count(shop):
    other = stock_count_start(store=shop.store_other, actor=shop.owner)

    with pytest.raises(StoreNotAllowed):
        stock_count_scan(count=other, code="TEA-1", actor=shop.staff)
    assert other.lines.filter(counted_at__isnull=False).count() == 0


def test_line_of_another_count_cannot_be_set(shop):
    mine = stock_count_start(store=shop.store_own, actor=shop.staff)
    theirs = stock_count_start(store=shop.store_other, actor=shop.owner)

    with pytest.raises(ValidationError, match="not on this count"):
        stock_count_line_set(count=mine, line_id=theirs.lines.first().pk, quantity="3", actor=shop.staff)


# --- cut-off ----------------------------------------------------------------------------------------


def test_sales_during_the_count_are_neither_lost_nor_counted_twice(shop):
    """Given 10 teas on the book, a sale of 2 made before the shelf was counted but uploaded late,
    7 teas found on the shelf at 10:00 (one was stolen) and a sale of 3 after the count:
    the correction is −1 and the book ends equal to the shelf (7 − 3 = 4)."""
    own, tea = shop.store_own, shop.obj["tea"]
    counted_at = timezone.now() - timedelta(hours=1)
    count = stock_count_start(store=own, actor=shop.staff, scope="products", products=[tea])
    with mock.patch("django.utils.timezone.now", return_value=counted_at):
        for _ in range(7):
            stock_count_scan(count=count, code="TEA-1", actor=shop.staff)

    # when: sales are posted between counting and reconciling
    post_sale(store=own, lines=[(tea, 3, None)], when=counted_at + timedelta(minutes=20))  # after the count
    post_sale(store=own, lines=[(tea, 2, None)], when=counted_at - timedelta(minutes=30))  # before, arrived late
    result = stock_count_submit(count=count, actor=shop.staff)
    assert result.submitted
    stock_count_line_annotate(line=line_of(count, tea), reason="theft", note="", actor=shop.owner)
    movements = stock_count_reconcile(count=count, actor=shop.owner)

    # then
    line = line_of(count, tea)
    assert (line.counted_at, line.expected_qty, line.counted_qty, line.variance) == (
        counted_at,
        Decimal("8"),
        Decimal("7"),
        Decimal("-1"),
    )
    assert line.variance_value == Decimal("-2.00")
    assert [(m.kind, m.quantity, m.occurred_at, m.source_type, m.source_id) for m in movements] == [
        ("count", Decimal("-1"), counted_at, "inventory.stockcountline", line.pk)
    ]
    assert on_hand(own, tea) == Decimal("4") == ledger(own, tea)


# --- recounts and submission ------------------------------------------------------------------------


def test_large_variances_go_back_for_a_blind_recount_before_submission(shop):
    own, tea, mug = shop.store_own, shop.obj["tea"], shop.obj["mug"]
    count = stock_count_start(store=own, actor=shop.staff)  # thresholds: 5 units or 50.00
    stock_count_scan(count=count, code="TEA-1", actor=shop.staff, quantity=30, mode="set")  # +20 units
    stock_count_scan(count=count, code="MUG-1", actor=shop.staff, quantity=4, mode="set")

    first = stock_count_submit(count=count, actor=shop.staff)

    assert (first.submitted, [ln.product.sku for ln in first.recount_lines]) == (False, ["TEA-1"])
    tea_line = line_of(count, tea)
    assert (tea_line.needs_recount, tea_line.first_count_qty, tea_line.counted_qty, tea_line.counted_at) == (
        True,
        Decimal("30"),
        Decimal("0"),
        None,
    )
    with pytest.raises(ValidationError, match="wait for their blind recount"):
        stock_count_submit(count=count, actor=shop.staff)

    # the recount confirms 29: it stands, even though it is still far from the book
    stock_count_scan(count=count, code="TEA-1", actor=shop.staff, quantity=29, mode="set")
    second = stock_count_submit(count=count, actor=shop.staff)

    assert second.submitted
    count.refresh_from_db()
    assert (count.status, count.submitted_by) == ("submitted", shop.staff)
    assert line_of(count, tea).variance == Decimal("19")
    assert line_of(count, mug).variance == Decimal("0")


def test_value_threshold_also_triggers_a_recount(shop):
    pricey = ProductFactory(sku="TV-1", cost_price=Decimal("300.00"), mrp=Decimal("500.00"), dp=Decimal("450.00"))
    stock(shop.store_own, pricey, 3)
    count = stock_count_start(store=shop.store_own, actor=shop.staff, scope="products", products=[pricey])
    stock_count_scan(count=count, code="TV-1", actor=shop.staff, quantity=2, mode="set")  # −1 unit = −300.00

    result = stock_count_submit(count=count, actor=shop.staff)

    assert [ln.product.sku for ln in result.recount_lines] == ["TV-1"]


def test_uncounted_products_block_submission_unless_confirmed_as_zero(shop):
    count = stock_count_start(store=shop.store_own, actor=shop.staff)
    stock_count_scan(count=count, code="TEA-1", actor=shop.staff, quantity=10, mode="set")

    with pytest.raises(ValidationError, match="1 product"):
        stock_count_submit(count=count, actor=shop.staff)
    assert count.lines.filter(counted_at__isnull=True).count() == 1

    result = stock_count_submit(count=count, actor=shop.staff, uncounted_as_zero=True)

    assert result.submitted  # the mug's 4 → 0 is within 5 units and 50.00
    assert line_of(count, shop.obj["mug"]).variance == Decimal("-4")


def test_submitting_twice_is_refused_and_changes_nothing(shop):
    count = stock_count_start(store=shop.store_own, actor=shop.staff, scope="products", products=[shop.obj["tea"]])
    stock_count_scan(count=count, code="TEA-1", actor=shop.staff, quantity=10, mode="set")
    stock_count_submit(count=count, actor=shop.staff)
    submitted_at = StockCount.objects.get(pk=count.pk).submitted_at

    with pytest.raises(CountNotOpen, match="already submitted"):
        stock_count_submit(count=count, actor=shop.owner)
    with pytest.raises(CountNotOpen, match="already submitted"):
        stock_count_scan(count=count, code="TEA-1", actor=shop.staff)

    count.refresh_from_db()
    assert (count.submitted_at, count.submitted_by) == (submitted_at, shop.staff)
    assert line_of(count, shop.obj["tea"]).counted_qty == Decimal("10")


# --- reconciliation ----------------------------------------------------------------------------------


def submitted_count(shop, *, tea=8, mug=4):
    count = stock_count_start(store=shop.store_own, actor=shop.staff)
    stock_count_scan(count=count, code="TEA-1", actor=shop.staff, quantity=tea, mode="set")
    stock_count_scan(count=count, code="MUG-1", actor=shop.staff, quantity=mug, mode="set")
    assert stock_count_submit(count=count, actor=shop.staff).submitted
    return count


def test_approval_needs_a_reason_for_every_line_with_a_variance(shop):
    count = submitted_count(shop, tea=8, mug=5)
    stock_count_line_annotate(
        line=line_of(count, shop.obj["tea"]), reason="damage", note="box crushed", actor=shop.owner
    )

    with pytest.raises(ValidationError, match="reason code.*MUG-1"):
        stock_count_reconcile(count=count, actor=shop.owner)

    assert StockMovement.objects.filter(kind="count").count() == 0
    assert StockCount.objects.get(pk=count.pk).status == "submitted"


def test_approval_posts_one_correction_per_variance_line_exactly_once(shop):
    own, tea, mug = shop.store_own, shop.obj["tea"], shop.obj["mug"]
    count = submitted_count(shop, tea=8, mug=4)
    stock_count_line_annotate(line=line_of(count, tea), reason="damage", note="", actor=shop.owner)

    movements = stock_count_reconcile(count=count, actor=shop.owner)
    again = stock_count_reconcile(count=count, actor=shop.owner)

    assert [(m.product_id, m.quantity, m.kind) for m in movements] == [(tea.pk, Decimal("-2"), "count")]
    assert movements[0].reason == f"Count #{count.pk}: damage"
    assert again == []
    assert StockMovement.objects.filter(kind="count").count() == 1
    assert (on_hand(own, tea), on_hand(own, mug)) == (Decimal("8"), Decimal("4"))
    assert on_hand(own, tea) == ledger(own, tea)
    count.refresh_from_db()
    assert (count.status, count.approved_by) == ("reconciled", shop.owner)


def test_staff_cannot_approve(shop):
    count = submitted_count(shop)

    with pytest.raises(PermissionDenied):
        stock_count_reconcile(count=count, actor=shop.staff)
    assert StockCount.objects.get(pk=count.pk).status == "submitted"


def test_approving_a_count_of_a_store_the_user_does_not_own_is_refused(shop):
    """A store manager who may reconcile, but only works at the other store."""

    manager = make_user("staff", stores=[shop.store_other], username="mia_manager")
    manager.user_permissions.add(Permission.objects.get(codename="reconcile_stockcount"))
    count = submitted_count(shop)

    with pytest.raises(StoreNotAllowed):
        stock_count_reconcile(count=count, actor=manager)

    assert StockMovement.objects.filter(kind="count").count() == 0
    assert StockCount.objects.get(pk=count.pk).status == "submitted"


def test_a_reconciled_count_cannot_be_edited(shop):
    count = submitted_count(shop, tea=10, mug=4)
    stock_count_reconcile(count=count, actor=shop.owner)
    tea_line = line_of(count, shop.obj["tea"])

    with pytest.raises(CountAlreadyReconciled):
        stock_count_scan(count=count, code="TEA-1", actor=shop.owner)
    with pytest.raises(CountAlreadyReconciled):
        stock_count_line_set(count=count, line_id=tea_line.pk, quantity="1", actor=shop.owner)
    with pytest.raises(CountAlreadyReconciled):
        stock_count_line_annotate(line=tea_line, reason="theft", note="", actor=shop.owner)
    with pytest.raises(CountAlreadyReconciled):
        stock_count_close(count=count, actor=shop.owner, status="cancelled")

    tea_line.refresh_from_db()
    assert (tea_line.counted_qty, tea_line.reason) == (Decimal("10"), "")
    assert StockCount.objects.get(pk=count.pk).status == "reconciled"


def test_reject_and_cancel_post_nothing(shop):
    submitted = submitted_count(shop, tea=7)
    opened = stock_count_start(store=shop.store_own, actor=shop.staff)

    stock_count_close(count=submitted, actor=shop.owner, status="rejected", note="recount aisle 3")
    stock_count_close(count=opened, actor=shop.owner, status="cancelled")

    assert list(StockCount.objects.order_by("pk").values_list("status", flat=True)) == ["rejected", "cancelled"]
    assert StockMovement.objects.filter(kind="count").count() == 0
    with pytest.raises(CountNotOpen):
        stock_count_reconcile(count=submitted, actor=shop.owner)
    with pytest.raises(PermissionDenied):
        stock_count_close(count=opened, actor=shop.staff, status="cancelled")


# --- races on PostgreSQL ------------------------------------------------------------------------------


def _run_threads(n, target):
    barrier = threading.Barrier(n)
    errors = []

    def worker(i):
        try:
            barrier.wait()
            target(i)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_scans_on_one_line_lose_no_increments(require_postgres):
    world = build_world()
    tea = ProductFactory(sku="TEA-1")
    stock(world.store_own, tea, 10)
    second = make_user("staff", stores=[world.store_own], username="sue_staff")
    count = stock_count_start(store=world.store_own, actor=world.staff)
    counters = [world.staff, second]

    # 2 counters × 20 threads scanning the same tea, 3 scans each, one of them by barcode
    def scan(i):
        for code in ("TEA-1", tea.barcode, "tea-1"):
            stock_count_scan(count=count, code=code, actor=counters[i % 2])

    errors = _run_threads(20, scan)

    assert errors == []
    assert line_of(count, tea).counted_qty == Decimal("60")
    assert count.lines.filter(product=tea).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_owners_approving_at_once_post_the_corrections_once(require_postgres):
    world = build_world()
    tea = ProductFactory(sku="TEA-1")
    stock(world.store_own, tea, 10)
    count = stock_count_start(store=world.store_own, actor=world.staff)
    stock_count_scan(count=count, code="TEA-1", actor=world.staff, quantity=7, mode="set")
    stock_count_submit(count=count, actor=world.staff)
    stock_count_line_annotate(line=line_of(count, tea), reason="theft", note="", actor=world.owner)
    owners = [world.owner, make_user("owner", username="otto_owner")]
    results = []

    errors = _run_threads(8, lambda i: results.append(stock_count_reconcile(count=count, actor=owners[i % 2])))

    assert errors == []
    assert sorted(len(r) for r in results) == [0] * 7 + [1]
    assert StockMovement.objects.filter(kind="count").count() == 1
    assert on_hand(world.store_own, tea) == Decimal("7") == ledger(world.store_own, tea)


def test_the_starter_or_an_owner_can_cancel_an_open_count_and_nothing_is_posted(world):
    product = ProductFactory(sku="AB-1")
    stock_movement_post(store=world.store_own, product=product, quantity=Decimal("5"), kind="opening")
    count = stock_count_start(store=world.store_own, actor=world.staff)
    stock_count_scan(count=count, code="AB-1", actor=world.staff, quantity=3, mode="set")
    moves_before = StockMovement.objects.count()
    # another staff member of the store may not cancel it; an accountant may not touch counts at all
    other = make_user("staff", stores=[world.store_own])
    with pytest.raises(ValidationError):
        stock_count_abandon(count=count, actor=other)
    with pytest.raises(PermissionDenied):
        stock_count_abandon(count=count, actor=world.accountant)
    stock_count_abandon(count=count, actor=world.staff)
    count.refresh_from_db()
    assert count.status == StockCount.Status.CANCELLED
    assert StockMovement.objects.count() == moves_before
    assert count.lines.get(product=product).counted_qty == 3
    # a cancelled count is closed: cancelling again, or scanning into it, is refused
    with pytest.raises(ValidationError):
        stock_count_abandon(count=count, actor=world.owner)
    with pytest.raises(ValidationError):
        stock_count_scan(count=count, code="AB-1", actor=world.staff)
