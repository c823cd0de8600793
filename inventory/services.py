"""Writes that change stock: with inventory.bulk (its set-based path), the only code that writes the stock ledger.

Every function here is atomic. Stock levels are locked with select_for_update() in a stable order
(store id, then product id) so concurrent posts cannot deadlock, and on_hand is changed with F()
in the same transaction as the movement, keeping the invariant on_hand == Σ movements.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import DecimalField, F, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from retailops.money import money

from .exceptions import CountAlreadyReconciled, CountNotOpen, ReceiptRejected, StoreNotAllowed, UnknownCode
from .models import (
    Category,
    GoodsReceipt,
    GoodsReceiptLine,
    Product,
    ProductPrice,
    PurchaseOrder,
    PurchaseOrderLine,
    ReasonCode,
    StockCount,
    StockCountLine,
    StockLevel,
    StockMovement,
    Store,
)
from .selectors import cycle_count_plan, store_ids_visible

ZERO = Decimal("0")


@dataclass(frozen=True)
class MovementSpec:
    """One movement to post; see stock_movements_post."""

    store_id: int
    product_id: int
    quantity: Decimal
    kind: str
    unit_cost: Decimal | None = None
    occurred_at: datetime | None = None
    source_type: str = ""
    source_id: int | None = None
    reason: str = ""


def _validate_quantity(product: Product, quantity: Decimal) -> Decimal:
    quantity = Decimal(quantity)
    if quantity == 0:
        raise ValidationError("A stock movement needs a non-zero quantity.")
    if product.unit == Product.Unit.EACH and quantity != quantity.to_integral_value():
        raise ValidationError(f"{product.sku} is sold by the unit: {quantity} is not a whole number.")
    if abs(quantity) >= Decimal("1000000000"):
        raise ValidationError(f"{quantity} is not a plausible quantity.")
    return quantity


def stock_levels_lock(*, pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], StockLevel]:
    """Create missing stock levels, then lock them all, in (store, product) order. Call inside atomic()."""
    wanted = sorted(set(pairs))
    if not wanted:
        return {}
    store_ids = {s for s, _ in wanted}
    product_ids = {p for _, p in wanted}
    existing = set(
        StockLevel.objects.filter(store_id__in=store_ids, product_id__in=product_ids).values_list(
            "store_id", "product_id"
        )
    )
    missing = [StockLevel(store_id=s, product_id=p) for s, p in wanted if (s, p) not in existing]
    if missing:
        # ignore_conflicts: a concurrent request may create the same level; both then lock the one row.
        StockLevel.objects.bulk_create(missing, ignore_conflicts=True)
    locked = (
        StockLevel.objects.select_for_update()
        .filter(store_id__in=store_ids, product_id__in=product_ids)
        .order_by("store_id", "product_id")
    )
    levels = {(lvl.store_id, lvl.product_id): lvl for lvl in locked}
    return {pair: levels[pair] for pair in wanted}


def stock_movements_post(*, specs: list[MovementSpec], user=None) -> list[StockMovement]:
    """Append movements to the ledger and move on_hand by the same amounts, atomically.

    Guarantees: all or nothing; on_hand == Σ movements per store × product afterwards; a source
    (source_type, source_id, kind) posts at most once — posting it again raises ValidationError.
    """
    if not specs:
        return []
    now = timezone.now()
    products = Product.objects.in_bulk({s.product_id for s in specs})
    with transaction.atomic():
        levels = stock_levels_lock(pairs=[(s.store_id, s.product_id) for s in specs])
        movements = []
        deltas: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
        for spec in specs:
            product = products.get(spec.product_id)
            if product is None:
                raise ValidationError(f"Unknown product id {spec.product_id}.")
            if not product.is_stocked:
                raise ValidationError(f"{product.sku} is a fee or service and carries no stock.")
            quantity = _validate_quantity(product, spec.quantity)
            level = levels[(spec.store_id, spec.product_id)]
            unit_cost = spec.unit_cost if spec.unit_cost is not None else (level.average_cost or product.cost_price)
            movements.append(
                StockMovement(
                    store_id=spec.store_id,
                    product_id=spec.product_id,
                    quantity=quantity,
                    kind=spec.kind,
                    unit_cost=unit_cost,
                    source_type=spec.source_type,
                    source_id=spec.source_id,
                    occurred_at=spec.occurred_at or now,
                    user=user,
                    reason=spec.reason[:200],
                )
            )
            deltas[(spec.store_id, spec.product_id)] += quantity
        try:
            with transaction.atomic():
                created = StockMovement.objects.bulk_create(movements)
        except IntegrityError as exc:
            raise ValidationError("This stock movement was already posted (same source).") from exc
        for (store_id, product_id), delta in deltas.items():
            StockLevel.objects.filter(store_id=store_id, product_id=product_id).update(
                on_hand=F("on_hand") + delta, updated_at=now
            )
    return created


def stock_movement_post(
    *,
    store: Store,
    product: Product,
    quantity: Decimal,
    kind: str,
    unit_cost: Decimal | None = None,
    occurred_at: datetime | None = None,
    user=None,
    reason: str = "",
    source_type: str = "",
    source_id: int | None = None,
) -> StockMovement:
    """Post one movement (atomic, race-free); see stock_movements_post."""
    if kind not in StockMovement.Kind.values:
        raise ValidationError(f"Unknown movement kind “{kind}”.")
    if kind in {StockMovement.Kind.ADJUSTMENT, StockMovement.Kind.WRITE_OFF} and not reason.strip():
        raise ValidationError("An adjustment or write-off needs a reason.")
    spec = MovementSpec(
        store_id=store.pk,
        product_id=product.pk,
        quantity=Decimal(quantity),
        kind=kind,
        unit_cost=unit_cost,
        occurred_at=occurred_at,
        source_type=source_type,
        source_id=source_id,
        reason=reason,
    )
    return stock_movements_post(specs=[spec], user=user)[0]


def product_price_change(*, product: Product, mrp: Decimal, dp: Decimal, cost_price: Decimal, actor=None) -> Product:
    """Change a product's prices and keep the old ones in the price history (atomic)."""
    mrp, dp, cost_price = Decimal(mrp), Decimal(dp), Decimal(cost_price)
    if min(mrp, dp, cost_price) < 0:
        raise ValidationError("Prices cannot be negative.")
    if dp > mrp:
        raise ValidationError("The member price (DP) cannot be above the list price (MRP).")
    with transaction.atomic():
        product = Product.objects.select_for_update().get(pk=product.pk)
        if not product.price_history.exists():
            # The first change also records the prices the product was created with.
            ProductPrice.objects.create(
                product=product,
                mrp=product.mrp,
                dp=product.dp,
                cost_price=product.cost_price,
                valid_from=product.created_at,
            )
        product.mrp, product.dp, product.cost_price = mrp, dp, cost_price
        product.save(update_fields=["mrp", "dp", "cost_price"])
        ProductPrice.objects.create(
            product=product, mrp=mrp, dp=dp, cost_price=cost_price, valid_from=timezone.now(), changed_by=actor
        )
    return product


