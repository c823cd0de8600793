"""Pages of the customers app (declared in customers/tests/url_access.py for the permission matrix).

The customer list, detail, merge, insights, models, stock exposure and inventory link pages read sales or the
customer models, so they live in reports/customer_urls.py (namespace customer_reports) on the same paths."""

from django.urls import path

from . import views

app_name = "customers"

urlpatterns = [
    path("<int:pk>/delete-personal-data/", views.CustomerAnonymiseView.as_view(), name="customer_anonymise"),
    path("points-liability/", views.LiabilityView.as_view(), name="liability"),
    path("points-liability.<str:fmt>", views.LiabilityExportView.as_view(), name="liability_export"),
]
