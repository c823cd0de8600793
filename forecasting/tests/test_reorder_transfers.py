"""Transfers before buying: a transfer only lowers a buy, and stock moves only between stores that can move it."""

from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting import policy, services
from forecasting.models import ReorderSuggestion
from inventory.models import StockLevel
from inventory.services import stock_movement_post
from inventory.tests.factories import ProductFactory, StoreFactory

D = Decimal


@dataclass
class Shop:
    chain: str
    currency: str = "GBP"
    transfer_group: str = ""


def need(store_id, n, *, chain="Harbour", currency="GBP", group=""):
    """A store that needs ``n`` (no surplus)."""
    return policy.StoreNeed(
        store_id=store_id,
        on_hand=D(0),
        order_up_to=D(n),
        need=D(n),
        chain=chain,
        currency=currency,
        transfer_group=group,
    )


def surplus(store_id, n, *, chain="Harbour", currency="GBP", group="", keep=2):
    """A store holding ``n`` above its order-up-to level ``keep``."""
    return policy.StoreNeed(
        store_id=store_id,
        on_hand=D(n + keep),
        order_up_to=D(keep),
        need=D(0),
        chain=chain,
        currency=currency,
        transfer_group=group,
    )


# --- the examples of the issue --------------------------------------------------------------------------


def test_hb03_toi006_a_need_of_45_with_39_coming_by_transfer_buys_one_case():
    # given: HB03 needs 45 (cases of 6), five stores of the chain hold 18, 10, 4, 4 and 3 spare
    needs = [need(1, 45)] + [surplus(s, n) for s, n in zip([2, 3, 4, 5, 6], [18, 10, 4, 4, 3], strict=True)]

    # when
    moves, buys = policy.transfer_plan(needs, case_pack=6)

    # then: 39 come in, 6 are still needed: one case, not 42 (nor the 48 it buys with no transfer)
    assert sorted(q for _, _, q in moves) == [3, 4, 4, 10, 18]
    assert buys == {1: D(6)}
    assert buys[1] <= policy.ceil_to_case(D(45 - 39), 6)


def test_th03_dry006_transfers_that_cover_the_need_leave_nothing_to_buy():
    moves, buys = policy.transfer_plan([need(1, 74), surplus(2, 69), surplus(3, 5)], case_pack=12)

    assert moves == [(2, 1, D(69)), (3, 1, D(5))]
    assert buys == {1: D(0)}  # was 72


def test_no_transfer_across_chains_or_currencies():
    # Dublin (Liffey Market, EUR) has hand soap to spare; Exeter (Harbour Stores, GBP) needs it
    dublin = surplus(9, 30, chain="Liffey Market", currency="EUR")
    exeter = need(3, 20, chain="Harbour Stores")
    bath = surplus(2, 12, chain="Harbour Stores")
    moves, buys = policy.transfer_plan([dublin, exeter, bath], case_pack=10)

    assert moves == [(2, 3, D(10))]  # only from the store of its own chain, and only what saves a case
    assert buys == {3: D(10)}


def test_a_transfer_that_would_not_save_a_case_is_not_made():
    # HB03 needs 12 of a product sold in cases of 12; Bath has 6 spare: moving them still leaves a case to buy
    moves, buys = policy.transfer_plan([need(3, 12), surplus(2, 6)], case_pack=12)

    assert (moves, buys) == ([], {3: D(12)})


def test_only_the_transfer_that_saves_cases_is_made():
    # needs 45 in cases of 6; 41 spare: 39 in leave 6 to buy (one case); the 2 more would not save another
    moves, buys = policy.transfer_plan([need(1, 45), surplus(2, 41)], case_pack=6)

    assert (moves, buys) == ([(2, 1, D(39))], {1: D(6)})


def test_same_chain_but_another_currency_cannot_move():
    assert not policy.stores_can_transfer(Shop("North", "GBP"), Shop("North", "EUR"))
    assert policy.stores_can_transfer(Shop("North", "GBP"), Shop("North", "GBP"))
    assert not policy.stores_can_transfer(Shop("North"), Shop("South"))


def test_a_transfer_group_overrides_the_chain():
    assert policy.stores_can_transfer(Shop("North", transfer_group="M6"), Shop("South", transfer_group="M6"))
    assert not policy.stores_can_transfer(Shop("North", transfer_group="M6"), Shop("North"))  # one outside the group
    assert not policy.stores_can_transfer(Shop("North", transfer_group="M6"), Shop("North", transfer_group="A1"))
    assert not policy.stores_can_transfer(Shop("North", "GBP", "M6"), Shop("South", "EUR", "M6"))  # never currencies


