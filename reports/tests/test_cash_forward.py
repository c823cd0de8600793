"""The forward cash view reads the current forecast of each store (issue #15, defect 2).

The rule is forecasting.selectors.latest_run's (the forecast and reorder pages'): per store, the finished run
with the latest history that covers it — never the newest run by id, which is a run made "as of" an earlier
day whenever one has just been scored. Weeks past the forecast have no expected takings ("no forecast"),
and the cumulative stops where the forecast does instead of counting those weeks as no takings.

Today is Tuesday 15 July 2025 on the small chain of test_dashboard_numbers, plus a sale of 2 teas @3.50 on
1 July (so tea's price over the last 28 days is 3.50; crisps did not sell: list price 1.00). Forward weeks:
wk 14 Jul (from today: 15 – 20 July, 6 days), 21 Jul, 28 Jul, 4 Aug, 11 Aug, 18 Aug.
"""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from forecasting import selectors as forecasting_selectors
from forecasting.models import DemandForecast, ForecastRun
from inventory.tests.factories import PASSWORD
from reports import selectors as sel
from reports.filters import parse_filters
from reports.tests.test_dashboard_numbers import build_chain
from sales.tests.factories import post_sale

pytestmark = pytest.mark.django_db
LONDON = ZoneInfo("Europe/London")
D = Decimal
TODAY = date(2025, 7, 15)


@pytest.fixture
def chain(world):
    world = build_chain(world)
    post_sale(
        store=world.store_own, lines=[(world.obj["tea"], 2, "3.50")], when=datetime(2025, 7, 1, 10, tzinfo=LONDON)
    )
    return world


def forecast(run, store, product, units, start, days):
    DemandForecast.objects.bulk_create(
        DemandForecast(
            run=run, store=store, product=product, date=start + timedelta(days=i), yhat=units, lo=0, hi=units * 2
        )
        for i in range(days)
    )


def current_and_as_of_runs(chain):
    """The nightly run (sales to Mon 14 July, 28 days: 15 July – 11 August) and, made after it, a run as of
    Mon 7 July (8 July – 4 August) for the accuracy page — the demo makes those every time it loads."""
    own, oth, tea, crisps = chain.store_own, chain.store_other, chain.obj["tea"], chain.obj["crisps"]
    current = ForecastRun.objects.create(status="done", history_end=date(2025, 7, 14), horizon_days=28)
    forecast(current, own, tea, 2.0, date(2025, 7, 15), 28)
    forecast(current, oth, crisps, 5.0, date(2025, 7, 15), 28)
    as_of = ForecastRun.objects.create(status="done", history_end=date(2025, 7, 7), horizon_days=28, trigger="as-of")
    forecast(as_of, own, tea, 9.0, date(2025, 7, 8), 28)
    forecast(as_of, oth, crisps, 9.0, date(2025, 7, 8), 28)
    return current, as_of


def filters(user):
    return parse_filters(user=user, params=QueryDict("period=90d"), today=TODAY)


def test_the_current_run_is_read_not_a_newer_run_made_as_of_an_earlier_day(chain):
    current, as_of = current_and_as_of_runs(chain)
    assert as_of.pk > current.pk  # the newest run by id is the as-of one

    fwd = sel.cash_forward(filters(chain.owner), today=TODAY)

    # a day: 2 teas × 3.50 + 5 crisps × 1.00 = 12.00; six days this week, then whole weeks to 10 August
    assert [r["in"] for r in fwd["rows"][:4]] == [D("72.00"), D("84.00"), D("84.00"), D("84.00")]
    assert fwd["source"] == "forecast" and fwd["runs"] == [current]
    assert fwd["forecast_until"] == date(2025, 8, 11)


def test_the_figure_is_the_current_runs_units_at_the_selectors_prices(chain):
    current, _ = current_and_as_of_runs(chain)

    fwd = sel.cash_forward(filters(chain.owner), today=TODAY)

    assert fwd["prices"] == {chain.obj["tea"].pk: D("3.50"), chain.obj["crisps"].pk: D("1.00")}
    for row in fwd["rows"]:
        if row["status"] == "none":
            continue
        stop = row["covered_to"] or row["week"] + timedelta(days=6)
        lines = DemandForecast.objects.filter(run=current, date__gte=max(row["week"], TODAY), date__lte=stop)
        expected = sum(D(str(x.yhat)) * fwd["prices"][x.product_id] for x in lines)
        assert row["in"] == expected.quantize(D("0.01")) and row["in"] > 0


