"""The retail calendar as data (issue 18 §1): models' validation, overlap refusal, detection of weekly closing
days, and `calendar_frame` (content and a query count that does not grow with the pairs)."""

from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from forecasting.calendar import calendar_frame, closing_days_detect, promotion_create, promotions_for
from forecasting.models import HolidayOverride, Promotion, StoreClosure, WeeklyClosingDay
from forecasting.selectors import series_id
from inventory.tests.factories import CategoryFactory, ProductFactory, StoreFactory
from sales.models import StoreDaily

D = date(2026, 3, 2)  # a Monday, no public holiday in England that week


def _rows(frame: pd.DataFrame, uid: str) -> dict:
    sub = frame[frame["unique_id"] == uid]
    return {
        ts.date(): (c, p, h) for ts, c, p, h in zip(sub["ds"], sub["closed"], sub["promo"], sub["holiday"], strict=True)
    }


# --- models ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"start": D, "end": D - timedelta(days=1), "discount_percent": Decimal("10")}, "before it starts"),
        ({"start": D, "end": D}, "not both and not neither"),
        ({"start": D, "end": D, "discount_percent": Decimal("10"), "promo_price": Decimal("5")}, "not both"),
        ({"start": D, "end": D, "discount_percent": Decimal("0")}, "more than 0 %"),
    ],
)
def test_promotion_clean_refuses_bad_dates_and_discounts(db, fields, message):
    with pytest.raises(ValidationError, match=message):
        Promotion(name="x", **fields).full_clean()


def test_promotion_with_nothing_targeted_is_refused(db):
    with pytest.raises(ValidationError, match="at least one product or category"):
        promotion_create(name="Empty", start=D, end=D, discount_percent=Decimal("10"))


def test_overlapping_promotions_on_same_product_and_store_are_refused_with_names(db):
    store, other = StoreFactory(), StoreFactory()
    product = ProductFactory(sku="JAM-1")
    promotion_create(name="Jam week", start=D, end=D + timedelta(days=6), products=[product], stores=[store],
                     discount_percent=Decimal("20"))  # fmt: skip
    # through its category, chain-wide (stores empty = all), overlapping by one day
    with pytest.raises(ValidationError, match=r"overlaps the promotion “Jam week” .*JAM-1"):
        promotion_create(name="Breakfast", start=D + timedelta(days=6), end=D + timedelta(days=9),
                         categories=[product.category], discount_percent=Decimal("10"))  # fmt: skip
    # another store, or after it ends: fine
    promotion_create(
        name="Other store", start=D, end=D, products=[product], stores=[other], discount_percent=Decimal("5")
    )
    promotion_create(name="Later", start=D + timedelta(days=7), end=D + timedelta(days=8), products=[product],
                     discount_percent=Decimal("5"))  # fmt: skip
    assert Promotion.objects.count() == 3


# --- calendar_frame ----------------------------------------------------------------------------------------------


def test_calendar_frame_closures_weekly_days_and_holiday_overrides(db):
    store = StoreFactory(country="GB", subdivision="ENG")
    product = ProductFactory()
    uid = series_id(store.pk, product.pk)
    StoreClosure.objects.create(store=store, date=D + timedelta(days=1), reason="refit")
    WeeklyClosingDay.objects.create(store=store, weekday=6, confirmed=True)  # Sundays
    WeeklyClosingDay.objects.create(store=store, weekday=2, detected=True, confirmed=False)  # not used until confirmed
    HolidayOverride.objects.create(store=store, date=date(2026, 4, 6), kind=HolidayOverride.Kind.OPEN)  # Easter Mon
    HolidayOverride.objects.create(store=store, date=date(2026, 4, 3), kind=HolidayOverride.Kind.CLOSED)  # Good Fri
    HolidayOverride.objects.create(store=store, date=D + timedelta(days=3), kind=HolidayOverride.Kind.SHORT)
    frame = calendar_frame(pairs=[(store.pk, product.pk)], start=D, end=date(2026, 5, 31))
    assert list(frame.columns) == ["unique_id", "ds", "closed", "promo", "holiday"]
    assert str(frame["ds"].dtype) == "datetime64[ns]" and frame["closed"].dtype == bool
    rows = _rows(frame, uid)
    assert rows[D + timedelta(days=1)] == (True, 0.0, False)  # one-off refit
    assert rows[D + timedelta(days=6)] == (True, 0.0, False)  # a confirmed Sunday
    assert D + timedelta(days=2) not in rows  # a detected Wednesday not confirmed: an ordinary day
    assert rows[D + timedelta(days=3)] == (False, 0.0, True)  # short day
    assert rows[date(2026, 4, 3)] == (True, 0.0, True)  # Good Friday, closed by override
    assert date(2026, 4, 6) not in rows  # Easter Monday, open as usual
    assert rows[date(2026, 5, 4)] == (False, 0.0, True)  # May Day bank holiday
    assert D not in rows  # an ordinary Monday has no row
    assert not frame.duplicated(["unique_id", "ds"]).any()


