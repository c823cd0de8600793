"""Posting POS receipts: the one path by which sales and their points are written; their stock movements and
stock levels are written by inventory (inventory.bulk, the ledger's set-based writer), called from here.

sale_record() is idempotent on (store, POS reference): the same receipt posted again changes
nothing and says "duplicate"; the same reference with other content is refused as a conflict.
Every entry point (till, API, file) checks a receipt with receipt_validate and hashes it with receipt_hash.
"""

from __future__ import annotations

import gc
import hashlib
import heapq
import json
import shutil
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile, File
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Q, Sum
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.text import get_valid_filename

from customers.exceptions import InsufficientPoints
from customers.models import Customer, LoyaltyTier, PointsEntry
from customers.services import (
    customer_merge_lock,
    customer_merge_records,
    point_value,
    points_for_amount,
    tier_window_days,
    tiers_requalify,
)
from inventory import bulk as stock_bulk
from inventory.models import Product, StockMovement, Store
from inventory.scoping import sees_every_store
from inventory.selectors import store_ids_visible, stores_visible
from inventory.services import MovementSpec
from retailops.money import CENT, format_money, money

from . import bulk
from .exceptions import ReceiptConflict
from .importing import (
    BUILTIN_MAPPINGS,
    MAX_QTY,
    Grouped,
    ImportFileError,
    LineDraft,
    Mapping,
    ReceiptDraft,
    Table,
    group_receipts,
    guess_mapping,
    import_options,
    is_service_code,
    modal_prices,
    parse_rows,
    pos_reference_problem,
    read_table,
    resolve_columns,
)
from .models import ColumnMapping, ImportBatch, ImportRowError, Sale, SaleLine, StockAdjustment, StockAdjustmentLine
from .rollups import log_changed_days, rollups_add_deltas, rollups_deltas_render, sales_daily_add, store_daily_add

ZERO = Decimal("0")
COST_PLACES = Decimal("0.0001")  # unit costs: COST fields have four decimals
ZERO_CENTS = Decimal("0.00")


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
    no_receipt: bool = False  # a return naming no original: needs sales.refund_without_receipt, and is limited
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


# --- the receipt rule: one validator and one content hash for every entry point ---------------------
#
# The till (sale_record), the API (receipt_post_from_api, receipt_batch_post_from_api) and file imports (sales_import,
# its preview) check a receipt with receipt_validate and identify its content with receipt_hash. Both take
# a receipt draft (sales.importing.ReceiptDraft); receipt_hash takes a ReceiptInput as well.

DRAFT_KINDS = ("sale", "return", "adjustment")


