"""The demo chain generator: deterministic, and every ledger invariant holds on what it writes."""

from collections import defaultdict
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count, Min, Q, Sum
from django.utils import timezone

from customers.models import Customer, PointsEntry, TierChange
from customers.services import point_value, points_for_amount
from demo.catalogue import pos_username
from demo.load import DemoConfig, demo_config, demo_counts, demo_load, demo_reset
from inventory.models import (
    GoodsReceiptLine,
    Product,
    ProductPrice,
    PurchaseOrder,
    StockCount,
    StockCountLine,
    StockLevel,
    StockMovement,
    Store,
)
from inventory.services import stock_count_reconcile
from retailops.money import money
from sales.models import Sale, SaleLine, SalesDaily, StoreDaily
from sales.rollups import rollups_rebuild
from sales.services import LineInput, ReceiptInput, sale_record

pytestmark = pytest.mark.django_db

# Four stores in two chains, 15 products, 15 months (points expire after 12) with a Christmas Day.
TINY = DemoConfig(
    seed=7,
    stores=4,
    stores_per_chain=2,
    products=15,
    customers=80,
    days=450,
    end_date=date(2026, 3, 31),
    lines_per_store_day=100,
    chunk_rows=2_000,
)


@pytest.fixture
def chain():
    return demo_load(config=TINY)


def fingerprint() -> dict:
    sales = Sale.objects.aggregate(
        n=Count("id"), total=Sum("total"), cost=Sum("cost_total"), earned=Sum("points_earned")
    )
    return {
        "counts": demo_counts(),
        "sales": {k: Decimal(v).quantize(Decimal("0.01")) for k, v in sales.items()},
        "on_hand": sorted(StockLevel.objects.values_list("store__code", "product__sku", "on_hand")),
        "points": sorted(Customer.objects.values_list("code", "points_balance")),
        "refs": list(Sale.objects.order_by("id").values_list("pos_reference", flat=True)[:50]),
    }


def test_the_same_seed_gives_the_same_chain_and_another_seed_another():
    # given a loaded chain
    demo_load(config=TINY)
    first = fingerprint()

    # when it is wiped and loaded again with the same seed, then with another
    demo_reset()
    demo_load(config=TINY)
    again = fingerprint()
    demo_reset()
    demo_load(config=replace(TINY, seed=8))
    other = fingerprint()

    # then the same seed repeats every figure, another seed does not
    assert again == first
    assert other["sales"] != first["sales"]
    assert first["counts"]["stores"] == 4
    assert first["counts"]["products"] == 15
    assert first["counts"]["customers"] == 80


def test_stock_levels_equal_the_ledger_and_every_movement_names_its_source(chain):
    ledger = {
        (row["store_id"], row["product_id"]): row["q"]
        for row in StockMovement.objects.values("store_id", "product_id").annotate(q=Sum("quantity"))
    }
    levels = list(StockLevel.objects.all())

    assert len(levels) == 4 * 15
    assert all(level.on_hand == ledger.get((level.store_id, level.product_id), 0) for level in levels)
    assert all(level.average_cost > 0 for level in levels)
    kinds = set(StockMovement.objects.values_list("kind", flat=True))
    assert kinds == {"opening", "sale", "return", "receipt", "count", "write_off"}
    sourced = {"sale": "sales.saleline", "return": "sales.saleline", "receipt": "inventory.goodsreceiptline"}
    sourced["count"] = "inventory.stockcountline"
    for kind, source_type in sourced.items():
        assert not StockMovement.objects.filter(kind=kind).exclude(source_type=source_type).exists()
        assert not StockMovement.objects.filter(kind=kind, source_id__isnull=True).exists()
    # a sale movement is minus its line's quantity, at the sale's time
    line_qty = dict(SaleLine.objects.values_list("id", "quantity"))
    for movement in StockMovement.objects.filter(kind__in=["sale", "return"]).order_by("id")[:500]:
        assert movement.quantity == -line_qty[movement.source_id]
    receipt_qty = dict(GoodsReceiptLine.objects.values_list("id", "quantity"))
    assert all(m.quantity == receipt_qty[m.source_id] for m in StockMovement.objects.filter(kind="receipt"))
    variance = dict(StockCountLine.objects.values_list("id", "variance"))
    assert all(m.quantity == variance[m.source_id] for m in StockMovement.objects.filter(kind="count"))


