"""Sales URLs: ingestion and sales lists (views.py). The dashboards and reports live in reports/urls.py."""

from django.urls import path

from . import views

app_name = "sales"

urlpatterns = [
    path("partials/store-takings/", views.StoreTakingsPartialView.as_view(), name="store_takings"),
    path("imports/", views.ImportBatchListView.as_view(), name="importbatch_list"),
    path("imports/new/", views.ImportBatchCreateView.as_view(), name="importbatch_create"),
    path("imports/<int:pk>/", views.ImportBatchDetailView.as_view(), name="importbatch_detail"),
    path("imports/<int:pk>/errors.csv", views.ImportBatchErrorsView.as_view(), name="importbatch_errors"),
    path("imports/<int:pk>/run/", views.ImportBatchRunView.as_view(), name="importbatch_run"),
    path("receipts/", views.SaleListView.as_view(), name="sale_list"),
    path("receipts/<int:pk>/", views.SaleDetailView.as_view(), name="sale_detail"),
]