# --- properties over random small chains ----------------------------------------------------------------


@st.composite
def chains(draw):
    n = draw(st.integers(min_value=2, max_value=7))
    stores = []
    for store_id in range(1, n + 1):
        on_hand = D(draw(st.integers(min_value=-3, max_value=80)))
        on_order = D(draw(st.integers(min_value=0, max_value=20)))
        daily = D(draw(st.integers(min_value=0, max_value=60))) / 10  # forecast per day
        order_up_to = policy.q3(daily * 14 + D(draw(st.integers(min_value=0, max_value=9))) / 2)
        reorder_point = policy.q3(order_up_to * D("0.6"))
        position = max(on_hand, D(0)) + on_order
        raw = order_up_to - position if position <= reorder_point else D(0)
        stores.append(
            policy.StoreNeed(
                store_id=store_id,
                on_hand=on_hand,
                order_up_to=order_up_to,
                need=max(raw, D(0)),
                chain=draw(st.sampled_from(["Harbour", "Liffey"])),
                currency=draw(st.sampled_from(["GBP", "EUR"])),
                transfer_group=draw(st.sampled_from(["", "", "west", "east"])),
            )
        )
    return stores, draw(st.integers(min_value=1, max_value=24))


@settings(max_examples=400, deadline=None)
@given(chains())
def test_transfers_never_raise_a_buy_and_stay_between_stores_that_can_move_stock(case):
    needs, case_pack = case
    by_id = {n.store_id: n for n in needs}

    moves, buys = policy.transfer_plan(needs, case_pack=case_pack)

    arriving = {n.store_id: D(0) for n in needs}
    sent = {n.store_id: D(0) for n in needs}
    for from_store, to_store, qty in moves:
        assert from_store != to_store
        assert qty > 0 and qty == qty.to_integral_value()
        assert policy.stores_can_transfer(by_id[from_store], by_id[to_store])
        assert by_id[from_store].need == 0  # a store that needs stock never sends it away
        arriving[to_store] += qty
        sent[from_store] += qty
    for n in needs:
        assert n.on_hand - sent[n.store_id] >= n.order_up_to or sent[n.store_id] == 0  # keeps its order-up-to
        assert arriving[n.store_id] <= policy.ceil_to_case(n.need, 1)  # no more than it needs
        buy = buys.get(n.store_id, D(0))
        without = policy.ceil_to_case(n.need, case_pack)  # what it buys with no transfer at all
        assert buy <= without  # a transfer never raises a buy
        assert arriving[n.store_id] == 0 or buy < without  # and one is made only when it lowers the buy
        assert buy <= policy.ceil_to_case(max(n.need - arriving[n.store_id], D(0)), case_pack)
        assert buy % case_pack == 0


@settings(max_examples=200, deadline=None)
@given(chains())
def test_with_no_store_able_to_move_stock_every_store_buys_its_own_need(case):
    needs, case_pack = case
    for i, n in enumerate(needs):
        n.currency = f"C{i:02d}"  # every store in its own currency

    moves, buys = policy.transfer_plan(needs, case_pack=case_pack)

    assert moves == []
    assert buys == {n.store_id: policy.ceil_to_case(n.need, case_pack) for n in needs if n.need > 0}


# --- the reorder plan on the database -------------------------------------------------------------------


def stock(store, product, on_hand, *, low, high):
    """``on_hand`` on the shelf; reorder point ``low`` and order-up-to ``high`` set by hand on the stock level."""
    if on_hand:
        stock_movement_post(store=store, product=product, quantity=D(on_hand), kind="receipt", unit_cost=D("1.50"))
    StockLevel.objects.update_or_create(store=store, product=product, defaults={"min_qty": D(low), "max_qty": D(high)})


