"""Read queries behind the sales, inventory, profit and cash-flow pages and the accountant's pack.

Sales figures come from the rollups (StoreDaily, SalesDaily), never from the sale lines, so a page
costs the same on a chain with ten million lines as on a small one. Stock figures come from
StockLevel; past stock positions are rebuilt from today's on-hand minus what moved since (the
ledger's invariant on_hand == Σ movements makes that exact), using SalesDaily for the sale and
return movements and the ledger only for the few others (receipts, counts, adjustments).
Every function takes the parsed Filters (sales.forms_dashboard), whose stores are already limited to
what the user may see.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.apps import apps
from django.core.cache import cache
from django.db.models import Case, Count, DecimalField, ExpressionWrapper, F, Sum, Value, When
from django.db.models.functions import Coalesce, NullIf, TruncDate
from django.utils import timezone

from inventory.models import Category, Product, PurchaseOrder, PurchaseOrderLine, StockLevel, StockMovement
from retailops.money import money

from .forms_dashboard import Filters
from .models import Sale, SalesDaily, StoreDaily

ZERO = Decimal("0")
DEC = DecimalField(max_digits=20, decimal_places=4)
OVERSTOCK_DAYS = 90  # more than a quarter of cover (when no order-up-to level is set) is overstock
DEAD_DAYS = 60  # stock with no sale for this long is dead stock
TOP_N = 10
SALE_KINDS = (StockMovement.Kind.SALE, StockMovement.Kind.RETURN)
# Listed rather than excluded so that an index on (kind, occurred_at) can serve the ledger query.
OTHER_KINDS = tuple(k for k in StockMovement.Kind.values if k not in SALE_KINDS)
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


def _d(value) -> Decimal:
    return Decimal(value) if value is not None else ZERO


def sales_daily(f: Filters, start: date, end: date):
    qs = SalesDaily.objects.filter(store_id__in=f.store_ids, date__gte=start, date__lte=end)
    if f.category_ids is not None:
        qs = qs.filter(product__category_id__in=f.category_ids)
    return qs


def store_daily(f: Filters, start: date, end: date):
    return StoreDaily.objects.filter(store_id__in=f.store_ids, date__gte=start, date__lte=end)


def stock_levels(f: Filters):
    qs = StockLevel.objects.filter(store_id__in=f.store_ids, product__kind=Product.Kind.GOODS)
    if f.category_ids is not None:
        qs = qs.filter(product__category_id__in=f.category_ids)
    return qs


# Cost of one stock level: the moving average, or the product's cost price before any receipt.
UNIT_COST = Coalesce(NullIf(F("average_cost"), Value(ZERO)), F("product__cost_price"), output_field=DEC)
STOCK_VALUE = ExpressionWrapper(
    Case(When(on_hand__gt=0, then=F("on_hand") * UNIT_COST), default=Value(ZERO), output_field=DEC), output_field=DEC
)


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
    out, day = [], start
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
GROUPS = {"series": ("store_id", "product_id"), "date": ("date",)}
CACHE_SECONDS = 3600
# This process's most recent sums, read without unpickling; the shared cache serves the other workers.
_LOCAL: OrderedDict = OrderedDict()


def _rollup_query(f: Filters, start: date, end: date, group: str) -> dict:
    names = GROUPS[group]
    rows = sales_daily(f, start, end).values(*names).annotate(**{k: Sum(k) for k in SD_FIELDS}).order_by()
    return {
        tuple(r[n] for n in names) if len(names) > 1 else r[names[0]]: {k: _d(r[k]) for k in SD_FIELDS} for r in rows
    }


def _fingerprint(f: Filters, start: date, end: date) -> tuple:
    """What the closed days' rollups look like: any sale posted into them (a late import) changes it."""
    row = store_daily(f, start, end).aggregate(
        n=Count("id"), tx=Sum("transactions"), revenue=Sum("revenue"), units=Sum("units"), cost=Sum("cost")
    )
    return tuple(str(row[k]) for k in ("n", "tx", "revenue", "units", "cost"))


