"""The Customer insights page (and the insights report built on it) for one store: the segments, churn bands and
at-risk list count that store's members, as its repeat rates, price mix and points already follow its sales."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from customers.tests.factories import CustomerFactory
from inventory.tests.factories import ProductFactory
from reports import customer_selectors
from sales.tests.factories import post_sale


@pytest.mark.django_db
def test_segments_and_churn_follow_the_store_filter_by_home_store(world):
    cache.clear()
    product = ProductFactory(mrp=Decimal("10.00"), dp=Decimal("8.00"))
    own = CustomerFactory.create_batch(3, home_store=world.store_own)
    other = CustomerFactory.create_batch(2, home_store=world.store_other)
    for k, customer in enumerate(own + other):
        for days_ago in (40 + k, 10 + k):
            post_sale(
                store=customer.home_store,
                lines=[(product, 1, None)],
                customer=customer,
                when=timezone.now() - timedelta(days=days_ago),
            )

    chain = customer_selectors.insights()
    mine = customer_selectors.insights(store_id=world.store_own.pk)
    theirs = customer_selectors.insights(store_id=world.store_other.pk)

    assert (chain["customers_scored"], mine["customers_scored"], theirs["customers_scored"]) == (5, 3, 2)
    for data, n in ((chain, 5), (mine, 3), (theirs, 2)):
        assert sum(s["customers"] for s in data["segments"]) == n
        assert sum(b["customers"] for b in data["churn"]) == n
    assert sum(s["spend"] for s in mine["segments"]) == Decimal("60.00")  # 3 members × 2 visits × £10


@pytest.mark.django_db
def test_the_insights_report_says_whose_segments_it_shows(world):
    from django.http import QueryDict  # noqa: PLC0415 — only this test builds the page's query

    from reports.filters import parse_filters  # noqa: PLC0415
    from reports.insights import customers  # noqa: PLC0415

    def filters(query):
        return parse_filters(user=world.owner, params=QueryDict(query), today=timezone.localdate())

    assert customers(filters("period=30d"))["members_of"] is None
    assert customers(filters(f"period=30d&store={world.store_own.pk}"))["members_of"] == world.store_own
