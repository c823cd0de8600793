"""The engine with a calendar (issue 18): closures, promotions, holidays, launches, the year's season and a
calibrated band — small synthetic frames, no database."""

import numpy as np
import pandas as pd
import pytest

from forecasting import engine

FAST = ["seasonal_naive", "seasonal_avg", "ets"]


def poisson(uid, days, lam, seed):
    rng = np.random.default_rng(seed)
    lam = np.broadcast_to(np.asarray(lam, dtype=float), (len(days),))
    return pd.DataFrame({"unique_id": uid, "ds": days, "y": rng.poisson(lam).astype(float)})


def calendar_rows(uid, days, **cols):
    frame = pd.DataFrame({"unique_id": uid, "ds": days})
    for name, value in cols.items():
        frame[name] = value
    return frame


def pinned_frame():
    rng = np.random.default_rng(5)
    days = pd.date_range("2025-01-01", periods=150, freq="D")
    parts = []
    for i, level in enumerate([0.4, 3.0, 12.0]):
        dow = np.array([1.0, 0.9, 1.0, 1.1, 1.3, 1.6, 0.6])[days.dayofweek]
        parts.append(pd.DataFrame({"unique_id": f"1:{i}", "ds": days, "y": rng.poisson(level * dow).astype(float)}))
    return pd.concat(parts, ignore_index=True)


def test_without_a_calendar_the_numbers_are_those_of_the_engine_before_the_calendar():
    # given the figures the engine of commit 42bd0b4 (before the calendar) gave for this frame
    result = engine.forecast_frame(pinned_frame(), horizon=14)
    fc = result.forecasts
    # then the same numbers, and a baseline equal to the forecast
    assert fc["yhat"].sum() == pytest.approx(222.957457133, abs=1e-6)
    assert fc["lo"].sum() == pytest.approx(137.597222704, abs=1e-6)
    assert fc["hi"].sum() == pytest.approx(316.594968201, abs=1e-6)
    assert (fc["baseline"] == fc["yhat"]).all()
    assert result.effects == {}


def test_closed_days_are_forecast_zero_left_out_of_the_errors_and_not_fitted_as_zero_demand():
    # given a shop selling ~10 a day, shut on Sundays and for a one-off week (a refit) just before the end
    days = pd.date_range("2025-01-01", periods=140, freq="D")
    shut = (days.dayofweek == 6) | ((days >= days[-10]) & (days < days[-3]))
    demand = poisson("1:1", days, np.where(shut, 0.0, 10.0), seed=1)
    future = pd.date_range(days[-1] + pd.Timedelta(days=1), periods=14, freq="D")
    every = days.append(future)
    calendar = calendar_rows("1:1", every, closed=(every.dayofweek == 6) | every.isin(days[shut]))
    calendar = calendar[calendar["closed"]]
    # when
    result = engine.forecast_frame(demand, horizon=14, models=FAST, calendar=calendar)
    plain = engine.forecast_frame(demand, horizon=14, models=FAST)
    fc = result.forecasts.set_index("ds")
    # then Sundays ahead are exactly 0, and the open days are forecast at the open level, not dragged down
    sundays = fc.index.dayofweek == 6
    assert (fc.loc[sundays, ["yhat", "lo", "hi", "baseline"]] == 0).all().all()
    assert fc.loc[~sundays, "yhat"].mean() == pytest.approx(10, rel=0.15)
    plain_open = plain.forecasts.set_index("ds").loc[~sundays, "yhat"].mean()
    assert plain_open < 8.5  # without the calendar the refit week reads as a collapse in demand
    # and no closed day is in the backtest that scores the models
    assert not result.backtest["ds"].isin(days[shut]).any()
    assert result.effects["1:1"]["closed_days"] == int(shut.sum())


