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

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from customers.models import Customer
from customers.services import point_value, points_earn, points_for_amount, points_redeem
from inventory.models import Product, StockMovement, Store
from inventory.services import MovementSpec, stock_levels_lock, stock_movements_post
from retailops.money import money

from .exceptions import ReceiptConflict
from .models import ImportBatch, Sale, SaleLine
from .rollups import rollups_add_sales, sales_daily_add, store_daily_add

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
    return receipt_digest(
        occurred_at=receipt.occurred_at,
        kind=receipt.kind,
        payment_method=receipt.payment_method,
        customer_code=receipt.customer.code if receipt.customer else "",
        points_redeemed=int(receipt.points_redeemed or 0),
        lines=[(line.product.sku, line.quantity, line.unit_price) for line in receipt.lines],
    )


def receipt_digest(
    *, occurred_at: datetime, kind: str, payment_method: str, customer_code: str, points_redeemed: int, lines
) -> str:
    """The content digest shared by every entry point (till, file, API): lines are (sku, quantity, price)."""
    content = {
        "at": occurred_at.astimezone(UTC).isoformat(timespec="seconds"),
        "kind": kind,
        "pay": payment_method,
        "customer": customer_code,
        "redeemed": int(points_redeemed or 0),
        "lines": sorted((sku, str(Decimal(qty).normalize()), str(money(price))) for sku, qty, price in lines),
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
            errors.append(f"Line {n}: a {receipt.kind} needs {'positive' if sign > 0 else 'negative'} quantities.")
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


# === Ingestion: one service for file imports, the API and the watch folder (DESIGN §5) =============
#
# receipts_post() validates, de-duplicates and posts a list of receipt drafts set-based, in one
# transaction: sales, lines, stock movements (levels locked in (store, product) order and moved
# with relative updates), points through the ledger, rollups for the sales it wrote. The API calls
# it with the receipts of one request; sales_import() calls it chunk by chunk for a file.

INGEST_CHUNK_LINES = 50_000
INGEST_CHUNK_RECEIPTS = 5_000
MAX_ROW_ERRORS = 100_000


@dataclass
class ReceiptOutcome:
    pos_reference: str
    store_code: str
    status: str  # accepted | duplicate | rejected
    sale_id: int | None = None
    adjustment_id: int | None = None
    errors: list[str] = field(default_factory=list)
    lines: int = 0


def _draft_digest(draft) -> str:
    return receipt_digest(
        occurred_at=draft.occurred_at,
        kind=draft.kind,
        payment_method=draft.payment_method,
        customer_code=draft.customer.code if draft.customer else "",
        points_redeemed=draft.points_redeemed,
        lines=[(line.product.sku, line.quantity, line.unit_price) for line in draft.lines],
    )


def _draft_validate(draft, *, now: datetime) -> None:
    """Business rules of one draft (the same as receipt_validate); problems are appended to the draft."""
    if draft.store is None:
        if not draft.errors:
            draft.errors.append(("store", draft.store_key, f"unknown store “{draft.store_key}”"))
        return
    if not draft.store.active:
        draft.errors.append(("store", draft.store.code, f"store {draft.store.code} is closed (inactive)"))
    if draft.occurred_at is None:
        if not any(line.errors for line in draft.lines):
            draft.errors.append(("occurred_at", "", "the receipt has no valid time"))
    elif timezone.is_naive(draft.occurred_at):
        draft.errors.append(("occurred_at", "", "the sale time must carry a time zone"))
    elif draft.occurred_at > now + timedelta(days=1):
        draft.errors.append(("occurred_at", draft.occurred_at.isoformat()[:40], "the sale time is in the future"))
    if draft.kind not in ("sale", "return", "adjustment"):
        draft.errors.append(("kind", draft.kind, f"unknown receipt kind “{draft.kind}”"))
    if draft.payment_method not in Sale.Payment.values:
        draft.errors.append(
            ("payment_method", draft.payment_method[:200], f"unknown payment method “{draft.payment_method}”")
        )
    if not draft.lines:
        draft.errors.append(("pos_reference", draft.pos_reference, "a receipt needs at least one line"))
    for line in draft.lines:
        if line.errors or line.quantity is None or line.unit_price is None:
            continue
        product = line.product
        if product is None:
            line.errors.append(("sku", line.sku, f"unknown product “{line.sku}”"))
            continue
        qty = line.quantity
        if qty == 0:
            line.errors.append(("quantity", "0", "quantity cannot be zero"))
        elif draft.kind == "sale" and qty < 0:
            line.errors.append(("quantity", str(qty), "a sale needs positive quantities"))
        elif draft.kind == "return" and qty > 0:
            line.errors.append(("quantity", str(qty), "a return needs negative quantities"))
        elif abs(qty) > MAX_QTY:
            line.errors.append(("quantity", str(qty), f"{qty} is not a plausible quantity"))
        elif product.unit == Product.Unit.EACH and qty != qty.to_integral_value():
            shown = f"{qty.normalize():f}"
            line.errors.append(("quantity", shown, f"{product.sku} is sold by the unit, not {shown}"))
        if line.unit_price < 0:
            line.errors.append(("unit_price", str(line.unit_price), "the unit price cannot be negative"))
        if draft.kind == "adjustment" and not product.is_stocked:
            line.errors.append(("sku", line.sku, f"{product.sku} is a fee or service: it has no stock to adjust"))
    if draft.points_redeemed < 0:
        draft.errors.append(("points_redeemed", str(draft.points_redeemed), "redeemed points cannot be negative"))
    if draft.points_redeemed and not draft.customer:
        draft.errors.append(("points_redeemed", str(draft.points_redeemed), "only a loyalty customer can redeem"))
    if draft.customer is not None and draft.customer.anonymised_at:
        draft.errors.append(("customer", draft.customer.code, "this customer was deleted on request"))


def _draft_reason(draft) -> str:
    if draft.errors:
        return "; ".join(reason for _, _, reason in draft.errors)
    bad = [line for line in draft.lines if line.errors]
    if bad:
        first = bad[0]
        where = f"line {first.source_line}" if first.source_line else f"line {draft.lines.index(first) + 1}"
        return f"{where}: {first.errors[0][2]}"
    return ""


def receipts_post(*, drafts: list, import_batch: ImportBatch | None = None, actor=None) -> list[ReceiptOutcome]:
    """Post receipt drafts (sales.importing.ReceiptDraft with store, products and customer resolved).

    Atomic per call; idempotent per (store, POS reference): a receipt already posted with the same
    content is a duplicate (nothing written), with other content a conflict (rejected); a receipt
    this same import batch posted before (a resumed task) counts as accepted. Rejected drafts write
    nothing. Two calls racing on the same receipt end with one sale (the loser retries and sees it).
    """
    now = timezone.now()
    for draft in drafts:
        if not draft.rejected:
            _draft_validate(draft, now=now)
    for attempt in range(3):
        try:
            with transaction.atomic():
                if import_batch is not None and import_batch.source != ImportBatch.Source.API:
                    _relaxed_commit()
                return _post_drafts(drafts, import_batch=import_batch, actor=actor, now=now)
        except IntegrityError:
            # Another request posted one of these receipts between our check and our insert.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _relaxed_commit() -> None:
    """File chunks commit without waiting for the WAL flush (PostgreSQL synchronous_commit=off).

    Safe here and only here: a crash can lose at most the last chunks of a batch — never half a
    chunk, never consistency — and the batch is re-run idempotently. API posts stay fully durable.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def _post_drafts(drafts, *, import_batch, actor, now) -> list[ReceiptOutcome]:
    from .models import StockAdjustment

    outcomes: list[ReceiptOutcome] = []
    candidates = []  # (index, draft, digest)
    for draft in drafts:
        outcome = ReceiptOutcome(
            pos_reference=draft.pos_reference,
            store_code=draft.store.code if draft.store else draft.store_key,
            status="rejected",
            lines=len(draft.lines),
        )
        outcomes.append(outcome)
        if draft.rejected:
            outcome.errors = [_draft_reason(draft)]
            continue
        candidates.append((len(outcomes) - 1, draft, _draft_digest(draft)))

    # De-duplicate against what is already posted (sales and stock adjustments share the reference space).
    existing: dict[tuple[int, str], tuple] = {}
    by_store: dict[int, set[str]] = defaultdict(set)
    for _, draft, _ in candidates:
        by_store[draft.store.pk].add(draft.pos_reference)
    for store_id, refs in by_store.items():
        refs = sorted(refs)
        for i in range(0, len(refs), 2000):
            part = refs[i : i + 2000]
            for row in Sale.objects.filter(store_id=store_id, pos_reference__in=part).values_list(
                "pos_reference", "id", "content_hash", "import_batch_id"
            ):
                existing[(store_id, row[0])] = ("sale", *row[1:])
            for row in StockAdjustment.objects.filter(store_id=store_id, pos_reference__in=part).values_list(
                "pos_reference", "id", "content_hash", "import_batch_id"
            ):
                existing[(store_id, row[0])] = ("adjustment", *row[1:])
    to_post = []
    seen: dict[tuple[int, str], str] = {}
    for index, draft, digest in candidates:
        key = (draft.store.pk, draft.pos_reference)
        outcome = outcomes[index]
        found = existing.get(key)
        if found is None and key in seen:
            found = ("this request", None, seen[key], None)
        if found is not None:
            what, obj_id, found_hash, batch_id = found
            if found_hash != digest:
                outcome.errors = [
                    f"conflict: receipt {draft.pos_reference} was already posted for store {draft.store.code} "
                    "with different content"
                ]
                draft.errors.append(("pos_reference", draft.pos_reference, outcome.errors[0]))
                continue
            same_batch = import_batch is not None and batch_id == import_batch.pk
            outcome.status = "accepted" if same_batch else "duplicate"
            if what == "sale":
                outcome.sale_id = obj_id
            elif what == "adjustment":
                outcome.adjustment_id = obj_id
            continue
        seen[key] = digest
        to_post.append((index, draft, digest))
    if not to_post:
        return outcomes

    # Points: lock the customers (pk order), check redemptions against balances, compute earnings.
    customer_ids = sorted({d.customer.pk for _, d, _ in to_post if d.customer is not None})
    customers = {}
    if customer_ids:
        customers = {
            c.pk: c
            for c in Customer.objects.select_for_update(of=("self",))
            .filter(pk__in=customer_ids)
            .select_related("tier")
            .order_by("pk")
        }
    balances = {pk: c.points_balance for pk, c in customers.items()}
    posting = []
    for index, draft, digest in to_post:
        if draft.points_redeemed:
            pk = draft.customer.pk
            if balances[pk] < draft.points_redeemed:
                reason = (
                    f"customer {draft.customer.code} has {balances[pk]} points; cannot redeem {draft.points_redeemed}"
                )
                draft.errors.append(("points_redeemed", str(draft.points_redeemed), reason))
                outcomes[index].errors = [reason]
                continue
            balances[pk] -= draft.points_redeemed
        posting.append((index, draft, digest))

    sales = [(i, d, h) for i, d, h in posting if d.kind != "adjustment"]
    adjustments = [(i, d, h) for i, d, h in posting if d.kind == "adjustment"]
    stocked_pairs = [
        (d.store.pk, line.product.pk) for _, d, _ in posting for line in d.lines if line.product.is_stocked
    ]
    levels = stock_levels_lock(pairs=stocked_pairs)
    originals = _originals(sales)
    point_rate = point_value()
    deltas: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
    movement_rows, points_rows, points_deltas = [], [], defaultdict(int)
    user_id = actor.pk if actor is not None and getattr(actor, "pk", None) else None
    batch_id = import_batch.pk if import_batch is not None else None
    expiry = timedelta(days=int(settings.RETAILOPS["POINTS_EXPIRY_DAYS"]))

    sale_ids = _allocate_ids(Sale, len(sales))
    line_ids = _allocate_ids(SaleLine, sum(len(d.lines) for _, d, _ in sales))
    sale_rows, line_rows = [], []
    line_iter = iter(line_ids)
    for (index, draft, digest), sale_id in zip(sales, sale_ids, strict=True):
        store = draft.store
        is_return = draft.kind == Sale.Kind.RETURN
        total = discount_total = cost_total = ZERO
        for n, line in enumerate(draft.lines, start=1):
            product = line.product
            level = levels.get((store.pk, product.pk))
            unit_cost = (level.average_cost if level and level.average_cost else product.cost_price) or ZERO
            unit_price = money(line.unit_price)
            qty = line.quantity
            discount = money(max(product.mrp - unit_price, ZERO) * qty)
            line_total = money(unit_price * qty)
            price_type = line.price_type or price_type_for(product=product, unit_price=unit_price)
            line_id = next(line_iter)
            line_rows.append(
                (
                    line_id, sale_id, n, product.pk, qty, product.mrp, unit_price, price_type, discount,
                    unit_cost, line_total, line.source_line,
                )
            )  # fmt: skip
            total += line_total
            discount_total += discount
            cost_total += money(qty * unit_cost)
            if product.is_stocked:
                movement_rows.append(
                    (
                        store.pk, product.pk, -qty,
                        StockMovement.Kind.RETURN if is_return else StockMovement.Kind.SALE,
                        unit_cost, "sales.saleline", line_id, draft.occurred_at, now, user_id,
                        f"POS {draft.pos_reference}"[:200],
                    )
                )  # fmt: skip
                deltas[(store.pk, product.pk)] -= qty
        earned = 0
        customer = customers.get(draft.customer.pk) if draft.customer is not None else None
        if customer is not None:
            if draft.points_redeemed:
                points_rows.append(
                    (customer.pk, "redeem", -draft.points_redeemed, store.pk, "sales.sale", sale_id,
                     draft.occurred_at, None, now, user_id, "")
                )  # fmt: skip
                points_deltas[customer.pk] -= draft.points_redeemed
            if not is_return:
                paid = total - money(Decimal(draft.points_redeemed) * point_rate)
                earned = points_for_amount(amount=paid, tier=customer.tier)
                if earned:
                    points_rows.append(
                        (customer.pk, "earn", earned, store.pk, "sales.sale", sale_id, draft.occurred_at,
                         draft.occurred_at + expiry, now, user_id, "")
                    )  # fmt: skip
                    points_deltas[customer.pk] += earned
        sale_rows.append(
            (
                sale_id, store.pk, draft.pos_reference, draft.occurred_at,
                draft.occurred_at.astimezone(store.tz).date(), customer.pk if customer else None, draft.kind,
                originals.get((store.pk, draft.original_reference)), draft.payment_method, total, discount_total,
                cost_total, earned, int(draft.points_redeemed or 0), digest, batch_id, now,
            )
        )  # fmt: skip
        outcomes[index].status = "accepted"
        outcomes[index].sale_id = sale_id

    adjustment_ids = _allocate_ids(StockAdjustment, len(adjustments))
    from .models import StockAdjustmentLine

    adj_line_ids = iter(_allocate_ids(StockAdjustmentLine, sum(len(d.lines) for _, d, _ in adjustments)))
    adjustment_rows, adj_line_rows = [], []
    for (index, draft, digest), adjustment_id in zip(adjustments, adjustment_ids, strict=True):
        store = draft.store
        adjustment_rows.append((adjustment_id, store.pk, draft.pos_reference, draft.occurred_at, digest, batch_id, now))
        for n, line in enumerate(draft.lines, start=1):
            product = line.product
            level = levels.get((store.pk, product.pk))
            unit_cost = (level.average_cost if level and level.average_cost else product.cost_price) or ZERO
            line_id = next(adj_line_ids)
            reason = (line.description or "stock adjustment")[:160]
            adj_line_rows.append((line_id, adjustment_id, n, product.pk, line.quantity, reason, line.source_line))
            kind = StockMovement.Kind.WRITE_OFF if line.quantity < 0 else StockMovement.Kind.ADJUSTMENT
            movement_rows.append(
                (
                    store.pk, product.pk, line.quantity, kind, unit_cost, "sales.stockadjustmentline", line_id,
                    draft.occurred_at, now, user_id, f"POS {draft.pos_reference}: {reason}"[:200],
                )
            )  # fmt: skip
            deltas[(store.pk, product.pk)] += line.quantity
        outcomes[index].status = "accepted"
        outcomes[index].adjustment_id = adjustment_id

    from customers.models import PointsEntry

    _insert(Sale, SALE_COLUMNS, sale_rows)
    _insert(SaleLine, SALE_LINE_COLUMNS, line_rows)
    _insert(StockAdjustment, ADJUSTMENT_COLUMNS, adjustment_rows)
    _insert(StockAdjustmentLine, ADJUSTMENT_LINE_COLUMNS, adj_line_rows)
    _insert(StockMovement, MOVEMENT_COLUMNS, movement_rows)
    _insert(PointsEntry, POINTS_COLUMNS, points_rows)
    # Relative updates (the SQL of F("on_hand") + delta) on rows locked above, in lock order.
    _relative_update(
        "UPDATE inventory_stocklevel SET on_hand = on_hand + %s, updated_at = %s "
        "WHERE store_id = %s AND product_id = %s",
        [(delta, now, s, p) for (s, p), delta in sorted(deltas.items()) if delta],
    )
    _relative_update(
        "UPDATE customers_customer SET points_balance = points_balance + %s WHERE id = %s",
        [(delta, pk) for pk, delta in sorted(points_deltas.items()) if delta],
    )
    rollups_add_sales(sale_ids=sale_ids)
    return outcomes


SALE_COLUMNS = (
    "id", "store_id", "pos_reference", "occurred_at", "local_date", "customer_id", "kind", "original_id",
    "payment_method", "total", "discount_total", "cost_total", "points_earned", "points_redeemed", "content_hash",
    "import_batch_id", "created_at",
)  # fmt: skip
SALE_LINE_COLUMNS = (
    "id", "sale_id", "line_no", "product_id", "quantity", "unit_mrp", "unit_price", "price_type", "discount",
    "unit_cost", "line_total", "source_line",
)  # fmt: skip
ADJUSTMENT_COLUMNS = ("id", "store_id", "pos_reference", "occurred_at", "content_hash", "import_batch_id", "created_at")
ADJUSTMENT_LINE_COLUMNS = ("id", "adjustment_id", "line_no", "product_id", "quantity", "reason", "source_line")
MOVEMENT_COLUMNS = (
    "store_id", "product_id", "quantity", "kind", "unit_cost", "source_type", "source_id", "occurred_at",
    "recorded_at", "user_id", "reason",
)  # fmt: skip
POINTS_COLUMNS = (
    "customer_id", "kind", "points", "store_id", "source_type", "source_id", "occurred_at", "expires_at",
    "recorded_at", "user_id", "note",
)  # fmt: skip


def _originals(sales) -> dict[tuple[int, str], int]:
    wanted = defaultdict(set)
    for _, draft, _ in sales:
        if draft.original_reference:
            wanted[draft.store.pk].add(draft.original_reference)
    found = {}
    for store_id, refs in wanted.items():
        for pk, ref in Sale.objects.filter(store_id=store_id, pos_reference__in=sorted(refs)).values_list(
            "pk", "pos_reference"
        ):
            found[(store_id, ref)] = pk
    return found


def _allocate_ids(model, n: int) -> list[int]:
    """Reserve n primary keys, so rows and the rows that point at them can be written in one pass.

    PostgreSQL: from the table's sequence (safe under concurrency; gaps are harmless). SQLite: the
    writer holds the database lock for the whole transaction, so max(id) + 1 … is ours.
    """
    if n <= 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, n])
            return [row[0] for row in cursor.fetchall()]
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
        top = cursor.fetchone()[0]
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        row = cursor.fetchone()
        if row and row[0] and row[0] > top:
            top = row[0]
    return list(range(top + 1, top + n + 1))


def _insert(model, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Append rows set-based: COPY on PostgreSQL (psycopg 3), executemany elsewhere."""
    if not rows:
        return
    table = model._meta.db_table
    if connection.vendor == "postgresql":
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    by_column = {f.column: f for f in model._meta.concrete_fields}
    fields = [by_column[c] for c in columns]
    prepared = [tuple(f.get_db_prep_save(v, connection) for f, v in zip(fields, row, strict=True)) for row in rows]
    placeholders = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", prepared)


def _relative_update(sql: str, rows: list[tuple]) -> None:
    if rows:
        with connection.cursor() as cursor:
            cursor.executemany(sql, rows)


# --- file imports -------------------------------------------------------------------------------------


def import_batch_create(
    *,
    source: str,
    source_name: str,
    actor=None,
    content: bytes | None = None,
    path: str = "",
    mapping=None,
    store: Store | None = None,
    options: dict | None = None,
) -> ImportBatch:
    """Register a file to import (pending). The bytes are kept with the batch (content) or read from path."""
    from django.core.files.base import ContentFile

    if actor is not None and not actor.has_perm("sales.import_sales"):
        raise ValidationError("You do not have permission to import sales.")
    if store is not None and actor is not None:
        from inventory.selectors import store_ids_visible

        if not actor.has_perm("inventory.view_all_stores") and store.pk not in store_ids_visible(user=actor):
            raise ValidationError(f"{store} is not one of your stores.")
    batch = ImportBatch(
        source=source,
        source_name=source_name[:255],
        mapping=mapping,
        store=store,
        options=dict(options or {}),
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    if path:
        batch.options["path"] = str(path)
    with transaction.atomic():
        batch.save()
        if content is not None:
            batch.file.save(_safe_name(source_name), ContentFile(content), save=True)
    return batch


def _safe_name(name: str) -> str:
    from django.utils.text import get_valid_filename

    base = name.replace("\\", "/").rsplit("/", 1)[-1] or "upload.csv"
    return get_valid_filename(base)[-100:] or "upload.csv"


def _batch_bytes(batch: ImportBatch) -> bytes:
    from pathlib import Path

    if batch.file:
        with batch.file.open("rb") as handle:
            return handle.read()
    path = batch.options.get("path")
    if not path:
        raise _file_error("The batch has no file.")
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise _file_error(f"The file {path} cannot be read: {exc.strerror}.") from None


def _file_error(message: str):
    from .importing import ImportFileError

    return ImportFileError(message)


def _batch_update(batch: ImportBatch, **fields) -> None:
    for name, value in fields.items():
        setattr(batch, name, value)
    ImportBatch.objects.filter(pk=batch.pk).update(**fields)


def sales_import(*, batch_id: int) -> ImportBatch:
    """Run one import batch: read the file, post its receipts, record every rejected row. Idempotent.

    A batch that is done is left alone; a batch that stopped half-way (worker lost, error) can be run
    again: receipts it already posted are recognised (same batch) and count as accepted, nothing is
    posted twice. Each receipt is all-or-nothing; the file is posted in chunks, each in its own
    transaction, so the page can show progress. Bad files (empty, wrong columns …) fail with a
    message and write nothing.
    """
    import time

    from .importing import (
        BUILTIN_MAPPINGS,
        ImportFileError,
        Mapping,
        group_receipts,
        merged_options,
        parse_rows,
        read_table,
    )
    from .models import ColumnMapping, ImportRowError

    batch = ImportBatch.objects.select_related("mapping", "store", "created_by").get(pk=batch_id)
    if batch.status == ImportBatch.Status.DONE:
        return batch
    clock = time.monotonic()
    ImportRowError.objects.filter(batch=batch).delete()
    _batch_update(
        batch,
        status=ImportBatch.Status.RUNNING,
        started_at=timezone.now(),
        finished_at=None,
        message="",
        progress=1,
        rows_read=0,
        rows_accepted=0,
        rows_rejected=0,
        rows_duplicate=0,
        sales_created=0,
        stats={"phase": "reading"},
    )
    actor = batch.created_by
    try:
        data = _batch_bytes(batch)
        if batch.mapping_id:
            mappings = [Mapping.from_model(batch.mapping)]
        else:
            mappings = [Mapping.from_model(m) for m in ColumnMapping.objects.order_by("pk")]
            # The built-in layouts stay available even if their saved rows were deleted.
            known = {m.name for m in mappings}
            mappings += [Mapping(name=n, **spec) for n, spec in BUILTIN_MAPPINGS.items() if n not in known]
        first_options = merged_options(mappings[0].options if mappings else {}, batch.options)
        table = read_table(data, sheet=first_options["sheet"], encoding=first_options["encoding"])
        del data
        mapping = _pick_mapping(table.header, mappings, explicit=bool(batch.mapping_id))
        options = merged_options(mapping.options, batch.options)
        from .importing import resolve_columns

        columns = resolve_columns(table.header, mapping)
        column_names = {target: table.header[i].strip() for target, i in columns.items()}
        forced = batch.store.code if batch.store_id else ""
        grouped = group_receipts(parse_rows(table, mapping, options, forced_store=forced), options)
        if grouped.rows_read == 0:
            raise ImportFileError("The file has a header but no data rows.")
    except ImportFileError as exc:
        _batch_update(
            batch,
            status=ImportBatch.Status.FAILED,
            message=str(exc),
            progress=100,
            finished_at=timezone.now(),
            stats={"phase": "failed"},
        )
        return batch
    stats = {
        "phase": "posting",
        "mapping": mapping.name,
        "format": table.kind,
        "encoding": table.encoding,
        "sheet": table.sheet,
        "receipts": len(grouped.drafts),
        "read_seconds": round(time.monotonic() - clock, 2),
    }
    try:
        with transaction.atomic():
            stats.update(_resolve_drafts(grouped.drafts, options=options, actor=actor))
        stats["resolve_seconds"] = round(time.monotonic() - clock - stats["read_seconds"], 2)
        _batch_update(batch, rows_read=grouped.rows_read, progress=10, stats=stats)
        errors_kept = 0
        orphan_rows = [
            ImportRowError(batch=batch, line_number=e.line_no, column=column_names.get(e.column, e.column),
                           value=e.value[:200], message=e.message[:300])
            for e in grouped.orphan_errors
        ]  # fmt: skip
        ImportRowError.objects.bulk_create(orphan_rows[:MAX_ROW_ERRORS])
        errors_kept += len(orphan_rows)
        counts = {
            "accepted": 0,
            "rejected": len(grouped.orphan_errors),
            "duplicate": grouped.duplicate_lines,
            "sales": 0,
        }
        kinds = defaultdict(int)
        total_lines = max(sum(len(d.lines) for d in grouped.drafts), 1)
        done_lines = 0
        for chunk in _chunks(grouped.drafts):
            outcomes = receipts_post(drafts=chunk, import_batch=batch, actor=actor)
            error_rows = []
            for draft, outcome in zip(chunk, outcomes, strict=True):
                n = len(draft.lines)
                done_lines += n
                if outcome.status == "accepted":
                    counts["accepted"] += n
                    kinds[draft.kind] += 1
                    if outcome.sale_id:
                        counts["sales"] += 1
                elif outcome.status == "duplicate":
                    counts["duplicate"] += n
                    kinds["duplicate_receipts"] += 1
                else:
                    counts["rejected"] += n
                    kinds["rejected_receipts"] += 1
                    error_rows.extend(_row_errors(batch, draft, column_names))
            if errors_kept < MAX_ROW_ERRORS:
                ImportRowError.objects.bulk_create(error_rows[: MAX_ROW_ERRORS - errors_kept], batch_size=5000)
            errors_kept += len(error_rows)
            stats.update(kinds)
            _batch_update(
                batch,
                rows_accepted=counts["accepted"],
                rows_rejected=counts["rejected"],
                rows_duplicate=counts["duplicate"],
                sales_created=counts["sales"],
                progress=min(99, 10 + int(89 * done_lines / total_lines)),
                stats=stats,
            )
        stats["phase"] = "done"
        stats["seconds"] = round(time.monotonic() - clock, 2)
        if errors_kept > MAX_ROW_ERRORS:
            stats["row_errors_truncated"] = errors_kept
        message = _summary(counts, grouped.rows_read)
        _batch_update(
            batch,
            status=ImportBatch.Status.DONE,
            progress=100,
            finished_at=timezone.now(),
            message=message,
            rows_accepted=counts["accepted"],
            rows_rejected=counts["rejected"],
            rows_duplicate=counts["duplicate"],
            sales_created=counts["sales"],
            stats=stats,
        )
    except Exception as exc:
        stats["phase"] = "failed"
        _batch_update(
            batch,
            status=ImportBatch.Status.FAILED,
            finished_at=timezone.now(),
            message=f"The import stopped: {type(exc).__name__}: {str(exc)[:300]}. What was posted stays posted; "
            "run it again to finish (nothing is posted twice).",
            stats=stats,
        )
        raise
    return batch


def _summary(counts: dict, read: int) -> str:
    return (
        f"{read:,} rows read: {counts['accepted']:,} accepted, {counts['rejected']:,} rejected, "
        f"{counts['duplicate']:,} duplicate."
    )


def _pick_mapping(header, mappings, *, explicit: bool):
    from .importing import ImportFileError, guess_mapping, resolve_columns

    if explicit:
        resolve_columns(header, mappings[0])  # raises "wrong columns" with the details
        return mappings[0]
    found = guess_mapping(header, mappings)
    if found is None:
        shown = ", ".join(h for h in header if str(h).strip())[:300]
        names = ", ".join(m.name for m in mappings) or "none"
        raise ImportFileError(
            f"Wrong columns: no column mapping fits this file (mappings: {names}). The file has: {shown}. "
            "Create a column mapping for this layout, then import again."
        )
    return found


def _chunks(drafts):
    chunk, lines = [], 0
    for draft in drafts:
        chunk.append(draft)
        lines += len(draft.lines)
        if lines >= INGEST_CHUNK_LINES or len(chunk) >= INGEST_CHUNK_RECEIPTS:
            yield chunk
            chunk, lines = [], 0
    if chunk:
        yield chunk


def _row_errors(batch, draft, column_names: dict) -> list:
    from .models import ImportRowError

    def row(line_no, column, value, message):
        return ImportRowError(
            batch=batch,
            line_number=line_no or 0,
            column=column_names.get(column, column)[:80],
            value=str(value)[:200],
            message=message[:300],
        )

    rows = []
    reason = _draft_reason(draft)
    bad_lines = [line.source_line for line in draft.lines if line.errors]
    for line in draft.lines:
        if line.errors:
            rows.extend(row(line.source_line, *error) for error in line.errors)
        elif draft.errors:
            rows.extend(row(line.source_line, *error) for error in draft.errors)
        else:
            where = ", ".join(str(n) for n in bad_lines[:5])
            rows.append(
                row(
                    line.source_line,
                    "pos_reference",
                    draft.pos_reference,
                    f"receipt {draft.pos_reference} was rejected with its other line(s) ({where}): {reason}",
                )
            )
    return rows


def _resolve_drafts(drafts, *, options: dict, actor) -> dict:
    """Attach stores, customers and products to the drafts, creating them when the options say so."""
    from django.db.models.functions import Upper

    from inventory.selectors import store_ids_visible

    from .importing import is_service_code, modal_prices

    def may(perm):
        return actor is None or actor.has_perm(perm)

    created = {"stores_created": 0, "customers_created": 0, "products_created": 0}
    # Stores.
    keys = {d.store_key.upper() for d in drafts if d.store_key}
    stores = {s.code.upper(): s for s in Store.objects.annotate(ucode=Upper("code")).filter(ucode__in=keys)}
    missing = sorted(keys - set(stores))
    if missing and options["create_stores"] and may("inventory.add_store"):
        single = options["store_mode"] == "single"
        Store.objects.bulk_create(
            [
                Store(
                    code=key,
                    name=(options["store_name"] if single else key.replace("-", " ").title())[:120],
                    chain=options.get("store_chain", "Online")[:80],
                    timezone=options["store_timezone"],
                )
                for key in missing
            ],
            ignore_conflicts=True,
        )
        created["stores_created"] = len(missing)
        stores = {s.code.upper(): s for s in Store.objects.annotate(ucode=Upper("code")).filter(ucode__in=keys)}
    visible = None if actor is None or actor.has_perm("inventory.view_all_stores") else store_ids_visible(user=actor)
    for draft in drafts:
        store = stores.get(draft.store_key.upper())
        if store is None:
            how = "" if options["create_stores"] else " (the option create_stores is off)"
            draft.errors.append(("store", draft.store_key, f"unknown store “{draft.store_key}”{how}"))
            continue
        if visible is not None and store.pk not in visible:
            draft.errors.append(("store", store.code, f"store {store.code} is not one of your stores"))
            continue
        draft.store = store
        if draft.occurred_at is not None and draft.occurred_at.tzinfo is None:
            draft.occurred_at = draft.occurred_at.replace(tzinfo=store.tz)

    # Customers.
    # Nothing is created for a receipt that is rejected anyway (its codes may be malformed).
    clean = [d for d in drafts if not d.rejected]
    codes = {d.customer_code for d in clean if d.customer_code}
    if codes:
        policy = options["customers"]
        customers = {c.code: c for c in Customer.objects.filter(code__in=codes).select_related("tier")}
        unknown = codes - set(customers)
        if unknown and policy == "create" and may("customers.add_customer"):
            first_seen: dict[str, tuple] = {}
            for d in clean:
                if d.customer_code in unknown and d.store is not None and d.occurred_at is not None:
                    if d.customer_code not in first_seen or d.occurred_at < first_seen[d.customer_code][0]:
                        first_seen[d.customer_code] = (d.occurred_at, d.store)
            Customer.objects.bulk_create(
                [
                    Customer(code=code, joined_at=at, home_store=store)
                    for code, (at, store) in sorted(first_seen.items())
                ],
                ignore_conflicts=True,
                batch_size=2000,
            )
            created["customers_created"] = len(first_seen)
            customers = {c.code: c for c in Customer.objects.filter(code__in=codes).select_related("tier")}
        for draft in clean:
            if not draft.customer_code:
                continue
            customer = customers.get(draft.customer_code)
            if customer is not None:
                draft.customer = customer
            elif policy in ("anonymous", "ignore"):
                draft.customer = None
            else:
                draft.errors.append(("customer", draft.customer_code, f"unknown customer “{draft.customer_code}”"))

    # Products.
    skus = {line.sku for d in drafts for line in d.lines if line.sku}
    products = _products_by_sku(skus)
    unknown = {line.sku for d in clean for line in d.lines if line.sku} - set(products)
    if unknown and options["unknown_products"] == "create" and may("inventory.add_product"):
        prices = modal_prices(clean)
        names: dict[str, str] = {}
        for d in clean:
            for line in d.lines:
                if line.sku in unknown and line.sku not in names and line.description:
                    names[line.sku] = line.description
        ratio = Decimal(str(options.get("new_product_cost_ratio") or "0"))
        new = []
        for sku in sorted(unknown):
            mrp = prices.get(sku, ZERO)
            service = is_service_code(sku, options)
            new.append(
                Product(
                    sku=sku,
                    name=(names.get(sku) or sku)[:200],
                    kind=Product.Kind.SERVICE if service else Product.Kind.GOODS,
                    mrp=mrp,
                    dp=mrp,
                    cost_price=ZERO if service else money(mrp * ratio),
                )
            )
        Product.objects.bulk_create(new, ignore_conflicts=True, batch_size=2000)
        created["products_created"] = len(new)
        products = _products_by_sku(skus)
    for draft in drafts:
        for line in draft.lines:
            line.product = products.get(line.sku)
    return created


def _products_by_sku(skus: set[str]) -> dict[str, Product]:
    """SKU (upper case) → product; SKUs match case-insensitively, like product_by_code."""
    from django.db.models.functions import Upper

    found: dict[str, Product] = {}
    ordered = sorted(skus)
    for i in range(0, len(ordered), 2000):
        part = ordered[i : i + 2000]
        for product in Product.objects.annotate(usku=Upper("sku")).filter(usku__in=part).order_by("pk"):
            found.setdefault(product.usku, product)
    return found


# --- watch folder -------------------------------------------------------------------------------------

WATCH_SUFFIXES = (".csv", ".xlsx", ".gz", ".txt")


def watch_folder_scan(*, folder: str | None = None) -> list[int]:
    """Import every file waiting in the watch folder; move each to done/ or failed/. Returns batch ids.

    A file is claimed by renaming it into processing/ first, so two beat runs (or two workers)
    never import the same file. Files still being written (changed in the last 5 seconds) wait.
    """
    import shutil
    import time
    from pathlib import Path

    folder = folder if folder is not None else settings.RETAILOPS.get("WATCH_FOLDER", "")
    if not folder:
        return []
    root = Path(folder)
    if not root.is_dir():
        return []
    for sub in ("processing", "done", "failed"):
        (root / sub).mkdir(exist_ok=True)
    batch_ids = []
    for path in sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in WATCH_SUFFIXES):
        if time.time() - path.stat().st_mtime < 5:
            continue
        claimed = root / "processing" / path.name
        try:
            path.rename(claimed)
        except OSError:
            continue  # another scan took it
        batch = import_batch_create(
            source=ImportBatch.Source.WATCH, source_name=path.name, content=claimed.read_bytes()
        )
        try:
            batch = sales_import(batch_id=batch.pk)
        except Exception:
            batch.refresh_from_db()
        target = "done" if batch.status == ImportBatch.Status.DONE else "failed"
        destination = root / target / path.name
        if destination.exists():
            destination = root / target / f"{path.stem}.{batch.pk}{path.suffix}"
        shutil.move(str(claimed), destination)
        batch_ids.append(batch.pk)
    return batch_ids


# --- API receipts -------------------------------------------------------------------------------------


def receipt_drafts_from_api(*, items: list[dict], user) -> list:
    """Validated API receipts (ReceiptInSerializer data) → drafts with store, products and customer resolved.

    The API never creates stores, products or customers: an unknown code rejects the receipt. A store
    the user may not see is reported like an unknown one (no hint that it exists).
    """
    from inventory.selectors import stores_visible

    from .importing import LineDraft, ReceiptDraft

    store_codes = {str(item["store"]).upper() for item in items}
    stores = {s.code.upper(): s for s in stores_visible(user=user).filter(code__in=_case_variants(store_codes))}
    if len(stores) < len(store_codes):
        from django.db.models.functions import Upper

        for s in stores_visible(user=user).annotate(ucode=Upper("code")).filter(ucode__in=store_codes):
            stores.setdefault(s.code.upper(), s)
    products = _products_by_sku({str(line["sku"]).strip().upper() for item in items for line in item["lines"]})
    codes = {item["customer"] for item in items if item.get("customer")}
    customers = {c.code: c for c in Customer.objects.filter(code__in=codes).select_related("tier")} if codes else {}
    drafts = []
    for item in items:
        lines = []
        for line in item["lines"]:
            sku = str(line["sku"]).strip().upper()
            lines.append(
                LineDraft(
                    sku=sku,
                    quantity=Decimal(line["quantity"]),
                    unit_price=Decimal(line["unit_price"]),
                    price_type=line.get("price_type") or None,
                    product=products.get(sku),
                )
            )
        draft = ReceiptDraft(
            store_key=str(item["store"]),
            pos_reference=str(item["pos_reference"]).strip(),
            occurred_at=item["occurred_at"],
            lines=lines,
            kind=item.get("kind") or "sale",
            payment_method=item.get("payment_method") or Sale.Payment.CARD,
            customer_code=item.get("customer") or "",
            points_redeemed=int(item.get("points_redeemed") or 0),
            original_reference=item.get("original_reference") or "",
            store=stores.get(str(item["store"]).upper()),
        )
        if draft.store is None:
            draft.errors.append(("store", draft.store_key, f"unknown store “{draft.store_key}”"))
        if draft.customer_code:
            draft.customer = customers.get(draft.customer_code)
            if draft.customer is None:
                draft.errors.append(("customer", draft.customer_code, f"unknown customer “{draft.customer_code}”"))
        if draft.kind == "adjustment":
            draft.errors.append(("kind", "adjustment", "stock adjustments are not posted through the sales API"))
        drafts.append(draft)
    return drafts


def _case_variants(codes: set[str]) -> list[str]:
    return sorted(codes | {c.lower() for c in codes})


def receipts_post_api(*, items: list[dict], user, as_batch: bool) -> tuple[list[ReceiptOutcome], ImportBatch | None]:
    """Post receipts sent to the API. A batch request is recorded as an ImportBatch (source API)."""
    if not user.has_perm("sales.add_sale"):
        raise ValidationError("You do not have permission to post sales.")
    drafts = receipt_drafts_from_api(items=items, user=user)
    batch = None
    if as_batch:
        batch = ImportBatch.objects.create(
            source=ImportBatch.Source.API,
            source_name=f"API batch of {len(items)} receipt(s)",
            status=ImportBatch.Status.RUNNING,
            created_by=user,
            started_at=timezone.now(),
            rows_read=sum(len(d.lines) for d in drafts),
        )
    outcomes = receipts_post(drafts=drafts, import_batch=batch, actor=user)
    if batch is not None:
        _api_batch_finish(batch, drafts, outcomes)
    return outcomes, batch


def _api_batch_finish(batch: ImportBatch, drafts, outcomes) -> None:
    from .models import ImportRowError

    counts = defaultdict(int)
    errors = []
    for n, (draft, outcome) in enumerate(zip(drafts, outcomes, strict=True), start=1):
        counts[outcome.status] += len(draft.lines)
        if outcome.status == "rejected":
            for message in outcome.errors:
                errors.append(
                    ImportRowError(
                        batch=batch,
                        line_number=n,
                        column="pos_reference",
                        value=draft.pos_reference[:200],
                        message=message[:300],
                    )
                )
    ImportRowError.objects.bulk_create(errors)
    _batch_update(
        batch,
        status=ImportBatch.Status.DONE,
        finished_at=timezone.now(),
        progress=100,
        rows_accepted=counts["accepted"],
        rows_rejected=counts["rejected"],
        rows_duplicate=counts["duplicate"],
        sales_created=sum(1 for o in outcomes if o.status == "accepted" and o.sale_id),
        message=f"{len(outcomes)} receipt(s): {sum(1 for o in outcomes if o.status == 'accepted')} accepted.",
    )
