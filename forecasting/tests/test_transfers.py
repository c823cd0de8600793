"""Rebalancing: an accepted transfer suggestion moves the stock between the two stores, once."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.urls import reverse

from forecasting import services
from forecasting.models import ReorderSuggestion, StockAlert
from inventory.models import StockLevel, StockMovement
from inventory.services import stock_movement_post
from inventory.tests.factories import PASSWORD, ProductFactory

pytestmark = pytest.mark.django_db


def receive(store, product, qty, cost):
    stock_movement_post(store=store, product=product, quantity=Decimal(qty), kind="receipt", unit_cost=Decimal(cost))
    StockLevel.objects.filter(store=store, product=product).update(average_cost=Decimal(cost))


def level(store, product) -> StockLevel:
    return StockLevel.objects.get(store=store, product=product)


def ledger(store, product) -> Decimal:
    return StockMovement.objects.filter(store=store, product=product).aggregate(s=Sum("quantity"))["s"]


@pytest.fixture
def surplus(world):
    """Jam: 30 at the other store (cost 2.00), 4 here (cost 2.50); a transfer of 10 suggested and accepted."""
    jam = ProductFactory(sku="JAM-1", cost_price=Decimal("2.00"))
    receive(world.store_other, jam, 30, "2.00")
    receive(world.store_own, jam, 4, "2.50")
    line = ReorderSuggestion.objects.create(
        store=world.store_own,
        product=jam,
        kind=ReorderSuggestion.Kind.TRANSFER,
        source_store=world.store_other,
        quantity=Decimal("10"),
        suggested_qty=Decimal("10"),
        unit_cost=Decimal("0"),
        lead_time_days=0,
        cash_needed=Decimal("0"),
        explanation=["surplus at the other store"],
        status=ReorderSuggestion.Status.ACCEPTED,
    )
    world.obj.update(jam=jam, line=line)
    return world


def test_an_accepted_transfer_moves_the_stock_once_at_the_senders_cost(surplus):
    w, jam = surplus, surplus.obj["jam"]
    stores = [w.store_own.pk, w.store_other.pk]

    moved = services.transfers_from_suggestions(actor=w.owner, store_ids=stores)
    with pytest.raises(ValidationError, match="No accepted transfer"):
        services.transfers_from_suggestions(actor=w.owner, store_ids=stores)  # a second click

    assert [s.pk for s in moved] == [w.obj["line"].pk]
    here, there = level(w.store_own, jam), level(w.store_other, jam)
    assert (here.on_hand, there.on_hand) == (Decimal("14"), Decimal("20"))
    assert (ledger(w.store_own, jam), ledger(w.store_other, jam)) == (Decimal("14"), Decimal("20"))
    assert here.average_cost == Decimal("2.1429")  # (4 × 2.50 + 10 × 2.00) / 14
    kinds = StockMovement.objects.filter(source_type="forecasting.reordersuggestion").values_list("kind", "quantity")
    assert sorted(kinds) == [("transfer_in", Decimal("10")), ("transfer_out", Decimal("-10"))]
    assert ReorderSuggestion.objects.get(pk=w.obj["line"].pk).status == ReorderSuggestion.Status.MOVED


def test_moving_refreshes_the_stock_alerts_of_both_stores(surplus):
    w, jam = surplus, surplus.obj["jam"]
    stores = [w.store_own.pk, w.store_other.pk]
    services.stock_alerts_refresh(store_ids=stores)  # never sold: dead stock on both shelves
    before = dict(StockAlert.objects.filter(product=jam).values_list("store_id", "on_hand"))
    assert before == {w.store_own.pk: Decimal("4"), w.store_other.pk: Decimal("30")}

    services.transfers_from_suggestions(actor=w.owner, store_ids=stores)

    after = dict(StockAlert.objects.filter(product=jam).values_list("store_id", "on_hand"))
    assert after == {w.store_own.pk: Decimal("14"), w.store_other.pk: Decimal("20")}
    assert StockAlert.objects.get(product=jam, store=w.store_own).message.startswith("14 on the shelf")


def test_a_sender_that_no_longer_holds_the_quantity_moves_nothing(surplus):
    w, jam = surplus, surplus.obj["jam"]
    stock_movement_post(store=w.store_other, product=jam, quantity=Decimal("-25"), kind="write_off", reason="broken")

    with pytest.raises(ValidationError, match="holds 5 now, not the 10 to move"):
        services.transfers_from_suggestions(actor=w.owner, store_ids=[w.store_own.pk, w.store_other.pk])

    assert (level(w.store_own, jam).on_hand, level(w.store_other, jam).on_hand) == (Decimal("4"), Decimal("5"))
    assert level(w.store_own, jam).average_cost == Decimal("2.50")
    assert ReorderSuggestion.objects.get(pk=w.obj["line"].pk).status == ReorderSuggestion.Status.ACCEPTED


def test_the_owner_moves_accepted_transfers_from_the_reorder_page(client, surplus):
    w = surplus
    client.login(username=w.owner.username, password=PASSWORD)
    page = client.get(reverse("forecasting:suggestion_list"), {"status": "accepted"}).content.decode()
    assert 'data-testid="move-transfers"' in page and "Move accepted transfers (1)" in page

    response = client.post(reverse("forecasting:transfers_move"), follow=True)

    assert "Moved between stores: 10 × JAM-1" in response.content.decode()
    assert level(w.store_own, w.obj["jam"]).on_hand == Decimal("14")
