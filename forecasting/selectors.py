"""Read queries for forecasting: demand history frames for the engine, forecasts, accuracy, suggestions."""

from __future__ import annotations

import math
import zoneinfo
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Avg, Count, DecimalField, F, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from inventory.models import Product, PurchaseOrder, PurchaseOrderLine, StockLevel, StockMovement, Store, Supplier
from inventory.selectors import low_stock as inventory_low_stock
from inventory.selectors import low_stock_levels, stores_visible
from sales.models import SalesDaily

from . import engine, policy
from .models import DemandForecast, ForecastAccuracy, ForecastRun, ReorderSuggestion, StockAlert


def series_id(store_id: int, product_id: int) -> str:
    return f"{store_id}:{product_id}"


def series_split(uid: str) -> tuple[int, int]:
    store, product = uid.split(":")
    return int(store), int(product)


def series_in_scope(*, store_ids: list[int] | None = None) -> list[tuple[int, int]]:
    """Store × product pairs to forecast: stocked, active products with sales or a stock level in an
    active store."""
    stores = Store.objects.filter(active=True)
    if store_ids:
        stores = stores.filter(pk__in=store_ids)
    store_ids = list(stores.values_list("pk", flat=True))
    goods = Product.objects.filter(active=True, kind=Product.Kind.GOODS).values("pk")
    pairs = set(
        SalesDaily.objects.filter(store_id__in=store_ids, product_id__in=goods)
        .values_list("store_id", "product_id")
        .distinct()
    )
    pairs |= set(
        StockLevel.objects.filter(store_id__in=store_ids, product_id__in=goods).values_list("store_id", "product_id")
    )
    return sorted(pairs)


def demand_history_frame(*, pairs: list[tuple[int, int]], end: date, days: int | None = None) -> pd.DataFrame:
    """Units sold per store × product × day (``unique_id, ds, y``) up to ``end``, from SalesDaily."""
    qs = SalesDaily.objects.filter(date__lte=end)
    if days:
        qs = qs.filter(date__gt=end - timedelta(days=days))
    store_ids = sorted({s for s, _ in pairs})
    product_ids = sorted({p for _, p in pairs})
    qs = qs.filter(store_id__in=store_ids, product_id__in=product_ids)
    wanted = set(pairs)
    rows = [
        (series_id(s, p), d, float(u))
        for s, p, d, u in qs.values_list("store_id", "product_id", "date", "units").iterator(chunk_size=5000)
        if (s, p) in wanted
    ]
    return pd.DataFrame(rows, columns=["unique_id", "ds", "y"])


def stock_delta_frame(*, pairs: list[tuple[int, int]], end: date) -> pd.DataFrame:
    """Net stock movement per store × product × local day (``unique_id, ds, delta``) up to ``end``;
    the running sum is the closing on-hand, so a day ending at ≤ 0 is a stockout."""
    wanted = set(pairs)
    by_tz = defaultdict(list)
    for store in Store.objects.filter(pk__in={s for s, _ in pairs}).only("pk", "timezone"):
        by_tz[store.timezone].append(store.pk)
    rows = []
    for tz, store_ids in by_tz.items():
        qs = (
            StockMovement.objects.filter(store_id__in=store_ids, product_id__in={p for _, p in pairs})
            .annotate(day=TruncDate("occurred_at", tzinfo=zoneinfo.ZoneInfo(tz)))
            .values("store_id", "product_id", "day")
            .annotate(delta=Sum("quantity"))
        )
        for r in qs.iterator(chunk_size=5000):
            if (r["store_id"], r["product_id"]) in wanted and r["day"] <= end:
                rows.append((series_id(r["store_id"], r["product_id"]), r["day"], float(r["delta"])))
    return pd.DataFrame(rows, columns=["unique_id", "ds", "delta"])


def series_groups_frame(*, pairs: list[tuple[int, int]]) -> pd.DataFrame:
    """The groups a series' calendar effects are shrunk toward (``unique_id, store, category``): its store and
    its product's category (0 for a product without one). One query."""
    categories = dict(
        Product.objects.filter(pk__in={p for _, p in pairs}).values_list("pk", "category_id").iterator(chunk_size=5000)
    )
    rows = [(series_id(s, p), s, categories.get(p) or 0) for s, p in pairs if p in categories]
    return pd.DataFrame(rows, columns=["unique_id", "store", "category"])


