"""The pipeline health page (owners): imports, rollups, runs, the outbox and the Celery processes, with every late or
failing thing in red and a link to act (reports.health gathers the figures)."""

from __future__ import annotations

from django.views.generic import TemplateView

from retailops.permissions import RolePermissionMixin

from .health import pipeline_health

# Owners only: the heartbeat table is retailops' own, whose permissions only owners hold (retailops.roles).
HEALTH_PERMS = ("retailops.view_heartbeat",)


class HealthView(RolePermissionMixin, TemplateView):
    permission_required = HEALTH_PERMS
    template_name = "reports/health.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["h"] = pipeline_health()
        return context
