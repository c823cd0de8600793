"""Pages of the customers app (declared in customers/tests/url_access.py for the permission matrix)."""

from django.urls import path

from . import views

app_name = "customers"

urlpatterns = [
    path("", views.CustomerListView.as_view(), name="customer_list"),
    path("<int:pk>/", views.CustomerDetailView.as_view(), name="customer_detail"),
    path("<int:pk>/merge/", views.CustomerMergeView.as_view(), name="customer_merge"),
    path("<int:pk>/delete-personal-data/", views.CustomerAnonymiseView.as_view(), name="customer_anonymise"),
    path("insights/", views.InsightsView.as_view(), name="insights"),
    path("points-liability/", views.LiabilityView.as_view(), name="liability"),
    path("points-liability.<str:fmt>", views.LiabilityExportView.as_view(), name="liability_export"),
    path("models/", views.ModelRunListView.as_view(), name="models"),
    path("models/train/", views.ModelRunStartView.as_view(), name="model_run_start"),
    path("models/runs/<int:pk>/progress/", views.ModelRunProgressView.as_view(), name="model_run_progress"),
    path("stock-exposure/", views.StockExposureView.as_view(), name="stock_exposure"),
    path("stock-exposure.<str:fmt>", views.StockExposureExportView.as_view(), name="stock_exposure_export"),
    path("stock-exposure/badge/", views.StockExposureBadgeView.as_view(), name="stock_exposure_badge"),
    path("inventory-link/", views.InventoryLinkView.as_view(), name="inventory_link"),
]
