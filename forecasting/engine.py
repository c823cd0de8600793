"""The forecasting engine: pure pandas in → pandas out (no ORM), so it is fast to test and to benchmark.

Frames are long: one row per series × day with columns ``unique_id, ds, y`` (the statsforecast
convention). A series is one store × product; its id is made by the caller (e.g. ``"3:41"``).

Pipeline: :func:`prepare_demand` zero-fills each series and marks stockout days (closing on-hand ≤ 0)
so that a zero on an empty shelf is not read as zero demand; :func:`forecast_frame` runs a
rolling-origin backtest of every candidate model (parameters estimated once per series, at the first
origin), keeps per series the default model (ETS) unless another model beats it clearly and in every
window, refits the chosen model on the whole history and returns the forecast with an interval and
the accuracy that was measured.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import numpy as np
import pandas as pd

from . import global_model

log = logging.getLogger(__name__)

SEASON = 7  # weekly pattern of daily retail demand
BACKTEST_HORIZON_MAX = 28  # backtests measure four-week accuracy even for a longer forecast
MAX_HORIZON = 366
DEFAULT_WINDOWS = 2  # on real demand, 3 or 4 windows chose no better: older windows describe an older season
# Statistical fits use the last 26 weeks: recent level matters, cost is linear in the length, and on the
# real-demand validation origins (bench/forecast.py --validation) 52 weeks were no more accurate, and 13 or 18
# weeks were less accurate on each of the four product sets (top 50 wMAPE 0.948 → 0.962 / 0.956; 251–350 1.159 →
# 1.176 / 1.171).
DEFAULT_HISTORY_DAYS = 182
INTERVAL_LEVEL = 80  # the forecast band shown and stored: 10 % and 90 % quantiles
Z_INTERVAL = 1.2815515655446004  # z for a central 80 % band

# code → what the model does, in words a shop owner reads (the technical name in brackets); the order is the
# order of preference on ties.
MODEL_LABELS = {
    "seasonal_naive": "Same weekday last week (seasonal naive)",
    "seasonal_avg": "Average of the same weekday over the last 4 weeks",
    "ets": "Exponential smoothing: recent weeks count most, with a weekly pattern where it fits (ETS)",
    "theta": "Smoothed trend with a weekly pattern (Theta method)",
    "arima": "Pattern of the recent days and weeks (seasonal ARIMA)",
    "croston_sba": "Occasional sales: average sale size over the average gap between sales (Croston SBA)",
    "tsb": "Occasional sales, fading while nothing sells (TSB)",
    "adida": "Occasional sales: weekly totals forecast, then spread over the days (ADIDA)",
    "imapa": "Occasional sales: totals over several period lengths, averaged (IMAPA)",
    "combo": "Mix: average of exponential smoothing, the smoothed trend and the weekday average",
    "global": "One pattern learned across many products (gradient-boosted trees; runs low on lumpy demand)",
    "prophet": "Trend with weekly and yearly seasons (Prophet)",
    "top3": "Average of the 3 models with the lowest backtest error",  # chosen by runs before the ETS-default rule
    "mean": "Average of the history (too short to test)",
    "launch": "New product: the weekly pattern of products like it, at its own level after the launch week",
    "zero": "No sales in the history",
}
# code → the model's short name on every page, in the API (``model_label``) and in reasons: never the code.
MODEL_NAMES = {
    "seasonal_naive": "same weekday last week",
    "seasonal_avg": "weekday average of 4 weeks",
    "ets": "exponential smoothing",
    "theta": "smoothed trend",
    "arima": "recent-pattern model",
    "croston_sba": "occasional-sales average",
    "tsb": "occasional sales, fading",
    "adida": "weekly totals spread over days",
    "imapa": "several-period totals averaged",
    "combo": "mix of three models",
    "global": "pattern across products",
    "prophet": "trend and seasons (Prophet)",
    "top3": "mix of the 3 best models",
    "mean": "average so far",
    "launch": "like similar products",
    "zero": "no sales yet",
}


def model_name(code: str) -> str:
    """The owner's words for a model code (an unknown code: its words, without underscores)."""
    return MODEL_NAMES.get(code, str(code).replace("_", " "))


def model_description(code: str) -> str:
    return MODEL_LABELS.get(code, model_name(code))


FAST_MODELS = ("seasonal_naive", "seasonal_avg", "ets", "theta", "croston_sba", "tsb", "adida", "imapa", "combo")
CANDIDATES = tuple(m for m in MODEL_LABELS if m not in {"top3", "mean", "zero", "launch"})  # what a run may ask for
DEFAULT_MODELS = (*FAST_MODELS, "prophet")  # Prophet only on the series that pass prophet_eligible()
COMBO_PARTS = ("ets", "theta", "seasonal_avg")
FITTED_MODELS = ("ets", "theta", "arima")  # parameters estimated by an optimiser; all others are recomputed
BASELINE = "seasonal_naive"

# Selection: a short backtest is a noisy judge, so each series keeps a robust default unless another model
# is clearly better — by SWITCH_MARGIN over all windows and in every single window. Chosen on validation
# origins before the benchmark's hold-out (see bench/forecast.py); the next model in the chain is the
# default when the one before has no backtest (not asked for, or it failed on the series).
# The global model is not in the chain nor in DEFAULT_MODELS: its median forecasts win on wMAPE by
# under-forecasting lumpy demand (bench/forecast.py validation, top 50 products, mean over 4 blocks: wMAPE
# 0.796 but bias −52 %, against 0.934 / −10 % for this chain) — a shelf stocked to it runs empty.
DEFAULT_CHAIN = ("ets", "theta", "seasonal_avg", "seasonal_naive")
SWITCH_MARGIN = 0.10
# Models are compared on their backtest RMSE, not MAE: the absolute error is smallest for the median, which
# for intermittent demand is near zero, so MAE picks forecasts that leave the shelf short; the squared
# error is smallest for the mean, and the safety stock is sized from this same RMSE. Validation (mean of
# 4 blocks, MAE → RMSE): top 50 products wMAPE 0.934 → 0.948, bias −10 % → −5 %, RMSE 142 → 140;
# products 51–150 wMAPE 1.064 → 1.019, RMSE 80 → 76; the demo chain's last 4 weeks wMAPE 1.148 → 1.120.
SELECTION_METRIC = "rmse"

# Prophet where it can win: its edge over the fast models is a yearly pattern, which needs two years of
# history and enough volume for a yearly swing to rise above day-to-day count noise. Each fit costs ~0.1 s
# of CPU, about 100× a fast model, so at most PROPHET_MAX_SHARE of the series (the busiest) get it.
PROPHET_MIN_HISTORY_DAYS = 730
PROPHET_MIN_DAILY_MEAN = 10.0  # units a day over the last PROPHET_RECENT_DAYS
PROPHET_MAX_ZERO_SHARE = 0.02  # share of days without a sale over the last PROPHET_RECENT_DAYS
PROPHET_RECENT_DAYS = 182
PROPHET_HISTORY_DAYS = 1095  # Prophet fits on up to three years
PROPHET_MAX_SHARE = 0.05


class EngineError(ValueError):
    """Bad input to the engine, with a readable message."""


# --------------------------------------------------------------------------------------------------
# Demand preparation
# --------------------------------------------------------------------------------------------------


