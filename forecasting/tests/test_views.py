"""Pages and API of forecasting and reorder: decisions, draft purchase orders, budget, alerts, digest."""

import json
import math
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from forecasting import engine, selectors, services
from forecasting.models import ForecastAccuracy, ForecastRun, ReorderSuggestion, StockAlert
from inventory.models import PurchaseOrder
from inventory.services import stock_movement_post
from inventory.tests.factories import PASSWORD, CategoryFactory, ProductFactory, StoreFactory, SupplierFactory

from .factories import finished_run, open_suggestion, sales_days, stock_level

END = date(2025, 3, 31)


def client_for(user):
    c = Client()
    assert c.login(username=user.username, password=PASSWORD)
    return c


@pytest.fixture
def shop(world):
    sup_a, sup_b = SupplierFactory(lead_time_days=4), SupplierFactory(lead_time_days=2)
    tea = ProductFactory(
        sku="TEA", supplier=sup_a, case_pack=12, cost_price=Decimal("2.50"), mrp=Decimal("4.00"), dp=Decimal("3.50")
    )
    jam = ProductFactory(sku="JAM", supplier=sup_a, case_pack=6)
    oil = ProductFactory(sku="OIL", supplier=sup_b, case_pack=1)
    store = world.store_own
    for p in (tea, jam, oil):
        stock_level(store=store, product=p, on_hand=5, review_period_days=5)
    run = finished_run(pairs=[(store, p) for p in (tea, jam, oil)], end=END, daily=10.0, rmse=2.0)
    return {"store": store, "tea": tea, "jam": jam, "oil": oil, "run": run, "sup_a": sup_a, "sup_b": sup_b}


def test_suggestions_explain_themselves(shop):
    summary = services.reorder_suggestions_build(store_ids=[shop["store"].pk], run=shop["run"])
    assert summary["suggestions"] == 3
    tea = ReorderSuggestion.objects.get(product=shop["tea"])
    # lead 4 + review 5 = 9 days, forecast 10/day, σ 2 → S = 90 + SS; position 5
    assert tea.forecast_lead_time == Decimal("40.000")
    assert tea.quantity % 12 == 0 and tea.quantity >= tea.order_up_to - 5
    assert any("Safety stock" in line for line in tea.explanation)
    assert StockAlert.objects.filter(product=shop["tea"], kind=StockAlert.Kind.STOCKOUT_RISK).exists()


def test_service_level_of_100_percent_is_capped_and_said(shop):
    cat = CategoryFactory(service_level=Decimal("1.0000"))
    shop["tea"].category = cat
    shop["tea"].save()
    plan = services.reorder_plan(store_ids=[shop["store"].pk], run=shop["run"])
    assert any("capped at 99.9%" in m for m in plan.messages)


def test_a_new_store_gets_a_clear_message(shop):
    plan = services.reorder_plan(store_ids=[StoreFactory(code="NEW").pk], run=shop["run"])
    assert plan.lines == []
    assert "new store" in plan.messages[0]


def test_accept_edit_dismiss_then_draft_purchase_orders_grouped_by_supplier(world, shop):
    owner = client_for(world.owner)
    services.reorder_suggestions_build(store_ids=[shop["store"].pk], run=shop["run"])
    tea, jam, oil = (ReorderSuggestion.objects.get(product=shop[k], status="open") for k in ("tea", "jam", "oil"))
    decide = lambda s, **d: owner.post(reverse("forecasting:suggestion_decide", args=[s.pk]), d)  # noqa: E731
    # an edit without a reason changes nothing
    response = decide(jam, action="edit", quantity="30")
    assert response.status_code == 302
    jam.refresh_from_db()
    assert jam.status == "open"
    decide(jam, action="edit", quantity="30", reason="promotion next week")
    decide(tea, action="accept")
    decide(oil, action="accept")
    jam.refresh_from_db()
    assert (jam.status, jam.quantity, jam.edit_reason) == ("accepted", Decimal(30), "promotion next week")
    # when the owner clicks once
    response = owner.post(reverse("forecasting:purchase_orders_create"), {})
    assert response.status_code == 302
    orders = PurchaseOrder.objects.order_by("supplier_id")
    assert [(o.supplier_id, o.status, o.lines.count()) for o in orders] == [
        (shop["sup_a"].pk, "draft", 2),
        (shop["sup_b"].pk, "draft", 1),
    ]
    assert orders[0].lines.get(product=shop["jam"]).quantity_ordered == Decimal(30)
    assert set(ReorderSuggestion.objects.values_list("status", flat=True)) == {"ordered"}
    # a second click creates nothing
    owner.post(reverse("forecasting:purchase_orders_create"), {})
    assert PurchaseOrder.objects.count() == 2


