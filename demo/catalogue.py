"""The demo chain's catalogue: its chains and stores, suppliers, categories and products with their prices,
loyalty tiers, customers and demo logins — the constant tables and the builders that write them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from rest_framework.authtoken.models import Token

from customers.models import Customer, LoyaltyTier
from inventory.models import Category, Product, ProductPrice, ReasonCode, Store, StoreMembership, Supplier
from retailops import roles

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
POS_USERNAME = "pos"  # the prefix of the POS devices' users: one per store, "pos-<store code in lower case>"
POS_PERMISSIONS = ["add_sale", "view_sale", "view_store", "view_product"]  # no view_all_stores: its store only
PAYMENTS = (("card", 0.58), ("cash", 0.20), ("mobile", 0.17), ("account", 0.03), ("other", 0.02))
PRICE_TYPES = np.array(["mrp", "dp", "promo"], dtype=object)
REASON_LABELS = dict(ReasonCode.choices)
OPEN_HOUR, CLOSE_HOUR = 8, 21  # Monday to Saturday; Sunday trading is 10:00 to 16:00
DELIVERY_SECONDS = 7 * 3600
COUNT_SECONDS = 7 * 3600 + 1800
ORDER_SECONDS = 18 * 3600
WRITE_OFF_SECONDS = 21 * 3600 + 1800


def pos_username(store: Store) -> str:
    """The user of a store's POS device (its till's API token belongs to it)."""
    return f"{POS_USERNAME}-{store.code.lower()}"


def demo_users_create(*, stores: list[Store]) -> tuple[dict[str, object], dict[str, str]]:
    """The demo login of each role (groups from retailops.roles) and one POS device per store: a user bound to
    that store (a StoreMembership, no view_all_stores) with a token. Returns the users and {store code: token}."""
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
    # A till posting receipts through the API: no password, a token, only the permissions it needs, and only
    # its own store — it lists, reads and posts that store's receipts and no other's (inventory.scoping).
    permissions = list(Permission.objects.filter(codename__in=POS_PERMISSIONS))
    tokens = {}
    for store in stores:
        pos = User.objects.create_user(username=pos_username(store), first_name="POS", last_name=f"device {store.code}")
        pos.user_permissions.set(permissions)
        StoreMembership.objects.create(user=pos, store=store)
        tokens[store.code] = Token.objects.create(user=pos).key
    return users, tokens


def _ean13(body12: str) -> str:
    digits = [int(c) for c in body12]
    total = sum(digits[0::2]) + 3 * sum(digits[1::2])
    return body12 + str((10 - total % 10) % 10)


def _nice_price(pounds: float) -> int:
    """A shelf price in pence ending in 5 or 9 (…0.45, …0.49), at least 25p."""
    pence = max(25, int(round(pounds * 100)))
    base = pence - pence % 10
    return base + (9 if pence % 10 >= 7 else 5 if pence % 10 >= 3 else -1) if base >= 30 else pence


# --- the builders ---------------------------------------------------------------------------------


class _Catalogue:
    """The loader's master data (a mixin of demo.load._Loader): stores, suppliers, categories, products,
    price history and tiers, then customers, with the per-product and per-customer tables the simulation reads."""

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
                    # public holidays: the Irish chain's Ireland's, the Scottish chain's Scotland's, else England's
                    country="IE" if tz == "Europe/Dublin" else "GB",
                    subdivision="" if tz == "Europe/Dublin" else ("SCT" if region == "Scotland" else "ENG"),
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
        self.sub_of_p = np.array([m["sub"] for m in meta])  # index into self.sub_categories (promotions)
        self.sub_categories = sub_objs
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
        from faker import Faker  # noqa: PLC0415 — faker comes with the dev extras (factory-boy) and takes ~0.16 s; only customer seeding needs it

        cfg, rng = self.config, self.rng
        C = cfg.customers
        fake = Faker("en_GB")
        fake.seed_instance(cfg.seed)
        size = self.store_size
        home = rng.choice(self.S, size=C, p=size / size.sum()) if C else np.zeros(0, dtype=np.int64)
        weight = rng.lognormal(0.0, 1.0, C)
        # Starting tiers follow how often a customer shops (top 3 % Platinum, next 12 % Gold, next 30 %
        # Silver); they set the points multiplier while the history is simulated. demo_load then
        # requalifies every member on their actual trailing spend (customer_tiers_requalify), so the tier shown
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
        # Members also leave, as in a shop: 45 % stop shopping some time after they join (a mean of 14 months
        # on; the others stay), so lapsed members, churn risk and tiers that fall behave as a retailer sees them.
        # An RNG of its own: the rest of the chain's history draws exactly what it drew before.
        leave = np.random.default_rng([cfg.seed, 19])
        lapses = leave.random(C) < 0.45
        stay = leave.exponential(420.0, C)
        start_day = np.maximum(self.customer_joined_day, 0)
        self.customer_left_day = np.where(lapses, start_day + stay, np.inf)  # last trading day index + 1
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
