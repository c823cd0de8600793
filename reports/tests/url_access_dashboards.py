"""Expected access to the dashboards, profit, cash-flow and export URLs (see retailops.testing).

A store id in the query string that the user may not see is a 404 (query_other), like any other
store's object; staff never see costs or margins on the pages they may open.
"""

from retailops.testing import Access

NO_COSTS = {"staff": ["Margin", "Gross profit", "Stock value at cost", "Cost of sales", "Turnover"]}


def _own(w):
    return f"store={w.store_own.pk}"


def _other(w):
    return f"store={w.store_other.pk}"


def _staff_page(**extra):
    return Access(query=_own, query_other=_other, staff_other=404, must_not_contain=NO_COSTS, **extra)


def _finance(**extra):
    # Staff lack sales.view_profit / sales.export_reports: 403 whatever store they name.
    return Access(staff=403, query=_own, query_other=_other, staff_other=403, **extra)


URL_ACCESS = {
    "reports:dashboard": _staff_page(),
    "reports:dashboard_kpis": _staff_page(),
    "reports:dashboard_trend": _staff_page(),
    "reports:dashboard_stores": _staff_page(),
    "reports:dashboard_categories": _staff_page(),
    "reports:dashboard_products": _staff_page(),
    "reports:inventory_dashboard": _staff_page(),
    "reports:inventory_dashboard_overview": _staff_page(),
    "reports:profit": _finance(),
    "reports:profit_summary": _finance(),
    "reports:profit_months": _finance(),
    "reports:profit_breakdown": _finance(),
    "reports:cashflow": _finance(),
    "reports:cashflow_periods": _finance(),
    "reports:cashflow_forward": _finance(),
    "reports:export_pack": _finance(),
    "reports:export_zip": _finance(),
    "reports:export_report": _finance(kwargs=lambda w: {"report": "sales_journal", "fmt": "csv"}),
}
