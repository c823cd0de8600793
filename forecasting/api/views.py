"""Forecasting API: train (start a run, follow its progress), predict, optimize, and the sales trend."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from forecasting import charts, engine, policy, selectors, services
from forecasting.models import ForecastRun, ReorderSuggestion
from inventory.models import Product
from inventory.selectors import stores_visible, user_can_see_costs
from retailops.permissions import HasPerms

from .serializers import (
    ForecastRunSerializer,
    ForecastRunStartInput,
    OptimizeOutput,
    OptimizeQuery,
    PredictOutput,
    PredictQuery,
    ReorderSuggestionSerializer,
    TrendPointSerializer,
    TrendQuery,
)

ERROR = OpenApiResponse(description="Refused: the body's `detail` says why; nothing was changed.")
TOO_MANY = OpenApiResponse(
    description="Too many runs of yours are waiting: `detail` says so, the `Retry-After` header says when to retry "
    "(seconds); nothing was changed."
)


class ForecastRunViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Forecast runs. POST starts one (train): the answer carries its id; GET it again for progress."""

    serializer_class = ForecastRunSerializer
    queryset = ForecastRun.objects.none()

    def get_queryset(self):
        # Listed by the stores a run covers: staff see the runs of their store(s), not chain-wide ones.
        return ForecastRun.objects.for_user(self.request.user).order_by("-created_at", "-pk")

    @extend_schema(request=ForecastRunStartInput, responses={201: ForecastRunSerializer, 400: ERROR, 429: TOO_MANY})
    def create(self, request, *args, **kwargs):
        data = ForecastRunStartInput(data=request.data)
        data.is_valid(raise_exception=True)
        store_ids = data.validated_data["store_ids"] or None
        if store_ids:
            visible = set(stores_visible(user=request.user).values_list("pk", flat=True))
            if not set(store_ids) <= visible:
                raise ValidationError("Unknown store id(s).")
        try:
            run = services.forecast_run_start(
                actor=request.user,
                horizon_days=data.validated_data["horizon_days"],
                store_ids=store_ids,
                models=data.validated_data["models"] or None,
                chunk_size=data.validated_data["chunk_size"],
                history_end=data.validated_data["as_of"],
                trigger="as-of" if data.validated_data["as_of"] else "api",
            )
        except services.TooManyQueued as exc:
            return Response(
                {"detail": exc.message},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(exc.retry_after)},
            )
        return Response(ForecastRunSerializer(run).data, status=status.HTTP_201_CREATED)


class ReorderSuggestionViewSet(viewsets.ReadOnlyModelViewSet):
    """Stored reorder suggestions of the caller's stores (`?status=open&store=3`)."""

    serializer_class = ReorderSuggestionSerializer
    filterset_fields = ["status", "store", "kind"]

    def get_queryset(self):
        return ReorderSuggestion.objects.for_user(self.request.user).order_by("pk")


def _store(request, store_id):
    return get_object_or_404(stores_visible(user=request.user), pk=store_id)


class ForecastPredictApi(APIView):
    """Daily forecast of one product in one store: the latest run's, or fitted now for a longer horizon."""

    permission_classes = [HasPerms.of("forecasting.view_demandforecast")]

    @extend_schema(parameters=[PredictQuery], responses={200: PredictOutput, 400: ERROR, 404: ERROR})
    def get(self, request):
        q = PredictQuery(data=request.query_params)
        q.is_valid(raise_exception=True)
        store = _store(request, q.validated_data["store"])
        product = get_object_or_404(Product, pk=q.validated_data["product"])
        horizon = q.validated_data["horizon"]
        forecast = services.series_forecast_predict(store=store, product=product, horizon=horizon)
        info = forecast["info"]
        trust, _why = engine.trust_badge(
            mase=info.get("mase"), wmape=info.get("wmape"), bias=info.get("bias"), history_days=info.get("history_days")
        )
        body = {
            "store": store.pk,
            "product": product.pk,
            "horizon": horizon,
            "source": forecast["source"],
            "run": forecast["run"],
            "model": info["model"],
            "model_label": engine.model_name(info["model"]),
            "reason": info.get("reason", ""),
            "mase": _finite(info.get("mase")),
            "wmape": _finite(info.get("wmape")),
            "bias": _finite(info.get("bias")),
            "trust": trust,
            "days": forecast["days"],
        }
        return Response(PredictOutput(body).data)


def _finite(value):
    return None if value is None or value != value else float(value)


class ReorderOptimizeApi(APIView):
    """What to buy or move for one store now, with an optional cash budget (nothing is stored)."""

    permission_classes = [HasPerms.of("forecasting.view_reordersuggestion")]

    @extend_schema(parameters=[OptimizeQuery], responses={200: OptimizeOutput, 400: ERROR, 404: ERROR})
    def get(self, request):
        q = OptimizeQuery(data=request.query_params)
        q.is_valid(raise_exception=True)
        store = _store(request, q.validated_data["store"])
        budget = q.validated_data.get("budget")
        plan = services.reorder_plan(store_ids=[store.pk], budget=budget)
        costs = user_can_see_costs(user=request.user)
        skus = dict(Product.objects.filter(pk__in={ln.product_id for ln in plan.lines}).values_list("pk", "sku"))
        lines = [
            {
                "product": ln.product_id,
                "sku": skus[ln.product_id],
                "kind": ln.kind,
                "source_store": ln.source_store_id,
                "quantity": ln.quantity,
                "on_hand": ln.on_hand,
                "on_order": ln.on_order,
                "reorder_point": ln.result.reorder_point,
                "order_up_to": ln.result.order_up_to,
                "safety_stock": ln.result.safety_stock,
                "service_level": ln.result.service_level,
                "cash_needed": ln.cash if costs else None,
                "margin_at_risk": ln.result.margin_at_risk if costs else None,
                "in_budget": ln.in_budget,
                "explanation": policy.explanation_for(ln.explanation, costs=costs),
            }
            for ln in plan.lines
            if ln.quantity > 0
        ]
        body = {
            "store": store.pk,
            "run": plan.run.pk if plan.run else None,
            "budget": budget,
            "messages": plan.messages,
            "lines": lines,
        }
        return Response(OptimizeOutput(body).data)


def _trend(request):
    q = TrendQuery(data=request.query_params)
    q.is_valid(raise_exception=True)
    visible = list(stores_visible(user=request.user).values_list("pk", flat=True))
    if q.validated_data.get("store"):
        store_ids = [_store(request, q.validated_data["store"]).pk]
    else:
        store_ids = visible
    end = services._history_end(store_ids)
    return selectors.sales_trend(
        store_ids=store_ids, product_id=q.validated_data.get("product"), days=q.validated_data["days"], end=end
    )


class SalesTrendApi(APIView):
    """Daily units and revenue (`?store=&product=&days=90`) of the caller's stores."""

    permission_classes = [HasPerms.of("sales.view_salesdaily")]

    @extend_schema(parameters=[TrendQuery], responses={200: TrendPointSerializer(many=True), 400: ERROR})
    def get(self, request):
        return Response(TrendPointSerializer(_trend(request), many=True).data)


class SalesTrendPngApi(APIView):
    """The same trend drawn as a PNG (for e-mails and reports)."""

    permission_classes = [HasPerms.of("sales.view_salesdaily")]

    @extend_schema(
        parameters=[TrendQuery],
        responses={(200, "image/png"): OpenApiTypes.BINARY, 400: ERROR},
    )
    def get(self, request):
        return HttpResponse(charts.trend_png(_trend(request)), content_type="image/png")
