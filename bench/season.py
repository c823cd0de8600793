"""How often the "season coming back" alert is right — on the demo chain in the project's database. Not a test.

    make demo   # once: the demo chain (three years of daily sales) in the default SQLite database
    .venv/bin/python bench/season.py [--origins 8] [--every 28] [--jobs 2]

The alert (forecasting.policy.season_turning) fires when the same 28 days a year earlier sold at least half
as much again as the forecast and 5 units more. Here it is replayed at earlier origins: at each, the engine
forecasts every store × product from the sales before it (what a nightly run would have done), the rule is
applied, and the next 28 days — which really happened — say whether the turn came. Printed per origin and
in total: how many series were flagged, the share of flags that came true (the same test on what sold)
against the share of all series where it came, and, on the flagged series, the error of the forecast
against the error of ordering last year's figure instead.
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
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "retailops.settings")

from forecast import machine  # noqa: E402  (beside this script)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--origins", type=int, default=8, help="how many earlier origins to replay")
    parser.add_argument("--every", type=int, default=28, help="days between origins")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    import django

    django.setup()
    from forecasting import engine, policy, selectors
    from sales.models import SalesDaily

    span, year = policy.SEASON_DAYS, selectors.LAST_YEAR.days

    print("RetailOps season-alert benchmark")
    print("machine: " + machine())
    rows = list(SalesDaily.objects.values_list("store_id", "product_id", "date", "units"))
    if not rows:
        sys.exit("No sales in the database: run `make demo` first (or point DATABASE_URL at a chain).")
    sales = pd.DataFrame(rows, columns=["store", "product", "ds", "y"])
    sales["unique_id"] = sales["store"].astype(str) + ":" + sales["product"].astype(str)
    sales["ds"] = pd.to_datetime(sales["ds"])
    sales["y"] = sales["y"].astype(float)
    end = pd.Timestamp(selectors.last_complete_day())
    first = sales["ds"].min()
    print(f"    {sales['unique_id'].nunique()} series, sales {first:%d %b %Y} – {end:%d %b %Y}")
    wide = sales.pivot_table(index="unique_id", columns="ds", values="y", aggfunc="sum", fill_value=0.0)
    days = pd.date_range(first, end, freq="D")
    cum = np.concatenate([np.zeros((len(wide), 1)), wide.reindex(columns=days, fill_value=0.0).to_numpy().cumsum(1)], 1)

    def total(start: pd.Timestamp) -> np.ndarray:
        i = (start - first).days
        return cum[:, i + span] - cum[:, i]

    total_flags = total_hits = total_series = total_came = 0
    err = {"the forecast": 0.0, "last year's figure": 0.0, "halfway between": 0.0}
    bias = dict.fromkeys(err, 0.0)
    units = 0.0
    latest = end - pd.Timedelta(days=span - 1)  # the last origin whose next 28 days have all been sold
    origins = [latest - pd.Timedelta(days=args.every * k) for k in range(args.origins)][::-1]
    for origin in origins:
        if origin - pd.Timedelta(days=year) < first:
            print(f"    {origin:%d %b %Y}: skipped, no year before it")
            continue
        history = sales[sales["ds"] < origin]
        demand = engine.prepare_demand(history[["unique_id", "ds", "y"]], end=origin - pd.Timedelta(days=1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = engine.forecast_frame(demand, horizon=span, n_jobs=args.jobs)
        forecast = result.forecasts.groupby("unique_id")["yhat"].sum().reindex(wide.index).fillna(0.0).to_numpy()
        last_year = total(origin - pd.Timedelta(days=year))
        actual = total(origin)
        flag = np.array([policy.season_turning(a, f) for a, f in zip(last_year, forecast, strict=True)])
        came = np.array([policy.season_turning(a, f) for a, f in zip(actual, forecast, strict=True)])
        hits = int((flag & came).sum())
        total_flags += int(flag.sum())
        total_hits += hits
        total_series += len(flag)
        total_came += int(came.sum())
        for name, guess in zip(err, (forecast, last_year, (forecast + last_year) / 2), strict=True):
            err[name] += float(np.abs(guess - actual)[flag].sum())
            bias[name] += float((guess - actual)[flag].sum())
        units += float(actual[flag].sum())
        print(
            f"    origin {origin:%d %b %Y}: {int(flag.sum())} of {len(flag)} series flagged, "
            f"{hits / max(flag.sum(), 1):.0%} came true (the turn came for {came.mean():.0%} of all series)"
        )
    if not total_flags:
        print("    no series flagged at any origin")
        return
    base = total_came / total_series
    print(
        f"\n    all origins: {total_flags} flags, {total_hits / total_flags:.0%} came true, against {base:.0%} of all "
        f"series (lift {total_hits / total_flags / base:.1f}×)"
    )
    print(
        "    on the flagged series, error of the 28-day total ÷ units sold: "
        + ", ".join(f"{name} {err[name] / units:.1%} (bias {bias[name] / units:+.1%})" for name in err)
    )
    print("\nmachine at the end: " + machine())


if __name__ == "__main__":
    main()
