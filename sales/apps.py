from django.apps import AppConfig


class SalesConfig(AppConfig):
    name = "sales"
    nav = [
        ("Sales", "sales:dashboard", "sales.view_salesdaily"),
        ("Inventory KPIs", "sales:inventory_dashboard", "sales.view_salesdaily"),
        ("Profit", "sales:profit", "sales.view_profit"),
        ("Cash flow", "sales:cashflow", "sales.view_profit"),
        ("Imports", "sales:importbatch_list", "sales.import_sales"),
        ("Exports", "sales:export_pack", "sales.export_reports"),
    ]