def receipt_digest(
    *,
    occurred_at: datetime,
    kind: str,
    payment_method: str,
    customer_code: str,
    points_redeemed: int,
    lines,
    texts: dict | None = None,
) -> str:
    """The content digest shared by every entry point (till, file, API): lines are (sku, quantity, price).

    texts caches the quantity and price texts over the receipts of a chunk (real files repeat them a lot).
    """
    if texts is None:
        texts = {}
    shown_lines = []
    for sku, qty, price in lines:
        key = (qty, price)
        shown = texts.get(key)
        if shown is None:
            shown = texts[key] = (str(Decimal(qty).normalize()), str(money(price)))
        shown_lines.append((sku, *shown))
    content = {
        "at": occurred_at.astimezone(UTC).isoformat(timespec="seconds"),
        "kind": kind,
        "pay": payment_method,
        "customer": customer_code,
        "redeemed": int(points_redeemed or 0),
        "lines": sorted(shown_lines),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def receipt_hash(receipt, *, texts: dict | None = None) -> str:
    """A digest of what the receipt says (a ReceiptInput or a resolved draft), to tell a re-sent receipt
    from a different one: receipt_digest of its time, kind, payment, customer, redeemed points and lines."""
    return receipt_digest(
        occurred_at=receipt.occurred_at,
        kind=receipt.kind,
        payment_method=receipt.payment_method,
        customer_code=receipt.customer.code if receipt.customer else "",
        points_redeemed=int(receipt.points_redeemed or 0),
        lines=[(line.product.sku, line.quantity, line.unit_price) for line in receipt.lines],
        texts=texts,
    )


def receipt_validate(draft, *, now: datetime, kinds: tuple[str, ...] = DRAFT_KINDS) -> None:
    """The business rules of one receipt draft (store, products and customer resolved), for every entry point.

    Problems are appended to the draft (receipt level) and its lines as (column, value, reason); the draft
    is then .rejected. kinds: the receipt kinds the entry point takes (the till and the API: sale, return).
    """
    if draft.store is None:
        if not draft.errors:
            draft.errors.append(("store", draft.store_key, f"unknown store “{draft.store_key}”"))
        return
    if not draft.store.active:
        draft.errors.append(("store", draft.store.code, f"store {draft.store.code} is closed (inactive)"))
    problem = pos_reference_problem(draft.pos_reference)
    if problem:
        draft.errors.append(("pos_reference", draft.pos_reference[:200], problem))
    if draft.occurred_at is None:
        if not any(line.errors for line in draft.lines):
            draft.errors.append(("occurred_at", "", "the receipt has no valid time"))
    elif timezone.is_naive(draft.occurred_at):
        draft.errors.append(("occurred_at", "", "the sale time must carry a time zone"))
    elif draft.occurred_at > now + timedelta(days=1):
        draft.errors.append(("occurred_at", draft.occurred_at.isoformat()[:40], "the sale time is in the future"))
    else:
        problem = sale_date_problem(store=draft.store, occurred_at=draft.occurred_at)
        if problem:
            draft.errors.append(("occurred_at", draft.occurred_at.isoformat()[:40], problem))
    if draft.kind == "return":
        if draft.original_reference and draft.no_receipt:
            draft.errors.append(
                ("no_receipt", "true", "a return names its original receipt or is a no-receipt refund, not both")
            )
        elif not draft.original_reference and not draft.no_receipt:
            draft.errors.append(
                ("original_reference", "", "a return names its original receipt (original_reference), or is "
                 "marked a no-receipt refund (no_receipt)")
            )  # fmt: skip
    elif draft.no_receipt:
        draft.errors.append(("no_receipt", "true", "only a return can be a no-receipt refund"))
    if draft.kind not in kinds:
        draft.errors.append(("kind", draft.kind, f"unknown receipt kind “{draft.kind}”"))
    if draft.payment_method not in Sale.Payment.values:
        draft.errors.append(
            ("payment_method", draft.payment_method[:200], f"unknown payment method “{draft.payment_method}”")
        )
    if not draft.lines:
        draft.errors.append(("pos_reference", draft.pos_reference, "a receipt needs at least one line"))
    kind, each = draft.kind, Product.Unit.EACH.value
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
        elif kind == "sale" and qty < 0:
            line.errors.append(("quantity", str(qty), "a sale needs positive quantities"))
        elif kind == "return" and qty > 0:
            line.errors.append(("quantity", str(qty), "a return needs negative quantities"))
        elif abs(qty) > MAX_QTY:
            line.errors.append(("quantity", str(qty), f"{qty} is not a plausible quantity"))
        elif product.unit == each and qty != qty.to_integral_value():
            shown = f"{qty.normalize():f}"
            line.errors.append(("quantity", shown, f"{product.sku} is sold by the unit, not {shown}"))
        if line.unit_price < 0:
            line.errors.append(("unit_price", str(line.unit_price), "the unit price cannot be negative"))
        if kind == "adjustment" and not product.is_stocked:
            line.errors.append(("sku", line.sku, f"{product.sku} is a fee or service: it has no stock to adjust"))
    if draft.points_redeemed < 0:
        draft.errors.append(("points_redeemed", str(draft.points_redeemed), "redeemed points cannot be negative"))
    if draft.points_redeemed and not draft.customer:
        draft.errors.append(("points_redeemed", str(draft.points_redeemed), "only a loyalty customer can redeem"))
    if draft.points_redeemed and kind == "return":
        # Money goes back on a return; no points are spent on one. So a return never locks its customer, and the
        # till's path (original, then stock) cannot take locks in another order than the batch path.
        draft.errors.append(("points_redeemed", str(draft.points_redeemed), "a return cannot redeem points"))
    if draft.customer is not None and draft.customer.anonymised_at:
        draft.errors.append(("customer", draft.customer.code, "this customer was deleted on request"))


# --- returns: limited to what was sold; sale dates: not before the store opened ----------------------
#
# A return names its original receipt (same store) and may take back, per product, what that receipt sold
# minus what earlier returns against it took back, at the price it was sold at; or it is a no-receipt refund,
# which needs the permission sales.refund_without_receipt, refunds at most the product's list price and at
# most RETAILOPS_NO_RECEIPT_REFUND_LIMIT per receipt (docs/ingestion.md, "Returns").


def earliest_sale_date() -> date:
    """The floor for a store whose opening date is not set (RETAILOPS_EARLIEST_SALE_DATE)."""
    return date.fromisoformat(str(settings.RETAILOPS["EARLIEST_SALE_DATE"]))


def sale_date_problem(*, store, occurred_at: datetime) -> str | None:
    """None, or why a receipt of this (aware) time cannot be a receipt of this store: before it opened."""
    day = occurred_at.astimezone(store.tz).date()
    opened_on = getattr(store, "opened_on", None)
    if opened_on is not None:
        if day < opened_on:
            return f"the sale date {day.isoformat()} is before store {store.code} opened ({opened_on.isoformat()})"
        return None
    floor = earliest_sale_date()
    if day < floor:
        return f"the sale date {day.isoformat()} is before {floor.isoformat()}, the earliest sale date accepted"
    return None


def no_receipt_refund_limit(options: dict | None = None) -> Decimal | None:
    """The most a no-receipt refund may refund per receipt: the import's option no_receipt_limit ("none": no
    limit), else RETAILOPS_NO_RECEIPT_REFUND_LIMIT."""
    value = str((options or {}).get("no_receipt_limit") or settings.RETAILOPS["NO_RECEIPT_REFUND_LIMIT"]).strip()
    if value.lower() == "none":
        return None
    try:
        return money(Decimal(value))
    except InvalidOperation:
        raise ImportFileError(f"no_receipt_limit must be an amount or “none”, not “{value[:40]}”.") from None


def no_receipt_refunds_check(drafts, *, actor, limit: Decimal | None, price_caps: dict | None = None) -> None:
    """The rules of a no-receipt refund, on drafts with store and products resolved: pure, no query.

    The actor needs sales.refund_without_receipt (None: the command line or the watch folder, run by whoever
    runs the server); each unit price is at most the product's list price — or, in a file (price_caps, product
    id → the highest price the same file sold it at), at most that price when it is higher; the receipt refunds
    at most limit (None: no limit). Problems are appended to the draft and its lines.
    """
    allowed = None
    for draft in drafts:
        if not draft.no_receipt or draft.kind != "return" or draft.store is None:
            continue
        if allowed is None:
            allowed = actor is None or actor.has_perm("sales.refund_without_receipt")
        if not allowed:
            draft.errors.append(
                ("no_receipt", "true", "a return without its original receipt needs the permission to refund "
                 "without receipt (an owner's): name the original receipt")
            )  # fmt: skip
            continue
        value = ZERO
        for line in draft.lines:
            if line.product is None or line.quantity is None or line.unit_price is None or line.errors:
                continue
            value += money(line.unit_price * abs(line.quantity))
            cap = line.product.mrp
            if price_caps:
                cap = max(cap, price_caps.get(line.product.pk, cap))
            if line.unit_price > cap:
                line.errors.append(
                    ("unit_price", str(line.unit_price), f"a refund without receipt is at most the list price of "
                     f"{line.product.sku} ({format_money(cap)}), not {format_money(line.unit_price)}")
                )  # fmt: skip
        if limit is not None and value > limit:
            draft.errors.append(
                ("pos_reference", draft.pos_reference, f"a refund without receipt is limited to {format_money(limit)} "
                 f"per receipt; receipt {draft.pos_reference} refunds {format_money(value)}")
            )  # fmt: skip


def file_price_caps(drafts) -> dict[int, Decimal]:
    """Product id → the highest unit price the file's sales sold it at (one pass, no query; products resolved)."""
    caps: dict[int, Decimal] = {}
    for draft in drafts:
        if draft.kind != "sale":
            continue
        for line in draft.lines:
            price, product = line.unit_price, line.product
            if price is not None and product is not None and price > caps.get(product.pk, ZERO):
                caps[product.pk] = price
    return caps


def _qty_text(value: Decimal) -> str:
    return f"{value.normalize():f}"


def original_returns_check(drafts, *, lock: bool) -> None:
    """Hold each return naming an original receipt to what that receipt sold (drafts in posting order).

    Per product: the units returned may not exceed what the original sold minus what returns already stored
    against it and earlier returns of the same drafts took back; the unit price must be a price it was
    sold at, and the value refunded may not exceed the value sold; the original must be a sale of the same
    store — stored, or an earlier sale of the same drafts. Set-based: three queries whatever the drafts hold.
    With lock (inside the posting transaction) the stored originals are locked (FOR NO KEY UPDATE, in id
    order), so two returns of the last unit posted at once are decided one after the other.
    Problems are appended to the drafts and their lines.
    """
    wanted: dict[int, set[str]] = defaultdict(set)
    for draft in drafts:
        if draft.kind == "return" and draft.original_reference and draft.store is not None and not draft.rejected:
            wanted[draft.store.pk].add(draft.original_reference)
    if not wanted:
        return
    where = Q()
    for store_id, refs in wanted.items():
        where |= Q(store_id=store_id, pos_reference__in=sorted(refs))
    stored = Sale.objects.filter(where).order_by("pk")
    if lock:
        stored = stored.select_for_update(no_key=True)
    originals = {(store_id, ref): (pk, kind) for pk, store_id, ref, kind in
                 stored.values_list("pk", "store_id", "pos_reference", "kind")}  # fmt: skip
    ids = {pk: key for key, (pk, _) in originals.items()}
    # key → product id → [units sold, value sold, prices sold at, units returned, value returned]
    facts: dict[tuple, dict[int, list]] = defaultdict(dict)

    def fact(key, product_id) -> list:
        found = facts[key].get(product_id)
        if found is None:
            found = facts[key][product_id] = [ZERO, ZERO, set(), ZERO, ZERO]
        return found

    for sale_id, product_id, qty, price, total in SaleLine.objects.filter(sale_id__in=ids).values_list(
        "sale_id", "product_id", "quantity", "unit_price", "line_total"
    ):
        acc = fact(ids[sale_id], product_id)
        acc[0] += qty
        acc[1] += total
        acc[2].add(price)
    for original_id, product_id, qty, total in (
        SaleLine.objects.filter(sale__original_id__in=ids, sale__kind=Sale.Kind.RETURN)
        .values("sale__original_id", "product_id")
        .annotate(q=Sum("quantity"), v=Sum("line_total"))
        .values_list("sale__original_id", "product_id", "q", "v")
        .order_by()
    ):
        acc = fact(ids[original_id], product_id)
        acc[3] -= qty
        acc[4] -= total
    for draft in drafts:
        if draft.store is None or draft.rejected:
            continue
        key = (draft.store.pk, draft.pos_reference)
        if draft.kind == "sale" and draft.store.pk in wanted and draft.pos_reference in wanted[draft.store.pk]:
            if key not in originals:  # an earlier sale of the same drafts, named by a later return
                originals[key] = (None, "sale")
                for line in draft.lines:
                    acc = fact(key, line.product.pk)
                    acc[0] += line.quantity
                    acc[1] += money(line.unit_price * line.quantity)
                    acc[2].add(money(line.unit_price))
            continue
        if draft.kind != "return" or not draft.original_reference:
            continue
        ref = draft.original_reference
        key = (draft.store.pk, ref)
        found = originals.get(key)
        if found is None:
            draft.errors.append(
                ("original_reference", ref, f"receipt {ref} is not a receipt of store {draft.store.code}: a return "
                 "names the receipt it refunds, or is a no-receipt refund")
            )  # fmt: skip
            continue
        if found[1] != Sale.Kind.SALE:
            draft.errors.append(("original_reference", ref, f"receipt {ref} is a return, not a sale"))
            continue
        wanted_back: dict[int, list] = {}  # product id → [units, value, first line, a price not sold at]
        for line in draft.lines:
            back = wanted_back.setdefault(line.product.pk, [ZERO, ZERO, line, False])
            back[0] -= line.quantity
            back[1] -= money(line.unit_price * line.quantity)
            sold = facts[key].get(line.product.pk)
            if sold is None:
                continue
            if money(line.unit_price) not in sold[2]:
                back[3] = True
                prices = ", ".join(format_money(p) for p in sorted(sold[2]))
                line.errors.append(
                    ("unit_price", str(line.unit_price), f"receipt {ref} sold {line.product.sku} at {prices}; a "
                     f"return refunds the price it was sold at, not {format_money(line.unit_price)}")
                )  # fmt: skip
        for product_id, (units, value, line, mispriced) in wanted_back.items():
            sold = facts[key].get(product_id)
            sku = line.product.sku
            if mispriced:
                continue  # said above
            if sold is None or sold[0] <= 0:
                line.errors.append(("sku", line.sku, f"receipt {ref} did not sell {sku}: it cannot be returned on it"))
            elif units + sold[3] > sold[0]:
                line.errors.append(
                    ("quantity", _qty_text(line.quantity), f"Receipt {ref} sold {_qty_text(sold[0])} × {sku}; "
                     f"{_qty_text(sold[3])} already returned; cannot return {_qty_text(units)}.")
                )  # fmt: skip
            elif value + sold[4] > sold[1]:
                line.errors.append(
                    ("unit_price", str(line.unit_price), f"Receipt {ref} sold {sku} for {format_money(sold[1])}; "
                     f"{format_money(sold[4])} already refunded; cannot refund {format_money(value)}.")
                )  # fmt: skip
        if not draft.rejected:
            for product_id, (units, value, _, _) in wanted_back.items():
                acc = facts[key][product_id]
                acc[3] += units
                acc[4] += value


def _draft_messages(draft) -> list[str]:
    messages = [
        f"{reason[:1].upper()}{reason[1:]}" + ("" if reason.endswith(".") else ".") for _, _, reason in draft.errors
    ]
    for n, line in enumerate(draft.lines, start=1):
        messages.extend(f"Line {n}: {reason}" + ("" if reason.endswith(".") else ".") for _, _, reason in line.errors)
    return messages


def _receipt_input_validate(receipt: ReceiptInput, *, actor=None) -> ReceiptDraft:
    """receipt_validate and the no-receipt refund rules for a ReceiptInput (the till, sale_record):
    ValidationError with readable messages; returns the draft (for original_returns_check)."""
    draft = ReceiptDraft(
        store_key=receipt.store.code,
        pos_reference=receipt.pos_reference,
        occurred_at=receipt.occurred_at,
        lines=[
            LineDraft(
                sku=line.product.sku,
                quantity=Decimal(line.quantity),
                unit_price=Decimal(line.unit_price),
                product=line.product,
            )
            for line in receipt.lines
        ],
        kind=receipt.kind,
        payment_method=receipt.payment_method,
        points_redeemed=receipt.points_redeemed,
        original_reference=(receipt.original_reference or "").strip(),
        no_receipt=receipt.no_receipt,
        store=receipt.store,
        customer=receipt.customer,
    )
    receipt_validate(draft, now=timezone.now(), kinds=tuple(Sale.Kind.values))
    if not draft.rejected:
        no_receipt_refunds_check([draft], actor=actor, limit=no_receipt_refund_limit())
    if draft.rejected:
        raise ValidationError(_draft_messages(draft))
    return draft


def sale_record(*, receipt: ReceiptInput, actor=None, import_batch=None) -> RecordResult:
    """Post one receipt: sale, lines, stock movements, points and rollup deltas, in one transaction.

    Idempotent: if the store already holds this POS reference with the same content, nothing is
    written and the existing sale is returned with created=False; with other content (or when a stock
    adjustment holds the reference: they share it, as in receipts_post), ReceiptConflict.
    Safe under concurrency: two identical posts racing end with one sale; stock and points move by
    relative updates of rows locked in the bulk path's order (customer, then store × product). A return
    naming its original locks the original first (original_returns_check): two returns of its last unit
    posted at once are decided one after the other, and the second is refused.
    Made for one receipt at a time (a till, the API): a lookup, two batches of statements (one round trip
    each on PostgreSQL) and the commit, whatever the receipt holds (see _write_sale).
    """
    receipt.pos_reference = (receipt.pos_reference or "").strip()
    draft = _receipt_input_validate(receipt, actor=actor)
    digest = receipt_hash(receipt)
    existing = _posted(receipt.store, receipt.pos_reference)
    if existing:  # before any lock: a till re-sending what it sent changes nothing and waits for nothing
        return _as_duplicate(existing, digest, receipt.pos_reference)
    try:
        with transaction.atomic():
            if draft.kind == Sale.Kind.RETURN and draft.original_reference:
                # Locks the original: a return racing this one against the same receipt waits, then counts ours.
                original_returns_check([draft], lock=True)
                if draft.rejected:
                    existing = _posted(receipt.store, receipt.pos_reference)  # the same return, sent twice at once?
                    if existing is None:
                        raise ValidationError(_draft_messages(draft))
            if existing is None:
                sale = _write_sale(receipt=receipt, digest=digest, actor=actor, import_batch=import_batch)
        if existing is not None:
            return _as_duplicate(existing, digest, receipt.pos_reference)
    except IntegrityError:
        # Lost a race with an identical post: the unique (store, pos_reference) constraint held.
        existing = _posted(receipt.store, receipt.pos_reference)
        if existing is None:
            raise
        return _as_duplicate(existing, digest, receipt.pos_reference)
    return RecordResult(sale=sale, created=True)


def _posted(store: Store, reference: str) -> tuple[str, int, str] | None:
    """What holds this store's POS reference already: ("sale" | "adjustment", id, content hash), or None."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 'sale', id, content_hash FROM sales_sale WHERE store_id = %s AND pos_reference = %s "
            "UNION ALL SELECT 'adjustment', id, content_hash FROM sales_stockadjustment "
            "WHERE store_id = %s AND pos_reference = %s",
            [store.pk, reference, store.pk, reference],
        )
        return cursor.fetchone()


def _as_duplicate(existing: tuple[str, int, str], digest: str, reference: str) -> RecordResult:
    what, pk, content_hash = existing
    if what != "sale" or content_hash != digest:
        raise ReceiptConflict(f"Receipt {reference} was already posted for this store with different content.")
    return RecordResult(sale=Sale.objects.get(pk=pk), created=False)


def _write_sale(*, receipt: ReceiptInput, digest: str, actor, import_batch) -> Sale:
    """The writes of sale_record, in two batches of statements (one round trip each on PostgreSQL).

    First the locks and what the rows need: the customer's points (locked first, as in receipts_post),
    the stock levels moved by what the receipt sells (which returns their moving average costs), the ids
    of the new rows, the original of a return. Then the rows: sale, lines, one movement per stocked line,
    points entries, rollup deltas.
    """
    store, customer = receipt.store, receipt.customer
    now = timezone.now()
    is_return = receipt.kind == Sale.Kind.RETURN
    totals = [money(money(line.unit_price) * Decimal(line.quantity)) for line in receipt.lines]
    redeemed, earned = int(receipt.points_redeemed or 0), 0
    if customer is not None and not is_return:
        paid = sum(totals, ZERO) - money(Decimal(redeemed) * point_value())
        earned = points_for_amount(amount=paid, tier=customer.tier)
    moves: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for line in receipt.lines:
        if line.product.is_stocked:
            moves[line.product.pk] -= Decimal(line.quantity)

    with _batch():
        # points move only with a customer: earned needs one, and a redemption without one is rejected earlier
        points = _points_move(customer=customer, redeemed=redeemed, earned=earned) if redeemed or earned else None  # type: ignore[arg-type]
        stock = stock_bulk.stock_levels_upsert_add(store_id=store.pk, moves=moves, now=now)
        ids = _new_ids(Sale, 1), _new_ids(SaleLine, len(receipt.lines))
        original = _original(store, receipt.original_reference) if receipt.original_reference else None
    # The moving average cost of the locked row is the line's unit cost (the cost price before any receipt).
    average_costs = {pk: Decimal(str(cost)).quantize(COST_PLACES) for pk, cost in (stock.fetchall() if stock else [])}
    sale_id, line_ids = ids[0].ids()[0], ids[1].ids()
    original_row = original.fetchone() if original else None
    if points is not None and points.rowcount != 1:  # points moved: there is a customer (above)
        balance = Customer.objects.values_list("points_balance", flat=True).get(pk=customer.pk)  # type: ignore[union-attr]
        raise InsufficientPoints(f"customer {customer.code} has {balance} points; cannot redeem {redeemed}")  # type: ignore[union-attr]

    lines = []
    for n, (line, line_total, line_id) in enumerate(zip(receipt.lines, totals, line_ids, strict=True), start=1):
        product = line.product
        qty = Decimal(line.quantity)
        unit_price = money(line.unit_price)
        lines.append(
            SaleLine(
                pk=line_id,
                sale_id=sale_id,
                line_no=n,
                product=product,
                quantity=qty,
                unit_mrp=product.mrp,
                unit_price=unit_price,
                price_type=line.price_type or price_type_for(product=product, unit_price=unit_price),
                discount=money(max(product.mrp - unit_price, ZERO) * qty),
                unit_cost=average_costs.get(product.pk) or product.cost_price or ZERO,
                line_total=line_total,
            )
        )
    sale = Sale(
        pk=sale_id,
        store=store,
        pos_reference=receipt.pos_reference,
        occurred_at=receipt.occurred_at,
        local_date=receipt.occurred_at.astimezone(store.tz).date(),
        customer=customer,
        kind=receipt.kind,
        original_id=original_row[0] if original_row else None,
        payment_method=receipt.payment_method,
        total=sum(totals, ZERO),
        discount_total=sum((line.discount for line in lines), ZERO),
        cost_total=sum((money(line.quantity * line.unit_cost) for line in lines), ZERO),
        points_earned=earned,
        points_redeemed=redeemed,
        content_hash=digest,
        import_batch=import_batch,
    )
    kind = StockMovement.Kind.RETURN if is_return else StockMovement.Kind.SALE
    movements = [
        MovementSpec(
            store_id=store.pk,
            product_id=line.product.pk,
            quantity=-line.quantity,  # the same quantities as stock_levels_upsert_add moved: on_hand == Σ movements
            kind=kind,
            unit_cost=line.unit_cost,
            source_type="sales.saleline",
            source_id=line.pk,
            occurred_at=receipt.occurred_at,
            reason=f"POS {receipt.pos_reference}"[:200],
        )
        for line in lines
        if line.product.is_stocked
    ]
    with _batch():
        bulk.insert_objects(sale, with_pk=True)
        bulk.insert_objects(*lines, with_pk=True)
        stock_bulk.stock_movements_insert(specs=movements, user=actor)
        bulk.insert_objects(*_points_entries(sale=sale, redeemed=redeemed, earned=earned, actor=actor))
        rollup_add_sale(sale=sale, lines=lines)
    sale._state.adding, sale._state.db = False, connection.alias
    return sale


@contextmanager
def _batch():
    """PostgreSQL: send the block's statements together and wait once (psycopg's pipeline mode); their
    results are read after the block. Elsewhere they simply run one by one."""
    if connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.pipeline():  # IntegrityError as Django's
        yield


def _points_move(*, customer: Customer, redeemed: int, earned: int):
    """Take the redeemed points and add the earned ones in one relative update, which locks the customer's
    row; it matches no row when the balance does not cover the redemption (see the caller)."""
    cursor = connection.cursor()
    cursor.execute(
        "UPDATE customers_customer SET points_balance = points_balance - %s + %s "
        "WHERE id = %s AND anonymised_at IS NULL AND points_balance >= %s",
        [redeemed, earned, customer.pk, redeemed],
    )
    return cursor


def _points_entries(*, sale: Sale, redeemed: int, earned: int, actor) -> list:
    """The points ledger's side of _points_move: a redeem and an earn entry sourced to the sale."""

    if sale.customer_id is None:
        return []
    common = {"customer_id": sale.customer_id, "store_id": sale.store_id, "source_type": "sales.sale",
              "source_id": sale.pk, "occurred_at": sale.occurred_at, "user": actor}  # fmt: skip
    entries = []
    if redeemed:
        entries.append(PointsEntry(kind=PointsEntry.Kind.REDEEM, points=-redeemed, **common))
    if earned:
        expires_at = sale.occurred_at + timedelta(days=int(settings.RETAILOPS["POINTS_EXPIRY_DAYS"]))
        entries.append(PointsEntry(kind=PointsEntry.Kind.EARN, points=earned, expires_at=expires_at, **common))
    return entries


