"""Loyalty: tier requalification on a rolling window, FIFO points expiry, liability by store and
month (all hand-computed), merging duplicates and deletion on request."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from customers.models import Customer, PointsEntry, TierChange
from customers.selectors import points_liability, points_liability_by_month
from customers.services import (
    customer_anonymise,
    points_balance_from_ledger,
    points_earn,
    points_expire,
    points_redeem,
)
from customers.tests.factories import CustomerFactory, LoyaltyTierFactory
from inventory.tests.factories import ProductFactory, StoreFactory
from sales.models import Sale
from sales.services import customer_merge, customer_tiers_requalify
from sales.tests.factories import post_sale

pytestmark = pytest.mark.django_db


def at(y, m, d, h=12):
    return datetime(y, m, d, h, tzinfo=UTC)


@pytest.fixture
def tiers():
    return {
        "bronze": LoyaltyTierFactory(rank=0, name="Bronze", threshold=Decimal("0")),
        "silver": LoyaltyTierFactory(rank=1, name="Silver", threshold=Decimal("100")),
        "gold": LoyaltyTierFactory(rank=2, name="Gold", threshold=Decimal("500")),
    }


# ------------------------------------------------------------------------------------------ tiers


def test_tiers_requalify_upgrades_then_downgrades_on_the_rolling_window_with_history(tiers):
    # given a Bronze customer who spent 3 × 50 = 150 on 1 March 2025
    store = StoreFactory()
    product = ProductFactory(mrp=Decimal("50.00"), dp=Decimal("45.00"))
    customer = CustomerFactory(tier=tiers["bronze"])
    post_sale(store=store, lines=[(product, 3, None)], customer=customer, when=at(2025, 3, 1))

    # when the nightly job runs a month later, then 150 over the last 365 days earns Silver
    counts = customer_tiers_requalify(as_of=at(2025, 4, 1))
    customer.refresh_from_db()
    assert counts == {"upgraded": 1, "downgraded": 0, "unchanged": 0}
    assert customer.tier == tiers["silver"]
    change = TierChange.objects.get()
    assert (change.from_tier, change.to_tier, change.trailing_spend) == (
        tiers["bronze"],
        tiers["silver"],
        Decimal("150.00"),
    )

    # when it runs again the same day, then nothing changes (idempotent)
    assert customer_tiers_requalify(as_of=at(2025, 4, 1)) == {"upgraded": 0, "downgraded": 0, "unchanged": 1}

    # when the sale falls out of the 365-day window, then the customer goes back down to Bronze
    counts = customer_tiers_requalify(as_of=at(2026, 3, 2))
    customer.refresh_from_db()
    assert counts == {"upgraded": 0, "downgraded": 1, "unchanged": 0}
    assert customer.tier == tiers["bronze"]
    latest = TierChange.objects.order_by("-changed_at").first()
    assert (latest.from_tier, latest.to_tier, latest.trailing_spend) == (tiers["silver"], tiers["bronze"], Decimal("0"))
    assert latest.reason.startswith("Downgrade")


def test_returns_lower_the_trailing_spend_and_only_returns_count_as_zero(tiers):
    # given 150 spent and 60 returned (net 90 < Silver's 100), and another customer with only a return
    store = StoreFactory()
    product = ProductFactory(mrp=Decimal("30.00"), dp=Decimal("25.00"))
    buyer = CustomerFactory(tier=tiers["silver"])
    returner = CustomerFactory(tier=tiers["bronze"])
    sold = post_sale(store=store, lines=[(product, 5, None)], customer=buyer, when=at(2025, 3, 1))
    post_sale(
        store=store, lines=[(product, -2, None)], customer=buyer, when=at(2025, 3, 2), kind="return",
        original=sold.pos_reference,
    )  # fmt: skip
    post_sale(store=store, lines=[(product, -1, None)], customer=returner, when=at(2025, 3, 2), kind="return")

    # when requalified
    customer_tiers_requalify(as_of=at(2025, 3, 10))

    # then the buyer drops to Bronze on 90, and the returner stays in the entry tier (spend floored at 0)
    buyer.refresh_from_db()
    returner.refresh_from_db()
    assert buyer.tier == tiers["bronze"]
    assert TierChange.objects.get(customer=buyer).trailing_spend == Decimal("90.00")
    assert returner.tier == tiers["bronze"]
    assert not TierChange.objects.filter(customer=returner).exists()


# ------------------------------------------------------------------------------------------ expiry


def _ledger_scenario():
    """100 earned at A on 1 Jan 2025, 50 at B on 1 Mar 2025, 30 redeemed at B on 1 Jun 2025."""
    a, b = StoreFactory(code="EXA"), StoreFactory(code="EXB")
    customer = CustomerFactory()
    points_earn(customer=customer, points=100, occurred_at=at(2025, 1, 1), store=a, source_type="t", source_id=1)
    points_earn(customer=customer, points=50, occurred_at=at(2025, 3, 1), store=b, source_type="t", source_id=2)
    points_redeem(customer=customer, points=30, occurred_at=at(2025, 6, 1), store=b, source_type="t", source_id=3)
    return customer, a, b


def test_points_expire_first_in_first_out_once(settings):
    settings.RETAILOPS = {**settings.RETAILOPS, "POINTS_EXPIRY_DAYS": 365}
    customer, a, b = _ledger_scenario()

    # when the job runs on 1 Feb 2026: the January lot (100, of which 30 were redeemed FIFO) is past its date
    assert points_expire(as_of=at(2026, 2, 1)) == 70

    customer.refresh_from_db()
    expired = PointsEntry.objects.get(kind="expire")
    assert (expired.points, expired.store, expired.occurred_at) == (-70, a, at(2026, 1, 1))
    assert customer.points_balance == 50 == points_balance_from_ledger(customer=customer)

    # when it runs again for the same moment: nothing more (idempotent)
    assert points_expire(as_of=at(2026, 2, 1)) == 0
    assert PointsEntry.objects.filter(kind="expire").count() == 1

    # when the March lot passes its date: its 50 expire at B
    assert points_expire(as_of=at(2026, 4, 1)) == 50
    customer.refresh_from_db()
    assert customer.points_balance == 0
    assert list(PointsEntry.objects.filter(kind="expire").values_list("points", "store__code")) == [
        (-70, "EXA"),
        (-50, "EXB"),
    ]


def test_points_redeemed_after_their_date_but_before_the_job_are_not_expired_twice(settings):
    settings.RETAILOPS = {**settings.RETAILOPS, "POINTS_EXPIRY_DAYS": 10}
    store = StoreFactory()
    customer = CustomerFactory()
    points_earn(customer=customer, points=40, occurred_at=at(2025, 1, 1), store=store, source_type="t", source_id=1)
    # the job did not run; on 20 Jan the till let 25 of the (already stale) points be spent
    points_redeem(customer=customer, points=25, occurred_at=at(2025, 1, 20), store=store, source_type="t", source_id=2)

    assert points_expire(as_of=at(2025, 2, 1)) == 15
    customer.refresh_from_db()
    assert customer.points_balance == 0 == points_balance_from_ledger(customer=customer)


# ------------------------------------------------------------------------------------------ liability


def test_points_liability_by_store_and_month_is_hand_computed(settings):
    settings.RETAILOPS = {**settings.RETAILOPS, "POINTS_EXPIRY_DAYS": 365, "POINT_VALUE": "0.01"}
    customer, a, b = _ledger_scenario()
    points_expire(as_of=at(2026, 4, 1))  # −70 at A in Jan 2026, −50 at B in Mar 2026

    data = points_liability_by_month(months=4, today=date(2026, 4, 15))

    # opening at 1 Jan 2026: A 100, B 50 − 30 = 20
    assert [(m["month"], m["outstanding"], m["value"], m["expired"]) for m in data["months"]] == [
        (date(2026, 1, 1), 50, Decimal("0.50"), 70),
        (date(2026, 2, 1), 50, Decimal("0.50"), 0),
        (date(2026, 3, 1), 0, Decimal("0.00"), 50),
        (date(2026, 4, 1), 0, Decimal("0.00"), 0),
    ]
    march = {r["store_code"]: r["outstanding"] for r in data["rows"] if r["month"] == date(2026, 3, 1)}
    assert march == {"EXA": 30, "EXB": -30}
    # the month-end figures agree with the foundation's points_liability at that moment
    assert points_liability(as_of=data["months"][0]["as_of"])["points"] == 50


# ------------------------------------------------------------------------------------------ merge / delete


def test_merge_moves_sales_and_live_points_with_ledger_entries(tiers):
    store = StoreFactory()
    product = ProductFactory(mrp=Decimal("10.00"), dp=Decimal("9.00"))
    target = CustomerFactory(code="KEEP", tier=tiers["bronze"])
    dup = CustomerFactory(code="DUP", tier=tiers["bronze"])
    sale = post_sale(store=store, lines=[(product, 4, None)], customer=dup)  # 40 points at × 1
    post_sale(store=store, lines=[(product, 1, None)], customer=target)  # 10 points

    customer_merge(source=dup, target=target)

    sale.refresh_from_db()
    assert sale.customer == target
    assert (target.points_balance, dup.points_balance) == (50, 0)
    assert points_balance_from_ledger(customer=target) == 50
    assert points_balance_from_ledger(customer=dup) == 0
    assert (dup.merged_into, dup.active) == (target, False)
    moved = PointsEntry.objects.get(customer=target, kind="adjust")
    earned = PointsEntry.objects.get(customer=dup, kind="earn")
    assert (moved.points, moved.expires_at, moved.store) == (40, earned.expires_at, store)
    with pytest.raises(ValidationError, match="already merged"):
        customer_merge(source=dup, target=target)
    with pytest.raises(ValidationError, match="into itself"):
        customer_merge(source=target, target=target)


def test_deletion_on_request_blanks_personal_data_and_keeps_the_sales():
    store = StoreFactory()
    product = ProductFactory(mrp=Decimal("10.00"), dp=Decimal("9.00"))
    customer = CustomerFactory(name="Ada Lovelace", phone="0123", email="ada@example.com")
    sale = post_sale(store=store, lines=[(product, 2, None)], customer=customer)

    customer_anonymise(customer=customer)

    customer.refresh_from_db()
    assert (customer.name, customer.phone, customer.email, customer.code) == ("", "", "", f"ANON-{customer.pk}")
    assert customer.anonymised_at is not None and customer.active is False
    assert customer.points_balance == 0 == points_balance_from_ledger(customer=customer)
    assert Sale.objects.get(pk=sale.pk).customer_id == customer.pk
    assert Sale.objects.get(pk=sale.pk).total == Decimal("20.00")
    with pytest.raises(ValidationError, match="already deleted"):
        customer_anonymise(customer=customer)
    assert Customer.objects.filter(name="Ada Lovelace").count() == 0


def test_points_expire_skips_customers_deleted_on_request(settings):
    settings.RETAILOPS = {**settings.RETAILOPS, "POINTS_EXPIRY_DAYS": 1}
    customer = CustomerFactory()
    points_earn(customer=customer, points=5, occurred_at=at(2025, 1, 1), source_type="t", source_id=9)
    customer_anonymise(customer=customer)
    assert points_expire(as_of=at(2025, 3, 1)) == 0
    assert points_expire(as_of=at(2025, 3, 1) + timedelta(days=1)) == 0
