"""The numbers of the sales, inventory, profit and cash-flow pages against a small chain computed by hand.

The chain (see `chain` below), week Mon 2 – Sun 8 June 2025, prices tea 4.00 / 3.50 (cost 2.00),
crisps 1.00 / 0.80 (cost 0.40), gum 1.50 / 1.20 (cost 0.50):
  OWN Tue 3  card  tea ×2 @4.00 + crisps ×3 @0.80   = 10.40  discount 0.60  cost 5.20
  OWN Wed 4  card  gum ×2 @1.50                       =  3.00                 cost 1.00
  OTH Wed 4  card  crisps ×10 @1.00 (loyalty member)  = 10.00                 cost 4.00
  OWN Thu 5  cash  tea ×1 @3.50                       =  3.50  discount 0.50  cost 2.00
  OWN Fri 6  cash  return tea ×1 @4.00                = −4.00                 cost −2.00
  last year: OWN Tue 4 June 2024 card tea ×1 @4.00   =  4.00

  → revenue 22.90, units 17, receipts 4, returns 4.00, basket (22.90 + 4.00) / 4 = 6.725 → 6.73,
    cost 10.20, gross profit 12.70, discounts 1.10; OWN alone: revenue 12.90, units 7, receipts 3.
"""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.http import QueryDict
from django.utils import timezone

from customers.tests.factories import CustomerFactory, LoyaltyTierFactory
from forecasting.models import DemandForecast, ForecastRun
from inventory.models import Category, PurchaseOrder, PurchaseOrderLine
from inventory.services import stock_movement_post
from inventory.tests.factories import ProductFactory, SupplierFactory
from reports import selectors as sel
from reports.filters import parse_filters
from sales.models import RollupChange, StoreDaily
from sales.rollups import rollups_rebuild
from sales.tests.factories import post_sale

pytestmark = pytest.mark.django_db
LONDON = ZoneInfo("Europe/London")
D = Decimal
WEEK = "period=custom&start=2025-06-02&end=2025-06-08"


def at(y, m, d, h=10):
    return datetime(y, m, d, h, tzinfo=LONDON)


@pytest.fixture
def chain(world):
    return build_chain(world)


