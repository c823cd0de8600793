"""Issue #15, defect 4 (churn): a customer's churn figure and band are the same in the list, on their own
page and in the insights — one function decides them (hand-computed figures)."""

import re
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from customers.models import CustomerModelRun, CustomerPrediction
from customers.tests.factories import CustomerFactory
from forecasting.customer_selectors import customer_churn
from inventory.tests.factories import PASSWORD, ProductFactory
from sales.tests.factories import post_sale

pytestmark = pytest.mark.django_db

CHURN_CELL = re.compile(r'data-testid="churn">.*?<span class="pill (\w+)"[^>]*>([^<]+)</span>', re.S)


def shop(store, product, customer, days_ago: list[int]) -> None:
    today = timezone.localdate()
    for n in days_ago:
        when = timezone.make_aware(datetime.combine(today - timedelta(days=n), time(12)))
        post_sale(store=store, lines=[(product, 1, None)], customer=customer, when=when)


def figures(client, customer) -> tuple[tuple[str, str], tuple[str, str]]:
    """(pill class, text) of the customer's churn cell in the list and on their page."""
    listing = client.get(reverse("customer_reports:customer_list") + f"?q={customer.code}").content.decode()
    detail = client.get(reverse("customer_reports:customer_detail", kwargs={"pk": customer.pk})).content.decode()
    return CHURN_CELL.search(listing).groups(), CHURN_CELL.search(detail).groups()


@pytest.fixture
def members(world):
    product = ProductFactory(mrp=Decimal("10.00"), dp=Decimal("9.00"))
    regular, lapsed, once = (CustomerFactory(code=c, home_store=world.store_own) for c in ("REG", "LAPSED", "ONCE"))
    shop(world.store_own, product, regular, [40, 30, 20, 10])  # usual gap 10 days, last visit 10 days ago
    shop(world.store_own, product, lapsed, [400, 380])  # usual gap 20 days, silent for 380
    shop(world.store_own, product, once, [300])  # a single visit 300 days ago
    client = Client()
    assert client.login(username=world.owner.username, password=PASSWORD)
    return client, regular, lapsed, once


def test_without_a_model_run_list_and_page_show_the_heuristic_figure_and_band(members):
    client, regular, lapsed, once = members

    # 10 / (3 × 10) = 33 % low; 380 / 60 → 100 % high; the one-time buyer: 300 / (3 × median gap 15) → 100 %
    assert figures(client, regular) == (("ok", "33% · low"),) * 2
    assert figures(client, lapsed) == (("bad", "100% · high"),) * 2
    assert figures(client, once) == (("bad", "100% · high"),) * 2


def test_with_a_model_run_list_and_page_show_one_figure_and_a_one_time_buyer_is_not_called_active(members):
    client, regular, lapsed, once = members
    run = CustomerModelRun.objects.create(status=CustomerModelRun.Status.DONE, finished_at=timezone.now())
    # what BG/NBD says: the one-time buyer is "100 % still active" by construction
    for customer, p_alive in ((regular, 0.9), (lapsed, 0.25), (once, 1.0)):
        CustomerPrediction.objects.create(run=run, customer=customer, p_alive=p_alive)

    assert figures(client, regular) == (("ok", "10% · low"),) * 2  # the model: 1 − 0.9
    assert figures(client, lapsed) == (("bad", "75% · high"),) * 2  # the model: 1 − 0.25
    assert figures(client, once) == (("bad", "100% · high"),) * 2  # one visit: the heuristic, not the model
    assert customer_churn(customer_id=regular.pk)["source"] == "model"
    churn = customer_churn(customer_id=once.pk)
    assert (churn["risk"], churn["band"], churn["source"]) == (1.0, "high", "heuristic")
    page = client.get(reverse("customer_reports:customer_detail", kwargs={"pk": once.pk})).content.decode()
    assert "Still active" not in page


def test_the_api_gives_the_figure_and_band_the_pages_show(members):
    client, regular, lapsed, once = members
    run = CustomerModelRun.objects.create(status=CustomerModelRun.Status.DONE, finished_at=timezone.now())
    for customer, p_alive in ((regular, 0.9), (lapsed, 0.25), (once, 1.0)):
        CustomerPrediction.objects.create(run=run, customer=customer, p_alive=p_alive)

    rows = {r["customer"]: r for r in client.get("/api/v1/customer-predictions/").json()["results"]}

    assert {code: (round(r["churn_risk"], 2), r["churn_band"]) for code, r in rows.items()} == {
        "REG": (0.10, "low"),
        "LAPSED": (0.75, "high"),
        "ONCE": (1.0, "high"),
    }
    assert rows["ONCE"]["p_alive"] == 1.0  # the raw model output is still there, named for what it is
