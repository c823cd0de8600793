from decimal import Decimal

import factory
from django.utils import timezone

from customers.models import Customer, LoyaltyTier


class LoyaltyTierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LoyaltyTier
        django_get_or_create = ("rank",)

    rank = 0
    name = factory.LazyAttribute(lambda o: ["Bronze", "Silver", "Gold", "Platinum"][o.rank % 4])
    threshold = Decimal("0")
    discount_percent = Decimal("0")
    points_multiplier = Decimal("1")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    code = factory.Sequence(lambda n: f"C{n:06d}")
    name = factory.Sequence(lambda n: f"Customer {n}")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    phone = factory.Sequence(lambda n: f"07700 9{n:05d}")
    tier = factory.SubFactory(LoyaltyTierFactory)
    joined_at = factory.LazyFunction(timezone.now)