def build_chain(world):
    """Create the chain of the module docstring in `world` (shared with the view and export tests)."""
    cache.clear()  # the dashboards cache closed days' rollup sums; each test starts from a fresh database
    sel._LOCAL.clear()
    drinks = Category.objects.create(name="Drinks")
    tea_cat = Category.objects.create(name="Tea", parent=drinks)
    snacks = Category.objects.create(name="Snacks")
    supplier = SupplierFactory(lead_time_days=5)
    tea = ProductFactory(
        sku="TEA", name="Tea", category=tea_cat, supplier=supplier, mrp=D("4.00"), dp=D("3.50"), cost_price=D("2.00")
    )
    crisps = ProductFactory(
        sku="CRISPS",
        name="Crisps",
        category=snacks,
        supplier=supplier,
        mrp=D("1.00"),
        dp=D("0.80"),
        cost_price=D("0.40"),
    )
    gum = ProductFactory(
        sku="GUM",
        name="=SUM(A1)",
        category=snacks,
        supplier=supplier,
        mrp=D("1.50"),
        dp=D("1.20"),
        cost_price=D("0.50"),
    )
    own, other = world.store_own, world.store_other
    for store in (own, other):
        for p in (tea, crisps):
            stock_movement_post(store=store, product=p, quantity=D("100"), kind="opening", occurred_at=at(2024, 1, 1))
    stock_movement_post(store=own, product=gum, quantity=D("2"), kind="opening", occurred_at=at(2025, 6, 1))

    member = CustomerFactory(tier=LoyaltyTierFactory(rank=0))
    post_sale(store=own, lines=[(tea, 1, None)], when=at(2024, 6, 4))  # last year
    post_sale(store=own, lines=[(tea, 2, None), (crisps, 3, "0.80")], when=at(2025, 6, 3))
    post_sale(store=own, lines=[(gum, 2, None)], when=at(2025, 6, 4))
    post_sale(store=other, lines=[(crisps, 10, None)], when=at(2025, 6, 4), customer=member)
    post_sale(store=own, lines=[(tea, 1, "3.50")], when=at(2025, 6, 5), payment="cash")
    post_sale(store=own, lines=[(tea, -1, None)], when=at(2025, 6, 6), payment="cash", kind="return")

    # Shrinkage: a count correction of −2 tea (4.00 at cost), a write-off of one bag of crisps (0.40),
    # an adjustment finding one bag back (+0.40) — and, after the week, five packs of gum found (+2.50).
    stock_movement_post(
        store=own, product=tea, quantity=D("-2"), kind="count", unit_cost=D("2.00"), occurred_at=at(2025, 6, 7)
    )
    stock_movement_post(
        store=own,
        product=crisps,
        quantity=D("-1"),
        kind="write_off",
        unit_cost=D("0.40"),
        occurred_at=at(2025, 6, 7),
        reason="crushed",
    )
    stock_movement_post(
        store=own,
        product=crisps,
        quantity=D("1"),
        kind="adjustment",
        unit_cost=D("0.40"),
        occurred_at=at(2025, 6, 7, 11),
        reason="found in the back",
    )
    stock_movement_post(
        store=own,
        product=gum,
        quantity=D("5"),
        kind="adjustment",
        unit_cost=D("0.50"),
        occurred_at=at(2025, 6, 20),
        reason="delivery booked late",
    )

    order = PurchaseOrder.objects.create(
        supplier=supplier,
        store=own,
        status=PurchaseOrder.Status.ORDERED,
        ordered_at=at(2025, 6, 2),
        paid_at=at(2025, 6, 6, 15),
        amount_paid=D("40.00"),
        reference="=cmd|calc",
    )
    PurchaseOrderLine.objects.create(order=order, product=tea, quantity_ordered=D("20"), unit_cost=D("2.00"))
    world.obj.update(tea=tea, crisps=crisps, gum=gum, drinks=drinks, snacks=snacks, order=order, member=member)
    return world


def filters(user, query=WEEK, today=date(2025, 7, 15)):
    return parse_filters(user=user, params=QueryDict(query), today=today)


def test_sales_kpis_for_the_chain_and_last_year(chain):
    k = sel.sales_kpis(filters(chain.owner))

    c = k["current"]
    assert (c["revenue"], c["units"], c["transactions"]) == (D("22.90"), D("17"), 4)
    assert (c["returns_value"], c["discount"], c["cost"]) == (D("4.00"), D("1.10"), D("10.20"))
    assert c["basket"] == D("6.73")
    assert c["gross_profit"] == D("12.70")
    assert k["previous"]["revenue"] == D("4.00")  # 2 – 8 June 2024, the calendar year before
    # +472.5 % on a £4.00 base says nothing: no percentage below £50 (reports.selectors.base_too_small)
    assert (k["change"]["revenue"], k["small"]["revenue"]) == (None, True)


def test_staff_see_only_their_store(chain):
    c = sel.sales_kpis(filters(chain.staff))["current"]

    assert (c["revenue"], c["units"], c["transactions"]) == (D("12.90"), D("7"), 3)


def test_category_filter_reads_sales_daily_and_drops_receipts(chain):
    f = filters(chain.owner, WEEK + f"&category={chain.obj['drinks'].pk}")

    c = sel.sales_kpis(f)["current"]

    assert (c["revenue"], c["units"], c["transactions"]) == (D("7.50"), D("2"), None)  # 8.00 + 3.50 − 4.00