def calendar_days(*, pairs: list[tuple[int, int]], start: date, end: date) -> dict[tuple[int, int], dict[date, dict]]:
    """(store, product) → {day: {"closed", "promo", "holiday"}} for the days of ``start``..``end`` that are not
    ordinary days (:func:`forecasting.calendar.calendar_frame`, one set-based read)."""
    from . import calendar as retail_calendar  # noqa: PLC0415 — calendar imports this module (series_id)

    frame = retail_calendar.calendar_frame(pairs=pairs, start=start, end=end)
    out: dict[tuple[int, int], dict[date, dict]] = defaultdict(dict)
    if frame.empty:
        return out
    cols = {c: frame[c] if c in frame else pd.Series(False, index=frame.index) for c in ("closed", "holiday")}
    promo = frame["promo"] if "promo" in frame else pd.Series(0.0, index=frame.index)
    for uid, ds, closed, share, holiday in zip(
        frame["unique_id"], frame["ds"], cols["closed"], promo, cols["holiday"], strict=True
    ):
        out[series_split(uid)][pd.Timestamp(ds).date()] = {
            "closed": bool(closed),
            "promo": float(share or 0.0),
            "holiday": bool(holiday),
        }
    return out


def forecast_uplift_map(*, run: ForecastRun, store_ids: list[int]) -> dict[tuple[int, int], dict[date, float]]:
    """(store, product) → {day: forecast − baseline} on the days a run raised above its baseline (a promotion or
    a holiday it learned); only those rows are read."""
    out: dict[tuple[int, int], dict[date, float]] = defaultdict(dict)
    rows = DemandForecast.objects.filter(run=run, store_id__in=store_ids, baseline__isnull=False)
    for s, p, day, yhat, baseline in rows.filter(yhat__gt=F("baseline")).values_list(
        "store_id", "product_id", "date", "yhat", "baseline"
    ):
        out[(s, p)][day] = yhat - baseline
    return out


FINISHED = (ForecastRun.Status.DONE, ForecastRun.Status.PARTIAL)
RUNS_SCANNED = 200  # how far back latest_run looks for a run covering the stores: half a year of nights and more


def run_covers(run: ForecastRun, store_ids) -> bool:
    """Whether the run forecast these stores: a run with no store list covered every store."""
    return not run.store_ids or set(store_ids) <= set(run.store_ids)


def latest_run(*, finished: bool = True, store_ids=None) -> ForecastRun | None:
    """The forecast to plan and show with: the finished run with the latest history that covers
    ``store_ids`` (None: the whole chain), newest first among equals. A run made "as of" an earlier day
    (to score what it would have said) never replaces a newer one, and a run of one store is not the
    chain's forecast. With ``finished=False``: the run started last, whatever its state (its progress)."""
    qs = ForecastRun.objects.all()
    if not finished:
        return qs.order_by("-created_at", "-pk").first()
    first = None
    for run in _recent_finished_runs().iterator(chunk_size=16):  # usually the first one: read a few at a time
        first = first or run
        if run_covers(run, store_ids) if store_ids else not run.store_ids:
            return run
    return None if store_ids else first  # only runs of some stores: the chain pages show the latest of them


def _recent_finished_runs() -> QuerySet[ForecastRun]:
    return ForecastRun.objects.filter(status__in=FINISHED).order_by("-history_end", "-created_at", "-pk")[:RUNS_SCANNED]


def latest_run_by_store(store_ids) -> dict[int, ForecastRun | None]:
    """:func:`latest_run` of each store, in one query."""
    runs = list(_recent_finished_runs())
    return {s: next((r for r in runs if run_covers(r, [s])), None) for s in store_ids}


UNFINISHED = (ForecastRun.Status.PENDING, ForecastRun.Status.RUNNING)