def test_points_balances_equal_the_points_ledger_and_follow_the_earning_rule(chain):
    ledger = dict(PointsEntry.objects.values("customer_id").annotate(p=Sum("points")).values_list("customer_id", "p"))
    customers = list(Customer.objects.select_related("tier"))

    assert all(c.points_balance == ledger.get(c.pk, 0) for c in customers)
    assert all(c.points_balance >= 0 for c in customers)
    assert {"earn", "redeem", "expire"} <= set(PointsEntry.objects.values_list("kind", flat=True))
    # a sale earns at the tier its member held then: the one before the load's final requalification
    moved = {t.customer_id: t.from_tier for t in TierChange.objects.select_related("from_tier")}
    tiers = {c.pk: moved.get(c.pk, c.tier) for c in customers}
    sales = Sale.objects.filter(customer__isnull=False, kind="sale")
    assert sales.count() > 100
    for sale in sales:
        paid = sale.total - money(Decimal(sale.points_redeemed) * point_value())
        assert sale.points_earned == points_for_amount(amount=paid, tier=tiers[sale.customer_id])
    earned = dict(PointsEntry.objects.filter(kind="earn").values_list("source_id", "points"))
    assert all(earned.get(s.pk, 0) == s.points_earned for s in sales)
    # expiries only take points older than the expiry period
    first_earn = PointsEntry.objects.filter(kind="earn").aggregate(first=Min("occurred_at"))["first"]
    assert not PointsEntry.objects.filter(kind="expire", occurred_at__lt=first_earn + timedelta(days=365)).exists()


def test_sale_lines_are_priced_and_totalled_the_way_a_posted_sale_is(chain):
    prices = defaultdict(list)
    for row in ProductPrice.objects.order_by("valid_from"):
        prices[row.product_id].append(row)
    sales = {s.pk: s for s in Sale.objects.select_related("store")}
    lines_by_sale = defaultdict(list)
    for line in SaleLine.objects.all():
        lines_by_sale[line.sale_id].append(line)

    for sale_id, sale in sales.items():
        lines = lines_by_sale[sale_id]
        assert lines
        assert sale.total == sum(line.line_total for line in lines)
        assert sale.discount_total == sum(line.discount for line in lines)
        assert sale.cost_total == sum(money(line.quantity * line.unit_cost) for line in lines)
        assert sale.local_date == sale.occurred_at.astimezone(ZoneInfo(sale.store.timezone)).date()
        assert sorted(line.line_no for line in lines) == list(range(1, len(lines) + 1))
        assert sale.content_hash and len(sale.content_hash) == 64
        for line in lines:
            assert (line.quantity < 0) == (sale.kind == "return")
            assert line.line_total == money(line.unit_price * line.quantity)
            assert line.discount == money(max(line.unit_mrp - line.unit_price, 0) * line.quantity)
            if sale.kind == "return":
                continue
            in_force = [p for p in prices[line.product_id] if p.valid_from <= sale.occurred_at][-1]
            assert line.unit_mrp == in_force.mrp
            if line.price_type == "mrp":
                assert line.unit_price == in_force.mrp
            elif line.price_type == "dp":
                assert line.unit_price == in_force.dp < in_force.mrp
            else:
                assert line.price_type == "promo"
                assert line.unit_price < in_force.mrp and line.unit_price != in_force.dp
    # the products carry the latest prices
    product = Product.objects.first()
    assert product.mrp == prices[product.pk][-1].mrp
    assert product.dp <= product.mrp


