from django.urls import path

from . import views

app_name = "inventory"

urlpatterns = [
    path("stores/", views.StoreListView.as_view(), name="store_list"),
    path("products/", views.ProductListView.as_view(), name="product_list"),
    path("partials/stock-alerts/", views.StockAlertsPartialView.as_view(), name="stock_alerts"),
]