def forecast_runs_in_progress(*, store_ids: list[int] | None = None) -> dict:
    """Forecast runs still queued or computing that touch ``store_ids`` (None: any store), so a page that
    depends on them says "not yet" instead of an all-clear. The current batch is every unfinished run plus
    the runs finished since the oldest of them was created (the demo queues five at once, a night one).

    Returns ``{"running", "finished", "total", "progress", "message"}``; ``message`` is "" when nothing is
    running, and is the one wording every page uses."""
    wanted = set(store_ids or [])

    def touches(run: ForecastRun) -> bool:
        return not wanted or not run.store_ids or bool(wanted & set(run.store_ids))

    unfinished = [r for r in ForecastRun.objects.filter(status__in=UNFINISHED) if touches(r)]
    if not unfinished:
        return {"running": 0, "finished": 0, "total": 0, "progress": 100, "message": ""}
    since = min(r.created_at for r in unfinished)
    finished = [
        r for r in ForecastRun.objects.filter(created_at__gte=since).exclude(status__in=UNFINISHED) if touches(r)
    ]
    total = len(unfinished) + len(finished)
    chunks_total = sum(r.chunks_total for r in unfinished + finished)
    chunks_done = sum(r.chunks_total if r.is_finished else r.chunks_done for r in unfinished + finished)
    progress = int(100 * chunks_done / chunks_total) if chunks_total else 0
    return {
        "running": len(unfinished),
        "finished": len(finished),
        "total": total,
        "progress": progress,
        "message": f"forecast running: {len(finished)} of {total} run{'s' if total != 1 else ''}, suggestions follow",
    }


def run_list(*, user, limit: int = 20) -> QuerySet[ForecastRun]:
    """The latest runs the user may see: by the stores they cover (inventory.scoping)."""
    return ForecastRun.objects.for_user(user).select_related("created_by").order_by("-created_at", "-pk")[:limit]


def chosen_accuracy_list(*, user, run: ForecastRun, store_id=None, category_id=None, search="") -> QuerySet:
    qs = (
        ForecastAccuracy.objects.for_user(user)
        .filter(run=run, chosen=True)
        .select_related("store", "product", "product__category")
    )
    if store_id:
        qs = qs.filter(store_id=store_id)
    if category_id:
        qs = qs.filter(Q(product__category_id=category_id) | Q(product__category__parent_id=category_id))
    if search:
        qs = qs.filter(Q(product__sku__icontains=search) | Q(product__name__icontains=search))
    return qs.order_by("store__code", "product__sku")


def last_complete_day() -> date:
    """Yesterday: today's tills are still open, so today is never read as a whole day of sales."""
    return timezone.localdate() - timedelta(days=1)


LAST_YEAR = timedelta(days=364)  # 52 weeks: the same weekday a year before


def series_detail(*, run: ForecastRun | None, store: Store, product: Product, history_days: int = 120) -> dict:
    """History, the forecast of the latest run, and the accuracy of every model tried for one series."""
    end = run.history_end if run else timezone.localdate()
    # Every day, zero where nothing sold (the rollups only hold days with sales), from the window's start or
    # the first sale if later — a slow mover's chart shows its quiet days, not a line from sale to sale.
    sales = SalesDaily.objects.filter(store=store, product=product)
    first = sales.aggregate(first=Min("date"))["first"]
    history = []
    if first is not None and first <= end:
        start = max(first, end - timedelta(days=history_days - 1))
        sold = dict(sales.filter(date__gte=start, date__lte=end).values_list("date", "units"))
        history = [
            (day, sold.get(day, 0)) for day in (start + timedelta(days=i) for i in range((end - start).days + 1))
        ]
    # Days the shelf was empty at closing (the engine does not read their zero as zero demand).
    stockouts = []
    if history:
        deltas = stock_delta_frame(pairs=[(store.pk, product.pk)], end=end)
        if not deltas.empty:
            closing = deltas.sort_values("ds").set_index("ds")["delta"].cumsum()
            closing = closing.reindex(pd.date_range(closing.index.min(), end), method="ffill")
            first_day = pd.Timestamp(history[0][0])
            stockouts = [d.date() for d, qty in closing.items() if d >= first_day and qty <= 0]
    forecasts = list(
        DemandForecast.objects.filter(run=run, store=store, product=product).order_by("date")
        if run
        else DemandForecast.objects.none()
    )
    accuracies = list(
        ForecastAccuracy.objects.filter(run=run, store=store, product=product).order_by("-chosen", "mase")
        if run
        else ForecastAccuracy.objects.none()
    )
    # What sold on the same weekdays 52 weeks before each forecast day, where the product was on sale then:
    # the models read the last 26 weeks, so a seasonal line's turn (Christmas, summer) shows here first.
    last_year = []
    if forecasts and first is not None and first <= forecasts[0].date - LAST_YEAR:
        days = [f.date - LAST_YEAR for f in forecasts]
        sold = dict(sales.filter(date__gte=days[0], date__lte=days[-1]).values_list("date", "units"))
        last_year = [(day, sold.get(day, 0)) for day in days]
    # Promotions, closures and public holidays over the chart's days, past and coming.
    days = [d for d, _ in history] + [f.date for f in forecasts]
    marks = calendar_days(pairs=[(store.pk, product.pk)], start=days[0], end=days[-1]) if days else {}
    mine = marks.get((store.pk, product.pk), {})
    for f in forecasts:  # the forecast-by-day table names each day's mark
        f.calendar = mine.get(f.date, {})
    return {
        "history": history,
        "stockouts": stockouts,
        "forecasts": forecasts,
        "accuracies": accuracies,
        "end": end,
        "last_year": last_year,
        "calendar": mine,
    }


