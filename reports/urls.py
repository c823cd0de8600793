"""Dashboards, profit, cash flow and the accountant's exports, mounted under /sales/ (retailops/urls.py)
so that their paths stay where they have always been."""

from django.urls import path

from . import views as v

app_name = "reports"

urlpatterns = [
    path("dashboard/", v.SalesDashboardView.as_view(), name="dashboard"),
    path("dashboard/kpis/", v.partial("kpis", v.SALES_PERMS), name="dashboard_kpis"),
    path("dashboard/trend/", v.partial("trend", v.SALES_PERMS), name="dashboard_trend"),
    path("dashboard/stores/", v.partial("stores", v.SALES_PERMS), name="dashboard_stores"),
    path("dashboard/categories/", v.partial("categories", v.SALES_PERMS), name="dashboard_categories"),
    path("dashboard/products/", v.partial("products", v.SALES_PERMS), name="dashboard_products"),
    path("inventory-kpis/", v.InventoryDashboardView.as_view(), name="inventory_dashboard"),
    path(
        "inventory-kpis/overview/",
        v.partial("inventory", v.INVENTORY_PERMS, default_period="30d"),
        name="inventory_dashboard_overview",
    ),
    path("profit/", v.ProfitView.as_view(), name="profit"),
    path("profit/summary/", v.partial("profit_summary", v.PROFIT_PERMS, "year"), name="profit_summary"),
    path("profit/months/", v.partial("profit_months", v.PROFIT_PERMS, "year"), name="profit_months"),
    path("profit/breakdown/", v.partial("profit_breakdown", v.PROFIT_PERMS, "year"), name="profit_breakdown"),
    path("cash-flow/", v.CashflowView.as_view(), name="cashflow"),
    path("cash-flow/periods/", v.partial("cashflow_periods", v.PROFIT_PERMS, "90d"), name="cashflow_periods"),
    path("cash-flow/forward/", v.partial("cashflow_forward", v.PROFIT_PERMS, "90d"), name="cashflow_forward"),
    path("exports/", v.ExportPackView.as_view(), name="export_pack"),
    path("exports/pack.zip", v.ExportZipView.as_view(), name="export_zip"),
    path("exports/<slug:report>.<str:fmt>", v.ExportReportView.as_view(), name="export_report"),
]
