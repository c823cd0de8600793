"""Read queries over customers and the points ledger."""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pandas as pd
from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from . import engine
from .models import Customer, CustomerModelRun, CustomerPrediction, PointsEntry
from .services import PointsLotBook, point_value, tier_expected, tier_window_days

# --------------------------------------------------------------------------------------------------
# Points liability: the one figure "points outstanding", at a moment or at the end of a day


LIABILITY_FLOWS = ("earned", "redeemed", "expired", "adjusted")


def liability_day_end(*, day: date, tz) -> datetime:
    """The moment a day's liability is taken: the last microsecond of `day` in the time zone `tz`."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz) - timedelta(microseconds=1)


def _liability_walk(*, moments: list[datetime], store_ids=None) -> list[dict]:
    """Liability movements by (store id, flow) in each interval (moments[j-1], moments[j]] (j = 0: all before).

    Each customer's ledger is replayed with PointsLotBook, so earned points stop being outstanding at
    their expires_at whether or not an "expire" entry was posted (posted entries only settle them).
    Σ of all movements up to moments[j] is the points outstanding at moments[j].
    """
    flows: list[dict] = [defaultdict(int) for _ in moments]
    if not moments:
        return flows
    qs = PointsEntry.objects.filter(occurred_at__lte=moments[-1])
    if store_ids is not None:
        # A store's figure depends on its customers' whole ledger: a redemption elsewhere spends its lots.
        qs = qs.filter(customer_id__in=PointsEntry.objects.filter(store_id__in=list(store_ids)).values("customer_id"))
    rows = qs.order_by("customer_id", "occurred_at", "id").values_list(
        "customer_id", "kind", "points", "store_id", "occurred_at", "expires_at"
    )
    current, book, k = None, PointsLotBook(), 0

    def lapse(until: datetime, into: dict) -> None:
        for store_id, points in book.expire_until(until):
            into[(store_id, "expired")] -= points

    for customer_id, kind, points, store_id, occurred_at, expires_at in rows.iterator(chunk_size=20000):
        if customer_id != current:
            while current is not None and k < len(moments):
                lapse(moments[k], flows[k])
                k += 1
            current, book, k = customer_id, PointsLotBook(), 0
        while moments[k] < occurred_at:
            lapse(moments[k], flows[k])
            k += 1
        lapse(occurred_at, flows[k])
        for flow, sid, delta in book.apply(
            kind=kind, points=points, store_id=store_id, occurred_at=occurred_at, expires_at=expires_at
        ):
            flows[k][(sid, flow)] += delta
    while current is not None and k < len(moments):
        lapse(moments[k], flows[k])
        k += 1
    return flows


def points_outstanding(*, days: list[date] | None = None, as_of: datetime | None = None, store_ids=None) -> dict:
    """THE points-outstanding figure, per issuing store, at the end of each of `days` (or at one moment).

    The moment convention: the end of the day (its last microsecond) in each store's own time zone —
    the same local day the sales journal uses; points on no store (manual adjustments) use the chain's
    TIME_ZONE. With `as_of`, every store is taken at that one moment instead. Outstanding = earned
    (+ positive adjustments) − redeemed − negative adjustments − points past their expires_at, whether
    or not the expiry job has posted an "expire" entry yet. Earned points and their expiry belong to the
    store that issued them; redemptions to the store where they were spent, so a store can be negative.
    `store_ids=None` means every store and the points on no store; otherwise only those stores.

    Returns {key: {store id: {earned, redeemed, expired, adjusted, outstanding}}}, key = each day (or
    as_of); the flows are those since the previous key (for the first key: since the beginning).
    Pages, exports and e-mails read points through this function (or points_liability over it).
    """
    Store = apps.get_model("inventory", "Store")
    stores = Store.objects.all() if store_ids is None else Store.objects.filter(pk__in=list(store_ids))
    default_tz = timezone.get_default_timezone()
    tz_of = {s.pk: s.tz for s in stores}
    if store_ids is None:
        tz_of[None] = default_tz
    keys = sorted(set(days or [])) if as_of is None else [as_of]

    def moment(key, tz):
        return key if as_of is not None else liability_day_end(day=key, tz=tz)

    tzs = {str(tz): tz for tz in tz_of.values()} or {str(default_tz): default_tz}
    moments = sorted({moment(key, tz) for key in keys for tz in tzs.values()})
    position = {m: j for j, m in enumerate(moments)}
    # The replay reads the whole ledger, so it is cached, keyed by everything that changes the answer:
    # the ledger (append-only: its size, newest id and last write), the moments, the stores and their zones.
    ledger = PointsEntry.objects.aggregate(n=Count("id"), m=Max("id"), r=Max("recorded_at"))
    signature = repr((ledger, moments, sorted(tz_of.items(), key=str), settings.RETAILOPS["POINTS_EXPIRY_DAYS"]))
    key = "customers:points_walk:" + hashlib.sha256(signature.encode()).hexdigest()
    flows = cache.get(key)
    if flows is None:
        flows = [dict(f) for f in _liability_walk(moments=moments, store_ids=store_ids)]
        cache.set(key, flows, 600)
    seen = sorted({sid for f in flows for sid, _flow in f if sid in tz_of}, key=lambda s: (s is None, s or 0))
    out: dict = {key: {} for key in keys}
    for sid in seen:
        start, balance = 0, 0
        for key in keys:
            end = position[moment(key, tz_of[sid])] + 1
            figures = {flow: sum(flows[j].get((sid, flow), 0) for j in range(start, end)) for flow in LIABILITY_FLOWS}
            balance += sum(figures.values())
            out[key][sid] = {**figures, "outstanding": balance}
            start = end
    return out


def points_liability(
    *, day: date | None = None, as_of: datetime | None = None, store_ids=None, today: date | None = None
) -> dict:
    """Points outstanding and their cash value at the end of `day` (see points_outstanding), by store.

    `as_of` takes every store at one moment instead; with neither, the end of today.
    """
    if day is None and as_of is None:
        day = today or timezone.localdate()
    key = as_of if as_of is not None else day
    data = points_outstanding(days=[day], as_of=as_of, store_ids=store_ids)[key]
    return _liability_summary(data, day=day, as_of=as_of)


def _liability_summary(data: dict, *, day: date | None, as_of: datetime | None = None) -> dict:
    by_store = {sid: f["outstanding"] for sid, f in data.items()}
    total = sum(by_store.values())
    value = point_value()
    return {
        "as_of": as_of or liability_day_end(day=day, tz=timezone.get_default_timezone()),
        "day": day,
        "points": total,
        "value": (Decimal(total) * value).quantize(Decimal("0.01")),
        "by_store": {
            sid: {"points": p, "value": (Decimal(p) * value).quantize(Decimal("0.01"))} for sid, p in by_store.items()
        },
        "point_value": value,
    }


# --------------------------------------------------------------------------------------------------
# Points: liability by store and month, ledger per customer


def month_starts(*, months: int, today: date | None = None) -> list[date]:
    """The first days of the last `months` months, oldest first, ending with the current month."""
    today = today or timezone.localdate()
    first = today.replace(day=1)
    out = []
    for _ in range(max(months, 1)):
        out.append(first)
        first = (first - timedelta(days=1)).replace(day=1)
    return list(reversed(out))


def _month_last_day(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def points_liability_by_month(
    *, months: int = 12, store_ids=None, today: date | None = None, day: date | None = None
) -> dict:
    """Outstanding points and their value at each month end, by store, with the month's flows.

    The figures are points_outstanding at the end of each month's last day (the current month: to the
    end of today), so a month-end row equals points_liability for that day. Rows: month, store,
    earned, redeemed, expired (points that passed their expires_at in the month, posted or not),
    adjusted, outstanding and its value at POINT_VALUE; earned − redeemed − expired + adjusted is the
    month's change in outstanding. With `day`, "at_day" is points_liability(day=day) from the same replay.
    """
    today = today or timezone.localdate()
    starts = month_starts(months=months, today=today)
    opening_day = starts[0] - timedelta(days=1)
    days = [min(_month_last_day(m), today) for m in starts]
    data = points_outstanding(days=[opening_day, *days, *([day] if day else [])], store_ids=store_ids)
    value = point_value()
    store_keys = sorted({sid for per in data.values() for sid in per}, key=lambda s: (s is None, s or 0))
    Store = apps.get_model("inventory", "Store")
    names = {s.pk: s for s in Store.objects.filter(pk__in=[s for s in store_keys if s])}
    zero = {"earned": 0, "redeemed": 0, "expired": 0, "adjusted": 0, "outstanding": 0}
    keys = sorted(data)  # the month ends, the opening day and `day`: flows are since the previous key
    rows, totals = [], []
    for month, month_day in zip(starts, days, strict=True):
        month_total = {"month": month, "day": month_day, **zero}
        between = [k for k in keys if (month_day - timedelta(days=month_day.day)) < k <= month_day]
        for sid in store_keys:
            f = dict(data[month_day].get(sid, zero))
            for flow in LIABILITY_FLOWS:
                f[flow] = sum(data[k].get(sid, zero)[flow] for k in between)
            row = {
                "month": month,
                "store": names.get(sid),
                "store_code": names[sid].code if sid in names else "(no store)",
                "earned": f["earned"],
                "redeemed": -f["redeemed"],
                "expired": -f["expired"],
                "adjusted": f["adjusted"],
                "outstanding": f["outstanding"],
            }
            row["value"] = (Decimal(row["outstanding"]) * value).quantize(Decimal("0.01"))
            rows.append(row)
            for k in ("earned", "redeemed", "expired", "adjusted", "outstanding"):
                month_total[k] += row[k]
        month_total["value"] = (Decimal(month_total["outstanding"]) * value).quantize(Decimal("0.01"))
        month_total["as_of"] = liability_day_end(day=month_day, tz=timezone.get_default_timezone())
        totals.append(month_total)
    return {
        "rows": rows,
        "months": totals,
        "point_value": value,
        "stores": [names.get(s) for s in store_keys],
        "at_day": _liability_summary(data[day], day=day) if day else None,
    }


LIABILITY_HEADER = ["Month", "Store", "Earned", "Redeemed", "Expired", "Adjusted", "Outstanding points", "Value"]


def points_liability_export_rows(data: dict) -> list[list]:
    return [
        [
            r["month"].strftime("%Y-%m"),
            r["store_code"],
            r["earned"],
            r["redeemed"],
            r["expired"],
            r["adjusted"],
            r["outstanding"],
            r["value"],
        ]
        for r in data["rows"]
    ]


def points_ledger(*, customer: Customer, limit: int = 200) -> list[PointsEntry]:
    """The customer's ledger, newest first, with a running balance (computed oldest first)."""
    entries = list(customer.points_entries.select_related("store").order_by("occurred_at", "id"))
    running = 0
    for e in entries:
        running += e.points
        e.balance_after = running
    return list(reversed(entries))[:limit]


