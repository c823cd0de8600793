"""Inventory pages: stores, products, stock levels, stock counts, shrinkage and the home page's alerts."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views import View
from django.views.generic import FormView, ListView, TemplateView

from retailops.charts import chart
from retailops.exports import export_response
from retailops.htmx import HtmxPartialMixin, is_htmx_partial
from retailops.money import money
from retailops.permissions import RolePermissionMixin
from retailops.templatetags.retailops import qty

from .exceptions import UnknownCode
from .filters import STOCK_SORTS, STOCK_STATUSES, ShrinkageFilter, StockLevelFilter
from .forms import LineSetForm, ScanForm, StockCountStartForm
from .models import Category, ReasonCode, StockCount
from .selectors import (
    cycle_count_plan,
    low_stock,
    product_list,
    shrinkage_lines,
    shrinkage_report,
    stock_count_lines,
    stock_count_list,
    stock_level_list,
    stock_level_row_extras,
    stock_value_total,
    stores_visible,
    user_can_see_costs,
)
from .services import (
    stock_count_abandon,
    stock_count_line_set,
    stock_count_scan,
    stock_count_start,
    stock_count_submit,
)


class StoreListView(RolePermissionMixin, ListView):
    permission_required = "inventory.view_store"
    template_name = "inventory/store_list.html"
    context_object_name = "stores"

    def get_queryset(self):
        return (
            stores_visible(user=self.request.user).annotate(staff_count=Count("memberships")).order_by("chain", "code")
        )


class ProductListView(HtmxPartialMixin, RolePermissionMixin, ListView):
    permission_required = "inventory.view_product"
    template_name = "inventory/product_list.html"
    partial_template_name = "inventory/partials/_product_table.html"
    context_object_name = "products"
    paginate_by = 50

    def get_queryset(self):
        category = self.request.GET.get("category") or ""
        return product_list(
            search=self.request.GET.get("q", "").strip(),
            category_id=int(category) if category.isdigit() else None,
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["show_costs"] = user_can_see_costs(user=self.request.user)
        context["categories"] = Category.objects.filter(parent__isnull=True).order_by("name")
        context["q"] = self.request.GET.get("q", "")
        context["category"] = self.request.GET.get("category", "")
        return context


ALERT_ROWS = 20  # lines listed on the home page; the counts above them cover all of them


class StockAlertsPartialView(RolePermissionMixin, TemplateView):
    """Home-page panel: low stock (at or below its minimum, or negative) in the user's stores, with what is
    on order for each line, counted by the same selector that lists it."""

    permission_required = "inventory.view_stocklevel"
    template_name = "inventory/partials/_stock_alerts.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["low"] = low_stock(user=self.request.user, limit=ALERT_ROWS)
        return context


# --- stock levels, counts and shrinkage (DESIGN §4) ----------------------------------------------


def _int_or_none(value) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() else None


class StockLevelListView(HtmxPartialMixin, RolePermissionMixin, ListView):
    """Stock per store: search, category, low / negative / short; costs and value only with view_cost."""

    permission_required = "inventory.view_stocklevel"
    template_name = "inventory/stocklevel_list.html"
    partial_template_name = "inventory/partials/_stocklevel_table.html"
    context_object_name = "levels"
    paginate_by = 50
    STATUSES = STOCK_STATUSES
    SORTS = STOCK_SORTS

    def filters(self) -> dict:
        return StockLevelFilter(self.request.GET, request=self.request).params

    def get_queryset(self):
        return stock_level_list(user=self.request.user, **self.filters())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        show_costs = user_can_see_costs(user=user)
        for level in context["levels"]:
            level.extras = stock_level_row_extras(level)
        context.update(
            show_costs=show_costs,
            can_export=user.has_perm("sales.export_reports"),
            stores=stores_visible(user=user).order_by("code"),
            categories=Category.objects.filter(parent__isnull=True).order_by("name"),
            statuses=self.STATUSES,
            sorts=[s for s in self.SORTS if show_costs or s[0] != "value"],
            f=self.filters(),
            q=self.request.GET.get("q", ""),
        )
        if show_costs:
            context["total_value"] = stock_value_total(self.object_list)
        return context


class StockLevelExportView(StockLevelListView):
    """The stock list with the same filters as CSV / XLSX (?format=xlsx); exporters only."""

    permission_required = ("inventory.view_stocklevel", "sales.export_reports")

    def get(self, request, *args, **kwargs):
        show_costs = user_can_see_costs(user=request.user)
        header = ["Store", "SKU", "Barcode", "Product", "Category", "On hand", "Reorder point"]
        header += ["Units sold 28 days", "Avg daily units", "Days of cover"]
        if show_costs:
            header += ["Unit cost", "Value at cost"]

        def rows():
            for level in self.get_queryset().iterator(chunk_size=2000):
                extras = stock_level_row_extras(level)
                row = [
                    level.store.code,
                    level.product.sku,
                    level.product.barcode,
                    level.product.name,
                    str(level.product.category or ""),
                    level.on_hand,
                    level.min_qty,
                    level.units_28,
                    extras["avg_daily"],
                    extras["days_cover"],
                ]
                if show_costs:
                    row += [money(level.unit_value), money(level.value)]
                yield row

        fmt = "xlsx" if request.GET.get("format") == "xlsx" else "csv"
        stamp = timezone.localdate().isoformat()
        return export_response(filename=f"stock-levels-{stamp}", fmt=fmt, header=header, rows=rows())


class StockCountListView(RolePermissionMixin, ListView):
    permission_required = "inventory.view_stockcount"
    template_name = "inventory/stockcount_list.html"
    context_object_name = "counts"
    paginate_by = 30

    def get_queryset(self):
        status = self.request.GET.get("status", "")
        return stock_count_list(user=self.request.user, status=status if status in StockCount.Status.values else "")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["statuses"] = StockCount.Status.choices
        context["status"] = self.request.GET.get("status", "")
        context["can_start"] = self.request.user.has_perm("inventory.add_stockcount")
        context["can_reconcile"] = self.request.user.has_perm("inventory.reconcile_stockcount")
        return context


class StockCountCreateView(RolePermissionMixin, FormView):
    """Start a count: whole store, one category, a list of products or the ABC cycle plan."""

    permission_required = "inventory.add_stockcount"
    template_name = "inventory/stockcount_form.html"
    form_class = StockCountStartForm

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["user"] = self.request.user
        return kwargs

    def get_initial(self):
        initial = super().get_initial()
        if self.request.GET.get("store", "").isdigit():
            initial["store"] = int(self.request.GET["store"])
        if self.request.GET.get("scope") in StockCount.Scope.values:
            initial["scope"] = self.request.GET["scope"]
        return initial

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            count = stock_count_start(
                store=data["store"],
                actor=self.request.user,
                scope=data["scope"],
                category=data.get("category"),
                products=data.get("product_list", []),
                blind=data["blind"],
                note=data["note"],
                cycle_limit=data.get("cycle_limit"),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
            return self.form_invalid(form)
        messages.success(self.request, f"Count #{count.pk} of {count.store} is open: {count.lines.count()} products.")
        return redirect("inventory:stockcount_detail", pk=count.pk)


class CyclePlanPartialView(RolePermissionMixin, TemplateView):
    """The ABC cycle-count plan of one store (?store=id), shown on the start page."""

    permission_required = "inventory.view_stockcount"
    template_name = "inventory/partials/_cycle_plan.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        store_id = _int_or_none(self.request.GET.get("store"))
        stores = stores_visible(user=self.request.user)
        store = get_object_or_404(stores, pk=store_id) if store_id else stores.order_by("code").first()
        plan = cycle_count_plan(store=store) if store else []
        context.update(store=store, plan=plan[:60], due=sum(1 for row in plan if row.due), planned=len(plan))
        return context


class _CountMixin(RolePermissionMixin):
    """The count of the URL, from the stores the user may see (another store's count is 404)."""

    def get_count(self) -> StockCount:
        qs = StockCount.objects.for_user(self.request.user).select_related(
            "store", "category", "created_by", "submitted_by", "approved_by"
        )
        return get_object_or_404(qs, pk=self.kwargs["pk"])

    def panel_context(self, count: StockCount, **extra) -> dict:
        user = self.request.user
        return {
            "count": count,
            "lines": stock_count_lines(count=count),
            "show_expected": not count.blind,
            "show_costs": user_can_see_costs(user=user),
            "can_count": count.status == StockCount.Status.OPEN and user.has_perm("inventory.change_stockcount"),
            "can_reconcile": user.has_perm("inventory.reconcile_stockcount"),
            **extra,
        }


class StockCountDetailView(HtmxPartialMixin, _CountMixin, TemplateView):
    """The count page, made for a phone and a keyboard-wedge scanner (HTMX: the panel alone)."""

    permission_required = "inventory.view_stockcount"
    template_name = "inventory/stockcount_detail.html"
    partial_template_name = "inventory/partials/_count_panel.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(self.panel_context(self.get_count()))
        context["can_reconcile"] = self.request.user.has_perm("inventory.reconcile_stockcount")
        return context


class StockCountScanView(_CountMixin, View):
    """POST a code (and optionally a quantity): the line increments or is set; returns the panel."""

    permission_required = "inventory.change_stockcount"

    def post(self, request, pk):
        count = self.get_count()
        form = ScanForm(request.POST)
        feedback = {}
        if not form.is_valid():
            feedback = {"error": "Scan or type a SKU or barcode." if "code" in form.errors else "Check the quantity."}
        else:
            data = form.cleaned_data
            try:
                result = stock_count_scan(
                    count=count,
                    code=data["code"],
                    actor=request.user,
                    quantity=data["quantity"] or None,
                    mode=data["mode"] or "add",
                    note=data["note"],
                    record_unknown=data["record_unknown"],
                )
            except UnknownCode as exc:
                feedback = {"error": " ".join(exc.messages), "unknown_code": data["code"]}
            except ValidationError as exc:
                feedback = {"error": " ".join(exc.messages)}
            else:
                feedback = {"line": result.line, "added": result.added, "mode": data["mode"] or "add"}
        return self._respond(request, count, feedback)

    def _respond(self, request, count, feedback):
        if not is_htmx_partial(request):
            if "error" in feedback:
                messages.error(request, feedback["error"])
            elif feedback.get("line"):
                line = feedback["line"]
                messages.success(request, f"{line.product or line.unknown_code}: {qty(line.counted_qty)} counted.")
            return redirect("inventory:stockcount_detail", pk=count.pk)
        count.refresh_from_db()
        return render(request, "inventory/partials/_count_panel.html", self.panel_context(count, feedback=feedback))


class StockCountLineSetView(StockCountScanView):
    """POST quantity for one line: its total is set (typed count)."""

    def post(self, request, pk, line_pk):
        count = self.get_count()
        form = LineSetForm(request.POST)
        try:
            if not form.is_valid():
                raise ValidationError("Type the quantity on the shelf.")
            line = stock_count_line_set(
                count=count, line_id=line_pk, quantity=form.cleaned_data["quantity"], actor=request.user
            )
        except ValidationError as exc:
            feedback = {"error": " ".join(exc.messages)}
        else:
            feedback = {"line": line, "added": None, "mode": "set"}
        return self._respond(request, count, feedback)


class StockCountSubmitView(_CountMixin, View):
    permission_required = "inventory.change_stockcount"

    def post(self, request, pk):
        count = self.get_count()
        try:
            result = stock_count_submit(
                count=count, actor=request.user, uncounted_as_zero=request.POST.get("uncounted_as_zero") == "1"
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            if result.submitted:
                messages.success(request, f"Count #{count.pk} is submitted: the owner will reconcile it.")
            else:
                skus = ", ".join(line.product.sku for line in result.recount_lines[:10])
                messages.warning(
                    request,
                    f"{len(result.recount_lines)} line(s) differ a lot from the book: recount them blind, "
                    f"then submit again ({skus}).",
                )
        return redirect("inventory:stockcount_detail", pk=count.pk)


class StockCountCancelView(_CountMixin, View):
    """Cancel an open count that was started by mistake (its starter, or an owner)."""

    permission_required = "inventory.change_stockcount"

    def post(self, request, pk):
        count = self.get_count()
        try:
            stock_count_abandon(count=count, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("inventory:stockcount_detail", pk=count.pk)
        messages.success(request, f"Count #{count.pk} is cancelled: nothing was posted.")
        return redirect("inventory:stockcount_list")


class ShrinkageView(HtmxPartialMixin, RolePermissionMixin, TemplateView):
    """Discrepancy analytics: shrinkage at cost by store, category, product, reason and month."""

    permission_required = ("inventory.view_stockcount", "inventory.view_cost")
    template_name = "inventory/shrinkage.html"
    partial_template_name = "inventory/partials/_shrinkage.html"

    def params(self) -> dict:
        return ShrinkageFilter(self.request.GET, request=self.request).params

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        params = self.params()
        report = shrinkage_report(user=self.request.user, **params)
        months = report["by_month"]
        chart_json = chart(
            "bar",
            [m["month"].strftime("%b %Y") for m in months],
            [
                {"label": "Shrinkage at cost", "data": [m["loss"] for m in months], "backgroundColor": "#c0262d"},
                {"label": "Found at cost", "data": [m["found"] for m in months], "backgroundColor": "#12805c"},
            ],
            plugins={"legend": {"position": "bottom"}},
        )
        context.update(
            report=report,
            p=params,
            chart_json=chart_json,
            stores=stores_visible(user=self.request.user).order_by("code"),
            can_export=self.request.user.has_perm("sales.export_reports"),
        )
        return context


class ShrinkageExportView(ShrinkageView):
    """Every reconciled count line of the period, CSV / XLSX; exporters only."""

    permission_required = ("inventory.view_stockcount", "inventory.view_cost", "sales.export_reports")

    def get(self, request, *args, **kwargs):
        params = self.params()
        params.pop("tolerance")
        reasons = dict(ReasonCode.choices)
        header = ["Count", "Store", "Counted at", "SKU", "Product", "Category", "Expected", "Counted"]
        header += ["First count", "Variance", "Unit cost", "Variance value", "Reason", "Note", "Approved by"]

        def rows():
            for line in shrinkage_lines(user=request.user, **params).iterator(chunk_size=2000):
                yield [
                    line.count_id,
                    line.count.store.code,
                    timezone.localtime(line.counted_at).strftime("%Y-%m-%d %H:%M"),
                    line.product.sku,
                    line.product.name,
                    str(line.product.category or ""),
                    line.expected_qty,
                    line.counted_qty,
                    line.first_count_qty,
                    line.variance,
                    line.unit_cost,
                    line.variance_value,
                    reasons.get(line.reason, line.reason),
                    line.note,
                    str(line.count.approved_by or ""),
                ]

        fmt = "xlsx" if request.GET.get("format") == "xlsx" else "csv"
        name = f"shrinkage-{params['date_from'].isoformat()}-{params['date_to'].isoformat()}"
        return export_response(filename=name, fmt=fmt, header=header, rows=rows())
