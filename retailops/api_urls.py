"""/api/v1/: each app contributes its routes."""

from django.urls import include, path

app_name = "api"

urlpatterns = [
    path("", include("inventory.api.urls")),
    path("", include("sales.api.urls")),
    path("", include("forecasting.api.customer_urls")),  # the customer-model API (customers reads no sales)
    path("", include("forecasting.api.urls")),
]
