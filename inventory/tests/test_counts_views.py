"""Stock-level, count and shrinkage pages, their exports, and reconciliation in the Django admin."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from inventory.models import StockCount, StockMovement
from inventory.services import (
    stock_count_line_annotate,
    stock_count_reconcile,
    stock_count_scan,
    stock_count_start,
    stock_count_submit,
    stock_movement_post,
)
from inventory.tests.factories import PASSWORD, ProductFactory

pytestmark = pytest.mark.django_db


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.fixture
def shop(world):
    tea = ProductFactory(sku="TEA-1", barcode="9990000000011", name="Breakfast tea", cost_price=Decimal("2.00"))
    mug = ProductFactory(sku="MUG-1", barcode="9990000000028", name="Mug", cost_price=Decimal("3.00"))
    for store in (world.store_own, world.store_other):
        for product, qty in ((tea, 14), (mug, -2)):
            stock_movement_post(store=store, product=product, quantity=Decimal(qty), kind="opening")
    # 28 units of tea sold over the last 28 days in the staff member's store (at a cost of 2.00 each) → 1 a day
    # → 14 days of cover; the ledger's opening is raised by as much, so 14 are still on the shelf
    stock_movement_post(store=world.store_own, product=tea, quantity=Decimal(28), kind="opening")
    stock_movement_post(
        store=world.store_own,
        product=tea,
        quantity=Decimal(-28),
        kind="sale",
        unit_cost=Decimal("2.00"),
        occurred_at=timezone.now() - timedelta(days=3),
    )
    world.obj.update(tea=tea, mug=mug)
    return world


# --- stock levels ---------------------------------------------------------------------------------


def test_staff_sees_own_store_stock_with_days_of_cover_and_no_costs(client, shop):
    response = login(client, shop.staff).get(reverse("inventory:stocklevel_list"))

    assert response.status_code == 200
    rows = [
        (lvl.store.code, lvl.product.sku, lvl.on_hand, lvl.extras["days_cover"]) for lvl in response.context["levels"]
    ]
    assert rows == [("OWN", "MUG-1", Decimal("-2"), None), ("OWN", "TEA-1", Decimal("14"), Decimal("14.0"))]
    assert response.context["show_costs"] is False
    assert b"Value" not in response.content and b"Unit cost" not in response.content


def test_owner_sees_every_store_with_value_at_cost(client, shop):
    response = login(client, shop.owner).get(reverse("inventory:stocklevel_list"), {"sort": "store"})

    assert [(lvl.store.code, lvl.product.sku) for lvl in response.context["levels"]] == [
        ("OTH", "MUG-1"),
        ("OTH", "TEA-1"),
        ("OWN", "MUG-1"),
        ("OWN", "TEA-1"),
    ]
    # 2 stores × 14 × 2.00 = 56.00: the −2 mugs are worth nothing, as in the valuation and the Inventory KPIs
    assert response.context["total_value"] == Decimal("56.00")
    assert "£56.00" in response.content.decode()


@pytest.mark.parametrize(
    ("params", "skus"),
    [
        ({"status": "negative"}, ["MUG-1"]),
        ({"q": "tea"}, ["TEA-1"]),
        ({"q": "9990000000028"}, ["MUG-1"]),
        ({"status": "short"}, []),
    ],
)
def test_stock_filters(client, shop, params, skus):
    response = login(client, shop.staff).get(reverse("inventory:stocklevel_list"), params)

    assert [lvl.product.sku for lvl in response.context["levels"]] == skus


def test_stock_filter_by_category_and_htmx_partial(client, shop):
    category = shop.obj["tea"].category
    response = login(client, shop.staff).get(
        reverse("inventory:stocklevel_list"), {"category": category.pk}, HTTP_HX_REQUEST="true"
    )

    assert [t.name for t in response.templates][0] == "inventory/partials/_stocklevel_table.html"
    assert [lvl.product.sku for lvl in response.context["levels"]] == ["TEA-1"]


def test_stock_list_query_count_does_not_grow_with_rows(client, shop, django_assert_max_num_queries):
    for n in range(30):
        stock_movement_post(store=shop.store_own, product=ProductFactory(), quantity=Decimal(n + 1), kind="opening")
    login(client, shop.owner)

    with django_assert_max_num_queries(12):
        response = client.get(reverse("inventory:stocklevel_list"))
    assert len(response.context["levels"]) == 34


def test_stock_export_csv_has_costs_and_is_for_exporters_only(client, shop):
    assert login(client, shop.staff).get(reverse("inventory:stocklevel_export")).status_code == 403
    client.logout()

    response = login(client, shop.accountant).get(reverse("inventory:stocklevel_export"), {"store": shop.store_own.pk})

    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][-2:] == ["Unit cost", "Value at cost"]
    assert [(r[0], r[1], r[5], r[9], r[-1]) for r in rows[1:]] == [
        ("OWN", "MUG-1", "-2.000", "", "-6.00"),
        ("OWN", "TEA-1", "14.000", "14.0", "28.00"),
    ]
    xlsx = client.get(reverse("inventory:stocklevel_export"), {"format": "xlsx"})
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")


# --- count pages ----------------------------------------------------------------------------------


def test_staff_starts_a_count_from_the_page(client, shop):
    response = login(client, shop.staff).post(
        reverse("inventory:stockcount_create"), {"store": shop.store_own.pk, "scope": "store", "blind": "on"}
    )

    count = StockCount.objects.get()
    assert response.status_code == 302 and response.url == reverse("inventory:stockcount_detail", args=[count.pk])
    assert (count.store, count.blind, count.created_by, count.lines.count()) == (shop.store_own, True, shop.staff, 2)


def test_start_form_refuses_another_store_and_unknown_products(client, shop):
    login(client, shop.staff)
    other = client.post(reverse("inventory:stockcount_create"), {"store": shop.store_other.pk, "scope": "store"})
    unknown = client.post(
        reverse("inventory:stockcount_create"),
        {"store": shop.store_own.pk, "scope": "products", "products": "TEA-1, NOPE-9"},
    )

    assert other.status_code == 200 and "store" in other.context["form"].errors
    assert "No product has the code NOPE-9." in unknown.context["form"].errors["products"]
    assert StockCount.objects.count() == 0


def test_htmx_scan_returns_the_panel_with_the_new_quantity(client, shop):
    count = stock_count_start(store=shop.store_own, actor=shop.staff)
    login(client, shop.staff)
    url = reverse("inventory:stockcount_scan", args=[count.pk])

    client.post(url, {"code": "TEA-1"}, HTTP_HX_REQUEST="true")
    response = client.post(url, {"code": "9990000000011"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert [t.name for t in response.templates][0] == "inventory/partials/_count_panel.html"
    assert response.context["feedback"]["line"].counted_qty == Decimal("2")
    assert 'data-testid="feedback-qty">2<' in response.content.decode()


def test_unknown_code_offers_to_record_it_with_a_note(client, shop):
    count = stock_count_start(store=shop.store_own, actor=shop.staff)
    login(client, shop.staff)
    url = reverse("inventory:stockcount_scan", args=[count.pk])

    refused = client.post(url, {"code": "4711"}, HTTP_HX_REQUEST="true")
    recorded = client.post(
        url, {"code": "4711", "record_unknown": "on", "note": "red scarf", "quantity": "2"}, HTTP_HX_REQUEST="true"
    )

    assert "“4711” matches no product" in refused.content.decode()
    assert 'data-testid="unknown-form"' in refused.content.decode()
    line = count.lines.get(product__isnull=True)
    assert (line.unknown_code, line.counted_qty, line.note) == ("4711", Decimal("2"), "red scarf")
    assert "Unknown item “4711”" in recorded.content.decode()


def test_bad_quantity_on_the_page_shows_a_message_and_changes_nothing(client, shop):
    count = stock_count_start(store=shop.store_own, actor=shop.staff)
    line = count.lines.get(product=shop.obj["tea"])
    login(client, shop.staff)

    response = client.post(
        reverse("inventory:stockcount_line_set", args=[count.pk, line.pk]), {"quantity": "-3"}, HTTP_HX_REQUEST="true"
    )

    assert "cannot be negative" in response.content.decode()
    line.refresh_from_db()
    assert (line.counted_qty, line.counted_at) == (Decimal("0"), None)


def test_blind_count_page_hides_the_book_quantity(client, shop):
    blind = stock_count_start(store=shop.store_own, actor=shop.staff, blind=True)
    open_ = stock_count_start(store=shop.store_own, actor=shop.staff)
    login(client, shop.staff)

    assert "book 14" not in client.get(reverse("inventory:stockcount_detail", args=[blind.pk])).content.decode()
    assert "book 14" in client.get(reverse("inventory:stockcount_detail", args=[open_.pk])).content.decode()


def test_submit_from_the_page_sends_large_variances_back_then_submits(client, shop):
    count = stock_count_start(store=shop.store_own, actor=shop.staff, scope="products", products=[shop.obj["tea"]])
    stock_count_scan(count=count, code="TEA-1", actor=shop.staff, quantity=40, mode="set")
    login(client, shop.staff)
    url = reverse("inventory:stockcount_submit", args=[count.pk])

    first = client.post(url, follow=True)
    assert "differ a lot from the book: recount them blind" in first.content.decode()
    stock_count_scan(count=count, code="TEA-1", actor=shop.staff, quantity=40, mode="set")
    second = client.post(url, follow=True)

    assert "is submitted" in second.content.decode()
    assert StockCount.objects.get(pk=count.pk).status == "submitted"


# --- admin reconciliation -------------------------------------------------------------------------


def submitted(shop, *, tea=12):
    count = stock_count_start(store=shop.store_own, actor=shop.staff, scope="products", products=[shop.obj["tea"]])
    stock_count_scan(count=count, code="TEA-1", actor=shop.staff, quantity=tea, mode="set")
    assert stock_count_submit(count=count, actor=shop.staff).submitted
    return count


def test_owner_approves_in_the_admin_with_the_action_and_a_second_approval_posts_nothing(client, shop):
    count = submitted(shop)
    stock_count_line_annotate(line=count.lines.get(), reason="theft", note="", actor=shop.owner)
    login(client, shop.owner)
    changelist = reverse("admin:inventory_stockcount_changelist")
    action = {"action": "approve_counts", "_selected_action": [count.pk]}

    first = client.post(changelist, action, follow=True)
    second = client.post(changelist, action, follow=True)

    assert "1 count correction(s) posted" in first.content.decode()
    assert "nothing" in second.content.decode() or "no variance" in second.content.decode()
    assert list(StockMovement.objects.filter(kind="count").values_list("quantity", flat=True)) == [Decimal("-2")]


def test_admin_change_form_saves_reasons_and_approves(client, shop):
    count = submitted(shop)
    line = count.lines.get()
    login(client, shop.owner)
    url = reverse("admin:inventory_stockcount_change", args=[count.pk])
    page = client.get(url)
    assert page.status_code == 200 and "Save reasons and approve" in page.content.decode()
    prefix = "lines"
    data = {
        "note": "",
        f"{prefix}-TOTAL_FORMS": "1",
        f"{prefix}-INITIAL_FORMS": "1",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
        f"{prefix}-0-id": str(line.pk),
        f"{prefix}-0-count": str(count.pk),
        f"{prefix}-0-reason": "damage",
        f"{prefix}-0-note": "dropped box",
        "_approve": "Save reasons and approve",
    }

    response = client.post(url, data, follow=True)

    assert response.status_code == 200
    line.refresh_from_db()
    count.refresh_from_db()
    assert (line.reason, line.note, count.status) == ("damage", "dropped box", "reconciled")
    assert StockMovement.objects.filter(kind="count", source_id=line.pk).count() == 1


def test_admin_refuses_to_approve_without_reasons(client, shop):
    count = submitted(shop)
    login(client, shop.owner)

    response = client.post(
        reverse("admin:inventory_stockcount_changelist"),
        {"action": "approve_counts", "_selected_action": [count.pk]},
        follow=True,
    )

    assert "Give a reason code" in response.content.decode()
    assert StockMovement.objects.filter(kind="count").count() == 0


def test_a_reconciled_count_cannot_be_edited_in_the_admin(client, shop):
    count = submitted(shop, tea=14)
    stock_count_reconcile(count=count, actor=shop.owner)
    login(client, shop.owner)
    url = reverse("admin:inventory_stockcount_change", args=[count.pk])

    assert client.get(url).status_code == 200  # read-only view
    response = client.post(url, {"note": "changed", "lines-TOTAL_FORMS": "0", "lines-INITIAL_FORMS": "0"})

    assert response.status_code == 403
    assert StockCount.objects.get(pk=count.pk).note == ""


def test_staff_and_accountant_cannot_reach_the_reconciliation(client, shop):
    count = submitted(shop)
    for user in (shop.staff, shop.accountant):
        client.logout()
        login(client, user)
        response = client.post(
            reverse("admin:inventory_stockcount_changelist"),
            {"action": "approve_counts", "_selected_action": [count.pk]},
        )
        assert response.status_code in {302, 403}
    assert StockCount.objects.get(pk=count.pk).status == "submitted"


# --- shrinkage ------------------------------------------------------------------------------------


def test_shrinkage_page_figures_and_export(client, shop):
    count = submitted(shop, tea=12)  # −2 teas × 2.00 = −4.00
    stock_count_line_annotate(line=count.lines.get(), reason="theft", note="", actor=shop.owner)
    stock_count_reconcile(count=count, actor=shop.owner)
    login(client, shop.accountant)

    response = client.get(reverse("inventory:shrinkage"))

    report = response.context["report"]
    assert (report["total"]["loss"], report["total"]["lines"], report["total"]["accurate"]) == (Decimal("4.00"), 1, 0)
    assert report["total"]["sales_cost"] == Decimal("56.00")
    assert report["total"]["loss_pct"] == Decimal("4.00") / Decimal("56.00")
    assert [(r["count__store__code"], r["loss"]) for r in report["by_store"]] == [("OWN", Decimal("4.00"))]
    assert [(r["reason"], r["label"]) for r in report["by_reason"]] == [("theft", "theft")]
    assert [(c.pk, c.gap_units, c.gap_value) for c in report["counts"]] == [(count.pk, Decimal("-2"), Decimal("-4.00"))]
    assert "data-chart=" in response.content.decode()

    export = client.get(reverse("inventory:shrinkage_export"))
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert [(r[1], r[3], r[6], r[7], r[9], r[11], r[12]) for r in rows[1:]] == [
        ("OWN", "TEA-1", "14.000", "12.000", "-2.000", "-4.00", "theft")
    ]


def test_repeat_offenders_are_products_short_in_two_counts(client, shop):
    for shelf in (12, 11):  # book 14 → shelf 12, then book 12 → shelf 11
        count = submitted(shop, tea=shelf)
        stock_count_line_annotate(line=count.lines.get(), reason="theft", note="", actor=shop.owner)
        stock_count_reconcile(count=count, actor=shop.owner)
    login(client, shop.owner)

    report = client.get(reverse("inventory:shrinkage")).context["report"]

    assert [(r["product__sku"], r["times"], r["units"]) for r in report["repeat_offenders"]] == [
        ("TEA-1", 2, Decimal("-3"))
    ]


def test_staff_cancels_the_count_they_started_from_the_count_page(client, world, shop):
    count = stock_count_start(store=world.store_own, actor=world.staff)
    login(client, world.staff)
    page = client.get(reverse("inventory:stockcount_detail", args=[count.pk])).content.decode()
    assert 'data-testid="cancel-count"' in page
    response = client.post(reverse("inventory:stockcount_cancel", args=[count.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("inventory:stockcount_list")
    assert "is cancelled: nothing was posted" in response.content.decode()
    count.refresh_from_db()
    assert count.status == StockCount.Status.CANCELLED
    # a count the owner started shows no cancel button to staff, and a forged post is refused
    owners = stock_count_start(store=world.store_own, actor=world.owner)
    page = client.get(reverse("inventory:stockcount_detail", args=[owners.pk])).content.decode()
    assert 'data-testid="cancel-count"' not in page
    response = client.post(reverse("inventory:stockcount_cancel", args=[owners.pk]), follow=True)
    assert "Only the person who started this count" in response.content.decode()
    owners.refresh_from_db()
    assert owners.status == StockCount.Status.OPEN
