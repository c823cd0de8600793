"""Dashboards, profit, cash flow and the accountant's exports (included by sales/urls.py)."""

urlpatterns: list = []