def series_last_year_check(*, forecasts, last_year, days: int = policy.SEASON_DAYS) -> dict:
    """The forecast's next ``days`` days (``forecasts``: rows with ``yhat``) against the same weeks last year
    (``last_year``: (day, units) pairs, as :func:`series_detail` gives them); ``season_warning`` when last year
    sold clearly more (:func:`policy.season_turning`) — a seasonal turn the models cannot see yet. Empty when
    there is no last year to compare with."""
    if not last_year:
        return {}
    n = min(days, len(last_year))
    before = float(sum(u for _, u in last_year[:n]))
    ahead = sum(f.yhat for f in forecasts[:n])
    return {
        "last_year_days": n,
        "last_year_total": before,
        "forecast_total": ahead,
        "season_warning": policy.season_turning(before, ahead),
        "season_halfway": policy.season_halfway(before, ahead),
    }


def series_forecast_stored(*, store: Store, product: Product, horizon: int) -> dict | None:
    """Which forecast the API serves for one series when a run has it: the latest finished run covering the
    store, when its horizon reaches ``horizon`` and it holds days of this series — its first ``horizon`` days
    and the chosen model's figures. None otherwise: the caller forecasts on demand
    (:func:`forecasting.services.series_forecast_predict`)."""
    run = latest_run(store_ids=[store.pk])
    if not run or horizon > run.horizon_days:
        return None
    stored = list(DemandForecast.objects.filter(run=run, store=store, product=product).order_by("date")[:horizon])
    if not stored:
        return None
    acc = ForecastAccuracy.objects.filter(run=run, store=store, product=product, chosen=True).first()
    info = {
        "model": stored[0].model,
        "reason": acc.reason if acc else "",
        "mase": acc.mase if acc else None,
        "wmape": acc.wmape if acc else None,
        "bias": acc.bias if acc else None,
        "history_days": acc.history_days if acc else None,
    }
    days = [{"date": f.date, "yhat": f.yhat, "lo": f.lo, "hi": f.hi} for f in stored]
    return {"source": "run", "run": run.pk, "info": info, "days": days}


def accuracy_overview(*, user, run: ForecastRun) -> dict:
    """Backtest accuracy of the chosen models, grouped by category, store and model. wMAPE (of days and of
    weekly totals) and bias are pooled over the group (Σ|error| ÷ Σ units, Σerror ÷ Σ units), as the page
    defines them, so a slow mover's
    percentage does not weigh as much as a best seller's; MASE is the mean over the group's series."""
    base = ForecastAccuracy.objects.for_user(user).filter(run=run, chosen=True)
    metrics = {
        "series": Count("id"),
        "mase": Avg("mase"),
        "units_sum": Sum("units"),
        "abs_sum": Sum("abs_error"),
        "week_sum": Sum("abs_error_week"),
        "err_sum": Sum("error"),
    }

    def pooled(rows) -> list[dict]:
        for row in rows:
            units = row.pop("units_sum")
            for key, total in (("wmape", "abs_sum"), ("wmape_week", "week_sum"), ("bias", "err_sum")):
                value = row.pop(total)
                row[key] = value / units if units and value is not None else None
        return rows

    return {
        "by_category": pooled(base.values("product__category__name").annotate(**metrics).order_by("-series")),
        "by_store": pooled(base.values("store__code", "store__name").annotate(**metrics).order_by("store__code")),
        "by_model": pooled(base.values("model").annotate(**metrics).order_by("-series")),
    }