def purchase_order_receive(
    *,
    order: PurchaseOrder,
    quantities: dict[int, Decimal],
    actor=None,
    received_at: datetime | None = None,
    note: str = "",
) -> GoodsReceipt:
    """Receive goods against an order: posts receipt movements and updates the moving average cost.

    quantities maps PurchaseOrderLine id → quantity received now. Atomic: either every line is
    received or nothing is. average_cost' = (on_hand·average_cost + qty·unit_cost) / (on_hand + qty),
    or the unit cost when the shelf held nothing (or less than nothing).
    """
    received_at = received_at or timezone.now()
    with transaction.atomic():
        order = PurchaseOrder.objects.select_for_update().get(pk=order.pk)
        if order.status not in {PurchaseOrder.Status.ORDERED, PurchaseOrder.Status.PARTLY_RECEIVED}:
            raise ReceiptRejected(f"Purchase order #{order.pk} is {order.get_status_display()}: nothing to receive.")
        lines = {line.pk: line for line in order.lines.select_for_update().select_related("product")}
        wanted = {}
        for line_id, qty in quantities.items():
            qty = Decimal(qty)
            if qty == 0:
                continue
            if line_id not in lines:
                raise ReceiptRejected(f"Line {line_id} is not on purchase order #{order.pk}.")
            if qty < 0:
                raise ReceiptRejected("A received quantity cannot be negative.")
            wanted[line_id] = qty
        if not wanted:
            raise ReceiptRejected("Enter at least one received quantity.")
        receipt = GoodsReceipt.objects.create(order=order, received_at=received_at, received_by=actor, note=note)
        levels = stock_levels_lock(pairs=[(order.store_id, lines[i].product_id) for i in wanted])
        specs = []
        for line_id, qty in sorted(wanted.items()):
            line = lines[line_id]
            receipt_line = GoodsReceiptLine.objects.create(
                receipt=receipt, order_line=line, quantity=qty, unit_cost=line.unit_cost
            )
            _average_cost_blend(levels[(order.store_id, line.product_id)], qty=qty, unit_cost=line.unit_cost)
            PurchaseOrderLine.objects.filter(pk=line.pk).update(quantity_received=F("quantity_received") + qty)
            specs.append(
                MovementSpec(
                    store_id=order.store_id,
                    product_id=line.product_id,
                    quantity=qty,
                    kind=StockMovement.Kind.RECEIPT,
                    unit_cost=line.unit_cost,
                    occurred_at=received_at,
                    source_type="inventory.goodsreceiptline",
                    source_id=receipt_line.pk,
                    reason=f"PO #{order.pk}",
                )
            )
        stock_movements_post(specs=specs, user=actor)
        open_left = any(line.quantity_ordered > line.quantity_received for line in order.lines.all())
        order.status = PurchaseOrder.Status.PARTLY_RECEIVED if open_left else PurchaseOrder.Status.RECEIVED
        order.save(update_fields=["status"])
    return receipt


