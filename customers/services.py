"""Writes to the points ledger and customer records.

The points balance on Customer is a cache of Σ PointsEntry.points; it changes only here, with
F() on a row locked by select_for_update(), in the same transaction as the ledger entry.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from .exceptions import InsufficientPoints
from .models import Customer, LoyaltyTier, PointsEntry


def points_for_amount(*, amount: Decimal, tier: LoyaltyTier | None) -> int:
    """Whole points earned for spending `amount`: POINTS_PER_UNIT per currency unit × tier multiplier."""
    if amount <= 0:
        return 0
    multiplier = tier.points_multiplier if tier else Decimal("1")
    raw = Decimal(amount) * settings.RETAILOPS["POINTS_PER_UNIT"] * multiplier
    return int(raw.to_integral_value(rounding=ROUND_FLOOR))


def point_value() -> Decimal:
    return Decimal(settings.RETAILOPS["POINT_VALUE"])


def _post(
    *,
    customer: Customer,
    kind: str,
    points: int,
    occurred_at: datetime | None,
    store=None,
    source_type: str = "",
    source_id: int | None = None,
    user=None,
    note: str = "",
    expires_at: datetime | None = None,
) -> PointsEntry:
    if points == 0:
        raise ValidationError("A points entry needs a non-zero number of points.")
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        if locked.anonymised_at:
            raise ValidationError("This customer was deleted on request and cannot collect points.")
        if locked.points_balance + points < 0:
            raise InsufficientPoints(
                f"Customer {locked.code} has {locked.points_balance} points; cannot take {-points}."
            )
        try:
            with transaction.atomic():
                entry = PointsEntry.objects.create(
                    customer=locked,
                    kind=kind,
                    points=points,
                    store=store,
                    source_type=source_type,
                    source_id=source_id,
                    occurred_at=occurred_at or timezone.now(),
                    expires_at=expires_at,
                    user=user,
                    note=note[:200],
                )
        except IntegrityError as exc:
            raise ValidationError("These points were already posted for this source.") from exc
        Customer.objects.filter(pk=locked.pk).update(points_balance=F("points_balance") + points)
    customer.refresh_from_db(fields=["points_balance"])
    return entry


def points_earn(
    *, customer: Customer, points: int, occurred_at=None, store=None, source_type="", source_id=None, user=None
) -> PointsEntry:
    """Credit earned points (atomic, once per source); they expire after POINTS_EXPIRY_DAYS."""
    if points <= 0:
        raise ValidationError("Earned points must be positive.")
    occurred_at = occurred_at or timezone.now()
    expires_at = occurred_at + timedelta(days=settings.RETAILOPS["POINTS_EXPIRY_DAYS"])
    return _post(
        customer=customer,
        kind=PointsEntry.Kind.EARN,
        points=points,
        occurred_at=occurred_at,
        store=store,
        source_type=source_type,
        source_id=source_id,
        user=user,
        expires_at=expires_at,
    )


def points_redeem(
    *, customer: Customer, points: int, occurred_at=None, store=None, source_type="", source_id=None, user=None
) -> PointsEntry:
    """Debit redeemed points (atomic). Raises InsufficientPoints when the balance is too small."""
    if points <= 0:
        raise ValidationError("Redeemed points must be positive.")
    return _post(
        customer=customer,
        kind=PointsEntry.Kind.REDEEM,
        points=-points,
        occurred_at=occurred_at,
        store=store,
        source_type=source_type,
        source_id=source_id,
        user=user,
    )


def points_adjust(*, customer: Customer, points: int, user, note: str) -> PointsEntry:
    """A manual correction with a reason; cannot take the balance below zero."""
    if not note.strip():
        raise ValidationError("A points adjustment needs a reason.")
    return _post(customer=customer, kind=PointsEntry.Kind.ADJUST, points=points, occurred_at=None, user=user, note=note)


def points_balance_from_ledger(*, customer: Customer) -> int:
    return customer.points_entries.aggregate(total=Sum("points"))["total"] or 0
