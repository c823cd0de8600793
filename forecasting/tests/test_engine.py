"""The engine on small frames with known answers: no database, fast."""

import math

import numpy as np
import pandas as pd
import pytest

from forecasting import engine

DAYS = pd.date_range("2025-01-01", periods=84, freq="D")
PATTERN = [1.0, 2.0, 3.0, 4.0, 5.0, 9.0, 6.0]


def weekly(uid="a", days=DAYS, pattern=PATTERN):
    return pd.DataFrame({"unique_id": uid, "ds": days, "y": [pattern[i % 7] for i in range(len(days))]})


def test_prepare_demand_zero_fills_between_sales():
    sales = pd.DataFrame({"unique_id": ["a", "a"], "ds": ["2025-01-01", "2025-01-03"], "y": [4, 2]})
    out = engine.prepare_demand(sales)
    assert out["y"].tolist() == [4.0, 0.0, 2.0]
    assert out["stockout"].tolist() == [False, False, False]


def test_prepare_demand_marks_stockout_days_and_does_not_take_them_as_zero_demand():
    # given 28 days selling 4 a day with stock, then the shelf empties on day 29 and is refilled on day 31
    days = pd.date_range("2025-01-01", periods=31, freq="D")
    sales = pd.DataFrame({"unique_id": "a", "ds": days[:29], "y": 4.0})
    stock = pd.DataFrame({"unique_id": "a", "ds": [days[0], days[28], days[30]], "delta": [116.0, -116.0 + 0, 10.0]})
    # when
    out = engine.prepare_demand(sales, stock=stock, end=days[-1])
    # then days 29 and 30 closed at 0 → stockouts; their demand is the typical day (4), not 0
    assert out["stockout"].tolist() == [False] * 28 + [True, True, False]
    assert out["sold"].tolist()[-3:] == [4.0, 0.0, 0.0]
    assert out["y"].tolist()[-3:] == [4.0, 4.0, 0.0]


def test_accuracy_known_values():
    scores = engine.accuracy([1, 2, 3], [2, 2, 2], scale=0.5)
    assert scores["mae"] == pytest.approx(2 / 3)
    assert scores["wmape"] == pytest.approx(1 / 3)
    assert scores["bias"] == pytest.approx(0.0)
    assert scores["mase"] == pytest.approx(4 / 3)
    assert scores["rmse"] == pytest.approx(math.sqrt(2 / 3))


def test_mase_scale_is_mean_seasonal_difference():
    assert engine.mase_scale(np.array([1, 2, 3, 4, 5, 6, 7, 3, 2, 3, 4, 5, 6, 7]), 7) == pytest.approx(2 / 7)


def test_a_repeating_week_is_forecast_exactly_by_seasonal_naive():
    result = engine.forecast_frame(weekly(), horizon=14, models=["seasonal_naive", "ets", "croston_sba"])
    fc = result.forecasts
    assert result.chosen["a"]["model"] == "seasonal_naive"
    # 84 days start on a Wednesday pattern index 0; day 85 is index 84 % 7 = 0
    assert fc["yhat"].tolist() == [PATTERN[i % 7] for i in range(14)]
    assert fc["lo"].tolist() == fc["yhat"].tolist()  # zero backtest error → zero-width interval
    chosen = result.accuracy[result.accuracy["chosen"]]
    assert chosen["wmape"].tolist() == [0.0]
    assert set(result.accuracy["model"]) == {"seasonal_naive", "ets", "croston_sba"}


def test_all_zero_series_forecasts_zero_and_one_day_history_forecasts_its_value():
    zero = pd.DataFrame({"unique_id": "z", "ds": DAYS, "y": 0.0})
    one = pd.DataFrame({"unique_id": "o", "ds": [DAYS[-1]], "y": [5.0]})
    result = engine.forecast_frame(pd.concat([zero, one]), horizon=7)
    fc = result.forecasts.set_index("unique_id")
    assert fc.loc["z", "yhat"].tolist() == [0.0] * 7
    assert fc.loc["o", "yhat"].tolist() == [5.0] * 7
    assert result.chosen["z"]["model"] == "zero"
    assert result.chosen["o"]["model"] == "mean"
    assert "too short" in result.chosen["o"]["reason"]
    assert result.failed == {}


