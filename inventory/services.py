"""Writes that change stock: the only code that appends to the stock ledger.

Every function here is atomic. Stock levels are locked with select_for_update() in a stable order
(store id, then product id) so concurrent posts cannot deadlock, and on_hand is changed with F()
in the same transaction as the movement, keeping the invariant on_hand == Σ movements.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .exceptions import ReceiptRejected
from .models import (
    GoodsReceipt,
    GoodsReceiptLine,
    Product,
    ProductPrice,
    PurchaseOrder,
    PurchaseOrderLine,
    StockLevel,
    StockMovement,
    Store,
)

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


def product_price_change(
    *, product: Product, mrp: Decimal, dp: Decimal, cost_price: Decimal, actor=None
) -> Product:
    """Change a product's prices and keep the old ones in the price history (atomic)."""
    mrp, dp, cost_price = Decimal(mrp), Decimal(dp), Decimal(cost_price)
    if min(mrp, dp, cost_price) < 0:
        raise ValidationError("Prices cannot be negative.")
    if dp > mrp:
        raise ValidationError("The member price (DP) cannot be above the list price (MRP).")
    with transaction.atomic():
        product = Product.objects.select_for_update().get(pk=product.pk)
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
            level = levels[(order.store_id, line.product_id)]
            on_hand = max(level.on_hand, ZERO)
            new_avg = (
                (on_hand * level.average_cost + qty * line.unit_cost) / (on_hand + qty)
                if on_hand > 0
                else line.unit_cost
            )
            level.average_cost = new_avg.quantize(Decimal("0.0001"))
            level.save(update_fields=["average_cost"])
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
        open_left = any(
            line.quantity_ordered > line.quantity_received for line in order.lines.all()
        )
        order.status = PurchaseOrder.Status.PARTLY_RECEIVED if open_left else PurchaseOrder.Status.RECEIVED
        order.save(update_fields=["status"])
    return receipt


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
