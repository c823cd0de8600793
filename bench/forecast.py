"""Forecast benchmark (DESIGN §10), one process, not a test.

(a) Speed on the demo-chain shape — 15 stores × 100 products, three years daily, generated here with
    weekly and yearly seasonality, promotions and slow movers: wall and CPU time of a full RetailOps run
    as the workers run it (chunks of 100 series, one engine call each, 2 at a time; default models:
    backtest on 2 rolling windows, final fit of the chosen model, Prophet on the series that pass its
    gate) against Prophet fitted series by series doing the same
    job (the same 2 windows + a final fit per series), measured on a sample and extrapolated to all series.
(b) Accuracy on real demand — ../shared/data/online_retail_2010_2011.csv.gz, daily units of its top
    products, the last 4 weeks held out (never seen by any fit or by the selection): MASE / wMAPE of
    every single model the engine offers, each fitted afresh on the whole training period, Prophet
    included, and of the RetailOps per-series selection. ``--validation`` scores 4 earlier 4-week blocks
    inside the training period instead (the hold-out is not even loaded): design choices are made there.

(c) ``--shelf``: what each forecast is worth on the shelf — on the same validation blocks, every series
    restocked weekly up to its forecast + z × backtest RMSE × √7; fill rate and stock held, and the stock
    each forecast needs for the selection's fill rate. A forecast that wins daily wMAPE by forecasting low
    shows here as a shelf that runs empty, or as more safety stock for the same fill.

(d) ``--calendar`` (issue 18): on both sets — the demo chain's shape generated here with its calendar
    (promotions, closures, UK bank holidays, launches; ``--demo-stores`` stores of it scored) and the Online
    Retail top products with the calendar detected from the file (days nobody bought: closed) — the engine with
    and without the calendar, AutoETS and Prophet each fitted per series on the whole history: daily and
    weekly-total wMAPE, bias, 80 % band coverage, the shelf (fill and stock at z = 1.645, the same safety stock
    for every model), promotion-day wMAPE and units forecast on closed days. ``--validation``: the two 28-day
    blocks before the hold-out (choices are made there); without it, the hold-out, scored once. Then (d') the
    speed of all 1,500 demo series with the calendar against Prophet once per series (``--skip-speed``: not).

Usage: .venv/bin/python bench/forecast.py [--series-sample 30] [--top 50] [--jobs 2] [--skip-a] [--skip-b]
       [--no-prophet-b] [--no-arima] [--validation] [--shelf] [--calendar [--demo-stores 2] [--skip-speed]]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machine_info import cpu_model  # noqa: E402  (beside this script)

from forecasting import engine  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "online_retail_2010_2011.csv.gz"
NON_PRODUCTS = {"POST", "DOT", "M", "C2", "D", "S", "B", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS"}
HOLDOUT = 28


def machine() -> str:
    cpu = cpu_model("unknown CPU")
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return (
        f"{platform.node()} · {platform.platform()} · Python {platform.python_version()} · {cpu} · "
        f"{os.cpu_count()} CPUs · load average {', '.join(f'{x:.2f}' for x in load)}"
    )


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (worker pools, CmdStan runs)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class Timer:
    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, cpu_seconds() - self.cpu


# --------------------------------------------------------------------------------------------------
# (a) speed
# --------------------------------------------------------------------------------------------------


def demo_chain_frame(stores: int = 15, products: int = 100, days: int = 1095, seed: int = 7) -> pd.DataFrame:
    """Daily units per store × product with weekly + yearly seasonality, promotions and slow movers."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2023-01-01", periods=days, freq="D")
    dow = np.array([0.85, 0.8, 0.9, 0.95, 1.15, 1.45, 0.9])[ds.dayofweek]
    year = 1 + 0.25 * np.sin(2 * np.pi * (ds.dayofyear - 80) / 365.25)
    product_level = rng.lognormal(mean=0.3, sigma=1.0, size=products)
    store_factor = rng.uniform(0.6, 1.5, size=stores)
    frames = []
    for s in range(stores):
        for p in range(products):
            lam = product_level[p] * store_factor[s] * dow * year
            promo = rng.random(days) < 0.03
            lam = lam * np.where(promo, 2.0, 1.0)
            y = rng.poisson(lam).astype(float)
            frames.append(pd.DataFrame({"unique_id": f"{s}:{p}", "ds": ds, "y": y}))
    return pd.concat(frames, ignore_index=True)


CHUNK = 100  # forecasting.services.forecast_run_start's default chunk size


def _forecast_chunk(frame: pd.DataFrame) -> engine.ForecastResult:
    return engine.forecast_frame(frame, horizon=28, n_jobs=1)


def run_like_the_workers(df: pd.DataFrame, jobs: int) -> list[engine.ForecastResult]:
    """A forecast run as Celery runs it: the series in chunks of CHUNK, in store order, each chunk one
    engine call (its own global model), ``jobs`` chunks at a time (the workers)."""

    ids = sorted(df["unique_id"].unique(), key=lambda u: tuple(int(x) for x in u.split(":")))
    groups = [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]
    frames = [df[df["unique_id"].isin(g)] for g in groups]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(_forecast_chunk, frames))


def prophet_same_job(df: pd.DataFrame, ids: np.ndarray, *, keep: int) -> Timer:
    """Prophet series by series, in this one process, doing what the RetailOps run does for a series:
    a fit for each of the 2 backtest windows of 28 days and a final fit, on the last ``keep`` days."""
    sub = df[df["unique_id"].isin(ids)].groupby("unique_id").tail(keep)
    with Timer() as t:
        engine._prophet_frames(sub, h=28, windows=engine.DEFAULT_WINDOWS, horizon=28, n_jobs=1)
    return t