def accuracy_over_time(*, user, runs: int = 8, days: int = 7) -> list[dict]:
    """Past frozen forecasts scored against what really sold, each run's first ``days`` days: wMAPE of the
    days and of each series' total over them (what an order covers), bias, and as a yardstick the wMAPE of
    "the same weekday last week". Only complete days count: today's tills are still open, and half a
    day's sales against a whole day's forecast would read as a large over-forecast."""
    yesterday = last_complete_day()
    keys = ["store_id", "product_id", "date"]
    week = timedelta(days=engine.SEASON)

    def units(start: date, stop: date) -> pd.DataFrame:
        rows = SalesDaily.objects.for_user(user).filter(date__gte=start, date__lte=stop)
        frame = pd.DataFrame(rows.values_list(*keys, "units"), columns=[*keys, "units"])
        return frame.astype({"units": float})

    out = []
    codes = dict(Store.objects.values_list("pk", "code"))
    for run in _recent_finished_runs()[:runs]:
        start, stop = run.history_end + timedelta(days=1), min(run.history_end + timedelta(days=days), yesterday)
        if stop < start:
            continue
        fc = pd.DataFrame(
            DemandForecast.objects.for_user(user)
            .filter(run=run, date__gte=start, date__lte=stop)
            .values_list(*keys, "yhat"),
            columns=[*keys, "yhat"],
        )
        actual = units(start, stop)
        if fc.empty or actual.empty:
            continue
        fc = fc[fc["date"] <= actual["date"].max()]
        before = units(start - week, stop - week).rename(columns={"units": "naive"})
        before["date"] = before["date"] + week
        merged = fc.merge(actual, on=keys, how="left").merge(before, on=keys, how="left").fillna(0.0)
        total = merged["units"].abs().sum()
        if not total:
            continue
        err = merged["yhat"] - merged["units"]
        totals = merged.groupby(["store_id", "product_id"])[["yhat", "units"]].sum()
        out.append(
            {
                "run": run,
                "stores": ", ".join(sorted(codes.get(s, str(s)) for s in run.store_ids)),
                "days": int(merged["date"].nunique()),
                "wmape": float(err.abs().sum() / total),
                "wmape_total": float((totals["yhat"] - totals["units"]).abs().sum() / total),
                "bias": float(err.sum() / total),
                "naive_wmape": float((merged["naive"] - merged["units"]).abs().sum() / total),
            }
        )
    return out


def top_sellers(*, user, run: ForecastRun, days: int = 7, limit: int = 15) -> list[dict]:
    """Products with the most units forecast over the next `days` days in the visible stores, with an 80 %
    range for that total: ± z·√(Σ days × RMSE²) over its stores' chosen models — the errors of separate
    days and stores partly cancel in a total, so it is not the sum of the daily ranges (which would say
    595 units, somewhere between 49 and 1,191)."""
    stop = run.history_end + timedelta(days=days)
    rows = list(
        DemandForecast.objects.for_user(user)
        .filter(run=run, date__lte=stop)
        .values("product_id", "product__sku", "product__name")
        .annotate(units=Sum("yhat"))
        .order_by("-units", "product__sku")[:limit]
    )
    n_days = min(days, run.horizon_days)
    variance: dict[int, float] = defaultdict(float)
    for product_id, rmse in (
        ForecastAccuracy.objects.for_user(user)
        .filter(run=run, chosen=True, product_id__in=[r["product_id"] for r in rows])
        .values_list("product_id", "rmse")
    ):
        variance[product_id] += n_days * (rmse or 0.0) ** 2
    for row in rows:
        half = engine.Z_INTERVAL * math.sqrt(variance[row["product_id"]])
        row["low"], row["high"] = max(row["units"] - half, 0.0), row["units"] + half
    return rows


def forecast_daily_map(*, run: ForecastRun, store_ids: list[int]) -> dict[tuple[int, int], list[float]]:
    """(store, product) → daily point forecasts of a run, in date order."""
    out: dict[tuple[int, int], list[float]] = defaultdict(list)
    for s, p, y in (
        DemandForecast.objects.filter(run=run, store_id__in=store_ids)
        .order_by("store_id", "product_id", "date")
        .values_list("store_id", "product_id", "yhat")
        .iterator(chunk_size=10000)
    ):
        out[(s, p)].append(y)
    return out


def last_year_units_map(*, store_ids: list[int], start: date, days: int) -> dict[tuple[int, int], float]:
    """(store, product) → units sold over the ``days`` days that began 52 weeks before ``start``."""
    first = start - LAST_YEAR
    rows = (
        SalesDaily.objects.filter(store_id__in=store_ids, date__gte=first, date__lt=first + timedelta(days=days))
        .values_list("store_id", "product_id")
        .annotate(units=Sum("units"))
    )
    return {(s, p): float(u) for s, p, u in rows}


