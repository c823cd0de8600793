"""Pages and HTMX partials of the sales, inventory, profit and cash-flow dashboards, and the export pack.

Thin views: parse the filters (reports.filters), call the selectors, shape the chart configs.
A page includes its partials; the same page URL returns only its body when HTMX asks (the filter form
swaps the body and pushes the URL), and each partial has a URL of its own (the KPIs poll it).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import Http404, HttpResponse
from django.views import View
from django.views.generic import TemplateView

from inventory.models import Category
from inventory.selectors import user_can_see_costs
from retailops.charts import COLOURS, chart
from retailops.htmx import HtmxPartialMixin
from retailops.permissions import RolePermissionMixin

from . import export_pack
from . import selectors as sel
from .filters import PERIODS, Filters, parse_filters

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --------------------------------------------------------------------------- section builders


def kpis_section(f: Filters, costs: bool) -> dict:
    return {"kpis": sel.sales_kpis(f)}


SO_FAR = {"day": "Today so far", "week": "This week so far", "month": "This month so far"}


def trend_section(f: Filters, costs: bool) -> dict:
    """The lines run over whole days; the bucket still trading (today so far) and last year to the same hour
    are points of their own, so the line does not plunge on a day that is not over."""
    trend = sel.sales_trend(f)
    rows = trend["rows"]
    whole = [not r["partial"] for r in rows]
    datasets = [
        {
            "label": "This period",
            "data": [r["revenue"] if ok else None for r, ok in zip(rows, whole, strict=True)],
            "tension": 0.25,
        },
        {
            "label": "Same period last year",
            "data": [r["revenue_ly"] if ok else None for r, ok in zip(rows, whole, strict=True)],
            "borderDash": [4, 4],
            "tension": 0.25,
        },
    ]
    cut = trend["cut"]
    if cut is not None and not all(whole):
        hour = f"{cut.time:%H:%M}"
        for label, key, colour in (
            (f"{SO_FAR[trend['kind']]} (to {hour})", "revenue", COLOURS[0]),
            (f"Last year to {hour}", "revenue_ly", COLOURS[1]),
        ):
            datasets.append(
                {
                    "label": label,
                    "data": [None if ok else r[key] for r, ok in zip(rows, whole, strict=True)],
                    "showLine": False,
                    "pointRadius": 6,
                    "pointStyle": "rectRot",
                    "backgroundColor": colour,
                    "borderColor": colour,
                }
            )
    return {"trend": trend, "trend_chart": chart("line", [r["label"] for r in rows], datasets)}


def stores_section(f: Filters, costs: bool) -> dict:
    rows = sel.store_comparison(f)
    datasets = [
        {"label": "Revenue", "data": [r["revenue"] for r in rows]},
        {"label": "Last year", "data": [r["revenue_ly"] for r in rows]},
    ]
    return {"store_rows": rows, "stores_chart": chart("bar", [r["store"].code for r in rows], datasets)}


def categories_section(f: Filters, costs: bool) -> dict:
    rows = sel.category_performance(f)
    datasets = [{"label": "Revenue", "data": [r["revenue"] for r in rows]}]
    return {
        "category_rows": rows,
        "categories_chart": chart("bar", [r["name"] for r in rows], datasets, indexAxis="x"),
    }


def products_section(f: Filters, costs: bool) -> dict:
    ranks = sel.product_rankings(f)
    if not costs:
        ranks.pop("by_margin")
    return {"ranks": ranks}


# A chain of hundreds of stores lists the first few (most stock first); the store filter shows any other.
INVENTORY_STORE_ROWS = 25


def inventory_section(f: Filters, costs: bool) -> dict:
    data = sel.inventory_overview(f)
    stores = data["stores"]
    if len(stores) > INVENTORY_STORE_ROWS:
        stores = sorted(stores, key=lambda r: -r["value"])  # stable: store order among equals
    data["stores_shown"], data["stores_hidden"] = stores[:INVENTORY_STORE_ROWS], len(stores) - INVENTORY_STORE_ROWS
    rows = data["categories"]
    if costs:
        datasets = [{"label": "Stock at cost", "data": [r["value"] for r in rows]}]
    else:
        datasets = [{"label": "Units on hand", "data": [r["on_hand"] for r in rows]}]
    return {"inv": data, "inv_chart": chart("bar", [r["name"] for r in rows], datasets)}


def profit_summary_section(f: Filters, costs: bool) -> dict:
    return {"profit": sel.profit_summary(f)}


def profit_months_section(f: Filters, costs: bool) -> dict:
    rows = sel.profit_by_month(f)
    labels = [r["label"] for r in rows]
    margin_chart = chart(
        "bar",
        labels,
        [
            {"label": "Revenue", "data": [r["revenue"] for r in rows]},
            {"label": "Gross profit", "data": [r["gross_profit"] for r in rows]},
        ],
    )
    mix_chart = chart(
        "line",
        labels,
        [
            {"label": "Units at list price (MRP) %", "data": [(r["units_share_mrp"] or 0) * 100 for r in rows]},
            {"label": "Revenue at list price (MRP) %", "data": [(r["revenue_share_mrp"] or 0) * 100 for r in rows]},
        ],
        scales={"y": {"min": 0, "max": 100}},
    )
    return {"months": rows, "margin_chart": margin_chart, "mix_chart": mix_chart}


def profit_breakdown_section(f: Filters, costs: bool) -> dict:
    products = sel.profit_by(f, "product")
    return {
        "by_store": sel.profit_by(f, "store"),
        "by_category": sel.profit_by(f, "category"),
        "top_products": products[:15],
        "bottom_products": list(reversed(products[-10:])) if len(products) > 15 else [],
    }


def cashflow_section(f: Filters, costs: bool) -> dict:
    kind = "week" if f.days <= 120 else "month"
    flow = sel.cash_flow(f, kind)
    monthly = sel.cash_flow(f, "month") if kind == "week" else flow
    rows = flow["rows"]
    flow_chart = chart(
        "bar",
        [r["label"] for r in rows],
        [
            {"label": "Cash in", "data": [r["cash_in"] for r in rows]},
            {"label": "Purchases paid", "data": [r["out"] for r in rows], "backgroundColor": "#c0262d"},
            {"label": "Net", "data": [r["net"] for r in rows], "type": "line", "borderColor": "#12805c"},
        ],
    )
    return {"flow": flow, "monthly": monthly, "flow_chart": flow_chart, "tied": sel.cash_tied(f)}


def forward_section(f: Filters, costs: bool) -> dict:
    """Weeks with no forecast have no bar and no cumulative point (gaps), never a zero."""
    fwd = sel.cash_forward(f, today=f.today)
    rows = fwd["rows"]
    forward_chart = chart(
        "bar",
        [r["label"] for r in rows],
        [
            {
                "label": "Expected in",
                "data": [r["in"] for r in rows],
                # a week the forecast covers in part is drawn pale: its bar holds only the days forecast
                "backgroundColor": [COLOURS[0] if r["status"] == "full" else "#a5c8f7" for r in rows],
            },
            {"label": "Orders due", "data": [r["out"] for r in rows], "backgroundColor": "#c0262d"},
            {
                "label": "Cumulative net",
                "data": [r["cumulative"] for r in rows],
                "type": "line",
                "borderColor": "#12805c",
            },
        ],
    )
    return {"fwd": fwd, "forward_chart": forward_chart}


@dataclass(frozen=True)
class Section:
    template: str
    build: object


SECTIONS = {
    "kpis": Section("reports/partials/_dash_kpis.html", kpis_section),
    "trend": Section("reports/partials/_dash_trend.html", trend_section),
    "stores": Section("reports/partials/_dash_stores.html", stores_section),
    "categories": Section("reports/partials/_dash_categories.html", categories_section),
    "products": Section("reports/partials/_dash_products.html", products_section),
    "inventory": Section("reports/partials/_dash_inventory.html", inventory_section),
    "profit_summary": Section("reports/partials/_dash_profit_summary.html", profit_summary_section),
    "profit_months": Section("reports/partials/_dash_profit_months.html", profit_months_section),
    "profit_breakdown": Section("reports/partials/_dash_profit_breakdown.html", profit_breakdown_section),
    "cashflow_periods": Section("reports/partials/_dash_cashflow.html", cashflow_section),
    "cashflow_forward": Section("reports/partials/_dash_forward.html", forward_section),
}


# --------------------------------------------------------------------------- views


class FiltersMixin(RolePermissionMixin):
    default_period = "month"

    def get_filters(self) -> Filters:
        if not hasattr(self, "_filters"):
            self._filters = parse_filters(
                user=self.request.user, params=self.request.GET, default_period=self.default_period
            )
        return self._filters

    def base_context(self) -> dict:
        f = self.get_filters()
        categories = list(Category.objects.select_related("parent").order_by("parent__name", "name"))
        categories.sort(key=lambda c: str(c))
        return {
            "f": f,
            "show_costs": user_can_see_costs(user=self.request.user),
            "periods": PERIODS.items(),
            "categories": categories,
        }


class DashboardPageView(HtmxPartialMixin, FiltersMixin, TemplateView):
    """A page made of sections; an HTMX request (the filter form) gets only the body
    (`partial_template_name`) back."""

    sections: tuple[str, ...] = ()
    title = ""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(self.base_context())
        for name in self.sections:
            context.update(SECTIONS[name].build(context["f"], context["show_costs"]))
        context["title"] = self.title
        context["page_url"] = self.request.path
        return context


class SectionPartialView(FiltersMixin, TemplateView):
    """One section alone, for polling and for the benchmark."""

    section = ""

    def get_template_names(self):
        return [SECTIONS[self.section].template]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(self.base_context())
        context.update(SECTIONS[self.section].build(context["f"], context["show_costs"]))
        return context


def partial(section: str, permission: str | tuple[str, ...], default_period: str = "month"):
    return SectionPartialView.as_view(section=section, permission_required=permission, default_period=default_period)


SALES_PERMS = ("sales.view_salesdaily", "sales.view_storedaily")
INVENTORY_PERMS = ("sales.view_salesdaily", "inventory.view_stocklevel")
PROFIT_PERMS = ("sales.view_profit", "sales.view_salesdaily")


class SalesDashboardView(DashboardPageView):
    permission_required = SALES_PERMS
    template_name = "reports/dashboard.html"
    partial_template_name = "reports/partials/_dash_sales_body.html"
    sections = ("kpis", "trend", "stores", "categories", "products")
    title = "Sales"


class InventoryDashboardView(DashboardPageView):
    permission_required = INVENTORY_PERMS
    template_name = "reports/inventory_dashboard.html"
    partial_template_name = "reports/partials/_dash_inventory_body.html"
    sections = ("inventory",)
    default_period = "30d"
    title = "Inventory KPIs"


class ProfitView(DashboardPageView):
    permission_required = PROFIT_PERMS
    template_name = "reports/profit.html"
    partial_template_name = "reports/partials/_dash_profit_body.html"
    sections = ("profit_summary", "profit_months", "profit_breakdown")
    default_period = "year"
    title = "Profit"


class CashflowView(DashboardPageView):
    permission_required = PROFIT_PERMS
    template_name = "reports/cashflow.html"
    partial_template_name = "reports/partials/_dash_cashflow_body.html"
    sections = ("cashflow_periods", "cashflow_forward")
    default_period = "90d"
    title = "Cash flow"


# --------------------------------------------------------------------------- exports

EXPORT_PERMS = ("sales.export_reports",)


class ExportFiltersMixin(FiltersMixin):
    """The pack has no category filter (its reports must tie out) and defaults to the last full month."""

    permission_required = EXPORT_PERMS

    def get_filters(self) -> Filters:
        if not hasattr(self, "_filters"):
            params = self.request.GET.copy()
            if not params.get("period") and not params.get("start") and not params.get("end"):
                start, end = export_pack.default_export_period()
                params["start"], params["end"] = start.isoformat(), end.isoformat()
            params["period"] = "custom"
            params.pop("category", None)
            self._filters = parse_filters(user=self.request.user, params=params, default_period="month")
            self._filters.period = "custom"
        return self._filters


class ExportPackView(ExportFiltersMixin, TemplateView):
    """The accountant's page: choose period and stores, see the tie-out summary, download each report."""

    template_name = "reports/export_pack.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(self.base_context())
        f = context["f"]
        reports = export_pack.all_reports(f)
        context["summary"] = reports["summary"]
        context["reports"] = [
            {
                "name": name,
                "title": export_pack.REPORT_TITLES[name],
                "lines": len(reports[name].rows),
                "totals": reports[name].totals,
            }
            for name in export_pack.REPORTS
        ]
        context["selected"] = set(f.store_param)
        return context


class ExportReportView(ExportFiltersMixin, View):
    def get(self, request, report: str, fmt: str):
        if report not in export_pack.REPORTS and report != "summary":
            raise Http404("No such report.")
        if fmt not in {"csv", "xlsx"}:
            raise Http404("Reports come as csv or xlsx.")
        f = self.get_filters()
        if report == "summary":
            data = export_pack.all_reports(f)["summary"]
        else:
            data = export_pack.build_report(report, f)
        content = export_pack.report_csv(data) if fmt == "csv" else export_pack.report_xlsx(data)
        response = HttpResponse(content, content_type="text/csv; charset=utf-8" if fmt == "csv" else XLSX)
        response["Content-Disposition"] = f'attachment; filename="{export_pack.pack_filename(f, report)}.{fmt}"'
        return response


class ExportZipView(ExportFiltersMixin, View):
    def get(self, request):
        f = self.get_filters()
        response = HttpResponse(export_pack.pack_zip(f), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{export_pack.pack_filename(f)}.zip"'
        return response