def _average_cost_blend(level: StockLevel, *, qty: Decimal, unit_cost: Decimal) -> None:
    """Moving average cost of a locked level taking in qty at unit_cost (saved):
    (on_hand·average_cost + qty·unit_cost) / (on_hand + qty), or unit_cost when the shelf held nothing."""
    on_hand = max(level.on_hand, ZERO)
    new_avg = (on_hand * level.average_cost + qty * unit_cost) / (on_hand + qty) if on_hand > 0 else unit_cost
    level.average_cost = new_avg.quantize(Decimal("0.0001"))
    level.save(update_fields=["average_cost"])


def stock_transfer_post(
    *,
    from_store_id: int,
    to_store_id: int,
    product: Product,
    quantity: Decimal,
    actor=None,
    source_type: str,
    source_id: int,
    reason: str = "",
) -> list[StockMovement]:
    """Move stock between two stores: a transfer-out and a transfer-in of the same source, atomically.

    The goods travel at the sending store's average cost, which the receiving store blends into its own.
    Refused when the sending store holds less than the quantity now. Call with the source locked, or
    rely on the ledger's one-posting-per-source rule: the same source cannot move stock twice.
    """
    quantity = Decimal(quantity)
    if from_store_id == to_store_id:
        raise ValidationError("A transfer needs two different stores.")
    if quantity <= 0:
        raise ValidationError("A transfer moves a quantity above zero.")
    quantity = _validate_quantity(product, quantity)
    with transaction.atomic():
        levels = stock_levels_lock(pairs=[(from_store_id, product.pk), (to_store_id, product.pk)])
        giver, taker = levels[(from_store_id, product.pk)], levels[(to_store_id, product.pk)]
        if giver.on_hand < quantity:
            raise ValidationError(
                f"{product.sku}: {giver.store} holds {giver.on_hand.normalize():f} now, "
                f"not the {quantity.normalize():f} to move."
            )
        unit_cost = giver.average_cost or product.cost_price
        _average_cost_blend(taker, qty=quantity, unit_cost=unit_cost)
        common: dict[str, Any] = {
            "product_id": product.pk,
            "unit_cost": unit_cost,
            "source_type": source_type,
            "source_id": source_id,
        }
        return stock_movements_post(
            specs=[
                MovementSpec(
                    store_id=from_store_id,
                    quantity=-quantity,
                    kind=StockMovement.Kind.TRANSFER_OUT,
                    reason=f"to {taker.store.code}. {reason}".strip(),
                    **common,
                ),
                MovementSpec(
                    store_id=to_store_id,
                    quantity=quantity,
                    kind=StockMovement.Kind.TRANSFER_IN,
                    reason=f"from {giver.store.code}. {reason}".strip(),
                    **common,
                ),
            ],
            user=actor,
        )


def purchase_order_place(*, order: PurchaseOrder, actor) -> PurchaseOrder:
    """Approve a draft order and mark it ordered (owners only; checked by the caller's permission)."""
    with transaction.atomic():
        order = PurchaseOrder.objects.select_for_update().get(pk=order.pk)
        if order.status != PurchaseOrder.Status.DRAFT:
            raise ValidationError(f"Purchase order #{order.pk} is already {order.get_status_display()}.")
        if not order.lines.exists():
            raise ValidationError("A purchase order needs at least one line.")
        order.status = PurchaseOrder.Status.ORDERED
        order.ordered_at = timezone.now()
        order.approved_by = actor
        order.save(update_fields=["status", "ordered_at", "approved_by"])
    return order


