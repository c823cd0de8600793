"""Top-level URLs: pages per app, the API under /api/v1/, its schema and docs, the admin."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from reports import health

from . import views

admin.site.site_header = "RetailOps administration"
admin.site.site_title = "RetailOps admin"
admin.site.index_title = "Back office"

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The health check and the metrics are retailops' views; the figures they show are the reports app's.
    path(
        "healthz/",
        views.healthz,
        {"newest_sale_age": health.newest_sale_age_seconds, "stale_after": health.SALE_STALE_AFTER.total_seconds()},
        name="healthz",
    ),
    path("metrics", views.metrics, {"collector_class": health.HealthCollector}, name="metrics"),
    path("admin/", admin.site.urls),
    path("inventory/", include("inventory.urls")),
    path("sales/", include("sales.urls")),
    path("sales/", include("reports.urls")),  # the dashboards keep their /sales/… paths
    path("reports/", include("reports.insights_urls")),  # the insights report, its PDF and e-mail
    path("reports/", include("reports.health_urls")),  # the pipeline health page (owners)
    path("customers/", include("customers.urls")),
    path("customers/", include("reports.customer_urls")),  # customer pages that read sales keep /customers/…
    path("forecasting/", include("forecasting.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # The docs are a page: anonymous visitors go to the login page (the schema itself stays an API: 401).
    path("api/docs/", login_required(SpectacularSwaggerView.as_view(url_name="api_schema")), name="api_docs"),
    path("api/v1/", include("retailops.api_urls")),
]
