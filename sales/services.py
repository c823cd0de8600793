"""Posting POS receipts: the one path by which sales, their stock movements and points are written.

sale_record() is idempotent on (store, POS reference): the same receipt posted again changes
nothing and says "duplicate"; the same reference with other content is refused as a conflict.
Bulk file ingestion (sales_import) reuses the same validation and rollup code.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from customers.models import Customer
from customers.services import point_value, points_earn, points_for_amount, points_redeem
from inventory.models import Product, StockMovement, Store
from inventory.services import MovementSpec, stock_levels_lock, stock_movements_post
from retailops.money import money

from .exceptions import ReceiptConflict
from .models import Sale, SaleLine
from .rollups import sales_daily_add, store_daily_add

ZERO = Decimal("0")
MAX_QTY = Decimal("100000")


@dataclass
class LineInput:
    product: Product
    quantity: Decimal
    unit_price: Decimal
    price_type: str | None = None  # derived from the product's prices when None


@dataclass
class ReceiptInput:
    store: Store
    pos_reference: str
    occurred_at: datetime
    lines: list[LineInput]
    kind: str = Sale.Kind.SALE
    payment_method: str = Sale.Payment.CARD
    customer: Customer | None = None
    points_redeemed: int = 0
    original_reference: str = ""
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RecordResult:
    sale: Sale
    created: bool

    @property
    def status(self) -> str:
        return "accepted" if self.created else "duplicate"


def price_type_for(*, product: Product, unit_price: Decimal) -> str:
    if unit_price == product.mrp:
        return SaleLine.PriceType.MRP
    if unit_price == product.dp:
        return SaleLine.PriceType.DP
    if unit_price < product.mrp:
        return SaleLine.PriceType.PROMO
    return SaleLine.PriceType.OTHER


def receipt_hash(receipt: ReceiptInput) -> str:
    """A digest of what the receipt says, to tell a re-sent receipt from a different one."""
    content = {
        "at": receipt.occurred_at.astimezone(UTC).isoformat(timespec="seconds"),
        "kind": receipt.kind,
        "pay": receipt.payment_method,
        "customer": receipt.customer.code if receipt.customer else "",
        "redeemed": int(receipt.points_redeemed or 0),
        "lines": sorted(
            (line.product.sku, str(Decimal(line.quantity).normalize()), str(money(line.unit_price)))
            for line in receipt.lines
        ),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def receipt_validate(receipt: ReceiptInput) -> None:
    """Raise ValidationError with a readable message when the receipt cannot be posted."""
    errors = []
    if not receipt.store.active:
        errors.append(f"Store {receipt.store.code} is closed (inactive).")
    ref = (receipt.pos_reference or "").strip()
    if not ref or len(ref) > 64:
        errors.append("A receipt needs a POS reference of 1 to 64 characters.")
    if timezone.is_naive(receipt.occurred_at):
        errors.append("The sale time must carry a time zone.")
    elif receipt.occurred_at > timezone.now() + timedelta(days=1):
        errors.append("The sale time is in the future.")
    if receipt.kind not in Sale.Kind.values:
        errors.append(f"Unknown receipt kind “{receipt.kind}”.")
    if receipt.payment_method not in Sale.Payment.values:
        errors.append(f"Unknown payment method “{receipt.payment_method}”.")
    if not receipt.lines:
        errors.append("A receipt needs at least one line.")
    sign = -1 if receipt.kind == Sale.Kind.RETURN else 1
    for n, line in enumerate(receipt.lines, start=1):
        qty = Decimal(line.quantity)
        if qty == 0:
            errors.append(f"Line {n}: quantity cannot be zero.")
        elif (qty > 0) != (sign > 0):
            errors.append(
                f"Line {n}: a {receipt.kind} needs {'positive' if sign > 0 else 'negative'} quantities."
            )
        elif abs(qty) > MAX_QTY:
            errors.append(f"Line {n}: {qty} is not a plausible quantity.")
        elif line.product.unit == Product.Unit.EACH and qty != qty.to_integral_value():
            errors.append(f"Line {n}: {line.product.sku} is sold by the unit, not {qty}.")
        if Decimal(line.unit_price) < 0:
            errors.append(f"Line {n}: the unit price cannot be negative.")
    if receipt.points_redeemed < 0:
        errors.append("Redeemed points cannot be negative.")
    if receipt.points_redeemed and not receipt.customer:
        errors.append("Points can only be redeemed by a loyalty customer.")
    if receipt.customer and receipt.customer.anonymised_at:
        errors.append("This customer was deleted on request.")
    if errors:
        raise ValidationError(errors)


def sale_record(*, receipt: ReceiptInput, actor=None, import_batch=None) -> RecordResult:
    """Post one receipt: sale, lines, stock movements, points and rollup deltas, in one transaction.

    Idempotent: if the store already holds this POS reference with the same content, nothing is
    written and the existing sale is returned with created=False; with other content, ReceiptConflict.
    Safe under concurrency: two identical posts racing end with one sale.
    """
    receipt.pos_reference = (receipt.pos_reference or "").strip()
    receipt_validate(receipt)
    digest = receipt_hash(receipt)
    existing = Sale.objects.filter(store=receipt.store, pos_reference=receipt.pos_reference).first()
    if existing:
        return _as_duplicate(existing, digest)
    try:
        with transaction.atomic():
            sale = _write_sale(receipt=receipt, digest=digest, actor=actor, import_batch=import_batch)
    except IntegrityError:
        # Lost a race with an identical post: the unique (store, pos_reference) constraint held.
        existing = Sale.objects.filter(store=receipt.store, pos_reference=receipt.pos_reference).first()
        if existing is None:
            raise
        return _as_duplicate(existing, digest)
    return RecordResult(sale=sale, created=True)


def _as_duplicate(existing: Sale, digest: str) -> RecordResult:
    if existing.content_hash != digest:
        raise ReceiptConflict(
            f"Receipt {existing.pos_reference} was already posted for this store with different content."
        )
    return RecordResult(sale=existing, created=False)


def _write_sale(*, receipt: ReceiptInput, digest: str, actor, import_batch) -> Sale:
    store = receipt.store
    local_date = receipt.occurred_at.astimezone(store.tz).date()
    is_return = receipt.kind == Sale.Kind.RETURN
    original = None
    if receipt.original_reference:
        original = Sale.objects.filter(store=store, pos_reference=receipt.original_reference).first()

    stocked = [line for line in receipt.lines if line.product.is_stocked]
    levels = stock_levels_lock(pairs=[(store.pk, line.product.pk) for line in stocked])

    sale = Sale(
        store=store,
        pos_reference=receipt.pos_reference,
        occurred_at=receipt.occurred_at,
        local_date=local_date,
        customer=receipt.customer,
        kind=receipt.kind,
        original=original,
        payment_method=receipt.payment_method,
        total=ZERO,
        content_hash=digest,
        import_batch=import_batch,
        points_redeemed=receipt.points_redeemed,
    )
    lines = []
    for n, line in enumerate(receipt.lines, start=1):
        product = line.product
        qty = Decimal(line.quantity)
        unit_price = money(line.unit_price)
        level = levels.get((store.pk, product.pk))
        unit_cost = (level.average_cost if level and level.average_cost else product.cost_price) or ZERO
        discount = money(max(product.mrp - unit_price, ZERO) * qty)
        lines.append(
            SaleLine(
                line_no=n,
                product=product,
                quantity=qty,
                unit_mrp=product.mrp,
                unit_price=unit_price,
                price_type=line.price_type or price_type_for(product=product, unit_price=unit_price),
                discount=discount,
                unit_cost=unit_cost,
                line_total=money(unit_price * qty),
            )
        )
    sale.total = sum((line.line_total for line in lines), ZERO)
    sale.discount_total = sum((line.discount for line in lines), ZERO)
    sale.cost_total = sum((money(line.quantity * line.unit_cost) for line in lines), ZERO)
    sale.save()
    for line in lines:
        line.sale = sale
    SaleLine.objects.bulk_create(lines)
    lines = list(sale.lines.select_related("product").order_by("line_no"))

    stock_movements_post(
        specs=[
            MovementSpec(
                store_id=store.pk,
                product_id=line.product_id,
                quantity=-line.quantity,
                kind=StockMovement.Kind.RETURN if is_return else StockMovement.Kind.SALE,
                unit_cost=line.unit_cost,
                occurred_at=receipt.occurred_at,
                source_type="sales.saleline",
                source_id=line.pk,
                reason=f"POS {receipt.pos_reference}",
            )
            for line in lines
            if line.product.is_stocked
        ],
        user=actor,
    )

    if receipt.customer:
        if receipt.points_redeemed:
            points_redeem(
                customer=receipt.customer,
                points=receipt.points_redeemed,
                occurred_at=receipt.occurred_at,
                store=store,
                source_type="sales.sale",
                source_id=sale.pk,
                user=actor,
            )
        paid = sale.total - money(Decimal(receipt.points_redeemed) * point_value())
        earned = points_for_amount(amount=paid, tier=receipt.customer.tier) if not is_return else 0
        if earned:
            points_earn(
                customer=receipt.customer,
                points=earned,
                occurred_at=receipt.occurred_at,
                store=store,
                source_type="sales.sale",
                source_id=sale.pk,
                user=actor,
            )
            Sale.objects.filter(pk=sale.pk).update(points_earned=earned)
            sale.points_earned = earned

    rollup_add_sale(sale=sale, lines=lines)
    return sale


def rollup_add_sale(*, sale: Sale, lines: list[SaleLine]) -> None:
    """Add one sale's deltas to SalesDaily and StoreDaily (same figures as rollups_rebuild)."""
    is_return = sale.kind == Sale.Kind.RETURN
    per_product: dict[int, list] = defaultdict(lambda: [ZERO] * 8)
    for line in lines:
        acc = per_product[line.product_id]
        acc[0] += line.quantity
        acc[1] += line.line_total
        acc[2] += money(line.quantity * line.unit_cost)
        acc[3] += line.discount
        if line.price_type == SaleLine.PriceType.MRP:
            acc[4] += line.quantity
            acc[5] += line.line_total
        if is_return:
            acc[6] -= line.quantity
            acc[7] -= line.line_total
    tx = 0 if is_return else 1
    sales_daily_add(
        (sale.store_id, product_id, sale.local_date, *values, tx) for product_id, values in per_product.items()
    )
    store_daily_add(
        [
            (
                sale.store_id,
                sale.local_date,
                sale.payment_method,
                tx,
                sale.total,
                sale.cost_total,
                sale.discount_total,
                sum((line.quantity for line in lines), ZERO),
                -sale.total if is_return else ZERO,
                1 if (sale.customer_id and not is_return) else 0,
            )
        ]
    )
