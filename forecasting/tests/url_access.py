"""Expected access to the forecasting pages and API (see retailops.testing)."""

from datetime import date

from inventory.tests.factories import ProductFactory
from retailops.testing import UNAUTH, Access

from .factories import finished_run, open_suggestion, stock_level

END = date(2025, 3, 31)


def build(world):
    if "fc_product" in world.obj:
        return
    product = ProductFactory(sku="FC-1", name="Forecast tea")
    for store in (world.store_own, world.store_other):
        stock_level(store=store, product=product, on_hand=3)
    run = finished_run(pairs=[(world.store_own, product), (world.store_other, product)], end=END)
    # A run of each store alone: staff see their store's runs, never the other store's (a chain-wide run, like
    # `run`, is the owners' — inventory.scoping.ForecastRunScopedQuerySet).
    run_own = finished_run(pairs=[(world.store_own, product)], end=END, store_ids=[world.store_own.pk])
    run_other = finished_run(pairs=[(world.store_other, product)], end=END, store_ids=[world.store_other.pk])
    world.obj.update(
        fc_product=product,
        fc_run=run,
        fc_run_own=run_own,
        fc_run_other=run_other,
        sugg_own=open_suggestion(store=world.store_own, product=product),
        sugg_other=open_suggestion(store=world.store_other, product=product),
    )


def _series(store_key):
    return lambda w: {"store_pk": getattr(w, store_key).pk, "product_pk": w.obj["fc_product"].pk}


POST_OWNER_ONLY = {"method": "post", "staff": 403, "owner": 302, "accountant": 403}
API = {"anon": UNAUTH}
RUN = {"kwargs": lambda w: {"pk": w.obj["fc_run_own"].pk}, "kwargs_other": lambda w: {"pk": w.obj["fc_run_other"].pk}}

URL_ACCESS = {
    "forecasting:forecast_overview": Access(),
    "forecasting:forecast_detail": Access(
        kwargs=_series("store_own"), kwargs_other=_series("store_other"), staff_other=404
    ),
    "forecasting:accuracy_overview": Access(),
    "forecasting:run_detail": Access(**RUN, staff_other=404),
    "forecasting:run_start": Access(**POST_OWNER_ONLY, data={"horizon": "0"}),
    "forecasting:suggestion_list": Access(
        must_contain={"staff": ["Own Street"]}, must_not_contain={"staff": ["Margin protected", "Cash", "Other Road"]}
    ),
    "forecasting:suggestions_build": Access(**POST_OWNER_ONLY),
    "forecasting:suggestion_budget": Access(**POST_OWNER_ONLY, data={"budget": "100"}),
    "forecasting:suggestion_decide": Access(
        **POST_OWNER_ONLY,
        kwargs=lambda w: {"pk": w.obj["sugg_own"].pk},
        kwargs_other=lambda w: {"pk": w.obj["sugg_other"].pk},
        staff_other=403,  # staff may not decide suggestions of any store
        data={"action": "accept"},
    ),
    "forecasting:season_order": Access(
        **POST_OWNER_ONLY, data=lambda w: {"store": w.store_own.pk, "product": w.obj["fc_product"].pk}
    ),
    "forecasting:purchase_orders_create": Access(**POST_OWNER_ONLY),
    "forecasting:transfers_move": Access(**POST_OWNER_ONLY),
    "forecasting:digest_preview": Access(staff=403, accountant=403),
    "forecasting:alerts_panel": Access(),
    "api:forecastrun-list": Access(**API),
    "api:forecastrun-detail": Access(**API, **RUN, staff_other=404),
    "api:reordersuggestion-list": Access(**API),
    "api:reordersuggestion-detail": Access(
        **API,
        kwargs=lambda w: {"pk": w.obj["sugg_own"].pk},
        kwargs_other=lambda w: {"pk": w.obj["sugg_other"].pk},
        staff_other=404,
    ),
    "api:forecast-predict": Access(
        **API,
        query=lambda w: f"store={w.store_own.pk}&product={w.obj['fc_product'].pk}",
        query_other=lambda w: f"store={w.store_other.pk}&product={w.obj['fc_product'].pk}",
        staff_other=404,
    ),
    "api:reorder-optimize": Access(
        **API,
        query=lambda w: f"store={w.store_own.pk}",
        query_other=lambda w: f"store={w.store_other.pk}",
        staff_other=404,
    ),
    "api:sales-trend": Access(
        **API,
        query=lambda w: f"store={w.store_own.pk}",
        query_other=lambda w: f"store={w.store_other.pk}",
        staff_other=404,
    ),
    "api:sales-trend-png": Access(**API),
}