# --- stock counts and reconciliation (DESIGN §4) --------------------------------------------------
#
# A count belongs to one store. Lines are planned when the count starts (the scope's products, not yet
# counted) or appear when a whole-store count scans a product the store carries. Every change of a line
# happens with the count row locked (select_for_update) and the quantity moved with F(), so two counters
# scanning the same shelf never overwrite each other, and nothing lands after the count is submitted.
# Each line keeps `counted_at`; its expected quantity is the ledger's on-hand at that instant
# (Σ movements with occurred_at ≤ counted_at), so sales during the count are neither lost nor doubled.

# A single shelf holding more than this is a typing slip (a barcode typed into the quantity box).
MAX_COUNT_QTY = Decimal("100000")


@dataclass(frozen=True)
class ScanResult:
    line: StockCountLine
    added: Decimal


@dataclass(frozen=True)
class SubmitResult:
    count: StockCount
    submitted: bool
    recount_lines: list[StockCountLine]


def _count_access(*, store: Store, actor, perm: str) -> None:
    if actor is None or not actor.has_perm(perm):
        raise PermissionDenied("You do not have permission to do this.")
    if store.pk not in store_ids_visible(user=actor):
        raise StoreNotAllowed(f"You do not work at {store}: counts of that store are not yours to change.")


def _count_lock(count: StockCount, *, open_only: bool = True) -> StockCount:
    count = StockCount.objects.select_for_update().select_related("store").get(pk=count.pk)
    if open_only and count.status != StockCount.Status.OPEN:
        _refuse_closed(count)
    return count


def _refuse_closed(count: StockCount):
    if count.status == StockCount.Status.RECONCILED:
        raise CountAlreadyReconciled(f"Count #{count.pk} is already reconciled: it can no longer be changed.")
    if count.status == StockCount.Status.SUBMITTED:
        raise CountNotOpen(f"Count #{count.pk} was already submitted: it is frozen until the owner reviews it.")
    raise CountNotOpen(f"Count #{count.pk} is {count.get_status_display()}: it can no longer be changed.")


def count_quantity_parse(value, *, product: Product | None = None, allow_negative: bool = False) -> Decimal:
    """A quantity typed by a person: a number, whole for products sold by the unit, not absurd."""
    try:
        qty = Decimal(str(value).strip().replace(",", "")) if value not in (None, "") else Decimal("1")
    except (InvalidOperation, ValueError):
        raise ValidationError(f"“{value}” is not a quantity.") from None
    if not qty.is_finite():
        raise ValidationError(f"“{value}” is not a quantity.")
    if qty < 0 and not allow_negative:
        raise ValidationError("A counted quantity cannot be negative.")
    if abs(qty) > MAX_COUNT_QTY:
        raise ValidationError(f"{qty:,} is not a plausible shelf count (the limit is {MAX_COUNT_QTY:,}).")
    if qty != qty.quantize(Decimal("0.001")):
        raise ValidationError("Quantities have at most three decimals.")
    unit_each = product is None or product.unit == Product.Unit.EACH
    if unit_each and qty != qty.to_integral_value():
        what = product.sku if product else "This item"
        raise ValidationError(f"{what} is counted in whole units: {qty} is not a whole number.")
    return qty


def product_by_code(code: str) -> Product | None:
    """The product whose SKU (any case) or barcode is `code`, or None."""

    code = (code or "").strip()
    if not code:
        return None
    return Product.objects.filter(Q(sku__iexact=code) | Q(barcode=code)).order_by("pk").first()


