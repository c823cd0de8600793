"""Read queries shared by pages, the API and tasks."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import (
    BooleanField,
    Case,
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest, NullIf, Round, TruncMonth
from django.utils import timezone

from .models import (
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    ReasonCode,
    StockCount,
    StockCountLine,
    StockLevel,
    StockMovement,
    StockMovementQuerySet,
    Store,
)

ZERO = Decimal("0")


def stores_visible(*, user) -> QuerySet[Store]:
    """Stores a user may see (the store pickers): `Store.objects.for_user` — the rule is inventory.scoping."""
    return Store.objects.for_user(user)


def store_ids_visible(*, user) -> set[int]:
    return set(stores_visible(user=user).values_list("pk", flat=True))


def store_ids_by_code(codes: list[str]) -> tuple[list[int], list[str]]:
    """(ids of the stores with these codes, case-insensitive, in the order given; the codes that match none)."""
    known = {code.upper(): pk for code, pk in Store.objects.values_list("code", "pk")}
    return [known[c.upper()] for c in codes if c.upper() in known], [c for c in codes if c.upper() not in known]


def user_can_see_costs(*, user) -> bool:
    return user.has_perm("inventory.view_cost")


def product_list(*, search: str = "", category_id: int | None = None) -> QuerySet[Product]:
    qs = Product.objects.select_related("category", "category__parent", "supplier")
    if search:
        qs = qs.filter(Q(sku__icontains=search) | Q(name__icontains=search) | Q(barcode=search))
    if category_id:
        qs = qs.filter(Q(category_id=category_id) | Q(category__parent_id=category_id))
    return qs


# "Low stock", everywhere it is shown or counted (home, Reorder, the morning e-mail, the stock list's filter):
# below zero on the books, or at or below the minimum (reorder point) set on the stock level.
LOW_STOCK_Q = Q(on_hand__lt=0) | Q(min_qty__isnull=False, on_hand__lte=F("min_qty"))
OPEN_ORDER_STATUSES = (PurchaseOrder.Status.ORDERED, PurchaseOrder.Status.PARTLY_RECEIVED)


@dataclass(frozen=True)
class LowStock:
    """The low-stock lines of some stores: ``rows`` (to order first, then covered; at most the limit) and the
    counts of all of them. ``to_order``: low and not lifted above the minimum by what is on order;
    ``covered``: low, but open purchase orders bring it above the minimum (nothing to do but wait)."""

    rows: list[StockLevel]
    to_order: int
    covered: int

    @property
    def total(self) -> int:
        return self.to_order + self.covered

    @property
    def hidden(self) -> int:
        return self.total - len(self.rows)


def low_stock_levels(*, user, store_id: int | None = None) -> QuerySet[StockLevel]:
    """Low stock levels (:data:`LOW_STOCK_Q`) of active products in the stores the user may see, each with
    ``on_order`` (open quantity of ordered or partly received purchase-order lines), ``due`` (the earliest
    expected date among them) and ``covered`` (on hand, counted as 0 when negative, plus on order is above
    the minimum). To order first, then by on hand."""
    open_lines = PurchaseOrderLine.objects.filter(
        order__store_id=OuterRef("store_id"),
        product_id=OuterRef("product_id"),
        order__status__in=OPEN_ORDER_STATUSES,
        quantity_ordered__gt=F("quantity_received"),
    ).order_by()
    qty: DecimalField = DecimalField(max_digits=14, decimal_places=3)
    on_order = (
        open_lines.values("product_id")
        .annotate(n=Sum(F("quantity_ordered") - F("quantity_received"), output_field=qty))
        .values("n")
    )
    due = open_lines.exclude(order__expected_date=None).order_by("order__expected_date").values("order__expected_date")
    qs = StockLevel.objects.for_user(user).filter(LOW_STOCK_Q, product__active=True)
    if store_id:
        qs = qs.filter(store_id=store_id)
    qs = qs.annotate(
        on_order=Coalesce(Subquery(on_order, output_field=qty), Value(ZERO), output_field=qty),
        due=Subquery(due[:1]),
    ).annotate(
        covered=Case(
            When(
                Q(on_order__gt=0)
                & Q(on_order__gt=Coalesce("min_qty", Value(ZERO), output_field=qty) - Greatest("on_hand", Value(ZERO))),
                then=Value(True),
            ),
            default=Value(False),
            output_field=BooleanField(),
        )
    )
    return qs.select_related("store", "product").order_by("covered", "on_hand", "store__code", "product__sku")


def low_stock(*, user, store_id: int | None = None, limit: int | None = 20) -> LowStock:
    """The one low-stock figure: the lines and their counts come from the same query, so a page that lists
    them and a count beside them (or on another page) cannot disagree."""
    qs = low_stock_levels(user=user, store_id=store_id)
    counts = dict(qs.order_by().values_list("covered").annotate(n=Count("pk")).values_list("covered", "n"))  # type: ignore[misc]  # "covered" is annotated by low_stock_levels
    rows = list(qs[:limit] if limit is not None else qs)
    return LowStock(rows=rows, to_order=counts.get(False, 0), covered=counts.get(True, 0))


# --- stock levels, counts and shrinkage (DESIGN §4) ----------------------------------------------

COVER_WINDOW_DAYS = 28  # days of cover use the trailing 28-day average of daily units sold
# ABC cycle counting: A items (80 % of the usage value at cost) are counted monthly, B every two
# months, C twice a year — the usual retail rule of thumb, so fast, valuable lines drift least.
ABC_SHARES = (("A", Decimal("0.80")), ("B", Decimal("0.95")), ("C", Decimal("1.00")))
ABC_INTERVAL_DAYS = {"A": 30, "B": 60, "C": 180}
ABC_USAGE_DAYS = 90


SOLD_KINDS = (StockMovement.Kind.SALE, StockMovement.Kind.RETURN)


def _days_bounds(first: date, last: date):
    """[start of `first`, start of the day after `last`) in the project's time zone."""
    tz = timezone.get_default_timezone()
    start = timezone.make_aware(datetime.combine(first, time.min), tz)
    return start, timezone.make_aware(datetime.combine(last + timedelta(days=1), time.min), tz)


