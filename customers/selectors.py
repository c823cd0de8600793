"""Read queries over customers and the points ledger."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max, QuerySet
from django.utils import timezone

from .models import Customer, CustomerModelRun, CustomerPrediction, PointsEntry
from .services import PointsLotBook, point_value

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
    cache_key = "customers:points_walk:" + hashlib.sha256(signature.encode()).hexdigest()
    flows = cache.get(cache_key)
    if flows is None:
        flows = [dict(f) for f in _liability_walk(moments=moments, store_ids=store_ids)]
        cache.set(cache_key, flows, 600)
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
    data = points_outstanding(days=None if day is None else [day], as_of=as_of, store_ids=store_ids)[key]
    return _liability_summary(data, day=day, as_of=as_of)


def _liability_summary(data: dict, *, day: date | None, as_of: datetime | None = None) -> dict:
    by_store = {sid: f["outstanding"] for sid, f in data.items()}
    total = sum(by_store.values())
    value = point_value()
    return {
        # day is given whenever as_of is not (points_liability and the monthly report see to it).
        "as_of": as_of or liability_day_end(day=day, tz=timezone.get_default_timezone()),  # type: ignore[arg-type]
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
        month_total: dict = {"month": month, "day": month_day, **zero}
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
# Customers: visibility (the list, detail and segments read sales: reports.customer_selectors)


def customers_visible(*, user) -> QuerySet[Customer]:
    """Customers of the stores the user may see (every customer with inventory.view_all_stores)."""
    return Customer.objects.for_user(user).select_related("tier", "home_store")


# --------------------------------------------------------------------------------------------------
# Model runs and predictions (the tables stay here; forecasting.customer_models writes them)


def latest_run() -> CustomerModelRun | None:
    """The finished run whose predictions the pages read: a run as of an earlier day (backdated) never is."""
    return (
        CustomerModelRun.objects.filter(status=CustomerModelRun.Status.DONE, backdated=False)
        .order_by("-finished_at", "-id")
        .first()
    )


def predictions_latest() -> QuerySet[CustomerPrediction]:
    run = latest_run()
    if run is None:
        return CustomerPrediction.objects.none()
    return run.predictions.select_related("customer", "customer__home_store", "customer__tier")