def test_trend_is_daily_with_last_year_aligned(chain):
    trend = sel.sales_trend(filters(chain.owner))

    assert trend["kind"] == "day"
    assert [r["revenue"] for r in trend["rows"]] == [D("0"), D("10.40"), D("13.00"), D("3.50"), D("-4.00"), 0, 0]
    assert [r["revenue_ly"] for r in trend["rows"]][:3] == [D("0"), D("0"), D("4.00")]


def test_store_comparison(chain):
    rows = {r["store"].code: r for r in sel.store_comparison(filters(chain.owner))}

    assert rows["OWN"]["revenue"] == D("12.90") and rows["OWN"]["transactions"] == 3
    assert rows["OTH"]["revenue"] == D("10.00") and rows["OTH"]["transactions"] == 1
    assert rows["OWN"]["revenue_ly"] == D("4.00")
    assert rows["OTH"]["basket"] == D("10.00")
    assert rows["OWN"]["gross_profit"] == D("12.90") - D("6.20")


def test_category_performance_rolls_up_to_top_level(chain):
    rows = {r["name"]: r for r in sel.category_performance(filters(chain.owner))}

    assert rows["Snacks"]["revenue"] == D("15.40")  # 2.40 + 10.00 + 3.00
    assert rows["Drinks"]["revenue"] == D("7.50")
    assert rows["Snacks"]["share"] == D("15.40") / D("22.90")


def test_product_rankings(chain):
    ranks = sel.product_rankings(filters(chain.owner))

    assert [r["product"].sku for r in ranks["by_revenue"]] == ["CRISPS", "TEA", "GUM"]
    assert [r["product"].sku for r in ranks["by_velocity"]] == ["CRISPS", "TEA", "GUM"]
    crisps = ranks["by_revenue"][0]
    assert (crisps["units"], crisps["gross_profit"]) == (D("13"), D("12.40") - D("5.20"))
    # high stock, low sales: tea has 195 on hand for 2 units a week
    assert ranks["high_stock_low_sales"][0]["product"].sku == "TEA"


def test_inventory_overview(chain):
    inv = sel.inventory_overview(filters(chain.owner))
    t = inv["total"]

    # tea 95×2.00 (one sold last year) + crisps 97×0.40 + gum 5×0.50 (OWN); tea 100×2.00 + crisps 90×0.40 (OTH)
    assert t["value"] == D("467.30")
    assert t["series"] == 5
    # gum: 2 until Wed 4, then 0 from Wed 4 to Sun 8 (the 5 found came on 20 June) → 5 zero days
    assert t["zero_days"] == 5
    assert t["stockout_rate"] == D(5) / D(35)
    assert [(line["product"].sku, line["zero_days"]) for line in inv["stockouts"]] == [("GUM", 5)]
    # dead: tea at OTH never sold in the 60 days; overstock: tea and crisps at OWN (> 90 days of cover)
    assert (t["dead_lines"], t["dead_value"]) == (1, D("200.00"))
    assert (t["overstock_lines"], t["overstock_value"]) == (2, D("228.80"))
    assert t["turnover"] == D("10.20") * 365 / 7 / D("467.30")
    stores = {r["store"].code: r for r in inv["stores"]}
    assert stores["OWN"]["value"] == D("231.30") and stores["OTH"]["value"] == D("236.00")


def test_profit_summary_with_shrinkage_and_price_mix(chain):
    p = sel.profit_summary(filters(chain.owner))

    assert (p["revenue"], p["cost"], p["gross_profit"]) == (D("22.90"), D("10.20"), D("12.70"))
    assert p["shrinkage"]["counts"] == D("4.00")
    assert p["shrinkage"]["write_offs"] == D("0.40")
    assert p["profit_after_shrinkage"] == D("8.30")
    # list price: tea ×2, crisps ×10, gum ×2 and the returned tea (−1) → 13 units, 8 + 10 + 3 − 4 = 17.00
    assert (p["units_mrp"], p["revenue_mrp"]) == (D("13"), D("17.00"))
    assert p["units_share_mrp"] == D(13) / D(17)
    assert p["returns_units"] == D("1")