class _NewIds:
    """n fresh primary keys of a table, read after the batch that asked for them (see _new_ids)."""

    def __init__(self, cursor, first: int | None, n: int):
        self.cursor, self.first, self.n = cursor, first, n

    def ids(self) -> list[int]:
        if self.first is not None:
            return list(range(self.first, self.first + self.n))
        return [row[0] for row in self.cursor.fetchall()]


def _new_ids(model, n: int) -> _NewIds:
    """Reserve n primary keys, so the rows and the rows pointing at them go out in one batch.

    PostgreSQL: from the table's sequence, read after the batch (gaps are harmless). Elsewhere
    bulk.allocate_ids, at once."""
    if connection.vendor == "postgresql":
        cursor = connection.cursor()
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [model._meta.db_table, n]
        )
        return _NewIds(cursor, None, n)
    ids = bulk.allocate_ids(model, n)
    return _NewIds(None, ids[0] if ids else 0, n)


def _original(store: Store, reference: str):
    cursor = connection.cursor()
    cursor.execute("SELECT id FROM sales_sale WHERE store_id = %s AND pos_reference = %s", [store.pk, reference])
    return cursor


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
    log_changed_days([sale.local_date])


# === Ingestion: one service for file imports, the API and the watch folder (DESIGN §5) =============
#
# receipts_post() validates, de-duplicates and posts a list of receipt drafts set-based, in one
# transaction: sales, lines, stock movements (levels locked in (store, product) order and moved
# with relative updates), points through the ledger, rollups for the sales it wrote. The API calls
# it with the receipts of one request; sales_import() calls it chunk by chunk for a file.

