"""Forecast benchmark (DESIGN §10), one process, not a test.

(a) Speed on the demo-chain shape — 15 stores × 100 products, three years daily, generated here with
    weekly and yearly seasonality, promotions and slow movers: wall time of a full RetailOps run (backtest
    of every model on 2 rolling windows + final fit, per-series selection) against Prophet fitted series
    by series with the same protocol on a sample, extrapolated to all series.
(b) Accuracy on real demand — ../shared/data/online_retail_2010_2011.csv.gz, daily units of its top
    products, the last 4 weeks held out (never seen by any fit or by the selection): MASE / wMAPE of
    seasonal naive, Prophet, each fast model and the per-series selection.

Usage: .venv/bin/python bench/forecast.py [--series-sample 12] [--top 50] [--jobs 2] [--skip-a] [--skip-b]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forecasting import engine  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "online_retail_2010_2011.csv.gz"
NON_PRODUCTS = {"POST", "DOT", "M", "C2", "D", "S", "B", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS"}
HOLDOUT = 28


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return (
        f"{platform.node()} · {platform.platform()} · Python {platform.python_version()} · {cpu} · "
        f"{os.cpu_count()} CPUs · load average {', '.join(f'{x:.2f}' for x in load)}"
    )


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


def bench_speed(sample: int, jobs: int) -> None:
    print("\n(a) Speed — demo chain shape: 15 stores × 100 products × 1,095 days")
    t0 = time.perf_counter()
    df = demo_chain_frame()
    n_series = df["unique_id"].nunique()
    print(f"    generated {len(df):,} rows, {n_series} series in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    result = engine.forecast_frame(df, horizon=28, n_jobs=jobs)
    fast = time.perf_counter() - t0
    chosen = pd.Series([c["model"] for c in result.chosen.values()]).value_counts()
    print(
        f"    RetailOps full run ({len(engine.FAST_MODELS)} models, 2 backtest windows + final fit, "
        f"n_jobs={jobs}): {fast:.1f} s for {n_series} series ({1000 * fast / n_series:.0f} ms per series)"
    )
    print("    models chosen: " + ", ".join(f"{m} {n}" for m, n in chosen.items()))
    print(f"    failed series: {len(result.failed)}")
    # Prophet, series by series, same protocol (2 backtest windows + final fit) on the same history window.
    keep = engine.DEFAULT_HISTORY_DAYS + 2 * 28
    ids = sorted(df["unique_id"].unique())
    rng = np.random.default_rng(1)
    picked = rng.choice(ids, size=min(sample, len(ids)), replace=False)
    sub = df[df["unique_id"].isin(picked)].groupby("unique_id").tail(keep)
    t0 = time.perf_counter()
    engine._prophet_frames(sub, h=28, windows=2, horizon=28)
    per_series = (time.perf_counter() - t0) / len(picked)
    prophet_total = per_series * n_series
    print(
        f"    Prophet series by series: {per_series:.2f} s per series (sample of {len(picked)}, 3 fits each) "
        f"→ {prophet_total:.0f} s extrapolated to {n_series} series"
    )
    print(
        f"    speed-up: {prophet_total / fast:.1f}× · target ≤ 120 s and ≥ 10×: "
        f"{'met' if fast <= 120 and prophet_total / fast >= 10 else 'NOT met'}"
    )


# --------------------------------------------------------------------------------------------------
# (b) accuracy
# --------------------------------------------------------------------------------------------------


def online_retail_daily(top: int, shift: int = 0) -> pd.DataFrame:
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
    tops = train_units.sort_values(ascending=False).index[:top]
    return engine.prepare_demand(daily[daily["unique_id"].isin(tops)], end=last)[["unique_id", "ds", "y"]]


def bench_accuracy(top: int, jobs: int, prophet: bool, shift: int = 0) -> None:
    if shift:
        print(f"\n(b') VALIDATION: every date moved {shift} days earlier, so the real hold-out is not touched")
    print(
        f"\n(b) Accuracy — Online Retail 2010–2011, daily units of the top {top} products, last {HOLDOUT} days held out"
    )
    df = online_retail_daily(top, shift)
    cutoff = df["ds"].max() - pd.Timedelta(days=HOLDOUT)
    train, test = df[df["ds"] <= cutoff], df[df["ds"] > cutoff]
    print(
        f"    train {train['ds'].min():%d %b %Y} – {cutoff:%d %b %Y}, test {test['ds'].min():%d %b %Y} – "
        f"{test['ds'].max():%d %b %Y}; {df['unique_id'].nunique()} series"
    )
    scales = train.groupby("unique_id")["y"].apply(lambda s: engine.mase_scale(s.to_numpy()))
    rows = []

    def score(name: str, fc: pd.DataFrame, seconds: float) -> None:
        merged = test.merge(fc[["unique_id", "ds", "yhat"]], on=["unique_id", "ds"], how="left").fillna({"yhat": 0})
        s = engine.pooled_scores(merged, actual="y", predicted="yhat", scales=scales)
        rows.append({"model": name, **s, "seconds": seconds})

    for model in engine.FAST_MODELS:
        t0 = time.perf_counter()
        r = engine.forecast_frame(train, horizon=HOLDOUT, models=[model], n_jobs=jobs)
        score(model, r.forecasts, time.perf_counter() - t0)
    if prophet:
        t0 = time.perf_counter()
        parts = []
        for uid, series in train.groupby("unique_id"):
            series = series.tail(engine.DEFAULT_HISTORY_DAYS + 2 * 28)
            pred = engine.prophet_forecast(series, h=HOLDOUT)
            days = pd.date_range(series["ds"].max() + pd.Timedelta(days=1), periods=HOLDOUT, freq="D")
            parts.append(pd.DataFrame({"unique_id": uid, "ds": days, "yhat": pred}))
        score("prophet", pd.concat(parts), time.perf_counter() - t0)
    t0 = time.perf_counter()
    selection = engine.forecast_frame(train, horizon=HOLDOUT, n_jobs=jobs)
    score("RetailOps selection", selection.forecasts, time.perf_counter() - t0)
    table = pd.DataFrame(rows)
    print("    " + table.to_string(index=False, float_format=lambda x: f"{x:.3f}").replace("\n", "\n    "))
    sel = table[table["model"] == "RetailOps selection"].iloc[0]
    singles = table[table["model"] != "RetailOps selection"]
    base = table[table["model"] == "seasonal_naive"].iloc[0]
    gain = 1 - sel["wmape"] / base["wmape"]
    beaten = int((singles["wmape"] > sel["wmape"]).sum())
    print(
        f"    selection vs seasonal naive: {gain:.1%} lower wMAPE (target ≥ 20 %); "
        f"beats {beaten} of {len(singles)} single models on wMAPE "
        f"(best single: {singles.sort_values('wmape').iloc[0]['model']} {singles['wmape'].min():.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series-sample", type=int, default=12, help="Prophet sample size for (a)")
    parser.add_argument("--top", type=int, default=50, help="top products for (b)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--skip-a", action="store_true")
    parser.add_argument("--skip-b", action="store_true")
    parser.add_argument("--no-prophet-b", action="store_true")
    parser.add_argument(
        "--validation", action="store_true", help="(b) on the 4 weeks before the hold-out (for design choices)"
    )
    args = parser.parse_args()
    print("RetailOps forecast benchmark")
    print("machine: " + machine())
    if not args.skip_a:
        bench_speed(args.series_sample, args.jobs)
    if not args.skip_b:
        bench_accuracy(args.top, args.jobs, prophet=not args.no_prophet_b, shift=HOLDOUT if args.validation else 0)
    print("\nmachine at the end: " + machine())


if __name__ == "__main__":
    main()
