"""The insights report (issue 20 §1): its figures are the pages' figures, its PDF holds them, the weekly e-mail
reaches owners and accountants with the PDF attached, and "send now" goes through the outbox."""

import io
import re
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from pypdf import PdfReader

from customers.models import Customer
from demo.load import demo_load
from demo.tests.test_demo import TINY
from inventory.tests.factories import PASSWORD
from reports import insights_mail
from reports.insights import last_week
from retailops.models import OutboxMessage
from retailops.money import format_money
from retailops.templatetags.retailops import pct

pytestmark = pytest.mark.django_db

TODAY = date(2026, 3, 31)  # the tiny demo chain's last day of sales
START, END = date(2026, 3, 1), date(2026, 3, 28)
PREVIOUS = (date(2026, 2, 1), date(2026, 2, 28))  # the 28 days before START
PARAMS = {"period": "custom", "start": START.isoformat(), "end": END.isoformat()}


@pytest.fixture
def chain(client, monkeypatch):
    """The tiny demo chain with a forecast made four weeks before its last day (so March has a scored run)."""
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: TODAY)
    demo_load(config=replace(TINY, end_date=TODAY))
    call_command("forecast_run", "--inline", "--as-of", (TODAY - timedelta(days=28)).isoformat(), stdout=io.StringIO())
    assert client.login(username="owner", password="owner-demo-2026")
    return client


def _context(client, url: str, params: dict):
    response = client.get(url, params)
    assert response.status_code == 200, (url, response.status_code)
    return response.context


def _pdf_text(content: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(content))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def test_report_figures_equal_the_pages_and_the_pdf_holds_them(chain):
    client = chain
    report = _context(client, reverse("insights:insights"), PARAMS)["report"]
    head = {r["key"]: r for r in report["headline"]["rows"]}

    kpis = _context(client, reverse("reports:dashboard_kpis"), PARAMS)["kpis"]
    before = _context(
        client,
        reverse("reports:dashboard_kpis"),
        {"period": "custom", "start": PREVIOUS[0].isoformat(), "end": PREVIOUS[1].isoformat()},
    )["kpis"]
    profit = _context(client, reverse("reports:profit_summary"), PARAMS)["profit"]
    flow = _context(client, reverse("reports:cashflow_periods"), PARAMS)["flow"]["totals"]
    inventory = _context(client, reverse("reports:inventory_dashboard_overview"), PARAMS)["inv"]["total"]
    shrink = _context(client, reverse("inventory:shrinkage"), {"from": START, "to": END})["report"]["total"]

    assert kpis["current"]["revenue"] > 0
    assert head["revenue"]["value"] == kpis["current"]["revenue"] == profit["revenue"]
    assert head["revenue"]["last_year"] == kpis["previous"]["revenue"]
    assert head["revenue"]["previous"] == before["current"]["revenue"]
    assert head["units"]["value"] == kpis["current"]["units"]
    assert head["gross_profit"]["value"] == kpis["current"]["gross_profit"] == profit["gross_profit"]
    assert head["margin"]["value"] == profit["margin"]
    assert head["cash_in"]["value"] == flow["cash_in"]
    assert head["cash_out"]["value"] == flow["out"]
    assert head["net_cash"]["value"] == flow["net"]
    assert report["risk"]["total"]["dead_value"] == inventory["dead_value"]
    assert report["risk"]["total"]["overstock_value"] == inventory["overstock_value"]
    assert report["disc"]["total"]["loss"] == shrink["loss"]
    assert report["accuracy"]["runs"], "the run made on 3 March is scored in March"

    # Every recommendation says what to do, why, on what figure, with a link to a page that opens.
    assert report["recommendations"]
    for rec in report["recommendations"]:
        assert rec["text"] and rec["why"] and rec["figure"]
        assert client.get(rec["url"]).status_code == 200, rec["url"]

    response = client.get(reverse("insights:insights_pdf"), PARAMS)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    pages, text = _pdf_text(response.content)
    assert 2 <= pages <= 8
    flat = re.sub(r"\s+", " ", text)
    for figure in (
        format_money(kpis["current"]["revenue"]),
        format_money(kpis["previous"]["revenue"]),
        format_money(before["current"]["revenue"]),
        format_money(profit["gross_profit"]),
        pct(profit["margin"]),
        format_money(flow["cash_in"]),
        format_money(flow["net"]),
    ):
        assert figure in flat, figure
    assert "01 Mar 2026 – 28 Mar 2026" in flat  # an en dash: the embedded font carries it
    assert report["recommendations"][0]["text"][:40] in flat


def test_accountant_reads_the_report_without_customer_names(chain):
    client = chain
    client.logout()
    assert client.login(username="accountant", password="accountant-demo-2026")
    response = client.get(reverse("insights:insights"), PARAMS)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Points liability" in page
    names = [c.name for c in Customer.objects.exclude(name="")[:200]]
    assert names and not [n for n in names if n in page]
    assert 'data-testid="insights-send"' not in page  # sending is the owners'


def test_weekly_email_goes_to_owners_and_accountants_with_the_pdf(world, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    for user, email in ((world.owner, "o@example.com"), (world.accountant, "a@example.com"), (world.staff, "s@e.com")):
        user.email = email
        user.save()
    monday = date(2026, 12, 7)
    assert insights_mail.insights_email_send(today=monday) == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["a@example.com", "o@example.com"]  # staff: none
    message = mail.outbox[0]
    assert message.subject == "Insights for the week 30 Nov – 06 Dec 2026"
    html, kind = message.alternatives[0]
    assert kind == "text/html" and "What to do" in html
    (name, content, mimetype) = message.attachments[0]
    assert (name, mimetype) == ("insights-20261130-20261206.pdf", "application/pdf")
    pages, text = _pdf_text(content)
    assert pages >= 1 and "Weekly insights" in text and "OWN" in text and "OTH" in text


def test_last_week_is_the_whole_week_before():
    assert last_week(date(2026, 12, 7)) == (date(2026, 11, 30), date(2026, 12, 6))  # a Monday
    assert last_week(date(2026, 12, 6)) == (date(2026, 11, 23), date(2026, 11, 29))  # a Sunday: not this week


def test_send_now_queues_the_weekly_email_through_the_outbox(world, client):
    assert client.login(username=world.owner.username, password=PASSWORD)
    response = client.post(reverse("insights:insights_send"), {"query": "period=month"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("insights:insights") + "?period=month"
    message = OutboxMessage.objects.get(task_name="reports.tasks.insights_weekly_task")
    assert message.key == "insights-weekly-send-now"
    assert "queued" in response.content.decode()
    client.post(reverse("insights:insights_send"), {"query": ""})  # a double click: still one message waiting
    assert OutboxMessage.objects.filter(task_name="reports.tasks.insights_weekly_task", sent_at=None).count() <= 1


def test_weekly_schedule_is_monday_half_past_seven_and_editable():
    task = PeriodicTask.objects.get(task="reports.tasks.insights_weekly_task")
    cron = task.crontab
    assert (cron.minute, cron.hour, cron.day_of_week, str(cron.timezone)) == ("30", "7", "1", "Europe/London")
    assert task.enabled


def test_empty_chain_renders_page_and_pdf(world, client):
    assert client.login(username=world.owner.username, password=PASSWORD)
    response = client.get(reverse("insights:insights"))
    assert response.status_code == 200
    assert Decimal(0) == response.context["report"]["headline"]["by_key"]["revenue"]
    pages, text = _pdf_text(client.get(reverse("insights:insights_pdf")).content)
    assert pages >= 1 and "Nothing to show for this period." in text
