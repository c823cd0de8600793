"""The insights report: one read of the chain for a period, put together from the selectors the pages use.

Nothing here computes a figure of its own: each number is read from the function behind the page that shows
it (sales_kpis for the Sales page's KPIs, cash_flow for Cash flow, shrinkage_report for Shrinkage,
inventory_overview for Inventory KPIs, accuracy_over_time for Forecast accuracy, suggestion_list for Reorder,
points_liability and customer insights for Customers), so the report, its PDF and its e-mail say what the
pages say. The page (insights_views), the PDF (insights_pdf) and the weekly e-mail (insights_mail) all render
the dict `insights_report` returns.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import Count, Sum
from django.http import QueryDict
from django.urls import reverse

from customers.selectors import points_liability
from forecasting.models import ReorderSuggestion
from forecasting.selectors import accuracy_over_time, alert_counts, suggestion_list
from inventory.selectors import shrinkage_report
from retailops.money import format_money

from . import customer_selectors
from . import selectors as sel
from .filters import Filters, parse_filters, shift_year

ZERO = Decimal("0")
TOP = 5  # stores, categories and products listed at each end
# A store or category whose revenue fell by more than this on last year (on a base big enough) is flagged.
FALL_FLAG = Decimal("-0.10")


def last_week(today: date) -> tuple[date, date]:
    """The last whole Monday–Sunday week before `today` (what the Monday e-mail reports)."""
    end = today - timedelta(days=today.weekday() + 1)
    return end - timedelta(days=6), end


def week_filters(*, user, today: date) -> Filters:
    """The filters of the weekly e-mail: last week, every store the user sees."""
    start, end = last_week(today)
    params = QueryDict(mutable=True)
    params.update({"period": "custom", "start": start.isoformat(), "end": end.isoformat()})
    return parse_filters(user=user, params=params, today=today)


def shifted(f: Filters, start: date, end: date) -> Filters:
    """The same stores and category over another range (a fresh Filters: no memo of `f` is carried over)."""
    return replace(f, period="custom", start=start, end=end, notices=[])


def previous_period(f: Filters) -> Filters:
    """The range of the same length just before `f`'s."""
    return shifted(f, f.start - timedelta(days=f.days), f.start - timedelta(days=1))


def last_year(f: Filters) -> Filters:
    return shifted(f, shift_year(f.start), shift_year(f.end))


def cash_kind(f: Filters) -> str:
    """The Cash flow page's bucket (reports.views.cashflow_section): weeks up to 120 days, months beyond."""
    return "week" if f.days <= 120 else "month"


def _url(name: str, **params) -> str:
    query = urlencode([(k, v) for k, v in params.items() if v not in (None, "")])
    return reverse(name) + (f"?{query}" if query else "")


def _store_id(f: Filters) -> int | None:
    return f.stores[0].pk if f.store_param and len(f.stores) == 1 else None


# --------------------------------------------------------------------------- sections


def headline(f: Filters) -> dict:
    """Sales, margin and cash of the period against the previous period and last year.

    Sales and margin: sales_kpis (the Sales page's KPIs; "last year" is its own like-for-like comparison);
    the previous period is sales_kpis of the range before. Cash: cash_flow's totals (the Cash flow page)."""
    kpis = sel.sales_kpis(f)
    before = previous_period(f)
    prev = sel.sales_kpis(before)["current"]
    cash = sel.cash_flow(f, cash_kind(f))["totals"]
    cash_prev = sel.cash_flow(before, cash_kind(before))["totals"]
    cash_ly = sel.cash_flow(last_year(f), cash_kind(f))["totals"]
    cur, ly = kpis["current"], kpis["previous"]

    def row(label, key, now, then_prev, then_ly, kind="money"):
        return {
            "label": label,
            "key": key,
            "kind": kind,
            "value": now,
            "previous": then_prev,
            "last_year": then_ly,
            "vs_previous": sel.change_on_base(now, then_prev, count=kind == "count")[0] if kind != "pct" else None,
            "vs_last_year": sel.change_on_base(now, then_ly, count=kind == "count")[0] if kind != "pct" else None,
        }

    rows = [
        row("Net sales", "revenue", cur["revenue"], prev["revenue"], ly["revenue"]),
        row("Units sold", "units", cur["units"], prev["units"], ly["units"], "count"),
        row("Gross profit", "gross_profit", cur["gross_profit"], prev["gross_profit"], ly["gross_profit"]),
        row("Gross margin", "margin", cur["margin"], prev["margin"], ly["margin"], "pct"),
        row("Cash in", "cash_in", cash["cash_in"], cash_prev["cash_in"], cash_ly["cash_in"]),
        row("Purchases paid", "cash_out", cash["out"], cash_prev["out"], cash_ly["out"]),
        row("Net cash", "net_cash", cash["net"], cash_prev["net"], cash_ly["net"]),
    ]
    return {
        "rows": rows,
        "by_key": {r["key"]: r["value"] for r in rows},
        "previous_range": (before.start, before.end),
        "last_year_range": (f.compare_start, f.compare_end),
        "trend": sel.sales_trend(f),
        "cut": kpis["cut"],
    }