def sold_movements(*, first: date, last: date) -> StockMovementQuerySet:
    """The ledger's sales and returns on the days first..last: what left the shelf through the tills.

    Inventory reads velocity and cost of goods sold from its own ledger (sale movements carry the unit cost
    of the sale), so it needs nothing of the sales app above it (DESIGN §2)."""
    start, end = _days_bounds(first, last)
    return StockMovement.objects.filter(kind__in=SOLD_KINDS, occurred_at__gte=start, occurred_at__lt=end)


def stock_level_list(
    *,
    user,
    store_id: int | None = None,
    search: str = "",
    category_id: int | None = None,
    status: str = "",
    sort: str = "sku",
    today: date | None = None,
) -> QuerySet[StockLevel]:
    """Stock levels of active stocked products in the stores the user may see.

    Each row carries `units_28` (units sold in the trailing 28 days, net of returns, from the ledger), `avg_daily`,
    `days_cover` (on hand ÷ average daily units; None when nothing sold) and `value` (on hand at
    average cost, falling back to the product's cost price). status: low | negative | out | short.
    """

    today = today or timezone.localdate()
    qs = (
        StockLevel.objects.for_user(user)
        .filter(product__active=True, product__kind=Product.Kind.GOODS)
        .select_related("store", "product", "product__category", "product__category__parent")
    )
    if store_id:
        qs = qs.filter(store_id=store_id)
    if search:
        qs = qs.filter(
            Q(product__sku__icontains=search) | Q(product__name__icontains=search) | Q(product__barcode=search)
        )
    if category_id:
        qs = qs.filter(Q(product__category_id=category_id) | Q(product__category__parent_id=category_id))
    qty_field: DecimalField = DecimalField(max_digits=14, decimal_places=3)
    units = (
        sold_movements(first=today - timedelta(days=COVER_WINDOW_DAYS - 1), last=today)
        .filter(store_id=OuterRef("store_id"), product_id=OuterRef("product_id"))
        .order_by()
        .values("store_id")
        .annotate(total=Sum(-F("quantity"), output_field=qty_field))
        .values("total")
    )
    qs = qs.annotate(units_28=Coalesce(Subquery(units, output_field=qty_field), Value(ZERO), output_field=qty_field))
    money_field: DecimalField = DecimalField(max_digits=20, decimal_places=4)
    qs = qs.annotate(
        unit_value=Coalesce(NullIf("average_cost", Value(ZERO)), F("product__cost_price"), output_field=money_field),
    ).annotate(
        value=ExpressionWrapper(F("on_hand") * F("unit_value"), output_field=money_field),
        # on_hand / (units_28 / 28); NULL when nothing sold (division by NULL)
        cover_sort=ExpressionWrapper(
            F("on_hand") * Value(COVER_WINDOW_DAYS) / NullIf(F("units_28"), Value(ZERO)), output_field=money_field
        ),
    )
    if status == "negative":
        qs = qs.filter(on_hand__lt=0)
    elif status == "out":
        qs = qs.filter(on_hand__lte=0)
    elif status == "low":
        qs = qs.filter(LOW_STOCK_Q)
    elif status == "short":  # less than a week of cover at the recent selling rate
        qs = qs.filter(units_28__gt=0, cover_sort__lt=7)
    orders: dict[str, list[Any]] = {
        "sku": ["product__sku", "store__code"],
        "store": ["store__code", "product__sku"],
        "on_hand": ["on_hand", "product__sku"],
        "cover": [F("cover_sort").asc(nulls_last=True), "product__sku"],
        "value": ["-value", "product__sku"],
    }
    qs = qs.annotate(
        low=Case(
            When(LOW_STOCK_Q, then=Value(True)),
            default=Value(False),
        )
    )
    return qs.order_by(*orders.get(sort, orders["sku"]))


