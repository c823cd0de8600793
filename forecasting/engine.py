"""The forecasting engine: pure pandas in → pandas out (no ORM), so it is fast to test and to benchmark.

Frames are long: one row per series × day with columns ``unique_id, ds, y`` (the statsforecast
convention). A series is one store × product; its id is made by the caller (e.g. ``"3:41"``).

Pipeline: :func:`prepare_demand` zero-fills each series and marks stockout days (closing on-hand ≤ 0)
so that a zero on an empty shelf is not read as zero demand; :func:`forecast_frame` runs a
rolling-origin backtest of every candidate model in one vectorised StatsForecast call, picks per
series the model with the lowest backtest error, refits it on the whole history and returns the
forecast with an interval and the accuracy that was measured.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

SEASON = 7  # weekly pattern of daily retail demand
BACKTEST_HORIZON_MAX = 28  # backtests measure four-week accuracy even for a longer forecast
MAX_HORIZON = 366
DEFAULT_WINDOWS = 2
DEFAULT_HISTORY_DAYS = 364  # statistical fits use the last 52 weeks: recent level matters, cost is linear
INTERVAL_LEVEL = 80  # the forecast band shown and stored: 10 % and 90 % quantiles
Z_INTERVAL = 1.2815515655446004  # z for a central 80 % band

# name → human description; the order is the order of preference on ties.
MODEL_LABELS = {
    "seasonal_naive": "Seasonal naive (same weekday last week)",
    "seasonal_avg": "Average of the same weekday over the last 4 weeks",
    "ets": "Exponential smoothing with weekly season (ETS)",
    "theta": "Theta method with weekly season",
    "arima": "Seasonal ARIMA (AutoARIMA)",
    "croston_sba": "Croston SBA (intermittent demand)",
    "tsb": "TSB (intermittent demand, decaying)",
    "adida": "ADIDA (temporal aggregation, intermittent)",
    "imapa": "IMAPA (multiple aggregation, intermittent)",
    "combo": "Combination: mean of ETS, Theta and the weekday average",
    "prophet": "Prophet (trend + weekly and yearly seasonality)",
    "top3": "Mean of the 3 models with the lowest backtest error",
    "mean": "Average of the history (too short to test)",
    "zero": "No sales in the history",
}
FAST_MODELS = ("seasonal_naive", "seasonal_avg", "ets", "theta", "croston_sba", "tsb", "adida", "imapa", "combo")
COMBO_PARTS = ("ets", "theta", "seasonal_avg")
TOP_K = 3  # select-and-combine: averaging the few best models is steadier than betting on the single best
TOP_K_MIN_CANDIDATES = 5
BASELINE = "seasonal_naive"


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
    """Scores over many series: pooled wMAPE and bias, mean MASE of the series (benchmark tables)."""
    err = frame[predicted] - frame[actual]
    total = frame[actual].abs().sum()
    per_series = (err.abs().groupby(frame["unique_id"]).mean() / scales).replace([np.inf, -np.inf], np.nan)
    return {
        "wmape": float(err.abs().sum() / total) if total else float("nan"),
        "bias": float(err.sum() / total) if total else float("nan"),
        "mase": float(per_series.dropna().mean()),
    }


# --------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------


def _statsforecast_models(names: Iterable[str], season: int) -> list:
    from statsforecast.models import (
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
    return [m for m in MODEL_LABELS if m in wanted and m not in {"combo", "prophet", "mean", "zero"}]


def _add_combo(frame: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    if "combo" in models and all(m in frame for m in COMBO_PARTS):
        frame["combo"] = frame[list(COMBO_PARTS)].mean(axis=1)
    return frame


def prophet_forecast(history: pd.DataFrame, *, h: int, yearly: bool | None = None) -> np.ndarray:
    """Prophet fitted on one series (``ds, y``): h daily point forecasts, floored at zero."""
    import logging as _logging

    from prophet import Prophet

    _logging.getLogger("cmdstanpy").setLevel(_logging.ERROR)
    _logging.getLogger("prophet").setLevel(_logging.ERROR)
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


def _prophet_frames(df: pd.DataFrame, *, h: int, windows: int, horizon: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Backtest and forecast frames of Prophet, series by series (slow: used only when asked for)."""
    cv_rows, fc_rows = [], []
    for uid, series in df.groupby("unique_id", sort=False):
        series = series.reset_index(drop=True)
        n = len(series)
        for w in range(windows, 0, -1):
            cut = n - w * h
            train, test = series.iloc[:cut], series.iloc[cut : cut + h]
            pred = prophet_forecast(train, h=len(test))
            cv_rows.append(
                pd.DataFrame(
                    {"unique_id": uid, "ds": test["ds"].to_numpy(), "cutoff": train["ds"].iloc[-1], "prophet": pred}
                )
            )
        pred = prophet_forecast(series, h=horizon)
        days = pd.date_range(series["ds"].iloc[-1] + pd.Timedelta(days=1), periods=horizon, freq="D")
        fc_rows.append(pd.DataFrame({"unique_id": uid, "ds": days, "prophet": pred}))
    return pd.concat(cv_rows, ignore_index=True), pd.concat(fc_rows, ignore_index=True)


