"""Read queries behind the sales, inventory, profit and cash-flow pages and the accountant's pack.

Sales figures come from the rollups (StoreDaily, SalesDaily), not from the sale lines, so a page
costs the same on a chain with ten million lines as on a small one. One exception, one day wide: when a
period reaches today, its comparison day last year is read from that day's sales up to the same time of
day (see "like-for-like comparisons"), so today so far is never set against a whole day. Stock figures come from
StockLevel; past stock positions are rebuilt from today's on-hand minus what moved since (the
ledger's invariant on_hand == Σ movements makes that exact), using SalesDaily for the sale and
return movements and the ledger only for the few others (receipts, counts, adjustments).
Every function takes the parsed Filters (reports.filters), whose stores are already limited to
what the user may see.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import zoneinfo
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Count, DecimalField, ExpressionWrapper, F, FloatField, Max, Q, Sum, Value
from django.db.models.functions import Cast, Coalesce, NullIf, Round, TruncDate
from django.utils import timezone

from forecasting.models import DemandForecast
from forecasting.policy import DEAD_STOCK_DAYS, OVERSTOCK_DAYS
from forecasting.selectors import latest_run_by_store
from inventory.models import (
    Category,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    ReasonCode,
    StockCountLine,
    StockLevel,
    StockMovement,
    Store,
)
from retailops.money import currency_symbol, money
from sales.models import RollupChange, Sale, SaleLine, SalesDaily, StoreDaily
from sales.selectors import newest_receipt_at

from .filters import Filters

ZERO = Decimal("0")
DEC: DecimalField = DecimalField(max_digits=20, decimal_places=4)
TOP_N = 10
# A query over every other kind of movement excludes these (the predicate of inventory.0002's partial indexes).
SALE_KINDS = (StockMovement.Kind.SALE, StockMovement.Kind.RETURN)
NON_CASH = {Sale.Payment.VOUCHER}  # points / vouchers settle a sale without money coming in


# --------------------------------------------------------------------------- helpers


def ratio(numerator, denominator) -> Decimal | None:
    if not denominator:
        return None
    return Decimal(numerator) / Decimal(denominator)


def change(current, previous) -> Decimal | None:
    """Relative change vs the comparison period; None when there is nothing to compare with."""
    if current is None or previous is None or not previous:
        return None
    return (Decimal(current) - Decimal(previous)) / abs(Decimal(previous))


# A percentage change is printed only on a base that can carry it. Below £50 (money) or 5 (units, receipts),
# or — for a row that is part of a whole, such as a store or a category — below 5 % of that whole last year,
# a change of a few pounds reads as thousands of per cent ("Drinks vs LY 3346.7 %" on a £2.40 base): the
# page prints "—" with the title "base too small" instead.
MIN_BASE_MONEY = Decimal("50")
MIN_BASE_COUNT = Decimal("5")
MIN_BASE_SHARE = Decimal("0.05")


def small_base_rule() -> str:
    """The rule of base_too_small in words, for the pages."""
    return (
        f"under {currency_symbol()}{MIN_BASE_MONEY:,.0f}, {MIN_BASE_COUNT} units or receipts, "
        f"or {MIN_BASE_SHARE:.0%} of the whole last year"
    )


def base_too_small(base, *, count: bool = False, whole=None) -> bool:
    """Whether `base` (the comparison figure a change is relative to) is too small for a percentage change:
    below MIN_BASE_COUNT (count=True: units, receipts) or MIN_BASE_MONEY, or below MIN_BASE_SHARE of
    `whole` when given. No base (None) is too small."""
    if base is None:
        return True
    size = abs(Decimal(base))
    if size < (MIN_BASE_COUNT if count else MIN_BASE_MONEY):
        return True
    return whole is not None and size < MIN_BASE_SHARE * abs(Decimal(whole))


def change_on_base(current, previous, *, base=None, count: bool = False, whole=None) -> tuple[Decimal | None, bool]:
    """(relative change of `current` vs `previous`, base too small?). The base is `previous` unless given
    (an average basket's base is last year's receipts); on a base too small the change is None, so no
    page, export or test can print it."""
    if base_too_small(previous if base is None else base, count=count, whole=whole):
        return None, True
    return change(current, previous), False


def _d(value) -> Decimal:
    return Decimal(value) if value is not None else ZERO


def in_scope(qs, f: Filters):
    """qs limited to the filters' stores — left out when they are every store there is: a list of hundreds
    of store ids costs the database more than it filters out."""
    if "_every_store" not in f.__dict__:
        f.__dict__["_every_store"] = len(set(f.store_ids)) == Store.objects.count()
    return qs if f.__dict__["_every_store"] else qs.filter(store_id__in=f.store_ids)


def sales_daily(f: Filters, start: date, end: date):
    qs = in_scope(SalesDaily.objects.filter(date__gte=start, date__lte=end), f)
    if f.category_ids is not None:
        qs = qs.filter(product__category_id__in=f.category_ids)
    return qs


def store_daily(f: Filters, start: date, end: date):
    return in_scope(StoreDaily.objects.filter(date__gte=start, date__lte=end), f)


def stock_levels(f: Filters):
    qs = in_scope(StockLevel.objects.filter(product__kind=Product.Kind.GOODS), f)
    if f.category_ids is not None:
        qs = qs.filter(product__category_id__in=f.category_ids)
    return qs


# Cost of one stock level: the moving average, or the product's cost price before any receipt.
UNIT_COST = Coalesce(NullIf(F("average_cost"), Value(ZERO)), F("product__cost_price"), output_field=DEC)


def day_bounds(start: date, end: date) -> tuple[dt.datetime, dt.datetime]:
    """[start 00:00, end+1 00:00) in the project's time zone."""
    tz = timezone.get_current_timezone()
    return (
        dt.datetime.combine(start, dt.time.min, tzinfo=tz),
        dt.datetime.combine(end + timedelta(days=1), dt.time.min, tzinfo=tz),
    )


def bucket_kind(days: int) -> str:
    return "day" if days <= 62 else "week" if days <= 400 else "month"


def bucket_of(day: date, kind: str) -> date:
    if kind == "week":
        return day - timedelta(days=day.weekday())
    if kind == "month":
        return day.replace(day=1)
    return day


def buckets(start: date, end: date, kind: str) -> list[date]:
    out: list[date] = []
    day = start
    while day <= end:
        b = bucket_of(day, kind)
        if not out or out[-1] != b:
            out.append(b)
        day += timedelta(days=1)
    return out


def bucket_label(day: date, kind: str) -> str:
    if kind == "month":
        return f"{day:%b %Y}"
    if kind == "week":
        return f"wk {day:%d %b}"
    return f"{day:%a %d %b}"


# --------------------------------------------------------------------------- cached rollup sums

SD_FIELDS = ("units", "revenue", "cost", "discount", "units_mrp", "revenue_mrp", "returns_units", "returns_value")
GROUPS = {"series": ("store_id", "product_id"), "date": ("date",), "store": ("store_id",), "product": ("product_id",)}
# Groups whose closed days are folded from the cached "series" sums (tens of thousands of rows on a big
# chain) once, and cached folded: a page then adds up a few hundred rows instead of every series.
FOLDED = {"store": lambda k: k[0], "product": lambda k: k[1]}
CACHE_SECONDS = 3600
# This process's most recent sums, read without unpickling; the shared cache serves the other workers.
_LOCAL: OrderedDict = OrderedDict()


def _grouped_sums(qs, names: tuple[str, ...], fields: tuple[str, ...], counts: tuple[str, ...] = ()) -> dict:
    """Σ of `fields` (Decimals) and `counts` (ints) of a rollup query per value of `names` (a tuple key when
    there are several)."""
    rows = qs.values(*names).annotate(**{k: Sum(k) for k in fields + counts}).order_by()
    # Each sum to its column's decimal places: SQLite adds decimals as floats, and a day's 0.09999999999999998
    # would otherwise reach the pages as 0.0999999999999999 (PostgreSQL adds them exactly: no change there).
    exp = {k: Decimal(1).scaleb(-qs.model._meta.get_field(k).decimal_places) for k in fields}
    return {
        tuple(r[n] for n in names) if len(names) > 1 else r[names[0]]: {
            **{k: _d(r[k]).quantize(exp[k]) for k in fields},
            **{k: int(r[k] or 0) for k in counts},
        }
        for r in rows
    }


def _rollup_query(f: Filters, start: date, end: date, group: str) -> dict:
    return _grouped_sums(sales_daily(f, start, end), GROUPS[group], SD_FIELDS)


def _fingerprint(f: Filters, start: date, end: date) -> tuple:
    """What the closed days [start, end] have been through: the count and last id of RollupChange rows.

    Every writer of the rollups logs the closed days it changes (sales.rollups.log_changed_days) in its
    own transaction, so a late import or a rebuild into the range changes this; the log holds a row per
    day and writing transaction, so reading it costs next to nothing however many stores there are."""
    memo = f.__dict__.setdefault("_fingerprint_memo", {})
    if (start, end) not in memo:
        seen = RollupChange.objects.filter(date__gte=start, date__lte=end).aggregate(n=Count("id"), last=Max("id"))
        memo[(start, end)] = (seen["n"], seen["last"])
    return memo[(start, end)]


def _closed_days_cached(kind: str, f: Filters, start: date, end: date, compute):
    """compute(start, end) for days that are over, cached under a fingerprint of StoreDaily for the same
    stores and days (a late import changes it). The result is shared: callers must not change it."""
    return _cached(
        (kind, f.store_ids, f.category_ids, start, end, _fingerprint(f, start, end)), lambda: compute(start, end)
    )