def stock_count_start(
    *,
    store: Store,
    actor,
    scope: str = StockCount.Scope.STORE,
    category: Category | None = None,
    products: Iterable[Product] = (),
    blind: bool = False,
    note: str = "",
    cycle_limit: int | None = None,
) -> StockCount:
    """Open a count of one store and plan its lines (atomic).

    scope: store (every active product the store carries), category (that category and its
    sub-categories), products (the given list; each must be carried by the store) or cycle (the
    products the ABC cycle-count plan says are due, at most cycle_limit). Recount thresholds come
    from settings.RETAILOPS COUNT_RECOUNT_UNITS / COUNT_RECOUNT_VALUE.
    """

    _count_access(store=store, actor=actor, perm="inventory.add_stockcount")
    if scope not in StockCount.Scope.values:
        raise ValidationError(f"Unknown count scope “{scope}”.")
    if not store.active:
        raise ValidationError(f"{store} is closed: it cannot be counted.")
    carried = StockLevel.objects.filter(store=store, product__active=True, product__kind=Product.Kind.GOODS)
    if scope == StockCount.Scope.STORE:
        product_ids = list(carried.values_list("product_id", flat=True))
    elif scope == StockCount.Scope.CATEGORY:
        if category is None:
            raise ValidationError("Choose the category to count.")
        product_ids = list(
            carried.filter(Q(product__category=category) | Q(product__category__parent=category)).values_list(
                "product_id", flat=True
            )
        )
        if not product_ids:
            raise ValidationError(f"{store} carries no product of the category {category}.")
    elif scope == StockCount.Scope.PRODUCTS:
        wanted = {p.pk: p for p in products}
        if not wanted:
            raise ValidationError("List at least one product to count.")
        carried_ids = set(carried.filter(product_id__in=wanted).values_list("product_id", flat=True))
        missing = sorted(p.sku for pk, p in wanted.items() if pk not in carried_ids)
        if missing:
            raise StoreNotAllowed(f"{store} does not stock {', '.join(missing)}.")
        product_ids = list(wanted)
    else:
        due = [row.product.pk for row in cycle_count_plan(store=store) if row.due]
        if cycle_limit:
            due = due[:cycle_limit]
        if not due:
            raise ValidationError(f"No product of {store} is due for a cycle count today.")
        product_ids = due
    if not product_ids:
        raise ValidationError(f"{store} has no stocked product to count.")
    if scope != StockCount.Scope.CATEGORY:
        category = None
    with transaction.atomic():
        count = StockCount.objects.create(
            store=store,
            scope=scope,
            category=category,
            blind=bool(blind),
            note=note[:2000],
            created_by=actor,
            recount_units_threshold=Decimal(settings.RETAILOPS["COUNT_RECOUNT_UNITS"]),
            recount_value_threshold=Decimal(str(settings.RETAILOPS["COUNT_RECOUNT_VALUE"])),
        )
        StockCountLine.objects.bulk_create(
            [StockCountLine(count=count, product_id=pk) for pk in sorted(set(product_ids))]
        )
    return count


def _line_for_product(count: StockCount, product: Product) -> StockCountLine:
    if not product.is_stocked:
        raise ValidationError(f"{product.sku} is a fee or service: it has no stock to count.")
    line = StockCountLine.objects.select_for_update().filter(count=count, product=product).first()
    if line is not None:
        return line
    if count.scope != StockCount.Scope.STORE:
        raise ValidationError(
            f"{product.sku} · {product.name} is not part of this count ({count.get_scope_display()})."
        )
    if not product.active or not StockLevel.objects.filter(store_id=count.store_id, product=product).exists():
        raise StoreNotAllowed(
            f"{product.sku} is not stocked at {count.store}. If it is on the shelf, record it as an "
            "unknown item with a note."
        )
    return StockCountLine.objects.create(count=count, product=product)


def _line_change(line: StockCountLine, *, qty: Decimal, mode: str, actor, now) -> Decimal:
    """Move one locked line: add qty (F() update) or set it; returns the amount added."""
    if mode == "set":
        added = qty - line.counted_qty
        StockCountLine.objects.filter(pk=line.pk).update(counted_qty=qty, counted_at=now, counted_by=actor)
    else:
        if qty == 0:
            raise ValidationError("Add a quantity other than zero.")
        if line.counted_qty + qty < 0:
            raise ValidationError(f"The line holds {line.counted_qty.normalize():f}: it cannot go below zero.")
        if line.counted_qty + qty > MAX_COUNT_QTY:
            raise ValidationError(f"More than {MAX_COUNT_QTY:,} on one shelf is not a plausible count.")
        added = qty
        StockCountLine.objects.filter(pk=line.pk).update(
            counted_qty=F("counted_qty") + qty, counted_at=now, counted_by=actor
        )
    line.refresh_from_db()
    return added