def test_profit_by_store_category_product_and_month(chain):
    f = filters(chain.owner)

    by_store = {r["label"].code: r for r in sel.profit_by(f, "store")}
    by_cat = {str(r["label"]): r for r in sel.profit_by(f, "category")}
    by_product = {r["label"].sku: r for r in sel.profit_by(f, "product")}
    months = sel.profit_by_month(filters(chain.owner, "period=custom&start=2025-05-01&end=2025-07-31"))

    assert by_store["OTH"]["gross_profit"] == D("6.00")
    assert by_cat["Drinks"]["gross_profit"] == D("7.50") - D("4.00")
    assert by_product["GUM"]["margin"] == D("2.00") / D("3.00")
    assert [(m["label"], m["revenue"]) for m in months] == [("May 2025", 0), ("Jun 2025", D("22.90")), ("Jul 2025", 0)]


def test_cash_flow_by_week(chain):
    flow = sel.cash_flow(filters(chain.owner), "week")
    t = flow["totals"]

    assert t["cash_in"] == D("22.90")  # card 23.40, cash 3.50 − 4.00
    assert t["out"] == D("40.00")
    assert t["net"] == D("-17.10")
    assert t["reinvestment"] == D("40.00") / D("22.90")
    assert [r["label"] for r in flow["rows"]] == ["wk 02 Jun"]


def test_cash_flow_counts_vouchers_apart(chain):
    post_sale(store=chain.store_own, lines=[(chain.obj["tea"], 1, None)], when=at(2025, 6, 8), payment="voucher")

    t = sel.cash_flow(filters(chain.owner), "week")["totals"]

    assert (t["cash_in"], t["non_cash"]) == (D("22.90"), D("4.00"))


def test_cash_tied_and_forward_view_use_open_orders(chain):
    f = filters(chain.owner)
    order = chain.obj["order"]
    order.expected_date = date(2025, 7, 23)
    order.amount_paid = D("10.00")
    order.save()

    tied = sel.cash_tied(f)
    fwd = sel.cash_forward(f, today=date(2025, 7, 15))

    assert tied == {"stock": D("467.30"), "on_order": D("40.00"), "paid_ahead": D("10.00")}
    assert fwd["source"] == "trailing"
    assert [r["out"] for r in fwd["rows"]] == [0, D("30.00"), 0, 0, 0, 0]  # due the week of 21 July
    assert fwd["weekly_average"] == D("0.00")  # no takings in the 28 days before 15 July


def test_forward_view_trailing_average(chain):
    post_sale(store=chain.store_own, lines=[(chain.obj["tea"], 7, None)], when=at(2025, 7, 10))

    fwd = sel.cash_forward(filters(chain.owner), today=date(2025, 7, 15))

    assert fwd["weekly_average"] == D("7.00")  # 28.00 over 28 days × 7
    assert fwd["rows"][0]["in"] == D("6.00")  # this week from today, Tuesday: 6 days at 1.00
    assert fwd["rows"][1]["in"] == D("7.00")


def test_a_period_with_no_sales_is_zero_not_an_error(chain):
    f = filters(chain.owner, "period=custom&start=2020-01-01&end=2020-01-31")

    k = sel.sales_kpis(f)
    inv = sel.inventory_overview(f)

    assert k["empty"] and k["current"]["basket"] is None and k["current"]["margin"] is None
    assert inv["total"]["turnover"] == 0


def test_stock_valuation_at_a_past_day(chain):
    f = filters(chain.owner)

    lines = {(v.store_id, v.product_id): v for v in sel.stock_valuation_at(f, date(2025, 6, 3))}

    own, tea, gum = chain.store_own.pk, chain.obj["tea"].pk, chain.obj["gum"].pk
    assert lines[(own, tea)].on_hand == D("97")  # 100 − 1 last year − 2 on 3 June
    assert lines[(own, gum)].on_hand == D("2")


