"""The dashboard pages and partials through the test client: figures shown, roles, HTMX, bad input."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inventory.services import stock_movement_post
from inventory.tests.factories import PASSWORD, ProductFactory, StoreFactory, make_user
from reports import selectors as sel
from reports import views as dashboard_views
from reports.filters import MAX_DAYS
from reports.tests.test_dashboard_numbers import WEEK, build_chain, filters
from sales.tests.factories import post_sale

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(world):
    """The hand-computed chain of test_dashboard_numbers."""
    return build_chain(world)


def client_for(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def get(user, name, query=WEEK, htmx=False, **kwargs):
    headers = {"HX-Request": "true"} if htmx else {}
    return client_for(user).get(f"{reverse(name, kwargs=kwargs or None)}?{query}", headers=headers)


def test_owner_sees_the_chain_figures_on_the_sales_dashboard(chain):
    response = get(chain.owner, "reports:dashboard")

    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="kpi-revenue">£22.90<' in body
    assert 'data-testid="kpi-basket">£6.73<' in body
    assert 'data-testid="kpi-gross-profit">£12.70<' in body
    assert "last year £4.00" in body
    assert "<html" in body and 'data-chart="{&quot;type&quot;: &quot;line&quot;' in body


def test_staff_see_their_store_and_no_margins(chain):
    response = get(chain.staff, "reports:dashboard")

    body = response.content.decode()
    assert 'data-testid="kpi-revenue">£12.90<' in body
    assert "Other Road" not in body and "£22.90" not in body
    for hidden in ("Margin", "Gross profit", "Cost", "at cost"):
        assert hidden not in body


def test_htmx_filter_request_gets_only_the_body(chain):
    response = get(chain.owner, "reports:dashboard", query=f"{WEEK}&store={chain.store_other.pk}", htmx=True)

    body = response.content.decode()
    assert "<html" not in body
    assert 'data-testid="kpi-revenue">£10.00<' in body
    # the KPIs poll their own URL with the same filters
    assert 'hx-trigger="every 10s"' in body
    kpis_url = reverse("reports:dashboard_kpis")
    assert f"{kpis_url}?period=custom&amp;start=2025-06-02&amp;end=2025-06-08&amp;store=" in body


def test_a_sale_posted_now_shows_on_the_next_kpi_poll(chain):
    before = get(chain.owner, "reports:dashboard_kpis", query="period=today").content.decode()
    post_sale(store=chain.store_own, lines=[(chain.obj["tea"], 3, None)])

    after = get(chain.owner, "reports:dashboard_kpis", query="period=today").content.decode()

    assert 'data-testid="kpi-revenue">£0.00<' in before
    assert 'data-testid="kpi-revenue">£12.00<' in after


@pytest.mark.parametrize(
    "name",
    [
        "reports:dashboard_trend",
        "reports:dashboard_stores",
        "reports:dashboard_categories",
        "reports:dashboard_products",
    ],
)
def test_each_partial_has_a_chart_or_table_with_the_figures(chain, name):
    body = get(chain.owner, name).content.decode()

    assert "<html" not in body
    assert "<table" in body
    assert "£10.40" in body or "£12.90" in body or "£15.40" in body or "£12.40" in body


def test_reversed_range_is_swapped_with_a_message(chain):
    response = get(chain.owner, "reports:dashboard", query="period=custom&start=2025-06-08&end=2025-06-02")

    body = response.content.decode()
    assert "the two were swapped" in body
    assert 'data-testid="kpi-revenue">£22.90<' in body


def test_empty_range_falls_back_with_a_message(chain):
    response = get(chain.owner, "reports:dashboard", query="period=custom&start=&end=")

    assert response.status_code == 200
    assert "The date range was empty" in response.content.decode()


def test_unreadable_date_gets_a_message(chain):
    response = get(chain.owner, "reports:dashboard", query="period=custom&start=2025-13-45&end=2025-06-08")

    assert response.status_code == 200
    assert "could not be read" in response.content.decode()


def test_ten_year_range_is_capped(chain):
    response = get(chain.owner, "reports:dashboard", query="period=custom&start=2015-06-01&end=2025-06-08")

    f = response.context["f"]
    assert f.days == MAX_DAYS and f.end.isoformat() == "2025-06-08"
    assert f"limited to {MAX_DAYS} days" in response.content.decode()


@pytest.mark.parametrize(
    "name", ["reports:dashboard", "reports:dashboard_kpis", "reports:inventory_dashboard", "reports:dashboard_products"]
)
def test_a_store_the_user_may_not_see_is_404(chain, name):
    response = get(chain.staff, name, query=f"{WEEK}&store={chain.store_other.pk}")

    assert response.status_code == 404


def test_an_unknown_store_is_404_for_owners_too(chain):
    assert get(chain.owner, "reports:dashboard", query=f"{WEEK}&store=999999").status_code == 404


def test_a_store_that_is_not_a_number_is_ignored_with_a_message(chain):
    response = get(chain.staff, "reports:dashboard", query=f"{WEEK}&store=abc")

    body = response.content.decode()
    assert "is not a store" in body
    assert 'data-testid="kpi-revenue">£12.90<' in body


def test_a_chain_of_another_store_shows_nothing_of_it(chain):
    chain.store_other.chain = "South"
    chain.store_other.save()

    body = get(chain.staff, "reports:dashboard", query=f"{WEEK}&chain=South").content.decode()

    assert "No chain" in body and "£10.00" not in body


def test_a_period_with_no_sales(chain):
    response = get(chain.owner, "reports:dashboard", query="period=custom&start=2020-01-01&end=2020-01-31")

    body = response.content.decode()
    assert response.status_code == 200
    assert "No sales in this period" in body
    assert 'data-testid="kpi-revenue">£0.00<' in body


def test_inventory_dashboard_hides_value_from_staff(chain):
    owner = get(chain.owner, "reports:inventory_dashboard").content.decode()
    staff = get(chain.staff, "reports:inventory_dashboard").content.decode()

    assert 'data-testid="inv-value">£467.30<' in owner
    assert 'data-testid="inv-stockout">14.3%<' in owner  # 5 of 35 store × product days
    assert "inv-value" not in staff and "£" not in staff.split('id="dash-inventory"')[1]
    assert 'data-testid="inv-units">' in staff


def test_a_chain_with_more_stores_than_the_table_lists_those_with_the_most_stock(chain, monkeypatch):
    monkeypatch.setattr(dashboard_views, "INVENTORY_STORE_ROWS", 1)  # the world has two stores
    value = {r["store"].code: r["value"] for r in sel.inventory_overview(filters(chain.owner))["stores"]}
    richest, other = sorted(value, key=value.get, reverse=True)
    assert value[richest] > value[other]

    body = get(chain.owner, "reports:inventory_dashboard").content.decode()
    table = body.split('data-testid="table-inv-store"')[1].split("</table>")[0]

    assert f">{richest}<" in table and f">{other}<" not in table
    assert "The 1 stores with the most stock are shown; 1 more" in body


def test_profit_page_for_the_accountant(chain):
    body = get(chain.accountant, "reports:profit").content.decode()

    assert 'data-testid="profit-revenue">£22.90<' in body
    assert 'data-testid="profit-gross">£12.70<' in body
    assert 'data-testid="profit-shrink-counts">£4.00<' in body
    assert 'data-testid="profit-after-shrink">£8.30<' in body
    assert 'data-testid="profit-mrp-share">74.2%<' in body  # 17.00 / 22.90


def test_cash_flow_page(chain):
    body = get(chain.owner, "reports:cashflow").content.decode()

    assert 'data-testid="cash-in">£22.90<' in body
    assert 'data-testid="cash-out">£40.00<' in body
    assert 'data-testid="cash-net">-£17.10<' in body
    assert 'data-testid="cash-reinvest">174.7%<' in body
    assert "until a forecast exists" in body


def test_staff_may_not_open_profit_or_cash_flow(chain):
    assert get(chain.staff, "reports:profit").status_code == 403
    assert get(chain.staff, "reports:cashflow_periods").status_code == 403


def test_default_periods_render_for_every_page(chain):
    today = timezone.localdate()
    post_sale(store=chain.store_own, lines=[(chain.obj["tea"], 1, None)])
    for name in ("reports:dashboard", "reports:inventory_dashboard", "reports:profit", "reports:cashflow"):
        response = get(chain.owner, name, query="")
        assert response.status_code == 200, name
        assert response.context["f"].end == today

    kpis = get(chain.owner, "reports:dashboard", query="period=today").context["kpis"]

    assert kpis["current"]["revenue"] == Decimal("4.00")


@pytest.mark.parametrize(
    "name",
    [
        "reports:dashboard",
        "reports:inventory_dashboard",
        "reports:profit",
        "reports:cashflow",
        "reports:export_pack",
    ],
)
def test_queries_do_not_grow_with_stores_and_products(chain, name):
    client = client_for(chain.owner)
    url = f"{reverse(name)}?{WEEK}"
    with CaptureQueriesContext(connection) as before:
        assert client.get(url).status_code == 200
    for n in range(3):
        store = StoreFactory(code=f"EXTRA{n}")
        product = ProductFactory(sku=f"EXTRA{n}")
        stock_movement_post(store=store, product=product, quantity=Decimal("5"), kind="opening")
        post_sale(store=store, lines=[(product, 1, None), (chain.obj["tea"], 1, None)], when=chain.obj["order"].paid_at)

    with CaptureQueriesContext(connection) as after:
        assert client.get(url).status_code == 200

    assert len(after.captured_queries) == len(before.captured_queries)


@pytest.mark.parametrize("name", ["reports:dashboard", "reports:inventory_dashboard"])
def test_staff_without_a_store_get_an_empty_page_not_an_error(chain, name):
    newcomer = make_user("staff", username="new_staff")

    response = get(newcomer, name)

    body = response.content.decode()
    assert response.status_code == 200
    assert "you are not assigned to a store yet" in body
    assert "£22.90" not in body and "£12.90" not in body


def test_today_with_no_receipt_yet_says_when_the_newest_came_in(world):
    product = ProductFactory(mrp=Decimal("5.00"), dp=Decimal("4.50"))
    yesterday = timezone.localtime() - timedelta(days=1)
    post_sale(store=world.store_own, lines=[(product, 1, None)], when=yesterday)

    body = get(world.owner, "reports:dashboard", query="period=today").content.decode()

    note = body.split('data-testid="dash-empty">', 1)[1].split("</p>", 1)[0]
    assert "No sales in this period for these stores yet: the newest receipt is from" in note
    assert f"{timezone.localtime(yesterday):%a %-d %b %H:%M}" in note and "check that the tills are sending" in note
    assert "Health" in note  # the owner may open it
    staff_note = get(world.staff, "reports:dashboard", query="period=today").content.decode()
    assert "newest receipt" in staff_note and "Health</a>" not in staff_note


def test_a_selection_of_stores_in_more_than_one_currency_says_its_totals_add_them_at_face_value(world):
    world.store_other.currency = "EUR"
    world.store_other.save(update_fields=["currency"])

    every = get(world.owner, "reports:dashboard", query="period=30d").content.decode()
    notice = every.split('data-testid="dash-notices">', 1)[1].split("</ul>", 1)[0]
    assert "more than one currency (EUR: OTH; the rest GBP)" in notice and "no exchange rate" in notice

    euro = get(world.owner, "reports:dashboard", query=f"period=30d&store={world.store_other.pk}").content.decode()
    assert "These stores trade in EUR (EUR: OTH): their amounts are shown with £." in euro
    pounds = get(world.owner, "reports:dashboard", query=f"period=30d&store={world.store_own.pk}").content.decode()
    assert "dash-notices" not in pounds