def test_horizon_is_validated():
    with pytest.raises(engine.EngineError, match="at least one day"):
        engine.forecast_frame(weekly(), horizon=0)
    with pytest.raises(engine.EngineError, match="366"):
        engine.forecast_frame(weekly(), horizon=367)


def test_a_year_ahead_is_a_sensible_forecast():
    result = engine.forecast_frame(weekly(), horizon=366, models=["seasonal_naive", "theta"])
    assert len(result.forecasts) == 366
    assert result.forecasts["yhat"].between(0, 20).all()


def test_a_bad_series_is_reported_and_the_others_are_forecast():
    bad = weekly("bad")
    bad.loc[3, "y"] = np.inf
    result = engine.forecast_frame(pd.concat([weekly("good"), bad]), horizon=7, models=["seasonal_naive"])
    assert set(result.failed) == {"bad"}
    assert set(result.forecasts["unique_id"]) == {"good"}


def test_a_model_failing_on_one_series_retries_the_others_alone(monkeypatch):
    real = engine._select_many

    def flaky(df, **kw):
        if "boom" in set(df["unique_id"]):
            raise RuntimeError("solver exploded")
        return real(df, **kw)

    monkeypatch.setattr(engine, "_select_many", flaky)
    result = engine.forecast_frame(pd.concat([weekly("ok"), weekly("boom")]), horizon=7, models=["seasonal_naive"])
    assert result.failed == {"boom": "RuntimeError: solver exploded"}
    assert set(result.forecasts["unique_id"]) == {"ok"}


def test_trust_badge():
    assert engine.trust_badge(mase=0.5, wmape=0.2, bias=0.05, history_days=400)[0] == "high"
    assert engine.trust_badge(mase=1.0, wmape=0.6, bias=0.05, history_days=400)[0] == "medium"
    assert engine.trust_badge(mase=1.5, wmape=0.9, bias=0.05, history_days=400)[0] == "low"
    assert engine.trust_badge(mase=None, wmape=None, bias=None, history_days=1)[0] == "low"
    # Beating the yardstick on a slow seller whose days are mostly wrong: medium, and the text says why.
    level, why = engine.trust_badge(mase=0.14, wmape=1.0, bias=0.05, history_days=400)
    assert level == "medium" and "100% of the units sold" in why
    # No sale in the backtest weeks (wMAPE undefined), a zero forecast and MASE 0: not "high".
    level, why = engine.trust_badge(mase=0.0, wmape=None, bias=None, history_days=400)
    assert level == "medium" and "Nothing sold" in why
    assert engine.trust_badge(mase=0.0, wmape=float("nan"), bias=float("nan"), history_days=400)[0] == "medium"


def busy(uid="p", days=800, level=20.0):
    """A long, busy, smooth series: Prophet's gate lets it in."""
    ds = pd.date_range("2023-01-01", periods=days, freq="D")
    week = np.array([0.9, 0.8, 1.0, 1.0, 1.2, 1.4, 0.7])[ds.dayofweek]
    return pd.DataFrame({"unique_id": uid, "ds": ds, "y": np.round(level * week)})


def test_prophet_gate_takes_long_busy_smooth_series_busiest_first_up_to_its_share():
    # given a long busy series, a short one, a slow one and an intermittent one
    slow = busy("slow", level=3.0)
    gappy = busy("gappy")
    gappy.loc[gappy.index[-100::5], "y"] = 0.0  # 20 % zero days over the last 100
    frame = pd.concat([busy("a", level=20.0), busy("b", level=40.0), busy("short", days=400), slow, gappy])
    # then only the long, busy, smooth ones pass, the busiest first
    assert engine.prophet_eligible(frame, max_share=1.0) == ["b", "a"]
    # and the share caps how many (at least one)
    assert engine.prophet_eligible(frame, max_share=0.2) == ["b"]
    assert engine.prophet_eligible(frame, max_share=0.01) == ["b"]
    assert engine.prophet_eligible(frame.iloc[:0]) == []