def stock_count_scan(
    *,
    count: StockCount,
    code: str,
    actor,
    quantity=None,
    mode: str = "add",
    note: str = "",
    record_unknown: bool = False,
) -> ScanResult:
    """Count by SKU or barcode: add `quantity` (default 1) to the line, or set it (mode="set").

    Atomic and race-free: the count row is locked and the line moves with F(), so concurrent scans
    all land. The line's counted_at becomes now. An unknown code is refused with a clear message,
    unless record_unknown is set with a note: it is then kept as an "unknown item" line.
    """
    _count_access(store=count.store, actor=actor, perm="inventory.change_stockcount")
    code = (code or "").strip()
    if not code:
        raise ValidationError("Scan or type a SKU or barcode.")
    if len(code) > 60:
        raise ValidationError("That code is too long to be a SKU or barcode.")
    if mode not in {"add", "set"}:
        raise ValidationError("Choose whether to add to the line or set its total.")
    product = product_by_code(code)
    qty = count_quantity_parse(quantity, product=product, allow_negative=(mode == "add"))
    with transaction.atomic():
        count = _count_lock(count)
        now = timezone.now()
        if product is None:
            if not record_unknown:
                raise UnknownCode(
                    f"“{code}” matches no product. Record it as an unknown item with a note so it is not lost."
                )
            if not note.strip():
                raise ValidationError("Describe the unknown item in a note (what it is, where it was).")
            line = (
                StockCountLine.objects.select_for_update()
                .filter(count=count, product__isnull=True, unknown_code=code)
                .first()
            ) or StockCountLine.objects.create(count=count, unknown_code=code)
            StockCountLine.objects.filter(pk=line.pk).update(note=note.strip()[:200])
        else:
            line = _line_for_product(count, product)
        added = _line_change(line, qty=qty, mode=mode, actor=actor, now=now)
    return ScanResult(line=line, added=added)


def stock_count_line_set(*, count: StockCount, line_id: int, quantity, actor) -> StockCountLine:
    """Type the total of one line (atomic; the count must be open and the line must be on it)."""
    _count_access(store=count.store, actor=actor, perm="inventory.change_stockcount")
    with transaction.atomic():
        count = _count_lock(count)
        line = (
            StockCountLine.objects.select_for_update(of=("self",))
            .select_related("product")
            .filter(count=count, pk=line_id)
            .first()
        )
        if line is None:
            raise ValidationError("That line is not on this count.")
        qty = count_quantity_parse(quantity, product=line.product)
        _line_change(line, qty=qty, mode="set", actor=actor, now=timezone.now())
    return line


def _count_lines_evaluate(count: StockCount, *, keep_cost: bool = False) -> list[StockCountLine]:
    """Expected (ledger on-hand at each line's counted_at), variance and its value at cost, saved.

    One query: a correlated Σ over the (store, product, occurred_at) index per line. Call inside atomic().
    """

    at_cut_off = (
        StockMovement.objects.filter(
            store_id=count.store_id, product_id=OuterRef("product_id"), occurred_at__lte=OuterRef("counted_at")
        )
        .order_by()
        .values("product_id")
        .annotate(total=Sum("quantity"))
        .values("total")
    )
    avg_cost = StockLevel.objects.filter(store_id=count.store_id, product_id=OuterRef("product_id")).values(
        "average_cost"
    )[:1]
    lines = list(
        count.lines.filter(product__isnull=False, counted_at__isnull=False)
        .select_related("product")
        .annotate(
            ledger_qty=Subquery(at_cut_off, output_field=DecimalField(max_digits=14, decimal_places=3)),
            avg_cost=Subquery(avg_cost, output_field=DecimalField(max_digits=14, decimal_places=4)),
        )
        .order_by("id")
    )
    for line in lines:
        line.expected_qty = Decimal(line.ledger_qty or 0)
        if not (keep_cost and line.unit_cost):
            line.unit_cost = Decimal(line.avg_cost or 0) or line.product.cost_price
        line.variance = line.counted_qty - line.expected_qty
        line.variance_value = money(line.variance * line.unit_cost)
    StockCountLine.objects.bulk_update(lines, ["expected_qty", "unit_cost", "variance", "variance_value"])
    return lines


def _over_threshold(count: StockCount, line: StockCountLine) -> bool:
    return (
        abs(line.variance) > count.recount_units_threshold or abs(line.variance_value) > count.recount_value_threshold  # type: ignore[arg-type]  # evaluated lines have both
    )


