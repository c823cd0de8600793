"""Read queries behind the customer models and the churn figure: loyalty sales and stock as frames for
forecasting.customer_engine, and RFM segments with churn risk per customer (the one churn figure of every
page and the API). Moved from customers/selectors.py: they read sales, which sits above customers."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pandas as pd
from django.core.cache import cache
from django.db.models import Count, Max, Min, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from customers.models import Customer
from customers.selectors import latest_run
from inventory.models import StockLevel, StockMovement
from sales.models import Sale, SaleLine

from . import customer_engine

# --------------------------------------------------------------------------------------------------
# Customers: RFM segments and the churn figure


def customer_summary_frame(*, as_of: date | None = None) -> pd.DataFrame:
    """Per customer: purchase days, net spend, first / last purchase day (one aggregate query)."""
    qs = Sale.objects.filter(customer__isnull=False, kind="sale")
    if as_of:
        qs = qs.filter(local_date__lte=as_of)
    rows = list(
        qs.values("customer_id")
        .annotate(
            n_days=Count("local_date", distinct=True),
            first=Min("local_date"),
            last=Max("local_date"),
            gross=Sum("total"),
        )
        .order_by()
    )
    returns = dict(
        Sale.objects.filter(customer__isnull=False, kind="return")
        .values("customer_id")
        .annotate(t=Sum("total"))
        .order_by()
        .values_list("customer_id", "t")
    )
    if not rows:
        return pd.DataFrame(columns=["n_days", "total", "first_date", "last_date", "frequency", "recency", "T"])
    frame = pd.DataFrame(rows).set_index("customer_id")
    frame["total"] = frame["gross"].astype(float) + frame.index.map(lambda c: float(returns.get(c) or 0))
    frame["first_date"] = pd.to_datetime(frame["first"])
    frame["last_date"] = pd.to_datetime(frame["last"])
    ref = pd.Timestamp(as_of or timezone.localdate())
    frame["frequency"] = (frame["n_days"] - 1).astype(float)
    frame["recency"] = (frame["last_date"] - frame["first_date"]) / pd.Timedelta(days=1)
    frame["T"] = (ref - frame["first_date"]) / pd.Timedelta(days=1)
    return frame[["n_days", "total", "first_date", "last_date", "frequency", "recency", "T"]]


def customer_segments(*, as_of: date | None = None) -> pd.DataFrame:
    """RFM scores, segment and churn risk per customer with a purchase.

    The churn figure is customer_engine.churn_risk (columns churn_risk, churn_source, churn_band): the current
    model run's churn risk (P(no purchase in the next 90 days)) for every customer it scored, the heuristic
    otherwise.
    Every page reads a customer's churn from here (customer_churn for one customer), so the list, the
    detail page and the insights show one figure with one meaning.
    """
    as_of = as_of or timezone.localdate()
    run = latest_run()
    # Cached for a few minutes, keyed by what changes the answer: the day, the newest sale, the run.
    key = f"customers:segments:v3:{as_of}:{Sale.objects.aggregate(m=Max('id'))['m']}:{run.pk if run else 0}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    summary = customer_summary_frame(as_of=as_of)
    seg = customer_engine.rfm_segments(summary, as_of=pd.Timestamp(as_of))
    if seg.empty:
        for column in ("churn_risk", "churn_source", "churn_band"):
            seg[column] = []
        return seg
    p_alive = model_risk = None
    if run is not None:
        model_risk = pd.Series(
            dict(run.predictions.exclude(churn_risk=None).values_list("customer_id", "churn_risk")), dtype=float
        )
        if model_risk.empty:  # a run from before the churn model: BG/NBD's P(alive) where it means something
            p_alive = pd.Series(
                dict(run.predictions.exclude(p_alive=None).values_list("customer_id", "p_alive")), dtype=float
            )
    churn = customer_engine.churn_risk(summary, as_of=pd.Timestamp(as_of), p_alive=p_alive, model_risk=model_risk)
    seg = seg.join(churn)
    seg["churn_band"] = seg["churn_risk"].map(churn_band)
    seg.attrs["churn_source"] = "model" if (seg["churn_source"] == "model").any() else "heuristic"
    seg["total"] = summary["total"]
    seg["n_days"] = summary["n_days"]
    seg["last_date"] = summary["last_date"]
    cache.set(key, seg, 300)
    return seg


CHURN_BANDS = {"high": (0.7, 1.01), "medium": (0.4, 0.7), "low": (0.0, 0.4)}


def churn_band(risk: float | None) -> str:
    """The band of a churn risk (CHURN_BANDS): high from 70 %, medium from 40 %, else low."""
    if risk is None or pd.isna(risk):
        return ""
    return next((band for band, (lo, hi) in CHURN_BANDS.items() if lo <= risk < hi), "high")


def customer_churn(*, customer_id: int, segments: pd.DataFrame | None = None) -> dict | None:
    """One customer's churn figure: risk (0–1), band, source ("model" / "heuristic") and RFM segment.

    None for a customer without a purchase. Read from customer_segments, the one place it is computed.
    """
    seg = customer_segments() if segments is None else segments
    if customer_id not in seg.index:
        return None
    row = seg.loc[customer_id]
    return {
        "risk": float(row["churn_risk"]),
        "band": row["churn_band"],
        "source": row["churn_source"],
        "segment": row["segment"],
    }


# --------------------------------------------------------------------------------------------------
# Frames for the models (customer_engine) and the stock pages


def transactions_frame(*, until: date | None = None, since: date | None = None) -> pd.DataFrame:
    """One row per loyalty receipt: customer_id, store_id, date, amount (net, returns negative), discount."""
    qs = Sale.objects.filter(customer__isnull=False)
    if until:
        qs = qs.filter(local_date__lte=until)
    if since:
        qs = qs.filter(local_date__gte=since)
    rows = qs.values_list("customer_id", "store_id", "local_date", "total", "discount_total").order_by()
    frame = pd.DataFrame.from_records(list(rows), columns=["customer_id", "store_id", "date", "amount", "discount"])
    if frame.empty:
        return frame.astype({"amount": float, "discount": float}).assign(date=pd.to_datetime(frame["date"]))
    frame["date"] = pd.to_datetime(frame["date"])
    frame["amount"] = frame["amount"].astype(float)
    frame["discount"] = frame["discount"].astype(float)
    return frame


def stock_frames(*, start: date, end: date, store_ids=None, product_ids=None) -> pd.DataFrame:
    """Closing on-hand per store × product × day in [start, end], from the stock ledger."""
    tz = timezone.get_current_timezone()
    first = timezone.make_aware(datetime.combine(start, time.min), tz)
    last = timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min), tz)
    qs = StockMovement.objects.all()
    if store_ids is not None:
        qs = qs.filter(store_id__in=list(store_ids))
    if product_ids is not None:
        qs = qs.filter(product_id__in=list(product_ids))
    opening = pd.DataFrame.from_records(
        list(
            qs.filter(occurred_at__lt=first)
            .values_list("store_id", "product_id")
            .annotate(q=Sum("quantity"))
            .order_by()
        ),
        columns=["store_id", "product_id", "qty"],
    )
    daily = pd.DataFrame.from_records(
        list(
            qs.filter(occurred_at__gte=first, occurred_at__lt=last)
            .annotate(day=TruncDate("occurred_at", tzinfo=tz))
            .values_list("store_id", "product_id", "day")
            .annotate(q=Sum("quantity"))
            .order_by()
        ),
        columns=["store_id", "product_id", "date", "qty"],
    )
    opening["qty"] = opening["qty"].astype(float)
    daily["qty"] = daily["qty"].astype(float)
    return customer_engine.closing_on_hand(opening, daily, start=pd.Timestamp(start), end=pd.Timestamp(end))


def stocked_pairs(*, until: date, store_ids=None, product_ids=None) -> pd.DataFrame:
    """Store × product pairs the store stocks: a stock receipt (a positive movement) up to `until`, or a
    minimum (reorder point) set. The stockout exposure counts empty shelves only there."""
    tz = timezone.get_current_timezone()
    last = timezone.make_aware(datetime.combine(until + timedelta(days=1), time.min), tz)
    moves = StockMovement.objects.filter(quantity__gt=0, occurred_at__lt=last)
    levels = StockLevel.objects.exclude(min_qty=None)
    if store_ids is not None:
        moves, levels = moves.filter(store_id__in=list(store_ids)), levels.filter(store_id__in=list(store_ids))
    if product_ids is not None:
        moves, levels = moves.filter(product_id__in=list(product_ids)), levels.filter(product_id__in=list(product_ids))
    pairs = set(moves.values_list("store_id", "product_id").distinct().order_by())
    pairs |= set(levels.values_list("store_id", "product_id"))
    return pd.DataFrame(sorted(pairs), columns=["store_id", "product_id"])


def exposure_lines_frame(*, start: date, end: date) -> pd.DataFrame:
    """Loyalty customers' purchase lines in [start, end]: customer, store, product, day, amount."""
    rows = (
        SaleLine.objects.filter(
            sale__customer__isnull=False, sale__kind="sale", sale__local_date__gte=start, sale__local_date__lte=end
        )
        .values_list("sale__customer_id", "sale__store_id", "product_id", "sale__local_date", "line_total")
        .order_by()
    )
    frame = pd.DataFrame.from_records(list(rows), columns=["customer_id", "store_id", "product_id", "date", "amount"])
    frame["amount"] = frame["amount"].astype(float)
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def home_stores() -> pd.Series:
    """Customer → home store; a customer without one gets the store they shop at most."""
    home = pd.Series(dict(Customer.objects.exclude(home_store=None).values_list("pk", "home_store_id")), dtype="Int64")
    counts = (
        Sale.objects.filter(customer__isnull=False, customer__home_store__isnull=True)
        .values_list("customer_id", "store_id")
        .annotate(n=Count("id"))
        .order_by("customer_id", "-n")
    )
    for cid, sid, _n in counts:
        if cid not in home.index:
            home.loc[cid] = sid
    return home
