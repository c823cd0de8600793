"""The Reorder page: the actions bar follows each decision, supplier minimums are flagged before ordering, and
a forecast still running is said instead of an all-clear."""

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from forecasting import selectors
from forecasting.models import ForecastRun, ReorderSuggestion
from inventory.models import PurchaseOrder
from inventory.tests.factories import PASSWORD, ProductFactory, SupplierFactory

from .factories import open_suggestion

pytestmark = pytest.mark.django_db
D = Decimal


def client_for(user):
    c = Client()
    assert c.login(username=user.username, password=PASSWORD)
    return c


def bar(html: str) -> str:
    """The actions bar's markup in a page or a response."""
    match = re.search(r'<div class="quick" id="reorder-actions".*?\n</div>', html, re.S)
    assert match, "no actions bar"
    return match.group(0)


@pytest.fixture
def lines(world):
    """CleanHome (minimum order £200) supplies soap at £2.50 and bleach at £4.00: two open lines of 12 at the
    owner's store, £30.00 and £48.00; and one open transfer line."""
    clean = SupplierFactory(code="CLN", name="CleanHome Supplies", min_order_value=D("200.00"))
    soap = ProductFactory(sku="TOI006", name="Hand soap", supplier=clean, cost_price=D("2.50"))
    bleach = ProductFactory(sku="CLN002", name="Bleach", supplier=clean, cost_price=D("4.00"))
    store = world.store_own
    move = ReorderSuggestion.objects.create(
        store=store,
        product=soap,
        kind=ReorderSuggestion.Kind.TRANSFER,
        source_store=world.store_other,
        quantity=D("5"),
        suggested_qty=D("5"),
        unit_cost=D("0"),
        lead_time_days=0,
        cash_needed=D("0"),
    )
    return {
        "soap": open_suggestion(store=store, product=soap),
        "bleach": open_suggestion(store=store, product=bleach),
        "move": move,
        "clean": clean,
        "store": store,
    }


# --- defect 9: the bar follows Accept / Edit / Dismiss ---------------------------------------------------


def test_accepting_a_line_swaps_the_actions_bar_with_the_new_count(world, lines):
    owner = client_for(world.owner)
    page = owner.get(reverse("forecasting:suggestion_list")).content.decode()
    assert "Create draft purchase orders (0 accepted)" in bar(page)
    assert 'data-testid="move-transfers"' not in bar(page)

    # when: Accept on one buy line, through HTMX
    response = owner.post(
        reverse("forecasting:suggestion_decide", args=[lines["soap"].pk]), {"action": "accept"}, HTTP_HX_REQUEST="true"
    )

    # then: the row, and the bar out of band, in a <template> (a <div> cannot follow a <tr> otherwise)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<tr id="suggestion-')
    assert re.search(r'<template>\s*<div class="quick" id="reorder-actions" [^>]*hx-swap-oob="true">', html)
    new_bar = bar(html)
    assert "Create draft purchase orders (1 accepted)</button>" in new_bar
    assert 'data-testid="create-pos" disabled' not in new_bar
    assert 'data-testid="move-transfers"' not in new_bar


def test_accepting_a_transfer_brings_the_move_button_without_a_reload(world, lines):
    owner = client_for(world.owner)

    response = owner.post(
        reverse("forecasting:suggestion_decide", args=[lines["move"].pk]), {"action": "accept"}, HTTP_HX_REQUEST="true"
    )

    new_bar = bar(response.content.decode())
    assert "Move accepted transfers (1)</button>" in new_bar
    assert "Create draft purchase orders (0 accepted)" in new_bar


def test_dismissing_the_accepted_line_takes_the_count_back_down(world, lines):
    owner = client_for(world.owner)
    decide = reverse("forecasting:suggestion_decide", args=[lines["soap"].pk])
    owner.post(decide, {"action": "accept"}, HTTP_HX_REQUEST="true")

    response = owner.post(decide, {"action": "dismiss"}, HTTP_HX_REQUEST="true")

    assert "Create draft purchase orders (0 accepted)" in bar(response.content.decode())