INGEST_CHUNK_LINES = 50_000
INGEST_CHUNK_RECEIPTS = 5_000
INGEST_WRITERS = 2  # PostgreSQL connections writing file chunks side by side (sales_import)
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
            receipt_validate(draft, now=now)
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
    """Classify, lock, build and write one set of drafts in the caller's transaction."""
    outcomes, to_post = _classify(drafts, import_batch=import_batch)
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
    if any(d.kind == Sale.Kind.RETURN and d.original_reference for _, d, _ in posting):
        # Customers, then the originals (locked), then stock levels: the lock order of every path.
        original_returns_check([d for _, d, _ in posting], lock=True)
        refs = {(d.store.pk, d.pos_reference) for _, d, _ in posting if d.kind == Sale.Kind.RETURN}
        if _any_posted(refs):
            # A racing request posted one of these returns while we waited for the original: classify again.
            raise IntegrityError("a return of this request was posted meanwhile")
        for index, draft, _ in posting:
            if draft.rejected:
                outcomes[index].errors = [_draft_reason(draft)]
        posting = [p for p in posting if not p[1].rejected]
    costs = stock_bulk.stock_level_costs_lock(pairs=_stocked_pairs(posting))
    writes = _writes_build(
        posting, outcomes, customers=customers, costs=costs, import_batch=import_batch, actor=actor, now=now
    )
    _writes_apply(writes)
    return outcomes


def _classify(drafts, *, import_batch) -> tuple[list[ReceiptOutcome], list[tuple]]:
    """Outcomes for every draft, and the (index, draft, digest) still to post: not rejected, not posted before."""

    outcomes: list[ReceiptOutcome] = []
    candidates = []  # (index, draft, digest)
    texts: dict = {}
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
        candidates.append((len(outcomes) - 1, draft, receipt_hash(draft, texts=texts)))

    # De-duplicate against what is already posted (sales and stock adjustments share the reference space).
    existing: dict[tuple[int, str], tuple] = {}
    by_store: dict[int, set[str]] = defaultdict(set)
    for _, draft, _ in candidates:
        by_store[draft.store.pk].add(draft.pos_reference)
    for store_id, ref_set in by_store.items():
        refs = sorted(ref_set)
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
    return outcomes, to_post


def _any_posted(keys: set[tuple[int, str]]) -> bool:
    by_store: dict[int, set[str]] = defaultdict(set)
    for store_id, ref in keys:
        by_store[store_id].add(ref)
    where = Q()
    for store_id, refs in by_store.items():
        where |= Q(store_id=store_id, pos_reference__in=sorted(refs))
    return bool(keys) and Sale.objects.filter(where).exists()


def _stocked_pairs(posting) -> set[tuple[int, int]]:
    goods = Product.Kind.GOODS.value  # Product.is_stocked, without a property call per line
    pairs: set[tuple[int, int]] = set()
    for _, draft, _ in posting:
        store_id = draft.store.pk
        pairs.update((store_id, line.product.id) for line in draft.lines if line.product.kind == goods)
    return pairs


@dataclass
class _Writes:
    """Everything one set of drafts writes, computed before the first write."""

    # Rows as tuples of Python values, or (PostgreSQL) already rendered to COPY text by _writes_render.
    sale_rows: list | bulk.Rendered
    line_rows: list | bulk.Rendered
    adjustment_rows: list | bulk.Rendered
    adjustment_line_rows: list | bulk.Rendered
    movement_rows: list | bulk.Rendered
    points_rows: list | bulk.Rendered
    level_deltas: dict
    points_deltas: dict
    sales_daily: dict | bytes
    store_daily: dict | bytes
    days: set  # the local days of the sales (the rollup rows' days)
    costs: dict  # (store, product) → the average cost the unit costs were computed from
    multipliers: dict  # customer id → the tier multiplier the points were computed with (None: no tier)
    now: datetime


def _writes_build(posting, outcomes, *, customers, costs, import_batch, actor, now, as_text=False) -> _Writes:
    """Rows and deltas for the drafts to post; marks their outcomes accepted. Reads only (ids, originals).

    as_text (PostgreSQL): the sale lines and stock movements — one each per line of the file — come out
    directly as lines of COPY text rather than tuples, the other rows as tuples for bulk.render.
    """

    sales = [(i, d, h) for i, d, h in posting if d.kind != "adjustment"]
    adjustments = [(i, d, h) for i, d, h in posting if d.kind == "adjustment"]
    originals = _originals(sales)
    point_rate = point_value()
    deltas: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
    movement_rows: list = []  # tuples, or (as_text) lines of COPY text
    points_rows: list = []
    points_deltas: defaultdict[int, int] = defaultdict(int)
    user_id = actor.pk if actor is not None and getattr(actor, "pk", None) else None
    batch_id = import_batch.pk if import_batch is not None else None
    expiry = timedelta(days=int(settings.RETAILOPS["POINTS_EXPIRY_DAYS"]))

    sale_ids = bulk.allocate_ids(Sale, len(sales))
    line_ids = iter(bulk.allocate_ids(SaleLine, sum(len(d.lines) for _, d, _ in sales)))
    sale_rows: list = []
    line_rows: list = []  # tuples, or (as_text) lines of COPY text
    # Rollup deltas, summed here from exactly the values written (the sums rollups_rebuild reads back).
    sales_daily: dict[tuple, list] = {}
    store_daily: dict[tuple, list] = {}
    # Per (store, product): the product's prices and unit cost (the level's average cost, else its cost price).
    known: dict[tuple[int, int], tuple] = {}
    # Per (store, product, price, quantity, price type): the line's money; real files repeat them a lot.
    figures: dict[tuple, tuple] = {}
    quantize = Decimal.quantize
    sale_kind, return_kind = StockMovement.Kind.SALE.value, StockMovement.Kind.RETURN.value
    mrp_type, dp_type = SaleLine.PriceType.MRP.value, SaleLine.PriceType.DP.value
    promo_type, other_type = SaleLine.PriceType.PROMO.value, SaleLine.PriceType.OTHER.value
    return_sale = Sale.Kind.RETURN.value
    for (index, draft, digest), sale_id in zip(sales, sale_ids, strict=True):
        store = draft.store
        store_id = store.pk
        is_return = draft.kind == return_sale
        occurred_at = draft.occurred_at
        local_date = occurred_at.astimezone(store.tz).date()
        movement_kind = return_kind if is_return else sale_kind
        reason = f"POS {draft.pos_reference}"[:200]
        if as_text:  # the movement columns from occurred_at on are the same for every line of the receipt
            tail = "\t".join(map(bulk.copy_field, (occurred_at, now, user_id, reason)))
        total = discount_total = cost_total = units = ZERO
        sold = set()
        for n, line in enumerate(draft.lines, start=1):
            product = line.product
            product_id = product.id
            pair = (store_id, product_id)
            facts = known.get(pair)
            if facts is None:
                average = costs.get(pair)
                unit_cost = (average if average else product.cost_price) or ZERO
                facts = known[pair] = (product.mrp, product.dp, unit_cost, product.is_stocked)
            mrp, dp, unit_cost, stocked = facts
            qty = line.quantity
            key = (store_id, product_id, line.unit_price, qty, line.price_type)
            money_of = figures.get(key)
            if money_of is None:
                unit_price = quantize(line.unit_price, CENT, ROUND_HALF_UP)
                gap = mrp - unit_price
                price_type = line.price_type or (
                    mrp_type
                    if unit_price == mrp
                    else dp_type
                    if unit_price == dp
                    else promo_type
                    if unit_price < mrp
                    else other_type
                )
                money_of = figures[key] = (
                    unit_price,
                    quantize(gap * qty, CENT, ROUND_HALF_UP) if gap > 0 else ZERO_CENTS,
                    quantize(unit_price * qty, CENT, ROUND_HALF_UP),
                    price_type,
                    quantize(qty * unit_cost, CENT, ROUND_HALF_UP),
                    bulk.copy_field(price_type),
                )
            unit_price, discount, line_total, price_type, cost, price_text = money_of
            line_id = next(line_ids)
            if as_text:
                source = line.source_line
                line_rows.append(
                    f"{line_id}\t{sale_id}\t{n}\t{product_id}\t{qty}\t{mrp}\t{unit_price}\t"
                    f"{price_text}\t{discount}\t{unit_cost}\t{line_total}\t"
                    f"{bulk.NULL if source is None else source}\n"
                )
            else:
                line_rows.append(
                    (line_id, sale_id, n, product_id, qty, mrp, unit_price, price_type, discount, unit_cost,
                     line_total, line.source_line)
                )  # fmt: skip
            total += line_total
            discount_total += discount
            cost_total += cost
            units += qty
            if stocked:
                if as_text:
                    movement_rows.append(
                        f"{store_id}\t{product_id}\t{-qty}\t{movement_kind}\t{unit_cost}\tsales.saleline\t{line_id}\t"
                        f"{tail}\n"
                    )
                else:
                    movement_rows.append(
                        (store_id, product_id, -qty, movement_kind, unit_cost, "sales.saleline", line_id, occurred_at,
                         now, user_id, reason)
                    )  # fmt: skip
                deltas[pair] -= qty
            day_key = (store_id, product_id, local_date)
            acc = sales_daily.get(day_key)
            if acc is None:
                acc = sales_daily[day_key] = [ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, 0]
            acc[0] += qty
            acc[1] += line_total
            acc[2] += cost
            acc[3] += discount
            if price_type == mrp_type:
                acc[4] += qty
                acc[5] += line_total
            if is_return:
                acc[6] -= qty
                acc[7] -= line_total
            elif product_id not in sold:
                sold.add(product_id)
                acc[8] += 1  # receipts (of kind sale) that sold the product that day
        earned = 0
        customer = customers.get(draft.customer.pk) if draft.customer is not None else None
        if customer is not None:
            if draft.points_redeemed:
                points_rows.append(
                    (customer.pk, "redeem", -draft.points_redeemed, store_id, "sales.sale", sale_id, occurred_at,
                     None, now, user_id, "")
                )  # fmt: skip
                points_deltas[customer.pk] -= draft.points_redeemed
            if not is_return:
                paid = total - money(Decimal(draft.points_redeemed) * point_rate)
                earned = points_for_amount(amount=paid, tier=customer.tier)
                if earned:
                    points_rows.append(
                        (customer.pk, "earn", earned, store_id, "sales.sale", sale_id, occurred_at,
                         occurred_at + expiry, now, user_id, "")
                    )  # fmt: skip
                    points_deltas[customer.pk] += earned
        sale_rows.append(
            (
                sale_id, store_id, draft.pos_reference, occurred_at, local_date, customer.pk if customer else None,
                draft.kind, originals.get((store_id, draft.original_reference)), draft.payment_method, total,
                discount_total, cost_total, earned, int(draft.points_redeemed or 0), digest, batch_id, now,
            )
        )  # fmt: skip
        day_key = (store_id, local_date, draft.payment_method)
        acc = store_daily.get(day_key)
        if acc is None:
            acc = store_daily[day_key] = [0, ZERO, ZERO, ZERO, ZERO, ZERO, 0]
        acc[0] += 0 if is_return else 1
        acc[1] += total
        acc[2] += cost_total
        acc[3] += discount_total
        acc[4] += units
        if is_return:
            acc[5] -= total
        elif customer is not None:
            acc[6] += 1
        outcomes[index].status = "accepted"
        outcomes[index].sale_id = sale_id
        if not is_return:  # the original of a later return of the same drafts
            originals.setdefault((store_id, draft.pos_reference), sale_id)

    adjustment_ids = bulk.allocate_ids(StockAdjustment, len(adjustments))
    adj_line_ids = iter(bulk.allocate_ids(StockAdjustmentLine, sum(len(d.lines) for _, d, _ in adjustments)))
    adjustment_rows, adj_line_rows = [], []
    for (index, draft, digest), adjustment_id in zip(adjustments, adjustment_ids, strict=True):
        store = draft.store
        adjustment_rows.append((adjustment_id, store.pk, draft.pos_reference, draft.occurred_at, digest, batch_id, now))
        for n, line in enumerate(draft.lines, start=1):
            product = line.product
            average = costs.get((store.pk, product.id))
            unit_cost = (average if average else product.cost_price) or ZERO
            line_id = next(adj_line_ids)
            reason = (line.description or "stock adjustment")[:160]
            adj_line_rows.append((line_id, adjustment_id, n, product.id, line.quantity, reason, line.source_line))
            kind = StockMovement.Kind.WRITE_OFF if line.quantity < 0 else StockMovement.Kind.ADJUSTMENT
            movement = (
                store.pk, product.id, line.quantity, kind.value, unit_cost, "sales.stockadjustmentline", line_id,
                draft.occurred_at, now, user_id, f"POS {draft.pos_reference}: {reason}"[:200],
            )  # fmt: skip
            movement_rows.append("\t".join(map(bulk.copy_field, movement)) + "\n" if as_text else movement)
            deltas[(store.pk, product.id)] += line.quantity
        outcomes[index].status = "accepted"
        outcomes[index].adjustment_id = adjustment_id

    return _Writes(
        sale_rows=sale_rows,
        line_rows=line_rows,
        adjustment_rows=adjustment_rows,
        adjustment_line_rows=adj_line_rows,
        movement_rows=movement_rows,
        points_rows=points_rows,
        level_deltas=deltas,
        points_deltas=points_deltas,
        sales_daily=sales_daily,
        store_daily=store_daily,
        days={key[1] for key in store_daily},
        costs=costs,
        multipliers={pk: (c.tier.points_multiplier if c.tier else None) for pk, c in customers.items()},
        now=now,
    )


