"""Loyalty tiers, customers and the append-only points ledger."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from inventory.models import AppendOnlyModel

MONEY = {"max_digits": 14, "decimal_places": 2}


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