def bench_speed(sample: int, jobs: int) -> None:
    print("\n(a) Speed — demo chain shape: 15 stores × 100 products × 1,095 days")
    df = demo_chain_frame()
    n_series = df["unique_id"].nunique()
    print(f"    generated {len(df):,} rows, {n_series} series")
    with Timer() as imports:
        import prophet  # noqa: F401, PLC0415 — the cold import of statsforecast + Prophet is what this block times
        import statsforecast.models  # noqa: F401, PLC0415 — the cold import of statsforecast + Prophet is what this block times
    print(
        f"    cold start: importing statsforecast + Prophet takes {imports.wall:.1f} s, once per worker process "
        f"(statsforecast {_version('statsforecast')} is compiled C++: no numba, no JIT to cache)"
    )
    eligible = engine.prophet_eligible(df)
    window = engine.DEFAULT_HISTORY_DAYS + engine.DEFAULT_WINDOWS * 28
    with Timer() as ours:
        results = run_like_the_workers(df, jobs)
    chosen = pd.Series([c["model"] for r in results for c in r.chosen.values()]).value_counts()
    print(
        f"    RetailOps full run as the workers do it — chunks of {CHUNK} series (one store's products), {jobs} "
        f"processes: {ours.wall:.1f} s wall, {ours.cpu:.1f} s CPU (all processes) for {n_series} series — per series: "
        f"{len(engine.FAST_MODELS)} fast models backtested on {engine.DEFAULT_WINDOWS} rolling windows of 28 days "
        f"over its last {window} days (ETS / Theta fitted once, before the first window), the chosen model fitted "
        f"again for the 28-day forecast; Prophet (2 windows + final fit, up to 3 years) on the {len(eligible)} "
        "series that pass its gate; selection"
    )
    print("    models chosen: " + ", ".join(f"{m} {n}" for m, n in chosen.items()))
    print(f"    failed series: {sum(len(r.failed) for r in results)}")
    ids = sorted(df["unique_id"].unique())
    picked = np.random.default_rng(1).choice(ids, size=min(sample, len(ids)), replace=False)
    with Timer() as warm:
        engine.prophet_forecast(df[df["unique_id"] == picked[0]].tail(window), h=28)
    same = prophet_same_job(df, picked, keep=window)
    full = prophet_same_job(df, picked, keep=1095 + engine.DEFAULT_WINDOWS * 28)
    scale = n_series / len(picked)
    print(
        f"    Prophet series by series, same job (2 backtest windows + final fit = 3 fits per series), random "
        f"sample of {len(picked)} series, one process, after one warm-up fit ({warm.wall:.1f} s, not "
        "extrapolated):"
    )
    for label, t in (
        (f"on the same last {window} days as the fast models", same),
        ("on the whole 3 years (as Prophet is usually fitted, and as RetailOps fits it where eligible)", full),
    ):
        print(
            f"      {label}: {t.wall / len(picked):.3f} s wall, {t.cpu / len(picked):.3f} s CPU per series → "
            f"{t.wall * scale:.0f} s wall, {t.cpu * scale:.0f} s CPU for {n_series} series"
        )
    wall_x, cpu_x = same.wall * scale / ours.wall, same.cpu * scale / ours.cpu
    print(
        f"    speed-up vs Prophet on the same {window} days: {wall_x:.1f}× wall clock (RetailOps on {jobs} processes, "
        f"Prophet one series after another — the target as written), {cpu_x:.1f}× in CPU seconds (equal compute)"
    )
    print(
        f"    speed-up vs Prophet on 3 years: {full.wall * scale / ours.wall:.1f}× wall clock, "
        f"{full.cpu * scale / ours.cpu:.1f}× in CPU seconds"
    )
    print(
        f"    target ≤ 120 s on 2 cores: {'met' if ours.wall <= 120 else 'NOT met'} ({ours.wall:.1f} s); "
        f"≥ 10× faster than Prophet series by series (same job, same {window} days, wall clock): "
        f"{'met' if wall_x >= 10 else 'NOT met'} ({wall_x:.1f}×); in CPU seconds: "
        f"{'met' if cpu_x >= 10 else 'NOT met'} ({cpu_x:.1f}×)"
    )


def _version(package: str) -> str:
    return version(package)


# --------------------------------------------------------------------------------------------------
# (b) accuracy
# --------------------------------------------------------------------------------------------------


