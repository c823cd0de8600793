"""Customer pages that read sales or the customer models, on their /customers/… paths (moved from
customers/urls.py; wired beside it in retailops/urls.py). Declared in reports/tests/url_access_customers.py."""

from django.urls import path

from . import customer_views as views

app_name = "customer_reports"

urlpatterns = [
    path("", views.CustomerListView.as_view(), name="customer_list"),
    path("<int:pk>/", views.CustomerDetailView.as_view(), name="customer_detail"),
    path("<int:pk>/merge/", views.CustomerMergeView.as_view(), name="customer_merge"),
    path("insights/", views.InsightsView.as_view(), name="insights"),
    path("models/", views.ModelRunListView.as_view(), name="models"),
    path("models/train/", views.ModelRunStartView.as_view(), name="model_run_start"),
    path("models/runs/<int:pk>/progress/", views.ModelRunProgressView.as_view(), name="model_run_progress"),
    path("stock-exposure/", views.StockExposureView.as_view(), name="stock_exposure"),
    path("stock-exposure.<str:fmt>", views.StockExposureExportView.as_view(), name="stock_exposure_export"),
    path("stock-exposure/badge/", views.StockExposureBadgeView.as_view(), name="stock_exposure_badge"),
    path("inventory-link/", views.InventoryLinkView.as_view(), name="inventory_link"),
]
