"""The demo till: today's receipts so far, once, then one at a time — through the real posting service."""

import random
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db.models import Sum

from demo.load import demo_load
from demo.till import demo_till_backfill, demo_till_tick
from forecasting.models import StoreClosure, WeeklyClosingDay
from inventory.models import StockLevel, StockMovement, Store
from sales.models import Sale, StoreDaily

from .test_demo import TINY

pytestmark = pytest.mark.django_db
LONDON = ZoneInfo("Europe/London")
NOON = datetime(2026, 4, 1, 12, 0, tzinfo=LONDON)  # the day after the demo's last day


@pytest.fixture
def demo():
    return demo_load(config=replace(TINY, days=40, end_date=date(2026, 3, 31)))


def test_backfill_posts_todays_receipts_from_opening_until_now_once(demo):
    posted = demo_till_backfill(now=NOON)
    again = demo_till_backfill(now=NOON)

    today = Sale.objects.filter(local_date=date(2026, 4, 1))
    assert posted == today.count() == 16  # 4 stores × 4 hours × 1 receipt an hour
    assert again == 0
    times = sorted(t.astimezone(LONDON) for t in today.values_list("occurred_at", flat=True))
    assert times[0].hour >= 8 and times[-1] <= NOON
    # the receipts went through the real service: rollups, stock and the ledger agree
    takings = StoreDaily.objects.filter(date=date(2026, 4, 1)).aggregate(s=Sum("revenue"))["s"]
    assert takings == today.aggregate(s=Sum("total"))["s"] > 0
    levels = {(lv.store_id, lv.product_id): lv.on_hand for lv in StockLevel.objects.all()}
    moved = StockMovement.objects.values("store_id", "product_id").annotate(s=Sum("quantity"))
    assert all(levels[(m["store_id"], m["product_id"])] == m["s"] for m in moved)


def test_a_tick_is_one_more_receipt_at_that_moment(demo):
    sale = demo_till_tick(rng=random.Random(3), now=NOON)

    assert sale.occurred_at == NOON and sale.total > Decimal("0")
    assert sale.pos_reference.startswith("TILL-20260401-120000-")


def test_the_till_stays_closed_on_a_database_seed_demo_did_not_load(world):
    out = StringIO()

    call_command("demo_till", "--once", stdout=out)

    assert "the till stays closed" in out.getvalue()
    assert not Sale.objects.exists()


def test_a_store_shut_today_rings_nothing_up(demo):
    first, second = Store.objects.order_by("code")[:2]
    StoreClosure.objects.create(store=first, date=date(2026, 4, 1), reason="refit")
    WeeklyClosingDay.objects.create(store=second, weekday=date(2026, 4, 1).weekday(), confirmed=True)

    posted = demo_till_backfill(now=NOON)
    for _ in range(20):
        demo_till_tick(rng=random.Random(_), now=NOON)

    today = Sale.objects.filter(local_date=date(2026, 4, 1))
    assert posted > 0 and today.count() == posted + 20
    assert not today.filter(store__in=[first, second]).exists()
