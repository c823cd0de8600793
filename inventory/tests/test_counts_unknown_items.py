"""Unknown items found while counting: the owner says which product each was before approving."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from inventory.exceptions import CountNotOpen
from inventory.models import StockCountLine, StockMovement
from inventory.services import (
    stock_count_line_annotate,
    stock_count_line_map,
    stock_count_reconcile,
    stock_count_scan,
    stock_count_start,
    stock_count_submit,
)
from inventory.tests.factories import ProductFactory

from .test_counts_services import counts_shop, ledger, on_hand
from .test_counts_views import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(world):
    return counts_shop(world)


def count_with_unknown(shop, *, tea=8, found=2, submit=True):
    """Whole-store count: tea counted `tea` (ledger 10), mug 4 (as the ledger), `found` of an unlabelled item."""
    count = stock_count_start(store=shop.store_own, actor=shop.staff)
    stock_count_scan(count=count, code="TEA-1", actor=shop.staff, quantity=tea, mode="set")
    stock_count_scan(count=count, code="MUG-1", actor=shop.staff, quantity=4, mode="set")
    stock_count_scan(
        count=count, code="555", actor=shop.staff, quantity=found, record_unknown=True, note="tea box, label torn"
    )
    if submit:
        assert stock_count_submit(count=count, actor=shop.staff).submitted
    return count


def unknown_line(count) -> StockCountLine:
    return count.lines.get(product__isnull=True)


def test_an_unknown_item_that_was_a_counted_product_joins_its_line_and_closes_the_gap(shop):
    count = count_with_unknown(shop)  # tea short by 2 on the shelf, 2 more found without a label
    tea = shop.obj["tea"]
    assert count.lines.get(product=tea).variance == Decimal("-2")

    line = stock_count_line_map(line=unknown_line(count), code="9990000000011", actor=shop.owner)  # tea's barcode

    assert line.product == tea
    assert (line.counted_qty, line.expected_qty, line.variance) == (Decimal("10"), Decimal("10"), Decimal("0"))
    assert "unknown “555”: 2 (tea box, label torn)" in line.note
    assert not count.lines.filter(product__isnull=True).exists()
    assert stock_count_reconcile(count=count, actor=shop.owner) == []  # nothing to correct any more
    assert on_hand(shop.store_own, tea) == ledger(shop.store_own, tea) == Decimal("10")


def test_an_unknown_item_of_a_product_the_store_never_carried_is_posted_on_approval(shop):
    honey = ProductFactory(sku="HONEY-1", name="Honey", cost_price=Decimal("4.00"))
    count = count_with_unknown(shop, tea=10, found=3)

    line = stock_count_line_map(line=unknown_line(count), code="honey-1", actor=shop.owner)
    stock_count_line_annotate(line=line, reason="data_entry", note="never received on the system", actor=shop.owner)
    movements = stock_count_reconcile(count=count, actor=shop.owner)

    assert (line.product, line.expected_qty, line.variance) == (honey, Decimal("0"), Decimal("3"))
    assert [(m.product, m.quantity) for m in movements] == [(honey, Decimal("3"))]
    assert on_hand(shop.store_own, honey) == ledger(shop.store_own, honey) == Decimal("3")


@pytest.mark.parametrize(
    ("code", "message"),
    [("", "Type the SKU or barcode"), ("NOPE-9", "matches no product either")],
)
def test_a_code_that_is_no_product_changes_nothing(shop, code, message):
    count = count_with_unknown(shop)

    with pytest.raises(ValidationError, match=message):
        stock_count_line_map(line=unknown_line(count), code=code, actor=shop.owner)

    assert unknown_line(count).counted_qty == Decimal("2")
    assert count.lines.get(product=shop.obj["tea"]).counted_qty == Decimal("8")


def test_mapping_waits_for_submission_refuses_staff_and_product_lines(shop):
    count = count_with_unknown(shop, submit=False)
    with pytest.raises(CountNotOpen, match="once it is submitted"):
        stock_count_line_map(line=unknown_line(count), code="TEA-1", actor=shop.owner)

    assert stock_count_submit(count=count, actor=shop.staff).submitted
    with pytest.raises(PermissionDenied):
        stock_count_line_map(line=unknown_line(count), code="TEA-1", actor=shop.staff)
    with pytest.raises(ValidationError, match="already"):
        stock_count_line_map(line=count.lines.get(product=shop.obj["mug"]), code="TEA-1", actor=shop.owner)

    assert unknown_line(count).counted_qty == Decimal("2")
    assert count.lines.get(product=shop.obj["tea"]).counted_qty == Decimal("8")


def test_the_owner_maps_an_unknown_item_in_the_reconciliation_form(client, shop):
    count = count_with_unknown(shop)
    lines = list(count.lines.order_by("variance_value", "id"))
    login(client, shop.owner)
    url = reverse("admin:inventory_stockcount_change", args=[count.pk])
    page = client.get(url).content.decode()
    assert "is product" in page.lower() and "unknown “555”" in page
    data = {
        "note": "",
        "lines-TOTAL_FORMS": str(len(lines)),
        "lines-INITIAL_FORMS": str(len(lines)),
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
    }
    for i, line in enumerate(lines):
        data |= {f"lines-{i}-id": str(line.pk), f"lines-{i}-count": str(count.pk)}
        data |= {f"lines-{i}-reason": line.reason, f"lines-{i}-note": line.note, f"lines-{i}-map_to": ""}
        if line.product_id is None:
            data[f"lines-{i}-map_to"] = "TEA-1"

    response = client.post(url, data, follow=True)

    assert "Unknown item mapped to TEA-1" in response.content.decode()
    assert not count.lines.filter(product__isnull=True).exists()
    assert count.lines.get(product=shop.obj["tea"]).counted_qty == Decimal("10")
    assert not StockMovement.objects.filter(kind="count").exists()  # mapping posts nothing; approval does