def test_dismiss_via_htmx_returns_the_row(world, shop):
    s = open_suggestion(store=shop["store"], product=shop["tea"])
    response = client_for(world.owner).post(
        reverse("forecasting:suggestion_decide", args=[s.pk]), {"action": "dismiss"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert b"dismissed" in response.content
    s.refresh_from_db()
    assert s.status == "dismissed"


def test_budget_zero_and_budget_picks(world, shop):
    services.reorder_suggestions_build(store_ids=[shop["store"].pk], run=shop["run"])
    assert services.suggestions_budget_apply(store_ids=[shop["store"].pk], budget=Decimal(0)).startswith(
        "A budget of 0 buys nothing"
    )
    assert not ReorderSuggestion.objects.filter(status="open", in_budget=True).exists()
    response = client_for(world.owner).post(reverse("forecasting:suggestion_budget"), {"budget": "abc"}, follow=True)
    assert b"Enter the budget as an amount" in response.content


def test_pages_render_for_the_owner(world, shop):
    services.reorder_suggestions_build(store_ids=[shop["store"].pk], run=shop["run"])
    c = client_for(world.owner)
    sales_days(store=shop["store"], product=shop["tea"], units=[3, 4, 5], end=END)
    for url in [
        reverse("forecasting:forecast_overview"),
        reverse("forecasting:forecast_detail", args=[shop["store"].pk, shop["tea"].pk]),
        reverse("forecasting:accuracy_overview"),
        reverse("forecasting:suggestion_list"),
        reverse("forecasting:alerts_panel"),
        reverse("forecasting:run_detail", args=[shop["run"].pk]),
    ]:
        assert c.get(url).status_code == 200, url
    detail = c.get(reverse("forecasting:forecast_detail", args=[shop["store"].pk, shop["tea"].pk]))
    assert b'data-testid="trust">high' in detail.content


def test_api_train_predict_optimize_trend(world, shop):
    c = client_for(world.owner)
    response = c.post(reverse("api:forecastrun-list"), {"horizon_days": 14}, content_type="application/json")
    assert response.status_code == 201
    run = ForecastRun.objects.get(pk=response.json()["id"])
    assert (run.horizon_days, response.json()["progress"]) == (14, 0)
    bad = c.post(reverse("api:forecastrun-list"), {"horizon_days": 0}, content_type="application/json")
    assert bad.status_code == 400
    predict = c.get(reverse("api:forecast-predict"), {"store": shop["store"].pk, "product": shop["tea"].pk})
    assert predict.status_code == 200
    body = predict.json()
    assert (body["source"], body["model"], len(body["days"]), body["trust"]) == ("run", "ets", 28, "high")
    optimize = c.get(reverse("api:reorder-optimize"), {"store": shop["store"].pk, "budget": "0"})
    assert optimize.status_code == 200
    assert any("buys nothing" in m for m in optimize.json()["messages"])
    assert not any(line["in_budget"] for line in optimize.json()["lines"] if line["kind"] == "purchase")
    png = c.get(reverse("api:sales-trend-png"))
    assert png["Content-Type"] == "image/png" and png.content[:4] == b"\x89PNG"
    trend = c.get(reverse("api:sales-trend"), {"store": shop["store"].pk, "days": 30})
    assert trend.status_code == 200


def test_api_predict_a_year_for_a_new_product_on_demand(world, shop):
    fresh = ProductFactory(sku="NEWP")
    sales_days(store=shop["store"], product=fresh, units=[2], end=END)
    response = client_for(world.owner).get(
        reverse("api:forecast-predict"), {"store": shop["store"].pk, "product": fresh.pk, "horizon": 366}
    )
    assert response.status_code == 200
    body = response.json()
    # One day of history: a launch, forecast from the products like it (issue 18), not from its one day.
    assert (body["source"], body["model"], len(body["days"])) == ("on demand", "launch", 366)
    assert all(day["yhat"] >= 0 for day in body["days"]) and body["days"][0]["yhat"] > 0


def test_daily_digest_goes_to_owners(world, shop):
    world.owner.email = "owner@example.com"
    world.owner.save()
    world.staff.email = "staff@example.com"
    world.staff.save()
    services.reorder_suggestions_build(store_ids=[shop["store"].pk], run=shop["run"])
    assert services.alerts_digest_send() == 1
    assert mail.outbox[0].to == ["owner@example.com"]
    assert "stock alerts" in mail.outbox[0].subject and "stockout risk" in mail.outbox[0].subject


def test_alerts_panel_says_when_no_forecast_has_run_rather_than_all_clear(world):
    c = client_for(world.owner)
    before = c.get(reverse("forecasting:alerts_panel")).content.decode()
    assert "No forecast has finished yet" in before
    assert "No stockout risk" not in before
    finished_run(pairs=[], end=END, daily=1.0, rmse=1.0)
    after = c.get(reverse("forecasting:alerts_panel")).content.decode()
    assert "No stockout risk" in after
    assert "No forecast has finished yet" not in after


def test_accuracy_overview_pools_wmape_and_bias_over_units_sold(world, shop):
    # given a best seller forecast within 10 % and a slow mover off by 300 % (3 units on 1 sold)
    rows = {shop["tea"]: (100.0, 10.0, -10.0), shop["jam"]: (1.0, 3.0, 3.0)}
    for product, (units, abs_error, error) in rows.items():
        ForecastAccuracy.objects.filter(run=shop["run"], product=product).update(
            units=units,
            abs_error=abs_error,
            abs_error_week=abs_error / 2,
            error=error,
            wmape=abs_error / units,
            bias=error / units,
        )
    ForecastAccuracy.objects.filter(run=shop["run"], product=shop["oil"]).update(units=None, abs_error=None)
    # when
    overview = selectors.accuracy_overview(user=world.owner, run=shop["run"])
    # then the store's wMAPE is 13 / 101 — not the mean of 10 % and 300 %
    store_row = overview["by_store"][0]
    assert store_row["series"] == 3
    assert store_row["wmape"] == pytest.approx(13 / 101)
    assert store_row["bias"] == pytest.approx(-7 / 101)
    assert store_row["wmape_week"] == pytest.approx(6.5 / 101)
    page = client_for(world.owner).get(reverse("forecasting:accuracy_overview"))
    assert b"12.9%" in page.content


def test_the_detail_chart_shows_every_day_zero_where_nothing_sold(world, shop):
    # given a slow mover that sold 2 units 10 days before the end and 1 on the last day
    sales_days(store=shop["store"], product=shop["jam"], units=[2] + [0] * 9 + [1], end=END)
    # when
    history = selectors.series_detail(run=shop["run"], store=shop["store"], product=shop["jam"])["history"]
    # then the history starts at the first sale and holds all 11 days
    assert [float(u) for _, u in history] == [2.0] + [0.0] * 9 + [1.0]
    assert history[0][0] == END - timedelta(days=10) and history[-1][0] == END
    page = client_for(world.owner).get(reverse("forecasting:forecast_detail", args=[shop["store"].pk, shop["jam"].pk]))
    assert page.status_code == 200
    assert b"10.0" in page.content  # the finished run's flat 10 a day, one decimal


def test_the_detail_of_a_product_never_sold_has_no_history(world, shop):
    assert selectors.series_detail(run=shop["run"], store=shop["store"], product=shop["oil"])["history"] == []


def test_top_sellers_range_is_for_the_weeks_total_not_a_sum_of_daily_ranges(world, shop):
    # given 10 a day forecast with a daily error (RMSE) of 2 for each product in one store
    rows = selectors.top_sellers(user=world.owner, run=shop["run"], days=7)
    # then the week's total is 70 ± z·√(7 × 2²), not 70 ± 7 × z × 2
    assert [r["units"] for r in rows] == [pytest.approx(70.0)] * 3
    half = engine.Z_INTERVAL * math.sqrt(7 * 4)
    assert rows[0]["low"] == pytest.approx(70 - half) and rows[0]["high"] == pytest.approx(70 + half)
    assert 63 < rows[0]["low"] < 64


def test_the_detail_chart_marks_the_days_the_shelf_was_empty(world, shop):
    jam, store = shop["jam"], shop["store"]
    sales_days(store=store, product=jam, units=[1] * 10, end=END)

    def at(day):
        return timezone.make_aware(datetime.combine(day, time(12)))

    # given a ledger where the shelf went below zero 3 days before the end and was refilled on the last day
    stock_movement_post(
        store=store,
        product=jam,
        quantity=Decimal(-5),
        kind="write_off",
        reason="broken",
        occurred_at=at(END - timedelta(days=3)),
    )
    stock_movement_post(store=store, product=jam, quantity=Decimal(10), kind="receipt", occurred_at=at(END))
    # when
    detail = selectors.series_detail(run=shop["run"], store=store, product=jam)
    # then those days are the stockouts, and the chart marks them
    assert detail["stockouts"] == [END - timedelta(days=3), END - timedelta(days=2), END - timedelta(days=1)]
    page = client_for(world.owner).get(reverse("forecasting:forecast_detail", args=[store.pk, jam.pk]))
    chart = json.loads(page.context["chart_json"])
    marks = chart["data"]["datasets"][-1]
    assert marks["label"].startswith("Empty shelf")
    assert [i for i, v in enumerate(marks["data"]) if v is not None] == [6, 7, 8]


def test_reorder_page_alerts_follow_the_store_filter_and_fold_what_is_not_urgent(world, shop):
    own, other = world.store_own, world.store_other
    StockAlert.objects.bulk_create(
        [
            StockAlert(kind="stockout_risk", severity=1, store=own, product=shop["tea"], message="Runs out in 2 days"),
            StockAlert(kind="overstock", severity=3, store=own, product=shop["jam"], message="A year of cover"),
        ]
    )
    stock_level(store=other, product=shop["oil"], on_hand=1, min_qty=5)  # low stock is inventory's figure
    c = client_for(world.owner)
    url = reverse("forecasting:suggestion_list")
    chain = c.get(url).content.decode()
    assert "1 on hand, minimum 5; nothing on order." in chain and "Runs out in 2 days" in chain
    only_own = c.get(url, {"store": own.pk}).content.decode()
    assert "1 on hand, minimum 5" not in only_own
    counts = only_own.split('data-testid="alert-counts"')[1].split("</p>")[0]
    assert "1 stockout risk within lead time" in counts and "1 overstock" in counts and "low stock" not in counts
    # the urgent line is in view, the overstock line folded under a summary
    urgent, folded = only_own.split('data-testid="alerts-more"')
    assert "Runs out in 2 days" in urgent and "A year of cover" in folded.split("</details>")[0]


def test_a_transfer_line_shows_no_cash_and_no_margin(world, shop):
    s = open_suggestion(store=shop["store"], product=shop["tea"], quantity=6)
    s.kind, s.source_store, s.cash_needed = ReorderSuggestion.Kind.TRANSFER, world.store_other, Decimal("0")
    s.save()
    row = client_for(world.owner).get(reverse("forecasting:suggestion_list")).content.decode()
    row = row.split(f'id="suggestion-{s.pk}"')[1].split("</tr>")[0]
    assert "move from OTH" in row and "0.00" not in row and "—" in row


def test_past_forecasts_are_scored_on_complete_days_only(world):
    today = timezone.localdate()
    tea = ProductFactory(sku="TEA2")
    # given a frozen forecast of 10 a day made two days ago: yesterday sold 8, today's open tills 2 so far
    finished_run(pairs=[(world.store_own, tea)], end=today - timedelta(days=2), daily=10.0)
    sales_days(store=world.store_own, product=tea, units=[8, 2], end=today)
    [row] = selectors.accuracy_over_time(user=world.owner)
    # only yesterday counts: |10 − 8| / 8 = 25 % over; today's half day (10 against 2) is not scored
    assert row["days"] == 1
    assert row["wmape"] == pytest.approx(0.25) and row["bias"] == pytest.approx(0.25)


def test_a_run_made_last_night_has_nothing_to_score_yet(world):
    today = timezone.localdate()
    tea = ProductFactory(sku="TEA3")
    finished_run(pairs=[(world.store_own, tea)], end=today - timedelta(days=1), daily=10.0)
    sales_days(store=world.store_own, product=tea, units=[3], end=today)
    assert selectors.accuracy_over_time(user=world.owner) == []


def test_forecast_page_sets_the_same_weeks_last_year_beside_the_forecast(world):
    fig = ProductFactory(sku="FIG")
    run = finished_run(pairs=[(world.store_own, fig)], end=END, daily=1.0)
    # given 5 a day sold 52 weeks before each of the 28 forecast days (a seasonal line), 1 a day forecast
    sales_days(store=world.store_own, product=fig, units=[5] * 28, end=END + timedelta(days=28 - 364))
    stock_level(store=world.store_own, product=fig, on_hand=3)
    url = reverse("forecasting:forecast_detail", args=[world.store_own.pk, fig.pk])
    owner = client_for(world.owner).get(url)
    assert (owner.context["last_year_total"], owner.context["forecast_total"]) == (140.0, 28.0)
    assert owner.context["run"] == run
    page = owner.content.decode()
    assert 'data-testid="season-warning"' in page and "halfway between the two is 84 units" in page
    assert reverse("admin:inventory_stocklevel_change", args=[owner.context["stock_level"].pk]) in page
    chart = owner.context["chart_json"]
    assert "Same weekday last year" in chart
    staff = client_for(world.staff).get(url).content.decode()
    assert 'data-testid="season-warning"' in staff and "ask the owner to set a minimum" in staff


def test_no_last_year_line_for_a_product_new_this_year_nor_a_warning_when_last_year_was_like_the_forecast(world):
    new, steady = ProductFactory(sku="NEW1"), ProductFactory(sku="STEADY")
    finished_run(pairs=[(world.store_own, new), (world.store_own, steady)], end=END, daily=2.0)
    sales_days(store=world.store_own, product=new, units=[2] * 30, end=END)
    sales_days(store=world.store_own, product=steady, units=[2] * 28, end=END + timedelta(days=28 - 364))
    c = client_for(world.owner)
    fresh = c.get(reverse("forecasting:forecast_detail", args=[world.store_own.pk, new.pk]))
    assert "last_year_total" not in fresh.context and "Same weekday last year" not in fresh.context["chart_json"]
    same = c.get(reverse("forecasting:forecast_detail", args=[world.store_own.pk, steady.pk]))
    assert same.context["last_year_total"] == 56.0 and not same.context["season_warning"]
    assert 'data-testid="last-year"' in same.content.decode()


@pytest.fixture
def season(world):
    """FIG5 forecast at 1 a day, 5 a day sold in the same days last year; STEADY5 like last year."""
    fig, steady = ProductFactory(sku="FIG5", case_pack=1), ProductFactory(sku="STEADY5", case_pack=1)
    store = world.store_own
    run = finished_run(pairs=[(store, fig), (store, steady)], end=END, daily=1.0, rmse=0.5)
    for p in (fig, steady):
        stock_level(store=store, product=p, on_hand=2)
    sales_days(store=store, product=fig, units=[5] * 28, end=END + timedelta(days=28 - 364))
    sales_days(store=store, product=steady, units=[1] * 28, end=END + timedelta(days=28 - 364))
    services.reorder_suggestions_build(store_ids=[store.pk], run=run)
    return {"store": store, "fig": fig, "steady": steady, "run": run}


def test_a_season_coming_back_is_an_alert_and_a_line_of_the_suggestion(world, season):
    fig, steady = season["fig"], season["steady"]
    # the seasonal line: an alert naming both totals, and a line in the suggestion's explanation
    alert = StockAlert.objects.get(kind=StockAlert.Kind.SEASON, product=fig)
    assert "last year sold 140" in alert.message and "forecast says 28" in alert.message and alert.severity == 2
    suggestion = ReorderSuggestion.objects.get(product=fig, status="open")
    assert any(
        "The same 28 days last year sold 140" in line and "halfway between the two, 84" in line
        for line in suggestion.explanation
    )
    # last year like this year: no season alert, no such line
    assert not StockAlert.objects.filter(kind=StockAlert.Kind.SEASON, product=steady).exists()
    plain = ReorderSuggestion.objects.get(product=steady, status="open")
    assert not any("last year" in line for line in plain.explanation)
    # the reorder page folds it under a summary that names its kind
    page = client_for(world.owner).get(reverse("forecasting:suggestion_list")).content.decode()
    assert "1 season coming back" in page.split('data-testid="alert-counts"')[1].split("</p>")[0]
    assert "season coming back" in page.split('data-testid="alerts-more"')[1].split("</summary>")[0]


def test_no_season_alert_when_the_stock_already_covers_last_years_weeks(world):
    fig = ProductFactory(sku="FIG3")
    store = world.store_own
    run = finished_run(pairs=[(store, fig)], end=END, daily=1.0, rmse=0.5)
    stock_level(store=store, product=fig, on_hand=200)
    sales_days(store=store, product=fig, units=[5] * 28, end=END + timedelta(days=28 - 364))
    services.reorder_suggestions_build(store_ids=[store.pk], run=run)
    assert not StockAlert.objects.filter(kind=StockAlert.Kind.SEASON).exists()


def test_a_one_week_run_is_set_against_one_week_of_last_year(world):
    fig = ProductFactory(sku="FIG4")
    store = world.store_own
    run = finished_run(pairs=[(store, fig)], end=END, daily=1.0, rmse=0.5, horizon=7)
    stock_level(store=store, product=fig, on_hand=2)
    # given last year's same week like the forecast (1 a day), and the three weeks after it at 5 a day
    sales_days(store=store, product=fig, units=[1] * 7 + [5] * 21, end=END + timedelta(days=28 - 364))
    services.reorder_suggestions_build(store_ids=[store.pk], run=run)
    assert not StockAlert.objects.filter(kind=StockAlert.Kind.SEASON).exists()


def test_ordering_for_the_season_accepts_a_line_planned_halfway_to_last_year(world, season):
    store, fig = season["store"], season["fig"]
    alert = StockAlert.objects.get(kind=StockAlert.Kind.SEASON, product=fig)
    promised = int(alert.message.rsplit("buys ", 1)[1].rstrip("."))
    plain = ReorderSuggestion.objects.get(product=fig, status="open")
    owner = client_for(world.owner)
    url = reverse("forecasting:season_order")
    # the reorder page offers the action on the season alert
    page = owner.get(reverse("forecasting:suggestion_list")).content.decode()
    assert 'data-testid="season-order"' in page
    response = owner.post(url, {"store": store.pk, "product": fig.pk}, follow=True)
    assert f"{promised} accepted for the season" in response.content.decode()
    line = ReorderSuggestion.objects.get(product=fig, status="accepted")
    # the quantity the alert promised, above what the forecast alone asked for, which it replaces
    assert line.quantity == promised > plain.quantity == line.suggested_qty
    assert line.decided_by == world.owner and "season" in line.edit_reason
    assert not StockAlert.objects.filter(kind=StockAlert.Kind.SEASON, product=fig).exists()  # acted upon
    assert any(text.startswith("Ordered for the season") for text in line.explanation)
    plain.refresh_from_db()
    assert plain.status == "superseded"
    # a second click (or a second owner) adds nothing: the accepted line is there to edit
    again = owner.post(url, {"store": store.pk, "product": fig.pk}, follow=True).content.decode()
    assert "waiting for its purchase order" in again
    assert ReorderSuggestion.objects.filter(product=fig, status="accepted").count() == 1
    # and the accepted line goes on a draft purchase order like any other
    owner.post(reverse("forecasting:purchase_orders_create"))
    line.refresh_from_db()
    assert line.status == "ordered" and line.purchase_order.lines.get(product=fig).quantity_ordered == promised


def test_no_season_order_without_a_season_nor_for_a_store_out_of_sight(world, season):
    owner = client_for(world.owner)
    url = reverse("forecasting:season_order")
    steady = owner.post(url, {"store": season["store"].pk, "product": season["steady"].pk}, follow=True)
    assert "did not sell clearly more" in steady.content.decode()
    assert not ReorderSuggestion.objects.filter(product=season["steady"], status="accepted").exists()
    assert owner.post(url, {"store": 999999, "product": season["fig"].pk}).status_code == 404
    assert owner.post(url, {"store": season["store"].pk, "product": 999999}).status_code == 404
    assert owner.post(url, {"store": "abc", "product": ""}).status_code == 404
    assert (
        client_for(world.staff).post(url, {"store": season["store"].pk, "product": season["fig"].pk}).status_code == 403
    )
    assert not ReorderSuggestion.objects.filter(product=season["fig"], status="accepted").exists()
