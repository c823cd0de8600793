"""The points ledger services: balance == Σ entries; no redeem beyond the balance."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from customers.exceptions import InsufficientPoints
from customers.models import PointsEntry
from customers.services import (
    points_adjust,
    points_balance_from_ledger,
    points_earn,
    points_for_amount,
    points_redeem,
)
from customers.tests.factories import CustomerFactory, LoyaltyTierFactory
from inventory.tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_points_for_amount_uses_the_tier_multiplier_and_rounds_down():
    silver = LoyaltyTierFactory(rank=1, points_multiplier=Decimal("1.5"))
    assert points_for_amount(amount=Decimal("9.99"), tier=silver) == 14  # 14.985
    assert points_for_amount(amount=Decimal("9.99"), tier=None) == 9
    assert points_for_amount(amount=Decimal("-5"), tier=None) == 0


def test_earn_then_redeem_keeps_the_cache_equal_to_the_ledger():
    customer = CustomerFactory()
    points_earn(customer=customer, points=120, source_type="t", source_id=1)
    points_redeem(customer=customer, points=50, source_type="t", source_id=1)

    customer.refresh_from_db()
    assert customer.points_balance == 70
    assert points_balance_from_ledger(customer=customer) == 70
    earned = PointsEntry.objects.get(kind="earn")
    assert (earned.expires_at - earned.occurred_at).days == 365


def test_redeeming_more_than_the_balance_is_refused():
    customer = CustomerFactory()
    points_earn(customer=customer, points=30)

    with pytest.raises(InsufficientPoints, match="has 30 points"):
        points_redeem(customer=customer, points=31)

    customer.refresh_from_db()
    assert customer.points_balance == 30
    assert PointsEntry.objects.count() == 1


def test_the_same_source_earns_once():
    customer = CustomerFactory()
    points_earn(customer=customer, points=10, source_type="sales.sale", source_id=5)
    with pytest.raises(ValidationError, match="already posted"):
        points_earn(customer=customer, points=10, source_type="sales.sale", source_id=5)
    customer.refresh_from_db()
    assert customer.points_balance == 10


def test_adjustments_need_a_reason_and_cannot_go_below_zero():
    customer = CustomerFactory()
    owner = make_user("owner")
    with pytest.raises(ValidationError, match="reason"):
        points_adjust(customer=customer, points=5, user=owner, note=" ")
    with pytest.raises(InsufficientPoints):
        points_adjust(customer=customer, points=-5, user=owner, note="goodwill reversal")
    points_adjust(customer=customer, points=5, user=owner, note="goodwill")
    customer.refresh_from_db()
    assert customer.points_balance == 5


@pytest.mark.parametrize("points", [0, -3])
def test_earn_needs_positive_points(points):
    with pytest.raises(ValidationError):
        points_earn(customer=CustomerFactory(), points=points)
    assert PointsEntry.objects.count() == 0