def test_the_bar_of_a_page_filtered_on_a_store_counts_that_store_only(world, lines):
    other = open_suggestion(store=world.store_other, product=lines["soap"].product)
    owner = client_for(world.owner)
    owner.post(reverse("forecasting:suggestion_decide", args=[other.pk]), {"action": "accept"}, HTTP_HX_REQUEST="true")

    response = owner.post(
        reverse("forecasting:suggestion_decide", args=[lines["soap"].pk]),
        {"action": "accept", "store": str(lines["store"].pk)},
        HTTP_HX_REQUEST="true",
    )

    new_bar = bar(response.content.decode())
    assert "(1 accepted)" in new_bar  # not 2: the page shows the owner's store only
    assert f'name="store" value="{lines["store"].pk}"' in new_bar


def test_the_count_does_not_depend_on_the_status_filter(world, lines):
    owner = client_for(world.owner)
    owner.post(reverse("forecasting:suggestion_decide", args=[lines["soap"].pk]), {"action": "accept"})

    page = owner.get(reverse("forecasting:suggestion_list") + "?status=dismissed").content.decode()

    assert "Create draft purchase orders (1 accepted)" in bar(page)  # what the button would order


# --- supplier minimum order value ------------------------------------------------------------------------


def test_suggested_lines_below_the_suppliers_minimum_are_flagged_with_how_far(world, lines):
    rows = selectors.minimum_order_shortfalls(store_ids=[lines["store"].pk])

    assert [(r["supplier"].code, r["basis"], r["total"], r["short"]) for r in rows] == [
        ("CLN", "suggested", D("78.00"), D("122.00"))
    ]
    assert rows[0]["message"] == (
        "CleanHome Supplies · OWN: suggested lines £78.00, £122.00 below the minimum order of £200.00"
    )
    page = client_for(world.owner).get(reverse("forecasting:suggestion_list")).content.decode()
    assert "£122.00 below the minimum order of £200.00" in bar(page)


def test_once_lines_are_accepted_the_flag_is_on_the_accepted_ones_in_the_stores_currency(world, lines):
    lines["store"].currency = "EUR"
    lines["store"].save()
    owner = client_for(world.owner)

    response = owner.post(
        reverse("forecasting:suggestion_decide", args=[lines["soap"].pk]), {"action": "accept"}, HTTP_HX_REQUEST="true"
    )

    new_bar = bar(response.content.decode())
    assert "accepted lines €30.00, €170.00 below the minimum order of €200.00" in new_bar
    assert 'name="below_minimum"' in new_bar


def test_no_flag_at_or_above_the_minimum(world, lines):
    lines["clean"].min_order_value = D("78.00")
    lines["clean"].save()

    assert selectors.minimum_order_shortfalls(store_ids=[lines["store"].pk]) == []


def test_drafting_below_the_minimum_warns_first_and_drafts_only_when_confirmed(world, lines):
    owner = client_for(world.owner)
    owner.post(reverse("forecasting:suggestion_decide", args=[lines["soap"].pk]), {"action": "accept"})

    response = owner.post(reverse("forecasting:purchase_orders_create"), {}, follow=True)

    assert PurchaseOrder.objects.count() == 0
    text = response.content.decode()
    assert "CleanHome Supplies · OWN: accepted lines £30.00, £170.00 below the minimum order of £200.00." in text
    assert "No purchase order drafted" in text

    owner.post(reverse("forecasting:purchase_orders_create"), {"below_minimum": "1"})

    order = PurchaseOrder.objects.get()
    assert (order.supplier, order.lines.get().quantity_ordered) == (lines["clean"], D(12))


# --- defect 5: no all-clear while the forecast runs ------------------------------------------------------


