"""Which forecast counts: a run of one store, or one made as of an earlier day, never stands in for the
chain's latest forecast — not on the pages, not in the reorder plan; an as-of run is scored on Accuracy."""

from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from forecasting import selectors, services
from forecasting.models import ForecastRun, ReorderSuggestion
from inventory.tests.factories import ProductFactory, StoreFactory
from sales.models import SalesDaily

from .factories import finished_run, sales_days, stock_level
from .test_tasks import chain  # noqa: F401 — the fixture: 2 stores × 3 products, 90 days of sales to END
from .test_views import client_for

END = date(2025, 3, 31)


def open_lines(store) -> dict[int, tuple[int, float]]:
    """product → (suggestion pk, quantity) of the store's open purchase lines."""
    rows = ReorderSuggestion.objects.filter(store=store, status=ReorderSuggestion.Status.OPEN)
    return {r.product_id: (r.pk, float(r.quantity)) for r in rows}


@pytest.fixture
def two_runs(world):
    """Both stores forecast at 10 a day by a chain run; then a newer run of the own store alone, at 1 a day."""
    own, other = world.store_own, world.store_other
    tea = ProductFactory(sku="TEA", case_pack=1)
    for store in (own, other):
        stock_level(store=store, product=tea, on_hand=2)
    chain_run = finished_run(pairs=[(own, tea), (other, tea)], end=END, daily=10.0)
    services.reorder_suggestions_build(run=chain_run)
    one_store = finished_run(pairs=[(own, tea)], end=END + timedelta(days=1), daily=1.0, store_ids=[own.pk])
    return {"own": own, "other": other, "tea": tea, "chain": chain_run, "one": one_store}


def test_a_run_of_one_store_replans_that_store_only(two_runs):
    own, other, tea = two_runs["own"], two_runs["other"], two_runs["tea"]
    before_other, before_own = open_lines(other), open_lines(own)
    assert before_other[tea.pk][1] > 0 and before_own[tea.pk][1] > 0
    # when the one-store run finishes, the worker rebuilds the plan with it (what forecast_run_finalize queues)
    services.reorder_suggestions_build(run=two_runs["one"])
    # the other store keeps its line from the chain run, untouched; the own store is replanned on 1 a day
    assert open_lines(other) == before_other
    assert open_lines(own)[tea.pk][1] < before_own[tea.pk][1]
    assert ReorderSuggestion.objects.get(pk=before_own[tea.pk][0]).status == ReorderSuggestion.Status.SUPERSEDED


def test_the_chain_pages_keep_the_chain_run_and_a_store_filter_shows_its_own(two_runs, world):
    own, tea = two_runs["own"], two_runs["tea"]
    assert selectors.latest_run() == two_runs["chain"]
    assert selectors.latest_run(store_ids=[own.pk]) == two_runs["one"]
    assert selectors.latest_run(store_ids=[world.store_other.pk]) == two_runs["chain"]
    assert selectors.latest_run(store_ids=[own.pk, world.store_other.pk]) == two_runs["chain"]
    c = client_for(world.owner)
    overview = reverse("forecasting:forecast_overview")
    assert c.get(overview).context["run"] == two_runs["chain"]
    assert c.get(overview, {"store": own.pk}).context["run"] == two_runs["one"]
    detail = c.get(reverse("forecasting:forecast_detail", args=[own.pk, tea.pk]))
    assert detail.context["run"] == two_runs["one"]
    api = c.get(reverse("api:forecast-predict"), {"store": world.store_other.pk, "product": tea.pk, "horizon": 7})
    assert api.status_code == 200 and api.json()["days"][0]["yhat"] == 10.0


def test_a_plan_over_stores_no_run_covers_says_which_stores_assume_zero_demand(world):
    tea = ProductFactory(sku="TEA", case_pack=1)
    for store in (world.store_own, world.store_other):
        stock_level(store=store, product=tea, on_hand=2)
    finished_run(pairs=[(world.store_own, tea)], end=END, daily=3.0, store_ids=[world.store_own.pk])
    plan = services.reorder_plan(store_ids=[world.store_own.pk, world.store_other.pk])
    assert any("did not cover OTH" in m for m in plan.messages)
    assert not any("did not cover" in m for m in services.reorder_plan(store_ids=[world.store_own.pk]).messages)


@pytest.fixture
def as_of(world):
    """Last night's run (nothing sold since) and one made as of the night a week before, 10 a day each; the
    week since sold 6, 14, 6, 14, 6, 14, 10 (70 in all) and the week before it 5 a day."""
    yesterday = timezone.localdate() - timedelta(days=1)
    tea = ProductFactory(sku="TEA", case_pack=1)
    own = world.store_own
    stock_level(store=own, product=tea, on_hand=4)
    sales_days(store=own, product=tea, units=[5] * 7 + [6, 14, 6, 14, 6, 14, 10], end=yesterday)
    current = finished_run(pairs=[(own, tea)], end=yesterday, daily=10.0)
    services.reorder_suggestions_build(run=current)
    earlier = finished_run(pairs=[(own, tea)], end=yesterday - timedelta(days=7), daily=10.0, trigger="as-of")
    return {"tea": tea, "own": own, "current": current, "earlier": earlier}


