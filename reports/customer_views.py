"""Customer pages that read sales or the customer models: the customer list and detail (segments, churn,
purchases), merging duplicates, insights, the customer models, stockout exposure and the inventory ↔ sales
link. Moved from customers/views.py — customers sits below sales — with their /customers/… paths kept
(namespace customer_reports). Thin: parse input, call a selector or a service, render."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from customers import selectors as customer_sel
from customers.models import CustomerModelRun, LoyaltyTier
from customers.views import PII, store_param
from forecasting.customer_engine import LEVEL_HISTORY_DAYS, SEGMENTS
from forecasting.customer_models import model_run_start
from inventory.selectors import stores_visible
from retailops.charts import CHARTJS_DEFAULT_COLOUR, chart
from retailops.exports import export_response
from retailops.htmx import HtmxPartialMixin
from retailops.params import int_param
from retailops.permissions import RolePermissionMixin
from sales.services import customer_merge

from . import customer_selectors as sel

# --------------------------------------------------------------------------------------------------
# Customers: list and detail read sales (segments, churn, purchases); merging re-points sales


class CustomerListView(HtmxPartialMixin, RolePermissionMixin, TemplateView):
    permission_required = "customers.view_customer"
    template_name = "customers/customer_list.html"
    partial_template_name = "customers/partials/_customer_table.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        g = self.request.GET
        pii = self.request.user.has_perm(PII)
        store_id = store_param(self.request)
        segment = g.get("segment", "") if g.get("segment", "") in SEGMENTS else ""
        qs, segments = sel.customer_list(
            user=self.request.user,
            search=g.get("q", "").strip()[:80],
            tier_id=int_param(g.get("tier")),
            store_id=store_id,
            segment=segment,
            churn=g.get("churn", ""),
            with_pii=pii,
        )
        page = Paginator(qs, 50).get_page(g.get("page"))
        rows = sel.customer_list_rows(customers=page.object_list, segments=segments)
        ctx.update(
            pii=pii,
            page=page,
            rows=rows,
            total=page.paginator.count,
            tiers=LoyaltyTier.objects.all(),
            stores=stores_visible(user=self.request.user),
            segments=SEGMENTS,
            f={
                "q": g.get("q", ""),
                "tier": g.get("tier", ""),
                "store": g.get("store", ""),
                "segment": segment,
                "churn": g.get("churn", ""),
            },
        )
        return ctx


class CustomerDetailView(RolePermissionMixin, TemplateView):
    permission_required = "customers.view_customer"
    template_name = "customers/customer_detail.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        customer = get_object_or_404(customer_sel.customers_visible(user=self.request.user), pk=kwargs["pk"])
        user = self.request.user
        ctx.update(
            customer=customer,
            pii=user.has_perm(PII),
            can_merge=user.has_perm("customers.change_customer"),
            can_delete=user.has_perm("customers.delete_customer") and not customer.anonymised_at,
            **sel.customer_detail_data(customer=customer),
        )
        return ctx


class CustomerMergeView(RolePermissionMixin, View):
    """POST: fold another customer (by code) into this one."""

    permission_required = ("customers.change_customer", "customers.view_customer_pii")

    def post(self, request, pk):
        target = get_object_or_404(customer_sel.customers_visible(user=request.user), pk=pk)
        code = request.POST.get("duplicate", "").strip()
        source = customer_sel.customers_visible(user=request.user).filter(code=code).first()
        if source is None:
            messages.error(request, f"No customer with the code “{code[:40]}”: nothing was merged.")
        else:
            try:
                customer_merge(source=source, target=target, actor=request.user)
                messages.success(
                    request, f"{source.code} was merged into {target.code}: its sales and points moved here."
                )
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
        return redirect("customer_reports:customer_detail", pk=target.pk)


# --------------------------------------------------------------------------------------------------
# Insights


class InsightsView(HtmxPartialMixin, RolePermissionMixin, TemplateView):
    permission_required = "customers.view_customer"
    template_name = "customers/insights.html"
    partial_template_name = "customers/partials/_insights_body.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        months = int_param(self.request.GET.get("months")) or 12
        months = months if months in (6, 12, 24, 36) else 12
        store_id = store_param(self.request)
        data = sel.insights(months=months, store_id=store_id)
        labels = [m.strftime("%b %Y") for m in data["months"]]
        ctx.update(
            data=data,
            pii=self.request.user.has_perm(PII),
            months=months,
            store_id=store_id,
            stores=stores_visible(user=self.request.user),
            segments_chart=chart(
                "bar",
                [s["segment"] for s in data["segments"]],
                [{"label": "Customers", "data": [s["customers"] for s in data["segments"]]}],
            ),
            repeat_chart=chart(
                "line",
                labels,
                [
                    {
                        "label": "Repeat rate (chain) %",
                        "data": [
                            (r["rate"] or 0) * 100 if r["rate"] is not None else None for r in data["chain_repeat"]
                        ],
                    }
                ],
                scales={"y": {"min": 0, "max": 100}},
            ),
            mix_chart=chart(
                "line",
                labels,
                [
                    {"label": "List price (MRP) %", "data": [pct100(r["mrp_share"]) for r in data["mix_rows"]]},
                    {"label": "Member price (DP) %", "data": [pct100(r["dp_share"]) for r in data["mix_rows"]]},
                    {
                        "label": "Members at MRP %",
                        "data": [pct100(r["member_mrp_share"]) for r in data["mix_rows"]],
                        "borderDash": [4, 4],
                    },
                ],
                scales={"y": {"min": 0, "max": 100}},
            ),
            points_chart=chart(
                "bar",
                labels,
                [
                    {"label": "Earned", "data": [r["earned"] for r in data["points_rows"]]},
                    {"label": "Redeemed", "data": [r["redeemed"] for r in data["points_rows"]]},
                    {
                        "label": "Expired",
                        "data": [r["expired"] for r in data["points_rows"]],
                        "backgroundColor": "#c0262d",
                    },
                ],
            ),
            churn_chart=chart(
                "doughnut",
                [c["band"] for c in data["churn"]],
                [
                    {
                        "label": "Customers",
                        "data": [c["customers"] for c in data["churn"]],
                        "backgroundColor": ["#c0262d", "#b54708", "#12805c"],
                    }
                ],
            ),
        )
        return ctx


def pct100(value):
    return None if value is None else value * 100


# --------------------------------------------------------------------------------------------------
# Customer models (computed in forecasting.customer_models)


class ModelRunListView(RolePermissionMixin, TemplateView):
    permission_required = "customers.view_customermodelrun"
    template_name = "customers/models.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        runs = list(CustomerModelRun.objects.select_related("created_by")[:20])
        latest = customer_sel.latest_run()
        active = next((r for r in runs if r.status in ("pending", "running")), None)
        finished = [r for r in runs if r.status in ("done", "failed") and not r.backdated]
        last_attempt = finished[0] if finished else None
        ctx["not_trained"] = last_attempt if last_attempt and latest and last_attempt.pk != latest.pk else None
        ctx.update(
            runs=runs,
            latest=latest,
            active=active,
            can_train=self.request.user.has_perm("customers.train_customer_models"),
            pii=self.request.user.has_perm(PII),
        )
        if latest:
            spend = latest.metrics.get("spend", {})
            names = [
                n
                for n in ("regression", "probabilistic", "blend", "level_checked")
                if spend.get(n, {}).get("rmse") is not None
            ]
            ctx["spend_rows"] = [{"name": n, "label": LABELS[n], **spend[n]} for n in names]
            ctx["kept_label"] = LABELS.get(latest.chosen_model, latest.chosen_model)
            ctx["spend_highlight"] = "level_checked" if "level_checked" in names else latest.chosen_model
            ctx["spend_chart"] = chart(
                "bar",
                ["Actual"] + [LABELS.get(n, n) for n in names],
                [
                    {
                        "label": "Total spend, holdout quarter",
                        "data": [spend[names[0]]["total_actual"] if names else 0]
                        + [spend[n].get("total_predicted") or 0 for n in names],
                    }
                ],
            )
            churn = latest.metrics.get("churn", {})
            ctx["churn"] = churn
            ctx["churn_rows"] = [
                {"name": n, "label": CHURN_LABELS.get(n, n), **m} for n, m in churn.get("models", {}).items()
            ]
            ctx["churn_label"] = CHURN_LABELS.get(churn.get("chosen"), churn.get("chosen", ""))
            ctx["season"] = latest.metrics.get("season")
            ctx["holdout_season"] = spend.get("holdout_season")
            ctx["level"] = latest.metrics.get("level")
            ctx["level_history_days"] = LEVEL_HISTORY_DAYS
            ctx["not_scored"] = latest.metrics.get("not_scored", {})
            ctx["not_scored_total"] = sum(ctx["not_scored"].values())
            disc = latest.metrics.get("discount", {})
            ctx["discount"] = disc
            if disc.get("calibration"):
                ctx["calibration_chart"] = chart(
                    "line",
                    [c["bin"] for c in disc["calibration"]],
                    [
                        {"label": "Predicted", "data": [c["predicted"] * 100 for c in disc["calibration"]]},
                        {"label": "Observed", "data": [c["observed"] * 100 for c in disc["calibration"]]},
                    ],
                    scales={"y": {"min": 0, "max": 100}},
                )
            ctx["top"] = latest.predictions.select_related("customer", "customer__tier").order_by("-spend_quarter")[:15]
            ctx["labels"] = LABELS
        return ctx


LABELS = {
    "regression": "Linear regression (baseline)",
    "probabilistic": "BG/NBD × Gamma-Gamma",
    "blend": "Blend (one's shape, the other's total)",
    "level_checked": "The kept model with its level check",
}
CHURN_LABELS = {
    "heuristic": "Days since the last visit ÷ usual gap",
    "bgnbd": "BG/NBD 1 − P(alive)",
    "bgnbd_silent": "BG/NBD P(no purchase in 90 days)",
    "logistic": "Logistic regression on RFM, tenure, tier",
    "bgnbd_logistic": "Logistic regression on BG/NBD P(no purchase), recency, frequency",
    "boosting": "Gradient-boosted trees on RFM, tenure, tier",
}


class ModelRunStartView(RolePermissionMixin, View):
    permission_required = "customers.train_customer_models"

    def post(self, request):
        run, queued = model_run_start(actor=request.user)
        if run.status == CustomerModelRun.Status.FAILED:
            messages.error(request, run.message)
        elif queued:
            messages.success(request, f"Training run #{run.pk} queued; this page shows its progress.")
        else:
            messages.info(request, f"Run #{run.pk} is already {run.get_status_display()}.")
        return redirect("customer_reports:models")


class ModelRunProgressView(RolePermissionMixin, TemplateView):
    permission_required = "customers.view_customermodelrun"
    template_name = "customers/partials/_run_progress.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["run"] = get_object_or_404(CustomerModelRun, pk=kwargs["pk"])
        return ctx

    def render_to_response(self, context, **kwargs):
        response = super().render_to_response(context, **kwargs)
        if context["run"].status in ("done", "failed") and getattr(self.request, "htmx", None):
            response["HX-Refresh"] = "true"  # reload the page once so the new figures show
        return response


# --------------------------------------------------------------------------------------------------
# Stock exposure and the inventory ↔ sales link


class StockExposureView(RolePermissionMixin, TemplateView):
    permission_required = "customers.view_customerprediction"
    template_name = "customers/stock_exposure.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        store_id = store_param(self.request)
        ids = [store_id] if store_id else list(stores_visible(user=self.request.user).values_list("pk", flat=True))
        qs = sel.stock_exposure_list(store_ids=ids)
        ctx.update(
            page=Paginator(qs, 50).get_page(self.request.GET.get("page")),
            summary=sel.stock_exposure_summary(store_ids=ids),
            stores=stores_visible(user=self.request.user),
            store_id=store_id,
            pii=self.request.user.has_perm(PII),
            can_export=self.request.user.has_perm("sales.export_reports"),
            query=self.request.GET.urlencode(),
        )
        return ctx


class StockExposureExportView(RolePermissionMixin, View):
    permission_required = ("customers.view_customerprediction", "sales.export_reports")

    def get(self, request, fmt):
        store_id = store_param(request)
        ids = [store_id] if store_id else list(stores_visible(user=request.user).values_list("pk", flat=True))
        rows = sel.stock_exposure_export_rows(sel.stock_exposure_list(store_ids=ids))
        return export_response(filename="customers_stock_exposure", fmt=fmt, header=sel.EXPOSURE_HEADER, rows=rows)


class StockExposureBadgeView(RolePermissionMixin, TemplateView):
    """A small partial for other pages (the reorder page): how many customers met an empty shelf."""

    permission_required = "customers.view_customerprediction"
    template_name = "customers/partials/_stock_exposure_badge.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        store_id = store_param(self.request)
        ids = [store_id] if store_id else list(stores_visible(user=self.request.user).values_list("pk", flat=True))
        ctx["summary"] = sel.stock_exposure_summary(store_ids=ids)
        ctx["url"] = reverse("customer_reports:stock_exposure") + (f"?store={store_id}" if store_id else "")
        return ctx


class InventoryLinkView(RolePermissionMixin, TemplateView):
    permission_required = ("customers.view_customer", "sales.view_salesdaily", "inventory.view_stocklevel")
    template_name = "customers/inventory_link.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        days = int_param(self.request.GET.get("days")) or 182
        days = days if days in (91, 182, 365) else 182
        store_id = store_param(self.request)
        data = sel.inventory_link(days=days, store_id=store_id)
        cats = data["by_category"]
        points = sel.inventory_link_points(data["panel"])
        ctx.update(
            data=data,
            days=days,
            store_id=store_id,
            stores=stores_visible(user=self.request.user),
            corr_chart=chart(
                "bar",
                [c["category"] for c in cats],
                [
                    {"label": "Stockout days vs revenue (r)", "data": [c["corr_stockout_revenue"] for c in cats]},
                    {"label": "Days of cover vs revenue (r)", "data": [c["corr_cover_revenue"] for c in cats]},
                ],
                scales={"y": {"min": -1, "max": 1}},
            ),
            scatter_chart=chart(
                "scatter",
                None,
                [
                    {
                        "label": "Store × category × week",
                        "data": points,
                        "backgroundColor": "rgba(31,111,235,.35)",
                        "borderColor": CHARTJS_DEFAULT_COLOUR,
                    }
                ],
                scales={
                    "x": {"title": {"display": True, "text": "Stockout days in the week, % of products"}},
                    "y": {"title": {"display": True, "text": "Revenue, % of the series' mean week"}},
                },
            ),
        )
        return ctx