def run(status, *, store_ids=(), chunks=(4, 0)):
    return ForecastRun.objects.create(
        status=status,
        history_end=date(2025, 3, 31),
        store_ids=list(store_ids),
        chunks_total=chunks[0],
        chunks_done=chunks[1],
    )


def test_runs_in_progress_counts_the_batch_still_to_finish(world):
    run("done", chunks=(4, 4))  # yesterday's, before the batch
    batch = [run("done", chunks=(4, 4)), run("running", chunks=(4, 2)), run("pending"), run("pending")]
    ForecastRun.objects.filter(pk=batch[0].pk).update(created_at=batch[1].created_at)  # the batch's first, done
    ForecastRun.objects.filter(pk__lt=batch[0].pk).update(created_at=datetime(2025, 1, 1, tzinfo=UTC))

    progress = selectors.forecast_runs_in_progress()

    assert progress == {
        "running": 3,
        "finished": 1,
        "total": 4,
        "progress": 37,  # chunks 4 + 2 of 16
        "message": "forecast running: 1 of 4 runs, suggestions follow",
    }


def test_runs_of_other_stores_do_not_hold_a_store_back(world):
    run("pending", store_ids=[world.store_other.pk])

    assert selectors.forecast_runs_in_progress(store_ids=[world.store_own.pk])["message"] == ""
    assert selectors.forecast_runs_in_progress(store_ids=[world.store_other.pk])["running"] == 1
    assert selectors.forecast_runs_in_progress()["message"] == "forecast running: 0 of 1 run, suggestions follow"


def test_nothing_running_nothing_said(world):
    run("done", chunks=(4, 4))

    assert selectors.forecast_runs_in_progress()["message"] == ""


def test_the_reorder_page_says_the_forecast_is_running_instead_of_no_suggestion(world):
    for _ in range(5):
        run("pending")

    page = client_for(world.owner).get(reverse("forecasting:suggestion_list")).content.decode()

    assert "No suggestion here" not in page
    assert "Forecast running: 0 of 5 runs, suggestions follow (0 % done)." in page


def test_with_lines_from_an_older_forecast_the_page_says_a_new_one_is_coming(world, lines):
    run("running", chunks=(4, 1))

    page = client_for(world.owner).get(reverse("forecasting:suggestion_list")).content.decode()

    assert "Forecast running: 0 of 1 run, suggestions follow (25 % done). Until then" in page


def test_a_page_filtered_on_a_store_ignores_the_runs_of_other_stores(world):
    run("pending", store_ids=[world.store_other.pk])

    page = client_for(world.owner).get(reverse("forecasting:suggestion_list") + f"?store={world.store_own.pk}")

    assert "Forecast running" not in page.content.decode()
    assert "No suggestion here" in page.content.decode()


# --- costs: the explanation's cash / unit cost / margin step only for roles that see costs -------------------


def test_the_explanations_cost_step_is_shown_only_to_roles_that_see_costs(world, lines):
    line = lines["soap"]
    line.explanation = [
        "Forecast over the lead time: 10.0.",
        "Cash needed 30.00 at unit cost 2.50. Over the 14 days, expected sales missed …",
    ]
    line.save(update_fields=["explanation"])
    page = reverse("forecasting:suggestion_list") + f"?store={world.store_own.pk}"
    owner_html = client_for(world.owner).get(page).content.decode()
    staff_html = client_for(world.staff).get(page).content.decode()
    assert "Forecast over the lead time: 10.0." in owner_html and "Forecast over the lead time: 10.0." in staff_html
    assert "unit cost 2.50" in owner_html
    assert "unit cost" not in staff_html and "Cash needed" not in staff_html
    api = reverse("api:reordersuggestion-detail", kwargs={"pk": line.pk})
    assert any("unit cost" in s for s in client_for(world.owner).get(api).json()["explanation"])
    assert client_for(world.staff).get(api).json()["explanation"] == ["Forecast over the lead time: 10.0."]