def online_retail_daily(top: int, shift: int = 0, skip: int = 0) -> pd.DataFrame:
    """Daily units of the top products (after the ``skip`` busiest), ending ``shift`` days before the last day
    of the file (rows after that are dropped here, before anything else sees them)."""
    raw = pd.read_csv(DATA, dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": str}, encoding="utf-8")
    raw = raw[~raw["InvoiceNo"].str.startswith(("C", "A"))]
    raw = raw[(raw["Quantity"] > 0) & (raw["UnitPrice"] > 0)]
    code = raw["StockCode"].str.upper()
    raw = raw[~code.isin(NON_PRODUCTS) & ~code.str.startswith("GIFT")]
    raw["ds"] = pd.to_datetime(raw["InvoiceDate"], format="%m/%d/%Y %H:%M").dt.normalize()
    daily = raw.groupby(["StockCode", "ds"], as_index=False)["Quantity"].sum()
    daily.columns = ["unique_id", "ds", "y"]
    last = daily["ds"].max() - pd.Timedelta(days=shift)
    daily = daily[daily["ds"] <= last]
    cutoff = last - pd.Timedelta(days=HOLDOUT)
    # Top products by units sold before the hold-out (choosing on the hold-out would peek).
    train_units = daily[daily["ds"] <= cutoff].groupby("unique_id")["y"].sum()
    tops = train_units.sort_values(ascending=False).index[skip : skip + top]
    return engine.prepare_demand(daily[daily["unique_id"].isin(tops)], end=last)[["unique_id", "ds", "y"]]


def single_model_forecasts(train: pd.DataFrame, *, jobs: int, prophet: bool, arima: bool) -> dict[str, tuple]:
    """Each model alone, fitted afresh on the whole training window (its strongest use): name → (frame, s)."""
    from statsforecast import StatsForecast  # noqa: PLC0415 — heavy: statsforecast (~2.6 s) loads only for the accuracy bench

    history = train.groupby("unique_id").tail(364 + 2 * 28)  # all of it here: < 1 year of training data
    names = [m for m in engine.FAST_MODELS if m != "combo"] + (["arima"] if arima else [])
    out = {}
    for name in names:
        sf = StatsForecast(models=engine._statsforecast_models([name], engine.SEASON), freq="D", n_jobs=jobs)
        with Timer() as t, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fc = sf.forecast(df=history, h=HOLDOUT)
        fc = fc.reset_index() if "unique_id" not in fc.columns else fc
        fc["unique_id"] = fc["unique_id"].astype(str)
        out[name] = (fc.rename(columns={name: "yhat"}), t.wall)
    combo = out["ets"][0][["unique_id", "ds"]].copy()
    combo["yhat"] = np.mean([out[m][0]["yhat"].to_numpy() for m in engine.COMBO_PARTS], axis=0)
    out["combo"] = (combo, sum(out[m][1] for m in engine.COMBO_PARTS))
    with Timer() as t:  # the global model (opt-in, not in the selection) trained on every series here
        _, fc = engine.global_frames(history, h_bt=HOLDOUT, windows=engine.DEFAULT_WINDOWS, horizon=HOLDOUT)
    out["global"] = (fc.rename(columns={"global": "yhat"}), t.wall)
    if prophet:
        parts = []
        with Timer() as t:
            for uid, series in history.groupby("unique_id"):
                pred = engine.prophet_forecast(series, h=HOLDOUT)
                days = pd.date_range(series["ds"].max() + pd.Timedelta(days=1), periods=HOLDOUT, freq="D")
                parts.append(pd.DataFrame({"unique_id": uid, "ds": days, "yhat": pred}))
        out["prophet"] = (pd.concat(parts), t.wall)
    return out


def accuracy_table(top: int, jobs: int, *, prophet: bool, arima: bool, shift: int, skip: int = 0) -> pd.DataFrame:
    df = online_retail_daily(top, shift, skip)
    cutoff = df["ds"].max() - pd.Timedelta(days=HOLDOUT)
    train, test = df[df["ds"] <= cutoff], df[df["ds"] > cutoff]
    print(
        f"    train {train['ds'].min():%d %b %Y} – {cutoff:%d %b %Y}, test {test['ds'].min():%d %b %Y} – "
        f"{test['ds'].max():%d %b %Y}; {df['unique_id'].nunique()} series; Prophet eligible for the selection: "
        f"{len(engine.prophet_eligible(train))} (needs {engine.PROPHET_MIN_HISTORY_DAYS} days of history)"
    )
    scales = train.groupby("unique_id")["y"].apply(lambda s: engine.mase_scale(s.to_numpy()))
    rows = []

    def score(name: str, fc: pd.DataFrame, seconds: float) -> None:
        merged = test.merge(fc[["unique_id", "ds", "yhat"]], on=["unique_id", "ds"], how="left").fillna({"yhat": 0})
        merged["yhat"] = merged["yhat"].clip(lower=0)
        s = engine.pooled_scores(merged, actual="y", predicted="yhat", scales=scales)
        rows.append({"model": name, **s, "seconds": seconds})

    for name, (fc, seconds) in single_model_forecasts(train, jobs=jobs, prophet=prophet, arima=arima).items():
        score(name, fc, seconds)
    with Timer() as t:
        selection = engine.forecast_frame(train, horizon=HOLDOUT, n_jobs=jobs)
    score("RetailOps selection", selection.forecasts, t.wall)
    chosen = pd.Series([c["model"] for c in selection.chosen.values()]).value_counts()
    print("    selection chose: " + ", ".join(f"{m} {n}" for m, n in chosen.items()))
    return pd.DataFrame(rows)


def verdict(table: pd.DataFrame) -> str:
    sel = table[table["model"] == "RetailOps selection"].iloc[0]
    singles = table[table["model"] != "RetailOps selection"]
    base = table[table["model"] == "seasonal_naive"].iloc[0]
    gain = 1 - sel["wmape"] / base["wmape"]
    beaten = int((singles["wmape"] > sel["wmape"]).sum())
    best = singles.sort_values("wmape").iloc[0]
    return (
        f"selection wMAPE {sel['wmape']:.3f} (weekly totals {sel['wmape_week']:.3f}, bias {sel['bias']:+.1%}): "
        f"{gain:.1%} lower than seasonal naive "
        "(target ≥ 20 %: "
        f"{'met' if gain >= 0.2 else 'NOT met'}); beats {beaten} of {len(singles)} single models on wMAPE "
        f"(target all: {'met' if beaten == len(singles) else 'NOT met'}; best single: {best['model']} "
        f"{best['wmape']:.3f}, bias {best['bias']:+.1%})"
    )


def bench_accuracy(top: int, jobs: int, *, prophet: bool, arima: bool, validation: bool, skip: int = 0) -> None:
    rule = (
        f"{engine.DEFAULT_CHAIN[0]} by default (then {', '.join(engine.DEFAULT_CHAIN[1:])} where it has no backtest); "
        f"a series switches to its backtest winner only if that is ≥ {engine.SWITCH_MARGIN:.0%} "
        f"better over {engine.DEFAULT_WINDOWS} rolling windows and better in each; fits on the last "
        f"{engine.DEFAULT_HISTORY_DAYS} days, the chosen model refitted for the forecast"
    )
    if validation:
        print(
            f"\n(b') VALIDATION — Online Retail, top {top} products: four 4-week blocks before the hold-out, each "
            "forecast from the data before it (the hold-out itself is dropped when the file is read)"
        )
        tables = []
        for k in (1, 2, 3, 4):
            print(f"  origin {k}: the 4 weeks that end {k * HOLDOUT} days before the last day of the file")
            table = accuracy_table(top, jobs, prophet=prophet, arima=arima, shift=k * HOLDOUT, skip=skip)
            print("    " + verdict(table))
            tables.append(table.assign(origin=k))
        both = pd.concat(tables)
        summary = both.pivot_table(index="model", columns="origin", values="wmape")
        summary["mean"] = summary.mean(axis=1)
        summary["mean bias"] = both.groupby("model")["bias"].mean()
        print("  wMAPE per origin (and the mean bias: a low wMAPE can be an under-forecast):")
        print("    " + summary.sort_values("mean").to_string(float_format=lambda x: f"{x:.3f}").replace("\n", "\n    "))
        print(f"  rule: {rule}")
        return
    if skip:
        print(
            f"\n(b) FRESH SERIES — Online Retail 2010–2011, daily units of the products ranked {skip + 1}–{skip + top} "
            f"by units sold before the hold-out, last {HOLDOUT} days held out"
        )
        print(
            f"    selection rule: {rule}. Fixed before these series were first scored: none of them was looked at "
            "while the rule was chosen (that used the validation blocks of the top 150 products)."
        )
    else:
        print(
            f"\n(b) Accuracy — Online Retail 2010–2011, daily units of the top {top} products, last {HOLDOUT} days "
            "held out"
        )
        print(
            f"    selection rule: {rule}. Chosen on 4 validation blocks inside the training period (--validation); "
            "this hold-out is scored once, with that rule. Disclosure: in an earlier session the hold-out weeks "
            "were looked at twice while the previous selection rule was being tuned."
        )
    table = accuracy_table(top, jobs, prophet=prophet, arima=arima, shift=0, skip=skip)
    print("    single models are each fitted afresh on the whole training period (their strongest use)")
    print("    " + table.to_string(index=False, float_format=lambda x: f"{x:.3f}").replace("\n", "\n    "))
    print("    " + verdict(table))


# --------------------------------------------------------------------------------------------------
# (c) on the shelf
# --------------------------------------------------------------------------------------------------

SHELF_Z = (0.84, 1.28, 1.645, 2.05)  # safety factors for 80, 90, 95 and 98 % cycle service
SHELF_MODELS = ("seasonal_naive", "seasonal_avg", "ets", "global")


def shelf_outcome(forecasts: pd.DataFrame, rmse: dict[str, float], test: pd.DataFrame, z: float) -> dict:
    """Each series stocked by a weekly order-up-to policy on the forecast: every 7 days (orders arrive at
    once) the shelf is filled up to the week's forecast + z·RMSE·√7, what sells beyond the shelf is lost.
    Returns units sold and asked for, and the units on the shelves summed over series and days."""
    merged = test.merge(forecasts[["unique_id", "ds", "yhat"]], on=["unique_id", "ds"], how="left")
    merged = merged.fillna({"yhat": 0.0}).sort_values(["unique_id", "ds"])
    served = asked = held = 0.0
    for uid, g in merged.groupby("unique_id", sort=False):
        y, f = g["y"].to_numpy(), g["yhat"].to_numpy()
        spread = z * rmse.get(uid, 0.0) * np.sqrt(engine.SEASON)
        stock = 0.0
        for day in range(len(y)):
            if day % engine.SEASON == 0:
                stock = max(stock, f[day : day + engine.SEASON].sum() + spread)
            sold = min(stock, y[day])
            served, asked, stock = served + sold, asked + y[day], stock - sold
            held += stock
    return {"served": served, "asked": asked, "held": held}


def bench_shelf(top: int, jobs: int, *, skip: int = 0) -> None:
    """(c) What each forecast is worth on the shelf, on the 4 validation blocks of a product set."""
    print(
        f"\n(c) ON THE SHELF — products ranked {skip + 1}–{skip + top}, the 4 validation blocks: each series "
        "restocked weekly up to the week's forecast + z × its backtest RMSE × √7 (orders arrive at once, "
        "sales beyond the shelf are lost); fill rate = units sold ÷ units asked for, stock = average units on "
        "the shelves in days of demand"
    )
    totals: dict[tuple[str, float], dict] = {}
    for k in (1, 2, 3, 4):
        df = online_retail_daily(top, k * HOLDOUT, skip)
        cutoff = df["ds"].max() - pd.Timedelta(days=HOLDOUT)
        train, test = df[df["ds"] <= cutoff], df[df["ds"] > cutoff]
        runs = {"RetailOps selection": None, **{m: [m] for m in SHELF_MODELS}}
        for name, models in runs.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = engine.forecast_frame(
                    train, horizon=HOLDOUT, n_jobs=jobs, **({"models": models} if models else {})
                )
            rmse = {u: float(c["rmse"] or 0.0) for u, c in result.chosen.items()}
            for z in SHELF_Z:
                out = shelf_outcome(result.forecasts, rmse, test, z)
                acc = totals.setdefault((name, z), {"served": 0.0, "asked": 0.0, "held": 0.0})
                for key, value in out.items():
                    acc[key] += value
    rows = []
    for (name, z), t in totals.items():
        daily_demand = t["asked"] / HOLDOUT
        rows.append(
            {"forecast": name, "z": z, "fill": t["served"] / t["asked"], "days": t["held"] / HOLDOUT / daily_demand}
        )
    table = pd.DataFrame(rows)
    wide = table.pivot_table(index="forecast", columns="z", values=["fill", "days"])
    print("    fill rate and stock (days of demand) by safety factor z:")
    print("    " + wide.to_string(float_format=lambda x: f"{x:.3f}").replace("\n", "\n    "))
    ours = table[(table["forecast"] == "RetailOps selection") & (table["z"] == 1.645)].iloc[0]
    print(
        f"    the selection at z = 1.645: fill {ours['fill']:.1%} with {ours['days']:.2f} days of stock; "
        "the stock each forecast needs for that same fill rate (interpolated along its z):"
    )
    for name, g in table.groupby("forecast", sort=False):
        g = g.sort_values("fill")
        if ours["fill"] < g["fill"].min() or ours["fill"] > g["fill"].max():
            print(
                f"      {name:20s} cannot reach it with z in {SHELF_Z} "
                f"(fill {g['fill'].min():.1%}–{g['fill'].max():.1%})"
            )
            continue
        need = float(np.interp(ours["fill"], g["fill"], g["days"]))
        print(f"      {name:20s} {need:.2f} days ({need / ours['days'] - 1:+.1%})")


# --------------------------------------------------------------------------------------------------
# (d) the calendar (issue 18): both sets, every model, scored the way orders are made
# --------------------------------------------------------------------------------------------------

DEMO_CATEGORIES = 10


def demo_calendar_set(
    stores: int = 15, products: int = 100, days: int = 1095, seed: int = 7
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The demo chain's shape with its calendar: (demand ``unique_id, ds, y`` over ``days`` days, calendar
    ``unique_id, ds, closed, promo, holiday`` over those days and 28 beyond, groups ``unique_id, category,
    store``).

    Ten categories of ten products; weekly and yearly season (a December peak, a summer swell), store and
    product levels, counts Poisson around a level moved by a store-day factor (lognormal, σ 0.12, as
    demo/simulation.py). Promotions: about three a month, 10–30 % off, on
    a category or a single product, in every store or in one, for 7–14 days; uplift 1 + g × discount with g
    between 1.5 and 4 by category. Closures: Christmas Day everywhere, three stores shut on Sundays, a
    three-day refit in a third of the stores. UK bank holidays: open, 20 % quieter. Launches: five products
    start 45 days before the end, their first week three times their level.
    """
    import holidays  # noqa: PLC0415 — only this data set needs it

    rng = np.random.default_rng(seed)
    ds = pd.date_range("2023-01-01", periods=days + HOLDOUT, freq="D")
    t = len(ds)
    dow = np.array([0.85, 0.8, 0.9, 0.95, 1.15, 1.45, 0.9])[ds.dayofweek]
    doy = ds.dayofyear.to_numpy()
    year = 1 + 0.12 * np.sin(2 * np.pi * (doy - 100) / 365.25) + 0.9 * np.exp(-(((doy - 352) / 9.0) ** 2))
    bank = holidays.country_holidays("GB", years=sorted(set(ds.year)))
    holiday = np.asarray(ds.isin(pd.to_datetime(list(bank.keys()))))
    christmas = np.asarray((ds.month == 12) & (ds.day == 25))
    category = np.arange(products) % DEMO_CATEGORIES
    g_cat = rng.uniform(1.5, 4.0, size=DEMO_CATEGORIES)
    level = rng.lognormal(mean=0.3, sigma=1.0, size=products)
    store_factor = rng.uniform(0.6, 1.5, size=stores)
    store_day = rng.lognormal(0.0, 0.12, size=(stores, t))  # as demo/simulation.py: a store's busy and quiet days
    promo = np.zeros((stores, products, t))
    for month_start in range(0, t, 30):
        for _ in range(rng.poisson(3)):
            start = month_start + int(rng.integers(0, 30))
            span = np.arange(start, min(start + int(rng.integers(7, 15)), t))
            where_s = np.arange(stores) if rng.random() < 0.6 else np.array([rng.integers(stores)])
            if rng.random() < 0.5:
                where_p = np.flatnonzero(category == rng.integers(DEMO_CATEGORIES))
            else:
                where_p = np.array([rng.integers(products)])
            idx = np.ix_(where_s, where_p, span)
            promo[idx] = np.maximum(promo[idx], float(rng.choice([0.1, 0.15, 0.2, 0.25, 0.3])))
    closed = np.zeros((stores, t), dtype=bool)
    closed[:, christmas] = True
    for s in rng.choice(stores, size=3, replace=False):
        closed[s, ds.dayofweek == 6] = True
    for s in rng.choice(stores, size=stores // 3, replace=False):
        start = int(rng.integers(60, t - 10))
        closed[s, start : start + 3] = True
    launched = set(rng.choice(products, size=5, replace=False).tolist())
    launch_day = days - 45
    frames, cals, groups = [], [], []
    for s in range(stores):
        for p in range(products):
            uid = f"{s}:{p}"
            lam = level[p] * store_factor[s] * dow * year * (1 + g_cat[category[p]] * promo[s, p])
            lam = lam * np.where(holiday & ~christmas, 0.8, 1.0)
            first = 0
            if p in launched:
                first = launch_day
                lam = lam * np.where(np.arange(t) < launch_day + 7, 3.0, 1.0)
            lam = np.where(closed[s], 0.0, lam) * store_day[s]
            y = rng.poisson(lam).astype(float)
            frames.append(pd.DataFrame({"unique_id": uid, "ds": ds[first:days], "y": y[first:days]}))
            mark = closed[s] | (promo[s, p] > 0) | holiday
            mark[:first] = False
            cals.append(
                pd.DataFrame(
                    {
                        "unique_id": uid,
                        "ds": ds[mark],
                        "closed": closed[s][mark],
                        "promo": promo[s, p][mark],
                        "holiday": holiday[mark],
                    }
                )
            )
            groups.append((uid, f"c{category[p]}", str(s)))
    demand = pd.concat(frames, ignore_index=True)
    calendar = pd.concat(cals, ignore_index=True)
    return demand, calendar, pd.DataFrame(groups, columns=["unique_id", "category", "store"])


def online_retail_calendar(df: pd.DataFrame, horizon: int = HOLDOUT) -> pd.DataFrame:
    """The shop's calendar as the product would detect it from the history: a day on which none of the file's
    products sold is closed (Saturdays, the Christmas break); in the horizon, a weekday with no sales over the
    last 8 weeks is closed; UK bank holidays are holidays. No promotions are known."""
    import holidays  # noqa: PLC0415 — only this data set needs it

    last = df["ds"].max()
    per_day = df.groupby("ds")["y"].sum()
    shut = set(per_day[per_day <= 0].index)
    recent = per_day[per_day.index > last - pd.Timedelta(days=56)]
    weekly_shut = {d for d in range(7) if recent[recent.index.dayofweek == d].sum() <= 0}
    future = pd.date_range(last + pd.Timedelta(days=1), periods=horizon, freq="D")
    shut |= {d for d in future if d.dayofweek in weekly_shut}
    every = pd.date_range(df["ds"].min(), future[-1], freq="D")
    bank = holidays.country_holidays("GB", years=sorted(set(every.year)))
    hol = set(pd.to_datetime(list(bank.keys())))
    marked = [d for d in every if d in shut or d in hol]
    days = pd.DataFrame({"ds": marked, "closed": [d in shut for d in marked], "holiday": [d in hol for d in marked]})
    uids = pd.DataFrame({"unique_id": df["unique_id"].unique()})
    return uids.merge(days, how="cross").assign(promo=0.0)


def autoets_whole_history(train: pd.DataFrame, h: int, jobs: int) -> pd.DataFrame:
    """AutoETS (statsforecast's automatic search, weekly season) per series on its whole history, with its 80 %
    band."""
    from statsforecast import StatsForecast  # noqa: PLC0415 — heavy: statsforecast loads only for the bench
    from statsforecast.models import AutoETS  # noqa: PLC0415 — heavy, as above

    sf = StatsForecast(models=[AutoETS(season_length=engine.SEASON, alias="AutoETS")], freq="D", n_jobs=jobs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = sf.forecast(df=train, h=h, level=[engine.INTERVAL_LEVEL])
    fc = fc.reset_index() if "unique_id" not in fc.columns else fc
    fc["unique_id"] = fc["unique_id"].astype(str)
    return fc.rename(columns={"AutoETS": "yhat", "AutoETS-lo-80": "lo", "AutoETS-hi-80": "hi"})


def prophet_whole_history(train: pd.DataFrame, h: int) -> pd.DataFrame:
    """Prophet per series on its whole history (yearly season where it spans two years), point forecasts."""
    parts = []
    for uid, series in train.groupby("unique_id"):
        pred = engine.prophet_forecast(series, h=h)
        days = pd.date_range(series["ds"].max() + pd.Timedelta(days=1), periods=h, freq="D")
        parts.append(pd.DataFrame({"unique_id": uid, "ds": days, "yhat": pred}))
    return pd.concat(parts, ignore_index=True)


def order_scores(
    test: pd.DataFrame, fc: pd.DataFrame, *, scales: pd.Series, rmse: dict[str, float], calendar: pd.DataFrame
) -> dict[str, float]:
    """Daily and weekly-total wMAPE, bias, 80 % coverage (where the model gives a band), the shelf at z = 1.645
    (same safety stock for every model: the calendar run's backtest RMSE), promotion-day wMAPE and the units
    forecast on closed days."""
    cols = [c for c in ("yhat", "lo", "hi") if c in fc.columns]
    merged = test.merge(fc[["unique_id", "ds", *cols]], on=["unique_id", "ds"], how="left").fillna({"yhat": 0.0})
    merged["yhat"] = merged["yhat"].clip(lower=0)
    out = engine.pooled_scores(merged, actual="y", predicted="yhat", scales=scales)
    out["coverage"] = (
        float(((merged["y"] >= merged["lo"]) & (merged["y"] <= merged["hi"])).mean()) if "lo" in cols else np.nan
    )
    shelf = shelf_outcome(fc, rmse, test, 1.645)
    out["fill"] = shelf["served"] / shelf["asked"] if shelf["asked"] else np.nan
    out["stock_days"] = shelf["held"] / shelf["asked"] if shelf["asked"] else np.nan
    marks = merged.merge(calendar, on=["unique_id", "ds"], how="left")
    promo = marks["promo"].fillna(0) > 0
    y = marks.loc[promo, "y"]
    out["promo_wmape"] = float((marks.loc[promo, "yhat"] - y).abs().sum() / y.sum()) if y.sum() else np.nan
    out["closed_units"] = float(marks.loc[marks["closed"].astype("boolean").fillna(False).astype(bool), "yhat"].sum())
    return out


def calendar_origin(
    name: str,
    df: pd.DataFrame,
    calendar: pd.DataFrame,
    groups: pd.DataFrame | None,
    *,
    shift: int,
    jobs: int,
    prophet: bool,
) -> pd.DataFrame:
    """Every model on the 28 days that end ``shift`` days before the end of ``df`` (nothing after them seen)."""
    last = df["ds"].max() - pd.Timedelta(days=shift)
    cutoff = last - pd.Timedelta(days=HOLDOUT)
    train, test = df[df["ds"] <= cutoff], df[(df["ds"] > cutoff) & (df["ds"] <= last)]
    cal = calendar[calendar["ds"] <= last]
    scales = train.groupby("unique_id")["y"].apply(lambda s: engine.mase_scale(s.to_numpy()))
    rows = []
    with Timer() as t:
        ours = engine.forecast_frame(train, horizon=HOLDOUT, n_jobs=jobs, calendar=cal, groups=groups)
    rmse = {u: float(c["rmse"] or 0.0) for u, c in ours.chosen.items()}
    runs = {"RetailOps, calendar": (ours.forecasts, t.wall)}
    with Timer() as t:
        plain = engine.forecast_frame(train, horizon=HOLDOUT, n_jobs=jobs)
    runs["RetailOps, no calendar"] = (plain.forecasts, t.wall)
    with Timer() as t:
        ets = autoets_whole_history(train, HOLDOUT, jobs)
    runs["AutoETS (whole history)"] = (ets, t.wall)
    if prophet:
        with Timer() as t:
            pro = prophet_whole_history(train, HOLDOUT)
        runs["Prophet (whole history)"] = (pro, t.wall)
    for model, (fc, seconds) in runs.items():
        s = order_scores(test, fc, scales=scales, rmse=rmse, calendar=cal)
        rows.append({"set": name, "origin": shift, "model": model, **s, "seconds": seconds})
    bt = ours.backtest
    if bt is not None and not bt.empty:
        print(
            f"      {name}, origin −{shift} d: engine backtest rows {len(bt):,}; models chosen: "
            + ", ".join(
                f"{m} {n}" for m, n in pd.Series([c["model"] for c in ours.chosen.values()]).value_counts().items()
            )
        )
    return pd.DataFrame(rows)


def bench_calendar(*, validation: bool, jobs: int, prophet: bool, top: int, demo_stores: int) -> None:
    """(d) Both sets: the demo chain's shape with its calendar (``demo_stores`` stores of it) and the Online
    Retail top products with the calendar detected from the file."""
    shifts = (HOLDOUT, 2 * HOLDOUT) if validation else (0,)
    label = "VALIDATION origins (the hold-out is never scored)" if validation else "HOLD-OUT (scored once)"
    print(f"\n(d) THE CALENDAR — {label}; 28-day blocks; each model fitted on the data before its block")
    demand, calendar, groups = demo_calendar_set()
    keep = demand["unique_id"].str.split(":").str[0].astype(int) < demo_stores
    sets = [("demo", demand[keep], calendar, groups)]
    retail = online_retail_daily(top, 0)
    sets.append(("online retail", retail, online_retail_calendar(retail[retail["ds"] <= retail["ds"].max()]), None))
    tables = []
    for name, df, cal, grp in sets:
        for shift in shifts:
            tables.append(calendar_origin(name, df, cal, grp, shift=shift, jobs=jobs, prophet=prophet))
    table = pd.concat(tables, ignore_index=True)
    cols = ["wmape", "wmape_week", "bias", "coverage", "fill", "stock_days", "promo_wmape", "closed_units", "seconds"]
    summary = table.groupby(["set", "model"], sort=False)[cols].mean()
    print("    mean over the origins (wMAPE of days and of weekly totals, bias, 80 % band coverage, shelf fill and")
    print("    stock in days of demand at z = 1.645, wMAPE on promotion days, units forecast on closed days):")
    print("    " + summary.to_string(float_format=lambda x: f"{x:.3f}").replace("\n", "\n    "))
    for name in summary.index.get_level_values(0).unique():
        s = summary.loc[name]
        ours, plain = s.loc["RetailOps, calendar"], s.loc["RetailOps, no calendar"]
        rivals = [m for m in s.index if "whole history" in m]
        beats = all(ours["wmape"] < s.loc[m, "wmape"] and ours["wmape_week"] < s.loc[m, "wmape_week"] for m in rivals)
        gain = 1 - ours["promo_wmape"] / plain["promo_wmape"] if plain["promo_wmape"] > 0 else float("nan")
        print(
            f"    {name}: beats {', '.join(rivals)} on daily and weekly wMAPE: {'met' if beats else 'NOT met'}; "
            f"|bias| {abs(ours['bias']):.1%} (≤ 10 %: {'met' if abs(ours['bias']) <= 0.10 else 'NOT met'}); "
            f"coverage {ours['coverage']:.1%} (75–85 %: {'met' if 0.75 <= ours['coverage'] <= 0.85 else 'NOT met'}); "
            f"promotion-day wMAPE {gain:+.1%} lower than without the calendar; "
            f"{ours['closed_units']:.1f} units on closed days"
        )


def _calendar_chunk(args: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> engine.ForecastResult:
    frame, cal, groups = args
    return engine.forecast_frame(frame, horizon=28, n_jobs=1, calendar=cal, groups=groups)


def bench_calendar_speed(sample: int, jobs: int) -> None:
    """All 1,500 demo series with the calendar, as the workers run them (chunks of 100, ``jobs`` at a time),
    against Prophet fitted once per series on a sample, extrapolated."""
    print("\n(d') SPEED with the calendar — demo chain shape, 15 stores × 100 products × 1,095 days")
    demand, calendar, groups = demo_calendar_set()
    ids = sorted(demand["unique_id"].unique(), key=lambda u: tuple(int(x) for x in u.split(":")))
    chunks = [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]
    work = [
        (
            demand[demand["unique_id"].isin(c)],
            calendar[calendar["unique_id"].isin(c)],
            groups[groups["unique_id"].isin(c)],
        )
        for c in chunks
    ]
    with Timer() as ours:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(_calendar_chunk, work))
    picked = np.random.default_rng(1).choice(ids, size=min(sample, len(ids)), replace=False)
    sub = demand[demand["unique_id"].isin(picked)]
    engine.prophet_forecast(sub[sub["unique_id"] == picked[0]], h=28)  # warm-up, not timed
    with Timer() as p:
        prophet_whole_history(sub, 28)
    scale = len(ids) / len(picked)
    closed_units = sum(
        float(r.forecasts.merge(calendar, on=["unique_id", "ds"]).query("closed")["yhat"].sum()) for r in results
    )
    print(
        f"    RetailOps with the calendar: {ours.wall:.1f} s wall, {ours.cpu:.1f} s CPU, {len(ids)} series, {jobs} "
        f"processes; {sum(len(r.failed) for r in results)} failed; {closed_units:.1f} units on closed days ahead"
    )
    print(
        f"    Prophet once per series on the whole history: {p.wall / len(picked):.3f} s per series (sample of "
        f"{len(picked)}) → {p.wall * scale:.0f} s for {len(ids)}; speed-up {p.wall * scale / ours.wall:.1f}× wall "
        f"(target ≥ 3×: {'met' if p.wall * scale / ours.wall >= 3 else 'NOT met'}); ≤ 120 s: "
        f"{'met' if ours.wall <= 120 else 'NOT met'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series-sample", type=int, default=30, help="Prophet sample size for (a)")
    parser.add_argument("--top", type=int, default=50, help="top products for (b)")
    parser.add_argument(
        "--skip-top", type=int, default=0, help="(b) on the products after the N busiest (a fresh set of series)"
    )
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--skip-a", action="store_true")
    parser.add_argument("--skip-b", action="store_true")
    parser.add_argument("--no-prophet-b", action="store_true", help="(b) without the Prophet single model")
    parser.add_argument("--no-arima", action="store_true", help="(b) without the AutoARIMA single model (slow)")
    parser.add_argument(
        "--validation", action="store_true", help="(b) on four 4-week blocks before the hold-out (design choices)"
    )
    parser.add_argument(
        "--shelf",
        action="store_true",
        help="(c) fill rate and stock of a weekly order-up-to policy on each forecast, on the validation blocks",
    )
    parser.add_argument(
        "--calendar",
        action="store_true",
        help="(d) the calendar: both sets, every model (with --validation: the validation origins), and its speed",
    )
    parser.add_argument(
        "--demo-stores", type=int, default=2, help="(d) stores of the demo set scored (100 series each)"
    )
    parser.add_argument("--skip-speed", action="store_true", help="(d) without the speed run")
    args = parser.parse_args()
    print("RetailOps forecast benchmark")
    print("machine: " + machine())
    if not args.skip_a:
        bench_speed(args.series_sample, args.jobs)
    if not args.skip_b:
        bench_accuracy(
            args.top,
            args.jobs,
            prophet=not args.no_prophet_b,
            arima=not args.no_arima,
            validation=args.validation,
            skip=args.skip_top,
        )
    if args.shelf:
        bench_shelf(args.top, args.jobs, skip=args.skip_top)
    if args.calendar:
        bench_calendar(
            validation=args.validation,
            jobs=args.jobs,
            prophet=not args.no_prophet_b,
            top=args.top,
            demo_stores=args.demo_stores,
        )
        if not args.skip_speed:
            bench_calendar_speed(args.series_sample, args.jobs)
    print("\nmachine at the end: " + machine())


if __name__ == "__main__":
    main()