def _cached(identity: tuple, compute):
    """compute() cached under `identity` (which holds a fingerprint of the data read), in this process and
    the shared cache. The result is shared: callers must not change it."""
    key = "dash:rollup:" + hashlib.sha1(repr(identity).encode()).hexdigest()
    out = _LOCAL.get(key)
    if out is not None:
        _LOCAL.move_to_end(key)
        return out
    out = cache.get(key)
    if out is None:
        out = compute()
        cache.set(key, out, CACHE_SECONDS)
    _LOCAL[key] = out
    while len(_LOCAL) > 64:
        _LOCAL.popitem(last=False)
    # The cached sums are long-lived and, on a big chain, tens of thousands of dicts: moved out of the
    # cycle collector's sight, so its full passes no longer walk them (those pauses were most of a
    # partial's p95). Reference counting still frees them when they leave the cache. Garbage cycles
    # are collected first, so none is frozen for good (this runs only when a sum was computed anew;
    # the collection skips what earlier freezes set aside).
    gc.collect()
    gc.freeze()
    return out


def rollup_sums(f: Filters, start: date, end: date, group: str) -> dict:
    """Σ SalesDaily over [start, end] in the filters' scope, grouped by "series" (store, product), "date",
    "store" or "product".

    Days before today cannot change except through a late import, so their sums are cached (see
    _closed_days_cached); today is always read live. This keeps year-long pages fast on a chain with
    millions of rollup rows. The returned dict and its rows may be shared with the cache: read only.
    """
    if group in FOLDED:
        closed = lambda a, b: fold(rollup_sums(f, a, b, "series"), FOLDED[group])  # noqa: E731
    else:
        closed = lambda a, b: _rollup_query(f, a, b, group)  # noqa: E731
    return _closed_cached_live(f, group, start, end, closed, lambda a, b: _rollup_query(f, a, b, group))


def _closed_cached_live(f: Filters, kind: str, start: date, end: date, closed, live) -> dict:
    """closed(a, b) over the days of [start, end] before today, cached (_closed_days_cached), plus live(a, b)
    over today, added key by key; memoised for the request (a page asks for the same sums several times)."""
    memo = f.__dict__.setdefault("_sums_memo", {})
    if (kind, start, end) not in memo:
        today = timezone.localdate()
        closed_end = min(end, today - timedelta(days=1))
        out: dict = {}
        if start <= closed_end:
            out = _closed_days_cached(kind, f, start, closed_end, closed)
        if end >= today:
            out = dict(out)  # the cached sums are shared: never add to them in place
            for k, sums in live(max(start, today), end).items():
                base = out.get(k)
                out[k] = {name: (base[name] if base else 0) + value for name, value in sums.items()}
        memo[(kind, start, end)] = out
    return memo[(kind, start, end)]


STORE_DAY_FIELDS = ("revenue", "cost", "discount", "units", "returns_value")
STORE_DAY_COUNTS = ("transactions", "customers")
STORE_GROUPS = {"day": ("date", "payment_method"), "store": ("store_id",)}


def _store_sums_query(f: Filters, start: date, end: date, by: str) -> dict:
    return _grouped_sums(store_daily(f, start, end), STORE_GROUPS[by], STORE_DAY_FIELDS, STORE_DAY_COUNTS)


def store_sums(f: Filters, start: date, end: date, by: str) -> dict:
    """Σ StoreDaily over the filters' stores and [start, end], by "day" ((day, payment method) keys) or by
    "store" (store id keys): a few rows per day or per store, however long the range.

    Like rollup_sums: the closed days are cached, today is read live. The KPIs, the trend, the store
    comparison and the cash-flow page fold these. Read only."""
    query = lambda a, b: _store_sums_query(f, a, b, by)  # noqa: E731
    return _closed_cached_live(f, "store_" + by, start, end, query, query)


def fold(rows: dict, key_of) -> dict:
    """Sum rollup_sums rows into other groups: key_of(row key) → new key (None drops the row)."""
    out: dict = {}
    for k, sums in rows.items():
        new = key_of(k)
        acc = out.get(new)
        if acc is None:
            out[new] = {name: sums[name] for name in SD_FIELDS}
        else:
            for name in SD_FIELDS:
                acc[name] += sums[name]
    return out


def total_of(rows: dict) -> dict:
    return fold(rows, lambda k: 0).get(0, {name: ZERO for name in SD_FIELDS})


def _product_info() -> dict[int, tuple[int | None, str, Decimal]]:
    """Per product id: (category id, kind, cost price)."""
    return {
        pk: (cat, kind, cost)
        for pk, cat, kind, cost in Product.objects.values_list("pk", "category_id", "kind", "cost_price")
    }


# --------------------------------------------------------------------------- like-for-like comparisons
#
# A period that reaches today holds today's sales so far. Its comparison period ends on the same day last
# year (or 52 weeks before), which the rollups hold whole: compared as they are, a morning is set against a
# whole day ("Receipts −2.3 %"). So the comparison day counts only the sales made before the same local
# time of day as now, read from the Sale rows of that one day (the rollups are daily); the days before it
# come from the rollups as usual, and the comparison days after it (a range that runs into the future) are
# left out, as the period has no sales there yet.


@dataclass(frozen=True)
class ComparisonCut:
    """Where a period that reaches today is cut for a like-for-like comparison."""

    today: date  # the period's day that is still trading
    day: date  # the comparison day of `today`
    at: dt.datetime  # the moment the figures are read (today's sales so far)
    # Per store time zone: (store ids, the moment on `day` before which its sales count; None: all of `day`).
    cutoffs: tuple[tuple[tuple[int, ...], dt.datetime | None], ...]

    @property
    def time(self) -> dt.time:
        """The local time of the cut in the project's time zone (what the page says)."""
        return timezone.localtime(self.at).time()


def comparison_cut(f: Filters) -> ComparisonCut | None:
    """The cut of the filters' comparison period, or None when the period is whole days (it ends before
    today, or starts after it). Each store is cut at its own local time of day: a store whose local day
    is already over counts the whole comparison day, one whose day has not begun counts none of it."""
    memo = f.__dict__
    if "_comparison_cut" not in memo:
        now = f.now or timezone.now()
        today = f.today or timezone.localdate(now)
        cut = None
        if f.start <= today <= f.end:
            day = f.compare_day(today)
            by_tz: dict[str, list[int]] = defaultdict(list)
            for store in f.stores:
                by_tz[store.timezone].append(store.pk)
            cutoffs = []
            # Cut at the whole minute (the page says "to 14:05"), so the comparison day's sums can be cached
            # for that minute rather than read again by every refresh of every partial.
            minute = now.replace(second=0, microsecond=0)
            for tz_name, store_ids in sorted(by_tz.items()):
                tz = zoneinfo.ZoneInfo(tz_name)
                local = minute.astimezone(tz)
                if local.date() > today:
                    cutoff = None
                elif local.date() < today:
                    cutoff = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
                else:
                    cutoff = dt.datetime.combine(day, local.time(), tzinfo=tz)
                cutoffs.append((tuple(store_ids), cutoff))
            cut = ComparisonCut(today=today, day=day, at=now, cutoffs=tuple(cutoffs))
        memo["_comparison_cut"] = cut
    return memo["_comparison_cut"]


def _cut_filter(cut: ComparisonCut, prefix: str = "") -> Q:
    """Sales of the comparison day before the cut, per store time zone (`prefix`: the path to Sale)."""
    q = Q(pk__in=[])
    for store_ids, cutoff in cut.cutoffs:
        part = Q(**{f"{prefix}store_id__in": store_ids})
        if cutoff is not None:
            part &= Q(**{f"{prefix}occurred_at__lt": cutoff})
        q |= part
    return Q(**{f"{prefix}local_date": cut.day}) & q


RETURN = Sale.Kind.RETURN
LINE_COST = Round(F("quantity") * F("unit_cost"), 2, output_field=DEC)  # as the rollups round each line
MONEY_FIELDS = {"revenue", "cost", "discount", "revenue_mrp", "returns_value"}


def _cut_day_series(f: Filters, cut: ComparisonCut) -> dict:
    """SalesDaily's sums of the comparison day before the cut, per (store, product), from the sale lines."""
    memo = f.__dict__.setdefault("_cut_memo", {})
    if "series" not in memo:
        memo["series"] = _cached(
            ("cut-series", f.store_ids, f.category_ids, cut.day, cut.cutoffs, _fingerprint(f, cut.day, cut.day)),
            lambda: _cut_day_series_query(f, cut),
        )
    return memo["series"]


def _cut_day_series_query(f: Filters, cut: ComparisonCut) -> dict:
    lines = SaleLine.objects.filter(_cut_filter(cut, "sale__"))
    if f.category_ids is not None:
        lines = lines.filter(product__category_id__in=f.category_ids)
    is_return, is_mrp = Q(sale__kind=RETURN), Q(price_type=SaleLine.PriceType.MRP)
    rows = (
        lines.values("sale__store_id", "product_id")
        .annotate(
            units=Sum("quantity"),
            revenue=Sum("line_total"),
            cost=Sum(LINE_COST),
            discount=Sum("discount"),
            units_mrp=Sum("quantity", filter=is_mrp),
            revenue_mrp=Sum("line_total", filter=is_mrp),
            returns_units=Sum(-F("quantity"), filter=is_return),
            returns_value=Sum(-F("line_total"), filter=is_return),
        )
        .order_by()
    )
    return {
        (r["sale__store_id"], r["product_id"]): {k: money(r[k]) if k in MONEY_FIELDS else _d(r[k]) for k in SD_FIELDS}
        for r in rows
    }