def promo_set(uplift_of, promo_starts_of, seed=0):
    """Series "s:p" at 8 a day; promotion weeks at 20 % off where sales rise by uplift_of[uid]."""
    days = pd.date_range("2025-01-01", periods=210, freq="D")
    future = pd.date_range(days[-1] + pd.Timedelta(days=1), periods=14, freq="D")
    parts, cal = [], []
    for k, (uid, uplift) in enumerate(uplift_of.items()):
        promo = np.zeros(len(days))
        for start in promo_starts_of[uid]:
            promo[start : start + 7] = 0.2
        lam = 8.0 * np.where(promo > 0, 1 + uplift, 1.0)
        parts.append(poisson(uid, days, lam, seed=seed + k))
        coming = np.r_[np.zeros(7), np.full(7, 0.2)]
        every = days.append(future)
        rows = calendar_rows(uid, every, promo=np.r_[promo, coming])
        cal.append(rows[rows["promo"] > 0])
    return pd.concat(parts, ignore_index=True), pd.concat(cal, ignore_index=True), future


def test_a_promotion_uplift_is_learned_from_the_history_and_applied_to_a_coming_promotion():
    # given a series selling +60 % in its promotion weeks (8 of them), and a promotion in the second week ahead
    demand, calendar, future = promo_set({"1:1": 0.6}, {"1:1": range(10, 200, 25)})
    # when
    result = engine.forecast_frame(demand, horizon=14, models=FAST, calendar=calendar)
    without = engine.forecast_frame(demand, horizon=14, models=FAST)
    fc = result.forecasts.set_index("ds")
    promo_days = future[7:]
    # then the promotion days are forecast at 1.6 × the baseline (±15 %), the other days at the baseline
    ratio = fc.loc[promo_days, "yhat"] / fc.loc[promo_days, "baseline"]
    assert ratio.mean() == pytest.approx(1.6, rel=0.15)
    assert (fc.loc[future[:7], "yhat"] == fc.loc[future[:7], "baseline"]).all()
    assert fc.loc[promo_days, "yhat"].mean() == pytest.approx(8 * 1.6, rel=0.15)
    # and the baseline is not inflated by past promotions (without the calendar it is)
    assert fc.loc[future[:7], "baseline"].mean() == pytest.approx(8, rel=0.12)
    assert without.forecasts["yhat"].iloc[:7].mean() > fc.loc[future[:7], "baseline"].mean()


def test_a_series_with_one_promotion_is_shrunk_toward_its_group():
    # given four products of one category with many promotions at +50 %, and one with a single promotion week
    # in which it sold +200 %
    many = {f"1:{i}": 0.5 for i in range(4)}
    uplift_of = {**many, "1:9": 2.0}
    starts = {uid: range(10, 200, 25) for uid in many} | {"1:9": [150]}
    demand, calendar, _ = promo_set(uplift_of, starts)
    groups = {uid: ("toys", "1") for uid in uplift_of}
    # when
    result = engine.forecast_frame(demand, horizon=14, models=FAST, calendar=calendar, groups=groups)
    alone = engine.forecast_frame(
        demand[demand["unique_id"] == "1:9"],
        horizon=14,
        models=FAST,
        calendar=calendar[calendar["unique_id"] == "1:9"],
    )
    # then its uplift lies between the group's and its own, and is pulled toward the group's by the group
    one = 1 + 0.2 * result.effects["1:9"]["promo_per_discount"]
    group = 1 + 0.2 * result.effects["1:0"]["promo_per_discount"]
    own = 1 + 0.2 * alone.effects["1:9"]["promo_per_discount"]
    assert group == pytest.approx(1.5, rel=0.12)
    assert group < one < own
    assert one < 2.4


def test_a_launch_is_forecast_from_similar_products_not_from_its_launch_spike():
    # given three products of a category selling ~3 a day for 120 days, and one launched 30 days ago that sold
    # 30 a day in its launch week and ~3 a day since
    days = pd.date_range("2025-01-01", periods=120, freq="D")
    parts = [poisson(f"1:{i}", days, 3.0, seed=i) for i in range(3)]
    young = days[-30:]
    parts.append(poisson("1:9", young, np.r_[np.full(7, 30.0), np.full(23, 3.0)], seed=9))
    demand = pd.concat(parts, ignore_index=True)
    groups = {f"1:{i}": ("mugs", "1") for i in (0, 1, 2, 9)}
    # when
    result = engine.forecast_frame(demand, horizon=14, models=FAST, calendar=pd.DataFrame(), groups=groups)
    plain = engine.forecast_frame(demand, horizon=14, models=FAST)
    # then it is forecast near 3 a day, not near its history mean (~9)
    launch = result.forecasts[result.forecasts["unique_id"] == "1:9"]
    assert launch["yhat"].mean() == pytest.approx(3, rel=0.35)
    assert plain.forecasts[plain.forecasts["unique_id"] == "1:9"]["yhat"].mean() > 8
    assert result.chosen["1:9"]["model"] == "launch"
    assert "launch week" in result.chosen["1:9"]["reason"]