@pytest.mark.slow
def test_prophet_joins_the_selection_only_where_eligible():
    frame = pd.concat([busy("long"), weekly("short")])
    result = engine.forecast_frame(frame, horizon=7, models=["seasonal_naive", "prophet"], history_days=56)
    tested = result.accuracy.groupby("unique_id")["model"].apply(set)
    assert tested["long"] == {"seasonal_naive", "prophet"}
    assert tested["short"] == {"seasonal_naive"}
    assert len(result.forecasts) == 14


def test_prophet_is_fitted_for_the_forecast_only_where_the_selection_chose_it(monkeypatch):
    # given a fake Prophet that forecasts the mean of what it is fitted on (and counts its fits)
    fits = []

    def fake_prophet(history, *, h, yearly=None):
        fits.append(len(history))
        return np.full(h, history["y"].mean())

    monkeypatch.setattr(engine, "prophet_forecast", fake_prophet)
    monkeypatch.setattr(engine, "prophet_eligible", lambda df, **kw: sorted(df["unique_id"].unique()))
    # "steady" sells 20 ± 1 at random (the mean beats last week's copy), "weekly" a strict weekly pattern
    ds = pd.date_range("2023-01-01", periods=800, freq="D")
    noise = np.random.default_rng(3).choice([-1.0, 1.0], size=len(ds))
    steady = pd.DataFrame({"unique_id": "steady", "ds": ds, "y": 20 + noise})
    result = engine.forecast_frame(
        pd.concat([steady, busy("weekly")]), horizon=7, models=["seasonal_naive", "prophet"], history_days=56
    )
    assert {k: v["model"] for k, v in result.chosen.items()} == {"steady": "prophet", "weekly": "seasonal_naive"}
    # then 2 backtest fits per series (before each 7-day window), and one final fit — for "steady" alone, on
    # all its 800 days
    assert fits == [786, 793, 786, 793, 800]
    final = result.forecasts[result.forecasts["unique_id"] == "steady"]["yhat"]
    assert np.allclose(final, steady["y"].mean()) and (result.forecasts["model"] == "prophet").sum() == 7


def test_a_run_of_prophet_alone_on_series_it_cannot_test_says_why_they_failed():
    # a year of steady sales: too short for Prophet's gate (two years), so it is never backtested
    result = engine.forecast_frame(busy("young", days=365), horizon=7, models=["prophet"])
    assert result.forecasts.empty
    assert "Prophet is tried only on series with 730 days of history" in result.failed["young"]
    assert "ask for a fast model too" in result.failed["young"]


def test_history_days_needed():
    assert engine.history_days_needed(["ets"], 2) == engine.DEFAULT_HISTORY_DAYS + 56
    assert engine.history_days_needed(["ets", "prophet"], 3) == engine.PROPHET_HISTORY_DAYS + 84


class FakeFitted:
    """A model with parameters: its 'parameter' is the mean of the data it was fitted on; a forecast is
    that parameter plus the last value seen (so the test can tell what was fitted and what was forwarded)."""

    alias = "ets"
    calls: list = []

    def new(self):
        return FakeFitted()

    def fit(self, y):
        self.calls.append(("fit", len(y)))
        self.param = float(np.mean(y))
        self.last = float(y[-1])
        return self

    def predict(self, h):
        self.calls.append(("predict", None))
        return {"mean": np.full(h, self.param + self.last)}

    def forward(self, y, h):
        self.calls.append(("forward", len(y)))
        return {"mean": np.full(h, self.param + float(y[-1]))}

    def forecast(self, y, h):
        self.calls.append(("forecast", len(y)))
        if getattr(self, "broken", False):
            raise FloatingPointError("no convergence")
        return {"mean": np.full(h, float(np.mean(y)) + float(y[-1]))}


class FakeCheap:
    alias = "seasonal_naive"
    calls: list = []

    def forecast(self, y, h):
        self.calls.append(("forecast", len(y)))
        return {"mean": np.full(h, float(y[-1]))}