def forecast_error_map(*, run: ForecastRun, store_ids: list[int]) -> dict[tuple[int, int], float]:
    return {
        (s, p): rmse or 0.0
        for s, p, rmse in ForecastAccuracy.objects.filter(run=run, chosen=True, store_id__in=store_ids).values_list(
            "store_id", "product_id", "rmse"
        )
    }


def on_order_map(*, store_ids: list[int]) -> dict[tuple[int, int], float]:
    """Open quantities of ordered (not draft, not cancelled) purchase-order lines per store × product."""
    open_status = [PurchaseOrder.Status.ORDERED, PurchaseOrder.Status.PARTLY_RECEIVED]
    out: dict[tuple[int, int], float] = defaultdict(float)
    for s, p, ordered, received in PurchaseOrderLine.objects.filter(
        order__store_id__in=store_ids, order__status__in=open_status
    ).values_list("order__store_id", "product_id", "quantity_ordered", "quantity_received"):
        out[(s, p)] += float(max(ordered - received, 0))
    return out


def last_sale_map(*, store_ids: list[int]) -> dict[tuple[int, int], date]:
    return {
        (r["store_id"], r["product_id"]): r["last"]
        for r in SalesDaily.objects.filter(store_id__in=store_ids, units__gt=0)
        .values("store_id", "product_id")
        .annotate(last=Max("date"))
    }


def suggestion_list(*, user, status: str = "open", store_id=None, kind: str = "") -> QuerySet[ReorderSuggestion]:
    qs = ReorderSuggestion.objects.for_user(user).select_related(
        "store", "product", "supplier", "source_store", "purchase_order"
    )
    if status == "open":
        qs = qs.filter(status__in=[ReorderSuggestion.Status.OPEN, ReorderSuggestion.Status.ACCEPTED])
    elif status:
        qs = qs.filter(status=status)
    if store_id:
        qs = qs.filter(store_id=store_id)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("kind", "store__code", "-margin_at_risk", "product__sku")


CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}


def money_in(amount: Decimal, currency: str) -> str:
    """`£37.20` / `€37.20` in the store's currency (`CHF 37.20` for one without a symbol here)."""
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{amount:,.2f}" if symbol else f"{currency} {amount:,.2f}"


def minimum_order_shortfalls(*, store_ids: list[int], accepted_only: bool = False) -> list[dict]:
    """Supplier × store groups of purchase lines whose value is below the supplier's minimum order value.

    A group with accepted lines is judged on them (the draft purchase order would be made of exactly those);
    one with none on its suggested (open) lines. ``accepted_only``: only the groups a draft order would be made
    from now. Each row: store, supplier, basis ("accepted" / "suggested"), total, minimum, short, message."""
    statuses = [ReorderSuggestion.Status.ACCEPTED] + ([] if accepted_only else [ReorderSuggestion.Status.OPEN])
    rows = (
        ReorderSuggestion.objects.filter(
            store_id__in=store_ids, kind=ReorderSuggestion.Kind.PURCHASE, status__in=statuses
        )
        .annotate(supplier_key=Coalesce("supplier_id", "product__supplier_id"))
        .exclude(supplier_key=None)
        .values("store_id", "supplier_key", "status")
        .annotate(total=Sum(F("quantity") * F("unit_cost"), output_field=DecimalField(max_digits=18, decimal_places=4)))
    )
    groups: dict[tuple[int, int], dict[str, Decimal]] = defaultdict(dict)
    for r in rows:
        groups[(r["store_id"], r["supplier_key"])][r["status"]] = r["total"] or Decimal("0")
    stores = Store.objects.in_bulk({s for s, _ in groups})
    suppliers = Supplier.objects.in_bulk({p for _, p in groups})
    out = []
    for (store_id, supplier_id), totals in groups.items():
        store, supplier = stores[store_id], suppliers[supplier_id]
        basis = "accepted" if ReorderSuggestion.Status.ACCEPTED in totals else "suggested"
        total = totals.get(ReorderSuggestion.Status.ACCEPTED, totals.get(ReorderSuggestion.Status.OPEN))
        total = total.quantize(Decimal("0.01"))  # type: ignore[union-attr]  # a group has one of the two
        minimum = supplier.min_order_value
        if not minimum or total >= minimum:
            continue
        short = minimum - total
        out.append(
            {
                "store": store,
                "supplier": supplier,
                "basis": basis,
                "total": total,
                "minimum": minimum,
                "short": short,
                "message": (
                    f"{supplier.name} · {store.code}: {basis} lines {money_in(total, store.currency)}, "
                    f"{money_in(short, store.currency)} below the minimum order of "
                    f"{money_in(minimum, store.currency)}"
                ),
            }
        )
    return sorted(out, key=lambda r: (r["store"].code, r["supplier"].name))


