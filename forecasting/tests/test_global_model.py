"""The global model on small frames with known answers: alignment, no look-ahead, a learnable pattern."""

import numpy as np
import pandas as pd
import pytest

from forecasting import engine, global_model

PATTERN = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 9.0, 6.0])


def weekly_chain(n_series=12, days=300, start="2025-01-06", seed=0):
    """Series that are a level × the same weekly shape (+ Poisson noise): what a global model can learn."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range(start, periods=days, freq="D")
    frames = []
    for i in range(n_series):
        level = 1 + i
        y = rng.poisson(level * PATTERN[ds.dayofweek.to_numpy()]).astype(float)
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": y}))
    return pd.concat(frames, ignore_index=True)


def test_backtest_days_are_the_last_windows_and_the_forecast_follows_each_series_end():
    # given series of different starts and ends
    frame = weekly_chain(n_series=10)
    late = frame[frame["unique_id"] == "s3"].iloc[40:]  # starts 40 days later
    early = frame[frame["unique_id"] == "s4"].iloc[:-5]  # ends 5 days earlier
    frame = pd.concat([frame[~frame["unique_id"].isin(["s3", "s4"])], late, early], ignore_index=True)
    # when
    cv, fc = engine.global_frames(frame, h_bt=14, windows=2, horizon=10)
    # then each series has 28 backtest days (its last 28) and 10 forecast days right after its end
    for uid, series in frame.groupby("unique_id"):
        days = cv.loc[cv["unique_id"] == uid, "ds"]
        assert days.tolist() == series["ds"].iloc[-28:].tolist()
        ahead = fc.loc[fc["unique_id"] == uid, "ds"]
        assert ahead.tolist() == list(pd.date_range(series["ds"].max() + pd.Timedelta(days=1), periods=10))
    assert cv["global"].notna().all() and fc["global"].notna().all()
    assert (fc["global"] >= 0).all()


def test_the_backtest_never_reads_the_days_it_is_scored_on():
    frame = weekly_chain()
    cv, _ = engine.global_frames(frame, h_bt=14, windows=2, horizon=7)
    # when the last 14 days (the second window's test days) are changed beyond recognition
    changed = frame.copy()
    last_days = changed["ds"] > changed["ds"].max() - pd.Timedelta(days=14)
    changed.loc[last_days, "y"] = 1000.0
    cv2, fc2 = engine.global_frames(changed, h_bt=14, windows=2, horizon=7)
    # then neither backtest window moves (the model and both origins' features stop before them) …
    assert cv2["global"].tolist() == pytest.approx(cv["global"].tolist())
    # … while the final forecast, trained on everything, does
    assert fc2["global"].mean() > 50


def test_it_learns_the_shared_weekly_shape():
    frame = weekly_chain()
    cv, fc = engine.global_frames(frame, h_bt=28, windows=2, horizon=14)
    merged = cv.merge(frame, on=["unique_id", "ds"])
    wmape = (merged["global"] - merged["y"]).abs().sum() / merged["y"].sum()
    naive_err = []  # seasonal naive over the same days, as the yardstick
    for _uid, series in frame.groupby("unique_id"):
        y = series["y"].to_numpy()
        naive_err.append(np.abs(y[-56:] - y[-63:-7]).sum())
    naive = sum(naive_err) / merged["y"].sum()
    assert wmape < 0.8 * naive
    # the forecast peaks on Saturdays (the pattern's 9) for the biggest series
    big = fc[fc["unique_id"] == "s11"]
    assert big.loc[big["global"].idxmax(), "ds"].dayofweek == 5


def test_too_little_to_train_on_leaves_the_model_out_and_the_default_falls_back_to_ets():
    # one series of 120 days: fewer training rows than MIN_TRAIN_ROWS
    frame = weekly_chain(n_series=1, days=120)
    cv, fc = engine.global_frames(frame, h_bt=14, windows=2, horizon=7)
    assert cv["global"].isna().all() and fc["global"].isna().all()
    result = engine.forecast_frame(frame, horizon=7, models=["ets", "seasonal_naive", "global"])
    assert result.chosen["s0"]["model"] in {"ets", "seasonal_naive"}
    assert "global" not in set(result.accuracy["model"])
    assert result.failed == {}


def test_forecast_frame_backtests_it_when_asked_and_keeps_ets_as_the_default():
    frame = weekly_chain()
    result = engine.forecast_frame(frame, horizon=28, models=["seasonal_naive", "ets", "global"])
    assert set(result.accuracy["model"]) == {"seasonal_naive", "ets", "global"}
    for info in result.chosen.values():  # a series leaves ETS only for a clear winner, and says so
        assert info["model"] == "ets" or "beat the default, exponential smoothing," in info["reason"]
    fc = result.forecasts
    assert len(fc) == 12 * 28 and (fc["hi"] >= fc["yhat"]).all() and (fc["lo"] <= fc["yhat"]).all()


def test_a_default_run_does_not_use_it():
    result = engine.forecast_frame(weekly_chain(n_series=4), horizon=7)
    assert "global" not in set(result.accuracy["model"])


def test_it_forecasts_the_median_so_intermittent_demand_gets_zero():
    # given slow movers selling one unit on ~30 % of days: the median day sells nothing, the mean 0.3
    rng = np.random.default_rng(3)
    ds = pd.date_range("2025-01-06", periods=300, freq="D")
    frame = pd.concat(
        [pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": (rng.random(300) < 0.3).astype(float)}) for i in range(12)]
    )
    # when
    _, fc = engine.global_frames(frame, h_bt=28, windows=2, horizon=28)
    # then the global model forecasts (almost) nothing — why it is not a default for stock decisions
    assert fc["global"].mean() < 0.05
    assert frame["y"].mean() == pytest.approx(0.3, abs=0.03)


def test_a_horizon_of_a_year_is_forecast():
    frame = weekly_chain(n_series=6)
    result = engine.forecast_frame(frame, horizon=366, models=["ets", "global"])
    assert len(result.forecasts) == 6 * 366
    assert np.isfinite(result.forecasts["yhat"]).all()
    assert result.failed == {}


def test_training_rows_are_capped_by_a_seeded_sample(monkeypatch):
    monkeypatch.setattr(global_model, "MAX_TRAIN_ROWS", 3000)
    frame = weekly_chain()
    first = engine.global_frames(frame, h_bt=14, windows=2, horizon=7)[1]["global"]
    again = engine.global_frames(frame, h_bt=14, windows=2, horizon=7)[1]["global"]
    assert first.tolist() == again.tolist()  # the same rows every time: a run is repeatable


def test_history_days_needed_reads_a_year_for_the_global_model():
    assert engine.history_days_needed(["ets", "global"], 2) == global_model.HISTORY_DAYS + 56


def test_a_run_of_the_global_model_alone_forecasts_every_series():
    # a run asked for the global model only (no fast model to backtest alongside)
    result = engine.forecast_frame(weekly_chain(n_series=6), horizon=7, models=["global"])
    assert result.failed == {}
    assert {c["model"] for c in result.chosen.values()} == {"global"}
    assert len(result.forecasts) == 6 * 7 and result.forecasts["yhat"].notna().all()