def test_calendar_frame_promotions_percent_price_categories_and_all_stores(db):
    north, south = StoreFactory(), StoreFactory()
    top = CategoryFactory(name="Bakery")
    sub = CategoryFactory(name="Bread", parent=top)
    loaf = ProductFactory(category=sub, mrp=Decimal("2.00"), dp=Decimal("2.00"), cost_price=Decimal("1.00"))
    cake = ProductFactory(category=top, mrp=Decimal("8.00"), dp=Decimal("8.00"))
    soap = ProductFactory(mrp=Decimal("4.00"), dp=Decimal("4.00"), cost_price=Decimal("2.00"))
    promotion_create(
        name="Bakery 20", start=D, end=D + timedelta(days=2), categories=[top], discount_percent=Decimal("20")
    )
    promotion_create(name="Soap at 3", start=D, end=D, products=[soap], stores=[south], promo_price=Decimal("3.00"))
    pairs = [(s.pk, p.pk) for s in (north, south) for p in (loaf, cake, soap)]
    frame = calendar_frame(pairs=pairs, start=D - timedelta(days=3), end=D + timedelta(days=10))
    for store in (north, south):  # no stores = every store; the top category reaches its sub-category's products
        for product in (loaf, cake):
            rows = _rows(frame, series_id(store.pk, product.pk))
            assert [d for d, r in rows.items() if r[1]] == [D, D + timedelta(days=1), D + timedelta(days=2)]
            assert rows[D][1] == pytest.approx(0.2)
    assert _rows(frame, series_id(south.pk, soap.pk))[D] == (False, pytest.approx(0.25), False)  # 3.00 vs 4.00
    assert _rows(frame, series_id(north.pk, soap.pk)) == {}  # the soap promotion is the south store's only


def test_calendar_frame_queries_do_not_grow_with_pairs(db):
    stores = [StoreFactory() for _ in range(3)]
    products = [ProductFactory() for _ in range(30)]
    for store in stores:
        StoreClosure.objects.create(store=store, date=D)
        WeeklyClosingDay.objects.create(store=store, weekday=6, confirmed=True)
    promotion_create(
        name="All", start=D, end=D + timedelta(days=30), products=products[:10], discount_percent=Decimal("15")
    )
    promotion_create(name="Cat", start=D, end=D + timedelta(days=30), categories=[products[20].category],
                     discount_percent=Decimal("15"))  # fmt: skip

    def queries(pairs):
        with CaptureQueriesContext(connection) as ctx:
            frame = calendar_frame(pairs=pairs, start=date(2024, 1, 1), end=date(2026, 12, 31))
        return len(ctx), frame

    few, small = queries([(stores[0].pk, products[0].pk)])
    many, big = queries([(s.pk, p.pk) for s in stores for p in products])
    assert many == few <= 9
    assert big["unique_id"].nunique() == 90 and big["closed"].sum() == 90 * (1 + 156)  # 1 one-off + 156 Sundays
    assert big["promo"].gt(0).sum() == 3 * 11 * 31


def test_calendar_frame_ignores_unknown_pairs_and_empty_input(db):
    store = StoreFactory()
    assert calendar_frame(pairs=[], start=D, end=D).empty
    assert calendar_frame(pairs=[(store.pk, 999_999), (999_999, 1)], start=D, end=D + timedelta(days=30)).empty


def test_promotions_for_reaches_through_category_and_store(db):
    store, other = StoreFactory(), StoreFactory()
    product = ProductFactory()
    mine = promotion_create(
        name="Mine", start=D, end=D, products=[product], stores=[store], discount_percent=Decimal("10")
    )
    chain = promotion_create(name="Chain", start=D + timedelta(days=1), end=D + timedelta(days=1),
                             categories=[product.category], discount_percent=Decimal("10"))  # fmt: skip
    assert promotions_for(store_id=store.pk, product_id=product.pk, start=D, end=D + timedelta(days=5)) == [mine, chain]
    assert promotions_for(store_id=other.pk, product_id=product.pk, start=D, end=D + timedelta(days=5)) == [chain]


# --- detection of weekly closing days -------------------------------------------------------------------------------


def _trade(store, days):
    StoreDaily.objects.bulk_create(
        [StoreDaily(store=store, date=d, payment_method="card", transactions=3, revenue=Decimal("30")) for d in days]
    )


@pytest.mark.parametrize(("weeks_without", "detected"), [(8, True), (7, False)])
def test_closing_day_detected_after_eight_weeks_without_sunday_sales(db, weeks_without, detected):
    today = date(2026, 12, 7)  # a Monday
    store = StoreFactory()
    history = [today - timedelta(days=i) for i in range(1, 200)]
    last_sundays = {d for d in history if d.weekday() == 6 and (today - d).days <= 7 * weeks_without}
    _trade(store, [d for d in history if d not in last_sundays])
    result = closing_days_detect(today=today)
    found = WeeklyClosingDay.objects.filter(store=store, weekday=6, detected=True, confirmed=False).exists()
    assert found is detected
    assert result["detected"] == int(detected)
    assert not WeeklyClosingDay.objects.filter(store=store).exclude(weekday=6).exists()
    closing_days_detect(today=today)  # idempotent
    assert WeeklyClosingDay.objects.filter(store=store).count() == int(detected)


def test_detection_skips_a_store_that_opened_within_the_window_and_drops_stale_detections(db):
    today = date(2026, 12, 7)
    new = StoreFactory()
    _trade(new, [today - timedelta(days=i) for i in range(1, 30) if (today - timedelta(days=i)).weekday() != 6])
    old = StoreFactory()
    WeeklyClosingDay.objects.create(store=old, weekday=1, detected=True)  # Tuesdays: trades again
    kept = WeeklyClosingDay.objects.create(store=old, weekday=2, detected=True, confirmed=True)
    _trade(old, [today - timedelta(days=i) for i in range(1, 120)])
    closing_days_detect(today=today)
    assert not WeeklyClosingDay.objects.filter(store=new).exists()
    assert list(WeeklyClosingDay.objects.filter(store=old)) == [kept]
