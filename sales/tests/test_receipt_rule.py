"""One receipt rule (issue 16, item 2): the till, the API and file imports refuse the same receipts for the same
reason, and identify the same receipt by the same content hash."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from inventory.models import StockMovement
from inventory.tests.factories import ProductFactory
from sales.importing import LineDraft, ReceiptDraft
from sales.models import Sale
from sales.services import (
    LineInput,
    ReceiptInput,
    receipt_batch_post_from_api,
    receipt_hash,
    receipt_post_from_api,
    receipts_post,
    sale_record,
)
from sales.tests.test_ingest_files import errors_of, run_import, uci

pytestmark = pytest.mark.django_db

TOO_LONG = "R" * 65
REASON = "the receipt number is longer than 64 characters"


@pytest.fixture
def tea():
    return ProductFactory(sku="TEA", mrp=Decimal("4.00"), dp=Decimal("3.50"), cost_price=Decimal("2.00"))


def api_item(ref: str, **extra) -> dict:
    """A receipt as the API's serializer hands it on (validated data)."""
    return {
        "store": "OWN",
        "pos_reference": ref,
        "occurred_at": timezone.now() - timedelta(hours=1),
        "payment_method": "cash",
        "lines": [{"sku": "TEA", "quantity": "2", "unit_price": "4.00"}],
        **extra,
    }


def test_a_too_long_pos_reference_is_refused_by_sale_record(world, tea):
    receipt = ReceiptInput(
        store=world.store_own,
        pos_reference=TOO_LONG,
        occurred_at=timezone.now() - timedelta(hours=1),
        lines=[LineInput(product=tea, quantity=Decimal("2"), unit_price=Decimal("4.00"))],
    )

    with pytest.raises(ValidationError) as refused:
        sale_record(receipt=receipt)

    assert refused.value.messages == ["The receipt number is longer than 64 characters."]
    assert not Sale.objects.exists() and not StockMovement.objects.exists()


def test_a_too_long_pos_reference_is_refused_by_the_api_paths(world, tea):
    outcomes, batch = receipt_batch_post_from_api(items=[api_item(TOO_LONG)], user=world.owner, as_batch=True)
    single = receipt_post_from_api(item=api_item(TOO_LONG), user=world.owner)

    assert (outcomes[0].status, outcomes[0].errors) == ("rejected", [REASON])
    assert (single.status, single.errors) == ("rejected", [REASON])
    assert batch.rows_rejected == 1
    assert not Sale.objects.exists() and not StockMovement.objects.exists()


def test_a_too_long_pos_reference_is_refused_by_receipts_post_given_a_draft(world, tea):
    draft = ReceiptDraft(
        store_key="OWN",
        pos_reference=TOO_LONG,
        occurred_at=timezone.now() - timedelta(hours=1),
        lines=[LineDraft(sku="TEA", quantity=Decimal("2"), unit_price=Decimal("4.00"), product=tea)],
        store=world.store_own,
    )

    outcomes = receipts_post(drafts=[draft])

    assert (outcomes[0].status, outcomes[0].errors) == ("rejected", [REASON])
    assert not Sale.objects.exists()


def test_a_too_long_pos_reference_is_refused_by_the_http_api(world, tea):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=world.owner).key}")
    body = {**api_item(TOO_LONG), "occurred_at": "2024-05-01T10:15:00+01:00"}

    response = client.post("/api/v1/receipts/", body, format="json")

    # The serializer (max_length=64) answers first, before the receipt rule: refused all the same.
    assert response.status_code == 400
    assert not Sale.objects.exists()


def test_a_too_long_pos_reference_is_refused_by_the_file_import(world, tea):
    batch = run_import(uci(f"{TOO_LONG},TEA,TEA,2,12/1/2010 8:26,4.00,,United Kingdom"), store=world.store_own)

    assert (batch.rows_accepted, batch.rows_rejected) == (0, 1)
    assert errors_of(batch) == [(2, "InvoiceNo", TOO_LONG, REASON)]
    assert not Sale.objects.exists()


def test_the_same_receipt_has_the_same_hash_on_every_path(world, tea):
    at = timezone.now() - timedelta(hours=1)
    receipt = ReceiptInput(
        store=world.store_own,
        pos_reference="R-1",
        occurred_at=at,
        lines=[LineInput(product=tea, quantity=Decimal("2"), unit_price=Decimal("4.00"))],
        payment_method="cash",
    )
    draft = ReceiptDraft(
        store_key="OWN",
        pos_reference="R-1",
        occurred_at=at,
        lines=[LineDraft(sku="TEA", quantity=Decimal("2.000"), unit_price=Decimal("4"), product=tea)],
        payment_method="cash",
        store=world.store_own,
    )

    assert receipt_hash(receipt) == receipt_hash(draft) == receipt_hash(draft, texts={})
    sale = sale_record(receipt=receipt).sale
    assert sale.content_hash == receipt_hash(draft)
    # Posted again through the batch / API path, the till's receipt is a duplicate, not a conflict.
    (again,) = receipts_post(drafts=[draft])
    assert (again.status, again.sale_id) == ("duplicate", sale.pk)
    (api_again,) = receipt_batch_post_from_api(
        items=[api_item("R-1", occurred_at=at)], user=world.owner, as_batch=False
    )[0]
    assert (api_again.status, api_again.sale_id) == ("duplicate", sale.pk)
