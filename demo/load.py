"""The demo chain: a deterministic, realistic small UK retail chain with about three years of trading.

demo_load() simulates stock per store × product day by day (numpy across all series at once) and
streams set-based inserts (SQLite executemany / PostgreSQL COPY) for sales, sale lines, the stock
ledger, the points ledger, purchase orders, goods receipts and stock counts, then rebuilds the rollups.
The result keeps the project's invariants: StockLevel.on_hand == Σ StockMovement.quantity per store ×
product, Customer.points_balance == Σ PointsEntry.points, and sale totals computed the way
sales.services._write_sale computes them. The same seed and end date always give the same chain.

This module holds the entry points (demo_load, demo_reset, demo_counts, the config and the summary); the
loader is put together from demo.catalogue (the chain's tables and master data), demo.simulation (the
day-by-day numpy simulation) and demo.writers (the set-based writes, the stock ledger's in stock_ledger_write).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management.color import no_style
from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from customers.models import Customer, PointsEntry
from inventory.models import (
    Category,
    GoodsReceipt,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    StockCount,
    StockCountLine,
    StockLevel,
    StockMovement,
    Store,
    Supplier,
)
from sales.models import ImportBatch, RollupChange, Sale, SaleLine, SalesDaily
from sales.rollups import rollups_rebuild
from sales.services import customer_tiers_requalify

from .catalogue import CHAINS, DEMO_USERS, POS_USERNAME, _Catalogue, demo_users_create, pos_username
from .simulation import _Simulation
from .writers import _sqlite_indexes_drop, _sqlite_indexes_restore, _Writers

# --- configuration and result ---------------------------------------------------------------------


@dataclass(frozen=True)
class DemoConfig:
    seed: int = 2026
    stores: int = 15
    stores_per_chain: int = 3
    products: int = 100
    customers: int = 2000
    years: float = 3.0
    days: int | None = None  # overrides years (tests use a few months)
    end_date: date | None = None  # default: yesterday in Europe/London
    lines_per_store_day: float = 22.0  # demand before stockouts: average sale lines per store and day
    basket_lines: float = 1.7
    member_share: float = 0.32
    return_rate: float = 0.015
    users: bool = True
    chunk_rows: int = 50_000

    @property
    def n_days(self) -> int:
        return self.days if self.days else max(28, round(self.years * 365.25))

    @property
    def last_day(self) -> date:
        return self.end_date or (timezone.now().astimezone(ZoneInfo("Europe/London")).date() - timedelta(days=1))

    @property
    def first_day(self) -> date:
        return self.last_day - timedelta(days=self.n_days - 1)


def demo_config(*, scale: int = 1, seed: int = 2026, end_date: date | None = None, years: float = 3.0) -> DemoConfig:
    """The default chain (15 stores in 5 chains, 100 products, 2,000 customers), `scale` times larger."""
    scale = max(1, int(scale))
    return DemoConfig(
        seed=seed,
        stores=15 * scale,
        stores_per_chain=3 * scale,
        customers=2000 * scale,
        end_date=end_date,
        years=years,
    )


@dataclass
class DemoSummary:
    seconds: float
    first_day: date
    last_day: date
    counts: dict[str, int]
    stats: dict[str, int]
    logins: list[tuple[str, str, str]] = field(default_factory=list)
    pos_tokens: dict[str, str] = field(default_factory=dict)  # store code → its POS device's API token
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        c, s = self.counts, self.stats
        out = [
            f"Demo chain loaded in {self.seconds:.1f} s: {self.first_day} to {self.last_day} "
            f"({(self.last_day - self.first_day).days + 1} days).",
            f"  {c['stores']:,} stores · {c['suppliers']:,} suppliers · {c['categories']:,} categories · "
            f"{c['products']:,} products · {c['customers']:,} customers",
            f"  {c['sales']:,} receipts ({s['returns']:,} returns) · {c['sale_lines']:,} sale lines · "
            f"{c['stock_movements']:,} stock movements · {c['points_entries']:,} points entries",
            f"  {c['purchase_orders']:,} purchase orders ({c['purchase_order_lines']:,} lines, "
            f"{c['goods_receipts']:,} deliveries) · {c['stock_counts']:,} stock counts "
            f"({c['stock_count_lines']:,} lines) · {c['sales_daily']:,} daily rollup rows",
            f"  {s['promotions']:,} promotions · {s['stockout_days']:,} store × product days with an empty "
            f"shelf ({s['lost_units']:,} units of demand lost) · {s['shrink_units']:,} units of shrinkage",
        ]
        out += [f"  note: {n}" for n in self.notes]
        return out


def demo_database_empty() -> bool:
    return not Store.objects.exists()


# A store the demo made: its chain's prefix and a number (CL01 … LM06, more digits at a large --scale).
DEMO_STORE_CODE = re.compile(rf"(?:{'|'.join(prefix for prefix, *_rest in CHAINS)})\d{{2,}}")
DEMO_TILL_PREFIX = "TILL-"  # demo.till's receipts; the loader's are "<store code>-<day>-<n>"


class DemoResetRefused(Exception):
    """demo_reset() was asked to wipe a database that holds data the demo did not make."""


def demo_foreign_data() -> list[str]:
    """What in the database the demo did not make, one phrase each (empty: only the demo's data).

    Three signs, each cheap on a demo-sized database: a store whose code is not a demo code (CL01 …), an import
    batch (a file someone uploaded or a watch folder read), a receipt whose reference is neither the loader's
    ("<its store's code>-…") nor the demo till's ("TILL-…"), i.e. posted by a real POS device or an import.
    Users are not a sign: demo_reset() deletes only the demo's own users.
    """
    found = []
    stores = [code for code in Store.objects.values_list("code", flat=True) if not DEMO_STORE_CODE.fullmatch(code)]
    if stores:
        examples = ", ".join(sorted(stores)[:5]) + (" …" if len(stores) > 5 else "")
        found.append(f"{len(stores):,} store{'s' if len(stores) != 1 else ''} not in the demo catalogue ({examples})")
    batches = ImportBatch.objects.count()
    if batches:
        found.append(f"{batches:,} import{'s' if batches != 1 else ''} of sales files")
    receipts = (
        Sale.objects.exclude(pos_reference__startswith=DEMO_TILL_PREFIX)
        .exclude(pos_reference__startswith=Concat(F("store__code"), Value("-")))
        .count()
    )
    if receipts:
        found.append(f"{receipts:,} receipt{'s' if receipts != 1 else ''} not made by the demo")
    return found


def demo_reset(*, force: bool = False) -> None:
    """Wipe every table of the project's apps and the demo users (ledgers refuse QuerySet.delete()).

    For the demo loader only: a flush of the inventory, customers, sales and forecasting tables. Refuses
    (DemoResetRefused, nothing deleted) when the database holds data the demo did not make, unless `force`.
    """
    if not force:
        foreign = demo_foreign_data()
        if foreign:
            raise DemoResetRefused(
                "This database holds data the demo did not make: "
                + "; ".join(foreign)
                + ". --reset would delete every store, product, customer, receipt and forecast in it. "
                "Point DATABASE_URL at a demo database, or add --i-know-this-deletes-real-data to delete it anyway."
            )
    pos_names = [pos_username(s) for s in Store.objects.all()]  # read before the flush empties the stores
    tables = []
    for label in ("forecasting", "sales", "customers", "inventory"):
        for model in apps.get_app_config(label).get_models(include_auto_created=True):
            # The rollup change log stays (ids never restart): a shared cache keyed by its count and last id
            # must not take the new chain's days for the old one's.
            if model is not RollupChange:
                tables.append(model._meta.db_table)
    with transaction.atomic():
        statements = connection.ops.sql_flush(no_style(), tables, reset_sequences=True, allow_cascade=True)
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
        names = [u[0] for u in DEMO_USERS] + [POS_USERNAME, *pos_names]
        get_user_model().objects.filter(username__in=names).delete()


# --- the loader -----------------------------------------------------------------------------------


class _Loader(_Catalogue, _Simulation, _Writers):
    """One load of the chain: the catalogue, the day-by-day simulation and the writers share its state."""

    def __init__(self, config: DemoConfig, log: Callable[[str], None]):
        self.config = config
        self.log = log
        self.rng = np.random.default_rng(config.seed)
        self.postgres = connection.vendor == "postgresql"
        self.now = timezone.now().replace(microsecond=0)
        self.now_value = self.ts_value(int(self.now.timestamp()))
        self.days = [config.first_day + timedelta(days=i) for i in range(config.n_days)]
        self.D = len(self.days)
        self.stats = dict.fromkeys(("promotions", "returns", "stockout_days", "lost_units", "shrink_units"), 0)
        self.notes: list[str] = []


def demo_load(*, config: DemoConfig, log: Callable[[str], None] | None = None) -> DemoSummary:
    """Load the demo chain into an empty database in one transaction and rebuild the rollups.

    Deterministic for a given config (seed, sizes, end date). Raises ValueError when stores exist.
    """
    log = log or (lambda _msg: None)
    started = time.monotonic()
    if not demo_database_empty():
        raise ValueError("The database already holds stores: reset it first.")
    loader = _Loader(config, log)
    if not loader.postgres and not connection.in_atomic_block:
        # A bigger page cache and in-memory sorts for the index builds (settings of this connection only).
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size = -262144")
            cursor.execute("PRAGMA temp_store = MEMORY")
    with transaction.atomic():
        if loader.postgres:
            loader.fast_postgres()
        else:
            dropped = _sqlite_indexes_drop()
        loader.clock()
        loader.masters()
        loader.zones()
        if config.users:
            loader.users, loader.pos_tokens = demo_users_create(stores=loader.stores)
        loader.customers()
        loader.series()
        loader.writers()
        loader.run()
        loader.calendar_write()
        loader.finish()
        if not loader.postgres:
            _sqlite_indexes_restore(dropped)
        log(f"  data written in {time.monotonic() - started:.1f} s; rebuilding the daily rollups …")
        rollups_rebuild()
        # The starting tiers only set the points multiplier of the simulated history; what a member holds
        # is the tier rule applied to their spend over the tier window at the end of the last day, as the
        # nightly job keeps it (one TierChange per member moved, dated then).
        end_of_last_day = datetime.combine(
            loader.days[-1] + timedelta(days=1), datetime.min.time(), ZoneInfo("Europe/London")
        )
        customer_tiers_requalify(as_of=end_of_last_day)
    counts = demo_counts()
    summary = DemoSummary(
        seconds=time.monotonic() - started,
        first_day=loader.days[0],
        last_day=loader.days[-1],
        counts=counts,
        stats={k: int(v) for k, v in loader.stats.items()},
        logins=[(u, pw, role) for u, pw, role, *_ in DEMO_USERS] if config.users else [],
        pos_tokens=getattr(loader, "pos_tokens", {}),
        notes=loader.notes,
    )
    return summary


def demo_counts() -> dict[str, int]:
    tables = {
        "stores": Store,
        "suppliers": Supplier,
        "categories": Category,
        "products": Product,
        "customers": Customer,
        "sales": Sale,
        "sale_lines": SaleLine,
        "stock_movements": StockMovement,
        "points_entries": PointsEntry,
        "purchase_orders": PurchaseOrder,
        "purchase_order_lines": PurchaseOrderLine,
        "goods_receipts": GoodsReceipt,
        "stock_counts": StockCount,
        "stock_count_lines": StockCountLine,
        "stock_levels": StockLevel,
        "sales_daily": SalesDaily,
    }
    return {name: model.objects.count() for name, model in tables.items()}
