"""Sales API: POS devices post receipts (token auth), idempotently; sales are listed with filters, by store."""

from decimal import Decimal

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from customers.tests.factories import CustomerFactory
from inventory.models import StockLevel
from inventory.tests.factories import ProductFactory
from sales.models import ImportBatch, Sale, SalesDaily

pytestmark = pytest.mark.django_db


@pytest.fixture
def pos(world):
    """A till's API client: the owner's token (owners hold sales.add_sale)."""
    token = Token.objects.create(user=world.owner)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    tea = ProductFactory(sku="TEA", mrp=Decimal("4.00"), dp=Decimal("3.50"), cost_price=Decimal("2.00"))
    return client, world, tea


def receipt(ref="R1", qty="2", price="4.00", **extra):
    return {
        "store": "OWN",
        "pos_reference": ref,
        "occurred_at": "2024-05-01T10:15:00+01:00",
        "payment_method": "cash",
        "lines": [{"sku": "tea", "quantity": qty, "unit_price": price}],
        **extra,
    }


def test_posting_a_receipt_creates_the_sale_and_moves_stock(pos):
    client, world, tea = pos

    response = client.post("/api/v1/receipts/", receipt(), format="json")

    assert response.status_code == 201, response.data
    assert response.data["status"] == "accepted" and response.data["errors"] == []
    sale = Sale.objects.get(pk=response.data["sale_id"])
    assert (sale.store, sale.total, str(sale.local_date)) == (world.store_own, Decimal("8.00"), "2024-05-01")
    assert StockLevel.objects.get(store=world.store_own, product=tea).on_hand == Decimal("-2")
    assert SalesDaily.objects.get(store=world.store_own, product=tea).units == Decimal("2")


def test_posting_it_again_is_a_duplicate_that_changes_nothing(pos):
    client, world, tea = pos
    first = client.post("/api/v1/receipts/", receipt(), format="json")

    again = client.post("/api/v1/receipts/", receipt(), format="json")

    assert again.status_code == 200
    assert (again.data["status"], again.data["sale_id"]) == ("duplicate", first.data["sale_id"])
    assert Sale.objects.count() == 1
    assert StockLevel.objects.get(store=world.store_own, product=tea).on_hand == Decimal("-2")


def test_same_reference_other_content_is_a_409_conflict(pos):
    client, _, _ = pos
    client.post("/api/v1/receipts/", receipt(), format="json")

    response = client.post("/api/v1/receipts/", receipt(qty="3"), format="json")

    assert response.status_code == 409
    assert response.data["errors"] == ["conflict: receipt R1 was already posted for store OWN with different content"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (receipt(store="NOPE"), "unknown store “NOPE”"),
        (receipt(lines=[{"sku": "GHOST", "quantity": "1", "unit_price": "1"}]), "line 1: unknown product “GHOST”"),
        (receipt(qty="-1"), "line 1: a sale needs positive quantities"),
        (receipt(qty="1.5"), "line 1: TEA is sold by the unit, not 1.5"),
        (receipt(customer="NOBODY"), "unknown customer “NOBODY”"),
        (receipt(occurred_at="2999-01-01T00:00:00Z"), "the sale time is in the future"),
        (receipt(price="-1"), "lines.0.unit_price: Ensure this value is greater than or equal to 0."),
        (receipt(kind="gift"), "kind: kind is sale or return."),
    ],
)
def test_bad_receipts_are_rejected_with_reasons_and_change_nothing(pos, body, error):
    client, _, _ = pos

    response = client.post("/api/v1/receipts/", body, format="json")

    assert response.status_code == 400
    assert (response.data["status"], response.data["errors"]) == ("rejected", [error])
    assert Sale.objects.count() == 0


def test_a_staff_members_store_scope_applies_to_posting(pos, world):
    client, _, _ = pos

    response = client.post("/api/v1/receipts/", receipt(store="OTH"), format="json")

    assert response.status_code == 201  # owners see every store; staff lack sales.add_sale altogether
    staff = APIClient()
    staff.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=world.staff).key}")
    assert staff.post("/api/v1/receipts/", receipt(ref="R9"), format="json").status_code == 403
    assert APIClient().post("/api/v1/receipts/", receipt(ref="R9"), format="json").status_code == 401