@pytest.fixture
def harbour(db):
    """HB03 Harbour Stores Exeter needs 45 of TOI006 (cases of 6); five stores of its chain hold 18, 10, 4, 4, 3
    above their order-up-to level of 2; Dublin (another chain, EUR) and a store of the chain trading in EUR
    hold 50 spare each, which must not move to Exeter."""
    toi = ProductFactory(sku="TOI006", name="Hand soap", case_pack=6, cost_price=D("1.50"))
    exeter = StoreFactory(code="HB03", name="Harbour Stores Exeter", chain="Harbour Stores")
    stock(exeter, toi, 0, low=10, high=45)
    givers = []
    for code, spare in [("HB01", 18), ("HB02", 10), ("HB04", 4), ("HB05", 4), ("HB06", 3)]:
        store = StoreFactory(code=code, name=f"Harbour Stores {code}", chain="Harbour Stores")
        stock(store, toi, spare + 2, low=1, high=2)
        givers.append(store)
    dublin = StoreFactory(code="LM01", name="Liffey Market Rathmines", chain="Liffey Market", currency="EUR")
    stock(dublin, toi, 52, low=1, high=2)
    euro = StoreFactory(code="HB09", name="Harbour Stores Cork", chain="Harbour Stores", currency="EUR")
    stock(euro, toi, 52, low=1, high=2)
    return {"toi": toi, "exeter": exeter, "givers": givers, "dublin": dublin, "euro": euro}


def test_reorder_plan_buys_what_is_left_after_every_transfer(harbour):
    exeter = harbour["exeter"]
    store_ids = [exeter.pk] + [s.pk for s in harbour["givers"]]  # the chain's stores only

    plan = services.reorder_plan(store_ids=store_ids)

    mine = [ln for ln in plan.lines if ln.store_id == exeter.pk]
    buy = next(ln for ln in mine if ln.kind == ReorderSuggestion.Kind.PURCHASE)
    moves = sorted((ln.quantity, ln.source_store_id) for ln in mine if ln.kind == ReorderSuggestion.Kind.TRANSFER)
    codes = {s.pk: s.code for s in harbour["givers"]}
    assert [(q, codes.get(src, "other")) for q, src in moves] == [
        (D(3), "HB06"),
        (D(4), "HB04"),
        (D(4), "HB05"),
        (D(10), "HB02"),
        (D(18), "HB01"),
    ]
    assert buy.quantity == D(6)  # 45 − 39 = 6: one case; was 42
    assert buy.result.raw_quantity == D(45)
    why = " ".join(buy.explanation)
    assert "18 from HB01 Harbour Stores HB01" in why and "buy 6 instead of 48" in why
    assert "#" not in why
    transfer_why = next(ln for ln in mine if ln.kind == "transfer" and ln.quantity == D(18)).explanation
    assert transfer_why[0].startswith(
        "HB01 Harbour Stores HB01 holds 20, above its order-up-to level 2: move 18 to HB03"
    )


def test_suggestions_built_from_the_plan_never_buy_more_than_the_need_left(harbour):
    exeter = harbour["exeter"]
    store_ids = [exeter.pk, harbour["dublin"].pk, harbour["euro"].pk] + [s.pk for s in harbour["givers"]]

    services.reorder_suggestions_build(store_ids=store_ids)

    lines = ReorderSuggestion.objects.filter(store=exeter, status=ReorderSuggestion.Status.OPEN)
    buy = lines.get(kind=ReorderSuggestion.Kind.PURCHASE)
    moved_in = sum(s.quantity for s in lines.filter(kind=ReorderSuggestion.Kind.TRANSFER))
    assert (buy.quantity, moved_in) == (D(6), D(39))
    senders = set(ReorderSuggestion.objects.filter(kind="transfer").values_list("source_store__code", flat=True))
    assert senders == {"HB01", "HB02", "HB04", "HB05", "HB06"}  # not Dublin, not the euro store


def test_moving_an_accepted_transfer_between_stores_that_cannot_is_refused(harbour, world):
    toi, exeter, dublin = harbour["toi"], harbour["exeter"], harbour["dublin"]
    line = ReorderSuggestion.objects.create(
        store=exeter,
        product=toi,
        kind=ReorderSuggestion.Kind.TRANSFER,
        source_store=dublin,
        quantity=D("10"),
        suggested_qty=D("10"),
        unit_cost=D("0"),
        lead_time_days=0,
        cash_needed=D("0"),
        status=ReorderSuggestion.Status.ACCEPTED,
    )

    with pytest.raises(ValidationError, match="LM01 Liffey Market Rathmines cannot move stock to HB03"):
        services.transfers_from_suggestions(actor=world.owner, store_ids=[exeter.pk])

    assert StockLevel.objects.get(store=dublin, product=toi).on_hand == D(52)
    line.refresh_from_db()
    assert line.status == ReorderSuggestion.Status.ACCEPTED
