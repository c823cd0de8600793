"""factory_boy factories for the inventory app, and make_user() for role-holding users."""

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from inventory.models import Category, Product, StockLevel, Store, StoreMembership, Supplier

PASSWORD = "test-pass-123"


def make_user(role: str | None, *, stores=(), username: str | None = None, **extra):
    """A user in the role's group (groups are created by the post-migrate role sync)."""
    User = get_user_model()
    username = username or f"{role or 'nobody'}_{User.objects.count() + 1}"
    user = User.objects.create_user(username=username, password=PASSWORD, is_staff=(role == "owner"), **extra)
    if role:
        user.groups.add(Group.objects.get(name=role))
    for store in stores:
        StoreMembership.objects.create(user=user, store=store)
    return user


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"S{n:03d}")
    name = factory.Sequence(lambda n: f"Store {n}")
    chain = "North"
    region = "England"
    timezone = "Europe/London"


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n}")


class SupplierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Supplier

    code = factory.Sequence(lambda n: f"SUP{n:03d}")
    name = factory.Sequence(lambda n: f"Supplier {n}")
    lead_time_days = 5


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU{n:05d}")
    barcode = factory.Sequence(lambda n: f"50000{n:08d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    category = factory.SubFactory(CategoryFactory)
    supplier = factory.SubFactory(SupplierFactory)
    mrp = Decimal("10.00")
    dp = Decimal("9.00")
    cost_price = Decimal("6.00")
    case_pack = 6


class StockLevelFactory(factory.django.DjangoModelFactory):
    """Only for read tests: stock normally changes through inventory.services."""

    class Meta:
        model = StockLevel

    store = factory.SubFactory(StoreFactory)
    product = factory.SubFactory(ProductFactory)
