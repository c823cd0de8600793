"""The pipeline health page under /reports/ (retailops/urls.py). Declared in reports/tests/url_access_health.py."""

from django.urls import path

from . import health_views as views

app_name = "health"

urlpatterns = [
    path("health/", views.HealthView.as_view(), name="health"),
]
