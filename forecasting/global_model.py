"""The global model: one gradient-boosted tree ensemble trained on many series at once.

A per-series model (ETS, Theta…) learns from one series' few hundred noisy days; a global model learns
how demand moves from every series it is given — in a forecast run, the series of one chunk (a store's
products) — so a slow mover borrows the weekly shape and the reaction to a recent rise of the busy ones.
Each training row is "at this origin, this many days ahead": features known at the origin, scaled by
the series' recent level so series of any size share one model, and the target scaled the same way.
It forecasts every day of the horizon directly (no feeding forecasts back in).

Features (day ``o + h`` seen from origin ``o``): weekday of the target, horizon ``h`` (capped at 28, the
longest trained), the four latest same-weekday values at or before the origin, the 7 / 28 / 91-day means
and the share of zero days over the last 28, all divided by scale = 28-day mean + 0.1.

Trained for the absolute error, it forecasts a median: on lumpy or intermittent demand that is well below
the mean — on the validation blocks of bench/forecast.py it had the best wMAPE of all models (0.795 against
ETS 0.946) with a bias of −52 %, and on a slow-moving demo store it forecast zero. Mean-seeking losses on
the same blocks: Poisson or squared error over-forecast by 60–120 %; squared error weighted by each row's
scale (an error in units, as wMAPE counts it) was unbiased (−1 %) but no better than ETS (wMAPE 0.971).
So it is an opt-in candidate (ask for "global" in a run's models), not a default: stock levels need the
expected demand, and on this data the global model's edge is the median's. Pure numpy / scikit-learn.
"""

from __future__ import annotations

import numpy as np

HISTORY_DAYS = 364  # days before the backtest the global model learns from (a year: seasonality in the lags)
FIRST_ORIGIN = 100  # an origin needs this many days of the series behind it to be a training row
ORIGIN_STEP = 3  # training origins every 3 days (consecutive origins repeat each other)
TRAIN_H = 28  # horizons trained: 1 … 28 days
MIN_TRAIN_ROWS = 2000  # fewer rows than this and the model is not trained (not chosen anywhere)
MAX_TRAIN_ROWS = 25_000  # a random sample of the rows beyond this: a fit takes ~0.4 s on 25k rows, 1.3 s on 50k
# (validation, top 50: selection wMAPE 0.796 with 50k rows, 0.798 with 25k, 0.795 with 15k — noise)
N_FEATURES = 10
LOSS = "absolute_error"  # see the module docstring: no mean-seeking loss tried did better than ETS