def _alerts(*, user, store_id: int | None = None) -> QuerySet[StockAlert]:
    # Low stock is inventory's figure (inventory.selectors.low_stock), live and with what is on order; the
    # plan's own low-stock rows would count another thing under the same name.
    qs = StockAlert.objects.for_user(user).exclude(kind=StockAlert.Kind.LOW_STOCK)
    return qs.filter(store_id=store_id) if store_id else qs


LOW_COVERED = "low_stock_covered"
LOW_LABELS = {StockAlert.Kind.LOW_STOCK.value: "low stock", LOW_COVERED: "low stock, covered by orders"}


class LowStockAlert:
    """A line of inventory's low stock shown among the alerts, with a StockAlert's face (store, product,
    kind, severity, message): to order is "soon" (2), covered by what is on order is "review" (3)."""

    def __init__(self, level: StockLevel):
        self.level, self.store, self.product = level, level.store, level.product
        self.store_id, self.product_id, self.on_hand = level.store_id, level.product_id, level.on_hand
        self.kind = LOW_COVERED if level.covered else StockAlert.Kind.LOW_STOCK.value  # type: ignore[attr-defined]  # annotated by low_stock_levels
        self.severity = 3 if level.covered else 2  # type: ignore[attr-defined]  # annotated by low_stock_levels
        self.message = _low_message(level)

    def get_kind_display(self) -> str:
        return LOW_LABELS[self.kind]


def _low_message(level: StockLevel) -> str:
    def n(value) -> str:
        return f"{value.normalize():f}"

    held = f"{n(level.on_hand)} on hand" + (f", minimum {n(level.min_qty)}" if level.min_qty is not None else "")
    if not level.on_order:  # type: ignore[attr-defined]  # annotated by low_stock_levels
        return f"{held}; nothing on order."
    due = f", due {level.due:%a %-d %b}" if level.due else ""  # type: ignore[attr-defined]  # annotated by low_stock_levels
    verdict = "that covers it" if level.covered else "not enough to lift it above the minimum"  # type: ignore[attr-defined]  # annotated by low_stock_levels
    return f"{held}; on order: {n(level.on_order)}{due} — {verdict}."  # type: ignore[attr-defined]  # annotated by low_stock_levels


def alert_list(
    *, user, limit: int | None = 50, store_id: int | None = None, low_stock: bool = True
) -> list[StockAlert | LowStockAlert]:
    """The alerts of the user's stores, most urgent first (severity, store, product): the plan's stockout
    risk, season, overstock and dead stock, and (``low_stock``) inventory's low-stock lines."""
    qs = _alerts(user=user, store_id=store_id).select_related("store", "product")
    qs = qs.order_by("severity", "store__code", "product__sku")
    alerts: list[StockAlert | LowStockAlert] = list(qs[:limit] if limit else qs)
    if low_stock:
        lows = low_stock_levels(user=user, store_id=store_id).order_by("covered", "store__code", "product__sku")
        alerts += [LowStockAlert(level) for level in (lows[:limit] if limit else lows)]
        alerts.sort(key=lambda a: (a.severity, a.store.code, a.product.sku))
    return alerts[:limit] if limit else alerts


def alert_counts(*, user, store_id: int | None = None, low_stock: bool = True) -> list[dict]:
    """How many alerts of each kind, most urgent first: [{kind, label, severity, n}] — the same rows as
    :func:`alert_list`, low stock split into to order and covered by orders."""
    labels = dict(StockAlert.Kind.choices)
    rows = _alerts(user=user, store_id=store_id).values("kind").annotate(n=Count("pk"), severity=Min("severity"))
    out = [{**r, "label": labels.get(r["kind"], r["kind"])} for r in rows]
    if low_stock:
        low = inventory_low_stock(user=user, store_id=store_id, limit=0)
        for kind, severity, n in ((StockAlert.Kind.LOW_STOCK.value, 2, low.to_order), (LOW_COVERED, 3, low.covered)):
            if n:
                out.append({"kind": kind, "label": LOW_LABELS[kind], "severity": severity, "n": n})
    return sorted(out, key=lambda r: (r["severity"], r["kind"]))


