from django.apps import AppConfig


class SalesConfig(AppConfig):
    name = "sales"
    nav = [
        ("Sales", "reports:dashboard", "sales.view_salesdaily"),
        ("Inventory KPIs", "reports:inventory_dashboard", "sales.view_salesdaily"),
        ("Profit", "reports:profit", "sales.view_profit"),
        ("Cash flow", "reports:cashflow", "sales.view_profit"),
        ("Insights", "insights:insights", "sales.view_profit"),
        ("Imports", "sales:importbatch_list", "sales.import_sales"),
        ("Exports", "reports:export_pack", "sales.export_reports"),
        ("Health", "health:health", "retailops.view_heartbeat"),
    ]