def test_the_rollups_are_what_a_rebuild_and_the_sale_lines_say(chain):
    def snapshot():
        sd = sorted(
            SalesDaily.objects.values_list(
                "store_id",
                "product_id",
                "date",
                "units",
                "revenue",
                "cost",
                "discount",
                "returns_units",
                "transactions",
            )
        )
        st = sorted(StoreDaily.objects.values_list("store_id", "date", "payment_method", "transactions", "revenue"))
        return sd, st

    loaded = snapshot()
    rollups_rebuild()

    assert snapshot() == loaded
    assert len(loaded[0]) > 1000
    units = SaleLine.objects.aggregate(u=Sum("quantity"), r=Sum("line_total"))
    daily = SalesDaily.objects.aggregate(u=Sum("units"), r=Sum("revenue"))
    assert daily["u"] == units["u"]
    assert money(daily["r"]) == money(units["r"])
    expected_cost = sum(money(q * c) for q, c in SaleLine.objects.values_list("quantity", "unit_cost"))
    assert money(SalesDaily.objects.aggregate(c=Sum("cost"))["c"]) == expected_cost
    assert money(StoreDaily.objects.aggregate(c=Sum("cost"))["c"]) == expected_cost


def test_the_chain_has_stockouts_returns_promotions_purchases_and_counts(chain):
    stats = chain.stats
    assert stats["stockout_days"] > 0 and stats["lost_units"] > 0
    assert stats["promotions"] > 0 and stats["shrink_units"] > 0
    # returns: about 1-2 % of receipts, negative, pointing at a sale of the same store
    returns = Sale.objects.filter(kind="return")
    share = returns.count() / Sale.objects.count()
    assert 0.005 < share < 0.03
    assert not returns.filter(Q(original__isnull=True) | Q(total__gte=0)).exists()
    assert all(r.original.store_id == r.store_id and r.original.occurred_at < r.occurred_at for r in returns)
    assert SaleLine.objects.filter(price_type="promo").count() > 0
    assert SaleLine.objects.filter(price_type="dp").count() > 0
    assert len(set(Sale.objects.values_list("payment_method", flat=True))) >= 4
    # a shelf ran empty: some store × product reached zero in the ledger and later sold again
    empty = set()
    running = defaultdict(Decimal)
    for store_id, product_id, qty in StockMovement.objects.order_by("occurred_at", "id").values_list(
        "store_id", "product_id", "quantity"
    ):
        running[(store_id, product_id)] += qty
        if running[(store_id, product_id)] <= 0:
            empty.add((store_id, product_id))
    assert empty
    # no sales on Christmas Day
    assert not Sale.objects.filter(local_date=date(2025, 12, 25)).exists()
    # purchases: received and paid, received and unpaid, in transit, and drafts for the owner
    orders = PurchaseOrder.objects
    assert orders.filter(status="received", paid_at__isnull=False, amount_paid__gt=0).exists()
    assert orders.filter(status="received", paid_at__isnull=True).exists()
    assert orders.filter(status="ordered").exists()
    assert orders.filter(status="draft").exists()
    # shrinkage: reconciled counts with reasons and corrections, submitted ones waiting, one open
    counts = StockCount.objects
    assert counts.filter(status="reconciled").count() >= 4
    assert counts.filter(status="submitted").count() >= 1
    assert counts.filter(status="open").count() == 1
    reconciled_lines = StockCountLine.objects.filter(count__status="reconciled").exclude(variance=0)
    assert reconciled_lines.exists() and not reconciled_lines.filter(reason="").exists()
    assert reconciled_lines.filter(reason="theft").exists()
    # stock alerts for the home page
    assert StockLevel.objects.filter(min_qty__isnull=False, max_qty__gt=0).count() == 4 * 15


def test_a_submitted_count_reconciles_through_the_service_with_the_same_expected_quantities(chain):
    owner = get_user_model().objects.get(username="owner")
    count = StockCount.objects.filter(status="submitted").first()
    before = dict(count.lines.values_list("id", "expected_qty"))
    for line in count.lines.exclude(variance=0).filter(reason=""):
        StockCountLine.objects.filter(pk=line.pk).update(reason="unknown")

    movements = stock_count_reconcile(count=count, actor=owner)

    assert dict(count.lines.values_list("id", "expected_qty")) == before
    assert len(movements) == count.lines.exclude(variance=0).count()
    for level in StockLevel.objects.filter(store=count.store):
        total = StockMovement.objects.filter(store=count.store, product=level.product).aggregate(q=Sum("quantity"))
        assert level.on_hand == total["q"]


