"""Issue #15, defect 3: the points-liability page and the export pack show one figure, points lapse at their
expiry date whether or not the expiry job has run, and points earned in an old imported file are not
outstanding years later (all figures hand-computed)."""

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from customers.models import PointsEntry
from customers.selectors import points_liability, points_liability_by_month
from customers.services import points_earn, points_expire, points_redeem
from customers.tests.factories import CustomerFactory
from inventory.tests.factories import PASSWORD
from sales.models import ImportBatch
from sales.services import import_batch_create, sales_import

pytestmark = pytest.mark.django_db


def at(y, m, d, h=12):
    return datetime(y, m, d, h, tzinfo=UTC)


@pytest.fixture
def ledger(world, settings):
    """Four members' points at OWN and OTH; 365-day expiry; a point is worth 0.01.

    A: +100 at OWN on 10 Jan 2025, +50 at OTH on 1 Jun 2025, −30 redeemed at OTH on 1 Aug 2025 (taken
       from the OWN lot, oldest first) — no expiry ever posted: 70 lapse at OWN on 10 Jan 2026, 50 at
       OTH on 1 Jun 2026.
    B: +200 at OWN on 20 Nov 2025 — lapses on 20 Nov 2026, never posted.
    C: +40 at OTH on 1 Feb 2025 — lapses on 1 Feb 2026; the expiry job posted it (dated 1 Feb 2026).
    D: +80 at OWN on 5 Jan 2024, expired by an entry on no store on 1 Feb 2025 (as the demo chain posts
       them) — the entry the export pack used to leave out.
    """
    settings.RETAILOPS = {**settings.RETAILOPS, "POINTS_EXPIRY_DAYS": 365, "POINT_VALUE": "0.01"}
    own, oth = world.store_own, world.store_other
    a, b, c, d = (CustomerFactory(code=code) for code in ("PA", "PB", "PC", "PD"))
    points_earn(customer=a, points=100, occurred_at=at(2025, 1, 10), store=own, source_type="t", source_id=1)
    points_earn(customer=a, points=50, occurred_at=at(2025, 6, 1), store=oth, source_type="t", source_id=2)
    points_redeem(customer=a, points=30, occurred_at=at(2025, 8, 1), store=oth, source_type="t", source_id=3)
    points_earn(customer=b, points=200, occurred_at=at(2025, 11, 20), store=own, source_type="t", source_id=4)
    points_earn(customer=c, points=40, occurred_at=at(2025, 2, 1), store=oth, source_type="t", source_id=5)
    assert points_expire(as_of=at(2026, 3, 1), customer_ids=[c.pk]) == 40
    points_earn(customer=d, points=80, occurred_at=at(2024, 1, 5), store=own, source_type="t", source_id=6)
    PointsEntry.objects.create(customer=d, kind="expire", points=-80, occurred_at=at(2025, 2, 1), note="demo style")
    d.points_balance = 0
    d.save(update_fields=["points_balance"])
    return world


def page_figure(user, day: date) -> tuple[int, dict]:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    response = client.get(reverse("customers:liability") + f"?day={day.isoformat()}&months=24")
    assert response.status_code == 200
    body = response.content.decode()
    at_day = response.context["at_day"]
    assert f'data-testid="liability-day-points">{at_day["points"]:,}<' in body
    return at_day["points"], {sid: v["points"] for sid, v in at_day["by_store"].items()}


def export_figure(user, day: date) -> tuple[int, dict]:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    url = reverse("reports:export_report", kwargs={"report": "points_liability", "fmt": "csv"})
    response = client.get(f"{url}?period=custom&start={day.replace(day=1).isoformat()}&end={day.isoformat()}")
    assert response.status_code == 200
    rows = [r for r in csv.reader(io.StringIO(response.content.decode("utf-8-sig"))) if len(r) == 4]
    total = next(int(r[2]) for r in rows if r[0] == "TOTAL")
    return total, {r[0]: int(r[2]) for r in rows if r[0] not in ("TOTAL", "Store")}


