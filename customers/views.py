"""Pages of the customers app: points liability and deleting a customer's personal data, plus the small
helper the customer pages share (?store=). The pages that read sales or the customer
models (list, detail, merge, insights, models, stock exposure, inventory link) are reports.customer_views,
on the same /customers/… paths. Thin: parse input, call a selector or a service, render a page."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from inventory.scoping import sees_every_store
from inventory.selectors import stores_visible
from retailops.charts import chart
from retailops.exports import export_response
from retailops.params import int_param
from retailops.permissions import RolePermissionMixin

from . import selectors as sel
from . import services

PII = "customers.view_customer_pii"  # the permission to see names and contact details


def store_param(request) -> int | None:
    """A store id from ?store=; one the user may not see is a 404, like any other store's object."""
    store_id = int_param(request.GET.get("store"))
    if store_id and not stores_visible(user=request.user).filter(pk=store_id).exists():
        raise Http404("No such store.")
    return store_id


# --------------------------------------------------------------------------------------------------
# Customers: deleting personal data (its page, the customer detail, is reports.customer_views)


class CustomerAnonymiseView(RolePermissionMixin, View):
    """POST: delete the customer's personal data on request (sales kept, anonymised)."""

    permission_required = ("customers.delete_customer", "customers.view_customer_pii")

    def post(self, request, pk):
        customer = get_object_or_404(sel.customers_visible(user=request.user), pk=pk)
        if request.POST.get("confirm") != "delete":
            messages.error(request, "Tick the confirmation box to delete this customer's personal data.")
            return redirect("customer_reports:customer_detail", pk=customer.pk)
        try:
            services.customer_anonymise(customer=customer, actor=request.user)
            messages.success(request, "Personal data deleted; the sales stay, anonymised.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("customer_reports:customer_detail", pk=customer.pk)


# --------------------------------------------------------------------------------------------------
# Points liability


def _liability_scope(request) -> tuple[int | None, list[int] | None]:
    """(?store=, the store ids to report): one store, every store (None, with the points on no store)
    for users who see every store, else the stores the user belongs to."""
    store_id = store_param(request)
    if store_id:
        return store_id, [store_id]
    if sees_every_store(request.user):
        return None, None
    return None, list(stores_visible(user=request.user).values_list("pk", flat=True))


def _day_param(request):
    try:
        return date.fromisoformat(request.GET.get("day", ""))
    except ValueError:
        return None


class LiabilityView(RolePermissionMixin, TemplateView):
    permission_required = "customers.view_pointsentry"
    template_name = "customers/liability.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        months = int_param(self.request.GET.get("months")) or 12
        months = min(max(months, 1), 60)
        store_id, store_ids = _liability_scope(self.request)
        day = _day_param(self.request) or timezone.localdate()
        data = sel.points_liability_by_month(months=months, store_ids=store_ids, day=day)
        at_day = data["at_day"]  # points_liability(day=day), from the same replay of the ledger
        stores = stores_visible(user=self.request.user)
        names = {s.pk: s for s in stores}
        ctx.update(
            data=data,
            at_day=at_day,
            day_rows=[
                {"store": names.get(sid), "points": v["points"], "value": v["value"]}
                for sid, v in sorted(at_day["by_store"].items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
            ],
            day=day,
            expiry_days=settings.RETAILOPS["POINTS_EXPIRY_DAYS"],
            months=months,
            store_id=store_id,
            stores=stores,
            can_export=self.request.user.has_perm("sales.export_reports"),
            query=self.request.GET.urlencode(),
            liability_chart=chart(
                "bar",
                [m["month"].strftime("%b %Y") for m in data["months"]],
                [{"label": "Outstanding value", "data": [m["value"] for m in data["months"]]}],
            ),
        )
        return ctx


class LiabilityExportView(RolePermissionMixin, View):
    permission_required = ("customers.view_pointsentry", "sales.export_reports")

    def get(self, request, fmt):
        months = min(max(int_param(request.GET.get("months")) or 12, 1), 60)
        _store_id, store_ids = _liability_scope(request)
        data = sel.points_liability_by_month(months=months, store_ids=store_ids)
        return export_response(
            filename="points_liability",
            fmt=fmt,
            header=sel.LIABILITY_HEADER,
            rows=sel.points_liability_export_rows(data),
        )
