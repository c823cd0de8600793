from django.urls import path

from . import views

app_name = "inventory"

urlpatterns = [
    path("stores/", views.StoreListView.as_view(), name="store_list"),
    path("products/", views.ProductListView.as_view(), name="product_list"),
    path("partials/stock-alerts/", views.StockAlertsPartialView.as_view(), name="stock_alerts"),
    # stock levels, counts and shrinkage (DESIGN §4)
    path("stock/", views.StockLevelListView.as_view(), name="stocklevel_list"),
    path("stock/export/", views.StockLevelExportView.as_view(), name="stocklevel_export"),
    path("counts/", views.StockCountListView.as_view(), name="stockcount_list"),
    path("counts/new/", views.StockCountCreateView.as_view(), name="stockcount_create"),
    path("counts/plan/", views.CyclePlanPartialView.as_view(), name="stockcount_plan"),
    path("counts/<int:pk>/", views.StockCountDetailView.as_view(), name="stockcount_detail"),
    path("counts/<int:pk>/scan/", views.StockCountScanView.as_view(), name="stockcount_scan"),
    path("counts/<int:pk>/lines/<int:line_pk>/", views.StockCountLineSetView.as_view(), name="stockcount_line_set"),
    path("counts/<int:pk>/submit/", views.StockCountSubmitView.as_view(), name="stockcount_submit"),
    path("counts/<int:pk>/cancel/", views.StockCountCancelView.as_view(), name="stockcount_cancel"),
    path("shrinkage/", views.ShrinkageView.as_view(), name="shrinkage"),
    path("shrinkage/export/", views.ShrinkageExportView.as_view(), name="shrinkage_export"),
]
