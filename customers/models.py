"""Loyalty tiers, customers and the append-only points ledger."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from inventory.models import AppendOnlyModel, LedgerQuerySet
from inventory.scoping import StoreScopedQuerySet

MONEY = {"max_digits": 14, "decimal_places": 2}


class CustomerQuerySet(StoreScopedQuerySet):
    """A customer belongs to their home store (no home store: seen only by users who see every store)."""

    store_path = "home_store"


class CustomerPredictionQuerySet(StoreScopedQuerySet):
    store_path = "customer__home_store"


class PointsEntryQuerySet(LedgerQuerySet, StoreScopedQuerySet):
    """The points ledger (append-only), scoped by the store an entry was posted at."""


class LoyaltyTier(models.Model):
    name = models.CharField(max_length=40, unique=True)
    rank = models.PositiveSmallIntegerField(unique=True, help_text="0 = entry tier; higher is better.")
    threshold = models.DecimalField(
        **MONEY, default=Decimal("0"), help_text="Spend over the trailing window needed to qualify."
    )
    discount_percent = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("0"), validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    points_multiplier = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("1"))

    class Meta:
        ordering = ["rank"]
        constraints = [
            models.CheckConstraint(condition=Q(threshold__gte=0), name="tier_threshold_ge_0"),
            models.CheckConstraint(
                condition=Q(discount_percent__gte=0) & Q(discount_percent__lte=100), name="tier_discount_0_100"
            ),
            models.CheckConstraint(condition=Q(points_multiplier__gte=0), name="tier_multiplier_ge_0"),
        ]

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    code = models.CharField(max_length=40, unique=True)
    # Personal data: shown only to users with customers.view_customer_pii; blanked on a deletion request.
    name = models.CharField(max_length=120, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)
    home_store = models.ForeignKey("inventory.Store", null=True, blank=True, on_delete=models.SET_NULL)
    tier = models.ForeignKey(LoyaltyTier, null=True, blank=True, on_delete=models.PROTECT, related_name="customers")
    joined_at = models.DateTimeField()
    active = models.BooleanField(default=True)
    # Cached Σ PointsEntry.points for this customer; changed only by customers.services, with F().
    points_balance = models.BigIntegerField(default=0)
    anonymised_at = models.DateTimeField(null=True, blank=True)
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged")

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["code"]
        permissions = [("view_customer_pii", "Can see customers' names, phones and e-mails")]
        constraints = [models.CheckConstraint(condition=Q(points_balance__gte=0), name="customer_points_ge_0")]

    def __str__(self) -> str:
        return self.code


class TierChange(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="tier_changes")
    from_tier = models.ForeignKey(LoyaltyTier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_tier = models.ForeignKey(LoyaltyTier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    trailing_spend = models.DecimalField(**MONEY, default=Decimal("0"))
    changed_at = models.DateTimeField()
    reason = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["-changed_at"]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.from_tier_id} → {self.to_tier_id}"


class PointsEntry(AppendOnlyModel):
    """The points ledger. Invariant: Customer.points_balance == Σ points."""

    class Kind(models.TextChoices):
        EARN = "earn", "earned"
        REDEEM = "redeem", "redeemed"
        EXPIRE = "expire", "expired"
        ADJUST = "adjust", "adjustment"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="points_entries")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    points = models.BigIntegerField()
    store = models.ForeignKey("inventory.Store", null=True, blank=True, on_delete=models.PROTECT)
    source_type = models.CharField(max_length=40, blank=True)
    source_id = models.BigIntegerField(null=True, blank=True)
    occurred_at = models.DateTimeField(db_index=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    note = models.CharField(max_length=200, blank=True)

    objects = PointsEntryQuerySet.as_manager()

    class Meta:
        ordering = ["occurred_at", "id"]
        verbose_name_plural = "points entries"
        constraints = [
            models.UniqueConstraint(
                fields=["source_type", "source_id", "kind"],
                condition=Q(source_id__isnull=False),
                name="uniq_points_source",
            ),
            models.CheckConstraint(condition=~Q(points=0), name="points_not_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.points:+} ({self.customer_id})"


class CustomerModelRun(models.Model):
    """One training run of the customer models (future spend, discount likelihood, stock exposure).

    The spend models are trained on the data before `cutoff` and scored on the following
    `horizon_days`; `metrics` keeps every model's figures, `chosen_model` the one that won; the
    predictions for the next quarter / year (from all data up to `scored_until`) are CustomerPrediction rows.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "waiting for a worker"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"

    class Trigger(models.TextChoices):
        NIGHTLY = "nightly", "nightly schedule"
        MANUAL = "manual", "started by hand"
        COMMAND = "command", "command line"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANUAL)
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.TextField(blank=True)
    cutoff = models.DateField(null=True, blank=True, help_text="Training data ends here; the holdout follows.")
    scored_until = models.DateField(null=True, blank=True, help_text="Last day of data used for the predictions.")
    horizon_days = models.PositiveSmallIntegerField(default=91)
    chosen_model = models.CharField(max_length=30, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    params = models.JSONField(default=dict, blank=True)
    n_customers = models.PositiveIntegerField(default=0)
    as_of = models.DateField(
        null=True, blank=True, help_text="Trained as of this day (blank: the day it ran, on all the data)."
    )
    backdated = models.BooleanField(
        default=False, help_text="As of an earlier day: kept for scoring, never the predictions the pages read."
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times a worker started it.")
    claimed_by = models.CharField(max_length=100, blank=True, help_text="The worker (host:pid) running it.")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life of that worker.")
    lease_until = models.DateTimeField(null=True, blank=True, help_text="Past while running = its worker stopped.")

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("train_customer_models", "Can start a training run of the customer models")]

    def __str__(self) -> str:
        return f"Customer models #{self.pk} ({self.status})"


class CustomerPrediction(models.Model):
    """One customer's scores from one run: spend, discount likelihood, stock exposure, churn."""

    run = models.ForeignKey(CustomerModelRun, on_delete=models.CASCADE, related_name="predictions")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="predictions")
    spend_quarter = models.DecimalField(**MONEY, default=Decimal("0"), help_text="By the chosen model.")
    spend_year = models.DecimalField(**MONEY, default=Decimal("0"))
    spend_quarter_regression = models.DecimalField(**MONEY, default=Decimal("0"))
    spend_quarter_probabilistic = models.DecimalField(**MONEY, default=Decimal("0"))
    expected_purchases_quarter = models.FloatField(default=0)
    p_alive = models.FloatField(null=True, blank=True)
    churn_risk = models.FloatField(
        null=True, blank=True, help_text="P(no purchase in the next 90 days) by the run's churn model (chosen by AUC)."
    )
    discount_probability = models.FloatField(null=True, blank=True)
    expected_discount = models.DecimalField(**MONEY, default=Decimal("0"))
    visits = models.PositiveIntegerField(default=0, help_text="Shopping days in the home store (exposure window).")
    exposed_visits = models.PositiveIntegerField(default=0, help_text="Of those, days a usual product was out.")
    products_missed = models.PositiveIntegerField(default=0)
    revenue_at_risk = models.DecimalField(**MONEY, default=Decimal("0"))

    objects = CustomerPredictionQuerySet.as_manager()

    class Meta:
        ordering = ["run", "customer"]
        constraints = [models.UniqueConstraint(fields=["run", "customer"], name="uniq_prediction_run_customer")]

    def __str__(self) -> str:
        return f"{self.customer_id} @ run {self.run_id}"
