"""Benchmark (not a test): future spend per customer, linear regression vs BG/NBD × Gamma-Gamma.

Trains on everything up to a cut-off and scores the following quarter (91 days), on
  1. the demo chain in the database DATABASE_URL points at (`manage.py seed_demo` first), or a
     comparable simulated frame when that database has no loyalty sales;
  2. the real transactions ../shared/data/online_retail_2010_2011.csv.gz (lines with a CustomerID,
     cancellations included as negative spend; holdout = the last 91 days).
Prints RMSE, MAE, R² and the aggregate error of total spend per model, and the machine.

    DATABASE_URL=sqlite:////tmp/demo.sqlite3 .venv/bin/python bench/customers.py [--origins] [--demo]

--origins also scores every candidate at four earlier validation cut-offs (how stable each choice is).
"""

from __future__ import annotations

import math
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


def simulated_days(
    n: int = 2000, seed: int = 2026, truth: engine.BGNBD | None = None, joining_days: int = 300
) -> pd.DataFrame:
    """A frame like the demo chain: 2,000 customers, three years, BG/NBD-like buying and dropping out
    (customers join over the first `joining_days`)."""
    rng = np.random.default_rng(seed)
    truth = truth or engine.BGNBD(r=1.2, alpha=45.0, a=0.4, b=8.0)
    rows = []
    start = pd.Timestamp("2023-11-22")
    lam = rng.gamma(truth.r, 1 / truth.alpha, size=n)
    p = rng.beta(truth.a, truth.b, size=n)
    value = rng.gamma(6.0, 3.0, size=n)
    for c in range(n):
        t = rng.uniform(0, joining_days)
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


def scored(name: str, days: pd.DataFrame, cutoff: pd.Timestamp, *, spend_choice=None, churn_choice=None) -> dict:
    """Spend and churn at one cut-off; with choices given (from the validation split), those are applied."""
    ev = engine.spend_evaluate(days, cutoff=cutoff, horizon_days=HORIZON)
    ch = engine.churn_evaluate(days, cutoff=cutoff, horizon_days=engine.CHURN_DAYS)
    spend = spend_choice or ev.chosen
    churn = churn_choice or ch.chosen
    m = ev.metrics[spend]
    print(f"  {name} split: train ≤ {cutoff.date()}, scored on the next {HORIZON} days; season: {ev.season or 'none'}")
    print(f"    {'spend model':<24}{'RMSE':>9}{'total err':>11}{'corr':>8}{'top-20%':>9}")
    for key in ("regression", "probabilistic", "blend", "level_checked"):
        k = ev.metrics.get(key, {})
        if k.get("rmse") is not None:
            print(
                f"    {key:<24}{k['rmse']:>9.1f}{k['total_error_pct']:>+10.1f}%{k['correlation']:>8.3f}"
                f"{k['capture_top20']:>9.3f}"
            )
    print(f"    {'past spend ranking':<24}{'':>9}{'':>11}{'':>8}{ev.metrics['past_spend_capture_top20']:>9.3f}")
    if ev.level:
        misses = ", ".join(f"{c['error_pct']:+.1f}% from {c['cutoff']}" for c in ev.level["checks"])
        print(f"    level check of {ev.level['model']}: {misses} → ×{ev.level['factor']:.3f} (row level_checked)")
    else:
        print("    level check: none (needs a year of history before each of the two back-tests)")
    print("    churn AUC (90 days): " + ", ".join(f"{k}={v['auc']:.3f}" for k, v in ch.metrics.items() if v.get("auc")))
    print(f"    kept: spend {spend}, churn {churn} (AUC {ch.metrics[churn]['auc']:.3f})")
    return {"spend": spend, "churn": churn, "spend_metrics": m, "bg": ev.metrics["probabilistic"]}


def run(name: str, days: pd.DataFrame) -> None:
    final = days["date"].max() - pd.Timedelta(days=HORIZON)
    print(f"\n{name}: {days['customer_id'].nunique():,} customers, {len(days):,} customer-days")
    choice = scored("validation", days, final - pd.Timedelta(days=HORIZON))
    scored("final", days, final, spend_choice=choice["spend"], churn_choice=choice["churn"])


