"""The calendar CSV import (all-or-nothing, a message per bad row naming its line), the command, the page's
upload and confirm, and the calendar API's scoping and overlap refusal (issue 18 §1, "Bad input")."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from forecasting.calendar_import import CalendarImportError, calendar_import
from forecasting.models import Promotion, StoreClosure, WeeklyClosingDay
from inventory.tests.factories import PASSWORD, CategoryFactory, ProductFactory
from sales.models import StoreDaily

D = date(2027, 2, 1)
HEADER = "kind,name,start,end,stores,products,categories,discount_percent,promo_price,notes\n"


@pytest.fixture
def calendar_world(world):
    world.obj["cat"] = CategoryFactory(name="Jams")
    world.obj["jam"] = ProductFactory(sku="JAM-1", category=world.obj["cat"])
    world.obj["tea"] = ProductFactory(sku="TEA-1")
    StoreDaily.objects.create(store=world.store_own, date=D, payment_method="card", transactions=4)
    return world


def test_import_writes_promotions_and_closures(calendar_world):
    csv = HEADER + (
        "promotion,Jam fortnight,2027-02-01,2027-02-14,OWN,,Jams,20,,\n"
        "promotion,Tea at 1.50,2027-02-01,2027-02-03,,TEA-1,,,1.50,\n"
        "closure,,2027-02-10,2027-02-11,OTH,,,,,Snow\n"
    )
    result = calendar_import(content=csv.encode())
    assert (result.promotions, result.closures) == (2, 2)
    jam = Promotion.objects.get(name="Jam fortnight")
    assert list(jam.stores.all()) == [calendar_world.store_own] and list(jam.categories.all()) == [
        calendar_world.obj["cat"]
    ]
    assert Promotion.objects.get(name="Tea at 1.50").promo_price == Decimal("1.50")
    assert StoreClosure.objects.filter(store=calendar_world.store_other, reason="Snow").count() == 2


def test_import_refuses_every_bad_row_by_line_and_writes_nothing(calendar_world):
    csv = HEADER + (
        "promotion,Good one,2027-03-01,2027-03-07,,TEA-1,,10,,\n"  # line 2: fine on its own
        "promotion,Ghost,2027-03-01,2027-03-02,NOPE,GHOST-9,Nothing,10,,\n"  # line 3: unknown store/product/category
        "promotion,Backwards,2027-03-09,2027-03-08,,JAM-1,,10,,\n"  # line 4: ends before it starts
        "promotion,Tea again,2027-03-05,2027-03-10,OWN,TEA-1,,15,,\n"  # line 5: overlaps line 2 on TEA-1
        "closure,,2027-02-01,,OWN,,,,,Refit\n"  # line 6: sales recorded that day
    )
    with pytest.raises(CalendarImportError) as refused:
        calendar_import(content=csv.encode())
    errors = refused.value.errors
    assert len(errors) == 4
    assert errors[0].startswith("Line 3:") and "unknown store 'NOPE'" in errors[0]
    assert "unknown product 'GHOST-9'" in errors[0] and "unknown category 'Nothing'" in errors[0]
    assert errors[1].startswith("Line 4:") and "ends (08 Mar 2027) before it starts" in errors[1]
    assert errors[2].startswith("Line 5:") and "overlaps the promotion “Good one”" in errors[2] and "TEA-1" in errors[2]
    assert errors[3].startswith("Line 6:") and "has sales recorded on 01 Feb 2027" in errors[3]
    assert not Promotion.objects.exists() and not StoreClosure.objects.exists()


def test_import_command_reports_rows_and_imports_nothing(calendar_world, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "promotion,x,2027-03-01,2027-03-02,,TEA-1,,10,,\npromotion,y,2027-03-01,,,NOPE,,10,,\n")
    with pytest.raises(CommandError, match="Line 3: unknown product 'NOPE'"):
        call_command("import_calendar", str(bad))
    assert not Promotion.objects.exists()
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "promotion,x,2027-03-01,2027-03-02,,TEA-1,,10,,\n")
    call_command("import_calendar", str(good))
    assert Promotion.objects.count() == 1


def test_page_upload_shows_row_messages_and_confirm_uses_a_detected_day(calendar_world, client):
    client.login(username=calendar_world.owner.username, password=PASSWORD)
    upload = SimpleUploadedFile("cal.csv", (HEADER + "promotion,y,2027-03-01,,,NOPE,,10,,\n").encode())
    response = client.post(reverse("forecasting:calendar_import"), {"file": upload})
    assert response.status_code == 400
    assert (
        "Nothing was imported." in response.content.decode() and "Line 2: unknown product" in response.content.decode()
    )
    day = WeeklyClosingDay.objects.create(store=calendar_world.store_own, weekday=6, detected=True)
    page = client.get(reverse("forecasting:calendar")).content.decode()
    assert "Closing days found in the sales" in page and "Sundays" in page
    client.post(reverse("forecasting:closing_day_confirm", args=[day.pk]), {"decision": "confirm"})
    day.refresh_from_db()
    assert day.confirmed and day.confirmed_by == calendar_world.owner


def test_page_add_promotion_refuses_an_overlap_with_its_name(calendar_world, client):
    client.login(username=calendar_world.owner.username, password=PASSWORD)
    data = {"name": "Tea days", "start": "2027-04-01", "end": "2027-04-05", "discount_percent": "10",
            "products": [calendar_world.obj["tea"].pk]}  # fmt: skip
    assert client.post(reverse("forecasting:promotion_add"), data).status_code == 302
    again = client.post(reverse("forecasting:promotion_add"), {**data, "name": "Tea again", "start": "2027-04-05"})
    assert again.status_code == 400 and "overlaps the promotion “Tea days”" in again.content.decode()
    assert Promotion.objects.count() == 1


def _api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_api_scopes_promotions_and_closures_to_the_staff_members_stores(calendar_world):
    w = calendar_world
    for store in (w.store_own, w.store_other):
        promo = Promotion.objects.create(name=f"P {store.code}", start=D, end=D, discount_percent=Decimal("10"))
        promo.stores.set([store])
        promo.products.set([w.obj["tea"]])
        StoreClosure.objects.create(store=store, date=D + timedelta(days=3))
    Promotion.objects.create(name="Chain", start=D, end=D, discount_percent=Decimal("5")).categories.set([w.obj["cat"]])
    staff = _api(w.staff)
    names = {p["name"] for p in staff.get("/api/v1/promotions/").json()["results"]}
    assert names == {"P OWN", "Chain"}
    closures = staff.get("/api/v1/store-closures/").json()["results"]
    assert [c["store"] for c in closures] == ["OWN"]
    assert staff.post("/api/v1/store-closures/", {"store": "OWN", "date": "2027-05-01"}).status_code == 403
    assert _api(w.owner).get("/api/v1/promotions/").json()["count"] == 3


def test_api_owner_creates_and_is_refused_an_overlap_or_a_closure_on_a_trading_day(calendar_world):
    owner = _api(calendar_world.owner)
    body = {"name": "Tea", "start": "2027-06-01", "end": "2027-06-07", "products": ["TEA-1"], "discount_percent": "20"}
    assert owner.post("/api/v1/promotions/", body, format="json").status_code == 201
    clash = owner.post("/api/v1/promotions/", {**body, "name": "Tea 2", "stores": ["OWN"]}, format="json")
    assert clash.status_code == 400 and "overlaps the promotion “Tea”" in str(clash.json())
    backwards = owner.post("/api/v1/promotions/", {**body, "name": "B", "end": "2027-05-01"}, format="json")
    assert backwards.status_code == 400 and "before it starts" in str(backwards.json())
    traded = owner.post("/api/v1/store-closures/", {"store": "OWN", "date": D.isoformat()}, format="json")
    assert traded.status_code == 400 and "has sales recorded" in str(traded.json())


@pytest.mark.parametrize("bad", ["TEA\x00-1", 7, None])
def test_api_refuses_a_code_postgresql_cannot_compare_with_a_400_not_a_500(calendar_world, bad):
    # found by the reliability suite's schemathesis run on PostgreSQL: a NUL byte in a SKU reached the database
    owner = _api(calendar_world.owner)
    body = {"name": "Tea", "start": "2027-06-01", "end": "2027-06-07", "products": [bad], "discount_percent": "20"}
    response = owner.post("/api/v1/promotions/", body, format="json")
    assert response.status_code == 400 and "products" in response.json()
    closure = owner.post("/api/v1/store-closures/", {"store": bad, "date": "2027-06-02"}, format="json")
    assert closure.status_code == 400 and "store" in closure.json()
    assert not Promotion.objects.filter(name="Tea").exists() and not StoreClosure.objects.exists()


def test_api_refuses_a_promotion_in_year_1_or_9999(calendar_world):
    owner = _api(calendar_world.owner)
    base = {"name": "Old", "products": ["TEA-1"], "discount_percent": "20"}
    for start, end in (("0001-01-01", "0001-01-02"), ("9999-12-30", "9999-12-31")):
        response = owner.post("/api/v1/promotions/", {**base, "start": start, "end": end}, format="json")
        assert response.status_code == 400 and "A promotion runs between 1990 and 2200" in str(response.json())
    assert not Promotion.objects.filter(name="Old").exists()