def digest_recipients() -> list:
    """Owners: users holding the digest permission (or the count-reconcile one), with an e-mail."""
    perms = Permission.objects.filter(
        Q(content_type__app_label="forecasting", codename="receive_forecast_digest")
        | Q(content_type__app_label="inventory", codename="reconcile_stockcount")
    )
    User = get_user_model()
    users = User.objects.filter(Q(user_permissions__in=perms) | Q(groups__permissions__in=perms) | Q(is_superuser=True))
    return list(users.filter(is_active=True).exclude(email="").distinct().order_by("pk"))


DIGEST_LINES = 40  # alerts listed one by one in the morning e-mail; the rest are counted


def digest_context(*, user, trend_days: int = 56, ahead_days: int = 14) -> dict:
    """What the morning e-mail tells one owner about the stores they see: yesterday's sales against the same
    weekday a week before and against what the forecast had said, the alerts to act on (stockout risk, low
    stock, a season coming back) one by one and the others counted, the open reorder lines, and the
    figures of a chart: the last ``trend_days`` of units sold and the next ``ahead_days`` forecast."""
    store_ids = list(stores_visible(user=user).values_list("pk", flat=True))  # for run_covers and latest_run
    yesterday = last_complete_day()
    sales = SalesDaily.objects.for_user(user)

    def sold(day: date) -> dict:
        totals = sales.filter(date=day).aggregate(units=Sum("units"), revenue=Sum("revenue"))
        return {"units": float(totals["units"] or 0), "revenue": totals["revenue"] or 0}

    today, week_before = sold(yesterday), sold(yesterday - timedelta(days=engine.SEASON))
    # The forecast that was current when yesterday began: the latest run that read only days before it.
    before = next(
        (
            r
            for r in _recent_finished_runs()
            if r.history_end < yesterday <= r.history_end + timedelta(days=r.horizon_days) and run_covers(r, store_ids)
        ),
        None,
    )
    said = None
    if before is not None:
        said = (
            DemandForecast.objects.for_user(user)
            .filter(run=before, date=yesterday)
            .aggregate(units=Sum("yhat"))["units"]
        )
    counts = alert_counts(user=user)
    act = [a for a in alert_list(user=user, limit=None) if a.severity <= 2]
    open_lines = ReorderSuggestion.objects.for_user(user).filter(status=ReorderSuggestion.Status.OPEN)
    buys = open_lines.filter(kind=ReorderSuggestion.Kind.PURCHASE).aggregate(n=Count("pk"), cash=Sum("cash_needed"))
    run = latest_run(store_ids=store_ids) or latest_run()
    ahead = []
    if run is not None:
        rows = (
            DemandForecast.objects.for_user(user)
            .filter(run=run, date__gt=run.history_end)
            .filter(date__lte=run.history_end + timedelta(days=ahead_days))
            .values("date")
            .annotate(units=Sum("yhat"))
            .order_by("date")
        )
        ahead = [(r["date"], float(r["units"])) for r in rows]
    return {
        "yesterday": yesterday,
        "sold": today,
        "week_before": week_before,
        "change": (today["units"] / week_before["units"] - 1) if week_before["units"] else None,
        "forecast_said": said,
        "forecast_off": (today["units"] / said - 1) if said else None,  # > 0: more sold than forecast
        "act_now": list(act[:DIGEST_LINES]),
        "act_total": sum(c["n"] for c in counts if c["severity"] <= 2),
        "act_counts": [c for c in counts if c["severity"] <= 2],
        "review_counts": [c for c in counts if c["severity"] > 2],
        "alerts_total": sum(c["n"] for c in counts),
        "buy_lines": buys["n"] or 0,
        "buy_cash": buys["cash"] or 0,
        "transfer_lines": open_lines.filter(kind=ReorderSuggestion.Kind.TRANSFER).count(),
        "trend": sales_trend(store_ids=store_ids, product_id=None, days=trend_days, end=yesterday),
        "ahead": ahead,
    }


def sales_trend(*, store_ids: list[int], product_id: int | None, days: int, end: date | None = None) -> list[dict]:
    end = end or timezone.localdate()
    qs = SalesDaily.objects.filter(store_id__in=store_ids, date__gt=end - timedelta(days=days), date__lte=end)
    if product_id:
        qs = qs.filter(product_id=product_id)
    return [
        {"date": r["date"], "units": float(r["units"] or 0), "revenue": r["revenue"] or 0}
        for r in qs.values("date").annotate(units=Sum("units"), revenue=Sum("revenue")).order_by("date")
    ]