# --------------------------------------------------------------------------------------------------
# Customers: visibility, list with segments, detail


def customers_visible(*, user) -> QuerySet[Customer]:
    """Customers of the stores the user may see (every customer with inventory.view_all_stores)."""
    qs = Customer.objects.select_related("tier", "home_store")
    if user.has_perm("inventory.view_all_stores"):
        return qs
    Store = apps.get_model("inventory", "Store")
    visible = Store.objects.filter(memberships__user=user)
    return qs.filter(home_store__in=visible)


def customer_summary_frame(*, as_of: date | None = None) -> pd.DataFrame:
    """Per customer: purchase days, net spend, first / last purchase day (one aggregate query)."""
    # Sales live in a higher app: read them through the app registry, never by importing sales.
    Sale = apps.get_model("sales", "Sale")
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

    The churn figure is engine.churn_risk (columns churn_risk, churn_source, churn_band): the latest
    finished model run's 1 − P(alive) for customers with a repeat purchase, the heuristic otherwise.
    Every page reads a customer's churn from here (customer_churn for one customer), so the list, the
    detail page and the insights show one figure with one meaning.
    """
    as_of = as_of or timezone.localdate()
    run = latest_run()
    Sale = apps.get_model("sales", "Sale")
    # Cached for a few minutes, keyed by what changes the answer: the day, the newest sale, the run.
    key = f"customers:segments:v2:{as_of}:{Sale.objects.aggregate(m=Max('id'))['m']}:{run.pk if run else 0}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    summary = customer_summary_frame(as_of=as_of)
    seg = engine.rfm_segments(summary, as_of=pd.Timestamp(as_of))
    if seg.empty:
        for column in ("churn_risk", "churn_source", "churn_band"):
            seg[column] = []
        return seg
    p_alive = None
    if run is not None:
        p_alive = pd.Series(
            dict(run.predictions.exclude(p_alive=None).values_list("customer_id", "p_alive")), dtype=float
        )
    churn = engine.churn_risk(summary, as_of=pd.Timestamp(as_of), p_alive=p_alive)
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


def customer_list(
    *, user, search: str = "", tier_id=None, store_id=None, segment: str = "", churn: str = "", with_pii: bool = False
) -> tuple[QuerySet[Customer], pd.DataFrame]:
    """Customers the user may see, filtered; returns (queryset, segments frame for the page rows).

    The search matches the code always, and name / phone / e-mail only for users who may see them —
    otherwise a search would leak personal data by what it finds.
    """
    qs = customers_visible(user=user).filter(merged_into__isnull=True)
    if search:
        q = Q(code__icontains=search)
        if with_pii:
            q |= Q(name__icontains=search) | Q(email__icontains=search) | Q(phone__icontains=search)
        qs = qs.filter(q)
    if tier_id:
        qs = qs.filter(tier_id=tier_id)
    if store_id:
        qs = qs.filter(home_store_id=store_id)
    segments = customer_segments()
    if segment:
        qs = qs.filter(pk__in=[int(i) for i in segments.index[segments["segment"] == segment]])
    if churn in CHURN_BANDS:
        lo, hi = CHURN_BANDS[churn]
        mask = (segments["churn_risk"] >= lo) & (segments["churn_risk"] < hi)
        qs = qs.filter(pk__in=[int(i) for i in segments.index[mask]])
    return qs.order_by("code"), segments


def customer_detail_data(*, customer: Customer) -> dict:
    """Purchases, favourite products, tier history, points ledger, latest predictions of one customer."""
    # Sales live in a higher app: read them through the app registry, never by importing sales.
    Sale = apps.get_model("sales", "Sale")
    SaleLine = apps.get_model("sales", "SaleLine")
    sales = list(Sale.objects.filter(customer=customer).select_related("store").order_by("-occurred_at")[:50])
    totals = Sale.objects.filter(customer=customer).aggregate(
        spend=Sum("total"),
        receipts=Count("id"),
        discount=Sum("discount_total"),
        first=Min("local_date"),
        last=Max("local_date"),
    )
    favourites = list(
        SaleLine.objects.filter(sale__customer=customer, sale__kind="sale")
        .values("product__sku", "product__name")
        .annotate(units=Sum("quantity"), spend=Sum("line_total"), receipts=Count("sale", distinct=True))
        .order_by("-receipts", "-spend")[:10]
    )
    mix = {
        r["price_type"]: r["v"] or Decimal("0")
        for r in SaleLine.objects.filter(sale__customer=customer, sale__kind="sale")
        .values("price_type")
        .annotate(v=Sum("line_total"))
        .order_by()
    }
    window = tier_window_days()
    now = timezone.now()
    qualifying = Sale.objects.filter(
        customer=customer, occurred_at__gt=now - timedelta(days=window), occurred_at__lte=now
    ).aggregate(s=Sum("total"))["s"] or Decimal("0")
    prediction = (
        CustomerPrediction.objects.filter(customer=customer, run__status=CustomerModelRun.Status.DONE)
        .select_related("run")
        .order_by("-run__finished_at", "-run_id")
        .first()
    )
    return {
        "sales": sales,
        "totals": totals,
        "favourites": favourites,
        "mix": mix,
        "mix_total": sum(mix.values(), Decimal("0")),
        "tier_changes": list(customer.tier_changes.select_related("from_tier", "to_tier").order_by("-changed_at")[:50]),
        "ledger": points_ledger(customer=customer),
        "prediction": prediction,
        "churn": customer_churn(customer_id=customer.pk),
        "qualifying_spend": qualifying,
        "tier_window_days": window,
        "tier_rule": tier_expected(spend=qualifying),
        "merged": list(customer.merged.all()),
    }


# --------------------------------------------------------------------------------------------------
# Insights


def insights(*, months: int = 12, store_id=None, today: date | None = None) -> dict:
    """The insights page: RFM segments, repeat rate by store × month, MRP vs DP share, points flows, churn."""
    Sale = apps.get_model("sales", "Sale")
    SaleLine = apps.get_model("sales", "SaleLine")
    starts = month_starts(months=months, today=today)
    since = starts[0]
    seg = customer_segments(as_of=today)
    segments = []
    if not seg.empty:
        grouped = seg.groupby("segment").agg(
            customers=("r", "size"), spend=("total", "sum"), risk=("churn_risk", "mean")
        )
        for name in engine.SEGMENTS:
            if name in grouped.index:
                g = grouped.loc[name]
                segments.append(
                    {
                        "segment": name,
                        "customers": int(g["customers"]),
                        "spend": Decimal(str(round(g["spend"], 2))),
                        "risk": float(g["risk"]),
                    }
                )

    sales = Sale.objects.filter(customer__isnull=False, kind="sale", local_date__gte=since)
    if store_id:
        sales = sales.filter(store_id=store_id)
    visits = (
        sales.annotate(month=TruncMonth("local_date"))
        .values("store_id", "month", "customer_id")
        .annotate(n=Count("local_date", distinct=True))
        .order_by()
    )
    per: dict = defaultdict(lambda: [0, 0])
    for r in visits:
        key = (r["store_id"], r["month"])
        per[key][0] += 1
        per[key][1] += 1 if r["n"] >= 2 else 0
    Store = apps.get_model("inventory", "Store")
    stores = {s.pk: s for s in Store.objects.filter(pk__in={k[0] for k in per})}
    repeat_rows = []
    for sid in sorted(stores, key=lambda s: stores[s].code):
        cells = []
        for m in starts:
            c, rep = per.get((sid, m), (0, 0))
            cells.append({"month": m, "customers": c, "repeat": rep, "rate": (rep / c) if c else None})
        repeat_rows.append({"store": stores[sid], "cells": cells})
    chain_repeat = []
    for m in starts:
        c = sum(v[0] for k, v in per.items() if k[1] == m)
        rep = sum(v[1] for k, v in per.items() if k[1] == m)
        chain_repeat.append({"month": m, "customers": c, "rate": (rep / c) if c else None})

    lines = SaleLine.objects.filter(sale__kind="sale", sale__local_date__gte=since)
    if store_id:
        lines = lines.filter(sale__store_id=store_id)
    mix: dict = defaultdict(lambda: defaultdict(Decimal))
    for r in (
        lines.annotate(month=TruncMonth("sale__local_date"))
        .values("month", "price_type", member=Q(sale__customer__isnull=False))
        .annotate(v=Sum("line_total"))
        .order_by()
    ):
        mix[r["month"]][(r["price_type"], bool(r["member"]))] += r["v"] or Decimal("0")
    mix_rows = []
    for m in starts:
        cell = mix.get(m, {})
        total = sum(cell.values(), Decimal("0"))
        by_type = defaultdict(Decimal)
        for (ptype, _member), v in cell.items():
            by_type[ptype] += v
        member_total = sum((v for (p, mem), v in cell.items() if mem), Decimal("0"))
        member_mrp = sum((v for (p, mem), v in cell.items() if mem and p == "mrp"), Decimal("0"))
        walk_total = total - member_total
        walk_mrp = by_type.get("mrp", Decimal("0")) - member_mrp
        mix_rows.append(
            {
                "month": m,
                "total": total,
                "mrp": by_type.get("mrp", Decimal("0")),
                "dp": by_type.get("dp", Decimal("0")),
                "promo": by_type.get("promo", Decimal("0")) + by_type.get("other", Decimal("0")),
                "mrp_share": float(by_type.get("mrp", 0) / total) if total else None,
                "dp_share": float(by_type.get("dp", 0) / total) if total else None,
                "member_mrp_share": float(member_mrp / member_total) if member_total else None,
                "walkin_mrp_share": float(walk_mrp / walk_total) if walk_total else None,
            }
        )

    entries = PointsEntry.objects.filter(occurred_at__date__gte=since)
    if store_id:
        entries = entries.filter(store_id=store_id)
    flows: dict = defaultdict(lambda: defaultdict(int))
    for r in (
        entries.annotate(month=TruncMonth("occurred_at")).values("month", "kind").annotate(p=Sum("points")).order_by()
    ):
        month = r["month"].date() if isinstance(r["month"], datetime) else r["month"]
        flows[month][r["kind"]] += int(r["p"] or 0)
    points_rows = []
    for m in starts:
        f = flows.get(m, {})
        earned = f.get("earn", 0)
        points_rows.append(
            {
                "month": m,
                "earned": earned,
                "redeemed": -f.get("redeem", 0),
                "expired": -f.get("expire", 0),
                "adjusted": f.get("adjust", 0),
                "redeem_rate": (-f.get("redeem", 0) / earned) if earned else None,
            }
        )

    churn = []
    at_risk = []
    if not seg.empty:
        for band, (lo, hi) in CHURN_BANDS.items():
            mask = (seg["churn_risk"] >= lo) & (seg["churn_risk"] < hi)
            churn.append(
                {
                    "band": band,
                    "customers": int(mask.sum()),
                    "spend": Decimal(str(round(seg.loc[mask, "total"].sum(), 2))),
                }
            )
        valuable = seg[(seg["churn_risk"] >= 0.4) & (seg["n_days"] >= 2)].sort_values("total", ascending=False).head(15)
        by_pk = Customer.objects.in_bulk([int(i) for i in valuable.index])
        for cid, r in valuable.iterrows():
            if int(cid) in by_pk:
                at_risk.append(
                    {
                        "customer": by_pk[int(cid)],
                        "segment": r["segment"],
                        "risk": float(r["churn_risk"]),
                        "spend": Decimal(str(round(r["total"], 2))),
                        "last": r["last_date"].date(),
                    }
                )
    return {
        "months": starts,
        "segments": segments,
        "repeat_rows": repeat_rows,
        "chain_repeat": chain_repeat,
        "mix_rows": mix_rows,
        "points_rows": points_rows,
        "churn": churn,
        "at_risk": at_risk,
        "customers_scored": int(len(seg)),
        "churn_source": seg.attrs.get("churn_source", "heuristic"),
    }


# --------------------------------------------------------------------------------------------------
# Frames for the models (engine) and the stock pages


def transactions_frame(*, until: date | None = None, since: date | None = None) -> pd.DataFrame:
    """One row per loyalty receipt: customer_id, store_id, date, amount (net, returns negative), discount."""
    Sale = apps.get_model("sales", "Sale")
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
    StockMovement = apps.get_model("inventory", "StockMovement")
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
    return engine.closing_on_hand(opening, daily, start=pd.Timestamp(start), end=pd.Timestamp(end))


def exposure_lines_frame(*, start: date, end: date) -> pd.DataFrame:
    """Loyalty customers' purchase lines in [start, end]: customer, store, product, day, amount."""
    SaleLine = apps.get_model("sales", "SaleLine")
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
    Sale = apps.get_model("sales", "Sale")
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


