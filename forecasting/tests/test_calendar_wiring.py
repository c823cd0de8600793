"""The calendar in runs, pages and reorder explanations (issue 18 §2 wiring, §4 pages): a run reads the calendar
and stores the baseline; the reorder explanation names a coming promotion's units and the closed days; the chart
marks promotions, closures and holidays; a planned promotion's expected uplift is shown before it starts."""

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from forecasting import calendar as retail_calendar
from forecasting import engine, services
from forecasting.calendar import promotion_create
from forecasting.charts import series_chart
from forecasting.models import DemandForecast, StoreClosure
from forecasting.promo_preview import learned_effects, promotion_uplift
from forecasting.tests.factories import finished_run, sales_days, stock_level
from inventory.tests.factories import ProductFactory, StoreFactory, make_user

MON = date(2025, 10, 6)  # a Monday; no public holiday in the four weeks from it


# --- explanations (pure) -----------------------------------------------------------------------------------------


def test_calendar_notes_name_the_promotion_its_units_and_the_closed_days():
    start = date(2026, 12, 10)  # a Thursday; the order covers 14 days: 10–23 Dec
    marks = {date(2026, 12, d): {"closed": False, "promo": 0.2, "holiday": False} for d in range(12, 19)}
    marks[date(2026, 12, 13)] = {"closed": True, "promo": 0.2, "holiday": False}  # a Sunday in the promotion
    marks[date(2026, 12, 20)] = {"closed": True, "promo": 0.0, "holiday": False}
    marks[date(2027, 1, 3)] = {"closed": True, "promo": 0.0, "holiday": False}  # beyond the cover: not named
    uplift = {date(2026, 12, d): 5.7 for d in (12, 14, 15, 16, 17, 18)}  # 34.2 units
    uplift[date(2026, 12, 11)] = 3.0  # a holiday's uplift, not a promotion day: not counted
    notes = services.calendar_notes(marks, uplift, start=start, days=14)
    assert notes == ["Promotion 12–18 Dec, 20 % off: +34 units.", "Closed Sun 13 Dec, Sun 20 Dec: 0 expected."]


def test_calendar_notes_are_silent_when_the_forecast_did_not_raise_the_need():
    start = date(2026, 12, 10)
    marks = {date(2026, 12, 12): {"closed": False, "promo": 0.3, "holiday": False}}
    assert services.calendar_notes(marks, {}, start=start, days=14) == []  # a promotion entered after the run
    # a promotion running across a month end is named by both months; only the covered days' units count
    marks = {
        date(2026, 12, 28) + timedelta(days=i): {"closed": False, "promo": 0.1, "holiday": False} for i in range(9)
    }
    uplift = {day: 2.0 for day in marks}
    notes = services.calendar_notes(marks, uplift, start=date(2026, 12, 24), days=7)  # 24–30 Dec
    assert notes == ["Promotion 28 Dec–5 Jan, 10 % off: +6 units over the 3 of its 9 days this order covers."]


# --- the run -----------------------------------------------------------------------------------------------------