def stock_value_total(levels) -> Decimal:
    """Value at cost of stock levels annotated by stock_level_list: each line to the penny (half up), negative
    book stock at nothing, then summed — the rule of the inventory valuation, so the Stock page's total equals
    the Inventory KPIs' and the cash tied up (reports.selectors.stock_value) for the same stores."""
    total = ZERO
    for on_hand, unit in levels.values_list("on_hand", "unit_value"):
        if on_hand > 0 and unit:
            total += (on_hand * unit).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return total


def stock_level_row_extras(level: StockLevel) -> dict:
    """Average daily units and days of cover of one annotated row, as exact Decimals."""
    avg = (level.units_28 or ZERO) / COVER_WINDOW_DAYS  # type: ignore[attr-defined]  # annotated by stock_level_list
    cover = None
    if avg > 0:
        cover = (max(level.on_hand, ZERO) / avg).quantize(Decimal("0.1"))
    return {"avg_daily": avg.quantize(Decimal("0.01")), "days_cover": cover}


@dataclass(frozen=True)
class CyclePlanRow:
    product: Product
    abc_class: str
    usage_value: Decimal
    last_counted: date | None
    due_in_days: int  # ≤ 0: due (or overdue by that many days)

    @property
    def due(self) -> bool:
        return self.due_in_days <= 0


def cycle_count_plan(*, store: Store, today: date | None = None) -> list[CyclePlanRow]:
    """ABC cycle-count plan for one store: every carried product with its class and when it is due.

    Usage value = units sold in the last 90 days at their cost, read from the store's own ledger
    (sale movements), so the plan needs no other app. Products never counted are due now. Sorted:
    due first (A before B before C, most overdue first), then by how soon they fall due.
    """

    today = today or timezone.localdate()
    since = timezone.now() - timedelta(days=ABC_USAGE_DAYS)
    levels = list(
        StockLevel.objects.filter(store=store, product__active=True, product__kind=Product.Kind.GOODS)
        .select_related("product")
        .order_by("product__sku")
    )
    usage = {
        row["product_id"]: -(row["value"] or ZERO)
        for row in StockMovement.objects.filter(store=store, kind="sale", occurred_at__gte=since)
        .values("product_id")
        .annotate(value=Sum(F("quantity") * F("unit_cost")))
    }
    last = {
        row["product_id"]: row["last"]
        for row in StockCountLine.objects.filter(
            count__store=store, count__status=StockCount.Status.RECONCILED, counted_at__isnull=False
        )
        .filter(~Q(product=None))
        .values("product_id")
        .annotate(last=Max("counted_at"))
    }
    ranked = sorted(levels, key=lambda lvl: (-usage.get(lvl.product_id, ZERO), lvl.product.sku))
    total = sum((max(usage.get(lvl.product_id, ZERO), ZERO) for lvl in levels), ZERO)
    rows, running = [], ZERO
    for lvl in ranked:
        value = max(usage.get(lvl.product_id, ZERO), ZERO)
        share_before = running / total if total else Decimal("1")
        running += value
        abc = next((name for name, cut in ABC_SHARES if share_before < cut and value > 0), "C")
        counted = last.get(lvl.product_id)
        counted_day = timezone.localtime(counted, store.tz).date() if counted else None
        due_in = (counted_day + timedelta(days=ABC_INTERVAL_DAYS[abc]) - today).days if counted_day else 0
        rows.append(CyclePlanRow(lvl.product, abc, value.quantize(Decimal("0.01")), counted_day, due_in))
    rows.sort(key=lambda r: (not r.due, r.abc_class if r.due else "", r.due_in_days, r.product.sku))
    return rows


