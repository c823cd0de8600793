"""Forecasting pages: overview, one series, accuracy, runs, reorder suggestions and the alerts panel."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from inventory.models import Product, StockLevel
from inventory.selectors import low_stock as inventory_low_stock
from inventory.selectors import stores_visible, user_can_see_costs
from retailops.api import validation_messages
from retailops.htmx import HtmxPartialMixin, is_htmx_partial
from retailops.permissions import RolePermissionMixin

from . import charts, engine, selectors, services
from .filters import SUGGESTION_STATUSES, SuggestionFilter
from .models import ForecastRun, ReorderSuggestion


def _int(value) -> int | None:
    return int(value) if str(value or "").isdigit() else None


def _stores(request):
    return stores_visible(user=request.user).filter(active=True).order_by("code")


class ForecastOverviewView(HtmxPartialMixin, RolePermissionMixin, TemplateView):
    permission_required = "forecasting.view_demandforecast"
    template_name = "forecasting/forecast_overview.html"
    partial_template_name = "forecasting/partials/_series_table.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        user, get = self.request.user, self.request.GET
        ctx["store_id"], ctx["q"] = _int(get.get("store")), get.get("q", "").strip()
        run = selectors.latest_run(store_ids=[ctx["store_id"]] if ctx["store_id"] else None)
        ctx.update(run=run, current=selectors.latest_run(finished=False), stores=_stores(self.request))
        ctx["can_train"] = user.has_perm("forecasting.add_forecastrun")
        if run:
            rows = selectors.chosen_accuracy_list(user=user, run=run, store_id=ctx["store_id"], search=ctx["q"])
            page = Paginator(rows, 50).get_page(get.get("page"))
            for acc in page:
                acc.trust, acc.trust_why = engine.trust_badge(
                    mase=acc.mase, wmape=acc.wmape, bias=acc.bias, history_days=acc.history_days
                )
                acc.label, acc.description = engine.model_name(acc.model), engine.model_description(acc.model)
            ctx["page_obj"] = page
            ctx["trust_rule"] = engine.TRUST_RULE
            ctx["top_week"] = selectors.top_sellers(user=user, run=run, days=7)
            ctx["top_month"] = selectors.top_sellers(user=user, run=run, days=min(30, run.horizon_days))
        return ctx


class ForecastDetailView(RolePermissionMixin, TemplateView):
    permission_required = "forecasting.view_demandforecast"
    template_name = "forecasting/forecast_detail.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        store = get_object_or_404(stores_visible(user=self.request.user), pk=kwargs["store_pk"])
        product = get_object_or_404(Product, pk=kwargs["product_pk"])
        run = selectors.latest_run(store_ids=[store.pk])
        data = selectors.series_detail(run=run, store=store, product=product)
        chosen = next((a for a in data["accuracies"] if a.chosen), None)
        trust, trust_why = engine.trust_badge(
            mase=chosen.mase if chosen else None,
            wmape=chosen.wmape if chosen else None,
            bias=chosen.bias if chosen else None,
            history_days=chosen.history_days if chosen else None,
        )
        for a in data["accuracies"]:
            a.label, a.description = engine.model_name(a.model), engine.model_description(a.model)
        ctx.update(store=store, product=product, run=run, chosen=chosen, trust=trust, trust_why=trust_why, **data)
        ctx["trust_rule"] = engine.TRUST_RULE
        ctx["chart_json"] = charts.series_chart(
            data["history"], data["forecasts"], set(data["stockouts"]), data["last_year"], data["calendar"]
        )
        ctx["fc_total"] = sum(f.yhat for f in data["forecasts"][:7])
        ctx.update(selectors.series_last_year_check(forecasts=data["forecasts"], last_year=data["last_year"]))
        ctx["stock_level"] = StockLevel.objects.filter(store=store, product=product).first()
        return ctx


class AccuracyOverviewView(RolePermissionMixin, TemplateView):
    permission_required = "forecasting.view_demandforecast"
    template_name = "forecasting/accuracy_overview.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        run = selectors.latest_run()
        ctx["run"] = run
        if run:
            ctx.update(selectors.accuracy_overview(user=self.request.user, run=run))
            for row in ctx["by_model"]:
                code = row["model"]
                row["label"], row["description"] = engine.model_name(code), engine.model_description(code)
        ctx["trust_rule"] = engine.TRUST_RULE
        ctx["over_time"] = selectors.accuracy_over_time(user=self.request.user)
        return ctx


class RunDetailView(HtmxPartialMixin, RolePermissionMixin, TemplateView):
    permission_required = "forecasting.view_forecastrun"
    template_name = "forecasting/run_detail.html"
    partial_template_name = "forecasting/partials/_run_progress.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["run"] = get_object_or_404(ForecastRun.objects.for_user(self.request.user), pk=kwargs["pk"])
        ctx["runs"] = selectors.run_list(user=self.request.user)
        return ctx


class RunStartView(RolePermissionMixin, View):
    permission_required = "forecasting.add_forecastrun"

    def post(self, request):
        horizon = request.POST.get("horizon") or 28
        try:
            run = services.forecast_run_start(actor=request.user, horizon_days=horizon)
        except services.TooManyQueued as exc:
            response = render(
                request,
                "forecasting/run_refused.html",
                {
                    "reason": exc.message,
                    "runs": ForecastRun.objects.filter(created_by=request.user, status__in=services.UNFINISHED),
                },
                status=429,
            )
            response["Retry-After"] = str(exc.retry_after)
            return response
        except ValidationError as exc:
            messages.error(request, " ".join(validation_messages(exc)))
            return redirect("forecasting:forecast_overview")
        if run.message == services.QUEUED_MESSAGE:
            messages.info(request, f"Forecast run #{run.pk} queued: {run.series_total} series. {run.message}")
        else:
            messages.success(request, f"Forecast run #{run.pk} started: {run.series_total} series.")
        return redirect("forecasting:run_detail", pk=run.pk)


class SuggestionListView(RolePermissionMixin, TemplateView):
    permission_required = "forecasting.view_reordersuggestion"
    template_name = "forecasting/suggestion_list.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        user, get = self.request.user, self.request.GET
        params = SuggestionFilter(get, request=self.request).params
        store_id, status = params["store_id"], params["status"]
        rows = selectors.suggestion_list(user=user, **params)
        page = Paginator(rows, 100).get_page(get.get("page"))
        ctx.update(
            page_obj=page,
            stores=_stores(self.request),
            status=status,
            statuses=SUGGESTION_STATUSES,
            show_costs=user_can_see_costs(user=user),
            **_alerts_context(user, limit=300, store_id=store_id),
            on_reorder_page=True,
            **_actions_context(self.request, store_id),  # store_id, can_decide, the bar's counts
        )
        return ctx


def _actions_context(request, store_id: int | None) -> dict:
    """The actions bar above the suggestions: what "Create draft purchase orders" and "Move accepted
    transfers" would act on now (every accepted line of the visible stores, or of the chosen one, whatever the
    status filter), the supplier minimums they fall short of, and the forecast runs still to finish."""
    user = request.user
    accepted = selectors.suggestion_list(user=user, status=ReorderSuggestion.Status.ACCEPTED, store_id=store_id)
    store_ids = _visible_store_ids(request, store_id)  # what the buttons act on
    shortfalls = selectors.minimum_order_shortfalls(store_ids=store_ids)
    return {
        "store_id": store_id,
        "can_decide": user.has_perm("forecasting.change_reordersuggestion"),
        "can_order": user.has_perms(["forecasting.change_reordersuggestion", "inventory.add_purchaseorder"]),
        "can_move": user.has_perms(["forecasting.change_reordersuggestion", "inventory.add_stockmovement"]),
        "accepted": accepted.filter(kind=ReorderSuggestion.Kind.PURCHASE).count(),
        "accepted_transfers": accepted.filter(kind=ReorderSuggestion.Kind.TRANSFER).count(),
        "shortfalls": shortfalls,
        "accepted_short": [r for r in shortfalls if r["basis"] == "accepted"],
        "forecast_progress": selectors.forecast_runs_in_progress(store_ids=store_ids),
    }


def _page_store(request) -> int | None:
    """The store the Reorder page is filtered on (posted back by its forms), if the user may see it."""
    store_id = _int(request.POST.get("store"))
    return store_id if store_id and stores_visible(user=request.user).filter(pk=store_id).exists() else None


def _visible_store_ids(request, store_id=None) -> list[int]:
    ids = list(stores_visible(user=request.user).values_list("pk", flat=True))
    if store_id:
        if store_id not in ids:
            raise Http404("No such store.")
        return [store_id]
    return ids


class SuggestionDecideView(RolePermissionMixin, View):
    """Accept, edit (quantity + reason) or dismiss one line; HTMX gets the row back."""

    permission_required = "forecasting.change_reordersuggestion"

    def post(self, request, pk):
        suggestion = get_object_or_404(ReorderSuggestion.objects.for_user(request.user), pk=pk)
        action, error = request.POST.get("action"), ""
        try:
            if action == "accept":
                suggestion = services.suggestion_accept(suggestion=suggestion, actor=request.user)
            elif action == "edit":
                suggestion = services.suggestion_edit(
                    suggestion=suggestion,
                    actor=request.user,
                    quantity=request.POST.get("quantity", ""),
                    reason=request.POST.get("reason", ""),
                )
            elif action == "dismiss":
                suggestion = services.suggestion_dismiss(
                    suggestion=suggestion, actor=request.user, reason=request.POST.get("reason", "")
                )
            else:
                raise ValidationError("Choose accept, edit or dismiss.")
        except ValidationError as exc:
            error = " ".join(validation_messages(exc))
        if is_htmx_partial(request):
            suggestion.refresh_from_db()
            # The row, and out of band the actions bar: its counts and buttons follow the decision.
            return render(
                request,
                "forecasting/partials/_suggestion_row.html",
                {
                    "s": suggestion,
                    "error": error,
                    "show_costs": user_can_see_costs(user=request.user),
                    "oob_actions": True,
                    **_actions_context(request, _page_store(request)),
                },
                status=400 if error else 200,
            )
        if error:
            messages.error(request, error)
        else:
            messages.success(request, f"{suggestion.product.sku}: {suggestion.get_status_display()}.")
        return redirect(reverse("forecasting:suggestion_list"))


class SuggestionsBuildView(RolePermissionMixin, View):
    permission_required = "forecasting.add_reordersuggestion"

    def post(self, request):
        store_ids = _visible_store_ids(request, _int(request.POST.get("store")))
        summary = services.reorder_suggestions_build(store_ids=store_ids)
        for msg in summary["messages"]:
            messages.warning(request, msg)
        messages.success(request, f"{summary['suggestions']} suggestion(s) and {summary['alerts']} alert(s) refreshed.")
        return redirect("forecasting:suggestion_list")


class SeasonOrderView(RolePermissionMixin, View):
    """From a "season coming back" alert: an accepted line planned on the forecast raised halfway to last year."""

    permission_required = "forecasting.change_reordersuggestion"

    def post(self, request):
        store_id, product_id = _int(request.POST.get("store")), _int(request.POST.get("product"))
        if not store_id or not product_id:
            raise Http404("Choose a store and a product.")
        _visible_store_ids(request, store_id)  # 404 for another store's id
        product = get_object_or_404(Product, pk=product_id)
        try:
            s = services.season_order(store_id=store_id, product_id=product.pk, actor=request.user)
        except ValidationError as exc:
            messages.error(request, f"{product.sku}: " + " ".join(validation_messages(exc)))
        else:
            messages.success(
                request,
                f"{product.sku} {product.name}: {s.quantity:.0f} accepted for the season coming back "
                f"({s.store.code}); it goes on the next draft purchase order.",
            )
        return redirect(f"{reverse('forecasting:suggestion_list')}?store={store_id}&status=accepted")


class SuggestionBudgetView(RolePermissionMixin, View):
    permission_required = "forecasting.change_reordersuggestion"

    def post(self, request):
        store_ids = _visible_store_ids(request, _int(request.POST.get("store")))
        try:
            budget = Decimal(request.POST.get("budget", "").strip())
            message = services.suggestions_budget_apply(store_ids=store_ids, budget=budget)
        except (InvalidOperation, ValueError):
            messages.error(request, "Enter the budget as an amount, e.g. 2500.")
        except ValidationError as exc:
            messages.error(request, " ".join(validation_messages(exc)))
        else:
            messages.info(request, message)
        return redirect("forecasting:suggestion_list")


class PurchaseOrdersCreateView(RolePermissionMixin, View):
    permission_required = ("forecasting.change_reordersuggestion", "inventory.add_purchaseorder")

    def post(self, request):
        store_id = _int(request.POST.get("store"))
        store_ids = _visible_store_ids(request, store_id)
        short = selectors.minimum_order_shortfalls(store_ids=store_ids, accepted_only=True)
        if short and not request.POST.get("below_minimum"):
            for row in short:
                messages.warning(request, f"{row['message']}.")
            messages.error(
                request,
                "No purchase order drafted: the accepted lines above are below their supplier's minimum order. "
                "Accept more lines for those suppliers, or tick “draft them anyway” and create again.",
            )
            return redirect(f"{reverse('forecasting:suggestion_list')}{f'?store={store_id}' if store_id else ''}")
        try:
            orders = services.purchase_orders_from_suggestions(actor=request.user, store_ids=store_ids)
        except ValidationError as exc:
            messages.error(request, " ".join(validation_messages(exc)))
            return redirect("forecasting:suggestion_list")
        refs = ", ".join(f"#{o.pk} ({o.supplier}, {o.store.code})" for o in orders)
        messages.success(request, f"Draft purchase order(s) created: {refs}.")
        for warning in services.purchase_order_warnings(orders=orders):
            messages.warning(request, warning)
        return redirect(f"{reverse('forecasting:suggestion_list')}?status=ordered")


class TransfersMoveView(RolePermissionMixin, View):
    permission_required = ("forecasting.change_reordersuggestion", "inventory.add_stockmovement")

    def post(self, request):
        store_ids = _visible_store_ids(request, _int(request.POST.get("store")))
        try:
            moved = services.transfers_from_suggestions(actor=request.user, store_ids=store_ids)
        except ValidationError as exc:
            messages.error(request, " ".join(validation_messages(exc)))
            return redirect("forecasting:suggestion_list")
        lines = ", ".join(f"{s.quantity.normalize():f} × {s.product.sku}" for s in moved)
        messages.success(
            request,
            f"Moved between stores: {lines}. The stock levels, the ledger and the stock alerts of both stores "
            "show it now.",
        )
        return redirect(f"{reverse('forecasting:suggestion_list')}?status=moved")


class DigestPreviewView(RolePermissionMixin, View):
    """This morning's e-mail as the owner would receive it (no mail server needed to see it)."""

    permission_required = "forecasting.receive_forecast_digest"

    def get(self, request):
        return HttpResponse(services.digest_render(user=request.user, preview=True)["html"])


