"""Benchmark (not a test): future spend per customer, linear regression vs BG/NBD × Gamma-Gamma.

Trains on everything up to a cut-off and scores the following quarter (91 days), on
  1. the demo chain in the database DATABASE_URL points at (`manage.py seed_demo` first), or a
     comparable simulated frame when that database has no loyalty sales;
  2. the real transactions ../shared/data/online_retail_2010_2011.csv.gz (lines with a CustomerID,
     cancellations included as negative spend; holdout = the last 91 days).
Prints RMSE, MAE, R² and the aggregate error of total spend per model, and the machine.

    DATABASE_URL=sqlite:////tmp/demo.sqlite3 .venv/bin/python bench/customers.py
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "retailops.settings")

from machine_info import cpu_model, memory_gib  # noqa: E402  (beside this script)

from forecasting import customer_engine as engine  # noqa: E402  (pure pandas: no Django needed)

HORIZON = 91
REAL = ROOT.parent / "shared" / "data" / "online_retail_2010_2011.csv.gz"


def machine() -> str:
    cpu = cpu_model()
    gib = memory_gib()
    mem = f", {gib:.1f} GiB RAM" if gib is not None else ""
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return (
        f"{platform.system()} {platform.release()} · Python {platform.python_version()} "
        f"· {cpu or platform.processor()} · {os.cpu_count()} logical CPUs{mem} · load {load[0]:.2f} "
        f"· numpy {np.__version__} · pandas {pd.__version__}"
    )


def demo_days() -> tuple[pd.DataFrame, str]:
    try:
        import django

        django.setup()
        from forecasting.customer_selectors import transactions_frame

        frame = transactions_frame()
        if len(frame):
            return engine.purchase_days(frame), f"demo chain from the database ({len(frame):,} loyalty receipts)"
    except Exception as exc:  # noqa: BLE001 — no database: fall back to the simulated frame
        print(f"(demo database not usable: {exc})")
    return simulated_days(), "simulated chain (no demo database)"


def simulated_days(n: int = 2000, seed: int = 2026) -> pd.DataFrame:
    """A frame like the demo chain: 2,000 customers, three years, BG/NBD-like buying and dropping out."""
    rng = np.random.default_rng(seed)
    truth = engine.BGNBD(r=1.2, alpha=45.0, a=0.4, b=8.0)
    rows = []
    start = pd.Timestamp("2023-11-22")
    lam = rng.gamma(truth.r, 1 / truth.alpha, size=n)
    p = rng.beta(truth.a, truth.b, size=n)
    value = rng.gamma(6.0, 3.0, size=n)
    for c in range(n):
        t = rng.uniform(0, 300)
        while t < 1096:
            rows.append((c, start + pd.Timedelta(days=int(t)), value[c] * rng.gamma(8, 1 / 8), 0.0))
            if rng.random() < p[c]:
                break
            t += rng.exponential(1 / lam[c])
    f = pd.DataFrame(rows, columns=["customer_id", "date", "amount", "discount"])
    return engine.purchase_days(f)


def real_days() -> pd.DataFrame:
    raw = pd.read_csv(REAL, dtype={"CustomerID": "string", "InvoiceNo": "string", "StockCode": "string"})
    raw = raw.dropna(subset=["CustomerID"])
    raw = raw[~raw["InvoiceNo"].str.startswith("A")]  # bad-debt adjustments are not customer spend
    raw["date"] = pd.to_datetime(raw["InvoiceDate"], format="%m/%d/%Y %H:%M")
    raw["amount"] = raw["Quantity"] * raw["UnitPrice"]
    frame = raw.rename(columns={"CustomerID": "customer_id"})[["customer_id", "date", "amount"]].assign(discount=0.0)
    return engine.purchase_days(frame)


def run(name: str, days: pd.DataFrame) -> None:
    cutoff = days["date"].max() - pd.Timedelta(days=HORIZON)
    t = time.perf_counter()
    ev = engine.spend_evaluate(days, cutoff=cutoff, horizon_days=HORIZON)
    seconds = time.perf_counter() - t
    print(f"\n{name}")
    print(
        f"  {days['customer_id'].nunique():,} customers, {len(days):,} customer-days; train ≤ {cutoff.date()}, "
        f"holdout {HORIZON} days to {days['date'].max().date()}; fit + score {seconds:.1f} s"
    )
    print(f"  {'model':<28}{'n':>7}{'RMSE':>10}{'MAE':>10}{'R²':>8}{'predicted':>14}{'actual':>14}{'total err':>11}")
    for key, label in (("regression", "linear regression"), ("probabilistic", "BG/NBD × Gamma-Gamma")):
        m = ev.metrics.get(key, {})
        if m.get("rmse") is None:
            print(f"  {label:<28} not fitted: {m.get('error', '')}")
            continue
        print(
            f"  {label:<28}{m['n']:>7,}{m['rmse']:>10.2f}{m['mae']:>10.2f}{m['r2']:>8.3f}"
            f"{m['total_predicted']:>14,.2f}{m['total_actual']:>14,.2f}{m['total_error_pct']:>+10.1f}%"
        )
    print(f"  kept: {ev.chosen} (lower RMSE)")
    bg = ev.params["bgnbd"]
    print("  BG/NBD: " + ", ".join(f"{k}={v:.4g}" for k, v in bg.items()))
    if ev.params.get("gamma_gamma"):
        print("  Gamma-Gamma: " + ", ".join(f"{k}={v:.4g}" for k, v in ev.params["gamma_gamma"].items()))


def main() -> None:
    print("bench/customers.py — future spend, regression vs BG/NBD × Gamma-Gamma")
    print("machine:", machine())
    days, label = demo_days()
    run(label, days)
    if REAL.exists():
        run("Online Retail 2010–2011 (UCI), customers with an id", real_days())
    else:
        print(f"\n(skipped: {REAL} not found)")


if __name__ == "__main__":
    main()
