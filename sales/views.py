"""Sales pages."""

from django.utils import timezone
from django.views.generic import TemplateView

from retailops.permissions import RolePermissionMixin

from .selectors import store_takings


class StoreTakingsPartialView(RolePermissionMixin, TemplateView):
    """Home-page panel: takings today and this week per store; refreshes itself every 30 s."""

    permission_required = "sales.view_storedaily"
    template_name = "sales/partials/_store_takings.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rows = store_takings(user=self.request.user)
        context["rows"] = rows
        context["total_today"] = sum(r["today"] for r in rows)
        context["total_week"] = sum(r["week"] for r in rows)
        context["now"] = timezone.localtime()
        return context
