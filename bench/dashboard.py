"""Benchmark of the dashboard partials and exports on a large chain (DESIGN §10: p95 ≤ 150 ms per partial).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/retailops_bench_dash \\
        .venv/bin/python bench/dashboard.py --lines 10000000 [--repeat 30] [--rebuild]

Builds the chain once (kept between runs; --rebuild starts over): with `manage.py seed_demo --scale N`
when the demo generator exists, else with the set-based builder below (COPY on PostgreSQL), which
writes sales, sale lines, the matching stock ledger, purchase orders, and rebuilds the rollups. Then
requests every partial, page and export through Django's test client as a logged-in owner, several
times per filter, and prints p50 / p95 per URL with the machine it ran on. Not a test.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import psycopg
from machine_info import cpu_model, memory_gib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "retailops.settings")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/retailops_bench_dash"


def setup(db_url: str) -> None:
    os.environ["DATABASE_URL"] = db_url
    if db_url.startswith("postgres"):
        name = db_url.rsplit("/", 1)[1]
        admin = db_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# --------------------------------------------------------------------------- building the chain


def sale_line_count() -> int:
    from sales.models import SaleLine

    return SaleLine.objects.count()


def seed_with_demo(lines: int) -> bool:
    """Use the demo generator when it exists; returns False when it does not (yet)."""
    from django.core.management import call_command, get_commands

    if "seed_demo" not in get_commands():
        return False
    # The default demo (15 stores × 100 products × 3 years, ~22 lines a store-day) has about 360,000 sale
    # lines; --scale multiplies the stores, customers and receipts.
    scale = max(1, round(lines / 360_000))
    print(f"seed_demo --scale {scale}", flush=True)
    call_command("seed_demo", scale=scale)
    return True


def build_chain(*, lines: int, stores: int = 15, products: int = 100, days: int = 1095, seed: int = 7) -> None:
    """A chain with about `lines` sale lines over `days` days ending today, written set-based.

    Every sale line has its sale movement in the ledger; weekly receipts (paid purchase orders) refill
    the shelves; a few count corrections; stock levels = Σ movements; rollups rebuilt from the lines.
    """
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from inventory.models import Category, Product, PurchaseOrder, Store, Supplier
    from sales.rollups import rollups_rebuild

    rng = np.random.default_rng(seed)
    tz = timezone.get_current_timezone()
    today = timezone.localdate()
    first_day = today - timedelta(days=days - 1)
    t0 = time.perf_counter()

    chains = ["North", "South", "East", "West", "Metro"]
    store_objs = [
        Store.objects.create(code=f"B{i:03d}", name=f"Bench store {i}", chain=chains[i % 5], timezone=str(tz))
        for i in range(stores)
    ]
    tops = [Category.objects.create(name=f"Dept {i}") for i in range(5)]
    subs = [Category.objects.create(name=f"Aisle {i}", parent=tops[i % 5]) for i in range(15)]
    suppliers = [Supplier.objects.create(code=f"BS{i}", name=f"Bench supplier {i}", lead_time_days=7) for i in range(5)]
    mrp = np.round(rng.uniform(1, 20, products), 2)
    prods = Product.objects.bulk_create(
        [
            Product(
                sku=f"BENCH{i:05d}",
                name=f"Bench product {i}",
                category=subs[i % len(subs)],
                supplier=suppliers[i % len(suppliers)],
                mrp=Decimal(f"{mrp[i]:.2f}"),
                dp=Decimal(f"{mrp[i] * 0.9:.2f}"),
                cost_price=Decimal(f"{mrp[i] * 0.6:.2f}"),
                case_pack=6,
            )
            for i in range(products)
        ]
    )
    store_ids = np.array([s.pk for s in store_objs])
    product_ids = np.array([p.pk for p in prods])
    owner = get_user_model().objects.filter(is_superuser=False, groups__name="owner").first()

    # Receipts: Poisson per store × day with weekly seasonality; 2.5 lines per receipt on average.
    receipts_total = int(lines / 2.5)
    weights = np.tile(1 + 0.3 * (np.arange(days) % 7 >= 5), stores) * np.repeat(rng.uniform(0.5, 1.5, stores), days)
    per_cell = rng.multinomial(receipts_total, weights / weights.sum())
    cell_store = np.repeat(np.repeat(np.arange(stores), days), per_cell)
    cell_day = np.repeat(np.tile(np.arange(days), stores), per_cell)
    n_sales = len(cell_store)
    n_lines = rng.integers(1, 5, n_sales)  # 1..4 lines
    sale_idx = np.repeat(np.arange(n_sales), n_lines)
    total_lines = len(sale_idx)
    # A long tail: the k-th most popular product sells about 1 / k^0.8 as much as the first.
    popularity = 1.0 / np.arange(1, products + 1) ** 0.8
    rng.shuffle(popularity)
    popularity = popularity / popularity.sum()
    line_product = rng.choice(products, size=total_lines, p=popularity)
    qty = rng.integers(1, 4, total_lines)
    is_return = rng.random(n_sales) < 0.01
    price_kind = rng.choice(3, size=total_lines, p=[0.7, 0.2, 0.1])  # mrp, dp, promo
    unit_mrp = mrp[line_product]
    unit_price = np.round(
        np.where(price_kind == 0, unit_mrp, np.where(price_kind == 1, unit_mrp * 0.9, unit_mrp * 0.8)), 2
    )
    unit_cost = np.round(unit_mrp * 0.6, 4)
    sign = np.where(is_return[sale_idx], -1, 1)
    q = qty * sign
    line_total = np.round(unit_price * q, 2)
    discount = np.round((unit_mrp - unit_price) * q, 2)
    cost = np.round(q * unit_cost, 2)
    seconds = rng.integers(8 * 3600, 21 * 3600, n_sales)
    print(f"generated {n_sales:,} receipts / {total_lines:,} lines in {time.perf_counter() - t0:.0f}s", flush=True)

    sale_total = np.bincount(sale_idx, weights=line_total, minlength=n_sales)
    sale_discount = np.bincount(sale_idx, weights=discount, minlength=n_sales)
    sale_cost = np.bincount(sale_idx, weights=cost, minlength=n_sales)
    pay = np.array(["card", "cash", "mobile", "voucher"])[rng.choice(4, n_sales, p=[0.6, 0.25, 0.13, 0.02])]
    price_names = np.array(["mrp", "dp", "promo"])

    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM sales_sale")
        first_sale_id = cursor.fetchone()[0] + 1
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM sales_saleline")
        first_line_id = cursor.fetchone()[0] + 1
    now_text = ts(timezone.now())

    def sale_rows():
        for i in range(n_sales):
            day = first_day + timedelta(days=int(cell_day[i]))
            at = ts(datetime.combine(day, datetime.min.time(), tzinfo=tz) + timedelta(seconds=int(seconds[i])))
            yield (
                first_sale_id + i,
                int(store_ids[cell_store[i]]),
                f"B{i:09d}",
                at,
                day.isoformat(),
                "return" if is_return[i] else "sale",
                str(pay[i]),
                f"{sale_total[i]:.2f}",
                f"{sale_discount[i]:.2f}",
                f"{sale_cost[i]:.2f}",
                0,
                0,
                "bench",
                now_text,
            )

    line_no = np.arange(total_lines) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines) + 1

    def line_rows():
        for j in range(total_lines):
            yield (
                first_line_id + j,
                first_sale_id + int(sale_idx[j]),
                int(line_no[j]),
                int(product_ids[line_product[j]]),
                int(q[j]),
                f"{unit_mrp[j]:.2f}",
                f"{unit_price[j]:.2f}",
                str(price_names[price_kind[j]]),
                f"{discount[j]:.2f}",
                f"{unit_cost[j]:.4f}",
                f"{line_total[j]:.2f}",
            )

    def movement_rows():
        for j in range(total_lines):
            i = int(sale_idx[j])
            day = first_day + timedelta(days=int(cell_day[i]))
            at = datetime.combine(day, datetime.min.time(), tzinfo=tz) + timedelta(seconds=int(seconds[i]))
            yield (
                int(store_ids[cell_store[i]]),
                int(product_ids[line_product[j]]),
                int(-q[j]),
                "return" if is_return[i] else "sale",
                f"{unit_cost[j]:.4f}",
                "sales.saleline",
                first_line_id + j,
                ts(at),
                now_text,
                "",
            )

    copy_rows(
        "sales_sale",
        [
            "id",
            "store_id",
            "pos_reference",
            "occurred_at",
            "local_date",
            "kind",
            "payment_method",
            "total",
            "discount_total",
            "cost_total",
            "points_earned",
            "points_redeemed",
            "content_hash",
            "created_at",
        ],
        sale_rows(),
    )
    print(f"sales written {time.perf_counter() - t0:.0f}s", flush=True)
    copy_rows(
        "sales_saleline",
        [
            "id",
            "sale_id",
            "line_no",
            "product_id",
            "quantity",
            "unit_mrp",
            "unit_price",
            "price_type",
            "discount",
            "unit_cost",
            "line_total",
        ],
        line_rows(),
    )
    print(f"lines written {time.perf_counter() - t0:.0f}s", flush=True)
    mv_cols = [
        "store_id",
        "product_id",
        "quantity",
        "kind",
        "unit_cost",
        "source_type",
        "source_id",
        "occurred_at",
        "recorded_at",
        "reason",
    ]
    copy_rows("inventory_stockmovement", mv_cols, movement_rows())
    print(f"ledger written {time.perf_counter() - t0:.0f}s", flush=True)

    # Openings and weekly receipts that refill what the week sold (+ a little), paid the same day.
    sold = np.zeros((stores, products, days // 7 + 1))
    np.add.at(sold, (cell_store[sale_idx], line_product, cell_day[sale_idx] // 7), q)
    other = []
    opening_at = ts(datetime.combine(first_day - timedelta(days=1), datetime.min.time(), tzinfo=tz))
    orders = []
    for s in range(stores):
        for p in range(products):
            other.append(
                (
                    int(store_ids[s]),
                    int(product_ids[p]),
                    200,
                    "opening",
                    f"{mrp[p] * 0.6:.4f}",
                    "",
                    None,
                    opening_at,
                    now_text,
                    "",
                )
            )
    for w in range(days // 7 + 1):
        received = datetime.combine(first_day + timedelta(days=7 * w + 6), datetime.min.time(), tzinfo=tz)
        if received.date() > today:
            break
        for s in range(stores):
            value = Decimal("0")
            for p in range(products):
                refill = int(sold[s, p, w] * rng.uniform(0.9, 1.2))
                if refill > 0:
                    other.append(
                        (
                            int(store_ids[s]),
                            int(product_ids[p]),
                            refill,
                            "receipt",
                            f"{mrp[p] * 0.6:.4f}",
                            "",
                            None,
                            ts(received + timedelta(hours=7)),
                            now_text,
                            f"week {w}",
                        )
                    )
                    value += Decimal(f"{refill * mrp[p] * 0.6:.2f}")
            orders.append(
                PurchaseOrder(
                    supplier=suppliers[s % 5],
                    store=store_objs[s],
                    status="received",
                    ordered_at=received - timedelta(days=7),
                    paid_at=received,
                    amount_paid=value,
                    reference=f"W{w}",
                    created_by=owner,
                )
            )
        if w % 8 == 0:  # a count correction now and then
            for s in range(stores):
                p = int(rng.integers(products))
                other.append(
                    (
                        int(store_ids[s]),
                        int(product_ids[p]),
                        -int(rng.integers(1, 4)),
                        "count",
                        f"{mrp[p] * 0.6:.4f}",
                        "",
                        None,
                        ts(received + timedelta(hours=20)),
                        now_text,
                        "bench count",
                    )
                )
    copy_rows("inventory_stockmovement", mv_cols, iter(other))
    PurchaseOrder.objects.bulk_create(orders, batch_size=5000)
    open_orders = []
    for s in range(stores):
        o = PurchaseOrder.objects.create(
            supplier=suppliers[s % 5],
            store=store_objs[s],
            status="ordered",
            ordered_at=timezone.now(),
            expected_date=today + timedelta(days=3 + s % 20),
        )
        o.lines.create(product=prods[s % products], quantity_ordered=48, unit_cost=prods[s % products].cost_price)
        open_orders.append(o)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO inventory_stocklevel (store_id, product_id, on_hand, average_cost, review_period_days,
                                              updated_at)
            SELECT m.store_id, m.product_id, SUM(m.quantity), MAX(p.cost_price), 7, %s
            FROM inventory_stockmovement m JOIN inventory_product p ON p.id = m.product_id
            WHERE m.store_id IN (SELECT id FROM inventory_store WHERE code LIKE 'B%%')
            GROUP BY m.store_id, m.product_id
            """,
            [timezone.now()],
        )
    print(f"stock and orders written {time.perf_counter() - t0:.0f}s", flush=True)
    rollups_rebuild(store_ids=[int(s) for s in store_ids])
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in (
                "sales_sale",
                "sales_saleline",
                "inventory_stockmovement",
                "sales_salesdaily",
                "sales_storedaily",
                "inventory_stocklevel",
            ):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
                cursor.execute(f"ANALYZE {table}")
    print(f"rollups rebuilt; chain built in {time.perf_counter() - t0:.0f}s", flush=True)


