"""Comparisons with last year are like for like (issue #15, defect 7).

A period that reaches today holds today's sales so far: its comparison day counts only the sales made before
the same time of day, and the chart shows today apart (it does not plunge). A percentage change on a base too
small to mean anything is not given (reports.selectors.base_too_small: below £50, 5 units or receipts,
or 5 % of the whole last year).

"Now" is Tuesday 15 July 2025, 12:00 in London, on the small chain of test_dashboard_numbers, plus:
  last year, Tue 16 Jul 2024 (52 weeks before: "today" compares with it)
    OWN 09:00 tea ×20 @4.00 = 80.00 · OTH 11:30 crisps ×60 @1.00 = 60.00      ← before 12:00
    OWN 15:00 tea ×30 @4.00 = 120.00 · OTH 17:00 crisps ×40 @1.00 = 40.00     ← after 12:00
  last year, Mon 15 Jul 2024 (the calendar day a year before: "this month" compares with it)
    OWN 10:00 tea ×15 @4.00 = 60.00 ← before 12:00 · OWN 18:00 tea ×50 @4.00 = 200.00 ← after
  last year, Wed 10 Jul 2024: OWN 10:00 tea ×25 @4.00 = 100.00
  this year, Thu 10 Jul 2025: OWN 10:00 tea ×30 @4.00 = 120.00
  today, Tue 15 Jul 2025: OWN 09:30 tea ×25 @4.00 = 100.00 · OTH 10:00 crisps ×66 @1.00 = 66.00
"""

import json
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.http import QueryDict
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from inventory.tests.factories import PASSWORD
from reports import selectors as sel
from reports import views as dashboard_views
from reports.filters import parse_filters
from reports.tests.test_dashboard_numbers import WEEK, build_chain
from sales.tests.factories import post_sale

LONDON = ZoneInfo("Europe/London")
D = Decimal
NOW = datetime(2025, 7, 15, 12, 0, tzinfo=LONDON)


def at(y, m, d, h, minute=0):
    return datetime(y, m, d, h, minute, tzinfo=LONDON)


@pytest.fixture
def chain(world, monkeypatch):
    world = build_chain(world)
    own, oth = world.store_own, world.store_other
    tea, crisps = world.obj["tea"], world.obj["crisps"]
    post_sale(store=own, lines=[(tea, 20, None)], when=at(2024, 7, 16, 9))
    post_sale(store=oth, lines=[(crisps, 60, None)], when=at(2024, 7, 16, 11, 30))
    post_sale(store=own, lines=[(tea, 30, None)], when=at(2024, 7, 16, 15))
    post_sale(store=oth, lines=[(crisps, 40, None)], when=at(2024, 7, 16, 17))
    post_sale(store=own, lines=[(tea, 15, None)], when=at(2024, 7, 15, 10))
    post_sale(store=own, lines=[(tea, 50, None)], when=at(2024, 7, 15, 18))
    post_sale(store=own, lines=[(tea, 25, None)], when=at(2024, 7, 10, 10))
    post_sale(store=own, lines=[(tea, 30, None)], when=at(2025, 7, 10, 10))
    post_sale(store=own, lines=[(tea, 25, None)], when=at(2025, 7, 15, 9, 30))
    post_sale(store=oth, lines=[(crisps, 66, None)], when=at(2025, 7, 15, 10))
    monkeypatch.setattr(timezone, "now", lambda: NOW)  # the dashboards read "today" and "now" from here
    return world


def filters(user, query):
    return parse_filters(user=user, params=QueryDict(query))


@pytest.mark.django_db
def test_today_is_compared_with_the_same_hours_of_the_same_weekday_last_year(chain):
    k = sel.sales_kpis(filters(chain.owner, "period=today"))

    c, p = k["current"], k["previous"]
    assert (c["revenue"], c["units"], c["transactions"]) == (D("166.00"), D("91"), 2)
    # Tue 16 July 2024 before 12:00 only: 80.00 + 60.00, not the whole day's 300.00 and 4 receipts
    assert (p["revenue"], p["units"], p["transactions"]) == (D("140.00"), D("80"), 2)
    assert (p["cost"], p["returns_value"]) == (D("64.00"), D("0"))  # 20 × 2.00 + 60 × 0.40
    assert k["change"]["revenue"] == D("26") / D("140")
    assert k["change"]["units"] == D("11") / D("80")
    # two receipts a side: too few for a percentage
    assert (k["change"]["transactions"], k["small"]["transactions"]) == (None, True)
    assert (k["change"]["basket"], k["small"]["basket"]) == (None, True)
    assert k["cut"].day == date(2024, 7, 16) and k["cut"].time.strftime("%H:%M") == "12:00"


@pytest.mark.django_db
def test_this_month_cuts_only_its_last_comparison_day(chain):
    f = filters(chain.owner, "period=month")

    k = sel.sales_kpis(f)
    stores = {r["store"].code: r for r in sel.store_comparison(f)}

    # 1 – 15 July 2025 so far: 120.00 + 100.00 + 66.00; 1 – 15 July 2024: 100.00 on the 10th, 60.00 before noon
    # on the 15th (the 200.00 of 18:00 is still to come), the 16th not at all
    assert (k["current"]["revenue"], k["previous"]["revenue"]) == (D("286.00"), D("160.00"))
    assert (k["current"]["transactions"], k["previous"]["transactions"]) == (3, 2)
    assert k["change"]["revenue"] == D("126") / D("160")
    assert (stores["OWN"]["revenue"], stores["OWN"]["revenue_ly"]) == (D("220.00"), D("160.00"))
    assert stores["OWN"]["change"] == D("60") / D("160")
    # OTH sold nothing in July 2024: no base at all
    assert (stores["OTH"]["revenue_ly"], stores["OTH"]["change"], stores["OTH"]["change_small"]) == (0, None, True)