def stock_count_list(*, user, status: str = "") -> QuerySet[StockCount]:
    qs = (
        StockCount.objects.for_user(user)
        .select_related("store", "category", "created_by", "submitted_by", "approved_by")
        .annotate(
            line_count=Count("lines"),
            counted_count=Count("lines", filter=Q(lines__counted_at__isnull=False)),
            recount_count=Count("lines", filter=Q(lines__needs_recount=True, lines__counted_at__isnull=True)),
        )
        .order_by("-created_at", "-pk")
    )
    if status:
        qs = qs.filter(status=status)
    return qs


def stock_count_lines(*, count: StockCount) -> dict:
    """The count page's lines in three groups: waiting for a recount, counted (latest first), not yet counted.

    Each line carries `book_qty` (today's book on-hand, for non-blind counts).
    """

    book = StockLevel.objects.filter(store_id=count.store_id, product_id=OuterRef("product_id")).values("on_hand")[:1]
    lines = list(count.lines.select_related("product", "counted_by").annotate(book_qty=Subquery(book)).order_by("id"))
    recount = [ln for ln in lines if ln.needs_recount and ln.counted_at is None]
    counted = sorted((ln for ln in lines if ln.counted_at is not None), key=lambda ln: ln.counted_at, reverse=True)
    pending = [ln for ln in lines if ln.counted_at is None and not ln.needs_recount]
    return {
        "recount": recount,
        "counted": counted,
        "pending": pending,
        "total": len(lines),
        "units": sum((ln.counted_qty for ln in counted), ZERO),
    }


def _reconciled_lines(*, user, date_from: date, date_to: date, store_id: int | None = None):
    qs = StockCountLine.objects.for_user(user).filter(
        count__status=StockCount.Status.RECONCILED,
        product__isnull=False,
        counted_at__date__gte=date_from,
        counted_at__date__lte=date_to,
    )
    if store_id:
        qs = qs.filter(count__store_id=store_id)
    return qs


def shrinkage_lines(*, user, date_from: date, date_to: date, store_id: int | None = None):
    """Every reconciled count line in the period (for the export), oldest first."""
    return (
        _reconciled_lines(user=user, date_from=date_from, date_to=date_to, store_id=store_id)
        .select_related("count__store", "product__category__parent", "counted_by", "count__approved_by")
        .order_by("counted_at", "id")
    )


def _sales_costs(*, user, date_from: date, date_to: date, store_id: int | None) -> dict:
    """Cost of goods sold in the period from the ledger's sales and returns, each line at its cost to the penny
    (as the rollups round each sale line), by every key the shrinkage report divides by: one pass over the
    ledger, grouped by store × product × month, summed here ({key: {value: cost}}; key None: the total)."""

    cost = Sum(Round(-F("quantity") * F("unit_cost"), 2), output_field=DecimalField(max_digits=16, decimal_places=2))
    qs = sold_movements(first=date_from, last=date_to).for_user(user)
    if store_id:
        qs = qs.filter(store_id=store_id)
    rows = (
        qs.annotate(month=TruncMonth("occurred_at"))
        .order_by()
        .values("store_id", "product_id", "product__category_id", "month")
        .annotate(total=cost)
    )
    out: dict = {key: defaultdict(lambda: ZERO) for key in ("store_id", "product_id", "product__category_id")}
    out["month"] = defaultdict(lambda: ZERO)
    out[None] = defaultdict(lambda: ZERO)
    for row in rows:
        total = row["total"] or ZERO
        for key in ("store_id", "product_id", "product__category_id", "month"):
            out[key][row[key]] += total
        out[None][None] += total
    return out