def _window_mean(csum: np.ndarray, ccount: np.ndarray, rows: np.ndarray, end: np.ndarray, days: int) -> np.ndarray:
    """Mean of the known values of row ``rows`` over the ``days`` columns ending at ``end`` (inclusive)."""
    lo = np.maximum(end - days + 1, 0)
    total = csum[rows, end + 1] - csum[rows, lo]
    count = ccount[rows, end + 1] - ccount[rows, lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


class _Matrix:
    """Series as rows of one day-aligned matrix (NaN outside a series), with the running sums the
    features read, so that every feature of every row is a handful of array lookups."""

    def __init__(self, values: np.ndarray, first_weekday: int):
        self.y = values
        known = np.isfinite(values)
        zero = known & (values == 0)
        pad = np.zeros((values.shape[0], 1))
        self.csum = np.hstack([pad, np.cumsum(np.where(known, values, 0.0), axis=1)])
        self.ccount = np.hstack([pad, np.cumsum(known, axis=1)])
        self.czero = np.hstack([pad, np.cumsum(zero, axis=1)])
        self.first_weekday = first_weekday

    def features(self, rows: np.ndarray, origins: np.ndarray, hs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features, scale) of the days ``origins + hs`` of series ``rows``, known at ``origins``."""
        scale = _window_mean(self.csum, self.ccount, rows, origins, 28)
        scale = np.nan_to_num(scale, nan=0.0) + 0.1
        target = origins + hs
        out = np.empty((len(rows), N_FEATURES))
        out[:, 0] = (self.first_weekday + target) % 7
        out[:, 1] = np.minimum(hs, TRAIN_H)
        k0 = -(-hs // 7)  # the latest same-weekday day at or before the origin is 7·k0 days before the target
        for j in range(4):
            day = target - 7 * (k0 + j)
            ok = (day >= 0) & (day <= origins)
            lag = np.full(len(rows), np.nan)
            lag[ok] = self.y[rows[ok], day[ok]]
            out[:, 2 + j] = lag / scale
        for j, days in enumerate((7, 28, 91)):
            out[:, 6 + j] = _window_mean(self.csum, self.ccount, rows, origins, days) / scale
        lo = np.maximum(origins - 27, 0)
        count = self.ccount[rows, origins + 1] - self.ccount[rows, lo]
        zeros = self.czero[rows, origins + 1] - self.czero[rows, lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, 9] = np.where(count > 0, zeros / np.maximum(count, 1), np.nan)
        return out, scale

    def training_rows(self, starts: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, origins, horizons) of every training example whose target is on or before ``last``."""
        rows, origins = [], []
        for i, (s, e) in enumerate(zip(starts, last, strict=True)):
            o = np.arange(s + FIRST_ORIGIN, e - TRAIN_H + 1, ORIGIN_STEP)
            rows.append(np.full(len(o), i))
            origins.append(o)
        r = np.concatenate(rows) if rows else np.empty(0, dtype=int)
        o = np.concatenate(origins) if origins else np.empty(0, dtype=int)
        hs = np.tile(np.arange(1, TRAIN_H + 1), len(o))
        return np.repeat(r, TRAIN_H), np.repeat(o, TRAIN_H), hs


def _fit(matrix: _Matrix, starts: np.ndarray, last: np.ndarray, seed: int):
    from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: PLC0415 — heavy: sklearn (~2.4 s) loads at first fit, not at start-up
    from threadpoolctl import threadpool_limits  # noqa: PLC0415 — threadpoolctl is needed only beside sklearn at fit time

    rows, origins, hs = matrix.training_rows(starts, last)
    if len(rows) < MIN_TRAIN_ROWS:
        return None
    if len(rows) > MAX_TRAIN_ROWS:
        pick = np.sort(np.random.default_rng(seed).choice(len(rows), size=MAX_TRAIN_ROWS, replace=False))
        rows, origins, hs = rows[pick], origins[pick], hs[pick]
    x, scale = matrix.features(rows, origins, hs)
    target = matrix.y[rows, origins + hs] / scale
    model = HistGradientBoostingRegressor(loss=LOSS, max_iter=300, learning_rate=0.05, random_state=seed)
    # One thread: the parallelism is the workers' (one chunk per process). OpenMP threads in every worker
    # process of a 2-core machine spin against each other — a full demo run took 72 s instead of 32 s.
    with threadpool_limits(limits=1, user_api="openmp"):
        return model.fit(x, target)


def _predict(model, matrix: _Matrix, origins: np.ndarray, h: int) -> np.ndarray:
    """series × h forecasts from each series' own origin."""
    n = len(origins)
    rows = np.repeat(np.arange(n), h)
    hs = np.tile(np.arange(1, h + 1), n)
    x, scale = matrix.features(rows, np.repeat(origins, h), hs)
    return np.clip(model.predict(x) * scale, 0.0, None).reshape(n, h)


def backtest_and_forecast(
    values: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    *,
    first_weekday: int,
    h_bt: int,
    windows: int,
    horizon: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Backtest and forecast of the global model over series laid out as rows of a day-aligned matrix.

    values: series × days (NaN outside a series); starts / ends: first and last column of each series;
    first_weekday: weekday (Monday 0) of column 0. Returns (cv series × windows × h_bt, fc series ×
    horizon). Like the per-series models with parameters, the backtest model is trained once on what
    was known at the first origin and then forecasts every window from that window's own origin; the
    final forecast comes from a second model trained on everything. NaN where too little to train on.
    """
    n = values.shape[0]
    cv = np.full((n, windows, h_bt), np.nan)
    fc = np.full((n, horizon), np.nan)
    if n == 0:
        return cv, fc
    # Room after the last column for the target days of the final forecast (features never read them).
    matrix = _Matrix(np.hstack([values, np.full((n, horizon), np.nan)]), first_weekday)
    first_origin = ends - windows * h_bt
    backtest_model = _fit(matrix, starts, first_origin, seed=0)
    if backtest_model is not None:
        for w in range(windows):
            cv[:, w, :] = _predict(backtest_model, matrix, first_origin + w * h_bt, h_bt)
    final_model = _fit(matrix, starts, ends, seed=1)
    if final_model is not None:
        fc[:] = _predict(final_model, matrix, ends, horizon)
    return cv, fc
