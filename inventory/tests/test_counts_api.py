"""The scanner API: same rules and permissions as the pages; errors are 400 / 404 / 409 with a message."""

from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from inventory.models import StockCount
from inventory.services import stock_count_start, stock_movement_post
from inventory.tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(world):
    tea = ProductFactory(sku="TEA-1", barcode="9990000000011", cost_price=Decimal("2.00"))
    for store in (world.store_own, world.store_other):
        stock_movement_post(store=store, product=tea, quantity=Decimal("10"), kind="opening")
    world.obj["tea"] = tea
    return world


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def test_anonymous_gets_401(shop):
    count = stock_count_start(store=shop.store_own, actor=shop.owner)

    assert api().get(reverse("api:stockcount-list")).status_code == 401
    assert api().post(reverse("api:stockcount-scan", args=[count.pk]), {"code": "TEA-1"}).status_code == 401


def test_scanner_opens_a_count_scans_and_submits(shop):
    client = api(shop.staff)

    opened = client.post(reverse("api:stockcount-list"), {"store": shop.store_own.pk, "scope": "store"}, format="json")
    assert opened.status_code == 201, opened.content
    pk = opened.json()["id"]
    listed = client.get(reverse("api:stockcount-list"), {"status": "open"}).json()
    assert [c["id"] for c in listed["results"]] == [pk]

    for _ in range(3):
        scan = client.post(reverse("api:stockcount-scan", args=[pk]), {"code": "9990000000011"}, format="json")
    assert scan.status_code == 200
    assert (scan.json()["line"]["sku"], scan.json()["line"]["counted_qty"], scan.json()["added"]) == (
        "TEA-1",
        "3.000",
        "1.000",
    )
    line_id = scan.json()["line"]["id"]
    typed = client.post(reverse("api:stockcount-line-set", args=[pk, line_id]), {"quantity": "9"}, format="json")
    assert typed.json()["counted_qty"] == "9.000"

    submitted = client.post(reverse("api:stockcount-submit", args=[pk]), {}, format="json")
    assert submitted.status_code == 200
    assert submitted.json() == {"status": "submitted", "submitted": True, "detail": "Submitted.", "recount_lines": []}
    detail = client.get(reverse("api:stockcount-detail", args=[pk])).json()
    assert (detail["status"], [ln["counted_qty"] for ln in detail["lines"]]) == ("submitted", ["9.000"])


def test_submit_answers_409_with_the_lines_to_recount(shop):
    count = stock_count_start(store=shop.store_own, actor=shop.staff)
    client = api(shop.staff)
    client.post(reverse("api:stockcount-scan", args=[count.pk]), {"code": "TEA-1", "quantity": "40", "mode": "set"})

    response = client.post(reverse("api:stockcount-submit", args=[count.pk]), {}, format="json")

    assert response.status_code == 409
    body = response.json()
    assert (body["submitted"], [ln["sku"] for ln in body["recount_lines"]]) == (False, ["TEA-1"])
    assert body["recount_lines"][0]["counted_qty"] == "0.000"  # blind: the first count is not sent back


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({"code": "NOPE"}, 400, "matches no product"),
        ({"code": "TEA-1", "quantity": "-1", "mode": "set"}, 400, "cannot be negative"),
        ({"code": "TEA-1", "quantity": "250000"}, 400, "not a plausible"),
        ({"code": ""}, 400, "code"),
    ],
)
def test_bad_scans_are_refused_with_a_message(shop, payload, status, message):
    count = stock_count_start(store=shop.store_own, actor=shop.staff)

    response = api(shop.staff).post(reverse("api:stockcount-scan", args=[count.pk]), payload, format="json")

    assert response.status_code == status
    assert message in response.content.decode()
    assert count.lines.filter(counted_at__isnull=False).count() == 0


def test_scanning_into_another_stores_count_is_404_and_a_closed_count_409(shop):
    other = stock_count_start(store=shop.store_other, actor=shop.owner)
    mine = stock_count_start(store=shop.store_own, actor=shop.staff)
    StockCount.objects.filter(pk=mine.pk).update(status="reconciled")
    client = api(shop.staff)

    assert client.post(reverse("api:stockcount-scan", args=[other.pk]), {"code": "TEA-1"}).status_code == 404
    closed = client.post(reverse("api:stockcount-scan", args=[mine.pk]), {"code": "TEA-1"})
    assert closed.status_code == 409
    assert "already reconciled" in closed.json()["detail"]
    assert client.post(reverse("api:stockcount-list"), {"store": shop.store_other.pk}).status_code == 404


def test_accountant_reads_but_cannot_scan(shop):
    count = stock_count_start(store=shop.store_own, actor=shop.owner)
    client = api(shop.accountant)

    assert client.get(reverse("api:stockcount-detail", args=[count.pk])).status_code == 200
    assert client.post(reverse("api:stockcount-scan", args=[count.pk]), {"code": "TEA-1"}).status_code == 403
    assert client.post(reverse("api:stockcount-list"), {"store": shop.store_own.pk}).status_code == 403
