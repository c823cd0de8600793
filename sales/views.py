"""Sales pages: the store-takings panel, POS file imports (upload → task → progress → result), receipts."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.generic import DetailView, ListView, TemplateView

from inventory.selectors import stores_visible, user_can_see_costs
from retailops.exports import export_response
from retailops.htmx import HtmxPartialMixin
from retailops.money import currency_notices
from retailops.permissions import RolePermissionMixin
from retailops.uploads import SizeLimitUploadHandler

from .filters import SaleFilter
from .forms import ImportUploadForm, size_text
from .models import ImportBatch
from .selectors import import_batches_visible, newest_receipt_at, sales_visible, store_takings
from .services import import_batch_create, import_batch_phase, import_batch_run_again
from .tasks import import_sales_enqueue

ERRORS_SHOWN = 200
QUEUED_UNTIL_BROKER_IS_BACK = "Queued: the worker will start it when the task queue is back — nothing to do."


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
        context["currency_notices"] = currency_notices([r["store"] for r in rows])  # the totals add them up
        if rows and not any(r["today_tx"] for r in rows):  # a quiet morning, or tills that stopped sending?
            context["newest"] = newest_receipt_at(store_ids=[r["store"].pk for r in rows])
        return context


# --- imports ------------------------------------------------------------------------------------------


class ImportBatchListView(RolePermissionMixin, ListView):
    permission_required = "sales.view_importbatch"
    template_name = "sales/import_list.html"
    context_object_name = "batches"
    paginate_by = 25

    def get_queryset(self):
        return import_batches_visible(user=self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if self.request.user.has_perm("sales.import_sales"):
            context["form"] = ImportUploadForm(stores=stores_visible(user=self.request.user))
        context["max_upload"] = size_text(settings.RETAILOPS["MAX_UPLOAD_BYTES"])
        return context


@method_decorator(csrf_exempt, name="dispatch")  # CSRF is checked in post(), after the upload handlers are set
class ImportBatchCreateView(RolePermissionMixin, View):
    permission_required = "sales.import_sales"
    template_name = "sales/import_new.html"

    def get(self, request):
        return self._render(ImportUploadForm(stores=stores_visible(user=request.user)))

    def post(self, request):
        limit = settings.RETAILOPS["MAX_UPLOAD_BYTES"]
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > limit + 1024 * 1024:  # the form around the file is far below 1 MB
            return self._too_big(request, length, limit)
        # The file streams to a temporary file in chunks, stopped as soon as it passes the limit; the batch keeps
        # that file (moved, not read) and the import reads it as a stream.
        request.upload_handlers = [SizeLimitUploadHandler(request), TemporaryFileUploadHandler(request)]
        return csrf_protect(self._post)(request)

    def _post(self, request):
        limit = settings.RETAILOPS["MAX_UPLOAD_BYTES"]
        form = ImportUploadForm(request.POST, request.FILES, stores=stores_visible(user=request.user))
        if getattr(request, "upload_too_big", False):
            return self._too_big(request, int(request.META.get("CONTENT_LENGTH") or 0), limit)
        if not form.is_valid():
            return self._render(form, status=400)
        upload = form.cleaned_data["file"]
        try:
            batch = import_batch_create(
                source=ImportBatch.Source.FILE,
                source_name=upload.name,
                content=upload,
                mapping=form.cleaned_data["mapping"],
                store=form.cleaned_data["store"],
                options=form.options(),
                actor=request.user,
                preview=True,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
            return self._render(form, status=400)
        if import_sales_enqueue(batch_id=batch.pk, preview=True).published:
            messages.success(
                request, f"“{upload.name}” was uploaded. Nothing is posted yet: check the preview, then “Post import”."
            )
        else:
            messages.info(
                request,
                f"“{upload.name}” was uploaded and its preview is queued: the worker will start it when the task "
                "queue is back — nothing to do.",
            )
        return HttpResponseRedirect(reverse("sales:importbatch_detail", kwargs={"pk": batch.pk}))

    def _too_big(self, request, length, limit):
        form = ImportUploadForm(stores=stores_visible(user=request.user))
        message = f"The upload is {size_text(length)}; the limit is {size_text(limit)}. Compress it (.gz) or split it."
        return self._render(form, status=413, too_big=message)

    def _render(self, form, status=200, too_big=""):
        context = {
            "form": form,
            "too_big": too_big,
            "max_upload": size_text(settings.RETAILOPS["MAX_UPLOAD_BYTES"]),
        }
        return render(self.request, self.template_name, context, status=status)


class ImportBatchDetailView(HtmxPartialMixin, RolePermissionMixin, DetailView):
    """The batch page; polled by HTMX (the same URL returns only the status partial) while it runs."""

    permission_required = "sales.view_importbatch"
    template_name = "sales/import_detail.html"
    partial_template_name = "sales/partials/_import_status.html"
    context_object_name = "batch"

    def get_queryset(self):
        return import_batches_visible(user=self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        batch = self.object
        user = self.request.user
        context["phase"] = phase = import_batch_phase(batch=batch)
        context["running"] = phase in ("previewing", "queued", "running")
        context["errors"] = list(batch.row_errors.all()[:ERRORS_SHOWN]) if not context["running"] else []
        context["errors_shown"] = ERRORS_SHOWN
        context["can_run"] = user.has_perm("sales.import_sales") and not context["running"]
        context["can_create_stores"] = user.has_perm("inventory.add_store")
        context["stats"] = batch.stats or {}
        context["preview"] = context["stats"].get("preview") or {}
        return context


class ImportBatchErrorsView(RolePermissionMixin, View):
    """Every rejected row of a batch as CSV (formula-safe)."""

    permission_required = "sales.view_importbatch"

    def get(self, request, pk):
        batch = get_object_or_404(import_batches_visible(user=request.user), pk=pk)
        rows = batch.row_errors.values_list("line_number", "column", "value", "message").iterator()
        return export_response(
            filename=f"import-{batch.pk}-errors",
            fmt="csv",
            header=["line", "column", "value", "reason"],
            rows=rows,
        )


class ImportBatchRunView(RolePermissionMixin, View):
    """“Post import” after the preview, “Preview again” with another store choice, or queue a batch again
    (after a broker outage or a stopped run). Safe: the preview writes nothing, the import is idempotent."""

    permission_required = "sales.import_sales"

    def post(self, request, pk):
        batch = get_object_or_404(import_batches_visible(user=request.user), pk=pk)
        url = reverse("sales:importbatch_detail", kwargs={"pk": batch.pk})
        try:
            queue = import_batch_run_again(
                batch=batch,
                actor=request.user,
                action=request.POST.get("action", ""),
                create_stores=bool(request.POST.get("create_stores")),
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return HttpResponseRedirect(url)
        if not queue:
            messages.info(request, "This import is finished; running it again would change nothing.")
            return HttpResponseRedirect(url)
        if queue == "preview":
            if import_sales_enqueue(batch_id=batch.pk, preview=True).published:
                messages.success(request, "The file is being previewed again; nothing is posted yet.")
            else:
                messages.info(request, QUEUED_UNTIL_BROKER_IS_BACK)
            return HttpResponseRedirect(url)
        if import_sales_enqueue(batch_id=batch.pk).published:
            done = "The import is posting." if queue == "post" else "The import was queued again."
            messages.success(request, done)
        else:
            messages.info(request, QUEUED_UNTIL_BROKER_IS_BACK)
        return HttpResponseRedirect(url)


# --- receipts -----------------------------------------------------------------------------------------


class SaleListView(RolePermissionMixin, ListView):
    permission_required = "sales.view_sale"
    template_name = "sales/sale_list.html"
    context_object_name = "sales"
    paginate_by = 50

    def get_queryset(self):
        self.filterset = SaleFilter(self.request.GET or None, queryset=sales_visible(user=self.request.user))
        return self.filterset.qs if self.filterset.is_bound and self.filterset.is_valid() else self.filterset.queryset

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["filter"] = self.filterset
        context["stores"] = stores_visible(user=self.request.user).order_by("code")
        return context


class SaleDetailView(RolePermissionMixin, DetailView):
    permission_required = "sales.view_sale"
    template_name = "sales/sale_detail.html"
    context_object_name = "sale"

    def get_queryset(self):
        return sales_visible(user=self.request.user).select_related("import_batch", "original")

    def get_object(self, queryset=None):
        try:
            return super().get_object(queryset)
        except Http404:
            raise Http404("No such receipt in your stores.") from None

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["lines"] = self.object.lines.select_related("product").order_by("line_no")
        context["show_costs"] = user_can_see_costs(user=self.request.user)
        context["show_pii"] = self.request.user.has_perm("customers.view_customer_pii")
        return context