def performers(f: Filters) -> dict:
    """Top and under-performing stores (store_comparison), categories (category_performance) and products
    (product_rankings) — the Sales page's tables."""
    stores = sel.store_comparison(f)
    categories = sel.category_performance(f)
    ranks = sel.product_rankings(f, limit=TOP)
    falling = [r for r in stores if r["change"] is not None and r["change"] <= FALL_FLAG]
    return {
        "stores_top": stores[:TOP],
        "stores_bottom": sorted(falling, key=lambda r: r["change"])[:TOP],
        "stores": stores,
        "categories_top": categories[:TOP],
        "categories_bottom": sorted(
            (r for r in categories if r["change"] is not None and r["change"] <= FALL_FLAG), key=lambda r: r["change"]
        )[:TOP],
        "products_top": ranks["by_revenue"],
        "products_under": ranks["under"],
    }


def discrepancies(*, user, f: Filters) -> dict:
    """Count variance by store, category and reason, and the monthly shrinkage trend: shrinkage_report, the
    Shrinkage page's selector, over the same days."""
    report = shrinkage_report(user=user, date_from=f.start, date_to=f.end, store_id=_store_id(f))
    return {
        "total": report["total"],
        "by_store": report["by_store"][:TOP],
        "by_category": report["by_category"][:TOP],
        "by_reason": report["by_reason"],
        "by_month": report["by_month"],
        "repeat": report["repeat_offenders"][:TOP],
        "url": _url("inventory:shrinkage", **{"from": f.start, "to": f.end, "store": _store_id(f)}),
    }


def stock_risk(*, user, f: Filters) -> dict:
    """Stockouts, overstock and dead stock (inventory_overview, the Inventory KPIs page), cash tied up in stock
    and on order (cash_tied, the Cash flow page) and the forecast's stockout alerts (alert_counts, Reorder)."""
    overview = sel.inventory_overview(f)
    counts = alert_counts(user=user, store_id=_store_id(f))
    return {
        "total": overview["total"],
        "stores": overview["stores"],
        "stockouts": overview["stockouts"][:TOP],
        "dead": overview["dead"][:TOP],
        "overstock": overview["overstock"][:TOP],
        "dead_days": overview["dead_days"],
        "tied": sel.cash_tied(f),
        "alerts": counts,
        "stockout_alerts": sum(c["n"] for c in counts if c["kind"] == "stockout_risk"),
    }


def forecast_accuracy(*, user, f: Filters) -> dict:
    """accuracy_over_time (the Forecast accuracy page): the runs whose first scored day falls in the period."""
    runs = [r for r in accuracy_over_time(user=user) if f.start <= r["run"].history_end + timedelta(days=1) <= f.end]
    return {"runs": runs, "latest": runs[0] if runs else None}


def customers(f: Filters) -> dict:
    """Segments, buyers per month, MRP vs DP buying (customer_selectors.insights, the Customer insights page)
    and points liability at the period's end (points_liability, the Points page)."""
    # Only the months the period touches: the report shows nothing of the months before it (the page shows 12).
    months = (f.end.year - f.start.year) * 12 + f.end.month - f.start.month + 1
    data = customer_selectors.insights(months=months, store_id=_store_id(f), today=f.end)
    liability = points_liability(day=f.end, store_ids=f.store_ids)
    in_period = [r for r in data["chain_repeat"] if f.start.replace(day=1) <= r["month"] <= f.end]
    mix = [r for r in data["mix_rows"] if f.start.replace(day=1) <= r["month"] <= f.end]
    return {
        "segments": data["segments"],
        "customers_scored": data["customers_scored"],
        "buyers": in_period,
        "active": in_period[-1] if in_period else None,
        "mix": mix,
        "mix_last": mix[-1] if mix else None,
        "churn": data["churn"],
        "liability": liability,
        "members_of": f.stores[0] if _store_id(f) else None,  # one store chosen: segments count its members
    }


# --------------------------------------------------------------------------- recommendations