# --------------------------------------------------------------------------------------------------
# Model runs and predictions


def latest_run() -> CustomerModelRun | None:
    return CustomerModelRun.objects.filter(status=CustomerModelRun.Status.DONE).order_by("-finished_at", "-id").first()


def predictions_latest() -> QuerySet[CustomerPrediction]:
    run = latest_run()
    if run is None:
        return CustomerPrediction.objects.none()
    return run.predictions.select_related("customer", "customer__home_store", "customer__tier")


def stock_exposure_list(*, store_ids=None) -> QuerySet[CustomerPrediction]:
    """Customers whose usual products were out when they shopped, by revenue at risk (latest run)."""
    qs = predictions_latest().filter(exposed_visits__gt=0)
    if store_ids is not None:
        qs = qs.filter(customer__home_store_id__in=list(store_ids))
    return qs.order_by("-revenue_at_risk", "customer__code")


def stock_exposure_summary(*, store_ids=None) -> dict:
    qs = stock_exposure_list(store_ids=store_ids)
    agg = qs.aggregate(n=Count("id"), risk=Sum("revenue_at_risk"))
    return {"count": agg["n"] or 0, "revenue_at_risk": agg["risk"] or Decimal("0"), "run": latest_run()}


EXPOSURE_HEADER = [
    "Customer",
    "Home store",
    "Tier",
    "Visits",
    "Visits with a usual product out",
    "Products missed",
    "Revenue at risk",
]