def _writes_apply(writes: _Writes) -> None:
    """Append the rows, move stock levels and balances (locked by the caller), add the rollup deltas."""
    _writes_append(writes)
    _writes_move(writes)


def _writes_append(writes: _Writes) -> None:
    """Append the new rows: sales, lines, adjustments, stock movements, points entries."""

    bulk.insert_rows(Sale, SALE_COLUMNS, writes.sale_rows)
    bulk.insert_rows(SaleLine, SALE_LINE_COLUMNS, writes.line_rows)
    bulk.insert_rows(StockAdjustment, ADJUSTMENT_COLUMNS, writes.adjustment_rows)
    bulk.insert_rows(StockAdjustmentLine, ADJUSTMENT_LINE_COLUMNS, writes.adjustment_line_rows)
    stock_bulk.stock_movements_append(rows=writes.movement_rows)
    bulk.insert_rows(PointsEntry, POINTS_COLUMNS, writes.points_rows)


def _writes_move(writes: _Writes) -> None:
    """Relative updates (the SQL of F("on_hand") + delta) on rows the caller has locked, and the rollups."""
    stock_bulk.stock_levels_add(deltas=writes.level_deltas, now=writes.now)
    bulk.points_balances_add(deltas=writes.points_deltas)
    rollups_add_deltas(sales_daily=writes.sales_daily, store_daily=writes.store_daily, days=writes.days)


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
MOVEMENT_COLUMNS = stock_bulk.MOVEMENT_COLUMNS  # the ledger's row layout, which _writes_build fills
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


# --- file imports -------------------------------------------------------------------------------------


def import_batch_create(
    *,
    source: str,
    source_name: str,
    actor=None,
    content: bytes | File | None = None,
    path: str = "",
    mapping=None,
    store: Store | None = None,
    options: dict | None = None,
    preview: bool = False,
) -> ImportBatch:
    """Register a file to import (pending). The file is kept with the batch (content: bytes, or a file — an
    upload's temporary file is moved or copied in chunks, never read whole) or read from path when it runs.

    With preview the batch waits for a preview (import_batch_preview) and a confirmation
    (import_batch_confirm) before anything is posted.
    """

    if actor is not None and not actor.has_perm("sales.import_sales"):
        raise ValidationError("You do not have permission to import sales.")
    if store is not None and actor is not None:
        if not actor.has_perm("inventory.view_all_stores") and store.pk not in store_ids_visible(user=actor):
            raise ValidationError(f"{store} is not one of your stores.")
    batch = ImportBatch(
        source=source,
        source_name=source_name[:255],
        mapping=mapping,
        store=store,
        options=dict(options or {}),
        created_by=actor if getattr(actor, "pk", None) else None,
        stats={"phase": "previewing"} if preview else {},
    )
    if path:
        batch.options["path"] = str(path)
    with transaction.atomic():
        batch.save()
        if content is not None:
            upload = ContentFile(content) if isinstance(content, bytes) else content
            batch.file.save(_safe_name(source_name), upload, save=True)
    return batch


def _safe_name(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1] or "upload.csv"
    return get_valid_filename(base)[-100:] or "upload.csv"


@contextmanager
def _batch_file(batch: ImportBatch) -> Iterator[BinaryIO]:
    """The batch's file, open for reading (binary, seekable) while the import reads it; never loaded whole."""
    if batch.file:
        with batch.file.open("rb") as handle:
            yield handle  # a FieldFile reads like a binary file
        return
    path = batch.options.get("path")
    if not path:
        raise _file_error("The batch has no file.")
    try:
        handle = Path(path).open("rb")  # noqa: SIM115 — closed below, after the import has read it
    except OSError as exc:
        raise _file_error(f"The file {path} cannot be read: {exc.strerror}.") from None
    with handle:
        yield handle


def _file_error(message: str):
    return ImportFileError(message)


def _batch_update(batch: ImportBatch, **fields) -> None:
    for name, value in fields.items():
        setattr(batch, name, value)
    ImportBatch.objects.filter(pk=batch.pk).update(**fields)


def _outcome_tally(counts: dict, kinds: dict, draft, status: str) -> None:
    """Count a receipt's lines and the receipt by what posting did (or, in a preview, would do) with it: the one
    tally of the import's summary and of its preview."""
    n = len(draft.lines)
    if status == "accepted":
        counts["accepted"] += n
        kinds[draft.kind] += 1
    elif status == "duplicate":
        counts["duplicate"] += n
        kinds["duplicate_receipts"] += 1
    else:
        counts["rejected"] += n
        kinds["rejected_receipts"] += 1


def _batch_file_failed(batch: ImportBatch, exc: Exception) -> ImportBatch:
    """A file that cannot be read (preview or import): the batch fails with the reason, nothing is posted."""
    _batch_update(
        batch,
        status=ImportBatch.Status.FAILED,
        message=str(exc),
        progress=100,
        finished_at=timezone.now(),
        stats={"phase": "failed"},
    )
    return batch


def sales_import(*, batch_id: int) -> ImportBatch:
    """Run one import batch: read the file, post its receipts, record every rejected row. Idempotent.

    A batch that is done is left alone; a batch that stopped half-way (worker lost, error) can be run
    again: receipts it already posted are recognised (same batch) and count as accepted, nothing is
    posted twice. Each receipt is all-or-nothing; the file is posted in chunks, each in its own
    transaction, so the page can show progress. Bad files (empty, wrong columns …) fail with a
    message and write nothing.
    """
    with _cyclic_gc_paused():
        return _sales_import(batch_id)