def test_weeks_past_the_forecast_say_no_forecast_and_the_cumulative_stops(chain):
    current_and_as_of_runs(chain)
    order = chain.obj["order"]  # 20 teas × 2.00 = 40.00, 40.00 paid: nothing due
    order.amount_paid = D("0")
    order.expected_date = date(2025, 7, 23)
    order.save()

    fwd = sel.cash_forward(filters(chain.owner), today=TODAY)
    rows = fwd["rows"]

    assert [r["status"] for r in rows] == ["full", "full", "full", "full", "partial", "none"]
    # 11 August is the forecast's last day: one day of 12.00 in that week, nothing known of the next
    assert (rows[4]["in"], rows[4]["covered_to"]) == (D("12.00"), date(2025, 8, 11))
    assert rows[5]["in"] is None and rows[5]["out"] == 0
    assert [r["net"] for r in rows] == [D("72.00"), D("44.00"), D("84.00"), D("84.00"), None, None]
    assert [r["cumulative"] for r in rows] == [D("72.00"), D("116.00"), D("200.00"), D("284.00"), None, None]


def test_each_store_reads_its_own_current_run(chain):
    """A run of one store made after the chain's is that store's forecast, and only that store's."""
    own, oth, tea, crisps = chain.store_own, chain.store_other, chain.obj["tea"], chain.obj["crisps"]
    chain_run = ForecastRun.objects.create(status="done", history_end=date(2025, 7, 13), horizon_days=28)
    forecast(chain_run, own, tea, 1.0, date(2025, 7, 14), 28)
    forecast(chain_run, oth, crisps, 5.0, date(2025, 7, 14), 28)
    own_run = ForecastRun.objects.create(
        status="done", history_end=date(2025, 7, 14), horizon_days=7, store_ids=[own.pk]
    )
    forecast(own_run, own, tea, 4.0, date(2025, 7, 15), 7)
    latest = forecasting_selectors.latest_run_by_store([own.pk, oth.pk])
    assert latest == {own.pk: own_run, oth.pk: chain_run}

    fwd = sel.cash_forward(filters(chain.owner), today=TODAY)

    # OWN: 4 teas × 3.50 a day from its own run; OTH: 5 crisps × 1.00 from the chain's. OWN's run ends on
    # Monday 21 July, so the week of 21 July is forecast for one day only and nothing after it.
    assert fwd["rows"][0]["in"] == D("114.00")  # 6 × (14.00 + 5.00)
    assert (fwd["rows"][1]["status"], fwd["rows"][1]["in"]) == ("partial", D("19.00"))
    assert [r["in"] for r in fwd["rows"][2:]] == [None, None, None, None]


def test_a_store_without_a_forecast_counts_its_trailing_average(chain):
    own, tea = chain.store_own, chain.obj["tea"]
    run = ForecastRun.objects.create(status="done", history_end=date(2025, 7, 14), store_ids=[own.pk])
    forecast(run, own, tea, 2.0, date(2025, 7, 15), 28)
    post_sale(
        store=chain.store_other, lines=[(chain.obj["crisps"], 28, None)], when=datetime(2025, 7, 2, tzinfo=LONDON)
    )

    fwd = sel.cash_forward(filters(chain.owner), today=TODAY)

    # OWN 7.00 a day from the forecast; OTH 28.00 over the last 28 days: 1.00 a day
    assert fwd["source"] == "mixed" and fwd["trailing_stores"] == ["OTH"]
    assert [r["in"] for r in fwd["rows"][:2]] == [D("48.00"), D("56.00")]


def test_the_cash_page_labels_the_weeks_without_a_forecast(chain, client, monkeypatch):
    current_and_as_of_runs(chain)
    monkeypatch.setattr(timezone, "now", lambda: datetime(2025, 7, 15, 12, tzinfo=LONDON))
    assert client.login(username=chain.owner.username, password=PASSWORD)

    body = client.get(f"{reverse('reports:cashflow_forward')}?period=90d").content.decode()

    assert "from each store's current demand forecast (to Mon 11 Aug)" in body
    assert '<td class="name">wk 14 Jul<br><span class="muted small">from today</span></td>' in body
    assert body.count("£84.00") == 6 and "forecast to Mon 11 Aug only" in body  # in and net, three weeks
    assert body.count(">no forecast</span>") == 1  # the week of 18 August
    assert "£324.00" in body  # the cumulative to the last whole week (72 + 3 × 84); none after it
