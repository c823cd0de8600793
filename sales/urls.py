"""Sales URLs: ingestion and sales lists (views.py), dashboards and reports (dashboard_urls.py)."""

from django.urls import path

from . import views
from .dashboard_urls import urlpatterns as dashboard_patterns

app_name = "sales"

urlpatterns = [
    path("partials/store-takings/", views.StoreTakingsPartialView.as_view(), name="store_takings"),
] + dashboard_patterns
