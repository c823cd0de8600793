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

Usage: .venv/bin/python bench/forecast.py [--series-sample 30] [--top 50] [--jobs 2] [--skip-a] [--skip-b]
       [--no-prophet-b] [--no-arima] [--validation] [--shelf]
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
    print("\nmachine at the end: " + machine())


if __name__ == "__main__":
    main()