def test_forward_view_uses_the_demand_forecast_when_there_is_one(chain):
    run = ForecastRun.objects.create(status="done", history_end=date(2025, 7, 13))
    post_sale(store=chain.store_own, lines=[(chain.obj["tea"], 2, "3.50")], when=at(2025, 7, 1))
    for day in range(21, 28):  # the week of Monday 21 July: 3 teas a day
        DemandForecast.objects.create(
            run=run,
            store=chain.store_own,
            product=chain.obj["tea"],
            date=date(2025, 7, day),
            yhat=3.0,
            lo=1.0,
            hi=5.0,
            model="naive",
        )

    fwd = sel.cash_forward(filters(chain.owner), today=date(2025, 7, 15))

    assert fwd["source"] == "forecast"
    # 21 teas at the price tea sold for in the last 28 days (3.50)
    # the run covers 14 July – 10 August: the last two weeks have no forecast, not zero takings
    assert [r["in"] for r in fwd["rows"]] == [0, D("73.50"), 0, 0, None, None]


def test_an_unfinished_forecast_run_is_not_used(chain):
    run = ForecastRun.objects.create(status="running", history_end=date(2025, 7, 13))
    DemandForecast.objects.create(
        run=run,
        store=chain.store_own,
        product=chain.obj["tea"],
        date=date(2025, 7, 22),
        yhat=3.0,
        lo=1.0,
        hi=5.0,
        model="naive",
    )

    assert sel.cash_forward(filters(chain.owner), today=date(2025, 7, 15))["source"] == "trailing"


def test_cached_closed_days_see_a_late_import(chain):
    before = {r["name"]: r["revenue"] for r in sel.category_performance(filters(chain.owner))}

    post_sale(store=chain.store_other, lines=[(chain.obj["tea"], 1, None)], when=at(2025, 6, 3))  # backdated
    after = {r["name"]: r["revenue"] for r in sel.category_performance(filters(chain.owner))}  # next request

    assert (before["Drinks"], after["Drinks"]) == (D("7.50"), D("11.50"))


def test_every_cached_page_sees_a_backdated_sale(chain):
    """KPIs, trend, store comparison and cash flow cache the closed days' StoreDaily sums: a receipt posted
    late into the period shows on the next request."""

    def figures():
        f = filters(chain.owner)
        return (
            sel.sales_kpis(f)["current"]["revenue"],
            sum(r["revenue"] for r in sel.sales_trend(f)["rows"]),
            {r["store"].code: r["transactions"] for r in sel.store_comparison(f)}["OTH"],
            sel.cash_flow(f, "week")["totals"]["cash_in"],
        )

    before = figures()
    assert figures() == before  # served from the cache the second time, same numbers
    post_sale(store=chain.store_other, lines=[(chain.obj["tea"], 1, None)], when=at(2025, 6, 4))  # backdated

    assert figures() == (before[0] + D("4.00"), before[1] + D("4.00"), before[2] + 1, before[3] + D("4.00"))


def test_only_writes_into_closed_days_are_logged(chain):
    RollupChange.objects.all().delete()
    post_sale(store=chain.store_own, lines=[(chain.obj["tea"], 1, None)])  # now: today's rollups, read live
    assert not RollupChange.objects.exists()

    post_sale(store=chain.store_own, lines=[(chain.obj["tea"], 1, None)], when=at(2025, 6, 5))
    assert list(RollupChange.objects.values_list("date", flat=True)) == [date(2025, 6, 5)]

    RollupChange.objects.all().delete()
    rollups_rebuild(store_ids=[chain.store_other.pk])  # logs every closed day with the store's sales
    days = set(StoreDaily.objects.filter(store=chain.store_other).values_list("date", flat=True))
    logged = set(RollupChange.objects.values_list("date", flat=True))
    assert days and logged == days
    assert timezone.localdate() not in logged