def test_the_year_s_season_is_part_of_the_forecast_of_a_two_year_series():
    # given two years of a product that sells twice as much in December, forecast from 30 November
    days = pd.date_range("2023-11-20", "2025-11-30", freq="D")
    lam = 6.0 * np.where(days.month == 12, 2.0, 1.0)
    demand = poisson("1:1", days, lam, seed=3)
    # when
    result = engine.forecast_frame(demand, horizon=21, models=FAST, calendar=pd.DataFrame())
    plain = engine.forecast_frame(demand, horizon=21, models=FAST)
    # then December is forecast near 12 a day, where the forecast without the year's season stays near 6
    december = result.forecasts["yhat"].mean()
    assert december == pytest.approx(12, rel=0.2)
    assert plain.forecasts["yhat"].mean() < 8


def test_the_calibrated_band_covers_about_80_percent_of_the_days_ahead():
    # given 60 series of lumpy demand (orders of ~8 units arriving 0.15–3 times a day: many days without a
    # sale), and what they then sell in the 28 days after the history
    rng = np.random.default_rng(11)
    every = pd.date_range("2025-01-01", periods=196 + 28, freq="D")
    parts = []
    for i, rate in enumerate(np.repeat([0.15, 0.4, 1.0, 3.0], 15)):
        orders = rng.poisson(rate, len(every))
        y = np.array([rng.geometric(1 / 8, n).sum() if n else 0 for n in orders], dtype=float)
        parts.append(pd.DataFrame({"unique_id": f"1:{i}", "ds": every, "y": y}))
    full = pd.concat(parts, ignore_index=True)
    cut = every[195]
    history, future = full[full["ds"] <= cut], full[full["ds"] > cut]

    def coverage(result):
        merged = future.merge(result.forecasts, on=["unique_id", "ds"])
        return ((merged["y"] >= merged["lo"]) & (merged["y"] <= merged["hi"])).mean()

    # when
    calibrated = coverage(engine.forecast_frame(history, horizon=28, models=FAST, calendar=pd.DataFrame()))
    symmetric = coverage(engine.forecast_frame(history, horizon=28, models=FAST))
    # then the calibrated band covers 75–85 % of the days that followed, pooled; ± z·RMSE covered too many
    assert 0.75 <= calibrated <= 0.85
    assert symmetric > 0.85


def test_calendar_rows_for_unknown_series_or_days_outside_the_range_are_ignored():
    # given the pinned frame, and a calendar that names a series it does not hold and days long before / after
    demand = pinned_frame()
    calendar = pd.DataFrame(
        {
            "unique_id": ["9:9", "1:1", "1:1", "1:1"],
            "ds": pd.to_datetime(["2025-03-01", "2020-01-01", "2030-01-01", "not a day"], errors="coerce"),
            "closed": [True, True, True, True],
            "promo": [0.5, 0.5, 0.5, 0.5],
        }
    )
    # when / then: no exception, and the same forecast as with an empty calendar
    with_rows = engine.forecast_frame(demand, horizon=14, calendar=calendar)
    empty = engine.forecast_frame(demand, horizon=14, calendar=pd.DataFrame(columns=["unique_id", "ds", "closed"]))
    pd.testing.assert_frame_equal(with_rows.forecasts, empty.forecasts)
    assert with_rows.effects["1:1"]["closed_days"] == 0


def test_a_calendar_run_reads_last_year_s_weeks_before_the_backtest():
    # last year's level (28 days) and week (7 days) before the first of 2 backtest windows of 28 days
    assert engine.history_days_with_calendar(["ets"], 2) == 364 + 28 + 7 + 56
    assert engine.history_days_with_calendar(["ets", "prophet"], 2) == engine.PROPHET_HISTORY_DAYS + 56