# --------------------------------------------------------------------------------------------------
# Forecast with per-series selection
# --------------------------------------------------------------------------------------------------


@dataclass
class ForecastResult:
    """forecasts: unique_id, ds, yhat, lo, hi, model. accuracy: one row per series × model tested.
    chosen: unique_id → (model, reason, rmse). failed: unique_id → message."""

    forecasts: pd.DataFrame
    accuracy: pd.DataFrame
    chosen: dict[str, dict] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


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
    models: Sequence[str] = FAST_MODELS,
    windows: int = DEFAULT_WINDOWS,
    season: int = SEASON,
    history_days: int | None = DEFAULT_HISTORY_DAYS,
    n_jobs: int = 1,
) -> ForecastResult:
    """Forecast every series of ``demand`` (``unique_id, ds, y``) ``horizon`` days ahead.

    Each series with enough history gets a rolling-origin backtest (``windows`` ≥ 2 windows of
    min(horizon, 28) days) of every model; the model with the lowest mean absolute error wins (ties go
    to the simpler model), and the interval is the forecast ± z·RMSE of that model's backtest errors.
    Series too short to backtest get their historic average; all-zero series a zero forecast. A series
    that makes a model fail is retried alone and, if it still fails, reported in ``failed`` — the
    others are unaffected.
    """
    horizon = validate_horizon(horizon)
    if windows < 2:
        raise EngineError("A rolling-origin backtest needs at least two windows.")
    models = [m for m in models if m in MODEL_LABELS and m not in {"mean", "zero"}] or list(FAST_MODELS)
    h_bt = min(horizon, BACKTEST_HORIZON_MAX)
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
    if history_days:
        keep = history_days + windows * h_bt
        df = df.groupby("unique_id", sort=False).tail(keep)
    lengths = df.groupby("unique_id").size()
    totals = df.groupby("unique_id")["y"].sum()
    min_len = windows * h_bt + 2 * season
    zero_ids = set(totals[totals <= 0].index)
    short_ids = set(lengths[lengths < min_len].index) - zero_ids
    long_ids = sorted(set(lengths.index) - zero_ids - short_ids)

    fc_parts, acc_parts, chosen = [], [], {}
    for uid in sorted(zero_ids | short_ids):
        series = df[df["unique_id"] == uid]
        fc, info = _simple_forecast(uid, series, horizon, zero=uid in zero_ids)
        fc_parts.append(fc)
        chosen[uid] = info
    if long_ids:
        long_df = df[df["unique_id"].isin(long_ids)]
        try:
            result = _select_many(
                long_df, models=models, h_bt=h_bt, horizon=horizon, windows=windows, season=season, n_jobs=n_jobs
            )
        except Exception:  # one bad series must not sink the batch: retry each alone
            log.warning("batch forecast failed; retrying series one by one", exc_info=True)
            result = None
        if result is not None:
            fc_parts.append(result.forecasts)
            acc_parts.append(result.accuracy)
            chosen.update(result.chosen)
        else:
            for uid in long_ids:
                try:
                    one = _select_many(
                        long_df[long_df["unique_id"] == uid],
                        models=models,
                        h_bt=h_bt,
                        horizon=horizon,
                        windows=windows,
                        season=season,
                        n_jobs=1,
                    )
                except Exception as exc:  # noqa: BLE001 — reported per series
                    failed[uid] = f"{type(exc).__name__}: {exc}"[:300]
                    continue
                fc_parts.append(one.forecasts)
                acc_parts.append(one.accuracy)
                chosen.update(one.chosen)
    forecasts = (
        pd.concat(fc_parts, ignore_index=True)
        if fc_parts
        else pd.DataFrame(columns=["unique_id", "ds", "yhat", "lo", "hi", "model"])
    )
    acc = (
        pd.concat(acc_parts, ignore_index=True)
        if acc_parts
        else pd.DataFrame(columns=["unique_id", "model", "mase", "wmape", "bias", "rmse", "mae", "chosen"])
    )
    return ForecastResult(forecasts=forecasts, accuracy=acc, chosen=chosen, failed=failed)


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
    df: pd.DataFrame, *, models: Sequence[str], h_bt: int, horizon: int, windows: int, season: int, n_jobs: int
) -> ForecastResult:
    from statsforecast import StatsForecast

    fast = [m for m in models if m != "prophet"]
    base = _base_models(fast)
    sf = StatsForecast(models=_statsforecast_models(base, season), freq="D", n_jobs=n_jobs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cv = sf.cross_validation(df=df, h=h_bt, n_windows=windows, step_size=h_bt, refit=True)
        fc = sf.forecast(df=df, h=horizon)
    cv = _add_combo(cv.reset_index() if "unique_id" not in cv.columns else cv, fast)
    fc = _add_combo(fc.reset_index() if "unique_id" not in fc.columns else fc, fast)
    candidates = [m for m in fast if m in cv.columns]
    if "prophet" in models:
        p_cv, p_fc = _prophet_frames(df, h=h_bt, windows=windows, horizon=horizon)
        cv = cv.merge(p_cv[["unique_id", "ds", "prophet"]], on=["unique_id", "ds"], how="left")
        fc = fc.merge(p_fc, on=["unique_id", "ds"], how="left")
        candidates.append("prophet")
    for m in candidates:
        cv[m] = cv[m].clip(lower=0)
        fc[m] = fc[m].clip(lower=0)
    cv["unique_id"] = cv["unique_id"].astype(str)
    fc["unique_id"] = fc["unique_id"].astype(str)
    return select_from_backtest(df, cv=cv, fc=fc, candidates=candidates, season=season)


def select_from_backtest(
    history: pd.DataFrame, *, cv: pd.DataFrame, fc: pd.DataFrame, candidates: Sequence[str], season: int = SEASON
) -> ForecastResult:
    """Score every candidate on the backtest, pick per series the lowest MAE, shape the output frames."""
    scales = {
        uid: mase_scale(s.to_numpy(), season)
        for uid, s in history[history["ds"] < cv["cutoff"].min() + pd.Timedelta(days=1)].groupby("unique_id")["y"]
    }
    rows, chosen, fc_out = [], {}, []
    order = {m: i for i, m in enumerate(MODEL_LABELS)}
    for uid, part in cv.groupby("unique_id", sort=False):
        scale = scales.get(uid, float("nan"))
        scores = {m: accuracy(part["y"], part[m].fillna(0.0), scale=scale) for m in candidates if part[m].notna().all()}
        if not scores:
            continue
        ranked = sorted(scores, key=lambda m: (round(scores[m]["mae"], 9), order.get(m, 99)))
        best = ranked[0]
        top = ranked[:TOP_K] if len(scores) >= TOP_K_MIN_CANDIDATES else [best]
        if len(top) > 1:
            # The combination's own backtest (its members were picked on these windows: slightly optimistic).
            scores["top3"] = accuracy(part["y"], part[top].fillna(0.0).mean(axis=1), scale=scale)
            best = "top3"
        base = scores.get(BASELINE)
        for m, s in scores.items():
            rows.append({"unique_id": uid, "model": m, **s, "chosen": m == best})
        b = scores[best]
        if base and base["mae"] > 0 and best != BASELINE:
            gain = 1 - b["mae"] / base["mae"]
            why = f"{gain:.0%} smaller backtest error than seasonal naive"
        else:
            why = "lowest backtest error"
        if best == "top3":
            why = f"{', '.join(top)} had the lowest errors of {len(scores) - 1} models; " + why
        windows = part["cutoff"].nunique()
        chosen[uid] = {
            "model": best,
            "reason": f"{MODEL_LABELS[best]}: {why} over {windows} rolling windows of {len(part) // windows} days.",
            "rmse": b["rmse"],
            "mase": b["mase"],
            "wmape": b["wmape"],
            "bias": b["bias"],
            "history_days": int((history["unique_id"] == uid).sum()),
        }
        series_fc = fc[fc["unique_id"] == uid]
        yhat = series_fc[top].mean(axis=1).to_numpy(dtype=float)
        spread = Z_INTERVAL * (b["rmse"] if not math.isnan(b["rmse"]) else 0.0)
        fc_out.append(
            pd.DataFrame(
                {
                    "unique_id": uid,
                    "ds": series_fc["ds"].to_numpy(),
                    "yhat": yhat,
                    "lo": np.clip(yhat - spread, 0, None),
                    "hi": yhat + spread,
                    "model": best,
                }
            )
        )
    forecasts = (
        pd.concat(fc_out, ignore_index=True)
        if fc_out
        else pd.DataFrame(columns=["unique_id", "ds", "yhat", "lo", "hi", "model"])
    )
    return ForecastResult(forecasts=forecasts, accuracy=pd.DataFrame(rows), chosen=chosen)


def trust_badge(*, mase: float | None, wmape: float | None, history_days: int | None) -> tuple[str, str]:
    """("high" | "medium" | "low", explanation) — how much to trust a forecast, from its backtest."""
    if mase is None or (isinstance(mase, float) and math.isnan(mase)):
        return "low", "No backtest: the history is too short or empty."
    if history_days is not None and history_days < 90:
        return "low", f"Only {history_days} days of history."
    if mase < 0.8 and (wmape is None or wmape < 0.5):
        return "high", f"Backtest error well below the seasonal-naive yardstick (MASE {mase:.2f})."
    if mase < 1.1:
        return "medium", f"Backtest error close to the seasonal-naive yardstick (MASE {mase:.2f})."
    return "low", f"Backtest error above the seasonal-naive yardstick (MASE {mase:.2f})."