def stock_count_submit(*, count: StockCount, actor, uncounted_as_zero: bool = False) -> SubmitResult:
    """Freeze an open count for the owner, after blind recounts of lines whose variance is too large.

    Atomic. Lines planned but never counted block the submission unless uncounted_as_zero (then they
    are counted as 0, now). A line whose first count differs from the ledger by more than the count's
    unit or value threshold is sent back for a blind recount (its first count is kept in
    first_count_qty, the line restarts at 0) and the count stays open: submitted=False. A line is
    recounted once; the second count stands. Submitting twice raises CountNotOpen.
    """
    _count_access(store=count.store, actor=actor, perm="inventory.change_stockcount")
    with transaction.atomic():
        count = _count_lock(count)
        waiting = count.lines.filter(needs_recount=True, counted_at__isnull=True).count()
        if waiting:
            raise ValidationError(f"{waiting} line(s) still wait for their blind recount: count them, then submit.")
        uncounted = count.lines.filter(product__isnull=False, counted_at__isnull=True)
        missing = uncounted.count()
        if missing and not uncounted_as_zero:
            raise ValidationError(
                f"{missing} product(s) of this count were not counted. Count them, or confirm that they are "
                "not on the shelf (they will be recorded as 0)."
            )
        if not count.lines.filter(counted_at__isnull=False).exists() and not missing:
            raise ValidationError("Nothing was counted yet.")
        now = timezone.now()
        if missing:
            uncounted.update(counted_qty=ZERO, counted_at=now, counted_by=actor)
        lines = _count_lines_evaluate(count)
        over = [line for line in lines if not line.needs_recount and _over_threshold(count, line)]
        if over:
            for line in over:
                line.needs_recount = True
                line.first_count_qty = line.counted_qty
                line.counted_qty = ZERO
                line.counted_at = None
                line.counted_by = None
                line.expected_qty = line.variance = line.variance_value = None
            StockCountLine.objects.bulk_update(
                over,
                [
                    "needs_recount",
                    "first_count_qty",
                    "counted_qty",
                    "counted_at",
                    "counted_by",
                    "expected_qty",
                    "variance",
                    "variance_value",
                ],
            )
            return SubmitResult(count=count, submitted=False, recount_lines=over)
        count.status = StockCount.Status.SUBMITTED
        count.submitted_by = actor
        count.submitted_at = now
        count.save(update_fields=["status", "submitted_by", "submitted_at"])
    return SubmitResult(count=count, submitted=True, recount_lines=[])


def stock_count_line_annotate(*, line: StockCountLine, reason: str, note: str, actor) -> StockCountLine:
    """Give a submitted count's line its reason code and note (owners, before approval)."""

    count = line.count
    _count_access(store=count.store, actor=actor, perm="inventory.reconcile_stockcount")
    if reason and reason not in ReasonCode.values:
        raise ValidationError(f"Unknown reason code “{reason}”.")
    with transaction.atomic():
        count = _count_lock(count, open_only=False)
        if count.status == StockCount.Status.OPEN:
            raise CountNotOpen(f"Count #{count.pk} is still open: reasons are given once it is submitted.")
        if count.status != StockCount.Status.SUBMITTED:
            _refuse_closed(count)
        StockCountLine.objects.filter(pk=line.pk, count=count).update(reason=reason, note=(note or "")[:200])
        line.refresh_from_db()
    return line


def stock_count_line_map(*, line: StockCountLine, code: str, actor) -> StockCountLine:
    """Say which product an "unknown item" line of a submitted count was (owners, before approval).

    The code (SKU or barcode) must match a stocked product. If the count already has a line for that
    product, the unknown line's quantity is added to it and the unknown line goes (its code and note are
    kept in the product line's note); otherwise the line becomes that product's line. Either way the
    expected quantity is re-read from the ledger, so the variance — and the correction approval will
    post — covers what was found. Returns the product's line. Atomic; the count row is locked.
    """
    count = line.count
    _count_access(store=count.store, actor=actor, perm="inventory.reconcile_stockcount")
    code = (code or "").strip()
    if not code:
        raise ValidationError("Type the SKU or barcode of the product this item is.")
    product = product_by_code(code)
    if product is None:
        raise ValidationError(f"“{code}” matches no product either: create the product first, then map the line.")
    if not product.is_stocked:
        raise ValidationError(f"{product.sku} is a fee or service: it has no stock to count.")
    with transaction.atomic():
        count = _count_lock(count, open_only=False)
        if count.status != StockCount.Status.SUBMITTED:
            raise CountNotOpen(
                f"Count #{count.pk} is {count.get_status_display()}: unknown items are mapped once it is submitted "
                "and before it is approved."
            )
        line = StockCountLine.objects.select_for_update().filter(pk=line.pk, count=count).first()  # type: ignore[assignment]  # None is refused below
        if line is None:
            raise ValidationError("That line is not on this count.")
        if line.product_id is not None:
            raise ValidationError(f"That line is already {line.product}.")
        found = f"found as unknown “{line.unknown_code}”: {line.counted_qty.normalize():f}"
        if line.note:
            found += f" ({line.note})"
        target = StockCountLine.objects.select_for_update().filter(count=count, product=product).first()
        if target is None:
            line.product = product
            line.note = found[:200]
            line.save(update_fields=["product", "note"])
            target = line
        else:
            if target.counted_at is None:
                target.counted_at, target.counted_by = line.counted_at, line.counted_by
            target.counted_qty += line.counted_qty
            target.note = "; ".join(n for n in (target.note, found) if n)[:200]
            target.save(update_fields=["counted_qty", "counted_at", "counted_by", "note"])
            line.delete()
        _count_lines_evaluate(count, keep_cost=True)
        target.refresh_from_db()
    return target


