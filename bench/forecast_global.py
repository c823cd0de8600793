"""Experiment (validation blocks only): one global gradient-boosting model over all series vs ETS.

    .venv/bin/python bench/forecast_global.py [--top 50] [--skip-top 0]

On the same four 4-week validation blocks that `bench/forecast.py --validation` uses (each forecast from
the data before it; the benchmark's held-out weeks are dropped when the file is read), it trains one
scikit-learn HistGradientBoostingRegressor on every series at once — features scaled by each series'
recent level: weekday, horizon, the four latest same-weekday values, 7 / 28 / 91-day means and the share
of zero days — and forecasts 28 days directly, then prints its wMAPE and bias next to ETS fitted series
by series on the whole training window. One configuration, written once.

What it showed: the engine now has this model (`forecasting/global_model.py`, an opt-in candidate), but
its wMAPE edge comes with a bias of about −50 % — trained for the absolute error it forecasts a median,
far below the mean of lumpy demand — so it is not a default.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "retailops.settings")

from forecast import HOLDOUT, machine, online_retail_daily  # noqa: E402 - after the path set-up

from forecasting import engine  # noqa: E402

ORIGIN_STEP = 3  # training origins every 3 days of each series' history
FIRST_ORIGIN = 100  # enough history behind an origin for the 91-day mean


def features(y: np.ndarray, origin: int, h: int, first_dow: int) -> tuple[list[float], float]:
    """Features of the day `origin + h` known at `origin`, and the scale they are divided by."""
    target = origin + h
    scale = y[max(0, origin - 27) : origin + 1].mean() + 0.1
    k0 = -(-h // 7)  # the latest same-weekday lag at or before the origin
    lags = [y[target - 7 * k] / scale if target - 7 * k >= 0 else np.nan for k in range(k0, k0 + 4)]
    means = [y[max(0, origin - d + 1) : origin + 1].mean() / scale for d in (7, 28, 91)]
    zeros = float((y[max(0, origin - 27) : origin + 1] == 0).mean())
    return [(first_dow + target) % 7, h, *lags, *means, zeros], scale


def global_forecast(train: pd.DataFrame) -> pd.DataFrame:
    from sklearn.ensemble import HistGradientBoostingRegressor

    series = [(uid, g["y"].to_numpy(float), g["ds"].iloc[0], g["ds"].iloc[-1]) for uid, g in train.groupby("unique_id")]
    x, target = [], []
    for _, y, first, _ in series:
        for origin in range(FIRST_ORIGIN, len(y) - HOLDOUT, ORIGIN_STEP):
            for h in range(1, HOLDOUT + 1):
                row, scale = features(y, origin, h, first.dayofweek)
                x.append(row)
                target.append(y[origin + h] / scale)
    model = HistGradientBoostingRegressor(loss="absolute_error", max_iter=300, learning_rate=0.05, random_state=0)
    model.fit(np.array(x), np.array(target))
    rows = []
    for uid, y, first, last in series:
        padded = np.concatenate([y, np.zeros(HOLDOUT)])
        feats = [features(padded, len(y) - 1, h, first.dayofweek) for h in range(1, HOLDOUT + 1)]
        pred = model.predict(np.array([f for f, _ in feats])) * np.array([s for _, s in feats])
        days = pd.date_range(last + pd.Timedelta(days=1), periods=HOLDOUT, freq="D")
        rows.append(pd.DataFrame({"unique_id": uid, "ds": days, "yhat": np.clip(pred, 0, None)}))
    return pd.concat(rows, ignore_index=True)


def ets_forecast(train: pd.DataFrame) -> pd.DataFrame:
    from statsforecast import StatsForecast

    sf = StatsForecast(models=engine._statsforecast_models(["ets"], engine.SEASON), freq="D", n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = sf.forecast(df=train, h=HOLDOUT)
    fc = fc.reset_index() if "unique_id" not in fc.columns else fc
    return fc.rename(columns={"ets": "yhat"})[["unique_id", "ds", "yhat"]]


def wmape(test: pd.DataFrame, fc: pd.DataFrame) -> float:
    merged = test.merge(fc, on=["unique_id", "ds"], how="left").fillna({"yhat": 0})
    return float((merged["yhat"].clip(lower=0) - merged["y"]).abs().sum() / merged["y"].abs().sum())


def bias(test: pd.DataFrame, fc: pd.DataFrame) -> float:
    merged = test.merge(fc, on=["unique_id", "ds"], how="left").fillna({"yhat": 0})
    return float((merged["yhat"].clip(lower=0) - merged["y"]).sum() / merged["y"].abs().sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=50)
    parser.add_argument("--skip-top", type=int, default=0)
    args = parser.parse_args()
    print("machine: " + machine())
    print(f"products ranked {args.skip_top + 1}–{args.skip_top + args.top}; validation blocks only")
    scores = []
    for k in (1, 2, 3, 4):
        df = online_retail_daily(args.top, k * HOLDOUT, args.skip_top)
        cutoff = df["ds"].max() - pd.Timedelta(days=HOLDOUT)
        train, test = df[df["ds"] <= cutoff], df[df["ds"] > cutoff]
        g, e = global_forecast(train), ets_forecast(train)
        row = {
            "origin": k,
            "global": wmape(test, g),
            "ets": wmape(test, e),
            "g_bias": bias(test, g),
            "e_bias": bias(test, e),
        }
        print(
            f"  origin {k}: wMAPE global {row['global']:.3f} (bias {row['g_bias']:+.1%}) · ETS {row['ets']:.3f} "
            f"(bias {row['e_bias']:+.1%})",
            flush=True,
        )
        scores.append(row)
    table = pd.DataFrame(scores)
    print(
        f"  mean: global {table['global'].mean():.3f} (bias {table['g_bias'].mean():+.1%}) · ETS "
        f"{table['ets'].mean():.3f} (bias {table['e_bias'].mean():+.1%})"
    )


if __name__ == "__main__":
    main()