# day → (total, OWN, OTH), by hand from the fixture's story
EXPECTED = {
    date(2025, 12, 31): (360, 300, 60),  # A 100 OWN + 50 − 30 OTH; B 200 OWN; C 40 OTH; D gone
    date(2026, 1, 10): (290, 230, 60),  # A's 70 left of the OWN lot lapse at noon, no expiry posted
    date(2026, 2, 15): (250, 230, 20),  # C's 40 lapsed on 1 Feb (posted later): counted once
    date(2026, 6, 1): (200, 230, -30),  # A's OTH lot lapses, no entry; the redemption stays charged to OTH
    date(2026, 11, 30): (0, 30, -30),  # B's 200 lapsed on 20 Nov, no entry
}


@pytest.mark.parametrize("day", list(EXPECTED))
def test_the_page_and_the_export_pack_show_the_same_outstanding_points(ledger, day):
    total, own, oth = EXPECTED[day]

    page_total, page_stores = page_figure(ledger.owner, day)
    export_total, export_stores = export_figure(ledger.accountant, day)

    assert page_total == export_total == total
    assert page_stores == {ledger.store_own.pk: own, ledger.store_other.pk: oth}
    assert export_stores == {"OWN": own, "OTH": oth}


def test_month_end_rows_of_the_page_are_the_same_figure_and_reconcile(ledger):
    data = points_liability_by_month(months=12, today=date(2026, 11, 30))

    by_month = {m["day"]: m for m in data["months"]}
    for day in (date(2025, 12, 31), date(2026, 6, 30), date(2026, 11, 30)):
        assert by_month[day]["outstanding"] == points_liability(day=day)["points"]
    # expired is what passed its date in the month, posted or not; each month's flows explain its change
    assert [(m["day"], m["expired"]) for m in data["months"] if m["expired"]] == [
        (date(2026, 1, 31), 70),
        (date(2026, 2, 28), 40),
        (date(2026, 6, 30), 50),
        (date(2026, 11, 30), 200),
    ]
    previous = 360
    for m in data["months"]:
        assert m["outstanding"] == previous + m["earned"] - m["redeemed"] - m["expired"] + m["adjusted"]
        previous = m["outstanding"]
    assert data["months"][-1]["value"] == Decimal("0.00")
    # asking the page for a day inside a month changes none of the month rows, and gives that day's figure
    with_day = points_liability_by_month(months=12, today=date(2026, 11, 30), day=date(2026, 6, 1))
    assert with_day["months"] == data["months"] and with_day["rows"] == data["rows"]
    assert with_day["at_day"]["points"] == points_liability(day=date(2026, 6, 1))["points"] == 200


def test_a_store_filter_gives_that_stores_share_of_the_same_figure(ledger):
    day = date(2026, 1, 10)
    whole = points_liability(day=day)
    own_only = points_liability(day=day, store_ids=[ledger.store_own.pk])

    assert own_only["points"] == whole["by_store"][ledger.store_own.pk]["points"] == 230
    assert own_only["value"] == Decimal("2.30")


UCI_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def test_points_earned_in_an_imported_2010_file_are_not_outstanding_in_2026(world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.RETAILOPS = {**settings.RETAILOPS, "POINTS_EXPIRY_DAYS": 365, "POINT_VALUE": "0.01"}
    content = "\n".join(
        [
            UCI_HEADER,
            "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",
            "536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850,United Kingdom",
        ]
    ).encode()
    batch = import_batch_create(
        source=ImportBatch.Source.FILE,
        source_name="online_retail_2010.csv",
        content=content,
        options={"create_stores": True},
    )
    batch = sales_import(batch_id=batch.pk)
    assert batch.status == "done", batch.message

    earned = PointsEntry.objects.get(kind="earn")
    # 6 × 2.55 + 6 × 3.39 = 35.64 → 35 points, dated with the receipt, expiring a year later
    bought = datetime(2010, 12, 1, 8, 26, tzinfo=UTC)
    assert (earned.points, earned.occurred_at, earned.expires_at) == (35, bought, bought.replace(year=2011))
    assert points_liability(day=date(2010, 12, 31))["points"] == 35
    assert points_liability(day=date(2026, 11, 30))["points"] == 0
    assert points_liability(day=date(2026, 11, 30), store_ids=[earned.store_id])["points"] == 0
    months = points_liability_by_month(months=3, today=date(2026, 11, 30))["months"]
    assert [m["outstanding"] for m in months] == [0, 0, 0]