def shrinkage_report(
    *, user, date_from: date, date_to: date, store_id: int | None = None, tolerance: Decimal = ZERO
) -> dict:
    """Discrepancy analytics of reconciled counts in a period (counted_at within [date_from, date_to]).

    Loss = Σ of negative variance values at cost, shown positive; found = Σ of positive ones; net =
    Σ variance value. Shrinkage % = loss ÷ cost of goods sold (SalesDaily.cost) of the same slice.
    Accuracy = share of counted lines whose |variance| ≤ tolerance units. Repeat offenders: store ×
    product short in two or more counts. Gap per count: the POS book vs the shelf found by each count.
    """

    lines = _reconciled_lines(user=user, date_from=date_from, date_to=date_to, store_id=store_id)
    costs = _sales_costs(user=user, date_from=date_from, date_to=date_to, store_id=store_id)
    value_field: DecimalField = DecimalField(max_digits=16, decimal_places=2)
    loss = Sum(Case(When(variance_value__lt=0, then=-F("variance_value")), default=ZERO, output_field=value_field))
    found = Sum(Case(When(variance_value__gt=0, then=F("variance_value")), default=ZERO, output_field=value_field))
    accurate = Q(variance__lte=tolerance, variance__gte=-tolerance)
    measures = {
        "loss": loss,
        "found": found,
        "net": Sum("variance_value"),
        "units": Sum("variance"),
        "lines": Count("id"),
        "accurate": Count("id", filter=accurate),
    }

    def finish(row: dict, sales_cost) -> dict:
        row = {**row}
        for k in ("loss", "found", "net", "units"):
            row[k] = row.get(k) or ZERO
        row["sales_cost"] = sales_cost
        row["loss_pct"] = (row["loss"] / sales_cost) if sales_cost else None
        row["accuracy"] = (Decimal(row["accurate"]) / row["lines"]) if row["lines"] else None
        return row

    def grouped(fields: list[str], key: str | None, sales_key: str | None, order: str = "-loss", limit=None):
        qs = lines.order_by().values(*fields).annotate(**measures).order_by(order)
        if limit:
            qs = qs[:limit]
        sales = costs[sales_key]
        return [finish(row, sales.get(row[key]) if key else None) for row in qs]

    total = lines.aggregate(**measures)
    total_sales = costs[None]
    by_month = list(
        lines.annotate(month=TruncMonth("counted_at")).order_by().values("month").annotate(**measures).order_by("month")
    )
    month_sales = costs["month"]
    month_sales = {(m.date() if hasattr(m, "date") else m): v for m, v in month_sales.items()}
    by_month = [finish(row, month_sales.get(_as_date(row["month"]))) for row in by_month]
    for row in by_month:
        row["month"] = _as_date(row["month"])

    counts = (
        StockCount.objects.filter(pk__in=lines.values("count_id"))
        .select_related("store", "approved_by")
        .annotate(
            lines_n=Count("lines", filter=Q(lines__product__isnull=False)),
            book=Sum("lines__expected_qty"),
            shelf=Sum("lines__counted_qty", filter=Q(lines__product__isnull=False)),
            gap_units=Sum("lines__variance"),
            gap_value=Sum("lines__variance_value"),
            accurate_n=Count("lines", filter=Q(lines__variance__lte=tolerance, lines__variance__gte=-tolerance)),
        )
        .order_by("-reconciled_at", "-pk")
    )
    repeat = (
        lines.filter(variance__lt=0)
        .order_by()
        .values("count__store__code", "product__sku", "product__name")
        .annotate(times=Count("count", distinct=True), units=Sum("variance"), loss=-Sum("variance_value"))
        .filter(times__gte=2)
        .order_by("-loss", "product__sku")[:20]
    )
    return {
        "total": finish(total, total_sales.get(None)),
        "by_store": grouped(
            ["count__store_id", "count__store__code", "count__store__name"], "count__store_id", "store_id"
        ),
        "by_category": grouped(
            ["product__category_id", "product__category__name", "product__category__parent__name"],
            "product__category_id",
            "product__category_id",
        ),
        "by_product": grouped(["product_id", "product__sku", "product__name"], "product_id", "product_id", limit=25),
        "by_reason": [
            {**row, "label": dict(ReasonCode.choices).get(row["reason"], row["reason"])}
            for row in grouped(["reason"], None, None)
        ],
        "by_month": by_month,
        "counts": list(counts[:50]),
        "repeat_offenders": list(repeat),
    }


def _as_date(value):
    return value.date() if isinstance(value, datetime) else value