@contextmanager
def _cyclic_gc_paused():
    """Pause Python's cyclic garbage collector for the length of an import.

    An import holds millions of long-lived objects (parsed rows, drafts, rows to write) and creates
    next to no reference cycles; the collector would walk all of them again and again as they pile up
    (a third of the parsing time on the real export). Reference counting still frees everything; one
    collection runs when the import ends.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
            gc.collect()


@dataclass
class _ImportRead:
    """A file read through its mapping: the drafts to resolve and post, and what the pages report about it."""

    mapping: Mapping
    options: dict
    table: Table
    column_names: dict
    grouped: Grouped


def _import_read(*, data: bytes | BinaryIO, mapping=None, options: dict, forced_store: str = "") -> _ImportRead:
    """Read, parse and group a file (bytes or an open binary file, read as a stream; no database writes).
    Raises ImportFileError when it cannot be used."""

    if mapping is not None:
        mappings = [Mapping.from_model(mapping)]
    else:
        mappings = [Mapping.from_model(m) for m in ColumnMapping.objects.order_by("pk")]
        # The built-in layouts stay available even if their saved rows were deleted.
        known = {m.name for m in mappings}
        mappings += [Mapping(name=n, **spec) for n, spec in BUILTIN_MAPPINGS.items() if n not in known]  # type: ignore[arg-type]  # Mapping's fields
    first_options = import_options(mappings[0].options if mappings else {}, options)
    table = read_table(data, sheet=first_options["sheet"], encoding=first_options["encoding"])
    del data
    chosen = _pick_mapping(table.header, mappings, explicit=mapping is not None)
    merged = import_options(chosen.options, options)
    columns = resolve_columns(table.header, chosen)
    column_names = {target: table.header[i].strip() for target, i in columns.items()}
    no_receipt_refund_limit(merged)  # a bad option value fails the file now, before anything is posted
    grouped = group_receipts(parse_rows(table, chosen, merged, forced_store=forced_store), merged)
    if grouped.rows_read == 0:
        raise ImportFileError("The file has a header but no data rows.")
    return _ImportRead(mapping=chosen, options=merged, table=table, column_names=column_names, grouped=grouped)


def _sales_import(batch_id: int) -> ImportBatch:
    batch = ImportBatch.objects.select_related("mapping", "store", "created_by").get(pk=batch_id)
    if batch.status == ImportBatch.Status.DONE:
        return batch
    clock = time.monotonic()
    preview = (batch.stats or {}).get("preview")
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
        with _batch_file(batch) as handle:
            read = _import_read(
                data=handle,
                mapping=batch.mapping if batch.mapping_id else None,
                options=batch.options,
                forced_store=batch.store.code if batch.store_id else "",
            )
    except ImportFileError as exc:
        return _batch_file_failed(batch, exc)
    mapping, options, table, column_names, grouped = (
        read.mapping, read.options, read.table, read.column_names, read.grouped
    )  # fmt: skip
    del read
    stats: dict = {
        "phase": "posting",
        "mapping": mapping.name,
        "format": table.kind,
        "encoding": table.encoding,
        "sheet": table.sheet,
        "receipts": len(grouped.drafts),
        "read_seconds": round(time.monotonic() - clock, 2),
    }
    if preview:
        stats["preview"] = preview  # what the person saw and confirmed, beside what the import did
    try:
        with transaction.atomic():
            stats.update(_resolve_drafts(grouped.drafts, options=options, actor=actor))
        _file_returns_check(grouped.drafts, options=options, actor=actor)
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
        kinds: defaultdict[str, int] = defaultdict(int)
        total_lines = max(sum(len(d.lines) for d in grouped.drafts), 1)
        done_lines = 0
        for chunk, outcomes in _chunks_post(_chunks(grouped.drafts), import_batch=batch, actor=actor):
            error_rows = []
            for draft, outcome in zip(chunk, outcomes, strict=True):
                done_lines += len(draft.lines)
                _outcome_tally(counts, kinds, draft, outcome.status)
                if outcome.status == "accepted" and outcome.sale_id:
                    counts["sales"] += 1
                elif outcome.status not in ("accepted", "duplicate"):
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


def _file_returns_check(drafts, *, options: dict, actor) -> None:
    """A file's no-receipt refunds (its return rows with no original reference), held to the rules of
    no_receipt_refunds_check by the import's creator; a price up to the highest the same file sold it at."""
    if any(d.no_receipt for d in drafts):
        no_receipt_refunds_check(
            drafts, actor=actor, limit=no_receipt_refund_limit(options), price_caps=file_price_caps(drafts)
        )


def _summary(counts: dict, read: int) -> str:
    return (
        f"{read:,} rows read: {counts['accepted']:,} accepted, {counts['rejected']:,} rejected, "
        f"{counts['duplicate']:,} duplicate."
    )


# --- preview: what an import would do, before anything is posted ------------------------------------

PREVIEW_REJECTED_SHOWN = 20
PREVIEW_REASONS_SHOWN = 5


def sales_import_preview(
    *, data: bytes | BinaryIO, actor=None, mapping=None, store: Store | None = None, options: dict | None = None,
    import_batch: ImportBatch | None = None,
) -> dict:  # fmt: skip
    """What importing this file would do, writing nothing at all.

    The same reading, resolving, validation and de-duplication as sales_import, with the stores,
    customers and products it would create held as unsaved objects, inside a transaction that is
    rolled back. Returns rows read / accepted / rejected / duplicate, receipts by kind, what would be
    created (counts and a sample), the stores missing, the first rejected rows and the commonest
    reasons. Raises ImportFileError when the file cannot be used (as the import would fail).
    """

    read = _import_read(
        data=data, mapping=mapping, options=dict(options or {}), forced_store=store.code if store else ""
    )
    grouped = read.grouped
    with transaction.atomic():
        created = _resolve_drafts(grouped.drafts, options=read.options, actor=actor, dry_run=True)
        _file_returns_check(grouped.drafts, options=read.options, actor=actor)
        now = timezone.now()
        for draft in grouped.drafts:
            if not draft.rejected:
                receipt_validate(draft, now=now)
        outcomes, to_post = _classify(grouped.drafts, import_batch=import_batch)
        # Returns against their originals, as posting would hold them (unlocked: nothing is written here).
        original_returns_check([d for _, d, _ in to_post], lock=False)
        for index, draft, _ in to_post:
            if draft.rejected:
                outcomes[index].errors = [_draft_reason(draft)]
        for index, draft, _ in to_post:
            if not draft.rejected:
                outcomes[index].status = "accepted"  # what posting would report (file receipts redeem no points)
        # Nothing above writes; rolling back makes that a guarantee rather than a promise.
        transaction.set_rollback(True)
    kinds: dict[str, int] = defaultdict(int)
    counts = {"accepted": 0, "rejected": len(grouped.orphan_errors), "duplicate": grouped.duplicate_lines}
    rejected_rows = [(e.line_no, read.column_names.get(e.column, e.column), e.value, e.message)
                     for e in grouped.orphan_errors]  # fmt: skip
    for draft, outcome in zip(grouped.drafts, outcomes, strict=True):
        _outcome_tally(counts, kinds, draft, outcome.status)
        if outcome.status not in ("accepted", "duplicate"):
            rejected_rows.extend(
                (e.line_number, e.column, e.value, e.message) for e in _row_errors(None, draft, read.column_names)
            )
    reasons: dict[str, int] = defaultdict(int)
    for row in rejected_rows:
        reasons[row[3]] += 1
    return {
        "mapping": read.mapping.name,
        "format": read.table.kind,
        "encoding": read.table.encoding,
        "sheet": read.table.sheet,
        "store": store.code if store else "",
        "create_stores": read.options["create_stores"],
        "rows_read": grouped.rows_read,
        "rows_accepted": counts["accepted"],
        "rows_rejected": counts["rejected"],
        "rows_duplicate": counts["duplicate"],
        "receipts": len(grouped.drafts),
        "sale": kinds["sale"],
        "return": kinds["return"],
        "adjustment": kinds["adjustment"],
        "duplicate_receipts": kinds["duplicate_receipts"],
        "rejected_receipts": kinds["rejected_receipts"],
        **created,
        "rejected_sample": [list(r) for r in heapq.nsmallest(PREVIEW_REJECTED_SHOWN, rejected_rows)],
        "reasons": [[r, n] for r, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))][:PREVIEW_REASONS_SHOWN],
    }


def import_batch_preview(*, batch_id: int) -> ImportBatch:
    """Preview a batch waiting for confirmation; the result goes to batch.stats["preview"]. Idempotent.

    Writes only the batch's own status fields: no sale, stock, product, customer or store, and no row
    errors. A batch already posting or posted is left alone. A file that cannot be read fails the batch.
    """

    batch = ImportBatch.objects.select_related("mapping", "store", "created_by").get(pk=batch_id)
    if batch.status != ImportBatch.Status.PENDING or (batch.stats or {}).get("phase") not in ("previewing", "preview"):
        return batch
    try:
        with _cyclic_gc_paused(), _batch_file(batch) as handle:
            preview = sales_import_preview(
                data=handle,
                actor=batch.created_by,
                mapping=batch.mapping,
                store=batch.store,
                options=batch.options,
                import_batch=batch,
            )
    except ImportFileError as exc:
        return _batch_file_failed(batch, exc)
    _batch_update(batch, message="", stats={"phase": "preview", "preview": preview})
    return batch


def import_batch_phase(*, batch: ImportBatch) -> str:
    """Where a batch stands, for its pages: previewing | preview (waiting for “Post import”) | not_queued |
    queued | running | done | failed."""
    if batch.status != ImportBatch.Status.PENDING:
        return batch.status
    phase = (batch.stats or {}).get("phase")
    if batch.message and phase != "preview":
        return "not_queued"
    if phase in ("previewing", "preview"):
        return phase
    return "queued"


def import_batch_confirm(*, batch: ImportBatch, actor) -> ImportBatch:
    """“Post import” after a preview: the batch is marked queued (the caller enqueues the import).

    Raises ValidationError when the actor may not import or the batch is not waiting for confirmation.
    """
    if not actor.has_perm("sales.import_sales"):
        raise ValidationError("You do not have permission to import sales.")
    with transaction.atomic():
        locked = ImportBatch.objects.select_for_update().get(pk=batch.pk)
        if import_batch_phase(batch=locked) != "preview":
            raise ValidationError("This import is not waiting for confirmation.")
        stats = dict(locked.stats or {})
        stats["phase"] = "queued"
        _batch_update(batch, stats=stats, message="")
    return batch


