"""The bi views use the pages' definitions: on the tiny demo chain (PostgreSQL), bi.sales_daily and bi.store_daily
sum to the dashboards' sales_totals, bi.stock_levels to the inventory page's stock value, bi.forecast is each
store's current forecast by forecasting's rule (with a chain run, a newer one-store run and an as-of run),
bi.customers' segments are the Customers page's, and bi_export's Parquet holds the same tables as the views."""

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from demo.load import demo_load
from demo.tests.test_demo import TINY
from forecasting.customer_selectors import customer_segments
from forecasting.models import DemandForecast, ForecastRun
from forecasting.selectors import latest_run_by_store
from inventory.models import Store
from reports import bi
from reports.filters import Filters
from reports.selectors import inventory_overview, sales_totals
from retailops.tests.test_cross_checks import PERIODS, TODAY


def rows(sql: str, params=()) -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


@pytest.fixture
def demo_bi(require_postgres, monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: TODAY)
    demo_load(config=replace(TINY, end_date=TODAY))
    quiet = {"verbosity": 0, "stdout": open("/dev/null", "w")}
    call_command("forecast_run", "--inline", "--horizon", "28", **quiet)
    call_command("forecast_run", "--inline", "--as-of", (TODAY - timedelta(days=28)).isoformat(), **quiet)
    first = Store.objects.order_by("code").first()
    call_command("forecast_run", "--inline", "--horizon", "14", "--store", first.code, **quiet)
    # The views are created inside the test's transaction and read through its connection (no role needed).
    bi.setup(role="retailops_bi_demo_unused", password="demo-only-1")
    yield
    bi.drop_role("retailops_bi_demo_unused")


@pytest.mark.django_db
def test_the_bi_views_give_the_pages_figures_on_the_demo_chain(demo_bi, tmp_path):
    stores = list(Store.objects.order_by("code"))
    for start, end in PERIODS:
        for chosen in (stores, stores[:1]):
            f = Filters(period="custom", start=start, end=end, stores=chosen)
            page = sales_totals(f, start, end)
            ids = [s.pk for s in chosen]
            sums = "SUM(revenue), SUM(cost), SUM(discount), SUM(units), SUM(returns_value)"
            where = "WHERE sale_date BETWEEN %s AND %s AND store_id = ANY(%s)"
            [daily] = rows(f"SELECT {sums} FROM bi.sales_daily {where}", [start, end, ids])
            [store] = rows(f"SELECT {sums}, SUM(receipts) FROM bi.store_daily {where}", [start, end, ids])
            expected = tuple(page[k] for k in ("revenue", "cost", "discount", "units", "returns_value"))
            assert daily == expected, (start, end, len(chosen))
            assert store == (*expected, page["transactions"]), (start, end, len(chosen))
            assert page["revenue"] > 0

    f = Filters(period="custom", start=TODAY - timedelta(days=27), end=TODAY, stores=stores)
    [(value,)] = rows("SELECT SUM(value_at_cost) FROM bi.stock_levels")
    assert value == inventory_overview(f)["total"]["value"] > 0

    # The current forecast of each store: the one-store run for the first store, the chain run for the others.
    assert ForecastRun.objects.count() == 3
    current = latest_run_by_store([s.pk for s in stores])
    assert len({r.pk for r in current.values()}) == 2
    for s in stores:
        expected = sorted(
            DemandForecast.objects.filter(run=current[s.pk], store=s).values_list(
                "product_id", "date", "yhat", "run_id"
            )
        )
        got = rows(
            "SELECT product_id, forecast_date, forecast_units, run_id FROM bi.forecast WHERE store_id = %s "
            "ORDER BY product_id, forecast_date",
            [s.pk],
        )
        assert got == expected and got, s.code

    segments = customer_segments()
    got = dict(rows("SELECT customer_id, segment FROM bi.customers WHERE segment IS NOT NULL"))
    assert got == {int(k): v for k, v in segments["segment"].items()}
    assert len(set(got.values())) > 3

    # bi_export writes the same tables as the views: rows and sums of every number column.
    bi.export(tmp_path)
    for table in bi.TABLES:
        data = pq.read_table(tmp_path / f"{table.name}.parquet")
        numbers = [c.name for c in table.columns if c.type in {"money", "qty", "cost", "int"}]
        [view] = rows(
            "SELECT COUNT(*)" + "".join(f", SUM({n})" for n in numbers) + f" FROM bi.{table.name}",
        )
        exported = [data.num_rows] + [sum((v for v in data.column(n).to_pylist() if v is not None), 0) for n in numbers]
        assert _same(view, exported), (table.name, view, exported)


def _same(view, exported) -> bool:
    return all((v or 0) == (e or 0) or Decimal(v or 0) == Decimal(e or 0) for v, e in zip(view, exported, strict=True))
