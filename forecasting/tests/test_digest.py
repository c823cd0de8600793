"""The morning e-mail to owners: yesterday's sales against last week and the forecast, the alerts to act
on, the reorder lines waiting and a chart — each recipient's own stores only."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from forecasting import services
from forecasting.models import StockAlert
from inventory.tests.factories import ProductFactory, make_user
from retailops.money import format_money
from sales.models import SalesDaily

from .factories import finished_run, open_suggestion, sales_days
from .test_views import client_for


@pytest.fixture
def morning(world, settings):
    """Yesterday OWN sold 12 tea and OTH 30 jam (8 and 30 a week before); the run made the night before
    yesterday said 10 and 20; tea risks running out at OWN, jam is overstocked at OTH; one tea line waits."""
    settings.RETAILOPS = {**settings.RETAILOPS, "SITE_URL": "https://shop.example/"}
    yesterday = timezone.localdate() - timedelta(days=1)
    own, other = world.store_own, world.store_other
    tea = ProductFactory(sku="TEA", name="Green tea", cost_price=Decimal("2.50"))
    jam = ProductFactory(sku="JAM", name="Plum jam")
    sales_days(store=own, product=tea, units=[8, 0, 0, 0, 0, 0, 0, 12], end=yesterday)
    sales_days(store=other, product=jam, units=[30, 0, 0, 0, 0, 0, 0, 30], end=yesterday)
    finished_run(pairs=[(own, tea)], end=yesterday - timedelta(days=2), daily=10.0)  # OWN only: not the chain's
    finished_run(pairs=[(own, tea), (other, jam)], end=yesterday - timedelta(days=2), daily=10.0)
    finished_run(pairs=[(other, jam)], end=yesterday - timedelta(days=2), daily=20.0, store_ids=[other.pk])
    finished_run(pairs=[(own, tea), (other, jam)], end=yesterday, daily=5.0)
    StockAlert.objects.create(
        kind=StockAlert.Kind.STOCKOUT_RISK, severity=1, store=own, product=tea, message="Runs out in about 2 days."
    )
    StockAlert.objects.create(kind=StockAlert.Kind.OVERSTOCK, severity=3, store=other, product=jam, message="Lots.")
    open_suggestion(store=own, product=tea, quantity=12)
    world.owner.email = "owner@example.com"
    world.owner.save()
    world.staff.email = "staff@example.com"  # staff get no digest
    world.staff.save()
    return {"yesterday": yesterday, "tea": tea, "jam": jam}


def test_the_owner_reads_yesterday_the_alerts_the_lines_waiting_and_a_chart(morning, world):
    assert services.alerts_digest_send() == 1
    [message] = mail.outbox
    day = morning["yesterday"]
    assert message.to == ["owner@example.com"]
    assert message.subject == f"RetailOps stock alerts · {day:%a %-d %b}: 1 stockout risk"
    text = message.body
    # 42 sold against 38 a week before; the latest chain-wide run made before yesterday had said 10 + 10 = 20
    # (a run of one store is not the chain's forecast, and the OTH-only run came later in the list)
    assert "your stores sold 42 units" in text and "up 10.5% on the same day a week before (38)" in text
    assert "The forecast had said 20 units (110.0% more sold)" in text
    assert "[OWN] TEA Green tea — stockout risk within lead time: Runs out in about 2 days." in text
    assert "JAM" not in text.split("To review")[0]  # the overstock is counted, not listed
    assert "To review when there is time: 1 overstock." in text
    assert f"1 to buy ({format_money(Decimal('30.00'))}), 0 to move between stores" in text
    assert "https://shop.example/forecasting/reorder/" in text
    [(html, kind)] = message.alternatives
    assert kind == "text/html" and 'src="cid:trend"' in html and "https://shop.example/forecasting/reorder/" in html
    [chart] = message.attachments
    assert chart.get_content_type() == "image/png" and chart["Content-ID"] == "<trend>"
    assert chart.get_payload(decode=True)[:4] == b"\x89PNG"


def test_a_manager_of_one_store_reads_that_store_only_and_no_costs(morning, world):
    manager = make_user("staff", stores=[world.store_own], username="mo_manager", email="mo@example.com")
    manager.user_permissions.add(Permission.objects.get(codename="receive_forecast_digest"))
    assert services.alerts_digest_send() == 2
    [mine] = [m for m in mail.outbox if m.to == ["mo@example.com"]]
    assert "your stores sold 12 units" in mine.body and "up 50.0% on the same day a week before (8)" in mine.body
    assert "The forecast had said 10 units (20.0% more sold)" in mine.body
    assert "[OWN] TEA" in mine.body and "OTH" not in mine.body and "overstock" not in mine.body
    assert "1 to buy, 0 to move" in mine.body  # the cash of the lines is a cost figure: not shown


def test_no_alert_no_email(morning):
    StockAlert.objects.all().delete()
    assert services.alerts_digest_send() == 0
    assert mail.outbox == []


def test_only_alerts_to_review_say_nothing_urgent_and_a_slow_day_reads_as_down(morning, world):
    StockAlert.objects.filter(kind=StockAlert.Kind.STOCKOUT_RISK).delete()
    # yesterday OTH sold 4 jam, not 30: 16 in all against 38 a week before and 20 forecast
    SalesDaily.objects.filter(store=world.store_other, date=morning["yesterday"]).update(units=Decimal(4))
    assert services.alerts_digest_send() == 1
    [message] = mail.outbox
    assert message.subject.endswith(": nothing urgent")
    assert "Nothing to act on today" in message.body and "1 overstock" in message.body
    assert "sold 16 units" in message.body and "down 57.9% on the same day a week before (38)" in message.body
    assert "The forecast had said 20 units (20.0% less sold)." in message.body


def test_the_owner_previews_this_mornings_email_in_the_browser(morning, world):
    url = reverse("forecasting:digest_preview")
    page = client_for(world.owner).get(url).content.decode()
    assert "Preview of this morning" in page and "to owner@example.com" in page
    assert "1 stockout risk" in page and "Green tea" in page
    assert 'src="data:image/png;base64,iVBOR' in page  # the chart, inline: no mail server needed
    assert mail.outbox == []  # a preview sends nothing
    assert client_for(world.staff).get(url).status_code == 403
    assert client_for(world.accountant).get(url).status_code == 403
    link = client_for(world.owner).get(reverse("forecasting:suggestion_list")).content.decode()
    assert (
        url in link and url not in client_for(world.staff).get(reverse("forecasting:suggestion_list")).content.decode()
    )
    # with no alert the preview still shows, and says that no e-mail would go
    StockAlert.objects.all().delete()
    assert "none would be sent" in client_for(world.owner).get(url).content.decode()