@pytest.mark.django_db
def test_a_category_filter_is_cut_the_same_way(chain):
    f = filters(chain.owner, f"period=today&category={chain.obj['drinks'].pk}")

    k = sel.sales_kpis(f)

    assert (k["current"]["revenue"], k["previous"]["revenue"]) == (D("100.00"), D("80.00"))  # tea only
    assert (k["previous"]["units"], k["previous"]["cost"], k["previous"]["transactions"]) == (D("20"), D("40.00"), None)
    assert k["change"]["revenue"] == D("20") / D("80")


@pytest.mark.django_db
def test_the_trend_shows_today_apart_against_the_same_hours(chain):
    f = filters(chain.owner, "period=month")

    trend = sel.sales_trend(f)
    chart = dashboard_views.trend_section(f, True)["trend_chart"]

    rows = trend["rows"]
    assert len(rows) == 15 and rows[-1]["bucket"] == date(2025, 7, 15)
    assert [r["partial"] for r in rows] == [False] * 14 + [True]
    assert (rows[-1]["revenue"], rows[-1]["revenue_ly"]) == (D("166.00"), D("60.00"))  # not the whole 260.00
    assert (rows[9]["revenue"], rows[9]["revenue_ly"]) == (D("120.00"), D("100.00"))
    # the lines stop at yesterday; today so far and last year to the same hour are points of their own

    data = {ds["label"]: ds["data"] for ds in json.loads(chart)["data"]["datasets"]}
    assert data["This period"][-1] is None and data["This period"][9] == 120.0
    assert data["Same period last year"][-1] is None
    assert data["Today so far (to 12:00)"] == [None] * 14 + [166.0]
    assert data["Last year to 12:00"] == [None] * 14 + [60.0]


@pytest.mark.django_db
def test_a_period_that_ended_compares_whole_days(chain):
    f = filters(chain.owner, "period=custom&start=2025-07-10&end=2025-07-14")

    k = sel.sales_kpis(f)
    trend = sel.sales_trend(f)

    assert sel.comparison_cut(f) is None
    assert (k["current"]["revenue"], k["previous"]["revenue"]) == (D("120.00"), D("100.00"))
    assert not any(r["partial"] for r in trend["rows"])


@pytest.mark.django_db
def test_a_change_on_a_tiny_base_is_not_given(chain):
    week = parse_filters(user=chain.owner, params=QueryDict(WEEK), today=date(2025, 7, 15))

    categories = {r["name"]: r for r in sel.category_performance(week)}
    kpis = sel.sales_kpis(week)

    # Drinks: 7.50 against last year's 4.00 would read +87.5 %
    assert (categories["Drinks"]["revenue_ly"], categories["Drinks"]["change"]) == (D("4.00"), None)
    assert categories["Drinks"]["change_small"] is True
    assert (kpis["change"]["revenue"], kpis["small"]["revenue"]) == (None, True)


def test_base_too_small_rule():
    assert sel.base_too_small(D("49.99")) and not sel.base_too_small(D("50"))
    assert sel.base_too_small(D("-49.99")) and not sel.base_too_small(D("-50"))
    assert sel.base_too_small(4, count=True) and not sel.base_too_small(5, count=True)
    assert sel.base_too_small(None) and sel.base_too_small(0)
    # 5 % of the whole: £60 of £2,000 last year is 3 %
    assert sel.base_too_small(D("60"), whole=D("2000")) and not sel.base_too_small(D("100"), whole=D("2000"))
    assert sel.change_on_base(D("150"), D("100")) == (D("0.5"), False)
    assert sel.change_on_base(D("3346.7"), D("2.40")) == (None, True)
    assert sel.change_on_base(D("6.00"), D("5.00"), base=40, count=True) == (D("0.2"), False)  # basket on receipts


amounts = st.decimals(min_value=-100000, max_value=100000, places=2, allow_nan=False, allow_infinity=False)


@given(current=amounts, base=amounts, whole=st.one_of(st.none(), amounts))
def test_a_change_is_given_only_on_a_base_that_can_carry_it(current, base, whole):
    value, small = sel.change_on_base(current, base, whole=whole)

    if small:
        assert value is None
        assert abs(base) < 50 or (whole is not None and abs(base) < D("0.05") * abs(whole))
    else:
        assert abs(base) >= 50 and (whole is None or abs(base) >= D("0.05") * abs(whole))
        assert value == (current - base) / abs(base)
        # on a base that carries it, no change can be larger than the figures allow
        assert abs(value) <= (abs(current) + abs(base)) / 50


@pytest.mark.django_db
def test_the_page_prints_a_dash_on_a_tiny_base_and_says_what_today_is_compared_with(chain):
    client = Client()
    assert client.login(username=chain.owner.username, password=PASSWORD)

    week = client.get(f"{reverse('reports:dashboard')}?{WEEK}").content.decode()
    today = client.get(f"{reverse('reports:dashboard_kpis')}?period=today").content.decode()

    assert '<span class="dash-change" title="base too small">—</span>' in week  # Drinks vs LY
    assert "+87.5%" not in week and "+472.5%" not in week
    assert 'data-testid="kpi-like-for-like"' in today
    assert "Today so far, to 12:00, against Tue 16 Jul 2024 to 12:00" in today
    assert "▲ +18.6% vs last year" in today  # 166.00 against 140.00
