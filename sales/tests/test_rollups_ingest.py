"""Rollups after ingestion: the incremental refresh equals a full rebuild; the rebuild command restores them."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command

from inventory.tests.factories import ProductFactory, StoreFactory
from sales.models import SalesDaily, StoreDaily
from sales.rollups import rollups_rebuild
from sales.tests.factories import post_sale
from sales.tests.test_ingest_files import run_import, uci

pytestmark = pytest.mark.django_db

SALES_SUMS = ("units", "revenue", "cost", "discount", "units_mrp", "revenue_mrp", "returns_units", "returns_value",
              "transactions")  # fmt: skip
STORE_SUMS = ("transactions", "revenue", "cost", "discount", "units", "returns_value", "customers")


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def snapshot():
    return (
        sorted(SalesDaily.objects.values_list("store_id", "product_id", "date", *SALES_SUMS)),
        sorted(StoreDaily.objects.values_list("store_id", "date", "payment_method", *STORE_SUMS)),
    )


@pytest.fixture
def mixed_history():
    """Sales from the till, a file with returns and fees, and a store in another time zone."""
    tokyo = StoreFactory(code="TYO", timezone="Asia/Tokyo")
    tea = ProductFactory(sku="TEA", mrp=Decimal("4.00"), dp=Decimal("3.50"), cost_price=Decimal("2.00"))
    # 23:30 UTC on 1 May is already 2 May in Tokyo: the rollup must use the store's day.
    post_sale(store=tokyo, lines=[(tea, 3, "3.50")], when=datetime(2024, 5, 1, 23, 30, tzinfo=UTC))
    post_sale(store=tokyo, lines=[(tea, -1, None)], kind="return", when=datetime(2024, 5, 2, 1, 0, tzinfo=UTC))
    run_import(
        uci(
            "536365,TEA,TEA,6,12/1/2010 8:26,4.00,17850,United Kingdom",
            "536365,POST,POSTAGE,1,12/1/2010 8:26,18,17850,United Kingdom",
            "C536379,TEA,TEA,-2,12/1/2010 9:41,4.00,17850,United Kingdom",
            "536380,TEA,TEA,1,12/2/2010 9:41,3.00,,United Kingdom",
        )
    )
    return tokyo, tea


def test_incremental_refresh_equals_a_full_rebuild(mixed_history):
    tokyo, tea = mixed_history
    incremental = snapshot()

    rollups_rebuild()

    assert snapshot() == incremental
    tokyo_day = SalesDaily.objects.get(store=tokyo, product=tea)
    assert (str(tokyo_day.date), tokyo_day.units, tokyo_day.returns_units) == ("2024-05-02", Decimal("2"), Decimal("1"))
    online = StoreDaily.objects.get(store__code="ONLINE", date="2010-12-01")
    assert (online.revenue, online.returns_value, online.transactions, online.customers) == (
        Decimal("34.00"),  # 24 + 18 postage - 8 returned
        Decimal("8.00"),
        1,
        1,
    )


def test_the_rebuild_command_restores_wiped_rollups(mixed_history):
    before = snapshot()
    SalesDaily.objects.all().delete()
    StoreDaily.objects.all().delete()

    call_command("rebuild_rollups")

    assert snapshot() == before


def test_the_rebuild_command_can_take_a_store_and_days(mixed_history):
    tokyo, _ = mixed_history
    before = snapshot()
    SalesDaily.objects.filter(store=tokyo).update(units=0)

    call_command("rebuild_rollups", "--store", "tyo", "--from", "2024-05-01", "--to", "2024-05-31")

    assert snapshot() == before