def _cut_day_store(f: Filters, cut: ComparisonCut) -> dict:
    """StoreDaily's sums of the comparison day before the cut, per (store, payment method), from the sales."""
    memo = f.__dict__.setdefault("_cut_memo", {})
    if "store" not in memo:
        memo["store"] = _cached(
            ("cut-store", f.store_ids, cut.day, cut.cutoffs, _fingerprint(f, cut.day, cut.day)),
            lambda: _cut_day_store_query(cut),
        )
    return memo["store"]


def _cut_day_store_query(cut: ComparisonCut) -> dict:
    is_sale = Q(kind=Sale.Kind.SALE)
    rows = (
        Sale.objects.filter(_cut_filter(cut))
        .values("store_id", "payment_method")
        .annotate(
            revenue=Sum("total"),
            cost=Sum("cost_total"),
            discount=Sum("discount_total"),
            returns_value=Sum(-F("total"), filter=Q(kind=RETURN)),
            transactions=Count("pk", filter=is_sale),
            customers=Count("pk", filter=is_sale & Q(customer__isnull=False)),
        )
        .order_by()
    )
    # Units from the lines, apart: joined to the sales above they would multiply each receipt's totals.
    units = {
        (r["sale__store_id"], r["sale__payment_method"]): _d(r["units"])
        for r in SaleLine.objects.filter(_cut_filter(cut, "sale__"))
        .values("sale__store_id", "sale__payment_method")
        .annotate(units=Sum("quantity"))
        .order_by()
    }
    return {
        (r["store_id"], r["payment_method"]): {
            **{k: money(r[k]) for k in ("revenue", "cost", "discount", "returns_value")},
            "units": units.get((r["store_id"], r["payment_method"]), ZERO),
            **{k: int(r[k] or 0) for k in STORE_DAY_COUNTS},
        }
        for r in rows
    }


def _plus(rows: dict, extra: dict) -> dict:
    """rows + extra, key by key and field by field, in a new dict (rows may be shared with the cache)."""
    out = dict(rows)
    for k, sums in extra.items():
        base = out.get(k)
        out[k] = {name: (base[name] if base else 0) + value for name, value in sums.items()}
    return out


def previous_rollup_sums(f: Filters, group: str) -> dict:
    """rollup_sums over the comparison period, like for like: when the period reaches today, the comparison
    day of today counts only its sales before the same time of day (see comparison_cut)."""
    cut = comparison_cut(f)
    if cut is None:
        return rollup_sums(f, f.compare_start, f.compare_end, group)
    closed = rollup_sums(f, f.compare_start, cut.day - timedelta(days=1), group) if f.compare_start < cut.day else {}
    key_of = {"series": lambda k: k, "date": lambda k: cut.day, "store": lambda k: k[0], "product": lambda k: k[1]}
    return _plus(closed, fold(_cut_day_series(f, cut), key_of[group]))


def previous_store_sums(f: Filters, by: str) -> dict:
    """store_sums over the comparison period, like for like (see previous_rollup_sums)."""
    cut = comparison_cut(f)
    if cut is None:
        return store_sums(f, f.compare_start, f.compare_end, by)
    closed = store_sums(f, f.compare_start, cut.day - timedelta(days=1), by) if f.compare_start < cut.day else {}
    extra: dict = {}
    for (store_id, method), sums in _cut_day_store(f, cut).items():
        key = (cut.day, method) if by == "day" else store_id
        acc = extra.get(key)
        extra[key] = dict(sums) if acc is None else {name: acc[name] + value for name, value in sums.items()}
    return _plus(closed, extra)


# --------------------------------------------------------------------------- sales dashboard

TOTAL_FIELDS = ("revenue", "cost", "discount", "units", "returns_value")


def sales_totals(f: Filters, start: date, end: date) -> dict:
    """Revenue (net of returns), units, receipts, basket, cost, gross profit, discount, returns for a range.

    Without a category filter this reads StoreDaily (one row per store, day and payment method); with
    one it reads SalesDaily, where receipts cannot be counted (a receipt spans categories): None.
    """
    if f.category_ids is None:
        return _totals(f, store_sums(f, start, end, "day"), None)
    return _totals(f, None, rollup_sums(f, start, end, "date"))


def previous_totals(f: Filters) -> dict:
    """sales_totals of the comparison period, like for like (previous_rollup_sums)."""
    if f.category_ids is None:
        return _totals(f, previous_store_sums(f, "day"), None)
    return _totals(f, None, previous_rollup_sums(f, "date"))


def _totals(f: Filters, store_rows: dict | None, daily_rows: dict | None) -> dict:
    if store_rows is not None:
        day_rows = store_rows.values()
        row = {k: sum((r[k] for r in day_rows), ZERO) for k in TOTAL_FIELDS}
        transactions = sum(r["transactions"] for r in day_rows)
    else:
        row = total_of(daily_rows)  # type: ignore[arg-type]  # callers give one of the two
        transactions = None
    out: dict = {k: _d(row[k]) for k in TOTAL_FIELDS}
    out["transactions"] = transactions
    out["gross_sales"] = out["revenue"] + out["returns_value"]
    out["basket"] = money(ratio(out["gross_sales"], transactions)) if transactions else None
    out["gross_profit"] = out["revenue"] - out["cost"]
    out["margin"] = ratio(out["gross_profit"], out["revenue"])
    return out


# What each KPI's change is relative to, and whether that base is a count (units, receipts) or money: an
# average basket or a margin is only as solid as the receipts or the revenue it is taken over.
KPI_BASES = {
    "revenue": ("revenue", False),
    "units": ("units", True),
    "transactions": ("transactions", True),
    "basket": ("transactions", True),
    "gross_profit": ("gross_profit", False),
    "margin": ("revenue", False),
    "discount": ("discount", False),
    "returns_value": ("returns_value", False),
}


def sales_kpis(f: Filters) -> dict:
    """The period's totals against the comparison period's, like for like (a period reaching today is set
    against the same hours of its comparison day: `cut`). A change on a base too small is None and listed
    in `small`."""
    current = sales_totals(f, f.start, f.end)
    previous = previous_totals(f)
    changes, small = {}, {}
    for k, (base, count) in KPI_BASES.items():
        changes[k], small[k] = change_on_base(current[k], previous[k], base=previous[base], count=count)
    empty = not current["revenue"] and not current["units"] and not current["transactions"]
    cut = comparison_cut(f)
    return {
        "current": current,
        "previous": previous,
        "change": changes,
        "small": small,
        "small_rule": small_base_rule(),
        "cut": cut,
        "empty": empty,
        # A period reaching today with nothing in it yet: when the newest receipt of these stores came in, so a
        # quiet morning and tills that stopped sending can be told apart.
        "newest": newest_receipt_at(store_ids=f.store_ids) if empty and cut else None,
    }


def _daily_of(f: Filters, store_rows: dict | None, daily_rows: dict | None) -> dict[date, dict]:
    if store_rows is None:
        return daily_rows  # type: ignore[return-value]  # callers give one of the two
    out: dict[date, dict] = {}
    for (day, _), r in store_rows.items():
        acc = out.setdefault(day, {"date": day, "revenue": ZERO, "units": ZERO})
        acc["revenue"] += r["revenue"]
        acc["units"] += r["units"]
    return dict(sorted(out.items()))


def _daily(f: Filters, start: date, end: date) -> dict[date, dict]:
    if f.category_ids is not None:
        return rollup_sums(f, start, end, "date")
    return _daily_of(f, store_sums(f, start, end, "day"), None)


def _previous_daily(f: Filters) -> dict[date, dict]:
    if f.category_ids is not None:
        return previous_rollup_sums(f, "date")
    return _daily_of(f, previous_store_sums(f, "day"), None)


def sales_trend(f: Filters) -> dict:
    """Revenue per day (week, month for long ranges) for the period and the same period last year.

    When the period reaches today, the bucket holding today is `partial` (today so far) and its last-year
    figure is taken to the same time of day (comparison_cut); `partial` names that bucket's row."""
    kind = bucket_kind(f.days)
    current = _daily(f, f.start, f.end)
    previous = _previous_daily(f)
    cur_buckets = buckets(f.start, f.end, kind)
    prev_buckets = buckets(f.compare_start, f.compare_end, kind)
    cut = comparison_cut(f)
    partial = bucket_of(cut.today, kind) if cut else None

    def fold(daily, bucket_list):
        sums = {b: [ZERO, ZERO] for b in bucket_list}
        for day, row in daily.items():
            b = bucket_of(day, kind)
            if b in sums:
                sums[b][0] += _d(row["revenue"])
                sums[b][1] += _d(row["units"])
        return [sums[b] for b in bucket_list]

    cur, prev = fold(current, cur_buckets), fold(previous, prev_buckets)
    rows = []
    for i, b in enumerate(cur_buckets):
        last = prev[i] if i < len(prev) else None
        if last is not None and cut is not None and b > partial:  # type: ignore[operator]  # partial is set with cut
            last = None  # days still to come: nothing to compare yet
        delta, small = change_on_base(cur[i][0], last[0]) if last is not None else (None, False)
        rows.append(
            {
                "bucket": b,
                "label": bucket_label(b, kind),
                "revenue": cur[i][0],
                "units": cur[i][1],
                "revenue_ly": last[0] if last is not None else None,
                "change": delta,
                "change_small": small,
                "partial": b == partial,
            }
        )
    return {"kind": kind, "rows": rows, "cut": cut}