def stock_count_reconcile(*, count: StockCount, actor) -> list[StockMovement]:
    """Approve a submitted count: one count-correction movement per line with a variance (atomic, once).

    Expected quantities are re-read from the ledger at each line's counted_at (POS data that arrived
    late is taken into account), and each correction equals the variance, dated at counted_at — never
    "set on-hand to counted", so movements after the count stay in the book. Every line with a
    variance needs a reason code. The count row is locked: approving twice, or two owners at once,
    posts nothing more (the second call returns []). Owners only, for stores they may see.
    """

    _count_access(store=count.store, actor=actor, perm="inventory.reconcile_stockcount")
    with transaction.atomic():
        count = _count_lock(count, open_only=False)
        if count.status == StockCount.Status.RECONCILED:
            return []
        if count.status != StockCount.Status.SUBMITTED:
            raise CountNotOpen(
                f"Count #{count.pk} is {count.get_status_display()}: only a submitted count can be approved."
            )
        lines = _count_lines_evaluate(count, keep_cost=True)
        unexplained = [line.product.sku for line in lines if line.variance and not line.reason]  # type: ignore[union-attr]  # evaluated lines have a product
        if unexplained:
            raise ValidationError(
                f"Give a reason code to every line with a variance before approving: {', '.join(unexplained)}."
            )
        reasons = dict(ReasonCode.choices)
        specs = [
            MovementSpec(
                store_id=count.store_id,
                product_id=line.product_id,  # type: ignore[arg-type]  # evaluated lines have a product
                quantity=line.variance,
                kind=StockMovement.Kind.COUNT,
                unit_cost=line.unit_cost,
                occurred_at=line.counted_at,
                source_type="inventory.stockcountline",
                source_id=line.pk,
                reason=f"Count #{count.pk}: {reasons.get(line.reason, line.reason)}",
            )
            for line in lines
            if line.variance
        ]
        movements = stock_movements_post(specs=specs, user=actor)
        count.status = StockCount.Status.RECONCILED
        count.approved_by = actor
        count.reconciled_at = timezone.now()
        count.save(update_fields=["status", "approved_by", "reconciled_at"])
    return movements


def stock_count_close(*, count: StockCount, actor, status: str, note: str = "") -> StockCount:
    """Reject a submitted count, or cancel an open / submitted one: nothing is posted (owners)."""
    _count_access(store=count.store, actor=actor, perm="inventory.reconcile_stockcount")
    if status not in {StockCount.Status.REJECTED, StockCount.Status.CANCELLED}:
        raise ValidationError("A count can be rejected or cancelled.")
    with transaction.atomic():
        count = _count_lock(count, open_only=False)
        allowed = {StockCount.Status.SUBMITTED}
        if status == StockCount.Status.CANCELLED:
            allowed.add(StockCount.Status.OPEN)
        if count.status not in allowed:
            _refuse_closed(count)
        count.status = status
        count.approved_by = actor
        if note:
            count.note = f"{count.note}\n{note}".strip()[:2000]
        count.save(update_fields=["status", "approved_by", "note"])
    return count


def stock_count_abandon(*, count: StockCount, actor) -> StockCount:
    """Cancel an open count from the count page: by the person who started it, or by an owner.

    Nothing is posted; the lines stay on the cancelled count for the record."""
    _count_access(store=count.store, actor=actor, perm="inventory.change_stockcount")
    with transaction.atomic():
        count = _count_lock(count)
        if count.created_by_id != actor.pk and not actor.has_perm("inventory.reconcile_stockcount"):
            raise ValidationError("Only the person who started this count, or an owner, can cancel it.")
        count.status = StockCount.Status.CANCELLED
        count.note = f"{count.note}\nCancelled from the count page by {actor.get_username()}.".strip()[:2000]
        count.save(update_fields=["status", "note"])
    return count
