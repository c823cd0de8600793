"""Serializers of the forecasting API: runs, forecasts, reorder plans and the sales trend."""

from rest_framework import serializers

from forecasting import engine, policy
from forecasting.models import ForecastRun, ReorderSuggestion
from inventory.selectors import user_can_see_costs


class ForecastRunSerializer(serializers.ModelSerializer):
    # Plain strings (documented), not enums: several apps have a "status" with its own choices.
    status = serializers.CharField(read_only=True, help_text="pending, running, done, partial or failed")
    progress = serializers.IntegerField(read_only=True)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = ForecastRun
        fields = [
            "id", "status", "progress", "horizon_days", "model_names", "backtest_windows", "store_ids",
            "history_end", "series_total", "series_done", "chunks_total", "chunks_done", "failed_series",
            "message", "trigger", "created_at", "started_at", "finished_at", "duration_seconds",
        ]  # fmt: skip
        read_only_fields = fields


class ForecastRunStartInput(serializers.Serializer):
    horizon_days = serializers.IntegerField(default=28, min_value=1, max_value=engine.MAX_HORIZON)
    store_ids = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    models = serializers.ListField(
        child=serializers.ChoiceField(choices=list(engine.CANDIDATES)),
        required=False,
        default=list,
        help_text="Candidate models (default: the fast set, and Prophet on the long, busy, smooth series where it "
        "can win — it costs ~100× a fast model per fit).",
    )
    chunk_size = serializers.IntegerField(default=100, min_value=1, max_value=2000)
    as_of = serializers.DateField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Forecast from the sales up to this day only (default: the last complete day). Such a run is "
        "scored against what sold on the Accuracy page and never replaces the current forecast.",
    )


class PredictQuery(serializers.Serializer):
    store = serializers.IntegerField()
    product = serializers.IntegerField()
    horizon = serializers.IntegerField(default=28, min_value=1, max_value=engine.MAX_HORIZON)


class ForecastDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    yhat = serializers.FloatField(help_text="Point forecast, units")
    lo = serializers.FloatField(help_text="80 % interval, low")
    hi = serializers.FloatField(help_text="80 % interval, high")


class PredictOutput(serializers.Serializer):
    store = serializers.IntegerField()
    product = serializers.IntegerField()
    horizon = serializers.IntegerField()
    source = serializers.CharField(help_text="'run' (a stored nightly forecast) or 'on demand'")
    run = serializers.IntegerField(allow_null=True)
    model = serializers.CharField(help_text="The model's code, e.g. 'ets'.")
    model_label = serializers.CharField(help_text="The model's name on the pages, e.g. 'exponential smoothing'.")
    reason = serializers.CharField()
    mase = serializers.FloatField(allow_null=True)
    wmape = serializers.FloatField(allow_null=True)
    bias = serializers.FloatField(allow_null=True)
    trust = serializers.CharField(help_text="high | medium | low, by the rule shown on the forecast pages")
    days = ForecastDaySerializer(many=True)


class OptimizeQuery(serializers.Serializer):
    store = serializers.IntegerField()
    budget = serializers.DecimalField(max_digits=14, decimal_places=2, required=False, min_value=0)


class PlanLineSerializer(serializers.Serializer):
    product = serializers.IntegerField()
    sku = serializers.CharField()
    kind = serializers.CharField(help_text="purchase or transfer")
    source_store = serializers.IntegerField(allow_null=True)
    quantity = serializers.DecimalField(max_digits=12, decimal_places=3)
    on_hand = serializers.DecimalField(max_digits=12, decimal_places=3)
    on_order = serializers.DecimalField(max_digits=12, decimal_places=3)
    reorder_point = serializers.DecimalField(max_digits=12, decimal_places=3)
    order_up_to = serializers.DecimalField(max_digits=12, decimal_places=3)
    safety_stock = serializers.DecimalField(max_digits=12, decimal_places=3)
    service_level = serializers.DecimalField(max_digits=5, decimal_places=4)
    cash_needed = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    margin_at_risk = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        allow_null=True,
        help_text="Margin protected: unit margin × the expected sales this order saves from an empty shelf over "
        "lead time + review period (forecast ± its measured error). Null for roles that do not see costs.",
    )
    in_budget = serializers.BooleanField()
    explanation = serializers.ListField(child=serializers.CharField())


class OptimizeOutput(serializers.Serializer):
    store = serializers.IntegerField()
    run = serializers.IntegerField(allow_null=True)
    budget = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    messages = serializers.ListField(child=serializers.CharField())
    lines = PlanLineSerializer(many=True)


class TrendQuery(serializers.Serializer):
    store = serializers.IntegerField(required=False, help_text="Default: every store the caller may see")
    product = serializers.IntegerField(required=False)
    days = serializers.IntegerField(default=90, min_value=1, max_value=1100)


class TrendPointSerializer(serializers.Serializer):
    date = serializers.DateField()
    units = serializers.FloatField()
    revenue = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)


class ReorderSuggestionSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True, help_text="open, accepted, ordered, dismissed or superseded")
    kind = serializers.CharField(read_only=True, help_text="purchase or transfer")

    class Meta:
        model = ReorderSuggestion
        fields = [
            "id", "kind", "status", "store", "product", "supplier", "source_store", "on_hand", "on_order",
            "lead_time_days", "review_period_days", "service_level", "forecast_lead_time", "forecast_review",
            "safety_stock", "reorder_point", "order_up_to", "suggested_qty", "quantity", "explanation",
            "edit_reason", "purchase_order", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        costs = bool(request and user_can_see_costs(user=request.user))
        data["explanation"] = policy.explanation_for(data["explanation"] or [], costs=costs)
        return data