def recommendations(*, user, f: Filters, risk: dict, perf: dict, disc: dict, acc: dict) -> list[dict]:
    """What to do, why, and the figure it rests on — each from the selector of the page its link opens."""
    out: list[dict] = []
    store_id = _store_id(f)
    open_lines = suggestion_list(user=user, status=ReorderSuggestion.Status.OPEN, store_id=store_id)
    if f.chain:
        open_lines = open_lines.filter(store__chain=f.chain)
    buys = open_lines.filter(kind=ReorderSuggestion.Kind.PURCHASE).aggregate(
        n=Count("pk"), margin=Sum("margin_at_risk"), cash=Sum("cash_needed")
    )
    moves = open_lines.filter(kind=ReorderSuggestion.Kind.TRANSFER).count()
    reorder_url = _url("forecasting:suggestion_list", store=store_id)
    if moves:
        out.append(
            {
                "kind": "transfer",
                "text": f"Move {moves} line{'s' if moves != 1 else ''} between stores before buying more",
                "why": "another store of the same chain holds more than it needs of them",
                "figure": f"{moves} open transfer{'s' if moves != 1 else ''}",
                "url": reorder_url,
                "action": "Open Reorder",
            }
        )
    if buys["n"]:
        margin, cash = buys["margin"] or ZERO, buys["cash"] or ZERO
        out.append(
            {
                "kind": "reorder",
                "text": f"Reorder {buys['n']} line{'s' if buys['n'] != 1 else ''} now: "
                f"{format_money(margin)} of margin at risk",
                "why": "the forecast over each supplier's lead time runs past what is on hand and on order",
                "figure": f"{format_money(cash)} to spend",
                "url": reorder_url,
                "action": "Review suggestions",
            }
        )
    dead_stores = sorted((r for r in risk["stores"] if r["dead_lines"]), key=lambda r: -r["dead_value"])
    if dead_stores:
        top = dead_stores[0]
        out.append(
            {
                "kind": "markdown",
                "text": f"Mark down {top['dead_lines']} dead line{'s' if top['dead_lines'] != 1 else ''} at "
                f"{top['store'].code}: {format_money(top['dead_value'])} tied up with no sale for "
                f"{risk['dead_days']}+ days",
                "why": "stock that has not sold in that long is cash the shelf is not earning back",
                "figure": f"{format_money(risk['total']['dead_value'])} dead stock in all",
                "url": _url("reports:inventory_dashboard", store=top["store"].pk),
                "action": "Open Inventory KPIs",
            }
        )
    if risk["total"]["overstock_lines"]:
        t = risk["total"]
        out.append(
            {
                "kind": "overstock",
                "text": f"Hold orders on {t['overstock_lines']} overstocked line{_s(t['overstock_lines'])}: "
                f"{format_money(t['overstock_value'])} of stock at cost on them",
                "why": "they hold more cover than the overstock rule allows or sit above their maximum",
                "figure": f"{format_money(t['overstock_value'])} at cost",
                "url": _url("reports:inventory_dashboard", store=store_id),
                "action": "Open Inventory KPIs",
            }
        )
    losing = [r for r in disc["by_store"] if r["loss"] > 0]
    if losing:
        worst = losing[0]
        out.append(
            {
                "kind": "recount",
                "text": f"Recount at {worst['count__store__code']}: {format_money(worst['loss'])} short in "
                "this period's counts",
                "why": "the largest count losses of the period; repeat short lines point at theft or mis-scans",
                "figure": f"shrinkage {_pct(worst['loss_pct'])} of cost of sales",
                "url": _url("inventory:shrinkage", **{"from": f.start, "to": f.end, "store": worst["count__store_id"]}),
                "action": "Open Shrinkage",
            }
        )
    for r in perf["stores_bottom"][:2]:
        out.append(
            {
                "kind": "store",
                "text": f"Look into {r['store'].code}: sales {_pct(-r['change'])} down on last year",
                "why": "the steepest fall among the stores, on a base big enough to count",
                "figure": f"{format_money(r['revenue'])} against {format_money(r['revenue_ly'])}",
                "url": _url("reports:dashboard", period="custom", start=f.start, end=f.end, store=r["store"].pk),
                "action": "Open Sales",
            }
        )
    latest = acc["latest"]
    if latest and latest["wmape"] > latest["naive_wmape"]:
        out.append(
            {
                "kind": "forecast",
                "text": "Check the forecast before ordering on it: it missed by more than last week's sales would have",
                "why": f"run #{latest['run'].pk} was {_pct(latest['wmape'])} off against "
                f"{_pct(latest['naive_wmape'])} for the same weekday last week",
                "figure": f"error {_pct(latest['wmape'])}",
                "url": reverse("forecasting:accuracy_overview"),
                "action": "Open Forecast accuracy",
            }
        )
    return out


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _pct(value) -> str:
    return "–" if value is None else f"{Decimal(str(value)) * 100:.1f}%"


# --------------------------------------------------------------------------- the report


def insights_report(*, user, f: Filters) -> dict:
    """Every section of the report for `user` (whose stores `f` is already limited to)."""
    perf = performers(f)
    disc = discrepancies(user=user, f=f)
    risk = stock_risk(user=user, f=f)
    acc = forecast_accuracy(user=user, f=f)
    return {
        "f": f,
        "headline": headline(f),
        "perf": perf,
        "disc": disc,
        "risk": risk,
        "accuracy": acc,
        "customers": customers(f),
        "recommendations": recommendations(user=user, f=f, risk=risk, perf=perf, disc=disc, acc=acc),
    }