def ts(moment: datetime) -> str:
    """A UTC timestamp both backends read the way Django writes them."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def copy_rows(table: str, columns: list[str], rows) -> None:
    """Bulk insert: COPY on PostgreSQL, executemany in chunks elsewhere."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
        chunk = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= 20000:
                cursor.executemany(sql, chunk)
                chunk = []
        if chunk:
            cursor.executemany(sql, chunk)


# --------------------------------------------------------------------------- measuring


# Ad-hoc indexes earlier runs of this script created; the migrations now hold what the pages need
# (inventory.0002: movement_other_time, a partial index of the non-sale movements by time).
STALE_INDEXES = ("movement_kind_time",)


def prepare_database(*, built: bool) -> None:
    """Drop stale ad-hoc indexes; after a build, VACUUM ANALYZE (the loaders write tens of millions of rows
    with COPY and leave the planner statistics and visibility map empty), else a plain ANALYZE."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    t = time.perf_counter()
    with connection.cursor() as cursor:
        for name in STALE_INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
        cursor.execute("VACUUM ANALYZE" if built else "ANALYZE")
    print(f"{'vacuum + ' if built else ''}analyze: {time.perf_counter() - t:.1f}s", flush=True)


def bench_user():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    User = get_user_model()
    user, created = User.objects.get_or_create(username="bench_owner", defaults={"is_staff": True})
    if created:
        user.set_password("bench-pass-123")
        user.save()
        user.groups.add(Group.objects.get(name="owner"))
    return user


def targets(store_id: int) -> list[tuple[str, str, str]]:
    """(kind, url name, query) — every partial with the filters an owner uses most, the pages, the exports."""
    from django.urls import reverse

    periods = ["period=today", "period=month", "period=90d", "period=year"]
    out = []
    for name in ("dashboard_kpis", "dashboard_trend", "dashboard_stores", "dashboard_categories", "dashboard_products"):
        for q in periods:
            out.append(("partial", reverse(f"reports:{name}"), q))
        out.append(("partial", reverse(f"reports:{name}"), f"period=month&store={store_id}"))
    for name in ("inventory_dashboard_overview",):
        for q in ("period=30d", "period=90d", f"period=30d&store={store_id}"):
            out.append(("partial", reverse(f"reports:{name}"), q))
    for name in ("profit_summary", "profit_months", "profit_breakdown"):
        for q in ("period=month", "period=year"):
            out.append(("partial", reverse(f"reports:{name}"), q))
    for name in ("cashflow_periods", "cashflow_forward"):
        for q in ("period=90d", "period=year"):
            out.append(("partial", reverse(f"reports:{name}"), q))
    for name in ("dashboard", "inventory_dashboard", "profit", "cashflow"):
        out.append(("page", reverse(f"reports:{name}"), ""))
    from django.utils import timezone

    today = timezone.localdate()
    last_month_end = today.replace(day=1) - timedelta(days=1)
    month = f"start={last_month_end.replace(day=1).isoformat()}&end={last_month_end.isoformat()}"
    for report in (
        "sales_journal",
        "gross_profit",
        "inventory_valuation",
        "stock_adjustments",
        "purchases",
        "points_liability",
    ):
        out.append(("export", reverse("reports:export_report", kwargs={"report": report, "fmt": "csv"}), month))
    out.append(("export", reverse("reports:export_report", kwargs={"report": "gross_profit", "fmt": "xlsx"}), month))
    out.append(("export", reverse("reports:export_zip"), month))
    return out


def measure(repeat: int) -> list[dict]:
    from django.test import Client

    from inventory.models import Store

    client = Client()
    client.force_login(bench_user())
    store = Store.objects.filter(code__startswith="B").order_by("code").first() or Store.objects.first()
    results = []
    for kind, url, query in targets(store.pk):
        n = max(3, repeat // 5) if kind != "partial" else repeat
        full = f"{url}?{query}" if query else url
        first = client.get(full, headers={"HX-Request": "true"} if kind == "partial" else {})
        assert first.status_code == 200, (full, first.status_code)
        times = []
        for _ in range(n):
            t = time.perf_counter()
            response = client.get(full, headers={"HX-Request": "true"} if kind == "partial" else {})
            times.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200
        times.sort()
        p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
        results.append({"kind": kind, "url": full, "n": n, "p50": statistics.median(times), "p95": p95})
        print(f"{kind:8} {full[:88]:88} n={n:3d} p50={statistics.median(times):7.1f} ms p95={p95:7.1f} ms", flush=True)
    return results


def machine() -> str:
    cpu = cpu_model(platform.processor() or platform.machine())
    gib = memory_gib()
    mem = f", {gib:.0f} GB RAM" if gib is not None else ""
    return f"{cpu}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--lines", type=int, default=10_000_000, help="sale lines to build (about)")
    parser.add_argument("--repeat", type=int, default=30, help="requests per partial and filter")
    parser.add_argument("--rebuild", action="store_true", help="drop the database and build the chain again")
    parser.add_argument("--builder", choices=["auto", "bench", "demo"], default="auto")
    parser.add_argument("--stores", type=int, default=30, help="stores of the bench builder")
    parser.add_argument("--products", type=int, default=200, help="products of the bench builder")
    args = parser.parse_args()
    if args.rebuild and args.db.startswith("postgres"):
        name = args.db.rsplit("/", 1)[1]
        with psycopg.connect(args.db.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    setup(args.db)
    bench_user()
    existing = sale_line_count()
    built = existing < args.lines * 0.9
    if built:
        used_demo = args.builder != "bench" and seed_with_demo(args.lines)
        if not used_demo:
            if args.builder == "demo":
                sys.exit("seed_demo is not available yet")
            build_chain(lines=args.lines - existing, stores=args.stores, products=args.products)
    from django.db import connection

    from sales.models import SalesDaily, StoreDaily

    lines = sale_line_count()
    print(f"\nmachine: {machine()}")
    print(
        f"database: {connection.vendor} {connection.settings_dict['NAME']} · sale lines {lines:,} · "
        f"SalesDaily {SalesDaily.objects.count():,} · StoreDaily {StoreDaily.objects.count():,}\n",
        flush=True,
    )
    prepare_database(built=built)
    results = measure(args.repeat)
    partials = [r for r in results if r["kind"] == "partial"]
    worst = max(partials, key=lambda r: r["p95"])
    over = [r for r in partials if r["p95"] > 150]
    print(
        f"\nsummary: {len(partials)} partial × filter combinations, worst p95 {worst['p95']:.1f} ms ({worst['url']}); "
        f"{len(over)} over the 150 ms target"
    )
    for r in results:
        if r["kind"] != "partial":
            print(f"  {r['kind']:6} {r['url'][:80]:80} p50 {r['p50']:7.1f} ms  p95 {r['p95']:7.1f} ms")


if __name__ == "__main__":
    main()