def import_batch_preview_again(*, batch: ImportBatch, actor, create_stores: bool) -> ImportBatch:
    """Change the “create stores” choice of a batch waiting for confirmation; it is previewed again."""
    if not actor.has_perm("sales.import_sales"):
        raise ValidationError("You do not have permission to import sales.")
    if create_stores and not actor.has_perm("inventory.add_store"):
        raise ValidationError("You do not have permission to create stores.")
    with transaction.atomic():
        locked = ImportBatch.objects.select_for_update().get(pk=batch.pk)
        if import_batch_phase(batch=locked) not in ("preview", "not_queued"):
            raise ValidationError("This import is not waiting for confirmation.")
        options = {**(locked.options or {}), "create_stores": bool(create_stores)}
        _batch_update(batch, options=options, stats={"phase": "previewing"}, message="")
    return batch


def import_batch_run_again(*, batch: ImportBatch, actor, action: str = "", create_stores: bool = False) -> str:
    """What the batch page's “Post import”, “Preview again” and “Run again” do to a batch, in one transaction;
    returns what the caller must queue next (tasks sit above services):

    - "" — the batch is done: nothing changes (running it again would change nothing);
    - "preview" — ``action="preview"`` (the “create stores” choice changed) or a preview the broker never
      took: the batch's message is cleared and its preview is to be queued again;
    - "post" — a previewed batch confirmed: it is marked pending and its import is to be queued;
    - "requeue" — any other batch (a broker outage, a stopped run): marked pending, progress 0, to queue again.

    Raises ValidationError when the actor may not do it or the batch is not waiting for it (nothing changed).
    """
    if batch.status == ImportBatch.Status.DONE:
        return ""
    with transaction.atomic():
        phase = import_batch_phase(batch=batch)
        if action == "preview":
            import_batch_preview_again(batch=batch, actor=actor, create_stores=create_stores)
        elif phase == "preview":
            import_batch_confirm(batch=batch, actor=actor)
        if action == "preview" or (phase == "not_queued" and (batch.stats or {}).get("phase") == "previewing"):
            ImportBatch.objects.filter(pk=batch.pk).update(message="")
            return "preview"
        ImportBatch.objects.filter(pk=batch.pk).update(status=ImportBatch.Status.PENDING, message="", progress=0)
    return "post" if phase == "preview" else "requeue"


def _pick_mapping(header, mappings, *, explicit: bool):
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


