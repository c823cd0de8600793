"""The insights report (issue 20): the page, its PDF and "send now", under /reports/ (retailops/urls.py).
Declared in reports/tests/url_access_insights.py."""

from django.urls import path

from . import insights_views as views

app_name = "insights"

urlpatterns = [
    path("insights/", views.InsightsView.as_view(), name="insights"),
    path("insights.pdf", views.InsightsPdfView.as_view(), name="insights_pdf"),
    path("insights/send/", views.InsightsSendView.as_view(), name="insights_send"),
]
