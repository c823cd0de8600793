"""The insights report's page, its PDF and the owner's "send now" (reports.insights assembles the figures)."""

from __future__ import annotations

import time

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from forecasting.dispatch import enqueue
from retailops.charts import COLOURS, chart
from retailops.htmx import HtmxPartialMixin

from . import insights_mail
from .filters import parse_filters
from .insights import insights_report, last_week
from .insights_pdf import insights_pdf
from .views import PROFIT_PERMS, FiltersMixin

# Owners and accountants (the profit pages' permissions); staff: 403. Sending the scheduled e-mail ahead of its
# time is for whoever may change the schedule (owners).
INSIGHTS_PERMS = PROFIT_PERMS
SEND_PERMS = (*PROFIT_PERMS, "django_celery_beat.change_periodictask")
SEND_TASK = "reports.tasks.insights_weekly_task"


def page_charts(report: dict) -> dict:
    """Chart.js configs of the page: the same series the PDF draws."""
    trend = report["headline"]["trend"]["rows"]
    stores = report["perf"]["stores"]
    months = report["disc"]["by_month"]
    risk = report["risk"]["stores"]
    return {
        "trend_chart": chart(
            "line",
            [r["label"] for r in trend],
            [
                # the day still trading is left out (a gap), as the Sales page leaves it off its lines
                {"label": "This period", "data": [None if r["partial"] else r["revenue"] for r in trend]},
                {"label": "Last year", "data": [None if r["partial"] else r["revenue_ly"] for r in trend]},
            ],
        ),
        "stores_chart": chart(
            "bar",
            [r["store"].code for r in stores],
            [
                {"label": "Net sales", "data": [r["revenue"] for r in stores]},
                {"label": "Last year", "data": [r["revenue_ly"] for r in stores]},
            ],
        ),
        "shrink_chart": chart(
            "bar",
            [m["month"].strftime("%b %Y") for m in months],
            [
                {"label": "Short at cost", "data": [m["loss"] for m in months], "backgroundColor": COLOURS[4]},
                {"label": "Found at cost", "data": [m["found"] for m in months], "backgroundColor": COLOURS[2]},
            ],
        ),
        "stock_chart": chart(
            "bar",
            [r["store"].code for r in risk],
            [
                {"label": "Dead stock", "data": [r["dead_value"] for r in risk], "backgroundColor": COLOURS[4]},
                {"label": "Overstock", "data": [r["overstock_value"] for r in risk], "backgroundColor": COLOURS[3]},
            ],
        ),
    }


class InsightsFiltersMixin(FiltersMixin):
    default_period = "month"

    def get_filters(self):
        """With no period or dates asked for: last whole week, the weekly e-mail's (no day still trading)."""
        if not hasattr(self, "_filters"):
            params = self.request.GET
            if not any(params.get(k) for k in ("period", "start", "end")):
                start, end = last_week(timezone.localdate())
                params = params.copy()
                params.update({"period": "custom", "start": start.isoformat(), "end": end.isoformat()})
            self._filters = parse_filters(user=self.request.user, params=params, default_period=self.default_period)
        return self._filters


class InsightsView(HtmxPartialMixin, InsightsFiltersMixin, TemplateView):
    permission_required = INSIGHTS_PERMS
    template_name = "reports/insights.html"
    partial_template_name = "reports/insights_body.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(self.base_context())
        report = insights_report(user=self.request.user, f=context["f"])
        context.update(report=report, **page_charts(report))
        context["page_url"] = self.request.path
        context["no_category"] = False
        context["can_send"] = self.request.user.has_perms(SEND_PERMS)
        context["recipients"] = len(insights_mail.recipients()) if context["can_send"] else 0
        return context


class InsightsPdfView(InsightsFiltersMixin, View):
    permission_required = INSIGHTS_PERMS

    def get(self, request):
        f = self.get_filters()
        started = time.monotonic()
        content = insights_pdf(insights_report(user=request.user, f=f))
        response = HttpResponse(content, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="insights-{f.start:%Y%m%d}-{f.end:%Y%m%d}.pdf"'
        response["X-Render-Seconds"] = f"{time.monotonic() - started:.2f}"
        return response


class InsightsSendView(FiltersMixin, View):
    """Send the weekly e-mail now (POST): one outbox message; the worker sends it. Says "queued", not "sent"."""

    permission_required = SEND_PERMS

    def post(self, request):
        queued = enqueue(SEND_TASK, True, key="insights-weekly-send-now")  # force: even if sent this week
        n = len(insights_mail.recipients())
        if queued.published is False:
            messages.warning(
                request,
                f"The weekly insights e-mail is queued for {n} owners and accountants, but the task queue is not "
                "answering: it will go out when the queue is back.",
            )
        else:
            messages.success(
                request,
                f"The weekly insights e-mail (last week's report) is queued for {n} owners and accountants; "
                "the worker sends it within a minute or so.",
            )
        return redirect(f"{reverse('insights:insights')}?{request.POST.get('query', '')}")