def _chunks_post(chunks, *, import_batch: ImportBatch, actor):
    """Post the chunks of a file in order, each in its own transaction; yield (chunk, outcomes) as each commits.

    On PostgreSQL, outside any transaction, earlier chunks are written and committed by up to
    INGEST_WRITERS writer threads (each with its own connection) while the next chunk is validated,
    de-duplicated and rendered to COPY text here: Python and the database work at the same time. A
    writer takes the same locks as receipts_post (customers, then stock levels, in id order) and checks
    that the average costs and tier multipliers read here without a lock are still those under the
    locks; if not — or if another import or the till posted one of the receipts meanwhile, or the
    writer lost a deadlock — the chunk is rolled back and posted again by receipts_post. Chunks may
    commit out of order; they are yielded in file order. Elsewhere (SQLite, or inside a caller's
    transaction, as in tests) each chunk is simply receipts_post.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        for chunk in chunks:
            yield chunk, receipts_post(drafts=chunk, import_batch=import_batch, actor=actor)
        return

    def finish(chunk, outcomes, future):
        try:
            if future is not None:
                future.result()
        except (_StaleChunk, IntegrityError, OperationalError) as exc:
            if isinstance(exc, OperationalError) and getattr(exc.__cause__, "sqlstate", None) != "40P01":
                raise  # only a deadlock (the writer was chosen as its victim) is worth posting again
            return chunk, receipts_post(drafts=chunk, import_batch=import_batch, actor=actor)
        return chunk, outcomes

    with ThreadPoolExecutor(max_workers=INGEST_WRITERS, thread_name_prefix="ingest-writer") as writers:
        pending: deque = deque()  # (chunk, outcomes, future), in file order
        try:
            for chunk in chunks:
                prepared = _chunk_prepare(chunk, import_batch=import_batch, actor=actor)
                while pending and (prepared is None or len(pending) >= INGEST_WRITERS or _done(pending[0][2])):
                    yield finish(*pending.popleft())
                if prepared is None:  # needs what earlier chunks wrote, or a balance check under lock
                    yield chunk, receipts_post(drafts=chunk, import_batch=import_batch, actor=actor)
                elif prepared[1] is None and not pending:  # nothing to write: all rejected or already posted
                    yield chunk, prepared[0]
                else:
                    future = writers.submit(_writes_commit, prepared[1]) if prepared[1] is not None else None
                    pending.append((chunk, prepared[0], future))
            while pending:
                yield finish(*pending.popleft())
        finally:
            for _, _, future in pending:  # stopped early: let the writes in flight end before leaving
                if future is not None:
                    future.exception()


def _done(future) -> bool:
    return future is None or future.done()


class _StaleChunk(Exception):
    """What a chunk was built from changed before its locks were taken: post it again under the locks."""


def _chunk_prepare(drafts, *, import_batch, actor):
    """Validate, de-duplicate and build the rows of one chunk without writing or locking.

    Returns (outcomes, writes), with writes None when there is nothing to write, or None when the
    chunk must go through receipts_post: a redemption (checked against the locked balance) or a
    return naming its original receipt (which an earlier chunk may still be writing).
    """
    if any(d.points_redeemed or d.original_reference for d in drafts):
        return None
    now = timezone.now()
    for draft in drafts:
        if not draft.rejected:
            receipt_validate(draft, now=now)
    outcomes, to_post = _classify(drafts, import_batch=import_batch)
    if not to_post:
        return outcomes, None
    customer_ids = sorted({d.customer.pk for _, d, _ in to_post if d.customer is not None})
    customers = {c.pk: c for c in Customer.objects.filter(pk__in=customer_ids).select_related("tier")}
    costs = stock_bulk.stock_level_costs_read(pairs=_stocked_pairs(to_post))
    writes = _writes_build(
        to_post,
        outcomes,
        customers=customers,
        costs=costs,
        import_batch=import_batch,
        actor=actor,
        now=now,
        as_text=True,
    )
    _writes_render(writes)
    return outcomes, writes


def _writes_render(writes: _Writes) -> None:
    """Render the rows to COPY text here, so the writer thread only sends them (PostgreSQL)."""

    # The writer checks foreign keys before it locks anything, and a key check on a customer waits for
    # whoever holds that customer FOR UPDATE (receipts_post, the points services). In customer id order,
    # as those lockers take them, such waits cannot form a cycle.
    # Still lists of rows here (rendered below).
    writes.sale_rows.sort(key=lambda row: (row[5] is None, row[5] or 0))  # type: ignore[union-attr]  # customer_id
    writes.points_rows.sort(key=lambda row: row[0])  # type: ignore[union-attr]  # customer_id
    for attribute, model, columns in (
        ("sale_rows", Sale, SALE_COLUMNS),
        ("line_rows", SaleLine, SALE_LINE_COLUMNS),
        ("adjustment_rows", StockAdjustment, ADJUSTMENT_COLUMNS),
        ("adjustment_line_rows", StockAdjustmentLine, ADJUSTMENT_LINE_COLUMNS),
        ("movement_rows", StockMovement, MOVEMENT_COLUMNS),
        ("points_rows", PointsEntry, POINTS_COLUMNS),
    ):
        rows = getattr(writes, attribute)
        if rows and isinstance(rows[0], str):  # lines of COPY text already (as_text)
            setattr(writes, attribute, bulk.Rendered("".join(rows).encode()))
        else:
            setattr(writes, attribute, bulk.render(bulk.model_kinds(model, columns), rows))
    writes.sales_daily, writes.store_daily = rollups_deltas_render(
        sales_daily=writes.sales_daily,  # type: ignore[arg-type]  # still dicts here
        store_daily=writes.store_daily,  # type: ignore[arg-type]
    )


def _writes_commit(writes: _Writes) -> None:
    """A writer thread: write one chunk and commit it (one transaction), holding locks as briefly as possible.

    The rows are appended and their foreign keys checked first, without locks of ours, so two writers
    do that part side by side. Then, as receipts_post: customers, then stock levels, locked in id
    order; the tier multipliers and average costs the rows were built from are checked under the
    locks (_StaleChunk if one changed); stock levels, balances and rollups move; commit.
    """
    try:
        _writes_commit_once(writes)
    finally:
        connection.close()  # this thread's own connection; the next chunk opens a fresh one


def _writes_commit_once(writes: _Writes) -> None:
    with transaction.atomic():
        _relaxed_commit()
        _writes_append(writes)
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # check the foreign keys now, before locking
            if writes.multipliers:
                # NO KEY UPDATE: serialises balance changes without blocking other writers' key checks.
                cursor.execute(
                    f"SELECT c.id, t.points_multiplier FROM {Customer._meta.db_table} c "
                    f"LEFT JOIN {LoyaltyTier._meta.db_table} t ON t.id = c.tier_id "
                    "WHERE c.id = ANY(%s) ORDER BY c.id FOR NO KEY UPDATE OF c",
                    [sorted(writes.multipliers)],
                )
                if dict(cursor.fetchall()) != writes.multipliers:
                    raise _StaleChunk("a customer's tier changed")
        locked = stock_bulk.stock_level_costs_lock(pairs=writes.costs)
        if any((locked[pair] or None) != (cost or None) for pair, cost in writes.costs.items()):
            raise _StaleChunk("an average cost changed")
        _writes_move(writes)


def _row_errors(batch, draft, column_names: dict) -> list:
    def row(line_no, column, value, message):
        return ImportRowError(
            batch=batch,
            line_number=line_no or 0,
            column=column_names.get(column, column)[:80],
            value=str(value)[:200],
            message=message[:300],
        )

    rows: list = []
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


SAMPLE_SIZE = 10  # new stores / customers / products named on the preview and in the summary


def _resolve_drafts(drafts, *, options: dict, actor, dry_run: bool = False) -> dict:
    """Attach stores, customers and products to the drafts, creating them when the options say so.

    With dry_run nothing is written: what would be created is attached as unsaved objects (stores get
    negative ids so receipts of different new stores stay apart), so validation and de-duplication
    give the outcome the import would give. Returns the counts created (or to create) and a sample of each.
    """

    def may(perm):
        return actor is None or actor.has_perm(perm)

    created = {
        "stores_created": 0,
        "customers_created": 0,
        "products_created": 0,
        "stores_created_sample": [],
        "customers_created_sample": [],
        "products_created_sample": [],
        "stores_missing": [],
    }
    # Stores.
    keys = {d.store_key.upper() for d in drafts if d.store_key}
    stores: dict[str, Store] = {
        s.code.upper(): s for s in Store.objects.annotate(ucode=Upper("code")).filter(ucode__in=keys)
    }
    missing = sorted(keys - set(stores))
    if missing and options["create_stores"] and may("inventory.add_store"):
        single = options["store_mode"] == "single"
        new_stores = [
            Store(
                code=key,
                name=(options["store_name"] if single else key.replace("-", " ").title())[:120],
                chain=options.get("store_chain", "Online")[:80],
                timezone=options["store_timezone"],
            )
            for key in missing
        ]
        created["stores_created"] = len(missing)
        created["stores_created_sample"] = [[s.code, s.name] for s in new_stores[:SAMPLE_SIZE]]
        if dry_run:
            for i, new_store in enumerate(new_stores, start=1):
                new_store.pk = -i
                stores[new_store.code.upper()] = new_store
        else:
            Store.objects.bulk_create(new_stores, ignore_conflicts=True)
            stores = {s.code.upper(): s for s in Store.objects.annotate(ucode=Upper("code")).filter(ucode__in=keys)}
    else:
        created["stores_missing"] = missing[:SAMPLE_SIZE]
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
            new_customers = [
                Customer(code=code, joined_at=at, home_store=store) for code, (at, store) in sorted(first_seen.items())
            ]
            created["customers_created"] = len(new_customers)
            created["customers_created_sample"] = [
                [c.code, c.home_store.code, c.joined_at.date().isoformat()]  # type: ignore[union-attr]  # set above
                for c in new_customers[:SAMPLE_SIZE]
            ]
            if dry_run:
                customers.update({c.code: c for c in new_customers})
            else:
                Customer.objects.bulk_create(new_customers, ignore_conflicts=True, batch_size=2000)
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
        created["products_created"] = len(new)
        created["products_created_sample"] = [[p.sku, p.name, str(p.mrp)] for p in new[:SAMPLE_SIZE]]
        if dry_run:
            products.update({p.sku: p for p in new})
        else:
            Product.objects.bulk_create(new, ignore_conflicts=True, batch_size=2000)
            products = _products_by_sku(skus)
    for draft in drafts:
        for line in draft.lines:
            line.product = products.get(line.sku)
    return created


def _products_by_sku(skus: set[str]) -> dict[str, Product]:
    """SKU (upper case) → product; SKUs match case-insensitively, like product_by_code."""

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
        with claimed.open("rb") as handle:
            batch = import_batch_create(source=ImportBatch.Source.WATCH, source_name=path.name, content=File(handle))
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

    store_codes = {str(item["store"]).upper() for item in items}
    stores = {s.code.upper(): s for s in stores_visible(user=user).filter(code__in=_case_variants(store_codes))}
    if len(stores) < len(store_codes):
        for s in stores_visible(user=user).annotate(ucode=Upper("code")).filter(ucode__in=store_codes):
            stores.setdefault(s.code.upper(), s)
    products = _products_by_sku({str(line["sku"]).strip().upper() for item in items for line in item["lines"]})
    codes = {item["customer"] for item in items if item.get("customer")}
    customers = {c.code: c for c in Customer.objects.filter(code__in=codes).select_related("tier")} if codes else {}
    hint = None  # which stores the user may post to, read at the first unknown store
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
            no_receipt=bool(item.get("no_receipt")),
            store=stores.get(str(item["store"]).upper()),
        )
        if draft.store is None:
            hint = _own_stores_hint(user) if hint is None else hint
            draft.errors.append(("store", draft.store_key, f"unknown store “{draft.store_key}”{hint}"))
        if draft.customer_code:
            draft.customer = customers.get(draft.customer_code)
            if draft.customer is None:
                draft.errors.append(("customer", draft.customer_code, f"unknown customer “{draft.customer_code}”"))
        if draft.kind == "adjustment":
            draft.errors.append(("kind", "adjustment", "stock adjustments are not posted through the sales API"))
        drafts.append(draft)
    no_receipt_refunds_check(drafts, actor=user, limit=no_receipt_refund_limit())
    return drafts


def _own_stores_hint(user) -> str:
    """For a user bound to some stores (a POS device, staff): which stores they may post to — only their own
    codes, so the answer says nothing about whether another store exists."""
    if sees_every_store(user):
        return ""
    codes = sorted(stores_visible(user=user).values_list("code", flat=True))
    if not codes:
        return " (this user may post to no store)"
    shown = ", ".join(codes[:5]) + (f" and {len(codes) - 5} more" if len(codes) > 5 else "")
    return f" (this user may post only to {'store' if len(codes) == 1 else 'stores'} {shown})"


def _case_variants(codes: set[str]) -> list[str]:
    return sorted(codes | {c.lower() for c in codes})


def receipt_batch_post_from_api(
    *, items: list[dict], user, as_batch: bool
) -> tuple[list[ReceiptOutcome], ImportBatch | None]:
    """Post the receipts of a batch API request, set-based. With `as_batch` the request is recorded as an
    ImportBatch (source API)."""
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


def receipt_post_from_api(*, item: dict, user) -> ReceiptOutcome:
    """Post the one receipt of a single-receipt API request (ReceiptInSerializer data).

    Resolved and validated like receipt_batch_post_from_api (same answers and reasons), then written by
    sale_record, the single-receipt path: a till posting as it sells waits for four round trips to the
    database instead of the set-based machinery made for files. Idempotent on (store, POS reference).
    """
    if not user.has_perm("sales.add_sale"):
        raise ValidationError("You do not have permission to post sales.")
    draft = receipt_drafts_from_api(items=[item], user=user)[0]
    if not draft.rejected:
        receipt_validate(draft, now=timezone.now())
    outcome = ReceiptOutcome(
        pos_reference=draft.pos_reference,
        store_code=draft.store.code if draft.store else draft.store_key,
        status="rejected",
        lines=len(draft.lines),
    )
    if draft.rejected:
        outcome.errors = [_draft_reason(draft)]
        return outcome
    receipt = ReceiptInput(
        store=draft.store,
        pos_reference=draft.pos_reference,
        occurred_at=draft.occurred_at,
        lines=[LineInput(line.product, line.quantity, line.unit_price, line.price_type) for line in draft.lines],
        kind=draft.kind,
        payment_method=draft.payment_method,
        customer=draft.customer,
        points_redeemed=draft.points_redeemed,
        original_reference=draft.original_reference,
        no_receipt=draft.no_receipt,
    )
    try:
        result = sale_record(receipt=receipt, actor=user)
    except ReceiptConflict:
        outcome.errors = [
            f"conflict: receipt {draft.pos_reference} was already posted for store {draft.store.code} "
            "with different content"
        ]
        return outcome
    except ValidationError as exc:  # e.g. more points redeemed than the customer holds
        outcome.errors = exc.messages
        return outcome
    outcome.status, outcome.sale_id = result.status, result.sale.pk
    return outcome


def _api_batch_finish(batch: ImportBatch, drafts, outcomes) -> None:
    counts: defaultdict[str, int] = defaultdict(int)
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


# --------------------------------------------------------------------------------------------------
# Loyalty flows that need the receipts: tier requalification on trailing spend, merging duplicates.
# customers (below sales) owns tiers and the points ledger but never reads sales; these read the
# receipts here and hand customers what it needs.


def trailing_spend(*, customer_ids=None, as_of: datetime) -> dict[int, Decimal]:
    """Net spend (sales − returns) per customer over the tier window ending at as_of."""
    qs = Sale.objects.filter(
        customer__isnull=False, occurred_at__gt=as_of - timedelta(days=tier_window_days()), occurred_at__lte=as_of
    )
    if customer_ids is not None:
        qs = qs.filter(customer_id__in=list(customer_ids))
    return {
        row["customer_id"]: row["spend"] or Decimal("0")
        for row in qs.values("customer_id").annotate(spend=Sum("total")).order_by()
    }


def customer_tiers_requalify(*, as_of: datetime | None = None, customer_ids=None) -> dict[str, int]:
    """Move each active customer to the tier their trailing spend earns (customers.services.tiers_requalify
    with the spend read here). Idempotent; the nightly task "customers.requalify_tiers" runs it."""
    as_of = as_of or timezone.now()
    spend = trailing_spend(customer_ids=customer_ids, as_of=as_of)
    return tiers_requalify(spend_by_customer=spend, as_of=as_of, customer_ids=customer_ids)


def customer_merge(*, source: Customer, target: Customer, actor=None) -> Customer:
    """Fold a duplicate customer into another, in one transaction.

    The duplicate's sales are re-pointed at the target; its live points move as a pair of ledger
    entries per lot (−n on the duplicate, +n on the target, same issuing store and expiry date), so
    both ledgers stay equal to their balances and the points keep their expiry. The duplicate is
    deactivated and remembers `merged_into`; the target is then requalified for its tier.
    """
    now = timezone.now()
    with transaction.atomic():
        src, dst = customer_merge_lock(source=source, target=target)  # both locked, in id order, first
        moved_sales = Sale.objects.filter(customer=src).update(customer=dst)
        customer_merge_records(source=src, target=dst, as_of=now, moved_sales=moved_sales, actor=actor)
        customer_tiers_requalify(as_of=now, customer_ids=[dst.pk])
    target.refresh_from_db()
    source.refresh_from_db()
    return target
