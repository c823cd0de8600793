"""Read queries of the customer pages that read sales: the customer list and detail, the insights page,
stockout exposure and the inventory ↔ sales link. Moved from customers/selectors.py: reports sits above sales
and forecasting, so it reads them with plain imports."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

import pandas as pd
from django.core.cache import cache
from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from customers.models import Customer, CustomerModelRun, CustomerPrediction, PointsEntry
from customers.selectors import customers_visible, latest_run, month_starts, points_ledger, predictions_latest
from customers.services import tier_expected, tier_window_days
from forecasting import customer_engine
from forecasting.customer_selectors import CHURN_BANDS, customer_churn, customer_segments, stock_frames
from inventory.models import Product, StockMovement, Store
from sales.models import Sale, SaleLine, SalesDaily, StoreDaily

# --------------------------------------------------------------------------------------------------
# Customers: list with segments, detail


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


def customer_list_rows(*, customers, segments: pd.DataFrame) -> list[dict]:
    """One row per customer of a list page (``segments``: :func:`customer_list`'s frame): its segment, churn
    figure (:func:`customer_churn`, the one figure), spend and last purchase — "No purchases", 0 and None for
    a customer who never bought."""
    rows = []
    for c in customers:
        s = segments.loc[c.pk] if c.pk in segments.index else None
        rows.append(
            {
                "customer": c,
                "segment": s["segment"] if s is not None else "No purchases",
                "churn": customer_churn(customer_id=c.pk, segments=segments),
                "spend": s["total"] if s is not None else 0,
                "last": s["last_date"].date() if s is not None else None,
            }
        )
    return rows


# --------------------------------------------------------------------------------------------------
# Insights


def insights(*, months: int = 12, store_id=None, today: date | None = None) -> dict:
    """The insights page: RFM segments, repeat rate by store × month, MRP vs DP share, points flows, churn. With
    `store_id`, every part is that store's: its sales, its points, and its members (home store) for segments and
    churn."""
    starts = month_starts(months=months, today=today)
    since = starts[0]
    seg = customer_segments(as_of=today)
    churn_source = seg.attrs.get("churn_source", "heuristic")
    if store_id:  # segments, churn bands and the at-risk list follow the store filter too: that store's members
        members = Customer.objects.filter(home_store_id=store_id).values_list("pk", flat=True)
        seg = seg[seg.index.isin(set(members))]
    segments = []
    if not seg.empty:
        grouped = seg.groupby("segment").agg(
            customers=("r", "size"), spend=("total", "sum"), risk=("churn_risk", "mean")
        )
        for name in customer_engine.SEGMENTS:
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
        by_type: defaultdict[str, Decimal] = defaultdict(Decimal)
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
        "churn_source": churn_source,
    }


# --------------------------------------------------------------------------------------------------
# Stock exposure and the inventory ↔ sales link


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
    result = customer_engine.inventory_sales_link(closing, sales)
    stores = Store.objects.in_bulk(list(result["by_store"]["store_id"])) if len(result["by_store"]) else {}

    def clean(v):
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else v

    by_store = [
        {**{k: clean(v) for k, v in r.items()}, "store": stores.get(r["store_id"])}
        for r in result["by_store"].to_dict("records")
    ]
    by_category = [{k: clean(v) for k, v in r.items()} for r in result["by_category"].to_dict("records")]
    return {"by_store": by_store, "by_category": by_category, "panel": result["panel"], "start": start, "end": end}


def inventory_link_points(panel: pd.DataFrame, *, limit: int = 1500) -> list[dict]:
    """The scatter of the inventory ↔ sales page from :func:`inventory_link`'s panel: per store × category ×
    week (the first ``limit`` with a stockout share), x = stockout days in % of products, y = revenue in % of
    that series' mean week (0 where the mean is 0), both to one decimal."""
    points: list[dict] = []
    if len(panel):
        sample = panel.dropna(subset=["stockout_share"]).head(limit)
        mean_rev = sample.groupby(["store_id", "category"])["revenue"].transform("mean").replace(0, float("nan"))
        for share, idx in zip(sample["stockout_share"], (sample["revenue"] / mean_rev).fillna(0), strict=True):
            points.append({"x": round(float(share) * 100, 1), "y": round(float(idx) * 100, 1)})
    return points