def test_a_sale_posted_after_the_load_gets_fresh_ids(chain):
    store = Store.objects.order_by("id").first()
    product = Product.objects.order_by("id").first()
    level = StockLevel.objects.get(store=store, product=product)
    receipt = ReceiptInput(
        store=store,
        pos_reference="AFTER-DEMO-1",
        occurred_at=timezone.now() - timedelta(minutes=1),
        lines=[LineInput(product=product, quantity=Decimal("1"), unit_price=product.mrp)],
    )

    sale = sale_record(receipt=receipt).sale

    assert sale.pk > Sale.objects.exclude(pk=sale.pk).order_by("-pk").first().pk
    level.refresh_from_db()
    assert level.on_hand == StockMovement.objects.filter(store=store, product=product).aggregate(q=Sum("quantity"))["q"]


def test_demo_users_have_their_roles_and_stores(chain):
    User = get_user_model()
    stores = list(Store.objects.order_by("id"))
    owner, accountant = User.objects.get(username="owner"), User.objects.get(username="accountant")
    staff, staff2 = User.objects.get(username="staff"), User.objects.get(username="staff2")

    assert owner.check_password("owner-demo-2026") and owner.is_staff
    assert accountant.check_password("accountant-demo-2026") and not accountant.is_staff
    assert staff.check_password("staff-demo-2026") and staff2.check_password("staff2-demo-2026")
    assert list(owner.groups.values_list("name", flat=True)) == ["owner"]
    assert list(accountant.groups.values_list("name", flat=True)) == ["accountant"]
    assert list(staff.groups.values_list("name", flat=True)) == ["staff"]
    assert list(staff.stores.all()) == [stores[0]]
    assert list(staff2.stores.all()) == [stores[3]]
    assert owner.has_perm("inventory.view_all_stores") and owner.has_perm("inventory.reconcile_stockcount")
    assert accountant.has_perm("sales.view_profit") and not accountant.has_perm("customers.view_customer_pii")
    assert not staff.has_perm("inventory.view_cost")
    open_count = StockCount.objects.get(status="open")
    assert open_count.store == stores[0] and open_count.created_by == staff
    # One POS device per store, bound to it: a membership, no view_all_stores.
    devices = User.objects.filter(username__in=[pos_username(s) for s in stores])
    assert devices.count() == len(stores)
    pos = devices.get(username=pos_username(stores[0]))
    assert pos.has_perm("sales.add_sale") and not pos.has_perm("inventory.view_all_stores")
    assert list(pos.stores.all()) == [stores[0]]


def test_seed_demo_if_empty_leaves_a_loaded_database_alone(chain, capsys):
    before = demo_counts()

    call_command("seed_demo", "--if-empty")

    assert "not loaded" in capsys.readouterr().out
    assert demo_counts() == before
    with pytest.raises(CommandError, match="--reset"):
        call_command("seed_demo")


def test_reset_wipes_the_chain_and_the_demo_users(chain):
    demo_reset()

    assert all(n == 0 for n in demo_counts().values())
    assert not get_user_model().objects.filter(username__in=["owner", "staff", "pos"]).exists()


def test_default_config_is_the_chain_of_the_design():
    config = demo_config(end_date=date(2026, 11, 21))
    big = demo_config(scale=4, end_date=date(2026, 11, 21))

    assert (config.stores, config.stores_per_chain, config.products, config.customers) == (15, 3, 100, 2000)
    assert config.first_day == date(2023, 11, 22) and config.last_day == date(2026, 11, 21)
    assert (big.stores, big.customers, big.products) == (60, 8000, 100)
    yesterday = timezone.now().astimezone(ZoneInfo("Europe/London")).date() - timedelta(days=1)
    assert demo_config().last_day == yesterday