def store_comparison(f: Filters) -> list[dict]:
    """Per store: revenue, units, receipts, basket, gross profit and margin, revenue last year (like for like)
    and growth (None, with change_small, on a base too small)."""
    if f.category_ids is None:
        cur = store_sums(f, f.start, f.end, "store")
        ly = previous_store_sums(f, "store")
    else:
        cur = rollup_sums(f, f.start, f.end, "store")
        ly = previous_rollup_sums(f, "store")
    last = {sid: _d(sums["revenue"]) for sid, sums in ly.items()}
    total = sum((_d(r["revenue"]) for r in cur.values()), ZERO)
    total_ly = sum(last.values(), ZERO)
    rows: list[dict] = []
    for store in f.stores:
        r = cur.get(store.pk, {})
        revenue, cost = _d(r.get("revenue")), _d(r.get("cost"))
        tx = r.get("transactions") if f.category_ids is None else None
        growth, small = change_on_base(revenue, last.get(store.pk), whole=total_ly)
        rows.append(
            {
                "store": store,
                "revenue": revenue,
                "units": _d(r.get("units")),
                "transactions": (tx or 0) if f.category_ids is None else None,
                "basket": money(ratio(revenue + _d(r.get("returns_value")), tx)) if tx else None,
                "gross_profit": revenue - cost,
                "margin": ratio(revenue - cost, revenue),
                "share": ratio(revenue, total),
                "revenue_ly": last.get(store.pk, ZERO),
                "change": growth,
                "change_small": small,
            }
        )
    rows.sort(key=lambda r: (-r["revenue"], r["store"].code))
    return rows


def _category_map() -> dict[int, Category]:
    return {c.pk: c for c in Category.objects.select_related("parent")}


def category_performance(f: Filters) -> list[dict]:
    """Per top-level category (or per sub-category inside a chosen category): revenue, units, margin, share,
    and the change vs last year (like for like; None, with change_small, on a base too small)."""
    cats = _category_map()
    info = _product_info()

    def by_category(sums):
        sums = fold(sums, lambda pid: info.get(pid, (None, ""))[0])
        return [{"product__category_id": cid, **v} for cid, v in sums.items()]

    cur = by_category(rollup_sums(f, f.start, f.end, "product"))
    ly = by_category(previous_rollup_sums(f, "product"))

    def group_of(category_id):
        cat = cats.get(category_id)
        if cat is None:
            return None
        if f.category is not None:
            return cat
        return cat.parent if cat.parent_id else cat

    groups: dict = defaultdict(lambda: {"revenue": ZERO, "cost": ZERO, "units": ZERO, "revenue_ly": ZERO})
    for r in cur:
        g = groups[group_of(r["product__category_id"])]
        for k in ("revenue", "cost", "units"):
            g[k] += _d(r[k])
    for r in ly:
        groups[group_of(r["product__category_id"])]["revenue_ly"] += _d(r["revenue"])
    total = sum((g["revenue"] for g in groups.values()), ZERO)
    total_ly = sum((g["revenue_ly"] for g in groups.values()), ZERO)
    rows = []
    for cat, g in groups.items():
        growth, small = change_on_base(g["revenue"], g["revenue_ly"], whole=total_ly)
        rows.append(
            {
                "category": cat,
                "name": str(cat) if cat else "Uncategorised",
                **g,
                "gross_profit": g["revenue"] - g["cost"],
                "margin": ratio(g["revenue"] - g["cost"], g["revenue"]),
                "share": ratio(g["revenue"], total),
                "change": growth,
                "change_small": small,
            }
        )
    rows.sort(key=lambda r: (-r["revenue"], r["name"]))
    return rows


def product_rankings(f: Filters, *, limit: int = TOP_N) -> dict:
    """Top and under-performing products by revenue, gross profit and velocity; high stock with low sales."""
    per = rollup_sums(f, f.start, f.end, "product")
    stock = {
        r["product_id"]: r["on_hand"]
        for r in stock_levels(f).filter(on_hand__gt=0).values("product_id").annotate(on_hand=Sum("on_hand"))
    }
    days = Decimal(f.days)
    rows = {}
    for pid in set(per) | set(stock):
        r = per.get(pid, {})
        revenue, cost, units = _d(r.get("revenue")), _d(r.get("cost")), _d(r.get("units"))
        on_hand = _d(stock.get(pid))
        velocity = units / days
        rows[pid] = {
            "product_id": pid,
            "revenue": revenue,
            "units": units,
            "gross_profit": revenue - cost,
            "margin": ratio(revenue - cost, revenue),
            "velocity": velocity,
            "on_hand": on_hand,
            "cover_days": (on_hand / velocity) if velocity > 0 else None,
        }
    sold = [r for r in rows.values() if r["units"] > 0 or r["revenue"]]
    high_stock = [r for r in rows.values() if r["on_hand"] > 0 and (r["cover_days"] is None or r["cover_days"] > 60)]
    result = {
        "by_revenue": sorted(sold, key=lambda r: (-r["revenue"], r["product_id"]))[:limit],
        "by_margin": sorted(sold, key=lambda r: (-r["gross_profit"], r["product_id"]))[:limit],
        "by_velocity": sorted(sold, key=lambda r: (-r["velocity"], r["product_id"]))[:limit],
        # Under-performers: the lowest revenue among products that are stocked or sold in these stores.
        "under": sorted(rows.values(), key=lambda r: (r["revenue"], -r["on_hand"], r["product_id"]))[:limit],
        "high_stock_low_sales": sorted(
            high_stock, key=lambda r: (r["cover_days"] is not None, -(r["cover_days"] or 0), -r["on_hand"])
        )[:limit],
    }
    shown = {r["product_id"] for lst in result.values() for r in lst}
    products = Product.objects.in_bulk(shown)
    for lst in result.values():
        for r in lst:
            r["product"] = products.get(r["product_id"])
    return result


# --------------------------------------------------------------------------- inventory dashboard
#
# The overview looks at every store × product in scope (42,000 series on the ten-million-line bench chain),
# so it works on numpy arrays, one element per series, instead of a Python loop per series. Quantities are
# held as integers in thousandths, money in hundredths and stock values in units of 10⁻⁷ (on-hand has three
# decimals, unit cost four): every sum stays exact and comes back as a Decimal.

QTY_EXP, MONEY_EXP, COST_EXP = 3, 2, 4


def _float(expression):
    """A decimal column read as a double: far cheaper to produce and parse than numeric, and exact enough to
    give back every decimal of a QTY or COST field (≤ 15 significant digits) once scaled (see _scaled)."""
    return Cast(expression, FloatField())


def _scaled(values: np.ndarray, exp: int) -> np.ndarray:
    """Numbers with at most `exp` decimals as exact integers in units of 10^-exp."""
    return np.rint(values * 10**exp).astype(np.int64)


def _series_key(stores, products) -> np.ndarray:
    """One int64 per store × product (ids below 2³¹), so series can be matched with searchsorted."""
    return (np.asarray(stores, dtype=np.int64) << 32) | np.asarray(products, dtype=np.int64)


def _dec(value, exp: int) -> Decimal:
    return Decimal(int(value)).scaleb(-exp)


def _columns(qs, kinds: str) -> list[np.ndarray]:
    """The columns of a values_list query as numpy arrays, one letter of `kinds` per column: "i" an id
    (NULL → 0), "d" a day (datetime64[D]), "f" a number (float64, NULL → NaN).

    Tens of thousands of rows: they skip Django's per-value converters, and on PostgreSQL come as one row
    of arrays (array_agg), which spares building a tuple per row."""
    empty = {"i": np.zeros(0, dtype=np.int64), "d": np.zeros(0, dtype="datetime64[D]"), "f": np.zeros(0)}
    try:
        sql, params = qs.query.get_compiler(using=qs.db).as_sql()
    except EmptyResultSet:  # e.g. a user who may see no store
        return [empty[k] for k in kinds]
    connection = connections[qs.db]
    if connection.vendor == "postgresql":
        names = [f"c{i}" for i in range(len(kinds))]
        aggregates = ", ".join(f"array_agg({n})" for n in names)
        connection.ensure_connection()
        # Binary results (a server-side-binding cursor: Django's client-side ones cannot ask for them):
        # psycopg reads arrays of numbers a third faster than their text form.
        import psycopg  # noqa: PLC0415 — only the PostgreSQL path needs psycopg; SQLite runs never load it

        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(f"SELECT {aggregates} FROM ({sql}) AS t({', '.join(names)})", params, binary=True)
            columns = cursor.fetchone()
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            columns = list(zip(*cursor.fetchall(), strict=True))
    if not columns or columns[0] is None:
        return [empty[k] for k in kinds]
    out = []
    for kind, column in zip(kinds, columns, strict=True):
        if kind == "d":
            out.append(_days(column))
        elif kind == "f":
            out.append(np.array(column, dtype=np.float64))
        else:
            out.append(np.array([v or 0 for v in column] if None in column else column, dtype=np.int64))
    return out


