"""The demo chain: a deterministic, realistic small UK retail chain with about three years of trading.

demo_load() simulates stock per store × product day by day (numpy across all series at once) and
streams set-based inserts (SQLite executemany / PostgreSQL COPY) for sales, sale lines, the stock
ledger, the points ledger, purchase orders, goods receipts and stock counts, then rebuilds the rollups.
The result keeps the project's invariants: StockLevel.on_hand == Σ StockMovement.quantity per store ×
product, Customer.points_balance == Σ PointsEntry.points, and sale totals computed the way
sales.services._write_sale computes them. The same seed and end date always give the same chain.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.color import no_style
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from customers.models import Customer, LoyaltyTier, PointsEntry
from customers.services import point_value, points_for_amount, tiers_requalify
from inventory.models import (
    Category,
    GoodsReceipt,
    GoodsReceiptLine,
    Product,
    ProductPrice,
    PurchaseOrder,
    PurchaseOrderLine,
    ReasonCode,
    StockCount,
    StockCountLine,
    StockLevel,
    StockMovement,
    Store,
    StoreMembership,
    Supplier,
)
from retailops import roles

from .models import Sale, SaleLine
from .rollups import rollups_rebuild

# --- the chain's catalogue ------------------------------------------------------------------------

# (code prefix, banner, region, time zone, towns)
CHAINS = [
    ("CL", "Corner Larder", "London", "Europe/London", ["Camden", "Islington", "Hackney", "Brixton", "Ealing"]),
    ("HB", "Harbour Stores", "South West", "Europe/London", ["Bristol", "Bath", "Exeter", "Plymouth", "Truro"]),
    ("NP", "Northern Pantry", "North West", "Europe/London", ["Manchester", "Salford", "Preston", "Bolton"]),
    ("TH", "Thistle & Co", "Scotland", "Europe/London", ["Glasgow", "Edinburgh", "Stirling", "Perth"]),
    ("LM", "Liffey Market", "Leinster", "Europe/Dublin", ["Rathmines", "Docklands", "Swords", "Dún Laoghaire"]),
]

# (code, name, lead time days, minimum order value £, payment terms days, review weekdays Mon=0)
SUPPLIERS = [
    ("ALB", "Albion Grocery Wholesale", 3, 150, 30, (0, 3)),
    ("DAL", "Dales Dairy Co-operative", 2, 60, 14, (0, 2, 4)),
    ("BKW", "Bakewell Bakeries", 2, 40, 14, (0, 2, 4)),
    ("BRW", "Brewers' Direct", 5, 250, 30, (1,)),
    ("VIN", "Vintners & Spirits Ltd", 7, 300, 45, (2,)),
    ("CLN", "CleanHome Supplies", 10, 200, 30, (3,)),
    ("PHC", "Pharmacare UK", 6, 120, 30, (1,)),
    ("SEA", "Seasonal Imports Ltd", 14, 400, 60, (0,)),
]

# Yearly demand shapes (normalised to a mean of 1 over the year) and weekly shapes.
SEASONS = ("steady", "summer", "bbq", "winter", "christmas", "drinks", "fresh")
WEEKLY = {
    "default": (0.88, 0.90, 0.95, 1.00, 1.18, 1.32, 0.77),
    "drinks": (0.72, 0.78, 0.85, 1.00, 1.48, 1.62, 0.80),
    "fresh": (0.95, 0.92, 0.95, 1.00, 1.12, 1.30, 0.86),
}

# Top category → sub-categories: (code, name, supplier, case pack, season, weekly shape,
# shrink rates per unit sold (theft, damage, expiry), items (name, list price £[, season override]))
CATALOGUE = [
    (
        "Grocery",
        [
            (
                "TEA",
                "Tea & Coffee",
                "ALB",
                6,
                "steady",
                "default",
                (0.002, 0.002, 0.0),
                [
                    ("Breakfast tea 80 bags", 3.20),
                    ("Breakfast tea 160 bags", 5.60),
                    ("Earl Grey 50 bags", 2.85),
                    ("Green tea 40 bags", 2.40),
                    ("Instant coffee 200 g", 6.75),
                    ("Ground coffee 227 g", 4.50),
                    ("Hot chocolate 400 g", 3.25, "winter"),
                ],
            ),
            (
                "SNK",
                "Biscuits & Snacks",
                "ALB",
                12,
                "steady",
                "default",
                (0.004, 0.003, 0.0),
                [
                    ("Digestive biscuits 400 g", 1.35),
                    ("Chocolate digestives 300 g", 1.85),
                    ("Ready salted crisps 6 pack", 2.10),
                    ("Salted peanuts 200 g", 1.65),
                    ("Shortbread fingers 160 g", 2.20),
                    ("Oat flapjacks 4 pack", 2.50),
                    ("Tortilla chips 200 g", 1.40),
                ],
            ),
            (
                "DRY",
                "Tins & Dry Goods",
                "ALB",
                24,
                "steady",
                "default",
                (0.001, 0.002, 0.0),
                [
                    ("Baked beans 415 g", 1.10),
                    ("Chopped tomatoes 400 g", 0.75),
                    ("Spaghetti 500 g", 0.95),
                    ("Basmati rice 1 kg", 2.60),
                    ("Porridge oats 1 kg", 1.75, "winter"),
                    ("Plain flour 1.5 kg", 1.30),
                    ("Tomato soup 400 g", 1.25, "winter"),
                ],
            ),
        ],
    ),
    (
        "Fresh & Chilled",
        [
            (
                "DAI",
                "Dairy & Eggs",
                "DAL",
                6,
                "fresh",
                "fresh",
                (0.002, 0.004, 0.018),
                [
                    ("Semi-skimmed milk 2 pints", 1.45),
                    ("Whole milk 4 pints", 2.05),
                    ("Mature cheddar 400 g", 3.95),
                    ("Free-range eggs 6", 2.35),
                    ("Salted butter 250 g", 2.29),
                    ("Greek yoghurt 500 g", 2.10),
                    ("Double cream 300 ml", 1.55),
                ],
            ),
            (
                "BAK",
                "Bakery",
                "BKW",
                6,
                "fresh",
                "fresh",
                (0.001, 0.006, 0.030),
                [
                    ("White sliced loaf 800 g", 1.39),
                    ("Wholemeal loaf 800 g", 1.49),
                    ("Sourdough loaf", 3.20),
                    ("Croissants 4 pack", 2.25),
                    ("Crumpets 6 pack", 1.10, "winter"),
                    ("Bagels 5 pack", 1.80),
                    ("Fruit scones 4 pack", 1.95),
                ],
            ),
        ],
    ),
    (
        "Drinks",
        [
            (
                "SFT",
                "Soft Drinks",
                "BRW",
                12,
                "summer",
                "default",
                (0.002, 0.003, 0.0),
                [
                    ("Cola 2 L", 2.05),
                    ("Diet cola 2 L", 2.05),
                    ("Cloudy lemonade 2 L", 1.30),
                    ("Sparkling water 1.5 L", 0.85),
                    ("Orange juice 1 L", 1.95),
                    ("Energy drink 250 ml", 1.45),
                    ("Still water 6 × 500 ml", 2.40),
                ],
            ),
            (
                "BER",
                "Beer & Cider",
                "BRW",
                6,
                "drinks",
                "drinks",
                (0.007, 0.003, 0.0),
                [
                    ("Lager 4 × 440 ml", 5.50),
                    ("Best bitter 500 ml", 2.30),
                    ("IPA 4 × 330 ml", 6.25),
                    ("Apple cider 4 × 440 ml", 5.00),
                    ("Stout 4 × 440 ml", 5.75),
                    ("Alcohol-free lager 4 × 330 ml", 3.95),
                    ("Lager 12 × 440 ml", 14.00),
                ],
            ),
            (
                "WIN",
                "Wine & Spirits",
                "VIN",
                6,
                "drinks",
                "drinks",
                (0.018, 0.003, 0.0),
                [
                    ("House red 75 cl", 7.50),
                    ("Sauvignon blanc 75 cl", 8.25),
                    ("Prosecco 75 cl", 9.50, "christmas"),
                    ("London dry gin 70 cl", 19.00),
                    ("Blended Scotch whisky 70 cl", 20.00),
                    ("Vodka 70 cl", 17.00),
                    ("Rosé 75 cl", 7.75, "summer"),
                ],
            ),
        ],
    ),
    (
        "Household",
        [
            (
                "CLN",
                "Cleaning",
                "CLN",
                6,
                "steady",
                "default",
                (0.002, 0.002, 0.0),
                [
                    ("Washing-up liquid 450 ml", 1.25),
                    ("Multi-surface spray 500 ml", 2.10),
                    ("Thick bleach 750 ml", 1.00),
                    ("Dishwasher tablets 30", 5.50),
                    ("Bin bags 20", 2.75),
                    ("Sponge scourers 4 pack", 1.20),
                    ("Glass cleaner 500 ml", 1.90),
                ],
            ),
            (
                "PAP",
                "Paper & Laundry",
                "CLN",
                4,
                "steady",
                "default",
                (0.002, 0.002, 0.0),
                [
                    ("Toilet roll 9 pack", 5.25),
                    ("Kitchen roll 2 pack", 2.60),
                    ("Tissues 3 boxes", 3.10, "winter"),
                    ("Laundry liquid 1.5 L", 6.50),
                    ("Fabric conditioner 1 L", 2.75),
                    ("Washing powder 1.3 kg", 5.00),
                    ("Aluminium foil 10 m", 1.60),
                ],
            ),
        ],
    ),
    (
        "Health & Beauty",
        [
            (
                "TOI",
                "Toiletries",
                "PHC",
                6,
                "steady",
                "default",
                (0.012, 0.002, 0.0),
                [
                    ("Toothpaste 75 ml", 1.90),
                    ("Shower gel 250 ml", 1.85),
                    ("Shampoo 400 ml", 3.25),
                    ("Roll-on deodorant 50 ml", 1.95),
                    ("Razor blades 4 pack", 6.50),
                    ("Hand soap 250 ml", 1.30),
                    ("Sun cream SPF 30 200 ml", 7.00, "bbq"),
                ],
            ),
            (
                "MED",
                "Medicines",
                "PHC",
                12,
                "winter",
                "default",
                (0.009, 0.001, 0.0),
                [
                    ("Paracetamol 16 tablets", 0.65),
                    ("Ibuprofen 16 tablets", 0.85),
                    ("Cold & flu capsules 16", 3.75),
                    ("Throat lozenges 24", 2.80),
                    ("Hay fever tablets 7", 2.75, "summer"),
                    ("Plasters 40", 2.30),
                    ("Vitamin C 60 tablets", 3.50),
                ],
            ),
        ],
    ),
    (
        "Seasonal",
        [
            (
                "XMS",
                "Christmas & Gifts",
                "SEA",
                6,
                "christmas",
                "default",
                (0.004, 0.003, 0.0),
                [
                    ("Christmas crackers 6", 12.00),
                    ("Mince pies 6 pack", 2.00),
                    ("Advent calendar", 4.00),
                    ("Selection box", 3.50),
                    ("Christmas pudding 454 g", 4.50),
                    ("Tin of chocolates 750 g", 7.00),
                    ("Fairy lights 100 LED", 9.00),
                ],
            ),
            (
                "SUM",
                "Summer & Garden",
                "SEA",
                6,
                "bbq",
                "drinks",
                (0.002, 0.004, 0.0),
                [
                    ("Disposable barbecue", 3.50),
                    ("Charcoal 5 kg", 6.00),
                    ("Paper plates 20", 1.75),
                    ("Ice lollies 8 pack", 2.75),
                    ("Picnic cups 30", 1.50),
                    ("Insect repellent 100 ml", 5.25),
                    ("Citronella candle", 4.50),
                ],
            ),
            (
                "CRD",
                "Cards & Wrap",
                "SEA",
                12,
                "steady",
                "default",
                (0.004, 0.002, 0.0),
                [
                    ("Birthday card", 2.50),
                    ("Gift wrap 3 m", 2.25, "christmas"),
                    ("Gift bag medium", 1.75),
                    ("Sticky tape 2 rolls", 1.60),
                    ("Christmas cards 10", 4.00, "christmas"),
                    ("Thank-you cards 6", 3.75),
                    ("Party balloons 10", 1.99),
                ],
            ),
        ],
    ),
]

# (name, rank, trailing-spend threshold £, discount %, points multiplier)
TIERS = [
    ("Bronze", 0, "0", "0", "1.00"),
    ("Silver", 1, "250", "2", "1.25"),
    ("Gold", 2, "750", "5", "1.50"),
    ("Platinum", 3, "2000", "8", "2.00"),
]

# (username, password, role, index of the store they work in or None, first name, last name)
DEMO_USERS = [
    ("owner", "owner-demo-2026", roles.OWNER, None, "Olivia", "Owens"),
    ("accountant", "accountant-demo-2026", roles.ACCOUNTANT, None, "Adam", "Price"),
    ("staff", "staff-demo-2026", roles.STAFF, 0, "Sam", "Taylor"),
    ("staff2", "staff2-demo-2026", roles.STAFF, 3, "Priya", "Shah"),
]
POS_USERNAME = "pos"
PAYMENTS = (("card", 0.58), ("cash", 0.20), ("mobile", 0.17), ("account", 0.03), ("other", 0.02))
PRICE_TYPES = np.array(["mrp", "dp", "promo"], dtype=object)
REASON_LABELS = dict(ReasonCode.choices)
OPEN_HOUR, CLOSE_HOUR = 8, 21  # Monday to Saturday; Sunday trading is 10:00 to 16:00
DELIVERY_SECONDS = 7 * 3600
COUNT_SECONDS = 7 * 3600 + 1800
ORDER_SECONDS = 18 * 3600
WRITE_OFF_SECONDS = 21 * 3600 + 1800


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
    pos_token: str = ""
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


def demo_reset() -> None:
    """Wipe every table of the project's apps and the demo users (ledgers refuse QuerySet.delete()).

    For the demo loader only: a flush of the inventory, customers, sales and forecasting tables.
    """
    from django.apps import apps

    from .models import RollupChange

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
        names = [u[0] for u in DEMO_USERS] + [POS_USERNAME]
        get_user_model().objects.filter(username__in=names).delete()


def demo_users_create(*, stores: list[Store]) -> tuple[dict[str, object], str]:
    """The demo login of each role (groups from retailops.roles) and a POS device user with a token."""
    User = get_user_model()
    roles.roles_sync()
    users = {}
    for username, password, role, store_index, first, last in DEMO_USERS:
        user = User.objects.create_user(
            username=username,
            password=password,
            first_name=first,
            last_name=last,
            email=f"{username}@retailops.example",
            is_staff=(role == roles.OWNER),
        )
        user.groups.add(Group.objects.get(name=role))
        if store_index is not None and stores:
            StoreMembership.objects.create(user=user, store=stores[min(store_index, len(stores) - 1)])
        users[username] = user
    # A till posting receipts through the API: no password, a token, and only the permissions it needs.
    pos = User.objects.create_user(username=POS_USERNAME, first_name="POS", last_name="device")
    codes = ["add_sale", "view_sale", "view_store", "view_product", "view_all_stores"]
    pos.user_permissions.set(Permission.objects.filter(codename__in=codes))
    return users, Token.objects.create(user=pos).key


# --- set-based writers ----------------------------------------------------------------------------


class _Writer:
    """Buffered inserts into one table: executemany on SQLite, COPY on PostgreSQL.

    Rows carry the given fields in order; every other concrete column gets its model default
    (auto_now / auto_now_add columns get the load's timestamp).
    """

    def __init__(self, loader: _Loader, model, fields: list[str]):
        meta = model._meta
        given = [meta.get_field(name) for name in fields]
        names = {f.name for f in given}
        rest = [f for f in meta.concrete_fields if f.name not in names]
        self.loader = loader
        self.model = model
        self.count = 0
        self.rows: list[tuple] = []
        self.defaults = tuple(loader.default_for(f) for f in rest)
        columns = [f.column for f in given] + [f.column for f in rest]
        table = connection.ops.quote_name(meta.db_table)
        cols = ", ".join(connection.ops.quote_name(c) for c in columns)
        if loader.postgres:
            self.sql = f"COPY {table} ({cols}) FROM STDIN"
        else:
            self.sql = f"INSERT INTO {table} ({cols}) VALUES ({', '.join(['?'] * len(columns))})"

    def add(self, rows) -> None:
        if self.defaults:
            d = self.defaults
            self.rows.extend(r + d for r in rows)
        else:
            self.rows.extend(rows)
        if len(self.rows) >= self.loader.config.chunk_rows:
            self.loader.flush_all()

    def flush(self) -> None:
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        self.count += len(rows)
        if self.loader.postgres:
            with connection.cursor() as cursor, cursor.cursor.copy(self.sql) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            connection.connection.executemany(self.sql, rows)


def _ean13(body12: str) -> str:
    digits = [int(c) for c in body12]
    total = sum(digits[0::2]) + 3 * sum(digits[1::2])
    return body12 + str((10 - total % 10) % 10)


def _nice_price(pounds: float) -> int:
    """A shelf price in pence ending in 5 or 9 (…0.45, …0.49), at least 25p."""
    pence = max(25, int(round(pounds * 100)))
    base = pence - pence % 10
    return base + (9 if pence % 10 >= 7 else 5 if pence % 10 >= 3 else -1) if base >= 30 else pence


def _half_up_div(a: np.ndarray, b: int) -> np.ndarray:
    """Round a / b half away from zero (Decimal ROUND_HALF_UP on each sign), element-wise, in integers."""
    mag = (np.abs(a) * 2 + b) // (2 * b)
    return np.sign(a) * mag


def _season_curves(days: list[date]) -> np.ndarray:
    """Yearly demand factor per season shape and day (mean 1 over a year); 0 on Christmas Day."""
    doy = np.array([d.timetuple().tm_yday for d in days], dtype=float)
    month = np.array([d.month for d in days])
    dom = np.array([d.day for d in days])
    w = 2 * np.pi / 365.25
    xmas_ramp = np.where(month == 12, np.clip((dom - 1) / 23.0, 0, 1) ** 2, 0.0) * (dom <= 24)
    xmas_ramp += np.where((month == 11) & (dom >= 15), 0.12, 0.0)
    jan_dip = np.where((month == 1) & (dom <= 14), 0.9, 1.0)
    curves = {
        "steady": (1 + 0.06 * np.cos(w * (doy - 344)) + 0.25 * xmas_ramp) * jan_dip,
        "summer": 1 + 0.35 * np.cos(w * (doy - 196)),
        "bbq": 0.12 + 2.2 * np.clip(np.cos(w * (doy - 200)), 0, None) ** 3,
        "winter": 1 + 0.40 * np.cos(w * (doy - 20)),
        "christmas": 0.12 + 6.0 * xmas_ramp + np.where((month == 12) & (dom > 26), 0.4, 0.0),
        "drinks": (1 + 0.18 * np.cos(w * (doy - 196)) + 0.9 * xmas_ramp) * jan_dip,
        "fresh": 1 + 0.03 * np.cos(w * (doy - 350)) + 0.15 * xmas_ramp,
    }
    # Normalise each shape to a mean of 1 over a calendar year (independent of the data window).
    year = [date(2023, 1, 1) + timedelta(days=i) for i in range(365)]
    out = np.empty((len(SEASONS), len(days)))
    if days and days != year:
        ref = _season_curves(year)
        for g in range(len(SEASONS)):
            out[g] = curves[SEASONS[g]] / ref[g].mean()
    else:
        for g in range(len(SEASONS)):
            out[g] = curves[SEASONS[g]]
    closed = (month == 12) & (dom == 25)
    out[:, closed] = 0.0
    return out


# --- the loader -----------------------------------------------------------------------------------


class _Loader:
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

    # values -----------------------------------------------------------------------------------
    def ts_value(self, epoch: int) -> str:
        text = datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%d %H:%M:%S")
        return text + "+00:00" if self.postgres else text

    def ts_values(self, epochs: np.ndarray) -> list[str]:
        text = np.datetime_as_string(np.asarray(epochs, dtype="datetime64[s]"), unit="s").tolist()
        suffix = "+00:00" if self.postgres else ""
        return [t.replace("T", " ") + suffix for t in text]

    def default_for(self, f):
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            return self.now_value
        value = f.get_default()
        if isinstance(value, Decimal):
            return float(value)
        return value

    def next_id(self, model) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT MAX(id) FROM {connection.ops.quote_name(model._meta.db_table)}")
            return (cursor.fetchone()[0] or 0) + 1

    def fast_postgres(self) -> None:
        """Skip per-row foreign-key triggers during the load when allowed (superuser): the generator
        writes consistent keys, and RI checks would dominate a ten-million-line load."""
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
        except Exception:
            self.notes.append("foreign-key triggers stayed on (not a superuser): the load is slower")
        else:
            self.notes.append("PostgreSQL: foreign-key triggers were paused during the load (keys are consistent)")

    # masters ----------------------------------------------------------------------------------
    def masters(self) -> None:
        cfg, rng = self.config, self.rng
        # Stores: chains of `stores_per_chain`, codes like CL01.
        stores = []
        for s in range(cfg.stores):
            c = (s // max(1, cfg.stores_per_chain)) % len(CHAINS)
            k = s % max(1, cfg.stores_per_chain)
            prefix, banner, region, tz, towns = CHAINS[c]
            lap = s // (cfg.stores_per_chain * len(CHAINS))
            number = lap * cfg.stores_per_chain + k + 1
            town = towns[k % len(towns)] + (f" {k // len(towns) + 1}" if k >= len(towns) else "")
            stores.append(
                Store(
                    code=f"{prefix}{number:02d}",
                    name=f"{banner} {town}" + (f" ({lap + 1})" if lap else ""),
                    chain=banner,
                    region=region,
                    timezone=tz,
                    currency="EUR" if tz == "Europe/Dublin" else "GBP",  # the Irish chain trades in euro
                )
            )
        self.stores = Store.objects.bulk_create(stores, batch_size=1000)
        self.S = len(self.stores)
        self.store_ids = np.array([s.pk for s in self.stores], dtype=np.int64)
        self.store_codes = [s.code for s in self.stores]

        self.suppliers = Supplier.objects.bulk_create(
            [
                Supplier(
                    code=code,
                    name=name,
                    email=f"orders@{code.lower()}.example",
                    phone=f"0161 496 0{i:03d}",
                    lead_time_days=lead,
                    min_order_value=Decimal(minimum),
                )
                for i, (code, name, lead, minimum, _terms, _days) in enumerate(SUPPLIERS)
            ]
        )
        sup_index = {code: i for i, (code, *_rest) in enumerate(SUPPLIERS)}

        subs = []
        for top_name, children in CATALOGUE:
            top = Category.objects.create(name=top_name)
            for sub in children:
                subs.append((top, sub))
        sub_objs = Category.objects.bulk_create([Category(name=sub[1], parent=top) for top, sub in subs])
        self.top_names = [top.name for top, _ in subs]

        # Products: round-robin over the sub-categories so a small catalogue still covers them all.
        start = datetime.combine(self.days[0] - timedelta(days=60), datetime.min.time(), tzinfo=UTC)
        P = cfg.products
        rows, meta = [], []
        for k in range(P):
            i = k % len(subs)
            _top, (code, _name, sup, case, season, weekly, shrink, items) = subs[i]
            j = k // len(subs)
            item = items[j % len(items)]
            name, price = item[0], item[1]
            if j >= len(items):
                name, price = f"{name} (value pack {j // len(items) + 1})", price * (1.5 + 0.3 * (j // len(items)))
            meta.append(
                {
                    "sub": i,
                    "supplier": sup_index[sup],
                    "case": case,
                    "season": SEASONS.index(item[2] if len(item) > 2 else season),
                    "weekly": weekly,
                    "shrink": shrink,
                    "price": price,
                }
            )
            rows.append((code, j, name, sub_objs[i], self.suppliers[sup_index[sup]]))
        # Prices: list price now; the member price (DP) 5-15 % below (equal for a few); cost 45-72 %.
        mrp_now = np.array([_nice_price(m["price"]) for m in meta], dtype=np.int64)
        dp_ratio = np.where(rng.random(P) < 0.12, 1.0, rng.uniform(0.85, 0.95, P))
        cost_ratio = rng.uniform(0.45, 0.72, P)
        # Yearly price rises on 1 January (about 4.5 %): regime r is in force in calendar year first.year + r.
        years = sorted({d.year for d in self.days})
        self.regime_of_day = np.array([years.index(d.year) for d in self.days])
        R = len(years)
        self.mrp_c = np.zeros((R, P), dtype=np.int64)
        self.dp_c = np.zeros((R, P), dtype=np.int64)
        self.cost_c = np.zeros((R, P), dtype=np.int64)
        for r in range(R):
            back = R - 1 - r
            for p in range(P):
                mrp = mrp_now[p] if back == 0 else _nice_price(mrp_now[p] / 100 / (1.045**back))
                dp = mrp if dp_ratio[p] == 1.0 else min(mrp - 4, _nice_price(mrp * dp_ratio[p] / 100))
                self.mrp_c[r, p] = mrp
                self.dp_c[r, p] = max(1, dp)
                self.cost_c[r, p] = max(1, int(round(mrp * cost_ratio[p])))
        products = []
        for k, (code, j, name, category, supplier) in enumerate(rows):
            products.append(
                Product(
                    sku=f"{code}{j + 1:03d}",
                    barcode=_ean13(f"5012345{k + 1:05d}"),
                    name=name,
                    category=category,
                    supplier=supplier,
                    unit=Product.Unit.EACH,
                    mrp=Decimal(int(self.mrp_c[-1, k])).scaleb(-2),
                    dp=Decimal(int(self.dp_c[-1, k])).scaleb(-2),
                    cost_price=Decimal(int(self.cost_c[-1, k])).scaleb(-2),
                    case_pack=meta[k]["case"],
                )
            )
        self.products = Product.objects.bulk_create(products, batch_size=1000)
        Product.objects.filter(pk__in=[p.pk for p in self.products]).update(created_at=start)
        history = []
        for r, year in enumerate(years):
            valid = start if r == 0 else datetime(year, 1, 1, tzinfo=ZoneInfo("Europe/London"))
            for k, product in enumerate(self.products):
                history.append(
                    ProductPrice(
                        product=product,
                        mrp=Decimal(int(self.mrp_c[r, k])).scaleb(-2),
                        dp=Decimal(int(self.dp_c[r, k])).scaleb(-2),
                        cost_price=Decimal(int(self.cost_c[r, k])).scaleb(-2),
                        valid_from=valid,
                    )
                )
        ProductPrice.objects.bulk_create(history, batch_size=2000)
        self.P = P
        self.product_ids = np.array([p.pk for p in self.products], dtype=np.int64)
        self.sup_of_p = np.array([m["supplier"] for m in meta])
        self.case_of_p = np.array([m["case"] for m in meta], dtype=np.int64)
        self.season_of_p = np.array([m["season"] for m in meta])
        self.weekly_of_p = [m["weekly"] for m in meta]
        self.shrink_of_p = np.array([m["shrink"] for m in meta])
        self.top_of_p = [self.top_names[m["sub"]] for m in meta]
        self.top_category = {top.name: top for top, _ in subs}
        self.price_of_p = mrp_now / 100

        self.tiers = LoyaltyTier.objects.bulk_create(
            [
                LoyaltyTier(
                    name=name,
                    rank=rank,
                    threshold=Decimal(threshold),
                    discount_percent=Decimal(discount),
                    points_multiplier=Decimal(mult),
                )
                for name, rank, threshold, discount, mult in TIERS
            ]
        )

    def customers(self) -> None:
        from faker import Faker

        cfg, rng = self.config, self.rng
        C = cfg.customers
        fake = Faker("en_GB")
        fake.seed_instance(cfg.seed)
        size = self.store_size
        home = rng.choice(self.S, size=C, p=size / size.sum()) if C else np.zeros(0, dtype=np.int64)
        weight = rng.lognormal(0.0, 1.0, C)
        # Starting tiers follow how often a customer shops (top 3 % Platinum, next 12 % Gold, next 30 %
        # Silver); they set the points multiplier while the history is simulated. demo_load then
        # requalifies every member on their actual trailing spend (tiers_requalify), so the tier shown
        # is the tier rule's answer.
        order = np.argsort(-weight, kind="stable")
        tier = np.zeros(C, dtype=np.int64)
        cut = [round(C * 0.03), round(C * 0.15), round(C * 0.45)]
        tier[order[: cut[0]]] = 3
        tier[order[cut[0] : cut[1]]] = 2
        tier[order[cut[1] : cut[2]]] = 1
        first = self.day_epoch[0]
        joined = np.where(
            rng.random(C) < 0.65,
            first - rng.integers(1, 730 * 86400, C),
            first + rng.integers(0, max(1, self.D) * 86400, C),
        )
        objs = []
        for c in range(C):
            given, family = fake.first_name(), fake.last_name()
            mail = f"{given}.{family}".lower().replace(" ", "").replace("'", "")
            objs.append(
                Customer(
                    code=f"C{c + 1:06d}",
                    name=f"{given} {family}",
                    email=f"{mail}{c + 1}@example.com",
                    phone=f"07700 9{(c * 7919) % 100000:05d}",
                    home_store=self.stores[int(home[c])],
                    tier=self.tiers[int(tier[c])],
                    joined_at=datetime.fromtimestamp(int(joined[c]), UTC),
                )
            )
        created = Customer.objects.bulk_create(objs, batch_size=2000)
        self.C = C
        self.customer_ids = np.array([c.pk for c in created], dtype=np.int64)
        self.customer_tier = tier
        self.customer_joined_day = (joined - first) // 86400  # first trading day index they may shop
        # Sampling tables, customers sorted by home store: 92 % of a member's visits are to the home store.
        self.cust_sorted = np.argsort(home, kind="stable")
        self.cust_home_sorted = home[self.cust_sorted]
        w = weight[self.cust_sorted]
        cdf = np.zeros(C)
        for s in range(self.S):
            lo, hi = np.searchsorted(self.cust_home_sorted, [s, s + 1])
            if hi > lo:
                part = np.cumsum(w[lo:hi]) / w[lo:hi].sum()
                part[-1] = 1.0
                cdf[lo:hi] = s + part
        self.cust_cdf = cdf
        all_cdf = np.cumsum(w) / w.sum() if C else cdf
        if C:
            all_cdf[-1] = 1.0
        self.cust_cdf_all = all_cdf
        self.balance = np.zeros(C, dtype=np.int64)
        self.used = np.zeros(C, dtype=np.int64)
        months = (self.days[-1].year - self.days[0].year) * 12 + self.days[-1].month - self.days[0].month + 1
        self.earned_by_month = np.zeros((C, months), dtype=np.int64)
        self.expired_through = -1  # last month index whose earnings have been expired

    # series -----------------------------------------------------------------------------------
    def series(self) -> None:
        cfg, rng, S, P = self.config, self.rng, self.S, self.P
        N = S * P
        self.N = N
        self.s_of = np.repeat(np.arange(S), P)
        self.p_of = np.tile(np.arange(P), S)
        # Popularity: a Zipf curve over products, cheaper items tending to sell more often.
        score = rng.random(P) - 0.30 * np.log(self.price_of_p)
        rank = np.empty(P, dtype=np.int64)
        rank[np.argsort(-score, kind="stable")] = np.arange(P)
        pop = 1.0 / (rank + 2.0) ** 1.15
        pop = pop / pop.sum() * (P / 100.0 if P < 100 else 1.0)
        affinity = rng.lognormal(0.0, 0.3, N)
        affinity /= affinity.mean()
        self.base = cfg.lines_per_store_day * self.store_size[self.s_of] * pop[self.p_of] * affinity
        # Units per line: geometric, larger baskets of cheap items.
        self.qp = np.clip(0.58 + 0.09 * np.log(self.price_of_p), 0.5, 0.92)
        self.mean_qty = 1.0 / self.qp
        self.mu = self.base * self.mean_qty[self.p_of]  # units per day, used by the reorder policy
        self.mu_est = self.mu.copy()
        self.weekly_table = np.array([WEEKLY[w] for w in self.weekly_of_p])  # P × 7
        self.weekly_table /= self.weekly_table.mean(axis=1, keepdims=True)
        self.curves = _season_curves(self.days)  # G × D
        growth = rng.normal(0.04, 0.05, S)
        t = np.arange(self.D)
        self.trend = np.exp(np.outer(growth, (t - (self.D - 1)) / 365.25))  # S × D, 1 on the last day
        self.store_noise = rng.lognormal(0.0, 0.12, (self.D, S))
        # Reorder policy: review on the supplier's weekdays, (s, S) levels from a demand estimate.
        lead = np.array([s[2] for s in SUPPLIERS])[self.sup_of_p]
        review = np.array([7.0 / len(s[5]) for s in SUPPLIERS])[self.sup_of_p]
        self.cover = (lead + review)[self.p_of].astype(float)
        self.z = rng.choice(np.array([0.4, 1.0, 1.6]), size=N, p=[0.2, 0.5, 0.3])
        self.case_n = self.case_of_p[self.p_of]
        self.review_days = [set(s[5]) for s in SUPPLIERS]
        # Shrinkage: events per day ∝ units sold, plus a floor for slow but tempting lines.
        self.theft_p = np.clip(self.shrink_of_p[self.p_of, 0] * self.mu + 0.0004, 0, 0.5)
        self.damage_p = np.clip(self.shrink_of_p[self.p_of, 1] * self.mu, 0, 0.5)
        self.expire_p = np.clip(self.shrink_of_p[self.p_of, 2] * self.mu, 0, 0.5)
        # Stock state.
        rop, out = self.levels()
        self.book = out.copy()
        self.phys = out.copy()
        self.on_order = np.zeros(N, dtype=np.int64)
        self.avg4 = (self.cost_c[0][self.p_of] * 100).astype(np.int64)
        self.causes = np.zeros((4, N), dtype=np.int64)  # theft, damage, expired, supplier short since last count
        self.pipeline: dict[int, list] = defaultdict(list)
        self.returns_buffer: deque = deque(maxlen=14)
        self.returned: set[int] = set()

    def levels(self) -> tuple[np.ndarray, np.ndarray]:
        demand = self.mu_est * self.cover
        rop = np.ceil(demand + self.z * np.sqrt(demand)).astype(np.int64)
        out = rop + np.maximum(self.case_n, np.ceil(self.mu_est * 12)).astype(np.int64)
        return rop, out

    # time -------------------------------------------------------------------------------------
    def zones(self) -> None:
        tz_names = sorted({s.timezone for s in self.stores})
        self.tz_of_store = np.array([tz_names.index(s.timezone) for s in self.stores])
        self.offset = np.zeros((len(tz_names), self.D), dtype=np.int64)
        for i, name in enumerate(tz_names):
            zone = ZoneInfo(name)
            for t, d in enumerate(self.days):
                self.offset[i, t] = int(datetime(d.year, d.month, d.day, 12, tzinfo=zone).utcoffset().total_seconds())

    def clock(self) -> None:
        epoch0 = date(1970, 1, 1)
        self.day_epoch = np.array([(d - epoch0).days * 86400 for d in self.days], dtype=np.int64)
        self.day_text = [d.isoformat() for d in self.days]
        self.day_code = [d.strftime("%Y%m%d") for d in self.days]
        self.store_size = self.rng.lognormal(0.0, 0.35, self.config.stores)
        self.store_size /= self.store_size.mean()

    def epoch(self, s, t: int, seconds) -> np.ndarray:
        """UTC epoch seconds of local time `seconds` after midnight in store(s) s on day t."""
        return self.day_epoch[t] + seconds - self.offset[self.tz_of_store[s], t]

    # writers ----------------------------------------------------------------------------------
    def writers(self) -> None:
        self.w_sale = _Writer(
            self,
            Sale,
            [
                "id",
                "store",
                "pos_reference",
                "occurred_at",
                "local_date",
                "customer",
                "kind",
                "original",
                "payment_method",
                "total",
                "discount_total",
                "cost_total",
                "points_earned",
                "points_redeemed",
                "content_hash",
                "created_at",
            ],
        )
        self.w_line = _Writer(
            self,
            SaleLine,
            [
                "id",
                "sale",
                "line_no",
                "product",
                "quantity",
                "unit_mrp",
                "unit_price",
                "price_type",
                "discount",
                "unit_cost",
                "line_total",
            ],
        )
        self.w_move = _Writer(
            self,
            StockMovement,
            [
                "id",
                "store",
                "product",
                "quantity",
                "kind",
                "unit_cost",
                "source_type",
                "source_id",
                "occurred_at",
                "recorded_at",
                "user",
                "reason",
            ],
        )
        self.w_points = _Writer(
            self,
            PointsEntry,
            [
                "id",
                "customer",
                "kind",
                "points",
                "store",
                "source_type",
                "source_id",
                "occurred_at",
                "expires_at",
                "note",
            ],
        )
        self.w_po = _Writer(
            self,
            PurchaseOrder,
            [
                "id",
                "supplier",
                "store",
                "status",
                "reference",
                "expected_date",
                "created_by",
                "created_at",
                "ordered_at",
                "approved_by",
                "paid_at",
                "amount_paid",
            ],
        )
        self.w_pol = _Writer(
            self, PurchaseOrderLine, ["id", "order", "product", "quantity_ordered", "quantity_received", "unit_cost"]
        )
        self.w_gr = _Writer(self, GoodsReceipt, ["id", "order", "received_at", "received_by", "note"])
        self.w_grl = _Writer(self, GoodsReceiptLine, ["id", "receipt", "order_line", "quantity", "unit_cost"])
        self.w_count = _Writer(
            self,
            StockCount,
            [
                "id",
                "store",
                "scope",
                "category",
                "status",
                "note",
                "created_by",
                "created_at",
                "submitted_by",
                "submitted_at",
                "approved_by",
                "reconciled_at",
            ],
        )
        self.w_cline = _Writer(
            self,
            StockCountLine,
            [
                "id",
                "count",
                "product",
                "counted_qty",
                "counted_at",
                "counted_by",
                "expected_qty",
                "unit_cost",
                "variance",
                "variance_value",
                "needs_recount",
                "first_count_qty",
                "reason",
                "note",
            ],
        )
        self.all_writers = [
            self.w_sale,
            self.w_line,
            self.w_move,
            self.w_points,
            self.w_po,
            self.w_pol,
            self.w_gr,
            self.w_grl,
            self.w_count,
            self.w_cline,
        ]
        self.ids = {w.model: self.next_id(w.model) for w in self.all_writers}

    def flush_all(self) -> None:
        """Flush every table, parents before children: SQLite then never holds a pending deferred
        foreign-key violation, which would make each parent insert scan its (unindexed) children."""
        for writer in self.all_writers:
            writer.flush()

    def take_ids(self, model, n: int) -> np.ndarray:
        first = self.ids[model]
        self.ids[model] = first + n
        return np.arange(first, first + n, dtype=np.int64)

    def move_rows(self, ids, series, qty, kind, cost4, source_type, source_ids, times, user_id, reasons):
        """Stock movements; book stock is changed by the caller."""
        self.w_move.add(
            zip(
                ids.tolist(),
                self.store_ids[self.s_of[series]].tolist(),
                self.product_ids[self.p_of[series]].tolist(),
                np.asarray(qty).tolist(),
                [kind] * len(ids),
                (np.asarray(cost4) / 10000).tolist(),
                [source_type] * len(ids),
                source_ids if isinstance(source_ids, list) else np.asarray(source_ids).tolist(),
                times,
                times,
                [user_id] * len(ids),
                reasons,
                strict=True,
            )
        )

    # the simulation ---------------------------------------------------------------------------
    def run(self) -> None:
        self.users_ids()
        self.plan_counts()
        self.plan_promotions()
        self.opening()
        last_report = time.monotonic()
        for t, day in enumerate(self.days):
            closed = day.month == 12 and day.day == 25
            if day.day == 1:
                self.expire_points(t)
            if not closed:
                self.deliveries(t)
            self.counts(t)
            if not closed:
                self.trade(t)
            self.shrink(t)
            if not closed:
                self.reorder(t)
            if time.monotonic() - last_report > 15:
                last_report = time.monotonic()
                self.log(f"  … {day} ({t + 1}/{self.D} days, {self.w_line.count + len(self.w_line.rows):,} sale lines)")
        self.draft_orders()

    def users_ids(self) -> None:
        users = getattr(self, "users", {})
        self.owner_id = users["owner"].pk if "owner" in users else None
        self.counter_of_store = {}
        for username, _pw, _role, store_index, *_ in DEMO_USERS:
            if store_index is not None and username in users and self.S:
                self.counter_of_store.setdefault(min(store_index, self.S - 1), users[username].pk)

    def opening(self) -> None:
        first = np.flatnonzero(self.book > 0)
        ids = self.take_ids(StockMovement, len(first))
        times = self.ts_values(self.epoch(self.s_of[first], 0, 6 * 3600 - 86400))
        self.move_rows(
            ids,
            first,
            self.book[first],
            "opening",
            self.avg4[first],
            "",
            [None] * len(first),
            times,
            None,
            ["Opening balance"] * len(first),
        )

    def plan_promotions(self) -> None:
        """Waves of two weeks from a Wednesday: a few products at a promo price, or DP for everyone."""
        rng, P = self.rng, self.P
        self.promo_kind = np.zeros((self.D, P), dtype=np.int8)  # 0 none, 1 promo price, 2 DP for all
        self.promo_off = np.zeros((self.D, P))
        self.promo_lift = np.ones((self.D, P))
        first_wed = (2 - self.days[0].weekday()) % 7
        k = max(2, round(0.06 * P))
        weights = np.sqrt(1.0 / np.arange(1, P + 1))[np.argsort(np.argsort(-self.mu.reshape(self.S, P).sum(0)))]
        weights /= weights.sum()
        for start in range(first_wed, self.D, 14):
            end = min(self.D, start + 14)
            chosen = rng.choice(P, size=min(k, P), replace=False, p=weights)
            for p in chosen:
                r = self.regime_of_day[start]
                has_dp = self.dp_c[r, p] < self.mrp_c[r, p]
                kind = 2 if (has_dp and rng.random() < 0.25) else 1
                off = rng.choice([0.15, 0.20, 0.25, 0.33])
                self.promo_kind[start:end, p] = kind
                self.promo_off[start:end, p] = off
                lift = 1.0 + rng.uniform(3.0, 7.0) * (off if kind == 1 else 0.1)
                self.promo_lift[start:end, p] = lift
                self.promo_lift[end : min(self.D, end + 7), p] *= 0.85  # customers stocked up
        self.stats["promotions"] = int((np.diff(self.promo_kind, axis=0, prepend=0) > 0).sum())

    def promo_prices(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        r = self.regime_of_day[t]
        mrp, dp, cost = self.mrp_c[r], self.dp_c[r], self.cost_c[r]
        promo = np.round(mrp * (1 - self.promo_off[t]) / 5.0).astype(np.int64) * 5 - 1
        promo = np.maximum(promo, np.maximum(1, (cost * 0.95).astype(np.int64)))
        kind = self.promo_kind[t]
        # A promo price must differ from both list and member price; otherwise there is no promotion.
        valid = (promo < mrp) & (promo != dp) & (promo > 0)
        kind = np.where((kind == 1) & ~valid, 0, kind)
        return kind, np.maximum(promo, 1)

    def deliveries(self, t: int) -> None:
        arrivals = self.pipeline.pop(t, [])
        for po_id, s, lines, line_ids, cost4 in arrivals:
            series = s * self.P + lines[:, 0]
            qty = lines[:, 1]
            gr_id = int(self.take_ids(GoodsReceipt, 1)[0])
            at = int(self.epoch(s, t, DELIVERY_SECONDS))
            when = self.ts_value(at)
            self.w_gr.add([(gr_id, po_id, when, self.counter_of_store.get(s), "")])
            grl_ids = self.take_ids(GoodsReceiptLine, len(series))
            self.w_grl.add(
                zip(
                    grl_ids.tolist(),
                    [gr_id] * len(series),
                    line_ids.tolist(),
                    qty.tolist(),
                    (cost4 / 10000).tolist(),
                    strict=True,
                )
            )
            on_hand = np.maximum(self.book[series], 0)
            new_avg = np.where(
                on_hand > 0, np.rint((on_hand * self.avg4[series] + qty * cost4) / (on_hand + qty)), cost4
            )
            self.avg4[series] = new_avg.astype(np.int64)
            ids = self.take_ids(StockMovement, len(series))
            self.move_rows(
                ids,
                series,
                qty,
                "receipt",
                cost4,
                "inventory.goodsreceiptline",
                grl_ids,
                [when] * len(series),
                None,
                [f"PO #{po_id}"] * len(series),
            )
            self.book[series] += qty
            self.on_order[series] -= qty
            # Now and then the supplier delivers less than the note says: the shelf gets fewer.
            short = (self.rng.random(len(series)) < 0.03) & (qty > 1)
            missing = np.where(short, np.minimum(qty - 1, self.rng.integers(1, 4, len(series))), 0)
            self.phys[series] += qty - missing
            self.causes[3, series] += missing

    def reorder(self, t: int) -> None:
        """Evening review: orders for suppliers whose review day it is, up to the order-up-to level."""
        dow = self.days[t].weekday()
        reviewing = np.array([dow in days for days in self.review_days])[self.sup_of_p[self.p_of]]
        if not reviewing.any():
            return
        rop, out = self.levels()
        position = self.book + self.on_order
        due = np.flatnonzero(reviewing & (position <= rop))
        if not len(due):
            return
        case = self.case_n[due]
        qty = np.ceil((out[due] - position[due]) / case).astype(np.int64) * case
        r = self.regime_of_day[t]
        sup = self.sup_of_p[self.p_of[due]]
        store = self.s_of[due]
        key = store * len(SUPPLIERS) + sup
        for k in np.unique(key):
            pick = np.flatnonzero(key == k)
            s, g = int(k // len(SUPPLIERS)), int(k % len(SUPPLIERS))
            series = due[pick]
            q = qty[pick].copy()
            products = self.p_of[series]
            cost4 = self.cost_c[r][products] * 100
            # Top up to the supplier's minimum order value with extra cases of the fastest line.
            minimum = SUPPLIERS[g][3] * 10000
            if (q * cost4).sum() < minimum:
                fastest = int(np.argmax(self.mu_est[series]))
                need = minimum - (q * cost4).sum()
                extra_cases = int(math.ceil(need / (cost4[fastest] * self.case_n[series[fastest]])))
                q[fastest] += min(extra_cases, 4) * self.case_n[series[fastest]]
            self.place_order(t, s, g, series, products, q, cost4)

    def place_order(self, t, s, g, series, products, q, cost4) -> None:
        code, _name, lead, _minimum, terms, _days = SUPPLIERS[g]
        roll = self.rng.random()
        delay = 0 if roll < 0.75 else int(self.rng.integers(1, 3)) if roll < 0.96 else int(self.rng.integers(4, 11))
        arrive = t + lead + delay
        arrival_day = self.days[0] + timedelta(days=arrive)
        if arrival_day.month == 12 and arrival_day.day == 25:
            arrive += 1  # no deliveries on Christmas Day
        po_id = int(self.take_ids(PurchaseOrder, 1)[0])
        line_ids = self.take_ids(PurchaseOrderLine, len(series))
        received = arrive < self.D
        if received:
            self.pipeline[arrive].append((po_id, s, np.column_stack([products, q]), line_ids, cost4))
        paid_day = arrive + terms
        paid = received and paid_day < self.D
        amount = int(((q * cost4).sum() + 50) // 100) if paid else 0
        ordered_at = self.ts_value(int(self.epoch(s, t, ORDER_SECONDS)))
        self.w_po.add(
            [
                (
                    po_id,
                    self.suppliers[g].pk,
                    int(self.store_ids[s]),
                    "received" if received else "ordered",
                    f"PO-{self.store_codes[s]}-{self.day_code[t]}-{code}",
                    (self.days[t] + timedelta(days=lead)).isoformat(),
                    self.owner_id,
                    ordered_at,
                    ordered_at,
                    self.owner_id,
                    self.ts_value(int(self.epoch(s, paid_day, 10 * 3600))) if paid else None,
                    amount / 100,
                )
            ]
        )
        self.w_pol.add(
            zip(
                line_ids.tolist(),
                [po_id] * len(series),
                self.product_ids[products].tolist(),
                q.tolist(),
                (q if received else np.zeros_like(q)).tolist(),
                (cost4 / 10000).tolist(),
                strict=True,
            )
        )
        self.on_order[series] += q

    def draft_orders(self) -> None:
        """Two draft orders waiting for the owner's approval on the last day."""
        t = self.D - 1
        rop, out = self.levels()
        position = self.book + self.on_order
        for s in range(min(2, self.S)):
            series = np.flatnonzero((self.s_of == s) & (position <= rop + self.case_n))[:6]
            if not len(series):
                continue
            g = int(self.sup_of_p[self.p_of[series[0]]])
            series = series[self.sup_of_p[self.p_of[series]] == g]
            products = self.p_of[series]
            q = np.maximum(
                self.case_n[series],
                np.ceil((out[series] - position[series]) / self.case_n[series]) * self.case_n[series],
            ).astype(np.int64)
            po_id = int(self.take_ids(PurchaseOrder, 1)[0])
            line_ids = self.take_ids(PurchaseOrderLine, len(series))
            cost4 = self.cost_c[self.regime_of_day[t]][products] * 100
            self.w_po.add(
                [
                    (
                        po_id,
                        self.suppliers[g].pk,
                        int(self.store_ids[s]),
                        "draft",
                        f"DRAFT-{self.store_codes[s]}-{self.day_code[t]}",
                        (self.days[t] + timedelta(days=SUPPLIERS[g][2] + 1)).isoformat(),
                        self.owner_id,
                        self.now_value,
                        None,
                        None,
                        None,
                        0.0,
                    )
                ]
            )
            self.w_pol.add(
                zip(
                    line_ids.tolist(),
                    [po_id] * len(series),
                    self.product_ids[products].tolist(),
                    q.tolist(),
                    [0] * len(series),
                    (cost4 / 10000).tolist(),
                    strict=True,
                )
            )

    def shrink(self, t: int) -> None:
        """Overnight losses: theft and damage are silent (found by counts); some expiries are written off."""
        rng = self.rng
        for cause, prob in ((0, self.theft_p), (1, self.damage_p), (2, self.expire_p)):
            hit = np.flatnonzero((rng.random(self.N) < prob) & (self.phys > 0))
            if not len(hit):
                continue
            loss = np.minimum(self.phys[hit], 1 + (rng.random(len(hit)) < 0.3))
            self.phys[hit] -= loss
            self.stats["shrink_units"] += int(loss.sum())
            if cause == 2:
                logged = rng.random(len(hit)) < 0.6
                logged_idx = hit[logged]
                if len(logged_idx):
                    ids = self.take_ids(StockMovement, len(logged_idx))
                    times = self.ts_values(self.epoch(self.s_of[logged_idx], t, WRITE_OFF_SECONDS))
                    q = loss[logged]
                    self.move_rows(
                        ids,
                        logged_idx,
                        -q,
                        "write_off",
                        self.avg4[logged_idx],
                        "",
                        [None] * len(ids),
                        times,
                        None,
                        ["Past its sell-by date"] * len(ids),
                    )
                    self.book[logged_idx] -= q
                self.causes[2, hit[~logged]] += loss[~logged]
            else:
                self.causes[cause, hit] += loss

    # sales ------------------------------------------------------------------------------------
    def trade(self, t: int) -> None:
        rng, _S, _P = self.rng, self.S, self.P
        dow = self.days[t].weekday()
        lam = (
            self.base
            * self.weekly_table[self.p_of, dow]
            * self.curves[self.season_of_p[self.p_of], t]
            * self.trend[self.s_of, t]
            * self.store_noise[t, self.s_of]
            * self.promo_lift[t, self.p_of]
        )
        k = rng.poisson(lam)
        L = int(k.sum())
        sold_units = np.zeros(self.N, dtype=np.int64)
        if L:
            ser = np.repeat(np.arange(self.N), k)
            qty = rng.geometric(self.qp[self.p_of[ser]])
            cs = np.cumsum(qty)
            before = cs - qty
            starts = np.concatenate(([0], np.cumsum(k[k > 0])[:-1]))
            before = before - np.repeat(before[starts], k[k > 0])
            sold = np.clip(self.phys[ser] - before, 0, qty)
            lost = qty - sold
            self.stats["lost_units"] += int(lost.sum())
            keep = sold > 0
            ser, qty = ser[keep], sold[keep]
            np.add.at(sold_units, ser, qty)
            if len(ser):
                self.post_receipts(t, ser, qty)
        self.phys -= sold_units
        self.book -= sold_units
        self.stats["stockout_days"] += int(((self.phys == 0) & (self.mu > 0.05)).sum())
        self.mu_est += (sold_units - self.mu_est) / 28.0
        self.mu_est = np.maximum(self.mu_est, 0.3 * self.mu)
        self.post_returns(t)

    def opening_hours(self, dow: int, n: int) -> np.ndarray:
        rng = self.rng
        if dow == 6:
            return rng.integers(10 * 3600, 16 * 3600, n)
        mix = rng.random(n)
        lunch = rng.normal(12.75 * 3600, 1.3 * 3600, n)
        evening = rng.normal(17.5 * 3600, 1.5 * 3600, n)
        flat = rng.uniform(OPEN_HOUR * 3600, CLOSE_HOUR * 3600, n)
        tod = np.where(mix < 0.38, lunch, np.where(mix < 0.78, evening, flat))
        return np.clip(tod, OPEN_HOUR * 3600, CLOSE_HOUR * 3600 - 60).astype(np.int64)

    def pick_customers(self, rec_store: np.ndarray, t: int) -> np.ndarray:
        """A loyalty customer for about a third of receipts (-1 = anonymous), mostly from the home store."""
        rng, n = self.rng, len(rec_store)
        if not self.C:
            return np.full(n, -1, dtype=np.int64)
        member = rng.random(n) < self.config.member_share
        away = rng.random(n) < 0.08
        u = rng.random(n)
        # Home store: one sorted table of cumulative weights, store s owning the interval (s, s + 1].
        pos = np.searchsorted(self.cust_cdf, rec_store + u, side="right")
        pos = np.minimum(pos, self.C - 1)
        home = self.cust_sorted[pos]
        home_ok = self.cust_home_sorted[pos] == rec_store
        anywhere = self.cust_sorted[np.minimum(np.searchsorted(self.cust_cdf_all, u, side="right"), self.C - 1)]
        cust = np.where(away, anywhere, np.where(home_ok, home, -1))
        cust = np.where(member, cust, -1)
        joined = self.customer_joined_day[np.maximum(cust, 0)] <= t
        return np.where(joined, cust, -1)

    def post_receipts(self, t: int, ser: np.ndarray, qty: np.ndarray) -> None:
        rng, _P = self.rng, self.P
        st = self.s_of[ser]
        per_store = np.bincount(st, minlength=self.S)
        R = np.maximum(1, np.rint(per_store / self.config.basket_lines)).astype(np.int64)
        width = int(R.max()) + 1
        key = st * width + (rng.random(len(ser)) * R[st]).astype(np.int64)
        uk, rid = np.unique(key, return_inverse=True)
        n = len(uk)
        rec_store = uk // width
        dow = self.days[t].weekday()
        tod = self.opening_hours(dow, n)
        order = np.lexsort((tod, rec_store))
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        rid = rank[rid]
        rec_store, tod = rec_store[order], tod[order]
        p = self.p_of[ser]
        lo = np.lexsort((p, rid))
        ser, qty, rid, p = ser[lo], qty[lo], rid[lo], p[lo]
        starts = np.searchsorted(rid, np.arange(n))
        line_no = np.arange(len(ser)) - starts[rid] + 1

        cust = self.pick_customers(rec_store, t)
        member = cust[rid] >= 0
        r = self.regime_of_day[t]
        mrp, dp = self.mrp_c[r][p], self.dp_c[r][p]
        kind, promo = self.promo_prices(t)
        pk, promo = kind[p], promo[p]
        use_dp = member & (rng.random(len(ser)) < 0.85) & (dp < mrp)
        price = np.where(use_dp, dp, mrp)
        ptype = np.where(use_dp, 1, 0)
        dp_all = (pk == 2) & (dp < mrp)
        price = np.where(dp_all, dp, price)
        ptype = np.where(dp_all, 1, ptype)
        promo_line = (pk == 1) & ~(use_dp & (dp < promo))
        price = np.where(promo_line, promo, price)
        ptype = np.where(promo_line, 2, ptype)
        cost4 = self.avg4[ser]
        total = price * qty
        discount = np.maximum(mrp - price, 0) * qty
        cost = _half_up_div(qty * cost4, 100)
        rec_total = np.bincount(rid, weights=total, minlength=n).round().astype(np.int64)
        rec_disc = np.bincount(rid, weights=discount, minlength=n).round().astype(np.int64)
        rec_cost = np.bincount(rid, weights=cost, minlength=n).round().astype(np.int64)

        # Receipt numbers run per store and day, in time order.
        seq = np.arange(n) - np.searchsorted(rec_store, rec_store) + 1
        code = self.day_code[t]
        refs = [f"{self.store_codes[s]}-{code}-{q:04d}" for s, q in zip(rec_store.tolist(), seq.tolist(), strict=True)]
        epochs = self.epoch(rec_store, t, tod)
        times = self.ts_values(epochs)
        pay_names = [name for name, _ in PAYMENTS]
        pay = np.array(pay_names, dtype=object)[rng.choice(len(PAYMENTS), size=n, p=[w for _, w in PAYMENTS])]
        sale_ids = self.take_ids(Sale, n)
        earned = np.zeros(n, dtype=np.int64)
        redeemed = np.zeros(n, dtype=np.int64)
        self.points_for_receipts(t, sale_ids, rec_store, cust, rec_total, epochs, times, earned, redeemed, pay)
        day = self.day_text[t]
        self.w_sale.add(
            zip(
                sale_ids.tolist(),
                self.store_ids[rec_store].tolist(),
                refs,
                times,
                [day] * n,
                [int(self.customer_ids[c]) if c >= 0 else None for c in cust.tolist()],
                ["sale"] * n,
                [None] * n,
                pay.tolist(),
                (rec_total / 100).tolist(),
                (rec_disc / 100).tolist(),
                (rec_cost / 100).tolist(),
                earned.tolist(),
                redeemed.tolist(),
                [hashlib.sha256(ref.encode()).hexdigest() for ref in refs],
                times,
                strict=True,
            )
        )
        line_ids = self.take_ids(SaleLine, len(ser))
        sale_of_line = sale_ids[rid]
        self.w_line.add(
            zip(
                line_ids.tolist(),
                sale_of_line.tolist(),
                line_no.tolist(),
                self.product_ids[p].tolist(),
                qty.tolist(),
                (mrp / 100).tolist(),
                (price / 100).tolist(),
                PRICE_TYPES[ptype].tolist(),
                (discount / 100).tolist(),
                (cost4 / 10000).tolist(),
                (total / 100).tolist(),
                strict=True,
            )
        )
        rid_list = rid.tolist()
        move_ids = self.take_ids(StockMovement, len(ser))
        self.move_rows(
            move_ids,
            ser,
            -qty,
            "sale",
            cost4,
            "sales.saleline",
            line_ids,
            [times[i] for i in rid_list],
            None,
            [f"POS {refs[i]}" for i in rid_list],
        )
        self.returns_buffer.append((line_ids, sale_of_line, ser, qty, price, ptype, cust[rid], pay[rid], t))
        self.receipts_today = n

    def points_for_receipts(self, t, sale_ids, rec_store, cust, rec_total, epochs, times, earned, redeemed, pay):
        """Earn (and now and then redeem) points for member receipts, in time order."""
        idx = np.flatnonzero(cust >= 0)
        if not len(idx):
            return
        idx = idx[np.argsort(epochs[idx], kind="stable")]
        value = point_value()
        month = self.month_index(t)
        roll = self.rng.random(len(idx))
        rows = []
        expires = self.ts_values(epochs[idx] + settings.RETAILOPS["POINTS_EXPIRY_DAYS"] * 86400)
        for j, i in enumerate(idx.tolist()):
            c = int(cust[i])
            tier = self.tiers[int(self.customer_tier[c])]
            total = int(rec_total[i])
            redeem = 0
            if self.balance[c] >= 200 and roll[j] < 0.25:
                redeem = int(min(self.balance[c], int(Decimal(total) / 100 / value)) // 100 * 100)
            if redeem:
                entry = int(self.take_ids(PointsEntry, 1)[0])
                rows.append(
                    (
                        entry,
                        int(self.customer_ids[c]),
                        "redeem",
                        -redeem,
                        int(self.store_ids[rec_store[i]]),
                        "sales.sale",
                        int(sale_ids[i]),
                        times[i],
                        None,
                        "",
                    )
                )
                self.balance[c] -= redeem
                self.used[c] += redeem
                redeemed[i] = redeem
                paid = Decimal(total).scaleb(-2) - (Decimal(redeem) * value).quantize(Decimal("0.01"))
                if paid <= 0:
                    pay[i] = "voucher"
            else:
                paid = Decimal(total).scaleb(-2)
            points = points_for_amount(amount=paid, tier=tier)
            if points:
                entry = int(self.take_ids(PointsEntry, 1)[0])
                rows.append(
                    (
                        entry,
                        int(self.customer_ids[c]),
                        "earn",
                        points,
                        int(self.store_ids[rec_store[i]]),
                        "sales.sale",
                        int(sale_ids[i]),
                        times[i],
                        expires[j],
                        "",
                    )
                )
                self.balance[c] += points
                self.earned_by_month[c, month] += points
                earned[i] = points
        self.w_points.add(rows)

    def month_index(self, t: int) -> int:
        d0, d = self.days[0], self.days[t]
        return (d.year - d0.year) * 12 + d.month - d0.month

    def expire_points(self, t: int) -> None:
        """On the 1st, points earned 13+ months ago and not used since are expired (oldest first)."""
        if not self.C:
            return
        m = self.month_index(t) - 13
        if m < 0:
            return
        old = self.earned_by_month[:, : m + 1].sum(axis=1)
        expire = np.minimum(np.maximum(old - self.used, 0), self.balance)
        who = np.flatnonzero(expire > 0)
        if not len(who):
            return
        ids = self.take_ids(PointsEntry, len(who))
        when = self.ts_value(int(self.day_epoch[t] + 2 * 3600))
        self.w_points.add(
            zip(
                ids.tolist(),
                self.customer_ids[who].tolist(),
                ["expire"] * len(who),
                (-expire[who]).tolist(),
                [None] * len(who),
                [""] * len(who),
                [None] * len(who),
                [when] * len(who),
                [None] * len(who),
                ["Points older than twelve months expired"] * len(who),
                strict=True,
            )
        )
        self.balance[who] -= expire[who]
        self.used[who] += expire[who]

    def post_returns(self, t: int) -> None:
        """About 1.5 % of receipts are returns of one line bought in the last two weeks, same store."""
        n_today = getattr(self, "receipts_today", 0)
        self.receipts_today = 0
        past = [b for b in self.returns_buffer if b[-1] < t]
        if not past or not n_today:
            return
        rng = self.rng
        n = int(rng.binomial(n_today, self.config.return_rate))
        if not n:
            return
        sizes = [len(b[0]) for b in past]
        total = sum(sizes)
        picks = np.unique(rng.integers(0, total, n))
        bounds = np.cumsum([0] + sizes)
        r = self.regime_of_day[t]
        rows_sale, rows_line, made = [], [], []
        for pick in picks.tolist():
            b = int(np.searchsorted(bounds, pick, side="right") - 1)
            j = pick - bounds[b]
            line_ids, sale_of_line, ser_a, qty_a, price_a, ptype_a, cust_a, pay_a, _day = past[b]
            line_id = int(line_ids[j])
            if line_id in self.returned:
                continue
            self.returned.add(line_id)
            ser = int(ser_a[j])
            s, p = int(self.s_of[ser]), int(self.p_of[ser])
            q = -int(rng.integers(1, int(qty_a[j]) + 1))
            price = int(price_a[j])
            mrp = int(self.mrp_c[r, p])
            cost4 = int(self.avg4[ser])
            total_c = price * q
            disc = max(mrp - price, 0) * q
            cost = int(_half_up_div(np.array([q * cost4]), 100)[0])
            made.append(
                (
                    s,
                    ser,
                    q,
                    price,
                    mrp,
                    int(ptype_a[j]),
                    cost4,
                    total_c,
                    disc,
                    cost,
                    int(cust_a[j]),
                    pay_a[j],
                    int(sale_of_line[j]),
                )
            )
        if not made:
            return
        sale_ids = self.take_ids(Sale, len(made))
        line_ids_new = self.take_ids(SaleLine, len(made))
        move_ids = self.take_ids(StockMovement, len(made))
        stores = np.array([m[0] for m in made])
        tod = np.sort(self.opening_hours(self.days[t].weekday(), len(made)))
        times = self.ts_values(self.epoch(stores, t, tod))
        seq: dict[int, int] = defaultdict(int)
        refs = []
        for s in stores.tolist():
            seq[s] += 1
            refs.append(f"{self.store_codes[s]}-{self.day_code[t]}-R{seq[s]:03d}")
        for i, (s, ser, q, price, mrp, ptype, cost4, total_c, disc, cost, c, pay, original) in enumerate(made):
            rows_sale.append(
                (
                    int(sale_ids[i]),
                    int(self.store_ids[s]),
                    refs[i],
                    times[i],
                    self.day_text[t],
                    int(self.customer_ids[c]) if c >= 0 else None,
                    "return",
                    original,
                    pay,
                    total_c / 100,
                    disc / 100,
                    cost / 100,
                    0,
                    0,
                    hashlib.sha256(refs[i].encode()).hexdigest(),
                    times[i],
                )
            )
            rows_line.append(
                (
                    int(line_ids_new[i]),
                    int(sale_ids[i]),
                    1,
                    int(self.product_ids[self.p_of[ser]]),
                    q,
                    mrp / 100,
                    price / 100,
                    PRICE_TYPES[ptype],
                    disc / 100,
                    cost4 / 10000,
                    total_c / 100,
                )
            )
        self.w_sale.add(rows_sale)
        self.w_line.add(rows_line)
        series = np.array([m[1] for m in made])
        qty = np.array([-m[2] for m in made], dtype=np.int64)
        self.move_rows(
            move_ids,
            series,
            qty,
            "return",
            np.array([m[6] for m in made]),
            "sales.saleline",
            line_ids_new,
            times,
            None,
            [f"POS {ref}" for ref in refs],
        )
        np.add.at(self.book, series, qty)
        np.add.at(self.phys, series, qty)
        self.stats["returns"] += len(made)

    # stock counts -----------------------------------------------------------------------------
    def plan_counts(self) -> None:
        """Twice-yearly whole-store counts with a Drinks spot check between them, all reconciled; the last
        days leave a few counts submitted and waiting for the owner, and one open count in the first store."""
        D, S = self.D, self.S
        self.count_plan: dict[int, list] = defaultdict(list)
        horizon = D - 10
        for s in range(S):
            offset = 20 + (s * 13) % 70
            for t0 in range(offset, horizon, 182):
                self.count_plan[self.open_day(t0)].append((s, "reconciled", "store"))
                if t0 + 91 < horizon:
                    self.count_plan[self.open_day(t0 + 91)].append((s, "reconciled", "Drinks"))
        waiting = [s for s in (1, 3, 6) if s < S] or ([0] if S == 1 else [])
        for i, s in enumerate(waiting):
            self.count_plan[self.open_day(D - 2 - (i % 2), back=True)].append((s, "submitted", "store"))
        if S:
            self.count_plan[self.open_day(D - 1, back=True)].append((0, "open", "store"))

    def open_day(self, t: int, back: bool = False) -> int:
        while 0 <= t < self.D and self.days[t].month == 12 and self.days[t].day == 25:
            t += -1 if back else 1
        return max(0, min(t, self.D - 1))

    def counts(self, t: int) -> None:
        for s, status, scope in self.count_plan.get(t, []):
            self.count_store(t, s, status, scope)

    def count_store(self, t: int, s: int, status: str, scope: str) -> None:
        rng = self.rng
        products = np.arange(self.P)
        category_id = None
        if scope != "store":
            products = np.array([p for p in range(self.P) if self.top_of_p[p] == scope], dtype=np.int64)
            if not len(products):
                return
            category_id = self.top_category[scope].pk
        series = s * self.P + products
        n = len(series)
        counter = self.counter_of_store.get(s, self.owner_id)
        count_id = int(self.take_ids(StockCount, 1)[0])
        t0 = int(self.epoch(s, t, COUNT_SECONDS))
        created = self.ts_value(t0 - 900)
        counted_epochs = t0 + np.arange(n) * 20  # one shelf every 20 seconds, before the doors open
        counted_at = self.ts_values(counted_epochs)
        # What is on the shelf, with the odd miscount.
        slip = rng.random(n) < 0.02
        counted = np.maximum(self.phys[series] + np.where(slip, rng.choice([-1, 1], n), 0), 0)
        expected = self.book[series]
        variance = counted - expected
        cost4 = np.where(self.avg4[series] > 0, self.avg4[series], self.cost_c[self.regime_of_day[t]][products] * 100)
        value = _half_up_div(variance * cost4, 100)  # cents
        recount = (np.abs(variance) > 5) | (np.abs(value) > 5000)
        first_count = np.where(recount, counted + np.where(rng.random(n) < 0.5, 1, 0), 0)
        reasons = self.reasons(series, variance, slip)
        ids = self.take_ids(StockCountLine, n)
        pids = self.product_ids[products].tolist()
        if status == "open":
            done = rng.random(n) < 0.4
            self.w_cline.add(
                zip(
                    ids.tolist(),
                    [count_id] * n,
                    pids,
                    np.where(done, counted, 0).tolist(),
                    [a if d else None for a, d in zip(counted_at, done.tolist(), strict=True)],
                    [counter if d else None for d in done.tolist()],
                    [None] * n,
                    [0.0] * n,
                    [None] * n,
                    [None] * n,
                    [False] * n,
                    [None] * n,
                    [""] * n,
                    [""] * n,
                    strict=True,
                )
            )
            self.w_count.add(
                [
                    (
                        count_id,
                        int(self.store_ids[s]),
                        scope if scope == "store" else "category",
                        category_id,
                        "open",
                        "Monthly shelf count",
                        counter,
                        created,
                        None,
                        None,
                        None,
                        None,
                    )
                ]
            )
            return
        reconciled = status == "reconciled"
        if not reconciled:
            reasons = [r if (i % 2 == 0) else "" for i, r in enumerate(reasons)]
        self.w_cline.add(
            zip(
                ids.tolist(),
                [count_id] * n,
                pids,
                counted.tolist(),
                counted_at,
                [counter] * n,
                expected.tolist(),
                (cost4 / 10000).tolist(),
                variance.tolist(),
                (value / 100).tolist(),
                recount.tolist(),
                [int(f) if r else None for f, r in zip(first_count.tolist(), recount.tolist(), strict=True)],
                reasons,
                [""] * n,
                strict=True,
            )
        )
        submitted = self.ts_value(t0 + n * 20 + 1200)
        approved = self.ts_value(int(self.epoch(s, min(t + 1, self.D - 1), 10 * 3600))) if reconciled else None
        self.w_count.add(
            [
                (
                    count_id,
                    int(self.store_ids[s]),
                    "store" if scope == "store" else "category",
                    category_id,
                    status,
                    "" if scope == "store" else f"{scope} spot check",
                    counter,
                    created,
                    counter,
                    submitted,
                    self.owner_id if reconciled else None,
                    approved,
                )
            ]
        )
        if reconciled:
            moved = np.flatnonzero(variance != 0)
            if len(moved):
                move_ids = self.take_ids(StockMovement, len(moved))
                self.move_rows(
                    move_ids,
                    series[moved],
                    variance[moved],
                    "count",
                    cost4[moved],
                    "inventory.stockcountline",
                    ids[moved],
                    [counted_at[i] for i in moved.tolist()],
                    self.owner_id,
                    [f"Count #{count_id}: {REASON_LABELS.get(reasons[i], reasons[i])}" for i in moved.tolist()],
                )
                self.book[series[moved]] += variance[moved]
            self.causes[:, series] = 0

    def reasons(self, series: np.ndarray, variance: np.ndarray, slip: np.ndarray) -> list[str]:
        causes = self.causes[:, series]
        names = np.array(["theft", "damage", "expired", "supplier_short"], dtype=object)
        main = names[np.argmax(causes, axis=0)]
        some = causes.sum(axis=0) > 0
        out = []
        for v, m, known, sl in zip(variance.tolist(), main.tolist(), some.tolist(), slip.tolist(), strict=True):
            if v == 0:
                out.append("")
            elif v > 0:
                out.append("data_entry" if sl else "found")
            elif known and not sl:
                out.append(m)
            else:
                out.append("pos_misscan" if sl else "unknown")
        return out

    # finish -----------------------------------------------------------------------------------
    def finish(self) -> None:
        self.flush_all()
        rop, out = self.levels()
        # Reorder point and order-up-to level: the home page alerts on stock at or below min_qty.
        now = self.now_value
        rows = [
            (
                int(self.store_ids[self.s_of[i]]),
                int(self.product_ids[self.p_of[i]]),
                int(self.book[i]),
                float(self.avg4[i] / 10000),
                int(rop[i]),
                int(out[i]),
                now,
            )
            for i in range(self.N)
        ]
        StockLevel.objects.bulk_create(
            [
                StockLevel(store_id=a, product_id=b, on_hand=c, average_cost=Decimal(str(d)), min_qty=e, max_qty=f)
                for a, b, c, d, e, f, _ in rows
            ],
            batch_size=2000,
        )
        if self.C:
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"UPDATE {Customer._meta.db_table} SET points_balance = %s WHERE id = %s",
                    [(int(b), int(i)) for b, i in zip(self.balance, self.customer_ids, strict=True) if b],
                )
        if self.postgres:
            models = [w.model for w in self.all_writers]
            with connection.cursor() as cursor:
                for sql in connection.ops.sequence_reset_sql(no_style(), models):
                    cursor.execute(sql)


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
            loader.users, loader.pos_token = demo_users_create(stores=loader.stores)
        loader.customers()
        loader.series()
        loader.writers()
        loader.run()
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
        tiers_requalify(as_of=end_of_last_day)
    counts = demo_counts()
    summary = DemoSummary(
        seconds=time.monotonic() - started,
        first_day=loader.days[0],
        last_day=loader.days[-1],
        counts=counts,
        stats={k: int(v) for k, v in loader.stats.items()},
        logins=[(u, pw, role) for u, pw, role, *_ in DEMO_USERS] if config.users else [],
        pos_token=getattr(loader, "pos_token", ""),
        notes=loader.notes,
    )
    return summary


# Bulk tables whose secondary indexes SQLite builds faster in one sort after the load than row by row.
BULK_MODELS = (Sale, SaleLine, StockMovement, PointsEntry, StockCountLine, PurchaseOrderLine, GoodsReceiptLine)


def _sqlite_indexes_drop() -> list[str]:
    """Drop the named (CREATE INDEX) indexes of the bulk tables; returns the SQL to recreate them."""
    tables = [m._meta.db_table for m in BULK_MODELS]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({', '.join(['%s'] * len(tables))})",
            tables,
        )
        found = cursor.fetchall()
        for name, _sql in found:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
    return [sql for _name, sql in found]


def _sqlite_indexes_restore(statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def demo_counts() -> dict[str, int]:
    from .models import SalesDaily

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
