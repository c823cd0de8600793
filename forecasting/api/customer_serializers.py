"""Serializers of the customer-model API (moved from customers/api/): predictions per customer and training
runs (no personal data)."""

from django.utils import timezone
from rest_framework import serializers

from customers.models import CustomerModelRun, CustomerPrediction
from forecasting.customer_selectors import customer_churn, customer_segments


class CustomerPredictionSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(source="customer.code", read_only=True, help_text="Loyalty customer code.")
    home_store = serializers.CharField(source="customer.home_store.code", read_only=True, default=None)
    tier = serializers.CharField(source="customer.tier.name", read_only=True, default=None)
    model = serializers.CharField(source="run.chosen_model", read_only=True, help_text="Model behind spend_*.")
    scored_until = serializers.DateField(source="run.scored_until", read_only=True)
    churn_risk = serializers.SerializerMethodField(
        help_text="Risk (0–1) that the customer does not buy again: the figure the customer pages show "
        "(forecasting.customer_selectors.customer_churn): the run's churn model, chosen by its AUC on a time "
        "split. p_alive is the raw BG/NBD output, certain for one-time buyers."
    )
    churn_band = serializers.SerializerMethodField(help_text="low, medium or high, as on the customer pages.")

    def _churn(self, obj) -> dict:
        segments = self.context.setdefault("churn_segments", customer_segments())
        return customer_churn(customer_id=obj.customer_id, segments=segments) or {}

    def get_churn_risk(self, obj) -> float | None:
        return self._churn(obj).get("risk")

    def get_churn_band(self, obj) -> str:
        return self._churn(obj).get("band", "")

    class Meta:
        model = CustomerPrediction
        fields = [
            "id",
            "run",
            "customer",
            "home_store",
            "tier",
            "model",
            "scored_until",
            "spend_quarter",
            "spend_year",
            "spend_quarter_regression",
            "spend_quarter_probabilistic",
            "expected_purchases_quarter",
            "churn_risk",
            "churn_band",
            "p_alive",
            "discount_probability",
            "expected_discount",
            "visits",
            "exposed_visits",
            "products_missed",
            "revenue_at_risk",
        ]
        read_only_fields = fields


class CustomerModelRunSerializer(serializers.ModelSerializer):
    # Plain strings (not enums) so the schema's enum names do not collide with other apps' "status".
    status = serializers.CharField(read_only=True, help_text="pending, running, done or failed")
    trigger = serializers.CharField(read_only=True, help_text="nightly, manual or command")

    class Meta:
        model = CustomerModelRun
        fields = [
            "id",
            "status",
            "trigger",
            "progress",
            "message",
            "cutoff",
            "scored_until",
            "horizon_days",
            "as_of",
            "backdated",
            "chosen_model",
            "metrics",
            "n_customers",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ModelRunStartInput(serializers.Serializer):
    as_of = serializers.DateField(
        required=False,
        help_text="Train on sales up to this day (YYYY-MM-DD, not in the future); an earlier day's run never "
        "replaces the current one.",
        error_messages={"invalid": "as_of must be a day written YYYY-MM-DD."},
    )

    def validate_as_of(self, value):
        if value > timezone.localdate():
            raise serializers.ValidationError(
                f"as_of {value:%Y-%m-%d} is in the future: there are no sales after today to train on."
            )
        return value


class ModelRunStartOutput(serializers.Serializer):
    run = CustomerModelRunSerializer()
    queued = serializers.BooleanField()