def test_points_are_earned_and_redeemed_through_the_ledger(pos):
    client, _, _ = pos
    customer = CustomerFactory(code="C1")

    client.post("/api/v1/receipts/", receipt(ref="R1", qty="10", customer="C1"), format="json")
    customer.refresh_from_db()
    earned = customer.points_balance
    response = client.post("/api/v1/receipts/", receipt(ref="R2", customer="C1", points_redeemed=30), format="json")
    too_many = client.post("/api/v1/receipts/", receipt(ref="R3", customer="C1", points_redeemed=999), format="json")

    customer.refresh_from_db()
    assert earned == 40
    assert response.status_code == 201
    assert customer.points_balance == 40 - 30 + 7  # R2 paid 8.00 - 0.30 → 7 points
    assert too_many.data["errors"] == ["customer C1 has 17 points; cannot redeem 999"]


def test_a_batch_answers_per_receipt(pos):
    client, _, _ = pos
    client.post("/api/v1/receipts/", receipt(ref="R1"), format="json")

    response = client.post(
        "/api/v1/receipts/batch/",
        {"receipts": [receipt(ref="R1"), receipt(ref="R2"), receipt(ref="R3", qty="x"), receipt(ref="R4", qty="0")]},
        format="json",
    )

    assert response.status_code == 200
    assert [(r["pos_reference"], r["status"]) for r in response.data["results"]] == [
        ("R1", "duplicate"),
        ("R2", "accepted"),
        ("R3", "rejected"),
        ("R4", "rejected"),
    ]
    assert response.data["results"][2]["errors"] == ["lines.0.quantity: A valid number is required."]
    assert response.data["results"][3]["errors"] == ["line 1: quantity cannot be zero"]
    batch = ImportBatch.objects.get(pk=response.data["batch_id"])
    assert (batch.source, batch.rows_accepted, batch.rows_duplicate) == ("api", 1, 1)


def test_sales_list_filters_and_is_scoped_by_store(pos, world):
    client, _, tea = pos
    other = ProductFactory(sku="MUG")
    client.post("/api/v1/receipts/", receipt(ref="R1"), format="json")
    client.post("/api/v1/receipts/", receipt(ref="R2", store="OTH"), format="json")
    mug = receipt(ref="R3", lines=[{"sku": "MUG", "quantity": "1", "unit_price": "10.00"}])
    client.post("/api/v1/receipts/", mug, format="json")

    everything = client.get("/api/v1/sales/").data
    by_product = client.get("/api/v1/sales/", {"product": "mug"}).data
    by_store = client.get("/api/v1/sales/", {"store": "oth", "date_from": "2024-05-01", "date_to": "2024-05-01"}).data
    staff = APIClient()
    staff.force_authenticate(world.staff)
    staff_view = staff.get("/api/v1/sales/").data

    assert everything["count"] == 3
    assert [s["pos_reference"] for s in by_product["results"]] == ["R3"]
    assert [s["pos_reference"] for s in by_store["results"]] == ["R2"]
    assert sorted(s["pos_reference"] for s in staff_view["results"]) == ["R1", "R3"]
    assert "cost_total" not in staff_view["results"][0]
    assert other.sku == "MUG"


def test_single_and_batch_posts_see_each_others_receipts(pos):
    client, world, tea = pos
    single = client.post("/api/v1/receipts/", receipt(ref="R1"), format="json")
    client.post("/api/v1/receipts/batch/", {"receipts": [receipt(ref="R2")]}, format="json")

    batch = client.post("/api/v1/receipts/batch/", {"receipts": [receipt(ref="R1")]}, format="json")
    again = client.post("/api/v1/receipts/", receipt(ref="R2"), format="json")
    conflict = client.post("/api/v1/receipts/batch/", {"receipts": [receipt(ref="R1", qty="5")]}, format="json")

    assert (batch.data["results"][0]["status"], batch.data["results"][0]["sale_id"]) == (
        "duplicate",
        single.data["sale_id"],
    )
    assert (again.status_code, again.data["status"]) == (200, "duplicate")
    assert conflict.data["results"][0]["errors"] == [
        "conflict: receipt R1 was already posted for store OWN with different content"
    ]
    assert Sale.objects.count() == 2
    assert StockLevel.objects.get(store=world.store_own, product=tea).on_hand == Decimal("-4")


def test_a_return_posted_alone_refers_to_its_original(pos):
    client, world, tea = pos
    sold = client.post("/api/v1/receipts/", receipt(ref="S1", qty="3"), format="json")

    back = client.post(
        "/api/v1/receipts/", receipt(ref="B1", qty="-1", kind="return", original_reference="S1"), format="json"
    )

    assert back.status_code == 201, back.data
    assert Sale.objects.get(pk=back.data["sale_id"]).original_id == sold.data["sale_id"]
    assert StockLevel.objects.get(store=world.store_own, product=tea).on_hand == Decimal("-2")
