"""The figures of one series moved out of the views: the same weeks last year against the forecast (the
detail page's season check) and which forecast the predict API serves (the run's, on demand, or zeros)."""

from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from forecasting import selectors, services
from forecasting.models import StoreClosure
from inventory.tests.factories import ProductFactory

from .factories import finished_run, sales_days

END = date(2025, 3, 31)


def days_of(units: list[float]) -> list[tuple[date, float]]:
    return [(END + timedelta(days=i), u) for i, u in enumerate(units)]


def forecast_of(yhat: list[float]) -> list[SimpleNamespace]:
    return [SimpleNamespace(yhat=y) for y in yhat]


# --- series_last_year_check (no database) ------------------------------------------------------------


def test_last_year_clearly_above_the_forecast_warns_of_a_season_and_plans_halfway():
    # given: four weeks that sold 2 a day last year; the forecast says 1 a day
    last_year, forecasts = days_of([2] * 28), forecast_of([1.0] * 28)

    # when
    check = selectors.series_last_year_check(forecasts=forecasts, last_year=last_year)

    # then: 56 ≥ 1.5 × 28 and 28 units more → a season turning; halfway is 42
    assert check == {
        "last_year_days": 28,
        "last_year_total": 56.0,
        "forecast_total": 28.0,
        "season_warning": True,
        "season_halfway": 42.0,
    }


def test_last_year_close_to_the_forecast_is_no_season_and_only_its_days_are_compared():
    # given: ten days of last year (the product was new then), the forecast runs for 28
    last_year, forecasts = days_of([3] * 10), forecast_of([2.5] * 28)

    # when
    check = selectors.series_last_year_check(forecasts=forecasts, last_year=last_year)

    # then: 30 against 25 over those ten days — not half as much again
    assert check == {
        "last_year_days": 10,
        "last_year_total": 30.0,
        "forecast_total": 25.0,
        "season_warning": False,
        "season_halfway": 27.5,
    }


def test_no_last_year_gives_nothing_to_compare():
    assert selectors.series_last_year_check(forecasts=forecast_of([4.0] * 7), last_year=[]) == {}


# --- series_forecast_stored / series_forecast_predict ---------------------------------------------------


@pytest.fixture
def tea_run(world):
    tea = ProductFactory(sku="TEA")
    run = finished_run(pairs=[(world.store_own, tea)], end=END, daily=2.0, horizon=28, rmse=1.0)
    return SimpleNamespace(store=world.store_own, other=world.store_other, tea=tea, run=run)


def test_a_run_covering_the_horizon_serves_its_days_and_the_chosen_model(tea_run):
    # when
    got = selectors.series_forecast_stored(store=tea_run.store, product=tea_run.tea, horizon=3)

    # then: the run's first three days (2 a day, 80 % band ± 1.28 × RMSE) and its accuracy row
    assert got == {
        "source": "run",
        "run": tea_run.run.pk,
        "info": {"model": "ets", "reason": "test", "mase": 0.7, "wmape": 0.3, "bias": 0.01, "history_days": 400},
        "days": [
            {"date": END + timedelta(days=d), "yhat": 2.0, "lo": pytest.approx(0.72), "hi": pytest.approx(3.28)}
            for d in (1, 2, 3)
        ],
    }
    assert services.series_forecast_predict(store=tea_run.store, product=tea_run.tea, horizon=3) == got


def test_no_stored_forecast_when_the_horizon_is_longer_the_series_is_missing_or_no_run_covers_the_store(tea_run):
    coffee = ProductFactory(sku="COFFEE")

    assert selectors.series_forecast_stored(store=tea_run.store, product=tea_run.tea, horizon=29) is None
    assert selectors.series_forecast_stored(store=tea_run.store, product=coffee, horizon=7) is None
    assert selectors.series_forecast_stored(store=tea_run.other, product=tea_run.tea, horizon=7) is None


def test_a_series_never_sold_in_the_store_is_forecast_zero_on_demand_from_today(world):
    # given: no run and no sale of tea in the store
    tea = ProductFactory(sku="TEA")

    # when
    got = services.series_forecast_predict(store=world.store_own, product=tea, horizon=3)

    # then: the last complete day is yesterday, so zeros from today, said so
    today = timezone.localdate()
    assert got == {
        "source": "on demand",
        "run": None,
        "info": {"model": "zero", "reason": "No sales history in this store: forecast zero."},
        "days": [{"date": today + timedelta(days=d), "yhat": 0.0, "lo": 0.0, "hi": 0.0} for d in range(3)],
    }


def test_an_on_demand_forecast_is_zero_on_a_day_the_store_is_shut(world):
    # given: 20 weeks of sales ending yesterday, and a refit day in the coming week
    tea = ProductFactory(sku="TEA")
    yesterday = timezone.localdate() - timedelta(days=1)
    sales_days(store=world.store_own, product=tea, units=[3, 4, 5, 6, 7, 8, 9] * 20, end=yesterday)
    shut = yesterday + timedelta(days=3)
    StoreClosure.objects.create(store=world.store_own, date=shut, reason="refit")

    # when: a horizon no run covers
    got = services.series_forecast_predict(store=world.store_own, product=tea, horizon=7)

    # then: nothing can be sold that day; the other days are not
    by_day = {d["date"]: d["yhat"] for d in got["days"]}
    assert got["source"] == "on demand"
    assert by_day[shut] == 0.0
    assert all(y > 0 for day, y in by_day.items() if day != shut)