def _closed_days_cached(kind: str, f: Filters, start: date, end: date, compute):
    """compute(start, end) for days that are over, cached under a fingerprint of StoreDaily for the same
    stores and days (a late import changes it). The result is shared: callers must not change it."""
    key = (
        "dash:rollup:"
        + hashlib.sha1(
            repr((kind, f.store_ids, f.category_ids, start, end, _fingerprint(f, start, end))).encode()
        ).hexdigest()
    )
    out = _LOCAL.get(key)
    if out is not None:
        _LOCAL.move_to_end(key)
        return out
    out = cache.get(key)
    if out is None:
        out = compute(start, end)
        cache.set(key, out, CACHE_SECONDS)
    _LOCAL[key] = out
    while len(_LOCAL) > 64:
        _LOCAL.popitem(last=False)
    return out


def rollup_sums(f: Filters, start: date, end: date, group: str) -> dict:
    """Σ SalesDaily over [start, end] in the filters' scope, grouped by "series" (store, product) or "date".

    Days before today cannot change except through a late import, so their sums are cached (see
    _closed_days_cached); today is always read live. This keeps year-long pages fast on a chain with
    millions of rollup rows. The returned dict and its rows may be shared with the cache: read only.
    """
    memo = f.__dict__.setdefault("_rollup_memo", {})  # one request asks for the same sums several times
    if (group, start, end) in memo:
        return memo[(group, start, end)]
    today = timezone.localdate()
    out: dict = {}
    closed_end = min(end, today - timedelta(days=1))
    if start <= closed_end:
        out = _closed_days_cached(group, f, start, closed_end, lambda a, b: _rollup_query(f, a, b, group))
    if end >= today:
        out = dict(out)  # the cached sums are shared: never add to them in place
        for k, sums in _rollup_query(f, max(start, today), end, group).items():
            base = out.get(k)
            out[k] = {name: (base[name] if base else ZERO) + sums[name] for name in SD_FIELDS}
    memo[(group, start, end)] = out
    return out


def _units_by_day_query(f: Filters, start: date, end: date) -> dict:
    out: dict = defaultdict(dict)
    for s, p, day, units in sales_daily(f, start, end).values_list("store_id", "product_id", "date", "units"):
        out[(s, p)][day] = units
    return dict(out)


def units_by_day(f: Filters, start: date, end: date) -> dict[tuple[int, int], dict[date, Decimal]]:
    """Units sold per store × product × day (SalesDaily), closed days cached like rollup_sums. Read only."""
    today = timezone.localdate()
    closed_end = min(end, today - timedelta(days=1))
    out: dict = {}
    if start <= closed_end:
        out = _closed_days_cached("units_by_day", f, start, closed_end, lambda a, b: _units_by_day_query(f, a, b))
    if end >= today:
        out = dict(out)
        for key, days in _units_by_day_query(f, max(start, today), end).items():
            out[key] = {**out.get(key, {}), **days}
    return out


def fold(rows: dict, key_of) -> dict:
    """Sum rollup_sums rows into other groups: key_of(row key) → new key (None drops the row)."""
    out: dict = {}
    for k, sums in rows.items():
        new = key_of(k)
        acc = out.setdefault(new, {name: ZERO for name in SD_FIELDS})
        for name in SD_FIELDS:
            acc[name] += sums[name]
    return out


def total_of(rows: dict) -> dict:
    return fold(rows, lambda k: 0).get(0, {name: ZERO for name in SD_FIELDS})


def _product_info() -> dict[int, tuple[int | None, str]]:
    return {pk: (cat, kind) for pk, cat, kind in Product.objects.values_list("pk", "category_id", "kind")}


# --------------------------------------------------------------------------- sales dashboard

TOTAL_FIELDS = ("revenue", "cost", "discount", "units", "returns_value")


def sales_totals(f: Filters, start: date, end: date) -> dict:
    """Revenue (net of returns), units, receipts, basket, cost, gross profit, discount, returns for a range.

    Without a category filter this reads StoreDaily (one row per store, day and payment method); with
    one it reads SalesDaily, where receipts cannot be counted (a receipt spans categories): None.
    """
    if f.category_ids is None:
        row = store_daily(f, start, end).aggregate(
            **{k: Sum(k) for k in TOTAL_FIELDS}, transactions=Sum("transactions"), customers=Sum("customers")
        )
        transactions = row["transactions"] or 0
    else:
        row = total_of(rollup_sums(f, start, end, "date"))
        transactions = None
    out = {k: _d(row[k]) for k in TOTAL_FIELDS}
    out["transactions"] = transactions
    out["gross_sales"] = out["revenue"] + out["returns_value"]
    out["basket"] = money(ratio(out["gross_sales"], transactions)) if transactions else None
    out["gross_profit"] = out["revenue"] - out["cost"]
    out["margin"] = ratio(out["gross_profit"], out["revenue"])
    return out