def stock_exposure_export_rows(qs) -> list[list]:
    return [
        [
            p.customer.code,
            p.customer.home_store.code if p.customer.home_store else "",
            p.customer.tier.name if p.customer.tier else "",
            p.visits,
            p.exposed_visits,
            p.products_missed,
            p.revenue_at_risk,
        ]
        for p in qs
    ]


def inventory_link(*, days: int = 182, store_id=None, today: date | None = None) -> dict:
    """Days of cover and stockout days against sales and customers, by store and category (weekly).

    It reads months of the stock ledger, so the answer is cached for a few minutes, keyed by what changes
    it: the window, the store, and the newest sale and stock movement."""
    Sale = apps.get_model("sales", "Sale")
    StockMovement = apps.get_model("inventory", "StockMovement")
    end = today or timezone.localdate()
    newest_sale = Sale.objects.aggregate(m=Max("id"))["m"]
    newest_move = StockMovement.objects.aggregate(m=Max("id"))["m"]
    key = f"customers:inventory_link:{days}:{store_id or 0}:{end}:{newest_sale}:{newest_move}"
    cached = cache.get(key)
    if cached is None:
        cached = _inventory_link(days=days, store_id=store_id, end=end)
        cache.set(key, cached, 600)
    return cached


def _inventory_link(*, days: int, store_id, end: date) -> dict:
    SalesDaily = apps.get_model("sales", "SalesDaily")
    StoreDaily = apps.get_model("sales", "StoreDaily")
    Product = apps.get_model("inventory", "Product")
    Store = apps.get_model("inventory", "Store")
    start = end - timedelta(days=days - 1)
    store_ids = [store_id] if store_id else None
    closing = stock_frames(start=start, end=end, store_ids=store_ids)
    if closing.empty:
        return {"by_store": [], "by_category": [], "panel": pd.DataFrame(), "start": start, "end": end}
    cats = dict(Product.objects.values_list("pk", "category__parent__name"))
    leaf = dict(Product.objects.values_list("pk", "category__name"))
    closing["category"] = closing["product_id"].map(lambda p: cats.get(p) or leaf.get(p) or "Uncategorised")
    sd = SalesDaily.objects.filter(date__gte=start, date__lte=end)
    if store_id:
        sd = sd.filter(store_id=store_id)
    sales = pd.DataFrame.from_records(
        list(sd.values_list("store_id", "product_id", "date", "units", "revenue")),
        columns=["store_id", "product_id", "date", "units", "revenue"],
    ).astype({"units": float, "revenue": float})
    cd = StoreDaily.objects.filter(date__gte=start, date__lte=end)
    if store_id:
        cd = cd.filter(store_id=store_id)
    cust = pd.DataFrame.from_records(
        list(cd.values_list("store_id", "date").annotate(c=Sum("customers")).order_by()),
        columns=["store_id", "date", "customers"],
    )
    sales.attrs["customers"] = cust
    result = engine.inventory_sales_link(closing, sales)
    stores = Store.objects.in_bulk(list(result["by_store"]["store_id"])) if len(result["by_store"]) else {}

    def clean(v):
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else v

    by_store = [
        {**{k: clean(v) for k, v in r.items()}, "store": stores.get(r["store_id"])}
        for r in result["by_store"].to_dict("records")
    ]
    by_category = [{k: clean(v) for k, v in r.items()} for r in result["by_category"].to_dict("records")]
    return {"by_store": by_store, "by_category": by_category, "panel": result["panel"], "start": start, "end": end}