def _positions(keys: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index in `keys` (ascending) of each of `wanted`, and whether it is there at all."""
    if not len(keys) or not len(wanted):
        return np.zeros(len(wanted), dtype=np.int64), np.zeros(len(wanted), dtype=bool)
    pos = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return pos, keys[pos] == wanted


def _sum_into(n: int, pos: np.ndarray, ok: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Σ values per series position (exact: the integers involved stay far below 2⁵³)."""
    return np.rint(np.bincount(pos[ok], weights=values[ok], minlength=n)).astype(np.int64)


SALES_FRAME_FIELDS = ("units", "cost", "returns")


def _sales_frame_query(f: Filters, start: date, end: date, by_day: bool) -> dict[str, np.ndarray]:
    """SalesDaily of [start, end] in scope as arrays: per store × product (and day when by_day)."""
    qs = sales_daily(f, start, end).order_by()
    fields = {"units": ("units", QTY_EXP), "cost": ("cost", MONEY_EXP), "returns": ("returns_units", QTY_EXP)}
    if by_day:
        rows = qs.values_list("store_id", "product_id", "date", *[_float(F(c)) for c, _ in fields.values()])
        s, p, day, *values = _columns(rows, "iidfff")
    else:
        sums = {f"sum_{k}": _float(Sum(c)) for k, (c, _) in fields.items()}
        rows = qs.values("store_id", "product_id").annotate(**sums).values_list("store_id", "product_id", *sums)
        s, p, *values = _columns(rows, "iifff")
        day = np.zeros(0, dtype="datetime64[D]")
    out = {"keys": _series_key(s, p), "day": day}
    for (name, (_, exp)), column in zip(fields.items(), values, strict=True):
        out[name] = _scaled(column, exp)
    return out


def _sales_frame(f: Filters, start: date, end: date, *, by_day: bool = False) -> dict[str, np.ndarray]:
    """_sales_frame_query with the closed days cached (like rollup_sums) and today read live. Read only."""
    today = timezone.localdate()
    closed_end = min(end, today - timedelta(days=1))
    parts = []
    if start <= closed_end:
        kind = "sales_frame_days" if by_day else "sales_frame"
        parts.append(_closed_days_cached(kind, f, start, closed_end, lambda a, b: _sales_frame_query(f, a, b, by_day)))
    if end >= today:
        parts.append(_live_sales_frame(f, max(start, today), end, by_day))
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return _sales_frame_query(f, start, start - timedelta(days=1), by_day)  # empty
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _live_sales_frame(f: Filters, start: date, end: date, by_day: bool) -> dict[str, np.ndarray]:
    """Today's part of _sales_frame, read once per request: per day or not, one day's rows are per series."""
    memo = f.__dict__.setdefault("_live_frames", {})
    if (start, end) not in memo:
        memo[(start, end)] = _sales_frame_query(f, start, end, by_day=True)
    if by_day:
        return memo[(start, end)]
    if start == end:
        return {**memo[(start, end)], "day": np.zeros(0, dtype="datetime64[D]")}
    return _sales_frame_query(f, start, end, by_day=False)


def _days(values) -> np.ndarray:
    """Dates (date objects, or ISO strings from SQLite) as datetime64[D], converting each distinct day once."""
    distinct = {v: np.datetime64(str(v), "D").astype(np.int64) for v in set(values)}
    return np.fromiter((distinct[v] for v in values), dtype=np.int64, count=len(values)).astype("datetime64[D]")


def _stock_frame(f: Filters) -> dict[str, np.ndarray]:
    """Stock levels of goods in scope as arrays ordered by series key.

    The levels are read alone (tens of thousands of rows, no join); the products' kind, category and
    cost price come from the product table (hundreds of rows) and are matched here."""
    qs = in_scope(StockLevel.objects.order_by(), f)  # the default ordering would join and sort
    rows = qs.values_list(
        "store_id", "product_id", _float(F("on_hand")), _float(F("max_qty")), _float(F("average_cost"))
    )
    store, product, on_hand, max_qty, average_cost = _columns(rows, "iifff")
    info = _product_info()
    ids = np.fromiter(info, dtype=np.int64, count=len(info))
    order = np.argsort(ids)
    ids = ids[order]
    attrs = [info[int(i)] for i in ids]
    goods = np.array([kind == Product.Kind.GOODS for _, kind, _ in attrs], dtype=bool)
    categories = np.array([cat or 0 for cat, _, _ in attrs], dtype=np.int64)
    cost_prices = np.array([float(cost) for _, _, cost in attrs], dtype=np.float64)
    pos, known = _positions(ids, product)
    keep = known & goods[pos]
    if f.category_ids is not None:
        keep &= np.isin(categories[pos], np.fromiter(f.category_ids, dtype=np.int64))
    store, product, pos = store[keep], product[keep], pos[keep]
    on_hand, max_qty, average_cost = on_hand[keep], max_qty[keep], average_cost[keep]
    unit_cost = np.where(np.nan_to_num(average_cost) != 0, np.nan_to_num(average_cost), cost_prices[pos])
    keys = _series_key(store, product)
    has_max = ~np.isnan(max_qty)
    frame = {
        "keys": keys,
        "store": store,
        "product": product,
        "category": categories[pos],
        "on_hand": _scaled(on_hand, QTY_EXP),
        "max_qty": _scaled(np.where(has_max, max_qty, 0), QTY_EXP),
        "has_max": has_max,
        "unit_cost": _scaled(unit_cost, COST_EXP),
    }
    order = np.argsort(keys, kind="stable")
    return {name: column[order] for name, column in frame.items()}


REASON_LABELS = dict(ReasonCode.choices)  # "supplier short", not "supplier_short", on every page


def _line_values(stock: dict[str, np.ndarray]) -> np.ndarray:
    """Each stock line's value at cost, rounded to the penny (half up) before any sum, as the inventory valuation
    report rounds its lines; negative book stock is valued at nothing (in units of 10^-(COST_EXP + QTY_EXP))."""
    q = stock["on_hand"]
    pence = 10 ** (COST_EXP + QTY_EXP - MONEY_EXP)
    return (np.where(q > 0, q * stock["unit_cost"], 0) + pence // 2) // pence * pence


def stock_value(f: Filters) -> Decimal:
    """Stock at cost now, in scope: the one figure of the Inventory KPIs, the cash tied up (Cash flow, Insights)
    and the export's valuation at today (each line rounded to the penny, then summed)."""
    return money(_dec(int(_line_values(_stock_frame(f)).sum()), COST_EXP + QTY_EXP))


def _other_movements(f: Filters, since: dt.datetime):
    """Ledger movements other than sales and returns (receipts, counts, adjustments, …) from `since` on.

    Excluding the two sale kinds, the query matches the partial index movement_other_time, which holds
    only these movements (a shop's ledger is almost all sales)."""
    qs = in_scope(StockMovement.objects.exclude(kind__in=SALE_KINDS).filter(occurred_at__gte=since), f)
    if f.category_ids is not None:
        qs = qs.filter(product__category_id__in=f.category_ids)
    return qs.order_by()


def _other_movements_by_day_query(f: Filters, since: dt.datetime, until: dt.datetime) -> dict[str, np.ndarray]:
    s, p, day, q = _columns(
        _other_movements(f, since)
        .filter(occurred_at__lt=until)
        .annotate(day=TruncDate("occurred_at"))
        .values("store_id", "product_id", "day")
        .annotate(q=_float(Sum("quantity")))
        .values_list("store_id", "product_id", "day", "q"),
        "iidf",
    )
    return {"keys": _series_key(s, p), "day": day, "qty": _scaled(q, QTY_EXP)}


def _other_movements_by_day(f: Filters, since: dt.datetime, until: dt.datetime) -> dict[str, np.ndarray]:
    """Σ other movements per store × product × day of [since, until), days in the project's time zone (a
    store's own zone differs by an hour at most in a UK chain). Read only.

    Days before today are cached under the count and last id of their movements: the ledger is
    append-only, so a movement posted late into those days (a backdated count) changes both."""
    today_start = day_bounds(timezone.localdate(), timezone.localdate())[0]
    parts = []
    if since < min(until, today_start):
        closed = (since, min(until, today_start))
        seen = _other_movements(f, since).filter(occurred_at__lt=closed[1]).aggregate(n=Count("id"), last=Max("id"))
        identity = ("other_movements_by_day", f.store_ids, f.category_ids, *closed, seen["n"], seen["last"])
        parts.append(_cached(identity, lambda: _other_movements_by_day_query(f, *closed)))
    if until > today_start:
        parts.append(_other_movements_by_day_query(f, max(since, today_start), until))
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return _other_movements_by_day_query(f, since, since)
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _stockout_days(f: Filters, stock: dict[str, np.ndarray], sold: dict[str, np.ndarray]) -> np.ndarray:
    """Days of the period whose closing stock was zero or less, per series of `stock` (from the ledger).

    The closing stock of a day = on_hand now − what moved after that day. Sales and returns come from
    SalesDaily (their movements mirror the sale lines day by day), the other movements from the ledger.
    Only series that could have touched zero are replayed day by day: a series whose closing stock at
    the period end, less everything that came in during the period, is still positive never did.
    `sold` holds the period's sales by series position ("units", "returns").
    """
    keys, n, days = stock["keys"], len(stock["keys"]), f.days
    result = np.zeros(n, dtype=np.int64)
    if not n:
        return result
    start_dt, end_dt = day_bounds(f.start, f.end)
    today = timezone.localdate()
    # Net of everything after the period: sales after it from SalesDaily, other movements from the ledger.
    closing_end = stock["on_hand"].copy()
    if f.end < today:
        after = _sales_frame(f, f.end + timedelta(days=1), today)
        pos, ok = _positions(keys, after["keys"])
        closing_end += _sum_into(n, pos, ok, after["units"])
    other = _other_movements(f, start_dt)
    s, p, q = _columns(
        other.filter(occurred_at__gte=end_dt)
        .values("store_id", "product_id")
        .annotate(q=_float(Sum("quantity")))
        .values_list("store_id", "product_id", "q"),
        "iif",
    )
    pos, ok = _positions(keys, _series_key(s, p))
    closing_end -= _sum_into(n, pos, ok, _scaled(q, QTY_EXP))
    # Other movements of the period per day. Σ of the positive days bounds what came in on any stretch of days.
    moved = _other_movements_by_day(f, start_dt, end_dt)
    m_pos, m_ok = _positions(keys, moved["keys"])
    m_day = (moved["day"] - np.datetime64(f.start, "D")).astype(np.int64)
    m_qty = moved["qty"]
    inflow = _sum_into(n, m_pos, m_ok & (m_qty > 0), m_qty) + np.maximum(sold["returns"], 0)
    candidates = np.flatnonzero(closing_end - inflow <= 0)
    if not len(candidates):
        return result

    # Replay the candidates: nets[c, d] = what day d changed; closing(d) = closing_end − Σ nets after d.
    row_of = np.full(n, -1, dtype=np.int64)
    row_of[candidates] = np.arange(len(candidates))
    size = len(candidates) * days
    m_row = np.where(m_ok, row_of[m_pos], -1)
    take = m_row >= 0
    nets = np.bincount(m_row[take] * days + m_day[take], weights=m_qty[take], minlength=size).astype(np.float64)
    daily = _sales_frame(f, f.start, f.end, by_day=True)
    d_pos, d_ok = _positions(keys, daily["keys"])
    d_row = np.where(d_ok, row_of[d_pos], -1)
    take = d_row >= 0
    d_day = (daily["day"][take] - np.datetime64(f.start, "D")).astype(np.int64)
    nets -= np.bincount(d_row[take] * days + d_day, weights=daily["units"][take], minlength=size)
    # integers well below 2⁵³: exact
    nets = np.rint(nets).astype(np.int64).reshape(len(candidates), days)  # type: ignore[assignment]  # now int64
    # closing(d) = closing_end − Σ nets of the days after d = (closing_end − Σ all nets) + Σ nets up to d.
    closing = np.cumsum(nets, axis=1)
    closing += (closing_end[candidates] - closing[:, -1])[:, None]
    result[candidates] = (closing <= 0).sum(axis=1)
    return result


def stockout_days(f: Filters) -> dict[tuple[int, int], int]:
    """Stockout days of the period per (store id, product id) of the goods in scope (see _stockout_days)."""
    stock = _stock_frame(f)
    sold = _sales_frame(f, f.start, f.end)
    pos, ok = _positions(stock["keys"], sold["keys"])
    period = {name: _sum_into(len(stock["keys"]), pos, ok, sold[name]) for name in SALES_FRAME_FIELDS}
    zero = _stockout_days(f, stock, period)
    return {(int(s), int(p)): int(z) for s, p, z in zip(stock["store"], stock["product"], zero, strict=True)}


INV_SUMS = ("value", "on_hand", "cogs", "units_sold", "series", "zero_days", "overstock_value", "overstock_lines",
            "dead_value", "dead_lines")  # fmt: skip
INV_EXP = {"value": COST_EXP + QTY_EXP, "on_hand": QTY_EXP, "cogs": MONEY_EXP, "units_sold": QTY_EXP,
           "overstock_value": COST_EXP + QTY_EXP, "dead_value": COST_EXP + QTY_EXP}  # fmt: skip


def inventory_overview(f: Filters, *, dead_days: int = DEAD_STOCK_DAYS) -> dict:
    """Stock value at cost, turnover, days of cover, stockout frequency, overstock and dead stock.

    Per store and per top-level category, with totals and lists of the worst lines. Turnover is
    annualised: cost of goods sold in the period × 365 / days ÷ stock value at cost now.
    """
    cats = _category_map()
    dead_from = f.end - timedelta(days=dead_days - 1)
    stock = _stock_frame(f)
    keys, n = stock["keys"], len(stock["keys"])
    q = stock["on_hand"]
    value = _line_values(stock)
    frame = _sales_frame(f, f.start, f.end)
    pos, ok = _positions(keys, frame["keys"])
    sold = {name: _sum_into(n, pos, ok, frame[name]) for name in SALES_FRAME_FIELDS}
    units = sold["units"]
    recent_frame = _sales_frame(f, dead_from, f.end)
    pos, ok = _positions(keys, recent_frame["keys"])
    recent = _sum_into(n, pos, ok, recent_frame["units"]) > 0
    zero_days = _stockout_days(f, stock, sold)

    # Overstock: more than OVERSTOCK_DAYS of cover (on_hand ÷ units a day) or above the order-up-to level.
    selling = (q > 0) & (units > 0)
    over = selling & np.where(stock["has_max"], q > stock["max_qty"], q * f.days > OVERSTOCK_DAYS * units)
    dead = (q > 0) & ~recent
    columns = {
        "value": value,
        "on_hand": np.maximum(q, 0),
        "cogs": sold["cost"],
        "units_sold": units,
        "series": np.ones(n, dtype=np.int64),
        "zero_days": zero_days,
        "overstock_value": np.where(over, value, 0),
        "overstock_lines": over.astype(np.int64),
        "dead_value": np.where(dead, value, 0),
        "dead_lines": dead.astype(np.int64),
    }
    days = Decimal(f.days)

    def by_group(group: np.ndarray) -> dict[int, dict]:
        """The sums of `columns` per value of `group` (exact integer sums, then Decimal)."""
        ids, inverse = np.unique(group, return_inverse=True)
        totals = {}
        for name, column in columns.items():
            acc = np.zeros(len(ids), dtype=np.int64)
            np.add.at(acc, inverse, column)
            totals[name] = acc
        return {
            int(gid): {
                name: _dec(totals[name][i], INV_EXP[name]) if name in INV_EXP else int(totals[name][i])
                for name in columns
            }
            for i, gid in enumerate(ids)
        }

    def finish(agg):
        agg["turnover"] = (agg["cogs"] * Decimal(365) / days / agg["value"]) if agg["value"] else None
        agg["cover_days"] = (agg["on_hand"] / (agg["units_sold"] / days)) if agg["units_sold"] > 0 else None
        agg["line_days"] = agg["series"] * f.days
        agg["stockout_rate"] = ratio(agg["zero_days"], agg["line_days"]) if agg["series"] else None
        return agg

    stores = {s.pk: s for s in f.stores}
    store_rows = sorted(
        ({"store": stores[sid], **finish(agg)} for sid, agg in by_group(stock["store"]).items()),
        key=lambda r: r["store"].code,
    )
    category_ids, inverse = np.unique(stock["category"], return_inverse=True)
    tops = np.array([(cats[c].parent_id or c) if c in cats else 0 for c in category_ids.tolist()], dtype=np.int64)
    cat_rows = sorted(
        (
            {"name": str(cats[cid]) if cid else "Uncategorised", **finish(agg)}
            for cid, agg in by_group(tops[inverse] if n else stock["category"]).items()
        ),
        key=lambda r: (-r["value"], r["name"]),
    )
    total = by_group(np.zeros(n, dtype=np.int64)).get(0) or {k: ZERO if k in INV_EXP else 0 for k in columns}

    def worst(mask: np.ndarray, by: np.ndarray) -> list[dict]:
        """The TOP_N series of mask, largest `by` first (ties in store, product order)."""
        index = np.flatnonzero(mask)
        index = index[np.lexsort((keys[index], -by[index]))][:TOP_N]
        lines = []
        for i in index:
            on_hand, velocity = _dec(q[i], QTY_EXP), _dec(units[i], QTY_EXP) / days
            lines.append(
                {
                    "key": (int(stock["store"][i]), int(stock["product"][i])),
                    "on_hand": on_hand,
                    "value": _dec(value[i], COST_EXP + QTY_EXP),
                    "velocity": velocity,
                    "cover": max(on_hand, ZERO) / velocity if velocity > 0 else None,
                    "zero_days": int(zero_days[i]),
                }
            )
        return lines

    lists = {"overstock": worst(over, value), "dead": worst(dead, value), "stockouts": worst(zero_days > 0, zero_days)}
    products = Product.objects.in_bulk({line["key"][1] for lst in lists.values() for line in lst})
    for lst in lists.values():
        for line in lst:
            line["store"] = stores[line["key"][0]]
            line["product"] = products[line["key"][1]]
    return {"total": finish(total), "stores": store_rows, "categories": cat_rows, **lists, "dead_days": dead_days}


# --------------------------------------------------------------------------- profit


def shrinkage(f: Filters, start: date, end: date) -> dict:
    """Count corrections and write-offs in a range, valued at the movement's unit cost (a loss is positive).

    Count corrections are split by the reason the count line carries. Summed by the database (a year of a
    big chain holds tens of thousands of corrections), each movement rounded to the penny as before.
    """
    start_dt, end_dt = day_bounds(start, end)
    qs = StockMovement.objects.filter(
        occurred_at__gte=start_dt,
        occurred_at__lt=end_dt,
        kind__in=[StockMovement.Kind.COUNT, StockMovement.Kind.WRITE_OFF],
    )
    qs = in_scope(qs, f)
    if f.category_ids is not None:
        qs = qs.filter(product__category_id__in=f.category_ids)
    by_kind_reason = []
    try:
        sql, params = qs.values("kind", "quantity", "unit_cost", "source_type", "source_id").query.sql_with_params()
    except EmptyResultSet:  # no store in scope
        sql = None
    if sql is not None:
        with connections[qs.db].cursor() as cursor:
            cursor.execute(
                f"SELECT m.kind, cl.reason, SUM(ROUND(-m.quantity * m.unit_cost, 2)) FROM ({sql}) m "
                f"LEFT JOIN {StockCountLine._meta.db_table} cl ON m.source_type = %s AND cl.id = m.source_id "
                "GROUP BY m.kind, cl.reason",
                [*params, "inventory.stockcountline"],
            )
            by_kind_reason = cursor.fetchall()
    by_reason: dict[str, Decimal] = defaultdict(lambda: ZERO)
    counts, write_offs = ZERO, ZERO
    for kind, reason, total in by_kind_reason:
        loss = money(Decimal(str(total)))
        if kind == StockMovement.Kind.COUNT:
            counts += loss
            by_reason[REASON_LABELS.get(reason or "unknown", reason)] += loss
        else:
            write_offs += loss
    return {
        "counts": counts,
        "write_offs": write_offs,
        "total": counts + write_offs,
        "by_reason": sorted(by_reason.items(), key=lambda kv: -kv[1]),
    }


def profit_summary(f: Filters) -> dict:
    totals = sales_totals(f, f.start, f.end)
    mix = total_of(rollup_sums(f, f.start, f.end, "date"))
    shrink = shrinkage(f, f.start, f.end)
    previous = previous_totals(f)  # like for like: a period reaching today is cut at the same hours
    return {
        **totals,
        "units_mrp": _d(mix["units_mrp"]),
        "revenue_mrp": _d(mix["revenue_mrp"]),
        "units_share_mrp": ratio(_d(mix["units_mrp"]), totals["units"]),
        "revenue_share_mrp": ratio(_d(mix["revenue_mrp"]), totals["revenue"]),
        "returns_units": _d(mix["returns_units"]),
        "shrinkage": shrink,
        "profit_after_shrinkage": totals["gross_profit"] - shrink["total"],
        "previous": previous,
        "margin_change": (totals["margin"] - previous["margin"])
        if totals["margin"] is not None and previous["margin"] is not None
        else None,
    }


def profit_by_month(f: Filters) -> list[dict]:
    """Per month (per week for ranges up to 62 days): revenue, cost, margin, discounts, returns, MRP share."""
    kind = "week" if f.days <= 62 else "month"
    rows: dict[date, dict] = {
        b: {
            "bucket": b,
            "label": bucket_label(b, kind),
            **{k: ZERO for k in ("revenue", "cost", "discount", "returns_value", "units", "units_mrp", "revenue_mrp")},
        }
        for b in buckets(f.start, f.end, kind)
    }
    fields = ("revenue", "cost", "discount", "returns_value", "units", "units_mrp", "revenue_mrp")
    for day, r in rollup_sums(f, f.start, f.end, "date").items():
        acc = rows[bucket_of(day, kind)]
        for k in fields:
            acc[k] += _d(r[k])
    out = []
    for acc in rows.values():
        acc["gross_profit"] = acc["revenue"] - acc["cost"]
        acc["margin"] = ratio(acc["gross_profit"], acc["revenue"])
        acc["units_share_mrp"] = ratio(acc["units_mrp"], acc["units"])
        acc["revenue_share_mrp"] = ratio(acc["revenue_mrp"], acc["revenue"])
        out.append(acc)
    return out


def profit_by(f: Filters, dimension: str, *, limit: int | None = None) -> list[dict]:
    """Gross margin grouped by "store", "category" (top level) or "product", highest gross profit first."""
    fields = ("revenue", "cost", "discount", "returns_value", "units", "units_mrp")
    if dimension == "category":
        info = _product_info()
        sums = fold(rollup_sums(f, f.start, f.end, "product"), lambda pid: info.get(pid, (None, ""))[0])
    else:
        sums = rollup_sums(f, f.start, f.end, dimension)
    cats = _category_map() if dimension == "category" else {}
    merged: dict = defaultdict(lambda: {k: ZERO for k in fields})
    for key, r in sums.items():
        if dimension == "category" and f.category is None:
            cat = cats.get(key)
            key = (cat.parent_id or cat.pk) if cat else None
        for k in fields:
            merged[key][k] += _d(r[k])
    names: dict = {}
    if dimension == "store":
        names = {s.pk: s for s in f.stores}
    elif dimension == "product":
        names = Product.objects.in_bulk([k for k in merged if k])
    out = []
    for key, acc in merged.items():
        label = names.get(key) if dimension != "category" else (cats.get(key) or "Uncategorised")
        out.append(
            {
                "key": key,
                "label": label,
                **acc,
                "gross_profit": acc["revenue"] - acc["cost"],
                "margin": ratio(acc["revenue"] - acc["cost"], acc["revenue"]),
                "units_share_mrp": ratio(acc["units_mrp"], acc["units"]),
            }
        )
    out.sort(key=lambda r: (-r["gross_profit"], str(r["label"])))
    return out[:limit] if limit else out


# --------------------------------------------------------------------------- cash flow


def money_in_daily(f: Filters, start: date, end: date) -> dict[date, dict[str, Decimal]]:
    """Takings per day and payment method (StoreDaily; the cash-flow page folds them by week and month)."""
    out: dict[date, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for (day, method), r in store_sums(f, start, end, "day").items():
        out[day][method] += r["revenue"]
    return out


def purchases_paid(f: Filters, start: date, end: date):
    start_dt, end_dt = day_bounds(start, end)
    return in_scope(
        PurchaseOrder.objects.filter(paid_at__gte=start_dt, paid_at__lt=end_dt, amount_paid__gt=0), f
    ).exclude(status=PurchaseOrder.Status.CANCELLED)


def purchases_paid_daily(f: Filters, start: date, end: date) -> dict[date, Decimal]:
    """Σ amount paid for purchase orders per day (project time zone), summed by the database, once per
    request (a big chain pays tens of thousands of orders a year). Read only."""
    memo = f.__dict__.setdefault("_paid_memo", {})
    if (start, end) not in memo:
        paid = purchases_paid(f, start, end).annotate(day=TruncDate("paid_at")).values("day")
        memo[(start, end)] = {r["day"]: _d(r["paid"]) for r in paid.annotate(paid=Sum("amount_paid")).order_by()}
    return memo[(start, end)]


def cash_flow(f: Filters, kind: str) -> dict:
    """Money in by payment method vs money out (purchase orders paid) per week or month, with net and
    reinvestment rate (out ÷ cash in). Vouchers / points settle sales without cash and are listed apart."""
    methods = [m for m in Sale.Payment.values]
    rows: dict[date, dict] = {
        b: {"bucket": b, "label": bucket_label(b, kind), "in": defaultdict(lambda: ZERO), "out": ZERO}
        for b in buckets(f.start, f.end, kind)
    }
    for day, per_method in money_in_daily(f, f.start, f.end).items():
        acc = rows[bucket_of(day, kind)]["in"]
        for method, amount in per_method.items():
            acc[method] += amount
    for day, amount in purchases_paid_daily(f, f.start, f.end).items():
        rows[bucket_of(day, kind)]["out"] += amount
    out, running = [], ZERO
    totals: dict = {"in": defaultdict(lambda: ZERO), "cash_in": ZERO, "non_cash": ZERO, "out": ZERO}
    for acc in rows.values():
        cash_in = sum((v for m, v in acc["in"].items() if m not in NON_CASH), ZERO)
        non_cash = sum((v for m, v in acc["in"].items() if m in NON_CASH), ZERO)
        net = cash_in - acc["out"]
        running += net
        out.append(
            {
                "bucket": acc["bucket"],
                "label": acc["label"],
                "by_method": [acc["in"].get(m, ZERO) for m in methods],
                "cash_in": cash_in,
                "non_cash": non_cash,
                "out": acc["out"],
                "net": net,
                "cumulative": running,
                "reinvestment": ratio(acc["out"], cash_in),
            }
        )
        for m, v in acc["in"].items():
            totals["in"][m] += v
        totals["cash_in"] += cash_in
        totals["non_cash"] += non_cash
        totals["out"] += acc["out"]
    totals["net"] = totals["cash_in"] - totals["out"]
    totals["reinvestment"] = ratio(totals["out"], totals["cash_in"])
    # Only the payment methods the stores take (a column of zeros tells nothing).
    used = [m for m in methods if totals["in"].get(m)] or [Sale.Payment.CARD]
    for row in out:
        row["by_method"] = [v for m, v in zip(methods, row["by_method"], strict=True) if m in used]
    totals["by_method"] = [totals["in"].get(m, ZERO) for m in used]
    labels = [Sale.Payment(m).label for m in used]
    return {"kind": kind, "rows": out, "totals": totals, "methods": labels}


def open_orders(f: Filters):
    return PurchaseOrder.objects.filter(
        store_id__in=f.store_ids,
        status__in=[PurchaseOrder.Status.ORDERED, PurchaseOrder.Status.PARTLY_RECEIVED],
    ).select_related("supplier")


def order_values(orders) -> dict[int, Decimal]:
    """Total value of each order (Σ ordered quantity × unit cost); `orders`: orders or a query of them."""
    value = ExpressionWrapper(F("quantity_ordered") * F("unit_cost"), output_field=DEC)
    return {
        r["order_id"]: money(r["value"])
        for r in PurchaseOrderLine.objects.filter(order__in=orders)
        .values("order_id")
        .annotate(value=Sum(value))
        .order_by()
    }


def _open_orders_due(f: Filters) -> list[dict]:
    """Each open order as a row (value, paid, expected or ordered date, lead time), once per request: a big
    chain has thousands open, so no model objects are built."""
    memo = f.__dict__
    if "_open_orders_due" not in memo:
        orders = open_orders(f).order_by()
        values = order_values(orders.values("pk"))
        memo["_open_orders_due"] = [
            {**row, "value": values.get(row["pk"], ZERO)}
            for row in orders.values("pk", "amount_paid", "expected_date", "ordered_at", "supplier__lead_time_days")
        ]
    return memo["_open_orders_due"]


def cash_tied(f: Filters) -> dict:
    """Cash tied in inventory: stock at cost now, plus the unpaid value of goods on order."""
    orders = _open_orders_due(f)
    on_order = sum((o["value"] for o in orders), ZERO)
    paid_ahead = sum((o["amount_paid"] for o in orders), ZERO)
    return {"stock": stock_value(f), "on_order": on_order, "paid_ahead": paid_ahead}


@dataclass
class ForwardForecast:
    """Expected takings from the demand forecast over some days: per product, per day, Σ forecast units."""

    units: dict[date, dict[int, Decimal]]  # day → product id → units (all stores with a forecast)
    until: date  # the last day every forecast store's current run covers
    store_ids: list[int]  # the stores with a current forecast
    runs: list  # their runs (distinct), newest history first


def forward_forecast(f: Filters, *, start: date, end: date) -> ForwardForecast | None:
    """Units forecast per day and product for [start, end] by each store's current forecast (the
    forecasting app's latest_run rule, per store), or None when no store in scope has one.

    The rule that says which forecast is current is forecasting's own, shared with the forecast and reorder
    pages, never a copy here (a copy drifted once: it took the newest run by id, which is a run made "as of"
    an earlier day whenever one has just been scored)."""
    if not f.store_ids:
        return None
    per_store = {s: r for s, r in latest_run_by_store(f.store_ids).items() if r is not None}
    if not per_store:
        return None
    stores_of_run: dict[int, list[int]] = defaultdict(list)
    runs = {}
    for store_id, run in per_store.items():
        stores_of_run[run.pk].append(store_id)
        runs[run.pk] = run
    which = Q(pk__in=[])
    for run_id, store_ids in stores_of_run.items():
        which |= Q(run_id=run_id, store_id__in=store_ids)
    units: dict[date, dict[int, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for product_id, day, yhat in (
        DemandForecast.objects.filter(which, date__gte=start, date__lte=end)
        .values("product_id", "date")
        .annotate(units=Sum("yhat"))
        .values_list("product_id", "date", "units")
        .order_by()
    ):
        if yhat and yhat > 0:  # a model may dip below zero: no one buys minus one
            units[day][product_id] += Decimal(str(yhat))
    ordered = sorted(runs.values(), key=lambda r: (r.history_end, r.pk), reverse=True)
    return ForwardForecast(
        units=units,
        until=min(r.history_end + timedelta(days=r.horizon_days) for r in runs.values()),
        store_ids=sorted(per_store),
        runs=ordered,
    )


def forecast_prices(f: Filters, product_ids, *, today: date) -> dict[int, Decimal]:
    """The price the forward view puts on a forecast unit: the product's average realised price over the
    28 days before today in these stores, its list price when it did not sell."""
    recent = sales_daily(f, today - timedelta(days=28), today - timedelta(days=1)).filter(product_id__in=product_ids)
    prices = {
        pid: Decimal(revenue) / Decimal(units)
        for pid, revenue, units in recent.filter(units__gt=0)
        .values("product_id")
        .annotate(revenue=Sum("revenue"), units=Sum("units"))
        .values_list("product_id", "revenue", "units")
        .order_by()
        if units
    }
    missing = set(product_ids) - set(prices)
    prices.update(Product.objects.filter(pk__in=missing).values_list("pk", "mrp"))
    return prices


def _cash_taken_by_store(f: Filters, start: date, end: date) -> dict[int, Decimal]:
    """Cash taken (vouchers and points left out) per store over [start, end]."""
    out: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for store_id, revenue in (
        store_daily(f, start, end)
        .exclude(payment_method__in=NON_CASH)
        .values("store_id")
        .annotate(revenue=Sum("revenue"))
        .values_list("store_id", "revenue")
        .order_by()
    ):
        out[store_id] += _d(revenue)
    return out


def cash_forward(f: Filters, *, weeks: int = 6, today: date | None = None, trailing_days: int = 28) -> dict:
    """The next weeks from today: expected money in against open purchase orders falling due (unpaid value,
    in the week of their expected date; overdue ones in the first week).

    Expected money in is each store's current demand forecast (forward_forecast: the rule of the forecast
    and reorder pages) × forecast_prices, day by day from today; a store with no forecast at all counts the
    average of its last `trailing_days` days of cash taken. A week the forecast covers only in part is
    `partial` (its days to the forecast's last day); a week past it has no expected takings (None, "no
    forecast"), and from the first week not wholly forecast on there is no net and no cumulative: the
    running total would count the days nobody forecast as no takings at all.
    """
    today = today or timezone.localdate()
    first = bucket_of(today, "week")
    week_starts = [first + timedelta(days=7 * i) for i in range(weeks)]
    last_day = week_starts[-1] + timedelta(days=6)
    trail_start, trail_end = today - timedelta(days=trailing_days), today - timedelta(days=1)
    taken = _cash_taken_by_store(f, trail_start, trail_end)
    weekly_average = money(sum(taken.values(), ZERO) * 7 / trailing_days)

    forecast = forward_forecast(f, start=today, end=last_day)
    prices: dict[int, Decimal] = {}
    if forecast is None:
        trailing_stores = list(f.store_ids)
        until = None
    else:
        products = {pid for per_day in forecast.units.values() for pid in per_day}
        prices = forecast_prices(f, products, today=today)
        trailing_stores = [s for s in f.store_ids if s not in set(forecast.store_ids)]
        until = forecast.until
    # Stores without a forecast: their trailing daily average of cash taken, for each day ahead.
    trailing_daily = sum((taken.get(s, ZERO) for s in trailing_stores), ZERO) / trailing_days

    due = {w: ZERO for w in week_starts}
    for order in _open_orders_due(f):
        unpaid = max(order["value"] - order["amount_paid"], ZERO)
        if not unpaid:
            continue
        ordered_at = order["ordered_at"]
        expected = order["expected_date"] or (
            (ordered_at.astimezone(timezone.get_current_timezone()).date() if ordered_at else today)
            + timedelta(days=order["supplier__lead_time_days"])
        )
        week = max(bucket_of(expected, "week"), first)
        if week in due:
            due[week] += unpaid

    rows, running = [], ZERO
    complete = True  # every week so far wholly forecast: the cumulative still means something
    for w in week_starts:
        days = [d for d in (w + timedelta(days=i) for i in range(7)) if d >= today]
        covered = [d for d in days if until is None or d <= until]
        status = "full" if len(covered) == len(days) else "partial" if covered else "none"
        expected_in = None
        if covered:
            total = trailing_daily * len(covered)
            if forecast is not None:
                for d in covered:
                    for pid, units in forecast.units.get(d, {}).items():
                        total += units * prices.get(pid, ZERO)
            expected_in = money(total)
        complete = complete and status == "full"
        # complete: every week so far wholly covered, so expected_in is set
        net = expected_in - due[w] if complete else None  # type: ignore[operator]
        if net is not None:
            running += net
        rows.append(
            {
                "week": w,
                "label": bucket_label(w, "week"),
                "days": len(days),
                "from_today": w < today,
                "status": status,
                "covered_to": covered[-1] if status == "partial" else None,
                "in": expected_in,
                "out": due[w],
                "net": net,
                "cumulative": running if complete else None,
            }
        )
    if forecast is None:
        source = "trailing"
    else:
        source = "forecast" if not trailing_stores else "mixed"
    codes = {s.pk: s.code for s in f.stores}
    return {
        "rows": rows,
        "source": source,
        "forecast_until": until,
        "runs": forecast.runs if forecast else [],
        "prices": prices,
        "trailing_stores": [codes.get(s, str(s)) for s in trailing_stores] if forecast is not None else [],
        "trailing_days": trailing_days,
        "weekly_average": weekly_average,
    }


# --------------------------------------------------------------------------- stock at a past date


@dataclass
class Valuation:
    store_id: int
    product_id: int
    on_hand: Decimal
    unit_cost: Decimal

    @property
    def value(self) -> Decimal:
        """At cost, to the penny; negative book stock (a count or a receipt not yet posted) is worth nothing."""
        return money(max(self.on_hand, ZERO) * self.unit_cost)


def stock_valuation_at(f: Filters, day: date) -> list[Valuation]:
    """Stock per store × product at the close of `day`: on_hand now minus every movement after it.

    Valued at today's moving average cost (the cost history is not kept per day): stated on the report.
    """
    _, end_dt = day_bounds(day, day)
    after: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
    if end_dt <= timezone.now():
        moved = StockMovement.objects.filter(store_id__in=f.store_ids, occurred_at__gte=end_dt)
        if f.category_ids is not None:
            moved = moved.filter(product__category_id__in=f.category_ids)
        for r in moved.values("store_id", "product_id").annotate(q=Sum("quantity")):
            after[(r["store_id"], r["product_id"])] = _d(r["q"])
    out = []
    for r in (
        stock_levels(f).values("store_id", "product_id", "on_hand", unit=UNIT_COST).order_by("store_id", "product_id")
    ):
        qty = _d(r["on_hand"]) - after.get((r["store_id"], r["product_id"]), ZERO)
        if qty:
            out.append(Valuation(r["store_id"], r["product_id"], qty, _d(r["unit"]).quantize(Decimal("0.0001"))))
    return out


def stock_adjustments(f: Filters, start: date, end: date):
    """Count corrections, adjustments and write-offs in the range, with the count line's reason."""
    start_dt, end_dt = day_bounds(start, end)
    qs = StockMovement.objects.filter(
        store_id__in=f.store_ids,
        occurred_at__gte=start_dt,
        occurred_at__lt=end_dt,
        kind__in=[StockMovement.Kind.COUNT, StockMovement.Kind.ADJUSTMENT, StockMovement.Kind.WRITE_OFF],
    ).select_related("store", "product", "user")
    if f.category_ids is not None:
        qs = qs.filter(product__category_id__in=f.category_ids)
    return qs.order_by("occurred_at", "id")
