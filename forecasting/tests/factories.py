"""Test data for forecasting: sales rollups written directly (fast), finished runs with forecasts."""

from datetime import date, timedelta
from decimal import Decimal

from forecasting.models import DemandForecast, ForecastAccuracy, ForecastRun, ReorderSuggestion
from inventory.models import StockLevel
from sales.models import SalesDaily


def sales_days(*, store, product, units: list[float], end: date) -> None:
    """One SalesDaily row per day ending at `end` (the rollup the sales service would have written)."""
    start = end - timedelta(days=len(units) - 1)
    SalesDaily.objects.bulk_create(
        [
            SalesDaily(
                store=store,
                product=product,
                date=start + timedelta(days=i),
                units=Decimal(str(u)),
                revenue=Decimal(str(u)) * product.mrp,
                cost=Decimal(str(u)) * product.cost_price,
            )
            for i, u in enumerate(units)
            if u
        ]
    )


def finished_run(
    *, pairs, end: date, daily: float = 2.0, horizon: int = 28, rmse: float = 1.0, store_ids=(), trigger="manual"
) -> ForecastRun:
    """A done run with a flat forecast and a chosen-model accuracy row per (store, product); ``store_ids``:
    the stores it was asked for (none: every store)."""
    run = ForecastRun.objects.create(
        status=ForecastRun.Status.DONE,
        store_ids=list(store_ids),
        trigger=trigger,
        horizon_days=horizon,
        model_names=["ets"],
        history_end=end,
        series_total=len(pairs),
        series_done=len(pairs),
        chunks_total=1,
        chunks_done=1,
    )
    DemandForecast.objects.bulk_create(
        [
            DemandForecast(
                run=run,
                store=s,
                product=p,
                date=end + timedelta(days=d + 1),
                yhat=daily,
                lo=max(daily - 1.28 * rmse, 0),
                hi=daily + 1.28 * rmse,
                model="ets",
            )
            for s, p in pairs
            for d in range(horizon)
        ]
    )
    ForecastAccuracy.objects.bulk_create(
        [
            ForecastAccuracy(
                run=run,
                store=s,
                product=p,
                model="ets",
                mase=0.7,
                wmape=0.3,
                bias=0.01,
                rmse=rmse,
                chosen=True,
                reason="test",
                history_days=400,
            )
            for s, p in pairs
        ]
    )
    return run


def stock_level(*, store, product, on_hand, **policy) -> StockLevel:
    level, _ = StockLevel.objects.get_or_create(store=store, product=product)
    StockLevel.objects.filter(pk=level.pk).update(on_hand=Decimal(on_hand), **policy)
    level.refresh_from_db()
    return level


def open_suggestion(*, store, product, quantity=12) -> ReorderSuggestion:
    return ReorderSuggestion.objects.create(
        store=store,
        product=product,
        supplier=product.supplier,
        quantity=Decimal(quantity),
        suggested_qty=Decimal(quantity),
        unit_cost=product.cost_price,
        lead_time_days=5,
        cash_needed=Decimal(quantity) * product.cost_price,
        explanation=["test line"],
    )