def sales_kpis(f: Filters) -> dict:
    current = sales_totals(f, f.start, f.end)
    previous = sales_totals(f, f.compare_start, f.compare_end)
    keys = ("revenue", "units", "transactions", "basket", "gross_profit", "margin", "discount", "returns_value")
    return {
        "current": current,
        "previous": previous,
        "change": {k: change(current[k], previous[k]) for k in keys},
        "empty": not current["revenue"] and not current["units"] and not current["transactions"],
    }


def _daily(f: Filters, start: date, end: date) -> dict[date, dict]:
    if f.category_ids is None:
        qs = store_daily(f, start, end).values("date").annotate(revenue=Sum("revenue"), units=Sum("units"))
    else:
        return rollup_sums(f, start, end, "date")
    return {r["date"]: r for r in qs.order_by("date")}


def sales_trend(f: Filters) -> dict:
    """Revenue per day (week, month for long ranges) for the period and the same period last year."""
    kind = bucket_kind(f.days)
    current = _daily(f, f.start, f.end)
    previous = _daily(f, f.compare_start, f.compare_end)
    cur_buckets = buckets(f.start, f.end, kind)
    prev_buckets = buckets(f.compare_start, f.compare_end, kind)

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
        rows.append(
            {
                "bucket": b,
                "label": bucket_label(b, kind),
                "revenue": cur[i][0],
                "units": cur[i][1],
                "revenue_ly": last[0] if last else None,
                "change": change(cur[i][0], last[0]) if last else None,
            }
        )
    return {"kind": kind, "rows": rows}


def store_comparison(f: Filters) -> list[dict]:
    """Per store: revenue, units, receipts, basket, gross profit and margin, revenue last year and growth."""
    if f.category_ids is None:
        agg = {k: Sum(k) for k in ("revenue", "cost", "units", "transactions", "returns_value")}
        cur = {r["store_id"]: r for r in store_daily(f, f.start, f.end).values("store_id").annotate(**agg)}
        ly = store_daily(f, f.compare_start, f.compare_end).values("store_id").annotate(revenue=Sum("revenue"))
    else:
        cur = fold(rollup_sums(f, f.start, f.end, "series"), lambda k: k[0])
        ly = [
            {"store_id": sid, "revenue": sums["revenue"]}
            for sid, sums in fold(rollup_sums(f, f.compare_start, f.compare_end, "series"), lambda k: k[0]).items()
        ]
    last = {r["store_id"]: _d(r["revenue"]) for r in ly}
    total = sum((_d(r["revenue"]) for r in cur.values()), ZERO)
    rows = []
    for store in f.stores:
        r = cur.get(store.pk, {})
        revenue, cost = _d(r.get("revenue")), _d(r.get("cost"))
        tx = r.get("transactions") if f.category_ids is None else None
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
                "change": change(revenue, last.get(store.pk)),
            }
        )
    rows.sort(key=lambda r: (-r["revenue"], r["store"].code))
    return rows


def _category_map() -> dict[int, Category]:
    return {c.pk: c for c in Category.objects.select_related("parent")}


def category_performance(f: Filters) -> list[dict]:
    """Per top-level category (or per sub-category inside a chosen category): revenue, units, margin, share."""
    cats = _category_map()
    info = _product_info()

    def by_category(start, end):
        sums = fold(rollup_sums(f, start, end, "series"), lambda k: info.get(k[1], (None, ""))[0])
        return [{"product__category_id": cid, **v} for cid, v in sums.items()]

    cur = by_category(f.start, f.end)
    ly = by_category(f.compare_start, f.compare_end)

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
    rows = [
        {
            "category": cat,
            "name": str(cat) if cat else "Uncategorised",
            **g,
            "gross_profit": g["revenue"] - g["cost"],
            "margin": ratio(g["revenue"] - g["cost"], g["revenue"]),
            "share": ratio(g["revenue"], total),
            "change": change(g["revenue"], g["revenue_ly"]),
        }
        for cat, g in groups.items()
    ]
    rows.sort(key=lambda r: (-r["revenue"], r["name"]))
    return rows