def _world(end: date, days: int = 300):
    """A store selling a product every day (weekday pattern), with 20 %-off promotions every five weeks that sold
    60 % more; returns (store, product)."""
    store, product = StoreFactory(code="CAL"), ProductFactory(sku="CAL-1")
    start = end - timedelta(days=days - 1)
    promo_days = set()
    for k in range(days // 35):
        first = start + timedelta(days=14 + 35 * k)
        promotion_create(
            name=f"Past {k}", start=first, end=first + timedelta(days=6), products=[product], stores=[store],
            discount_percent=Decimal("20"),
        )  # fmt: skip
        promo_days |= {first + timedelta(days=i) for i in range(7)}
    units = []
    for i in range(days):
        day = start + timedelta(days=i)
        base = 10 + 4 * (day.weekday() >= 4)
        units.append(round(base * (1.6 if day in promo_days else 1.0)))
    sales_days(store=store, product=product, units=units, end=end)
    stock_level(store=store, product=product, on_hand=0)
    return store, product


def _run(end: date, horizon: int = 28):
    run = services.forecast_run_start(horizon_days=horizon, history_end=end, models=["ets"], dispatch=False)
    for chunk in run.chunks.all():
        services.forecast_chunk_process(chunk_id=chunk.pk)
    run.refresh_from_db()
    return run


@pytest.mark.django_db
def test_run_forecasts_zero_on_a_closed_day_and_stores_the_baseline_below_promotion_days():
    end = MON - timedelta(days=1)  # a Sunday
    store, product = _world(end)
    closed = MON + timedelta(days=3)
    StoreClosure.objects.create(store=store, date=closed, reason="Refit")
    coming = promotion_create(
        name="Christmas jam", start=MON + timedelta(days=7), end=MON + timedelta(days=13), products=[product],
        stores=[store], discount_percent=Decimal("20"),
    )  # fmt: skip
    run = _run(end)
    rows = {f.date: f for f in DemandForecast.objects.filter(run=run, store=store, product=product)}
    assert rows[closed].yhat == 0
    promo = [rows[coming.start + timedelta(days=i)] for i in range(7)]
    assert all(f.baseline is not None and f.baseline < f.yhat for f in promo)
    ordinary = rows[MON + timedelta(days=21)]
    assert ordinary.baseline == pytest.approx(ordinary.yhat)

    # the reorder line covering those days says how much the promotion added, and that the store is shut
    plan = services.reorder_plan(store_ids=[store.pk], run=run)
    line = next(ln for ln in plan.lines if ln.product_id == product.pk)
    cover = MON + timedelta(days=line.lead_time + line.review - 1)  # the last day the order covers
    added = sum(f.yhat - f.baseline for f in promo if f.date <= cover)
    why = line.explanation
    inside = sum(1 for f in promo if f.date <= cover)
    assert (
        f"Promotion 13–19 Oct, 20 % off: +{added:.0f} units over the {inside} of its 7 days this order covers." in why
    )
    assert "Closed Thu 9 Oct: 0 expected." in why


@pytest.mark.django_db
def test_a_chain_without_calendar_rows_still_gets_the_calendar_aware_engine(monkeypatch):
    end = MON - timedelta(days=1)
    store, product = StoreFactory(), ProductFactory()
    sales_days(store=store, product=product, units=[3, 4, 5, 6, 7, 8, 9] * 20, end=end)
    seen = {}
    real = engine.forecast_frame

    def spy(demand, **kwargs):
        seen.update(kwargs)
        return real(demand, **kwargs)

    monkeypatch.setattr(engine, "forecast_frame", spy)
    monkeypatch.setattr(retail_calendar, "calendar_frame", lambda **kw: retail_calendar.empty_calendar_frame())
    run = _run(end, horizon=7)
    # An empty calendar still switches on launches, the year's season and the calibrated band.
    assert seen["calendar"] is not None and seen["calendar"].empty
    assert list(seen["groups"].columns) == ["unique_id", "store", "category"]
    rows = DemandForecast.objects.filter(run=run)
    assert rows.count() == 7 and all(f.baseline == f.yhat for f in rows)  # nothing added by a calendar


def test_a_long_model_reason_is_cut_at_a_clause_not_mid_word():
    reason = (
        "Exponential smoothing: the default; " + "x" * 200 + "; promotions learned from 70 promotion days, 4 closed"
    )
    fitted = services._reason_fit(reason + " days left out.")
    assert len(fitted) <= 300
    assert fitted == "Exponential smoothing: the default; " + "x" * 200 + "; promotions learned from 70 promotion days…"
    assert services._reason_fit("Short.") == "Short."


# --- the chart and the page -------------------------------------------------------------------------------------


class _F:
    def __init__(self, day, yhat, baseline):
        self.date, self.yhat, self.lo, self.hi, self.baseline = day, yhat, yhat - 1, yhat + 1, baseline


def test_chart_marks_promotions_closures_and_holidays_past_and_coming_with_the_baseline():
    history = [(MON - timedelta(days=3 - i), 5) for i in range(3)]  # Fri–Sun
    forecasts = [_F(MON + timedelta(days=i), 8.0 if i < 2 else 5.0, 5.0) for i in range(4)]
    calendar = {
        MON - timedelta(days=3): {"closed": False, "promo": 0.2, "holiday": False},  # past promotion
        MON - timedelta(days=1): {"closed": True, "promo": 0.0, "holiday": False},  # past closure
        MON: {"closed": False, "promo": 0.2, "holiday": False},
        MON + timedelta(days=1): {"closed": False, "promo": 0.2, "holiday": True},
        MON + timedelta(days=3): {"closed": True, "promo": 0.0, "holiday": False},
    }
    spec = json.loads(series_chart(history, forecasts, calendar=calendar))
    sets = {ds["label"]: ds for ds in spec["data"]["datasets"]}
    assert sets["Promotion"]["data"] == [1, None, None, 1, 1, None, None]
    assert sets["Closed"]["data"] == [None, None, 1, None, None, None, 1]
    assert sets["Public holiday"]["data"] == [None, None, None, None, 1, None, None]
    assert sets["Promotion"]["type"] == "bar" and sets["Promotion"]["yAxisID"] == "marks"
    assert sets["Forecast without the promotion"]["data"] == [None, None, None, 5.0, 5.0, None, None]
    # no calendar: none of these
    plain = json.loads(series_chart(history, forecasts))
    assert {ds["label"] for ds in plain["data"]["datasets"]} == {"Sold", "Forecast", "80 % low", "80 % high"}


@pytest.mark.django_db
def test_forecast_page_shows_the_marks_of_the_series(client):
    end = MON - timedelta(days=1)
    store, product = StoreFactory(), ProductFactory()
    sales_days(store=store, product=product, units=[4] * 60, end=end)
    run = finished_run(pairs=[(store, product)], end=end, horizon=14)
    DemandForecast.objects.filter(run=run, date=MON + timedelta(days=2)).update(yhat=3.0, baseline=2.0)
    promotion_create(name="Jam", start=MON + timedelta(days=2), end=MON + timedelta(days=2), products=[product],
                     stores=[store], discount_percent=Decimal("25"))  # fmt: skip
    StoreClosure.objects.create(store=store, date=MON + timedelta(days=4))
    client.force_login(make_user("owner"))
    page = client.get(reverse("forecasting:forecast_detail", args=[store.pk, product.pk])).content.decode()
    assert 'data-testid="day-promo">promotion 25% off' in page
    assert "without it 2.0" in page
    assert 'data-testid="day-closed"' in page
    assert "Forecast without the promotion" in page and "Public holiday" not in page


# --- the expected uplift of a planned promotion ----------------------------------------------------------------


@pytest.mark.django_db
def test_expected_uplift_of_a_planned_promotion_from_the_learned_effect(client):
    end = MON - timedelta(days=1)
    store, product = _world(end, days=150)  # four past promotions: 20 % off sold 60 % more
    run = finished_run(pairs=[(store, product)], end=end, horizon=28, daily=10.0)
    effects = learned_effects(pairs=[(store.pk, product.pk)], end=end)
    assert effects[(store.pk, product.pk)]["promo_days"] == 28
    assert 2.5 < effects[(store.pk, product.pk)]["elasticity"] < 3.5  # +60 % at 20 % off ≈ 3 per unit of discount
    promo = promotion_create(
        name="Jam fortnight", start=MON + timedelta(days=7), end=MON + timedelta(days=13), products=[product],
        stores=[store], discount_percent=Decimal("20"),
    )  # fmt: skip
    preview = promotion_uplift(promotion=promo, user=make_user("owner"))
    assert preview.base_total == pytest.approx(70.0)  # the flat forecast of 10 a day over 7 days
    assert 35 < preview.uplift_total < 49  # 70 × ~0.6 (1 + g × 0.2 with g ≈ 3)
    assert preview.run_before is (run.created_at < promo.created_at)
    client.force_login(make_user("owner"))
    page = client.get(reverse("forecasting:promotion_uplift", args=[promo.pk])).content.decode()
    assert f'data-testid="uplift-total">+{preview.uplift_total:.0f}<' in page
    assert "the forecast engine learns" in page