def test_backtest_fits_a_model_with_parameters_once_and_carries_it_forward(monkeypatch):
    FakeFitted.calls, FakeCheap.calls = [], []
    monkeypatch.setattr(engine, "_statsforecast_models", lambda names, season: [FakeFitted(), FakeCheap()])
    y = np.arange(1.0, 31.0)  # 30 days: 1, 2, …, 30
    frame = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2025-01-01", periods=30, freq="D"), "y": y})
    # when 2 windows of 7 days are backtested: origins after day 16 and day 23
    cv, fc = engine.backtest_frames(frame, names=["ets", "seasonal_naive"], h_bt=7, horizon=3, windows=2)
    # then the model with parameters was fitted once, on the 16 days before the first origin
    assert FakeFitted.calls == [("fit", 16), ("predict", None), ("forward", 23)]
    fitted_mean = float(np.mean(y[:16]))  # 8.5
    assert cv["ets"].tolist() == [fitted_mean + 16] * 7 + [fitted_mean + 23] * 7
    # its final forecast is left to refit_final; the cheap model is recomputed at each origin and at the end
    assert fc["ets"].isna().all()
    assert FakeCheap.calls == [("forecast", 16), ("forecast", 23), ("forecast", 30)]
    assert cv["seasonal_naive"].tolist() == [16.0] * 7 + [23.0] * 7
    assert fc["seasonal_naive"].tolist() == [30.0] * 3
    # and the frames carry the right days
    assert cv["ds"].tolist() == list(pd.date_range("2025-01-17", periods=14, freq="D"))
    assert cv["cutoff"].tolist() == [pd.Timestamp("2025-01-16")] * 7 + [pd.Timestamp("2025-01-23")] * 7
    assert cv["y"].tolist() == list(y[16:])
    assert fc["ds"].tolist() == list(pd.date_range("2025-01-31", periods=3, freq="D"))


def test_refit_final_fits_afresh_on_the_whole_history_or_else_carries_the_backtest_fit_forward(monkeypatch):
    models = {"ok": FakeFitted(), "broken": FakeFitted()}
    models["broken"].broken = True
    frame = pd.concat(
        [
            pd.DataFrame({"unique_id": uid, "ds": pd.date_range("2025-01-01", periods=10, freq="D"), "y": y})
            for uid, y in (("a", np.arange(1.0, 11.0)), ("b", np.arange(1.0, 11.0)))
        ]
    )
    fc = pd.DataFrame({"unique_id": ["a", "a", "b", "b"], "ds": [0, 1, 0, 1], "ets": np.nan})
    which = iter(["ok", "broken"])
    monkeypatch.setattr(engine, "_statsforecast_models", lambda names, season: [models[next(which)]])
    out = engine.refit_final(frame, fc, refits={"a": ["ets"], "b": ["ets"]}, backtest_days=4)
    # a: fresh fit on all 10 days → mean 5.5 + last 10; b: fit on the 6 days before the backtest, forwarded
    assert out["ets"].tolist() == [15.5, 15.5, 3.5 + 10, 3.5 + 10]


def test_the_final_forecast_is_a_fresh_fit_of_the_chosen_model():
    from statsforecast.models import AutoETS  # noqa: PLC0415 — heavy: statsforecast (~2.6 s) loads for this test only, not at collection

    rng = np.random.default_rng(3)
    frame = weekly("a", days=pd.date_range("2025-01-01", periods=120, freq="D"))
    frame["y"] = frame["y"] * 3 + rng.poisson(2.0, len(frame))
    result = engine.forecast_frame(frame, horizon=14, models=["ets"], history_days=56)
    history = frame["y"].to_numpy()[-(56 + 2 * 14) :]  # the last 56 days + 2 backtest windows of 14
    expected = np.clip(AutoETS(season_length=7, model="ZNZ").forecast(y=history, h=14)["mean"], 0, None)
    assert result.chosen["a"]["model"] == "ets"
    assert result.forecasts["yhat"].to_numpy() == pytest.approx(expected)


def scores_for(window_error: dict[str, list[float]]) -> dict[str, pd.DataFrame]:
    """Scores of one series 's' from its error per window, as the selection metric (its overall value is
    taken as the windows' mean: the rule under test only compares them)."""
    windows = pd.DataFrame(window_error, index=pd.MultiIndex.from_product([["s"], [1, 2]]))
    overall = pd.DataFrame({m: [np.mean(v)] for m, v in window_error.items()}, index=pd.Index(["s"], name="unique_id"))
    metric = engine.SELECTION_METRIC
    return {metric: overall, f"window_{metric}": windows}