class AlertsPartialView(RolePermissionMixin, TemplateView):
    """Home-page panel: stockout risk, low stock, overstock and dead stock in the user's stores."""

    permission_required = "forecasting.view_reordersuggestion"
    template_name = "forecasting/partials/_alerts.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        # The home page lists low stock in its Stock alerts panel (inventory): here only its count, said once.
        ctx.update(_alerts_context(self.request.user, limit=12, low_stock=False))
        return ctx


def _alerts_context(user, *, limit: int, store_id: int | None = None, low_stock: bool = True) -> dict:
    """The alerts panel: act-now alerts (stockout risk) in view, the others folded, and a count per kind —
    counted from the same rows as listed. ``low_stock=False``: low-stock lines are listed elsewhere on the
    page, so only their counts (``low``, the same selector) are given. ``forecast_running``: the message of
    the forecast runs still queued or computing for these stores, said instead of an all-clear."""
    alerts = selectors.alert_list(user=user, limit=limit, store_id=store_id, low_stock=low_stock)
    counts = selectors.alert_counts(user=user, store_id=store_id, low_stock=low_stock)
    store_ids = [store_id] if store_id else list(stores_visible(user=user).values_list("pk", flat=True))
    return {
        "alerts_urgent": [a for a in alerts if a.severity == 1],
        "alerts_rest": [a for a in alerts if a.severity != 1],
        "alert_counts": counts,
        "alerts_rest_kinds": ", ".join(c["label"] for c in counts if c["severity"] != 1),
        "alerts_hidden": sum(c["n"] for c in counts) - len(alerts),
        "has_forecast": ForecastRun.objects.filter(status=ForecastRun.Status.DONE).exists(),
        "forecast_running": selectors.forecast_runs_in_progress(store_ids=store_ids)["message"],
        "low_elsewhere": None if low_stock else inventory_low_stock(user=user, store_id=store_id, limit=0),
    }