def test_a_run_as_of_an_earlier_day_changes_no_line_and_is_not_the_forecast(as_of):
    lines = open_lines(as_of["own"])
    result = services.reorder_suggestions_build(run=as_of["earlier"])
    assert result["suggestions"] == 0 and "is not the latest forecast" in result["messages"][0]
    assert open_lines(as_of["own"]) == lines
    assert selectors.latest_run() == as_of["current"]
    assert selectors.latest_run(store_ids=[as_of["own"].pk]) == as_of["current"]


def test_the_accuracy_page_scores_the_as_of_run_on_days_totals_and_against_last_week(as_of, world):
    [row] = selectors.accuracy_over_time(user=world.owner)  # last night's run has no complete day yet
    assert row["run"] == as_of["earlier"] and row["days"] == 7
    # days: |10−6| six times, |10−10| once = 24 of 70; the week's total 70 against 70; no bias
    assert row["wmape"] == pytest.approx(24 / 70)
    assert row["wmape_total"] == pytest.approx(0.0) and row["bias"] == pytest.approx(0.0)
    # "same as last week" expects 5 a day: 1 + 9 + 1 + 9 + 1 + 9 + 5 = 35 of 70
    assert row["naive_wmape"] == pytest.approx(0.5)
    page = client_for(world.owner).get(reverse("forecasting:accuracy_overview")).content.decode()
    assert "as of" in page and "50.0%" in page and "34.3%" in page
    assert row["stores"] == ""  # a run of every store
    # a run of one store says so: its figures are that store's
    finished_run(
        pairs=[(as_of["own"], as_of["tea"])], end=as_of["earlier"].history_end, daily=8.0, store_ids=[as_of["own"].pk]
    )
    one = selectors.accuracy_over_time(user=world.owner)[0]
    assert one["stores"] == "OWN" and one["bias"] == pytest.approx((56 - 70) / 70)
    assert "OWN only" in client_for(world.owner).get(reverse("forecasting:accuracy_overview")).content.decode()
    # staff see only their store's figures: the same here, as the tea sells in their store alone
    assert selectors.accuracy_over_time(user=world.staff)[1]["wmape"] == pytest.approx(24 / 70)
    assert selectors.accuracy_over_time(user=world.accountant)[1]["naive_wmape"] == pytest.approx(0.5)


def run_command(*args) -> str:
    out = StringIO()
    call_command("forecast_run", *args, stdout=out)
    return out.getvalue()


def test_forecast_run_as_of_forecasts_from_the_sales_before_that_day(chain):  # noqa: F811
    run_command("--inline", "--horizon", "7", "--models", "seasonal_naive", "--as-of", "2025-03-24")
    run = ForecastRun.objects.get()
    assert (run.status, run.history_end, run.trigger) == (ForecastRun.Status.DONE, date(2025, 3, 24), "as-of")
    first_day = run.forecasts.order_by("date").values_list("date", flat=True).first()
    assert first_day == date(2025, 3, 25)
    # the chain fixture sells 3, 4, 5, 4, 6, 9, 7 a week: seasonal naive repeats the week up to 24 March
    stores, products = chain
    week = list(
        run.forecasts.filter(store=stores[0], product=products[0]).order_by("date").values_list("yhat", flat=True)
    )
    last_week = SalesDaily.objects.filter(
        store=stores[0], product=products[0], date__range=(date(2025, 3, 18), date(2025, 3, 24))
    )
    sold = dict(last_week.values_list("date", "units"))
    assert week == [float(sold[date(2025, 3, 18) + timedelta(days=i)]) for i in range(7)]


@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        ("2025-04-10", "as of 31 Mar 2025 at the latest"),
        ("2024-01-01", "no sales on or before 01 Jan 2024"),
        ("last-week", "'last-week' is not a day written like 2026-11-30"),
    ],
)
def test_forecast_run_as_of_a_bad_day_says_why_and_starts_nothing(chain, as_of, message):  # noqa: F811
    with pytest.raises(CommandError, match=message):
        run_command("--inline", "--as-of", as_of)
    assert not ForecastRun.objects.exists()


def test_api_train_as_of_an_earlier_day_and_refusals(chain, world):  # noqa: F811
    c = client_for(world.owner)
    url = reverse("api:forecastrun-list")
    made = c.post(url, {"horizon_days": 7, "as_of": "2025-03-24"}, content_type="application/json")
    assert made.status_code == 201
    assert (made.json()["history_end"], made.json()["trigger"]) == ("2025-03-24", "as-of")
    for as_of, message in [("2025-04-10", "at the latest"), ("2024-01-01", "no sales on or before"), ("soon", "")]:
        bad = c.post(url, {"as_of": as_of}, content_type="application/json")
        assert bad.status_code == 400 and message in str(bad.json())
    assert ForecastRun.objects.count() == 1


def test_forecast_run_as_of_for_a_store_with_no_sales_yet_says_so(chain):  # noqa: F811
    StoreFactory(code="NEW")
    with pytest.raises(CommandError, match="no sales on or before 24 Mar 2025"):
        run_command("--inline", "--store", "NEW", "--as-of", "2025-03-24")
    assert not ForecastRun.objects.exists()