def product_rankings(f: Filters, *, limit: int = TOP_N) -> dict:
    """Top and under-performing products by revenue, gross profit and velocity; high stock with low sales."""
    per = fold(rollup_sums(f, f.start, f.end, "series"), lambda k: k[1])
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


def _sales_by_series(f: Filters, start: date, end: date) -> dict[tuple[int, int], dict]:
    info = _product_info()
    return {k: v for k, v in rollup_sums(f, start, end, "series").items() if info.get(k[1], (None, ""))[1] == "goods"}


def stockout_days(
    f: Filters, levels: dict[tuple[int, int], Decimal] | None = None, sold: dict | None = None
) -> dict[tuple[int, int], int]:
    """Days in the period whose closing stock was zero or less, per store × product (from the ledger).

    The closing stock of a day = on_hand now − what moved after that day. Sales and returns come from
    SalesDaily (their movements mirror the sale lines day by day), the other movements from the ledger.
    Only series that could have touched zero are replayed day by day: a series whose closing stock at
    the period end, less everything that came in during the period, is still positive never did.
    """
    if levels is None:
        levels = {(s, p): _d(q) for s, p, q in stock_levels(f).values_list("store_id", "product_id", "on_hand")}
    if not levels:
        return {}
    start_dt, end_dt = day_bounds(f.start, f.end)
    today = timezone.localdate()
    # Net of everything after the period: sales after it from SalesDaily, other movements from the ledger.
    after: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
    if f.end < today:
        for key, sums in _sales_by_series(f, f.end + timedelta(days=1), today).items():
            after[key] -= sums["units"]
    other = StockMovement.objects.filter(store_id__in=f.store_ids, kind__in=OTHER_KINDS, occurred_at__gte=start_dt)
    if f.category_ids is not None:
        other = other.filter(product__category_id__in=f.category_ids)
    nets: dict[tuple[int, int], dict[date, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    inflow: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
    for s, p, qty in (
        other.filter(occurred_at__gte=end_dt)
        .values("store_id", "product_id")
        .annotate(q=Sum("quantity"))
        .values_list("store_id", "product_id", "q")
    ):
        after[(s, p)] += qty
    # Days in the project's time zone (a store's own zone differs by an hour at most in a UK chain).
    for s, p, day, qty in (
        other.filter(occurred_at__lt=end_dt)
        .annotate(day=TruncDate("occurred_at"))
        .values("store_id", "product_id", "day")
        .annotate(q=Sum("quantity"))
        .values_list("store_id", "product_id", "day", "q")
    ):
        nets[(s, p)][day] += qty
        if qty > 0:  # Σ of the positive days bounds what came in on any stretch of days
            inflow[(s, p)] += qty
    for key, sums in (sold if sold is not None else _sales_by_series(f, f.start, f.end)).items():
        if sums["returns_units"] > 0:
            inflow[key] += sums["returns_units"]

    closing_end = {key: on_hand - after.get(key, ZERO) for key, on_hand in levels.items()}
    candidates = {key for key, closing in closing_end.items() if closing - inflow.get(key, ZERO) <= 0}
    result = dict.fromkeys(levels, 0)
    if not candidates:
        return result
    daily = units_by_day(f, f.start, f.end)
    for key in candidates:
        for day, units in daily.get(key, {}).items():
            nets[key][day] -= units

    for key in candidates:
        closing = closing_end[key]
        zero_days, day = 0, f.end
        for change_day, net in sorted(nets.get(key, {}).items(), reverse=True):
            # `closing` is the balance at the close of every day from change_day to `day`
            if closing <= 0:
                zero_days += (day - change_day).days + 1
            closing -= net
            day = change_day - timedelta(days=1)
        if closing <= 0 and day >= f.start:
            zero_days += (day - f.start).days + 1
        result[key] = zero_days
    return result


def inventory_overview(f: Filters, *, dead_days: int = DEAD_DAYS) -> dict:
    """Stock value at cost, turnover, days of cover, stockout frequency, overstock and dead stock.

    Per store and per top-level category, with totals and lists of the worst lines. Turnover is
    annualised: cost of goods sold in the period × 365 / days ÷ stock value at cost now.
    """
    cats = _category_map()
    levels = list(
        stock_levels(f).values(
            "store_id", "product_id", "on_hand", "max_qty", "product__category_id", value=STOCK_VALUE
        )
    )
    sold = _sales_by_series(f, f.start, f.end)
    dead_from = f.end - timedelta(days=dead_days - 1)
    recent = {key for key, sums in _sales_by_series(f, dead_from, f.end).items() if sums["units"] > 0}
    zero_days = stockout_days(
        f, {(lvl["store_id"], lvl["product_id"]): _d(lvl["on_hand"]) for lvl in levels}, sold=sold
    )
    days = Decimal(f.days)

    def blank():
        return {
            "value": ZERO,
            "on_hand": ZERO,
            "cogs": ZERO,
            "units_sold": ZERO,
            "series": 0,
            "zero_days": 0,
            "overstock_value": ZERO,
            "overstock_lines": 0,
            "dead_value": ZERO,
            "dead_lines": 0,
        }

    total, by_store, by_cat = blank(), defaultdict(blank), defaultdict(blank)
    overstock, dead, stockouts = [], [], []
    for lvl in levels:
        key = (lvl["store_id"], lvl["product_id"])
        on_hand, value = _d(lvl["on_hand"]), _d(lvl["value"])
        s = sold.get(key, {})
        units, cogs = _d(s.get("units")), _d(s.get("cost"))
        velocity = units / days
        cover = max(on_hand, ZERO) / velocity if velocity > 0 else None
        cat = cats.get(lvl["product__category_id"])
        top = (cat.parent if cat and cat.parent_id else cat) if cat else None
        is_over = (
            on_hand > 0
            and velocity > 0
            and (
                (lvl["max_qty"] is not None and on_hand > lvl["max_qty"])
                or (lvl["max_qty"] is None and cover is not None and cover > OVERSTOCK_DAYS)
            )
        )
        is_dead = on_hand > 0 and key not in recent
        zd = zero_days.get(key, 0)
        line = {"key": key, "on_hand": on_hand, "value": value, "velocity": velocity, "cover": cover, "zero_days": zd}
        if is_over:
            overstock.append(line)
        if is_dead:
            dead.append(line)
        if zd:
            stockouts.append(line)
        for agg in (total, by_store[lvl["store_id"]], by_cat[top.pk if top else None]):
            agg["value"] += value
            agg["on_hand"] += max(on_hand, ZERO)
            agg["cogs"] += cogs
            agg["units_sold"] += units
            agg["series"] += 1
            agg["zero_days"] += zd
            if is_over:
                agg["overstock_value"] += value
                agg["overstock_lines"] += 1
            if is_dead:
                agg["dead_value"] += value
                agg["dead_lines"] += 1

    def finish(agg):
        agg["turnover"] = (agg["cogs"] * Decimal(365) / days / agg["value"]) if agg["value"] else None
        agg["cover_days"] = (agg["on_hand"] / (agg["units_sold"] / days)) if agg["units_sold"] > 0 else None
        agg["line_days"] = agg["series"] * f.days
        agg["stockout_rate"] = ratio(agg["zero_days"], agg["line_days"]) if agg["series"] else None
        return agg

    stores = {s.pk: s for s in f.stores}
    store_rows = [
        {"store": stores[sid], **finish(agg)}
        for sid, agg in sorted(by_store.items(), key=lambda kv: stores[kv[0]].code)
    ]
    cat_rows = sorted(
        ({"name": str(cats[cid]) if cid else "Uncategorised", **finish(agg)} for cid, agg in by_cat.items()),
        key=lambda r: (-r["value"], r["name"]),
    )
    overstock.sort(key=lambda r: -r["value"])
    dead.sort(key=lambda r: -r["value"])
    stockouts.sort(key=lambda r: (-r["zero_days"], r["key"]))
    lists = {"overstock": overstock[:TOP_N], "dead": dead[:TOP_N], "stockouts": stockouts[:TOP_N]}
    products = Product.objects.in_bulk({line["key"][1] for lst in lists.values() for line in lst})
    for lst in lists.values():
        for line in lst:
            line["store"] = stores[line["key"][0]]
            line["product"] = products[line["key"][1]]
    return {"total": finish(total), "stores": store_rows, "categories": cat_rows, **lists, "dead_days": dead_days}


# --------------------------------------------------------------------------- profit


def shrinkage(f: Filters, start: date, end: date) -> dict:
    """Count corrections and write-offs in a range, valued at the movement's unit cost (a loss is positive).

    Count corrections are split by the reason the count line carries.
    """
    start_dt, end_dt = day_bounds(start, end)
    qs = StockMovement.objects.filter(
        store_id__in=f.store_ids,
        occurred_at__gte=start_dt,
        occurred_at__lt=end_dt,
        kind__in=[StockMovement.Kind.COUNT, StockMovement.Kind.WRITE_OFF],
    )
    if f.category_ids is not None:
        qs = qs.filter(product__category_id__in=f.category_ids)
    rows = list(qs.values("kind", "quantity", "unit_cost", "source_type", "source_id", "reason"))
    from inventory.models import StockCountLine

    line_ids = [r["source_id"] for r in rows if r["source_type"] == "inventory.stockcountline" and r["source_id"]]
    reasons = dict(StockCountLine.objects.filter(pk__in=line_ids).values_list("pk", "reason"))
    by_reason: dict[str, Decimal] = defaultdict(lambda: ZERO)
    counts, write_offs = ZERO, ZERO
    for r in rows:
        loss = money(-r["quantity"] * r["unit_cost"])
        if r["kind"] == StockMovement.Kind.COUNT:
            counts += loss
            by_reason[reasons.get(r["source_id"]) or "unknown"] += loss
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
    previous = sales_totals(f, f.compare_start, f.compare_end)
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
    rows = {
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
    info = _product_info() if dimension == "category" else {}
    key_of = {
        "store": lambda k: k[0],
        "product": lambda k: k[1],
        "category": lambda k: info.get(k[1], (None, ""))[0],
    }[dimension]
    cats = _category_map() if dimension == "category" else {}
    merged: dict = defaultdict(lambda: {k: ZERO for k in fields})
    for key, r in fold(rollup_sums(f, f.start, f.end, "series"), key_of).items():
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
    out: dict[date, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for r in store_daily(f, start, end).values("date", "payment_method").annotate(revenue=Sum("revenue")):
        out[r["date"]][r["payment_method"]] += _d(r["revenue"])
    return out


def purchases_paid(f: Filters, start: date, end: date):
    start_dt, end_dt = day_bounds(start, end)
    return PurchaseOrder.objects.filter(
        store_id__in=f.store_ids, paid_at__gte=start_dt, paid_at__lt=end_dt, amount_paid__gt=0
    ).exclude(status=PurchaseOrder.Status.CANCELLED)


def cash_flow(f: Filters, kind: str) -> dict:
    """Money in by payment method vs money out (purchase orders paid) per week or month, with net and
    reinvestment rate (out ÷ cash in). Vouchers / points settle sales without cash and are listed apart."""
    methods = [m for m in Sale.Payment.values]
    rows = {
        b: {"bucket": b, "label": bucket_label(b, kind), "in": defaultdict(lambda: ZERO), "out": ZERO}
        for b in buckets(f.start, f.end, kind)
    }
    for day, per_method in money_in_daily(f, f.start, f.end).items():
        acc = rows[bucket_of(day, kind)]["in"]
        for method, amount in per_method.items():
            acc[method] += amount
    tz = timezone.get_current_timezone()
    for paid_at, amount in purchases_paid(f, f.start, f.end).values_list("paid_at", "amount_paid"):
        rows[bucket_of(paid_at.astimezone(tz).date(), kind)]["out"] += amount
    out, running = [], ZERO
    totals = {"in": defaultdict(lambda: ZERO), "cash_in": ZERO, "non_cash": ZERO, "out": ZERO}
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
    """Total value of each order (Σ ordered quantity × unit cost)."""
    value = ExpressionWrapper(F("quantity_ordered") * F("unit_cost"), output_field=DEC)
    return {
        r["order_id"]: money(r["value"])
        for r in PurchaseOrderLine.objects.filter(order__in=orders).values("order_id").annotate(value=Sum(value))
    }


def cash_tied(f: Filters) -> dict:
    """Cash tied in inventory: stock at cost now, plus the unpaid value of goods on order."""
    stock = stock_levels(f).aggregate(value=Sum(STOCK_VALUE))["value"] or ZERO
    orders = list(open_orders(f))
    values = order_values(orders)
    on_order = sum((values.get(o.pk, ZERO) for o in orders), ZERO)
    paid_ahead = sum((o.amount_paid for o in orders), ZERO)
    return {"stock": money(stock), "on_order": on_order, "paid_ahead": paid_ahead}


def forecast_revenue_by_week(f: Filters, weeks: list[date], *, today: date) -> dict[date, Decimal] | None:
    """Hook for the forecasting app: expected takings per week from DemandForecast, or None.

    Units come from the latest finished run that has rows for these stores and weeks, priced at each
    product's average realised price over the last 28 days (list price when it did not sell). Used only
    when the forecasting app is installed and has such rows; anything else (app absent or still being
    built, other field names) means None, and the caller falls back to the trailing average.
    """
    if not apps.is_installed("forecasting") or not weeks:
        return None
    try:
        model = apps.get_model("forecasting", "DemandForecast")
        qs = model.objects.filter(store_id__in=f.store_ids, date__gte=weeks[0], date__lt=weeks[-1] + timedelta(days=7))
        run_model = model._meta.get_field("run").related_model
        finished = run_model.objects.all()
        if "status" in {fld.name for fld in run_model._meta.get_fields()}:
            finished = finished.filter(status__in=["done", "partial"])
        run_id = qs.filter(run__in=finished).order_by("-run_id").values_list("run_id", flat=True).first()
        if run_id is None:
            return None
        rows = list(qs.filter(run_id=run_id).values("product_id", "date").annotate(units=Sum("yhat")).order_by())
    except Exception:  # noqa: BLE001 - the forecasting app is optional: any failure means "no forecast"
        return None
    if not rows:
        return None
    recent = sales_daily(f, today - timedelta(days=28), today - timedelta(days=1)).filter(units__gt=0)
    prices = {
        pid: Decimal(revenue) / Decimal(units)
        for pid, revenue, units in recent.values("product_id")
        .annotate(revenue=Sum("revenue"), units=Sum("units"))
        .values_list("product_id", "revenue", "units")
        if units
    }
    missing = {r["product_id"] for r in rows} - set(prices)
    prices.update(Product.objects.filter(pk__in=missing).values_list("pk", "mrp"))
    out = {w: ZERO for w in weeks}
    for r in rows:
        week = bucket_of(r["date"], "week")
        if week in out and r["units"]:
            out[week] += Decimal(str(max(r["units"], 0))) * prices.get(r["product_id"], ZERO)
    return {w: money(v) for w, v in out.items()}


def cash_forward(f: Filters, *, weeks: int = 6, today: date | None = None, trailing_days: int = 28) -> dict:
    """The next weeks: expected money in (forecast when there is one, else the trailing average of cash
    taken) against open purchase orders falling due (unpaid value, in the week of their expected date;
    overdue ones in the first week)."""
    today = today or timezone.localdate()
    first = bucket_of(today, "week")
    week_starts = [first + timedelta(days=7 * i) for i in range(weeks)]
    forecast = forecast_revenue_by_week(f, week_starts, today=today)
    trail_start = today - timedelta(days=trailing_days)
    trail_end = today - timedelta(days=1)
    taken = sum(
        (v for per in money_in_daily(f, trail_start, trail_end).values() for m, v in per.items() if m not in NON_CASH),
        ZERO,
    )
    weekly_average = money(taken * 7 / trailing_days)
    orders = list(open_orders(f))
    values = order_values(orders)
    due = {w: ZERO for w in week_starts}
    for order in orders:
        unpaid = max(values.get(order.pk, ZERO) - order.amount_paid, ZERO)
        if not unpaid:
            continue
        expected = order.expected_date or (
            (order.ordered_at.astimezone(timezone.get_current_timezone()).date() if order.ordered_at else today)
            + timedelta(days=order.supplier.lead_time_days)
        )
        week = max(bucket_of(expected, "week"), first)
        if week in due:
            due[week] += unpaid
    rows, running = [], ZERO
    for w in week_starts:
        expected_in = forecast[w] if forecast is not None else weekly_average
        net = expected_in - due[w]
        running += net
        rows.append(
            {
                "week": w,
                "label": bucket_label(w, "week"),
                "in": expected_in,
                "out": due[w],
                "net": net,
                "cumulative": running,
            }
        )
    return {
        "rows": rows,
        "source": "forecast" if forecast is not None else "trailing",
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
        return money(self.on_hand * self.unit_cost)


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


def month_range_of(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return first, nxt - timedelta(days=1)