def prepare_demand(
    sales: pd.DataFrame,
    *,
    stock: pd.DataFrame | None = None,
    end: pd.Timestamp | str | None = None,
    starts: dict[str, pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """Daily demand per series, zero-filled, with stockout days marked and their demand estimated.

    sales: ``unique_id, ds, y`` — units sold per day (days without sales may be missing).
    stock: optional ``unique_id, ds, delta`` — net stock movement per day from the ledger; the closing
    on-hand of a day is the running sum. A day whose closing on-hand is ≤ 0 is a stockout: what sold
    that day is a floor on demand, so ``y`` becomes max(sold, the recent typical day) there.
    end: last day of every series (default: the last day in ``sales``). starts: optional first day per
    series (default: its first sale, or its first stock movement if earlier).

    Returns ``unique_id, ds, sold, stockout, y`` sorted by series and day.
    """
    cols = ["unique_id", "ds", "sold", "stockout", "y"]
    if sales.empty and (stock is None or stock.empty):
        return pd.DataFrame(columns=cols)
    sales = sales[["unique_id", "ds", "y"]].copy()
    sales["ds"] = pd.to_datetime(sales["ds"])
    sales["unique_id"] = sales["unique_id"].astype(str)
    sales = sales.groupby(["unique_id", "ds"], as_index=False)["y"].sum()
    sales["y"] = sales["y"].clip(lower=0)  # a day of net returns is a day of no demand, not negative demand
    if stock is not None and not stock.empty:
        stock = stock[["unique_id", "ds", "delta"]].copy()
        stock["ds"] = pd.to_datetime(stock["ds"])
        stock["unique_id"] = stock["unique_id"].astype(str)
        stock = stock.groupby(["unique_id", "ds"], as_index=False)["delta"].sum()
    last = pd.Timestamp(end) if end is not None else sales["ds"].max()
    firsts = sales.groupby("unique_id")["ds"].min()
    if stock is not None and not stock.empty:
        firsts = pd.concat([firsts, stock.groupby("unique_id")["ds"].min()]).groupby(level=0).min()
    if starts:
        for uid, day in starts.items():
            firsts.loc[str(uid)] = pd.Timestamp(day)
    frames = []
    for uid, first in firsts.items():
        first = min(pd.Timestamp(first), last)
        frames.append(pd.DataFrame({"unique_id": uid, "ds": pd.date_range(first, last, freq="D")}))
    grid = pd.concat(frames, ignore_index=True)
    out = grid.merge(sales, on=["unique_id", "ds"], how="left").rename(columns={"y": "sold"})
    out["sold"] = out["sold"].fillna(0.0).astype(float)
    out = out.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)
    if stock is not None and not stock.empty:
        out = out.merge(stock, on=["unique_id", "ds"], how="left")
        has_ledger = out["unique_id"].isin(set(stock["unique_id"]))
        closing = out["delta"].fillna(0.0).groupby(out["unique_id"]).cumsum()
        out["stockout"] = has_ledger & (closing <= 0)
        out = out.drop(columns="delta")
    else:
        out["stockout"] = False
    out["y"] = _censored_demand(out)
    return out[cols]


def _censored_demand(frame: pd.DataFrame) -> pd.Series:
    """On stockout days, demand is at least the typical recent day of that series (28 open days)."""
    sold = frame["sold"].astype(float)
    if not frame["stockout"].any():
        return sold
    open_sold = sold.where(~frame["stockout"])
    grouped = open_sold.groupby(frame["unique_id"])
    typical = grouped.transform(lambda s: s.rolling(28, min_periods=1).mean().shift(1).ffill())
    fallback = grouped.transform("mean")
    typical = typical.fillna(fallback).fillna(sold)
    return np.where(frame["stockout"], np.maximum(sold, typical), sold).astype(float)


# --------------------------------------------------------------------------------------------------
# Accuracy
# --------------------------------------------------------------------------------------------------


def mase_scale(y: np.ndarray, season: int = SEASON) -> float:
    """Mean absolute seasonal difference of the training data (MASE's denominator); 1-step if too short."""
    y = np.asarray(y, dtype=float)
    lag = season if len(y) > season else 1
    if len(y) <= lag:
        return float("nan")
    scale = float(np.mean(np.abs(y[lag:] - y[:-lag])))
    return scale if scale > 0 else float("nan")


def accuracy(actual: Sequence[float], predicted: Sequence[float], *, scale: float) -> dict[str, float]:
    """MASE, wMAPE (Σ|e| / Σ|y|), bias (Σe / Σ|y|, positive = over-forecast), RMSE and MAE of one series."""
    y = np.asarray(actual, dtype=float)
    f = np.asarray(predicted, dtype=float)
    err = f - y
    mae = float(np.mean(np.abs(err))) if len(err) else float("nan")
    total = float(np.sum(np.abs(y)))
    return {
        "mae": mae,
        "rmse": float(np.sqrt(np.mean(err**2))) if len(err) else float("nan"),
        "mase": mae / scale if scale and not math.isnan(scale) else float("nan"),
        "wmape": float(np.sum(np.abs(err)) / total) if total > 0 else float("nan"),
        "bias": float(np.sum(err) / total) if total > 0 else float("nan"),
    }


def pooled_scores(frame: pd.DataFrame, *, actual: str, predicted: str, scales: pd.Series) -> dict[str, float]:
    """Scores over many series: pooled wMAPE (of days, and of weekly totals: each series' days in blocks of
    7 in date order) and bias, mean MASE of the series (benchmark tables)."""
    frame = frame.sort_values(["unique_id", "ds"]) if "ds" in frame else frame
    err = frame[predicted] - frame[actual]
    total = frame[actual].abs().sum()
    per_series = (err.abs().groupby(frame["unique_id"]).mean() / scales).replace([np.inf, -np.inf], np.nan)
    week = frame.groupby("unique_id").cumcount() // SEASON
    week_err = err.groupby([frame["unique_id"], week]).sum().abs().sum()
    return {
        "wmape": float(err.abs().sum() / total) if total else float("nan"),
        "wmape_week": float(week_err / total) if total else float("nan"),
        "bias": float(err.sum() / total) if total else float("nan"),
        "mase": float(per_series.dropna().mean()),
    }


# --------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------


def _statsforecast_models(names: Iterable[str], season: int) -> list:
    from statsforecast.models import (  # noqa: PLC0415 — heavy: statsforecast (~2.6 s) loads at first fit, not at start-up
        ADIDA,
        IMAPA,
        TSB,
        AutoARIMA,
        AutoETS,
        CrostonSBA,
        SeasonalNaive,
        SeasonalWindowAverage,
        Theta,
    )

    # Restricted searches keep a fit in milliseconds: ETS without trend (daily retail demand is level +
    # weekly season; a trend term mostly chases noise), the standard Theta rather than AutoTheta.
    factories = {
        "seasonal_naive": lambda: SeasonalNaive(season_length=season, alias="seasonal_naive"),
        "seasonal_avg": lambda: SeasonalWindowAverage(season_length=season, window_size=4, alias="seasonal_avg"),
        "ets": lambda: AutoETS(season_length=season, model="ZNZ", alias="ets"),
        "theta": lambda: Theta(season_length=season, alias="theta"),
        "arima": lambda: AutoARIMA(season_length=season, alias="arima"),
        "croston_sba": lambda: CrostonSBA(alias="croston_sba"),
        "tsb": lambda: TSB(alpha_d=0.1, alpha_p=0.1, alias="tsb"),
        "adida": lambda: ADIDA(alias="adida"),
        "imapa": lambda: IMAPA(alias="imapa"),
    }
    return [factories[n]() for n in names if n in factories]


def _base_models(models: Sequence[str]) -> list[str]:
    wanted = list(models)
    if "combo" in wanted:
        wanted += [m for m in COMBO_PARTS if m not in wanted]
    return [
        m for m in MODEL_LABELS if m in wanted and m not in {"combo", "global", "prophet", "mean", "zero", "launch"}
    ]


def _add_combo(frame: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    if "combo" in models and all(m in frame for m in COMBO_PARTS):
        frame["combo"] = frame[list(COMBO_PARTS)].mean(axis=1)
    return frame


def prophet_forecast(history: pd.DataFrame, *, h: int, yearly: bool | None = None) -> np.ndarray:
    """Prophet fitted on one series (``ds, y``): h daily point forecasts, floored at zero."""
    from prophet import Prophet  # noqa: PLC0415 — heavy: prophet (~1.1 s, cmdstan) loads at first fit, not at start-up

    logging.getLogger("cmdstanpy").setLevel(logging.ERROR)
    logging.getLogger("prophet").setLevel(logging.ERROR)
    span = (history["ds"].max() - history["ds"].min()).days
    model = Prophet(
        weekly_seasonality=True,
        yearly_seasonality=(span >= 700) if yearly is None else yearly,
        daily_seasonality=False,
        uncertainty_samples=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(history[["ds", "y"]])
    future = model.make_future_dataframe(periods=h, freq="D", include_history=False)
    return np.clip(model.predict(future)["yhat"].to_numpy(), 0, None)


def prophet_eligible(df: pd.DataFrame, *, max_share: float = PROPHET_MAX_SHARE) -> list[str]:
    """Series of ``df`` (``unique_id, ds, y``, sorted) on which Prophet is tried: long (two years),
    busy and smooth over the recent weeks; at most ``max_share`` of the series (at least one), busiest first."""
    if df.empty:
        return []
    by_series = df.groupby("unique_id", sort=False)
    span = (by_series["ds"].max() - by_series["ds"].min()).dt.days + 1
    recent = by_series.tail(PROPHET_RECENT_DAYS)
    mean = recent.groupby("unique_id", sort=False)["y"].mean()
    zero_share = (recent["y"] <= 0).groupby(recent["unique_id"], sort=False).mean()
    ok = (span >= PROPHET_MIN_HISTORY_DAYS) & (mean >= PROPHET_MIN_DAILY_MEAN) & (zero_share <= PROPHET_MAX_ZERO_SHARE)
    cap = max(1, int(max_share * len(span)))
    return [str(u) for u in mean[ok].sort_values(ascending=False, kind="stable").index[:cap]]


def global_frames(history: pd.DataFrame, *, h_bt: int, windows: int, horizon: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The global model's backtest and forecast (:mod:`forecasting.global_model`) of every series of
    ``history`` (``unique_id, ds, y``, consecutive days): frames ``unique_id, ds, global`` — the last
    ``windows × h_bt`` days of each series, and the ``horizon`` days after its end."""
    if history.empty:
        empty = pd.DataFrame({"unique_id": [], "ds": pd.to_datetime([]), "global": []})
        return empty, empty.copy()
    codes, uids = pd.factorize(history["unique_id"], sort=False)
    first_day = history["ds"].min()
    cols = ((history["ds"] - first_day) // pd.Timedelta(days=1)).to_numpy()
    values = np.full((len(uids), int(cols.max()) + 1), np.nan)
    values[codes, cols] = history["y"].to_numpy(dtype=float)
    starts = np.full(len(uids), values.shape[1])
    np.minimum.at(starts, codes, cols)
    ends = np.zeros(len(uids), dtype=int)
    np.maximum.at(ends, codes, cols)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        cv, fc = global_model.backtest_and_forecast(
            values, starts, ends, first_weekday=first_day.dayofweek, h_bt=h_bt, windows=windows, horizon=horizon
        )
    n_bt = windows * h_bt
    one_day = np.timedelta64(1, "D")
    base = np.datetime64(first_day, "D")
    cv_cols = (ends - n_bt + 1)[:, None] + np.arange(n_bt)
    fc_cols = (ends + 1)[:, None] + np.arange(horizon)
    cv_frame = pd.DataFrame(
        {
            "unique_id": np.repeat(uids, n_bt),
            "ds": pd.to_datetime(base + cv_cols.ravel() * one_day),
            "global": cv.reshape(len(uids), n_bt).ravel(),
        }
    )
    fc_frame = pd.DataFrame(
        {
            "unique_id": np.repeat(uids, horizon),
            "ds": pd.to_datetime(base + fc_cols.ravel() * one_day),
            "global": fc.ravel(),
        }
    )
    return cv_frame, fc_frame


def _prophet_chunk(
    items: list[tuple[str, pd.DataFrame]], h: int, windows: int, horizon: int, final: bool
) -> list[tuple]:
    out = []
    for uid, series in items:
        series = series.reset_index(drop=True)
        n = len(series)
        cv = []
        for w in range(windows, 0, -1):
            cut = n - w * h
            train, test = series.iloc[:cut], series.iloc[cut : cut + h]
            cv.append((test["ds"].to_numpy(), train["ds"].iloc[-1], prophet_forecast(train, h=len(test))))
        out.append((uid, series["ds"].iloc[-1], cv, prophet_forecast(series, h=horizon) if final else None))
    return out


def _prophet_frames(
    df: pd.DataFrame, *, h: int, windows: int, horizon: int, n_jobs: int = 1, final: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Backtest and forecast frames of Prophet, series by series: a fresh fit at every origin and for the
    final forecast (it has no state to carry forward). Slow: used only on the series that need it.
    ``final=False``: the backtest only (the forecast frame is NaN) — :func:`_select_many` fits the final
    forecast only where the selection chose Prophet."""
    items = [(str(uid), s[["ds", "y"]]) for uid, s in df.groupby("unique_id", sort=False)]
    chunks = _chunked(items, n_jobs)
    done = [r for part in _parallel_map(_prophet_chunk, chunks, n_jobs, h, windows, horizon, final) for r in part]
    cv_rows, fc_rows = [], []
    for uid, last, windows_out, forecast in done:
        for days, cutoff, pred in windows_out:
            cv_rows.append(pd.DataFrame({"unique_id": uid, "ds": days, "cutoff": cutoff, "prophet": pred}))
        days = pd.date_range(last + pd.Timedelta(days=1), periods=horizon, freq="D")
        fc_rows.append(
            pd.DataFrame({"unique_id": uid, "ds": days, "prophet": np.nan if forecast is None else forecast})
        )
    cv = (
        pd.concat(cv_rows, ignore_index=True)
        if cv_rows
        else pd.DataFrame(columns=["unique_id", "ds", "cutoff", "prophet"])
    )
    fc = pd.concat(fc_rows, ignore_index=True) if fc_rows else pd.DataFrame(columns=["unique_id", "ds", "prophet"])
    return cv, fc


# --------------------------------------------------------------------------------------------------
# Backtest and forecast, fitting each model once per series
# --------------------------------------------------------------------------------------------------


def _chunked(items: list, n_jobs: int) -> list[list]:
    """Interleaved chunks (series come sorted by id, not by cost): a few per worker to balance the load."""
    n = min(len(items), max(n_jobs, 1) * 4) if n_jobs > 1 else 1
    return [items[i::n] for i in range(n)] if items else []


def _unchunk(chunks_out: list[list], n_items: int, n_chunks: int) -> list:
    out: list = [None] * n_items
    for i, part in enumerate(chunks_out):
        out[i::n_chunks] = part
    return out


def _parallel_map(func: Callable, chunks: list, n_jobs: int, *args) -> list:
    """``[func(chunk, *args) for chunk in chunks]``, over ``n_jobs`` processes when more than one. Not from
    inside a daemonic Celery worker (it cannot have children): the services call the engine with one."""
    if n_jobs > 1 and len(chunks) > 1:
        with ProcessPoolExecutor(max_workers=min(n_jobs, len(chunks))) as pool:
            return list(pool.map(func, chunks, *[[a] * len(chunks) for a in args]))
    return [func(chunk, *args) for chunk in chunks]


def _series_backtest(
    y: np.ndarray, models: list, *, h_bt: int, windows: int, horizon: int
) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """One series: (windows × h_bt × models) backtest, (horizon × models) forecast, errors by model.

    A model with parameters (ETS, Theta, ARIMA) is fitted once, on the history before the first
    backtest origin; each later window runs its filter over all data up to its own origin (states
    updated, parameters kept — never fitted on what it is then tested on). Its final forecast is left
    NaN here: :func:`refit_final` fits the models a series uses afresh. Cheap models (naive, averages,
    the Croston family) are simply recomputed at every origin and for the final forecast. A model that
    fails on the series is NaN there, and so never chosen.
    """
    n = len(y)
    first = n - windows * h_bt
    cv = np.full((windows, h_bt, len(models)), np.nan)
    fc = np.full((horizon, len(models)), np.nan)
    errors: dict[str, str] = {}
    for j, model in enumerate(models):
        try:
            if _has_parameters(model):
                fitted = model.new().fit(y=y[:first])
                cv[0, :, j] = fitted.predict(h=h_bt)["mean"]
                for w in range(1, windows):
                    cv[w, :, j] = fitted.forward(y=y[: first + w * h_bt], h=h_bt)["mean"]
            else:
                for w in range(windows):
                    cv[w, :, j] = model.forecast(y=y[: first + w * h_bt], h=h_bt)["mean"]
                fc[:, j] = model.forecast(y=y, h=horizon)["mean"]
        except Exception as exc:  # noqa: BLE001 — one model failing on one series is reported, not fatal
            cv[:, :, j] = np.nan
            fc[:, j] = np.nan
            errors[model.alias] = f"{type(exc).__name__}: {exc}"[:200]
    cv[~np.isfinite(cv)] = np.nan
    fc[~np.isfinite(fc)] = np.nan
    return cv, fc, errors


def _has_parameters(model) -> bool:
    """Models whose parameters an optimiser estimates (costly to fit; carried forward between windows)."""
    return model.alias in FITTED_MODELS


def _backtest_chunk(
    series: list[np.ndarray], names: Sequence[str], season: int, h_bt: int, windows: int, horizon: int
) -> list[tuple[np.ndarray, np.ndarray, dict[str, str]]]:
    models = _statsforecast_models(names, season)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return [_series_backtest(y, models, h_bt=h_bt, windows=windows, horizon=horizon) for y in series]


def _refit_chunk(items: list[tuple[np.ndarray, list[str]]], season: int, horizon: int, first: int) -> list[np.ndarray]:
    out = []
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for y, names in items:
            res = np.full((horizon, len(names)), np.nan)
            for j, model in enumerate(_statsforecast_models(names, season)):
                try:
                    res[:, j] = model.forecast(y=y, h=horizon)["mean"]
                except Exception:  # noqa: BLE001 — fall back to the backtest's parameters, carried forward
                    log.debug("final refit of %s failed; forward pass instead", model.alias, exc_info=True)
                    try:
                        res[:, j] = model.new().fit(y=y[: len(y) - first]).forward(y=y, h=horizon)["mean"]
                    except Exception:  # noqa: BLE001 — NaN: the series is reported failed
                        log.debug("forward pass of %s failed too", model.alias, exc_info=True)
            out.append(res)
    return out


def _series_arrays(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ids in order of appearance, start row and length of each series of a frame sorted by series."""
    uids, starts, counts = np.unique(df["unique_id"].to_numpy(), return_index=True, return_counts=True)
    order = np.argsort(starts)
    return uids[order], starts[order], counts[order]


def backtest_frames(
    df: pd.DataFrame,
    *,
    names: Sequence[str],
    h_bt: int,
    horizon: int,
    windows: int,
    season: int = SEASON,
    n_jobs: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rolling-origin backtest (and final forecast of the cheap models) of statsforecast models over every series.

    df: ``unique_id, ds, y`` sorted by series and day, consecutive days, each series longer than
    ``windows × h_bt``. Returns (cv, fc) in statsforecast's shape: cv ``unique_id, ds, cutoff, y`` and
    one column per model; fc ``unique_id, ds`` and one column per model — NaN for the models with
    parameters, whose final forecast :func:`refit_final` makes for the series that use them.
    ``cv.attrs["errors"]`` holds {unique_id: {model: message}} for models that failed on a series.
    """
    names = list(names)
    uids, starts, counts = _series_arrays(df)
    values = df["y"].to_numpy(dtype=float)
    days = df["ds"].to_numpy()
    series = [values[s : s + c] for s, c in zip(starts, counts, strict=True)]
    k = len(names)
    if names:
        chunks = _chunked(series, n_jobs)
        done = _parallel_map(_backtest_chunk, chunks, n_jobs, names, season, h_bt, windows, horizon)
        results = _unchunk(done, len(series), len(chunks))
    else:  # only models backtested elsewhere (Prophet, the global model): the frames' days, no columns
        results = [(np.empty((windows, h_bt, 0)), np.empty((horizon, 0)), {}) for _ in series]
    cv_vals = np.concatenate([r[0].reshape(windows * h_bt, k) for r in results]) if results else np.empty((0, k))
    fc_vals = np.concatenate([r[1] for r in results]) if results else np.empty((0, k))
    # Backtest days are the last windows × h_bt days of each series; forecast days follow its end.
    test_start = starts + counts - windows * h_bt
    cv_idx = (test_start[:, None] + np.arange(windows * h_bt)).ravel()
    cut_idx = (test_start[:, None] + np.repeat(h_bt * np.arange(windows), h_bt) - 1).ravel()
    last = days[starts + counts - 1] if len(uids) else days[:0]
    cv = pd.DataFrame(
        {
            "unique_id": np.repeat(uids, windows * h_bt),
            "ds": days[cv_idx],
            "cutoff": days[cut_idx],
            "y": values[cv_idx],
        }
    )
    step = np.arange(1, horizon + 1) * np.timedelta64(1, "D")
    fc = pd.DataFrame({"unique_id": np.repeat(uids, horizon), "ds": (last[:, None] + step).ravel()})
    for j, name in enumerate(names):
        cv[name] = cv_vals[:, j]
        fc[name] = fc_vals[:, j]
    cv.attrs["errors"] = {str(u): r[2] for u, r in zip(uids, results, strict=True) if r[2]}
    return cv, fc


def refit_final(
    df: pd.DataFrame,
    fc: pd.DataFrame,
    *,
    refits: dict[str, list[str]],
    backtest_days: int,
    season: int = SEASON,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """``fc`` with the final forecast of ``refits`` ({unique_id: [model, …]}) from a fresh fit on the
    whole history of that series. Where that fit fails, the parameters fitted before the backtest
    (``backtest_days`` before the end) are carried forward instead; where that fails too, NaN."""
    if not refits:
        return fc
    uids, starts, counts = _series_arrays(df)
    values = df["y"].to_numpy(dtype=float)
    where = {str(u): (s, c) for u, s, c in zip(uids, starts, counts, strict=True)}
    todo = [(uid, names) for uid, names in refits.items() if names and uid in where]
    items = [(values[where[uid][0] : sum(where[uid])], names) for uid, names in todo]
    f_uids, f_starts, f_counts = _series_arrays(fc)
    rows = {str(u): (st, c) for u, st, c in zip(f_uids, f_starts, f_counts, strict=True)}
    horizon = rows[todo[0][0]][1] if todo else 0
    chunks = _chunked(items, n_jobs)
    results = _unchunk(
        _parallel_map(_refit_chunk, chunks, n_jobs, season, horizon, backtest_days), len(items), len(chunks)
    )
    cols = {name: fc[name].to_numpy(dtype=float, copy=True) for _, names in todo for name in names}
    for (uid, names), res in zip(todo, results, strict=True):
        start = rows[uid][0]
        for j, name in enumerate(names):
            cols[name][start : start + horizon] = np.where(np.isfinite(res[:, j]), res[:, j], np.nan)
    fc = fc.copy()
    for name, col in cols.items():
        fc[name] = col
    return fc


# --------------------------------------------------------------------------------------------------
# Forecast with per-series selection
# --------------------------------------------------------------------------------------------------


@dataclass
class ForecastResult:
    """forecasts: unique_id, ds, yhat, lo, hi, model, baseline (the forecast without promotion or holiday
    uplift; = yhat without a calendar). accuracy: one row per series × model tested.
    chosen: unique_id → (model, reason, rmse). failed: unique_id → message."""

    forecasts: pd.DataFrame
    accuracy: pd.DataFrame
    chosen: dict[str, dict] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    # the chosen forecast over the backtest days: unique_id, ds, cutoff, y (sold), yhat (closed days left out)
    backtest: pd.DataFrame | None = None
    # with a calendar: unique_id → the effects learned ("promo_per_discount", "holiday", "yearly" …)
    effects: dict[str, dict] = field(default_factory=dict)


def history_days_needed(models: Sequence[str], windows: int = DEFAULT_WINDOWS) -> int:
    """Days of history a forecast with ``models`` reads: the statistical window and the backtest, or
    Prophet's longer window when it is a candidate."""
    days = DEFAULT_HISTORY_DAYS
    if "global" in models:
        days = max(days, global_model.HISTORY_DAYS)
    if "prophet" in models:
        days = max(days, PROPHET_HISTORY_DAYS)
    return days + windows * BACKTEST_HORIZON_MAX


def validate_horizon(horizon) -> int:
    try:
        horizon = int(horizon)
    except (TypeError, ValueError) as exc:
        raise EngineError("The horizon must be a whole number of days.") from exc
    if horizon < 1:
        raise EngineError("The horizon must be at least one day.")
    if horizon > MAX_HORIZON:
        raise EngineError(f"The horizon can be at most {MAX_HORIZON} days (a year).")
    return horizon


def forecast_frame(
    demand: pd.DataFrame,
    *,
    horizon: int,
    models: Sequence[str] = DEFAULT_MODELS,
    windows: int = DEFAULT_WINDOWS,
    season: int = SEASON,
    history_days: int | None = DEFAULT_HISTORY_DAYS,
    n_jobs: int = 1,
    calendar: pd.DataFrame | None = None,
    groups: pd.DataFrame | dict | None = None,
) -> ForecastResult:
    """Forecast every series of ``demand`` (``unique_id, ds, y``) ``horizon`` days ahead.

    Each series with enough history gets a rolling-origin backtest (``windows`` ≥ 2 windows of
    min(horizon, 28) days) of every model on its last ``history_days`` (Prophet: on up to three years,
    and only where :func:`prophet_eligible`); see :func:`choose` for the choice. The chosen model is
    refitted on the whole history for the forecast, and the interval is the forecast ± z·RMSE of its
    backtest errors. Series too short to backtest get their historic average; all-zero series a zero
    forecast. A series that makes the batch fail is retried alone and, if it still fails, reported in
    ``failed`` — the others are unaffected. ``n_jobs`` > 1 spreads the series over that many processes.

    ``calendar`` (a frame ``unique_id, ds`` and any of ``closed``, ``promo``, ``holiday``; an empty frame
    counts): the calendar-aware forecast of :mod:`this module's calendar section <forecasting.engine>` —
    closed days exactly 0 and out of fitting and errors, promotion and holiday uplift learned and applied,
    launches forecast from their group, the year's season, a band calibrated on the backtest. ``groups``
    (``unique_id → category, store``) says which series learn from each other. Without a calendar
    (``None``) the forecast is the plain one, number for number.
    """
    horizon = validate_horizon(horizon)
    if windows < 2:
        raise EngineError("A rolling-origin backtest needs at least two windows.")
    models = [m for m in models if m in CANDIDATES] or list(FAST_MODELS)
    df = demand[["unique_id", "ds", "y"]].copy()
    df["unique_id"] = df["unique_id"].astype(str)
    df["ds"] = pd.to_datetime(df["ds"])
    df["y"] = df["y"].astype(float)
    df = df.sort_values(["unique_id", "ds"], kind="stable")
    failed: dict[str, str] = {}
    bad = df.groupby("unique_id")["y"].apply(lambda s: not np.isfinite(s).all() or (s < 0).any())
    for uid in bad[bad].index:
        failed[uid] = "the history holds missing, infinite or negative values"
    df = df[~df["unique_id"].isin(failed)]
    kw: dict[str, Any] = {
        "horizon": horizon,
        "models": models,
        "windows": windows,
        "season": season,
        "history_days": history_days,
    }
    if calendar is None:
        return _forecast_core(df, failed, n_jobs=n_jobs, cal=None, **kw)
    cal = CalendarModel(df, calendar, groups=groups, horizon=horizon)
    result = _forecast_core(cal.adjusted_frame(), failed, n_jobs=n_jobs, cal=cal, **kw)
    return cal.finish(result, windows=windows)


def _forecast_core(
    df: pd.DataFrame,
    failed: dict[str, str],
    *,
    horizon: int,
    models: Sequence[str],
    windows: int,
    season: int,
    history_days: int | None,
    n_jobs: int,
    cal: CalendarModel | None,
) -> ForecastResult:
    h_bt = min(horizon, BACKTEST_HORIZON_MAX)
    full = df
    if history_days:
        keep = history_days + windows * h_bt
        df = df.groupby("unique_id", sort=False).tail(keep)
    lengths = df.groupby("unique_id").size()
    totals = df.groupby("unique_id")["y"].sum()
    min_len = windows * h_bt + 2 * season
    zero_ids = set(totals[totals <= 0].index)
    short_ids = set(lengths[lengths < min_len].index) - zero_ids
    long_ids = sorted(set(lengths.index) - zero_ids - short_ids)

    fc_parts, acc_parts, bt_parts, chosen = [], [], [], {}
    for uid in sorted(zero_ids | short_ids):
        series = df[df["unique_id"] == uid]
        fc, info = _simple_forecast(uid, series, horizon, zero=uid in zero_ids)
        fc_parts.append(fc)
        chosen[uid] = info
    if long_ids:
        long_df = df[df["unique_id"].isin(long_ids)]
        long_full = full[full["unique_id"].isin(long_ids)] if {"prophet", "global"} & set(models) else None
        common: dict[str, Any] = {
            "models": models,
            "h_bt": h_bt,
            "horizon": horizon,
            "windows": windows,
            "season": season,
        }
        if cal is not None:
            common["cal"] = cal
        try:
            result = _select_many(long_df, n_jobs=n_jobs, full=long_full, **common)
        except Exception:  # one bad series must not sink the batch: retry each alone
            log.warning("batch forecast failed; retrying series one by one", exc_info=True)
            result = None
        if result is not None:
            fc_parts.append(result.forecasts)
            acc_parts.append(result.accuracy)
            bt_parts.append(result.backtest)
            chosen.update(result.chosen)
            failed.update(result.failed)
        else:
            for uid in long_ids:
                try:
                    one = _select_many(
                        long_df[long_df["unique_id"] == uid],
                        n_jobs=1,
                        full=None if long_full is None else long_full[long_full["unique_id"] == uid],
                        **common,
                    )
                except Exception as exc:  # noqa: BLE001 — reported per series
                    failed[uid] = f"{type(exc).__name__}: {exc}"[:300]
                    continue
                fc_parts.append(one.forecasts)
                acc_parts.append(one.accuracy)
                bt_parts.append(one.backtest)
                chosen.update(one.chosen)
                failed.update(one.failed)
    forecasts = (
        pd.concat(fc_parts, ignore_index=True)
        if fc_parts
        else pd.DataFrame(columns=["unique_id", "ds", "yhat", "lo", "hi", "model"])
    )
    forecasts["baseline"] = forecasts["yhat"]
    acc = (
        pd.concat(acc_parts, ignore_index=True)
        if acc_parts
        else pd.DataFrame(columns=["unique_id", "model", "mase", "wmape", "bias", "rmse", "mae", "chosen"])
    )
    bt_parts = [b for b in bt_parts if b is not None]
    backtest = (
        pd.concat(bt_parts, ignore_index=True)
        if bt_parts
        else pd.DataFrame(columns=["unique_id", "ds", "cutoff", "y", "yhat"])
    )
    return ForecastResult(forecasts=forecasts, accuracy=acc, chosen=chosen, failed=failed, backtest=backtest)


def _simple_forecast(uid: str, series: pd.DataFrame, horizon: int, *, zero: bool) -> tuple[pd.DataFrame, dict]:
    last = series["ds"].max()
    days = pd.date_range(last + pd.Timedelta(days=1), periods=horizon, freq="D")
    n = len(series)
    mean = 0.0 if zero else float(series["y"].mean())
    # With no backtest, the spread is a Poisson guess: sd = √mean (the interval says "little is known").
    sd = float(series["y"].std(ddof=0)) if n > 1 else 0.0
    sd = max(sd, math.sqrt(mean))
    fc = pd.DataFrame(
        {
            "unique_id": uid,
            "ds": days,
            "yhat": mean,
            "lo": max(mean - Z_INTERVAL * sd, 0.0),
            "hi": mean + Z_INTERVAL * sd,
            "model": "zero" if zero else "mean",
        }
    )
    reason = (
        f"No sales in the {n} days of history: the forecast is zero."
        if zero
        else f"Only {n} day{'s' if n != 1 else ''} of history — too short to backtest; the forecast is the average."
    )
    return fc, {
        "model": fc["model"].iloc[0],
        "reason": reason,
        "rmse": sd,
        "mase": None,
        "wmape": None,
        "bias": None,
        "history_days": n,
    }


def _select_many(
    df: pd.DataFrame,
    *,
    models: Sequence[str],
    h_bt: int,
    horizon: int,
    windows: int,
    season: int,
    n_jobs: int,
    full: pd.DataFrame | None = None,
    cal: CalendarModel | None = None,
) -> ForecastResult:
    """Backtest, choose and forecast series that are all long enough to backtest. ``full``: their whole
    history, from which Prophet's eligible series take up to three years. ``cal``: the backtest is scored
    on what sold (the fitted series are calendar-adjusted), and the forecasts carry the year's season."""
    fast = [m for m in models if m not in {"prophet", "global"}]
    base = _base_models(fast)
    cv, fc = backtest_frames(df, names=base, h_bt=h_bt, horizon=horizon, windows=windows, season=season, n_jobs=n_jobs)
    if errors := cv.attrs.get("errors"):
        log.warning(
            "a model failed on %d series and was left out there, e.g. %s", len(errors), next(iter(errors.items()))
        )
    cv = _add_combo(cv, fast)
    fc = _add_combo(fc, fast)
    candidates = [m for m in fast if m in cv.columns]
    history = df if full is None else full
    key = ["unique_id", "ds"]
    if "global" in models:
        g_hist = history.groupby("unique_id", sort=False).tail(global_model.HISTORY_DAYS + windows * h_bt)
        g_cv, g_fc = global_frames(g_hist, h_bt=h_bt, windows=windows, horizon=horizon)
        cv["global"] = cv[key].merge(g_cv, on=key, how="left")["global"].to_numpy()
        fc["global"] = fc[key].merge(g_fc, on=key, how="left")["global"].to_numpy()
        candidates.append("global")
    if "prophet" in models:
        eligible = prophet_eligible(history)
        cv["prophet"], fc["prophet"] = np.nan, np.nan  # not eligible → no backtest → never chosen
        if eligible:
            prophet_df = history[history["unique_id"].isin(eligible)]
            prophet_df = prophet_df.groupby("unique_id", sort=False).tail(PROPHET_HISTORY_DAYS + windows * h_bt)
            p_cv, _ = _prophet_frames(prophet_df, h=h_bt, windows=windows, horizon=horizon, n_jobs=n_jobs, final=False)
            cv["prophet"] = cv[key].merge(p_cv[[*key, "prophet"]], on=key, how="left")["prophet"].to_numpy()
        candidates.append("prophet")
    for m in candidates:
        cv[m] = cv[m].clip(lower=0)
        fc[m] = fc[m].clip(lower=0)
    if cal is not None:
        cv = cal.backtest_view(cv, candidates)
    selection = choose(df, cv=cv, candidates=candidates, season=season)
    # The backtest fitted each model once, at the first origin; the model a series finally uses is fitted
    # again on its whole history (on real demand, eight-week-old parameters cost accuracy).
    refit_names = set(base) & set(FITTED_MODELS)
    refits = {}
    for uid, members in selection.members().items():
        parts = [p for m in members for p in (COMBO_PARTS if m == "combo" else (m,))]
        refits[uid] = [p for p in dict.fromkeys(parts) if p in refit_names]
    fc = refit_final(df, fc, refits=refits, backtest_days=windows * h_bt, season=season, n_jobs=n_jobs)
    # Prophet's final fit (a third of its cost) only where it was chosen: it rarely is.
    tested = set(eligible) if "prophet" in models else set()  # a series not backtested with Prophet keeps NaN
    chose_prophet = [uid for uid, members in selection.members().items() if "prophet" in members and uid in tested]
    if chose_prophet:
        p_hist = history[history["unique_id"].isin(chose_prophet)]
        p_hist = p_hist.groupby("unique_id", sort=False).tail(PROPHET_HISTORY_DAYS + windows * h_bt)
        _, p_fc = _prophet_frames(p_hist, h=h_bt, windows=0, horizon=horizon, n_jobs=n_jobs)
        final = fc[key].merge(p_fc[[*key, "prophet"]], on=key, how="left")["prophet"].to_numpy()
        fc["prophet"] = np.clip(np.where(np.isnan(final), fc["prophet"].to_numpy(), final), 0, None)
    fc = _add_combo(fc, fast)
    if "combo" in candidates:
        fc["combo"] = fc["combo"].clip(lower=0)
    for m in refit_names & set(fc.columns):
        fc[m] = fc[m].clip(lower=0)
    if cal is not None:
        fc = cal.forecast_view(fc, candidates)
    result = selection.result(history=df, cv=cv, fc=fc)
    codes = selection.uids.get_indexer(cv["unique_id"])
    values = cv[selection.candidates].to_numpy(dtype=float)
    result.backtest = pd.DataFrame(
        {
            "unique_id": cv["unique_id"].to_numpy(),
            "ds": cv["ds"].to_numpy(),
            "cutoff": cv["cutoff"].to_numpy(),
            "y": cv["y"].to_numpy(dtype=float),
            "yhat": np.where(selection.weights[codes] > 0, values, 0.0).sum(axis=1),
        }
    )
    result.backtest = result.backtest[~result.backtest["unique_id"].isin(result.failed)].reset_index(drop=True)
    return result


def mase_scales(history: pd.DataFrame, cv: pd.DataFrame, season: int = SEASON) -> pd.Series:
    """MASE denominator per series, from its history up to its first backtest origin (NaN when flat)."""
    first_cut = cv.groupby("unique_id")["cutoff"].min()
    h = history[["unique_id", "ds", "y"]]
    h = h[h["ds"] <= h["unique_id"].map(first_cut)]
    diff = (h["y"] - h.groupby("unique_id")["y"].shift(season)).abs()
    scale = diff.groupby(h["unique_id"]).mean()
    return scale.where(scale > 0)


def backtest_scores(cv: pd.DataFrame, candidates: Sequence[str], scales: pd.Series) -> dict[str, pd.DataFrame]:
    """Per series × candidate: mae, rmse, mase, wmape, bias over all backtest windows, ``wmape_week`` (the
    error of weekly totals ÷ units), and the sums ``units`` (sold), ``abs_error``, ``abs_error_week`` and
    ``error`` (frames indexed by unique_id); ``window_mae`` and
    ``window_rmse`` indexed by (unique_id, cutoff). A candidate with a missing value in a window of a
    series scores NaN there."""
    candidates = list(candidates)
    codes, uids = pd.factorize(cv["unique_id"], sort=False)
    actual = cv["y"].to_numpy(dtype=float)
    err = cv[candidates].to_numpy(dtype=float) - actual[:, None]

    def by_series(values: np.ndarray) -> np.ndarray:
        return pd.DataFrame(values).groupby(codes).sum().to_numpy()

    missing = by_series(np.isnan(err)) > 0
    n = np.bincount(codes).astype(float)[:, None]
    abs_sum = by_series(np.abs(err))
    y_sum = np.bincount(codes, weights=np.abs(actual))[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {
            "mae": abs_sum / n,
            "rmse": np.sqrt(by_series(err**2) / n),
            "wmape": np.where(y_sum > 0, abs_sum / y_sum, np.nan),
            "bias": np.where(y_sum > 0, by_series(err) / y_sum, np.nan),
            # sums, so that groups of series can be scored as one (pooled wMAPE and bias)
            "units": np.broadcast_to(y_sum, abs_sum.shape),
            "abs_error": abs_sum,
            "error": by_series(err),
        }
        out["mase"] = out["mae"] / scales.reindex(uids).to_numpy(dtype=float)[:, None]
    # Weekly totals: what a shop orders for. Each window's days in blocks of 7 from its origin; the error of
    # a block's total, summed over the blocks (a week over-forecast and the next under do not cancel).
    day = cv.groupby(["unique_id", "cutoff"], sort=False).cumcount().to_numpy()
    blocks = [codes, cv["cutoff"].to_numpy(), day // SEASON]
    week_err = pd.DataFrame(err, columns=candidates).groupby(blocks, sort=False).sum(min_count=1)
    week_codes = week_err.index.get_level_values(0).to_numpy()
    abs_week = pd.DataFrame(np.abs(week_err.to_numpy())).groupby(week_codes).sum().reindex(range(len(uids))).to_numpy()
    out["abs_error_week"] = abs_week
    with np.errstate(divide="ignore", invalid="ignore"):
        out["wmape_week"] = np.where(y_sum > 0, abs_week / y_sum, np.nan)
    index = pd.Index(uids, name="unique_id")
    scores = {k: pd.DataFrame(np.where(missing, np.nan, v), index=index, columns=candidates) for k, v in out.items()}
    keys = [cv["unique_id"].to_numpy(), cv["cutoff"].to_numpy()]
    gaps = pd.DataFrame(np.isnan(err), columns=candidates).groupby(keys).any()
    window = pd.DataFrame(np.abs(err), columns=candidates).groupby(keys).mean()
    scores["window_mae"] = window.mask(gaps)
    window = np.sqrt(pd.DataFrame(err**2, columns=candidates).groupby(keys).mean())
    scores["window_rmse"] = window.mask(gaps)
    return scores


def selection_weights(
    scores: dict[str, pd.DataFrame], candidates: Sequence[str], *, margin: float = SWITCH_MARGIN
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The choice per series, as (weights series × candidates — one-hot —, chosen model, default model).

    The default is the first model of DEFAULT_CHAIN with a backtest on the series (none: the best). The
    best model (lowest SELECTION_METRIC; ties to the simpler) replaces it only if that error is at least
    ``margin`` lower over all windows and no higher in any single window: when the windows disagree, the
    default stays.
    """
    candidates = list(candidates)
    mae = scores[SELECTION_METRIC].reindex(columns=candidates).to_numpy(dtype=float)
    n, k = mae.shape
    rows = np.arange(n)
    # Candidates come in MODEL_LABELS order, so a stable sort breaks ties towards the simpler model.
    best = np.argsort(np.where(np.isnan(mae), np.inf, np.round(mae, 9)), axis=1, kind="stable")[:, 0]
    default = best.copy()
    has_default = np.zeros(n, dtype=bool)
    for name in reversed(DEFAULT_CHAIN):
        if name in candidates:
            ok = ~np.isnan(mae[:, candidates.index(name)])
            default[ok] = candidates.index(name)
            has_default |= ok
    windows = scores[f"window_{SELECTION_METRIC}"].reindex(columns=candidates)
    order = np.argsort(scores[SELECTION_METRIC].index.get_indexer(windows.index.get_level_values(0)), kind="stable")
    per_window = windows.to_numpy(dtype=float)[order].reshape(n, -1, k)  # series × window × candidate
    win_best = per_window[rows, :, best]
    win_default = per_window[rows, :, default]
    with np.errstate(invalid="ignore"):
        clearly = mae[rows, best] <= (1 - margin) * mae[rows, default]
        every = (np.round(win_best, 9) <= np.round(win_default, 9)).all(axis=1)
    pick = np.where(~has_default | (clearly & every), best, default)
    weights = np.zeros((n, k))
    weights[rows, pick] = 1.0
    names = np.asarray(candidates, dtype=object)
    return weights, names[pick], names[default]


@dataclass
class Selection:
    """What :func:`choose` decided, per series (rows of ``uids``)."""

    uids: pd.Index
    candidates: list[str]
    scores: dict[str, pd.DataFrame]
    own: dict[str, pd.DataFrame]  # the chosen forecast's backtest scores, column "chosen"
    weights: np.ndarray
    labels: np.ndarray
    defaults: np.ndarray

    def members(self) -> dict[str, list[str]]:
        return {
            str(uid): [m for m, w in zip(self.candidates, row, strict=True) if w > 0]
            for uid, row in zip(self.uids, self.weights, strict=True)
        }

    def result(self, *, history: pd.DataFrame, cv: pd.DataFrame, fc: pd.DataFrame) -> ForecastResult:
        """Forecast frame (chosen model ± z·backtest RMSE), accuracy rows and reasons; a series whose
        chosen forecast is not finite goes to ``failed``."""
        uids, candidates, scores, own = self.uids, self.candidates, self.scores, self.own
        long = {k: v.stack(future_stack=True).rename(k) for k, v in scores.items() if not k.startswith("window_")}
        acc = pd.concat(long.values(), axis=1).reset_index().rename(columns={"level_1": "model"})
        acc = acc[acc["mae"].notna()]
        acc["chosen"] = acc["model"].to_numpy() == self.labels[uids.get_indexer(acc["unique_id"])]
        acc = acc.sort_values(["unique_id", "model"], ignore_index=True)
        codes = uids.get_indexer(fc["unique_id"])
        fc, codes = fc[codes >= 0], codes[codes >= 0]
        values = fc[candidates].to_numpy(dtype=float)
        yhat = np.where(self.weights[codes] > 0, values, 0.0).sum(axis=1)
        yhat[(np.isnan(values) & (self.weights[codes] > 0)).any(axis=1)] = np.nan
        rmse = np.nan_to_num(own["rmse"]["chosen"].to_numpy(dtype=float))
        spread = Z_INTERVAL * rmse[codes]
        forecasts = pd.DataFrame(
            {
                "unique_id": fc["unique_id"].to_numpy(),
                "ds": fc["ds"].to_numpy(),
                "yhat": yhat,
                "lo": np.clip(yhat - spread, 0, None),
                "hi": yhat + spread,
                "model": self.labels[codes],
            }
        )
        broken = set(forecasts.loc[~np.isfinite(forecasts["yhat"]), "unique_id"])
        failed = {uid: self._failure(uid) for uid in broken}
        if broken:
            forecasts = forecasts[~forecasts["unique_id"].isin(broken)].reset_index(drop=True)
            acc = acc[~acc["unique_id"].isin(broken)].reset_index(drop=True)
        history_days = history.groupby("unique_id").size()
        n_windows = cv.groupby("unique_id")["cutoff"].nunique()
        days = len(cv) // max(int(n_windows.sum()), 1)
        metric = SELECTION_METRIC
        judged = scores[metric]
        chosen = {}
        for i, uid in enumerate(uids):
            if uid in broken:
                continue
            label, default = self.labels[i], self.defaults[i]
            b = {k: float(own[k]["chosen"].iat[i]) for k in ("rmse", "mase", "wmape", "bias", "mae")}
            w = int(n_windows.get(uid, 0))
            over = f"over {w} rolling windows of {days} days"
            if label != default:
                ref = float(judged.at[uid, default])
                gain = 1 - b[metric] / ref if ref > 0 else float("nan")
                why = (
                    f"beat the default, {model_name(default)}, by {gain:.0%} ({metric.upper()}) and in every one of "
                    f"{w} rolling windows of {days} days"
                )
            else:
                tested = int(judged.loc[uid].notna().sum())
                why = (
                    f"the default; none of the other {tested - 1} models beat it by {SWITCH_MARGIN:.0%} and in "
                    f"every window, {over}"
                    if tested > 1
                    else f"the only model tested, {over}"
                )
            base = float(judged.at[uid, BASELINE]) if BASELINE in judged.columns else float("nan")
            if label != BASELINE and base > 0:
                why += f"; {1 - b[metric] / base:.0%} smaller backtest {metric.upper()} than {model_name(BASELINE)}"
            chosen[uid] = {
                "model": label,
                "reason": f"{MODEL_LABELS[label]}: {why}.",
                "rmse": b["rmse"],
                "mase": b["mase"],
                "wmape": b["wmape"],
                "bias": b["bias"],
                "history_days": int(history_days.get(uid, 0)),
            }
        return ForecastResult(forecasts=forecasts, accuracy=acc, chosen=chosen, failed=failed)

    def _failure(self, uid) -> str:
        label = self.labels[self.uids.get_loc(uid)]
        if not np.isnan(self.scores[SELECTION_METRIC].at[uid, label]):
            return "the chosen model gave no finite forecast"
        if label == "prophet":
            return (
                f"none of the models asked for could be tested: Prophet is tried only on series with "
                f"{PROPHET_MIN_HISTORY_DAYS} days of history, {PROPHET_MIN_DAILY_MEAN:g}+ units a day and few days "
                "without a sale — ask for a fast model too"
            )
        return f"none of the models asked for could be tested on this series ({label} failed on it)"


def choose(history: pd.DataFrame, *, cv: pd.DataFrame, candidates: Sequence[str], season: int = SEASON) -> Selection:
    """Score every candidate on the backtest and choose per series (:func:`selection_weights`).
    Vectorised over series: the cost grows linearly with their number."""
    candidates = sorted(candidates, key=list(MODEL_LABELS).index)  # ties go to the simpler model
    scales = mase_scales(history, cv, season)
    scores = backtest_scores(cv, candidates, scales)
    uids = scores["mae"].index
    weights, labels, defaults = selection_weights(scores, candidates)
    chosen_cv = cv[["unique_id", "cutoff", "y"]].copy()
    values = cv[candidates].to_numpy(dtype=float)
    chosen_cv["chosen"] = np.where(weights[uids.get_indexer(cv["unique_id"])] > 0, values, 0.0).sum(axis=1)
    own = backtest_scores(chosen_cv, ["chosen"], scales)
    return Selection(uids, candidates, scores, own, weights, labels, defaults)


# How much to trust a forecast, from its backtest. The yardstick is "same weekday last week": MASE is the
# backtest's mean daily error ÷ that yardstick's mean daily error over the history (below 1 beats it). Bias is
# Σ(forecast − sold) ÷ units sold: a forecast that leans one way fills or empties the shelf whatever its MASE.
# Daily retail demand is noisy (on the demo chain half the series miss by more than the units sold on a day),
# so the daily-error bars are wide; weekly totals are what an order is made of.
TRUST_HIGH_MASE = 0.90  # beats the yardstick by at least 10 %
TRUST_HIGH_BIAS = 0.15
TRUST_HIGH_WMAPE = 0.75
TRUST_LOW_MASE = 1.00  # above it: worse than the yardstick
TRUST_LOW_BIAS = 0.50
TRUST_LOW_WMAPE = 2.00
TRUST_MIN_HISTORY_DAYS = 90
TRUST_LEVELS = ("low", "medium", "high")  # worst first
TRUST_RULE = (
    f"High: beats the yardstick “same weekday last week” by at least {1 - TRUST_HIGH_MASE:.0%} "
    f"(MASE below {TRUST_HIGH_MASE:.2f}), leans neither way by more than {TRUST_HIGH_BIAS:.0%} "
    f"(bias within ±{TRUST_HIGH_BIAS:.0%}) and its daily error is under {TRUST_HIGH_WMAPE:.0%} of the units "
    f"sold (wMAPE). Low: worse than the yardstick (MASE above {TRUST_LOW_MASE:.2f}), or leans by more than "
    f"{TRUST_LOW_BIAS:.0%} (bias beyond ±{TRUST_LOW_BIAS:.0%}), or a daily error over {TRUST_LOW_WMAPE:.0%} of "
    f"the units sold, or under {TRUST_MIN_HISTORY_DAYS} days of history. Medium: anything in between. MASE is "
    "the backtest's daily error ÷ the error of “same weekday last week” over the history; bias is how much "
    "more (+) or less (−) the backtest forecast than sold."
)


def _finite(x: object) -> TypeGuard[float]:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def trust_badge(
    *, mase: float | None, wmape: float | None, bias: float | None, history_days: int | None
) -> tuple[str, str]:
    """("high" | "medium" | "low", why) by :data:`TRUST_RULE`, from the backtest's MASE, daily wMAPE and bias.
    Monotone: a larger error or a larger |bias| never gives a better badge."""
    if not _finite(mase):
        return "low", "No backtest: the history is too short or empty."
    if history_days is not None and history_days < TRUST_MIN_HISTORY_DAYS:
        return "low", f"Only {history_days} days of history."
    if not _finite(wmape):  # nothing sold in the backtest weeks: no error can be set against sales
        if mase > TRUST_LOW_MASE:
            return "low", f"Low: nothing sold in the backtest weeks and it forecast sales (MASE {mase:.2f})."
        return (
            "medium",
            "Nothing sold in the backtest weeks, so its error cannot be set against sales: when it sells again "
            "cannot be foreseen.",
        )
    lean = abs(bias) if _finite(bias) else None
    worse = []
    if mase > TRUST_LOW_MASE:
        worse.append(f"worse than “same weekday last week” (MASE {mase:.2f})")
    if lean is not None and lean > TRUST_LOW_BIAS:
        worse.append(f"it forecast {lean:.0%} {'more' if bias > 0 else 'less'} than sold (bias {bias:+.0%})")  # type: ignore[operator]  # lean is set only when bias is finite
    if wmape > TRUST_LOW_WMAPE:
        worse.append(f"its daily error is {wmape:.0%} of the units sold")
    if worse:
        return "low", "Low: " + "; ".join(worse) + "."
    short = []
    if mase >= TRUST_HIGH_MASE:
        short.append(f"about as good as “same weekday last week” (MASE {mase:.2f})")
    if lean is None:
        short.append("its bias is unknown")
    elif lean > TRUST_HIGH_BIAS:
        short.append(f"it leans {'over' if bias > 0 else 'under'} by {lean:.0%} (bias {bias:+.0%})")  # type: ignore[operator]  # lean is set only when bias is finite
    if wmape >= TRUST_HIGH_WMAPE:
        short.append(
            f"its daily error is {wmape:.0%} of the units sold: a slow seller's few sales are hard to time, so "
            "trust weekly totals more than single days"
        )
    if short:
        return "medium", "Medium: " + "; ".join(short) + "."
    return "high", (
        f"High: beats “same weekday last week” clearly (MASE {mase:.2f}), bias {bias:+.0%}, daily error "
        f"{wmape:.0%} of the units sold."
    )


# --------------------------------------------------------------------------------------------------
# The calendar: closures, promotions, holidays, launches, the year's season, a calibrated band
# --------------------------------------------------------------------------------------------------
#
# The statistical models fit a *baseline*: what would sell on an ordinary open day. The calendar-aware
# forecast (forecast_frame(..., calendar=…)) works in three steps:
# 1. learn, per series, from its whole history: a local level (the mean of its ordinary days — open, no
#    promotion, no holiday — within ±14 days) times its weekday profile gives the ordinary day expected on
#    any day; on promotion days, sales above it per unit of discount give the promotion uplift
#    (uplift = 1 + g × discount); on open holidays, sales over it give the holiday factor. Each is shrunk
#    toward its group (the category's and the store's pooled estimate, themselves shrunk toward the whole
#    frame's) by credibility: weight = expected units on those days ÷ (those units + K);
# 2. fit the models on the adjusted history: promotion and holiday days divided by their uplift, closed days
#    replaced by the ordinary day expected (a shut day is not a day of zero demand); the backtest is scored
#    on what sold (uplift applied), closed days left out; the year's season multiplies the forecasts;
# 3. apply: baseline × uplift on future promotion / holiday days, exactly 0 on closed days; the band from
#    the backtest's own errors (empirical 10 % / 90 % quantiles, per volume band); launches (too short to
#    backtest) get their group's profile at their own level after the launch week.

CAL_LEVEL_HALF_WINDOW = 14  # the ordinary-day level: mean of ordinary days within ±14 days (±42 if too few)
CAL_PROMO_K = 20.0  # credibility: expected units on promotion days at which a series' own uplift weighs half
CAL_HOLIDAY_K = 20.0
CAL_GROUP_K = 60.0  # the same for a group (category, store) toward the whole frame
CAL_EVENT_DAYS = 14.0  # and days at which it weighs half: one promotion week, however busy, is one event
CAL_UPLIFT_RANGE = (0.2, 10.0)
YEAR = 364  # 52 weeks: the same weekday last year
YEARLY_REF_DAYS = 28  # last year's level: the 28 days before last year's origin
YEARLY_HALF_WEEK = 3  # last year's same week: 7 days centred on the same weekday 52 weeks before
YEARLY_K = 30.0  # credibility of a series' own yearly index, in units of last year's week
YEARLY_RANGE = (0.25, 4.0)
YEARLY_HISTORY_DAYS = YEAR + YEARLY_REF_DAYS + 7  # the history one origin's yearly index reads
LAUNCH_SPIKE_DAYS = 7  # a launch's first week is its spike: never the level
LAUNCH_K_DAYS = 7.0  # days after the spike at which a launch's own level weighs half against its group's
BAND_QUANTILES = (0.10, 0.90)
BAND_BUCKETS = (1.0, 5.0)  # calibration per volume band: < 1, 1–5, ≥ 5 units a day
BAND_MIN_POINTS = 60


def history_days_with_calendar(models: Sequence[str] = DEFAULT_MODELS, windows: int = DEFAULT_WINDOWS) -> int:
    """Days of history a calendar-aware run should read: the yearly index needs last year's same weeks and
    last year's level before the backtest's first origin (as well as what :func:`history_days_needed` says)."""
    return max(history_days_needed(models, windows), YEARLY_HISTORY_DAYS + windows * BACKTEST_HORIZON_MAX)


def _centred_mean(values: np.ndarray, mask: np.ndarray, half: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` where ``mask`` over columns t−half..t+half of each row, and the count."""
    pad = np.zeros((values.shape[0], 1))
    csum = np.hstack([pad, np.cumsum(np.where(mask, values, 0.0), axis=1)])
    ccnt = np.hstack([pad, np.cumsum(mask, axis=1)])
    t = values.shape[1]
    lo = np.clip(np.arange(t) - half, 0, t)
    hi = np.clip(np.arange(t) + half + 1, 0, t)
    total = csum[:, hi] - csum[:, lo]
    count = ccnt[:, hi] - ccnt[:, lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan), count


def _shrink(num, den, units, prior, k: float, days=None, k_days: float = 0.0) -> np.ndarray:
    """Credibility: num/den weighted by units/(units+k) — and by days/(days+k_days) when given: one event,
    however busy, is one event —, the rest from ``prior`` (where den is 0: prior)."""
    num, den, units = (np.asarray(a, dtype=float) for a in (num, den, units))
    with np.errstate(invalid="ignore", divide="ignore"):
        own = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    w = np.where(den > 0, units / (units + k), 0.0)
    if days is not None and k_days > 0:
        days = np.asarray(days, dtype=float)
        w = w * days / (days + k_days)
    return w * own + (1 - w) * np.asarray(prior, dtype=float)


def _group_table(uids: pd.Index, groups) -> pd.DataFrame:
    """category and store per series: from ``groups`` (a frame ``unique_id, category, store``, or a dict
    unique_id → (category, store) / {"category": …, "store": …}); missing: the store from "store:product",
    one category for all."""
    table = pd.DataFrame(index=uids)
    table["store"] = [u.split(":", 1)[0] if ":" in u else "" for u in uids]
    table["category"] = "*"
    if groups is None:
        return table
    if isinstance(groups, pd.DataFrame):
        g = groups.copy()
        g["unique_id"] = g["unique_id"].astype(str)
        g = g.drop_duplicates("unique_id").set_index("unique_id")
    else:
        rows = {}
        for uid, value in dict(groups).items():
            if isinstance(value, dict):
                rows[str(uid)] = {"category": value.get("category"), "store": value.get("store")}
            elif isinstance(value, list | tuple):
                rows[str(uid)] = {"category": value[0], "store": value[1] if len(value) > 1 else None}
            else:
                rows[str(uid)] = {"category": value, "store": None}
        g = pd.DataFrame.from_dict(rows, orient="index")
    for col in ("category", "store"):
        if col in g.columns:
            known = g[col].reindex(uids)
            table[col] = np.where(known.notna(), known.astype(object).astype(str), table[col])
    return table


class CalendarModel:
    """The calendar of one engine call, as day-aligned matrices (series × day, history and horizon), and the
    effects learned from it. Built by :func:`forecast_frame`; see the section comment above."""

    def __init__(self, df: pd.DataFrame, calendar: pd.DataFrame, *, groups, horizon: int):
        self.horizon = horizon
        codes, uids = pd.factorize(df["unique_id"], sort=False)
        self.uids = pd.Index(uids)
        n = len(uids)
        self.day0 = df["ds"].min() if len(df) else pd.Timestamp("2000-01-01")
        cols = ((df["ds"] - self.day0) // pd.Timedelta(days=1)).to_numpy(dtype=int) if len(df) else np.zeros(0, int)
        t = (int(cols.max()) + 1 if len(cols) else 1) + horizon
        self.y = np.full((n, t), np.nan)
        self.y[codes, cols] = df["y"].to_numpy(dtype=float)
        self.start = np.full(n, t, dtype=int)
        np.minimum.at(self.start, codes, cols)
        self.end = np.zeros(n, dtype=int)
        np.maximum.at(self.end, codes, cols)
        self.codes, self.cols = codes, cols
        self.closed = np.zeros((n, t), dtype=bool)
        self.promo = np.zeros((n, t))
        self.holiday = np.zeros((n, t), dtype=bool)
        self._read_calendar(calendar)
        self.groups = _group_table(self.uids, groups)
        self.weekday = (self.day0.dayofweek + np.arange(t)) % 7
        self.effects: dict[str, dict] = {}
        self._learn()

    # ---- input ------------------------------------------------------------------------------------

    def _read_calendar(self, calendar: pd.DataFrame) -> None:
        """Rows for unknown series, or days outside a series' history + horizon, are ignored; several rows
        for one day combine (closed if any, the deepest discount, holiday if any)."""
        if calendar is None or len(calendar) == 0 or not {"unique_id", "ds"} <= set(calendar.columns):
            return
        cal = calendar.copy()
        cal["unique_id"] = cal["unique_id"].astype(str)
        rows = self.uids.get_indexer(cal["unique_id"])
        days = pd.to_datetime(cal["ds"], errors="coerce")
        cols = ((days - self.day0) // pd.Timedelta(days=1)).to_numpy(dtype=float)
        ok = (rows >= 0) & np.isfinite(cols)
        rows, cols = rows[ok], cols[ok].astype(int)
        ok2 = (cols >= self.start[rows]) & (cols <= self.end[rows] + self.horizon) & (cols < self.y.shape[1])
        sel = np.flatnonzero(ok)[ok2]
        rows, cols = rows[ok2], cols[ok2]

        def column(name: str, default):
            if name not in cal.columns:
                return np.full(len(sel), default)
            values = pd.to_numeric(cal[name].iloc[sel], errors="coerce").fillna(default).to_numpy(dtype=float)
            return values

        np.logical_or.at(self.closed, (rows, cols), column("closed", 0) > 0)
        np.logical_or.at(self.holiday, (rows, cols), column("holiday", 0) > 0)
        np.maximum.at(self.promo, (rows, cols), np.clip(column("promo", 0.0), 0.0, 1.0))

    # ---- learning ---------------------------------------------------------------------------------

    def _pooled(
        self, num: np.ndarray, den: np.ndarray, units: np.ndarray, days: np.ndarray, prior0: float, k: float
    ) -> np.ndarray:
        """Per series: own estimate shrunk toward the mean of its category's and its store's (each shrunk
        toward the whole frame's, itself shrunk toward ``prior0``)."""
        whole = float(_shrink(num.sum(), den.sum(), units.sum(), prior0, CAL_GROUP_K, days.sum(), CAL_EVENT_DAYS))
        priors = []
        for col in ("category", "store"):
            key = self.groups[col].to_numpy()
            frame = pd.DataFrame({"k": key, "num": num, "den": den, "units": units, "days": days})
            frame = frame.groupby("k").sum()
            est = _shrink(frame["num"], frame["den"], frame["units"], whole, CAL_GROUP_K, frame["days"], CAL_EVENT_DAYS)
            priors.append(pd.Series(est, index=frame.index).reindex(key).to_numpy())
        prior = (priors[0] + priors[1]) / 2
        return _shrink(num, den, units, prior, k, days, CAL_EVENT_DAYS)

    def _learn(self) -> None:
        y, t = self.y, self.y.shape[1]
        cols = np.arange(t)
        in_history = (cols[None, :] >= self.start[:, None]) & (cols[None, :] <= self.end[:, None])
        open_ = in_history & ~self.closed & np.isfinite(y)
        ordinary = open_ & (self.promo <= 0) & ~self.holiday
        level, count = _centred_mean(y, ordinary, CAL_LEVEL_HALF_WINDOW)
        wide, _ = _centred_mean(y, ordinary, 3 * CAL_LEVEL_HALF_WINDOW)
        level = np.where(count >= 5, level, wide)
        with np.errstate(invalid="ignore"):
            series_mean = np.nanmean(np.where(ordinary, y, np.nan), axis=1) if t else np.zeros(len(y))
        series_mean = np.nan_to_num(series_mean)
        level = np.where(np.isfinite(level), level, series_mean[:, None])
        # weekday profile: Σ sold ÷ Σ level over each weekday's ordinary days (1 where it has none)
        profile = np.ones((len(y), 7))
        for d in range(7):
            m = ordinary & (self.weekday == d)[None, :]
            num = np.where(m, y, 0.0).sum(axis=1)
            den = np.where(m, level, 0.0).sum(axis=1)
            profile[:, d] = np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0)
        expected = level * profile[:, self.weekday]
        self.level, self.expected = level, expected
        # promotions: uplift = 1 + g × discount, g = Σ(sold − expected) ÷ Σ(expected × discount)
        pm = open_ & (self.promo > 0)
        a = np.where(pm, y - expected, 0.0).sum(axis=1)
        b = np.where(pm, expected * self.promo, 0.0).sum(axis=1)
        units = np.where(pm, expected, 0.0).sum(axis=1)
        self.promo_g = self._pooled(a, b, units, pm.sum(axis=1), 0.0, CAL_PROMO_K)
        # holidays (open, no promotion): factor = Σ sold ÷ Σ expected
        hm = open_ & self.holiday & (self.promo <= 0)
        hy = np.where(hm, y, 0.0).sum(axis=1)
        hb = np.where(hm, expected, 0.0).sum(axis=1)
        self.holiday_f = self._pooled(hy, hb, hb, hm.sum(axis=1), 1.0, CAL_HOLIDAY_K)
        lo, hi = CAL_UPLIFT_RANGE
        uplift = np.where(self.promo > 0, np.clip(1 + self.promo_g[:, None] * self.promo, lo, hi), 1.0)
        uplift = uplift * np.where(self.holiday, np.clip(self.holiday_f[:, None], lo, hi), 1.0)
        self.uplift = uplift
        adjusted = np.where(open_, y / uplift, np.nan_to_num(expected))
        self.adjusted = np.where(in_history, adjusted, np.nan)
        pad = np.zeros((len(y), 1))
        self._csum = np.hstack([pad, np.cumsum(np.nan_to_num(self.adjusted), axis=1)])
        self._ccnt = np.hstack([pad, np.cumsum(in_history, axis=1)])
        for i, uid in enumerate(self.uids):
            self.effects[str(uid)] = {
                "promo_per_discount": float(self.promo_g[i]),
                "holiday": float(self.holiday_f[i]),
                "promo_days": int(pm[i].sum()),
                "closed_days": int((self.closed[i] & in_history[i]).sum()),
            }

    def adjusted_frame(self) -> pd.DataFrame:
        """The demand frame the models fit: promotion / holiday days divided by their uplift, closed days
        replaced by the ordinary day expected there."""
        return pd.DataFrame(
            {
                "unique_id": np.asarray(self.uids)[self.codes],
                "ds": self.day0 + pd.to_timedelta(self.cols, unit="D"),
                "y": self.adjusted[self.codes, self.cols],
            }
        )

    # ---- the year's season ------------------------------------------------------------------------

    def _mean(self, rows: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean of the adjusted history of ``rows`` over columns lo..hi, and whether they are all history."""
        t = self.adjusted.shape[1]
        lo_c, hi_c = np.clip(lo, 0, t), np.clip(hi + 1, 0, t)
        total = self._csum[rows, hi_c] - self._csum[rows, lo_c]
        count = self._ccnt[rows, hi_c] - self._ccnt[rows, lo_c]
        full = (lo >= self.start[rows]) & (count == hi - lo + 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan), full

    def yearly_index(self, rows: np.ndarray, origins: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """The year's season for day ``targets`` forecast from day ``origins`` (columns): last year's same
        week ÷ last year's level before the origin; a series without that year borrows its category's (pooled
        over the category's series that have it); shrunk by credibility; 1 where nobody has a year."""
        ref, ref_ok = self._mean(rows, origins - YEAR - YEARLY_REF_DAYS + 1, origins - YEAR)
        week, week_ok = self._mean(rows, targets - YEAR - YEARLY_HALF_WEEK, targets - YEAR + YEARLY_HALF_WEEK)
        ok = ref_ok & week_ok & (ref > 0)
        ref, week = np.where(ok, ref, 0.0), np.where(ok, week, 0.0)
        cat = self.groups["category"].to_numpy()[rows]
        frame = pd.DataFrame({"cat": cat, "o": origins, "d": targets, "ref": ref, "week": week})
        pooled = frame.groupby(["cat", "o", "d"])[["ref", "week"]].transform("sum")
        group = _shrink(pooled["week"], pooled["ref"], 7 * pooled["ref"], 1.0, YEARLY_K)
        index = _shrink(week, ref, 7 * ref, group, YEARLY_K)
        return np.clip(index, *YEARLY_RANGE)

    def _columns(self, frame: pd.DataFrame, name: str = "ds") -> np.ndarray:
        return ((pd.to_datetime(frame[name]) - self.day0) // pd.Timedelta(days=1)).to_numpy(dtype=int)

    # ---- hooks into the selection -----------------------------------------------------------------

    def backtest_view(self, cv: pd.DataFrame, candidates: Sequence[str]) -> pd.DataFrame:
        """The backtest on what sold: forecasts × the year's season × uplift, ``y`` = units sold, closed days
        left out (a window wholly closed keeps its rows, at 0 and 0, so every series keeps its windows)."""
        rows = self.uids.get_indexer(cv["unique_id"])
        days, origins = self._columns(cv), self._columns(cv, "cutoff")
        factor = self.yearly_index(rows, origins, days) * self.uplift[rows, days]
        closed = self.closed[rows, days]
        uplift = self.uplift[rows, days]
        cv = cv.copy()
        for m in candidates:  # Prophet fits its own yearly season: the uplift only
            cv[m] = np.where(closed, 0.0, cv[m].to_numpy(dtype=float) * (uplift if m == "prophet" else factor))
        cv["y"] = np.where(closed, 0.0, np.nan_to_num(self.y[rows, days]))
        whole = pd.Series(closed).groupby([cv["unique_id"].to_numpy(), cv["cutoff"].to_numpy()]).transform("all")
        keep = ~closed | whole.to_numpy()
        return cv[keep].reset_index(drop=True)

    def forecast_view(self, fc: pd.DataFrame, candidates: Sequence[str]) -> pd.DataFrame:
        """The forecasts × the year's season (the baseline: no promotion or holiday uplift yet)."""
        rows = self.uids.get_indexer(fc["unique_id"])
        days = self._columns(fc)
        index = self.yearly_index(rows, self.end[rows], days)
        fc = fc.copy()
        for m in candidates:
            if m != "prophet":  # Prophet fits its own yearly season
                fc[m] = fc[m].to_numpy(dtype=float) * index
        return fc

    # ---- the result -------------------------------------------------------------------------------

    def finish(self, result: ForecastResult, *, windows: int) -> ForecastResult:
        fc = result.forecasts.copy()
        if fc.empty:
            fc["baseline"] = fc.get("yhat")
            result.forecasts = fc
            return result
        fc = self._launches(fc, result)
        rows = self.uids.get_indexer(fc["unique_id"])
        days = np.clip(self._columns(fc), 0, self.y.shape[1] - 1)
        baseline = fc["yhat"].to_numpy(dtype=float)
        closed = self.closed[rows, days]
        yhat = np.where(closed, 0.0, baseline * self.uplift[rows, days])
        fc["baseline"] = np.where(closed, 0.0, baseline)
        fc["yhat"] = yhat
        lo, hi = self._band(result, fc)
        fc["lo"] = np.where(closed, 0.0, lo)
        fc["hi"] = np.where(closed, 0.0, hi)
        result.forecasts = fc[["unique_id", "ds", "yhat", "lo", "hi", "model", "baseline"]]
        result.effects = {u: e for u, e in self.effects.items() if u in set(fc["unique_id"])}
        for uid, info in result.chosen.items():
            if uid in result.effects and info.get("model") not in {"zero", "mean", "launch"}:
                e = result.effects[uid]
                bits = []
                if e["promo_days"]:
                    bits.append(f"promotions learned from {e['promo_days']} promotion days")
                if e["closed_days"]:
                    bits.append(f"{e['closed_days']} closed days left out")
                if bits:
                    info["reason"] = info["reason"].rstrip(".") + "; " + ", ".join(bits) + "."
        return result

    def _launches(self, fc: pd.DataFrame, result: ForecastResult) -> pd.DataFrame:
        """Series too short to backtest (model "mean"): their group's profile (category, else all) at their
        own level after the launch week, shrunk toward the group's typical level while that is short."""
        short = [u for u, c in result.chosen.items() if c.get("model") == "mean" and u in self.uids]
        if not short:
            return fc
        recent = {}
        for i, uid in enumerate(self.uids):
            lo = max(self.start[i], self.end[i] - 27)
            window = self.adjusted[i, lo : self.end[i] + 1]
            recent[str(uid)] = float(np.nanmean(window)) if np.isfinite(window).any() else 0.0
        fc = fc.reset_index(drop=True)
        step = fc.groupby("unique_id").cumcount().to_numpy()
        profiles: dict[str, np.ndarray] = {}
        levels: dict[str, float] = {}
        long_ok = [
            u for u, c in result.chosen.items() if c.get("model") not in {"mean", "zero"} and recent.get(u, 0) > 0
        ]
        cats = self.groups["category"]
        for key in [*cats.unique(), "*all*"]:
            members = [u for u in long_ok if key == "*all*" or cats.get(u) == key]
            if not members:
                continue
            sub = fc[fc["unique_id"].isin(members)]
            rel = sub["yhat"].to_numpy(dtype=float) / sub["unique_id"].map(recent).to_numpy(dtype=float)
            prof = pd.Series(rel).groupby(step[sub.index.to_numpy()]).mean()
            profiles[key] = prof.reindex(range(self.horizon)).fillna(1.0).to_numpy()
            levels[key] = float(np.median([recent[u] for u in members]))
        for uid in short:
            i = self.uids.get_loc(uid)
            key = cats.get(uid) if cats.get(uid) in profiles else "*all*"
            history = self.adjusted[i, self.start[i] : self.end[i] + 1]
            after = history[LAUNCH_SPIKE_DAYS:][-28:]
            own = float(np.mean(after)) if len(after) else 0.0
            if key in profiles:
                w = len(after) / (len(after) + LAUNCH_K_DAYS)
                level = w * own + (1 - w) * levels[key]
                shape = profiles[key]
            else:
                level = own if len(after) else float(np.mean(history))
                shape = np.ones(self.horizon)
            where = (fc["unique_id"] == uid).to_numpy()
            values = level * shape[step[where]]
            sd = np.sqrt(np.maximum(values, 0.0)) + (float(np.std(after)) if len(after) > 1 else 0.0) / 2
            fc.loc[where, "yhat"] = values
            fc.loc[where, "lo"] = np.clip(values - Z_INTERVAL * sd, 0, None)
            fc.loc[where, "hi"] = values + Z_INTERVAL * sd
            fc.loc[where, "model"] = "launch"
            n = int(self.end[i] - self.start[i] + 1)
            result.chosen[uid] = {
                **result.chosen[uid],
                "model": "launch",
                "reason": (
                    f"{MODEL_LABELS['launch']}: only {n} days of history, too short to backtest; "
                    f"{'its level after the launch week' if len(after) else 'no sales after its launch week yet'}"
                    f" ({own:.1f} a day) weighs {len(after) / (len(after) + LAUNCH_K_DAYS):.0%} against similar "
                    f"products' ({levels.get(key, own):.1f} a day)."
                ),
            }
        return fc

    def _band(self, result: ForecastResult, fc: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The 80 % band from the backtest's own errors: each day's error ÷ (the series' backtest RMSE ×
        √(forecast ÷ its mean forecast)), its 10 % and 90 % quantiles pooled per volume band."""
        yhat = fc["yhat"].to_numpy(dtype=float)
        lo_default = np.asarray(fc["lo"], dtype=float)
        hi_default = np.asarray(fc["hi"], dtype=float)
        bt = result.backtest
        if bt is None or bt.empty:
            return lo_default, hi_default
        err = bt["y"].to_numpy(dtype=float) - bt["yhat"].to_numpy(dtype=float)
        by = bt.groupby("unique_id", sort=False)
        rmse = np.sqrt(pd.Series(err**2).groupby(bt["unique_id"].to_numpy()).mean())
        mean_pred = by["yhat"].mean()
        stats = pd.DataFrame({"rmse": rmse, "mean": mean_pred})
        bucket = np.digitize(stats["mean"].to_numpy(), BAND_BUCKETS)
        stats["bucket"] = bucket

        def scale(uids: np.ndarray, pred: np.ndarray) -> np.ndarray:
            s = stats.reindex(uids)
            m = s["mean"].to_numpy(dtype=float)
            ratio = np.where(m > 0, np.maximum(pred, 0.1 * m) / np.where(m > 0, m, 1.0), 1.0)
            return s["rmse"].to_numpy(dtype=float) * np.sqrt(ratio)

        s_bt = scale(bt["unique_id"].to_numpy(), bt["yhat"].to_numpy(dtype=float))
        ok = np.isfinite(s_bt) & (s_bt > 0)
        z = err[ok] / s_bt[ok]
        zb = stats["bucket"].reindex(bt["unique_id"].to_numpy()).to_numpy()[ok]
        q_all = np.quantile(z, BAND_QUANTILES) if len(z) >= BAND_MIN_POINTS else (-Z_INTERVAL, Z_INTERVAL)
        quantiles = {
            b: (np.quantile(z[zb == b], BAND_QUANTILES) if (zb == b).sum() >= BAND_MIN_POINTS else q_all)
            for b in range(len(BAND_BUCKETS) + 1)
        }
        uids = fc["unique_id"].to_numpy()
        s_fc = scale(uids, yhat)
        b_fc = stats["bucket"].reindex(uids).to_numpy()
        known = np.isfinite(s_fc) & ~pd.isna(b_fc)
        q_lo = np.array([quantiles[int(b)][0] if k else 0.0 for b, k in zip(b_fc, known, strict=True)])
        q_hi = np.array([quantiles[int(b)][1] if k else 0.0 for b, k in zip(b_fc, known, strict=True)])
        s_fc = np.nan_to_num(s_fc)
        lo = np.where(known, np.minimum(np.clip(yhat + q_lo * s_fc, 0, None), yhat), lo_default)
        hi = np.where(known, np.maximum(yhat + q_hi * s_fc, yhat) + 1e-9, hi_default)
        return lo, hi