@pytest.mark.parametrize(
    ("window_mae", "chosen"),
    [
        # a challenger 20 % better in both windows replaces the default
        ({"seasonal_naive": [8.0, 8.0], "ets": [10.0, 10.0]}, "seasonal_naive"),
        # 20 % better overall but worse in one window: the windows disagree, the default stays
        ({"seasonal_naive": [5.0, 11.0], "ets": [10.0, 10.0]}, "ets"),
        # better in every window but by only 5 %: not clearly better, the default stays
        ({"seasonal_naive": [9.5, 9.5], "ets": [10.0, 10.0]}, "ets"),
        # no ETS backtest (not asked for, or it failed): the next default in the chain
        ({"seasonal_naive": [9.5, 9.5], "ets": [np.nan, np.nan], "theta": [10.0, 10.0]}, "theta"),
        # seasonal naive is the last default of the chain
        ({"seasonal_naive": [9.5, 9.5], "tsb": [9.0, 9.0]}, "seasonal_naive"),
        # no model of the chain: the best
        ({"croston_sba": [9.5, 9.5], "tsb": [9.0, 9.0]}, "tsb"),
        # ties go to the simpler model
        ({"seasonal_naive": [0.0, 0.0], "ets": [0.0, 0.0]}, "seasonal_naive"),
    ],
)
def test_selection_keeps_the_default_unless_another_model_is_clearly_and_consistently_better(window_mae, chosen):
    candidates = [m for m in engine.MODEL_LABELS if m in window_mae]
    weights, labels, defaults = engine.selection_weights(scores_for(window_mae), candidates)
    assert labels.tolist() == [chosen]
    assert weights.tolist() == [[1.0 if m == chosen else 0.0 for m in candidates]]


def test_backtest_scores_known_values():
    cv = pd.DataFrame(
        {
            "unique_id": ["a"] * 4 + ["b"] * 4,
            "cutoff": [1, 1, 2, 2] * 2,
            "y": [2.0, 4.0, 6.0, 8.0, 0.0, 0.0, 0.0, 0.0],
            "m1": [3.0, 4.0, 6.0, 6.0, 1.0, 1.0, 1.0, 1.0],
            "m2": [2.0, 4.0, np.nan, 8.0, 0.0, 0.0, 0.0, 0.0],
        }
    )
    scores = engine.backtest_scores(cv, ["m1", "m2"], scales=pd.Series({"a": 0.5, "b": np.nan}))
    assert scores["mae"].loc["a", "m1"] == pytest.approx(3 / 4)
    assert scores["rmse"].loc["a", "m1"] == pytest.approx(math.sqrt(5 / 4))
    assert scores["wmape"].loc["a", "m1"] == pytest.approx(3 / 20)
    assert scores["bias"].loc["a", "m1"] == pytest.approx(-1 / 20)
    assert scores["mase"].loc["a", "m1"] == pytest.approx(1.5)
    assert math.isnan(scores["mae"].loc["a", "m2"])  # a missing backtest value disqualifies the model
    assert scores["mae"].loc["b", "m2"] == 0.0
    assert math.isnan(scores["wmape"].loc["b", "m1"])  # no demand: no percentage error
    assert scores["window_mae"].loc[("a", 1), "m1"] == pytest.approx(0.5)
    assert scores["window_rmse"].loc[("a", 1), "m1"] == pytest.approx(math.sqrt(1 / 2))
    assert scores["window_rmse"].loc[("a", 2), "m1"] == pytest.approx(math.sqrt(4 / 2))
    assert scores["window_mae"].loc[("a", 2), "m1"] == pytest.approx(1.0)
    assert math.isnan(scores["window_mae"].loc[("a", 2), "m2"])
    assert scores["window_mae"].loc[("a", 1), "m2"] == 0.0


