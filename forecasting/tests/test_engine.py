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
    assert engine.trust_badge(mase=0.5, wmape=0.2, history_days=400)[0] == "high"
    assert engine.trust_badge(mase=1.0, wmape=0.6, history_days=400)[0] == "medium"
    assert engine.trust_badge(mase=1.5, wmape=0.9, history_days=400)[0] == "low"
    assert engine.trust_badge(mase=None, wmape=None, history_days=1)[0] == "low"


@pytest.mark.slow
def test_prophet_joins_the_selection_when_asked():
    result = engine.forecast_frame(weekly(), horizon=7, models=["seasonal_naive", "prophet"])
    assert set(result.accuracy["model"]) == {"seasonal_naive", "prophet"}
    assert len(result.forecasts) == 7