def origins(name: str, days: pd.DataFrame, steps=(90, 60, 30, 0)) -> None:
    """Every engine candidate at several validation cut-offs (all before the final split's): how stable is
    each choice? Spend total error per model and churn AUC per model, one row per cut-off."""
    final = days["date"].max() - pd.Timedelta(days=HORIZON)
    print(f"\n{name}: rolling validation cut-offs (each scored on its next {HORIZON} / {engine.CHURN_DAYS} days)")
    print(f"    {'cut-off':<12}{'BG/NBD×GG':>11}{'regression':>11}{'  churn AUC: ' + ', '.join(engine.CHURN_MODELS)}")
    aucs: dict[str, list[float]] = {m: [] for m in engine.CHURN_MODELS}
    for step in steps:
        cutoff = final - pd.Timedelta(days=HORIZON + step)
        ev = engine.spend_evaluate(days, cutoff=cutoff, horizon_days=HORIZON)
        ch = engine.churn_evaluate(days, cutoff=cutoff, horizon_days=engine.CHURN_DAYS)
        errs = [ev.metrics[k].get("total_error_pct") for k in ("probabilistic", "regression")]
        cells = [f"{e:>+10.1f}%" if e is not None else f"{'—':>11}" for e in errs]
        for m in engine.CHURN_MODELS:
            if ch.metrics[m].get("auc") is not None:
                aucs[m].append(ch.metrics[m]["auc"])
        row = ", ".join(f"{ch.metrics[m]['auc']:.3f}" if ch.metrics[m].get("auc") else "—" for m in engine.CHURN_MODELS)
        print(f"    {cutoff.date()!s:<12}{''.join(cells)}  {row}")
    print("    mean churn AUC: " + ", ".join(f"{m} {np.mean(v):.3f}" for m, v in aucs.items() if v))


# The issue's size: 25,000 customers and about 70,000 receipts over three years (a light-buying chain).
SPEED_TRUTH = engine.BGNBD(r=0.8, alpha=85.0, a=1.0, b=1.6)


def speed(n: int = 25_000) -> None:
    """A whole training run's engine steps, as customer_models._execute runs them (spend evaluate + predict,
    churn evaluate + predict, discount evaluate + refit + predict), on n customers; and a plain BG/NBD +
    Gamma-Gamma fit for the spend step to be compared with."""
    days = simulated_days(n=n, seed=7, truth=SPEED_TRUTH, joining_days=700)
    days["store_id"] = days["customer_id"] % 12
    days["discount"] = np.where(days["customer_id"] % 3 == 0, days["amount"] * 0.1, 0.0)
    end = days["date"].max()
    cutoff = end - pd.Timedelta(days=HORIZON)
    tiers = pd.Series(days["customer_id"].unique() % 4, index=days["customer_id"].unique(), dtype=float)
    print(
        f"\nspeed: {days['customer_id'].nunique():,} customers, {len(days):,} receipts (customer-days); "
        f"uptime: {os.popen('uptime').read().strip()}"
    )
    engine.spend_regression_fit(days, as_of=cutoff, horizon_days=HORIZON)  # scikit-learn's import, not timed
    steps: dict[str, float] = {}
    plain = math.inf
    for _ in range(2):  # the first fit also warms scipy up: keep the faster of two
        t0 = time.perf_counter()
        summary = engine.rfm_summary(days[days["date"] <= cutoff], as_of=cutoff)
        engine.probabilistic_fit(summary).predict(summary, HORIZON)
        plain = min(plain, time.perf_counter() - t0)

    def timed(name, fn):
        t = time.perf_counter()
        out = fn()
        steps[name] = time.perf_counter() - t
        return out

    t_all = time.perf_counter()
    ev = timed("spend evaluate", lambda: engine.spend_evaluate(days, cutoff=cutoff, horizon_days=HORIZON))
    ch = timed("churn evaluate", lambda: engine.churn_evaluate(days, cutoff=cutoff, tiers=tiers))

    def discount():
        engine.discount_evaluate(days, cutoff=cutoff, horizon_days=HORIZON, tiers=tiers)
        _, model = engine.discount_evaluate(days, cutoff=end, horizon_days=HORIZON, tiers=tiers)
        return engine.discount_predict(model, days, as_of=end, horizon_days=HORIZON, tiers=tiers)

    timed("discount", discount)
    timed("spend predict", lambda: engine.spend_predict(days, as_of=end, horizons=(HORIZON, 365)))
    timed("season", lambda: engine.seasonal_index(days, start=end, horizon_days=HORIZON))
    timed("churn predict", lambda: engine.churn_predict(days, as_of=end, model=ch.chosen, tiers=tiers))
    whole = time.perf_counter() - t_all
    print("  " + "; ".join(f"{k} {v:.2f} s" for k, v in steps.items()))
    print(
        f"  plain BG/NBD + Gamma-Gamma fit {plain:.2f} s; spend step (evaluate) {steps['spend evaluate']:.2f} s "
        f"({steps['spend evaluate'] / plain:.1f}×, target ≤ 3×); whole run {whole:.1f} s (target ≤ 20 s); "
        f"kept: spend {ev.chosen}, churn {ch.chosen}; load {os.getloadavg()[0]:.2f}"
    )


def main() -> None:
    print("bench/customers.py — spend and churn, validation and final splits; speed")
    print("machine:", machine())
    if "--speed-only" in sys.argv:  # only the speed run: skip the real data's splits
        pass
    elif REAL.exists():
        real = real_days()
        if "--origins" in sys.argv:
            origins("Online Retail 2010–2011 (UCI)", real)
        run("Online Retail 2010–2011 (UCI), customers with an id", real)
    else:
        print(f"\n(skipped: {REAL} not found)")
    speed()
    if "--demo" in sys.argv:
        days, label = demo_days()
        run(label, days)


if __name__ == "__main__":
    main()