def test_reasons_say_why_the_default_stayed_or_was_replaced():
    rng = np.random.default_rng(5)
    noisy = pd.DataFrame({"unique_id": "n", "ds": DAYS, "y": rng.poisson(20.0, len(DAYS)).astype(float)})
    result = engine.forecast_frame(pd.concat([weekly("w"), noisy]), horizon=7, models=["seasonal_naive", "ets"])
    assert result.chosen["w"]["model"] == "seasonal_naive"
    assert result.chosen["w"]["reason"].startswith(
        "Same weekday last week (seasonal naive): beat the default, exponential smoothing, by"
    )
    assert result.chosen["n"]["model"] == "ets"
    assert "the default; none of the other 1 models beat it by 10% and in every window" in result.chosen["n"]["reason"]


def test_spreading_the_series_over_processes_gives_the_same_answer():
    rng = np.random.default_rng(11)
    frame = pd.concat(
        [weekly(str(i)).assign(y=lambda f: f["y"] + rng.poisson(1.0, len(f))) for i in range(6)], ignore_index=True
    )
    models = ["seasonal_naive", "ets", "tsb"]
    one = engine.forecast_frame(frame, horizon=7, models=models, n_jobs=1)
    two = engine.forecast_frame(frame, horizon=7, models=models, n_jobs=2)
    pd.testing.assert_frame_equal(one.forecasts, two.forecasts)
    pd.testing.assert_frame_equal(one.accuracy, two.accuracy)
    assert one.chosen == two.chosen


def test_selection_does_not_reward_forecasting_nothing_for_a_slow_mover():
    # given a product that sells 5 units one day a week: "nothing" has the lower absolute error (the
    # median day sells 0), the weekly mean (5/7 a day) the lower squared error — and it is what a shelf needs
    y = np.tile([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5.0], 4)
    cv = pd.DataFrame(
        {
            "unique_id": "s",
            "cutoff": np.repeat([1, 2], 14),
            "y": y,
            "seasonal_naive": 0.0,  # a forecast of nothing, e.g. last week's copy of a quiet week
            "ets": 5 / 7,
        }
    )
    scores = engine.backtest_scores(cv, ["seasonal_naive", "ets"], scales=pd.Series({"s": 1.0}))
    assert scores["mae"].loc["s", "seasonal_naive"] < 0.9 * scores["mae"].loc["s", "ets"]
    # when
    _, labels, _ = engine.selection_weights(scores, ["seasonal_naive", "ets"])
    # then the mean stays: judged on RMSE, nothing is not better
    assert engine.SELECTION_METRIC == "rmse"
    assert labels.tolist() == ["ets"]


def test_weekly_totals_forgive_day_to_day_noise_that_cancels_within_the_week():
    # given a product selling 0, 2, 0, 2 … and a forecast of 1 a day: every day is off by 1, the week by 1
    y = [0.0, 2.0, 0.0, 2.0, 0.0, 2.0, 0.0] * 2
    cv = pd.DataFrame({"unique_id": "s", "cutoff": [1] * 7 + [2] * 7, "y": y, "flat": 1.0})
    scores = engine.backtest_scores(cv, ["flat"], scales=pd.Series({"s": 1.0}))
    assert scores["wmape"].loc["s", "flat"] == pytest.approx(14 / 12)  # 14 days off by 1, 12 units sold
    assert scores["abs_error_week"].loc["s", "flat"] == pytest.approx(2.0)  # each week: 7 forecast, 6 sold
    assert scores["wmape_week"].loc["s", "flat"] == pytest.approx(2 / 12)


def test_pooled_scores_of_days_and_of_weekly_totals():
    # two series, one week each: "a" off by ±1 on alternate days (its week total off by 1), "b" exact
    a = pd.DataFrame({"unique_id": "a", "ds": DAYS[:7], "y": [0.0, 2.0] * 3 + [0.0], "yhat": 1.0})
    b = pd.DataFrame({"unique_id": "b", "ds": DAYS[:7], "y": 3.0, "yhat": 3.0})
    scores = engine.pooled_scores(
        pd.concat([b, a]), actual="y", predicted="yhat", scales=pd.Series({"a": 1.0, "b": 1.0})
    )
    assert scores["wmape"] == pytest.approx(7 / 27)
    assert scores["wmape_week"] == pytest.approx(1 / 27)
    assert scores["bias"] == pytest.approx(1 / 27)
