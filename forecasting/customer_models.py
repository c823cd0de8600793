"""Services of the customer models: start a training run, execute it (in a Celery worker), store results.

A run trains the spend models (linear regression vs BG/NBD × Gamma-Gamma) and the discount classifier
on data up to a cut-off, scores them on the following quarter, keeps every figure in
CustomerModelRun.metrics, then refits on all data and writes one CustomerPrediction per customer
(spend next quarter / year by the better model, discount likelihood, stockout exposure, P(alive)).
"""

from __future__ import annotations

import logging
import math
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from customers.models import Customer, CustomerModelRun, CustomerPrediction

from . import customer_engine
from . import customer_selectors as sel
from .dispatch import enqueue

logger = logging.getLogger("retailops.customers")

HORIZON = 91
EXPOSURE_DAYS = 182
MIN_HISTORY_DAYS = 2 * HORIZON


def _money(value) -> Decimal:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return Decimal("0")
    return Decimal(str(round(float(value), 2)))


def model_run_create(*, actor=None, trigger: str = CustomerModelRun.Trigger.MANUAL) -> tuple[CustomerModelRun, bool]:
    """Create a pending run, unless one is already pending or running: (run, created)."""
    with transaction.atomic():
        busy = (
            CustomerModelRun.objects.select_for_update()
            .filter(status__in=[CustomerModelRun.Status.PENDING, CustomerModelRun.Status.RUNNING])
            .first()
        )
        if busy:
            return busy, False
        return CustomerModelRun.objects.create(created_by=actor, trigger=trigger, horizon_days=HORIZON), True


def model_run_start(*, actor=None, trigger: str = CustomerModelRun.Trigger.MANUAL) -> tuple[CustomerModelRun, bool]:
    """Create a run and queue its task once the run is committed. Returns (run, queued).

    If the broker cannot be reached the run is marked failed with a message the page shows; nothing
    else changes (DESIGN §9: a page says clearly when a task could not be started).
    """
    with transaction.atomic():
        run, created = model_run_create(actor=actor, trigger=trigger)
        if created:
            # Queued only after commit, passing the id: the worker must find the row.
            transaction.on_commit(lambda: _queue(run.pk))
    run.refresh_from_db()
    return run, created and run.status != CustomerModelRun.Status.FAILED


def _queue(run_id: int) -> None:
    # By the task's registered name (forecasting.customer_tasks imports this module, never the reverse).
    if not enqueue("customers.train_customer_models", run_id):  # any broker error means "not queued"
        logger.warning("customer model run %s could not be queued", run_id)
        CustomerModelRun.objects.filter(pk=run_id).update(
            status=CustomerModelRun.Status.FAILED,
            message="The background worker could not be reached, so training did not start.",
            finished_at=timezone.now(),
        )


def _progress(run: CustomerModelRun, pct: int, message: str) -> None:
    CustomerModelRun.objects.filter(pk=run.pk).update(progress=pct, message=message)


def model_run_execute(*, run_id: int, today: date | None = None) -> CustomerModelRun:
    """Train, evaluate and score; idempotent: a run that is done (or running elsewhere) is left alone."""
    with transaction.atomic():
        run = CustomerModelRun.objects.select_for_update().get(pk=run_id)
        if run.status not in (CustomerModelRun.Status.PENDING,):
            return run
        run.status = CustomerModelRun.Status.RUNNING
        run.started_at = timezone.now()
        run.save(update_fields=["status", "started_at"])
    try:
        _execute(run, today=today or timezone.localdate())
    except Exception as exc:
        logger.exception("customer model run %s failed", run.pk)
        CustomerModelRun.objects.filter(pk=run.pk).update(
            status=CustomerModelRun.Status.FAILED, message=str(exc)[:2000], finished_at=timezone.now()
        )
    run.refresh_from_db()
    return run


def _execute(run: CustomerModelRun, *, today: date) -> None:
    _progress(run, 5, "Reading sales")
    days = customer_engine.purchase_days(sel.transactions_frame(until=today))
    if days.empty:
        raise ValidationError("There are no sales to loyalty customers yet: nothing to train on.")
    data_end = days["date"].max()
    data_start = days["date"].min()
    if (data_end - data_start).days < MIN_HISTORY_DAYS:
        raise ValidationError(
            f"The models need at least {MIN_HISTORY_DAYS} days of customer sales (one quarter to train, "
            f"one to test); there are {(data_end - data_start).days}."
        )
    cutoff = data_end - pd.Timedelta(days=HORIZON)
    tiers = pd.Series(dict(Customer.objects.exclude(tier=None).values_list("pk", "tier__rank")), dtype=float)

    _progress(run, 20, "Training the spend models on the cut-off and scoring the holdout quarter")
    evaluation = customer_engine.spend_evaluate(days, cutoff=cutoff, horizon_days=HORIZON)
    metrics = {"spend": evaluation.metrics}
    params = {"spend": evaluation.params}

    _progress(run, 40, "Training the discount classifier")
    discount_model = None
    try:
        metrics["discount"], _ = customer_engine.discount_evaluate(
            days, cutoff=cutoff, horizon_days=HORIZON, tiers=tiers
        )
        # Refit on the latest complete period for today's scores (same recipe, one period later).
        _, discount_model = customer_engine.discount_evaluate(days, cutoff=data_end, horizon_days=HORIZON, tiers=tiers)
    except ValueError as exc:
        metrics["discount"] = {"error": str(exc)}
        try:
            _, discount_model = customer_engine.discount_evaluate(
                days, cutoff=cutoff, horizon_days=HORIZON, tiers=tiers
            )
        except ValueError:
            discount_model = None

    _progress(run, 55, "Predicting next quarter and next year")
    predicted = customer_engine.spend_predict(days, as_of=data_end, horizons=(HORIZON, 365))
    chosen = evaluation.chosen
    prefix = "reg" if chosen == "regression" else "prob"
    discount = (
        customer_engine.discount_predict(discount_model, days, as_of=data_end, horizon_days=HORIZON, tiers=tiers)
        if discount_model is not None
        else pd.DataFrame(columns=["probability", "expected_discount"])
    )

    _progress(run, 70, "Measuring stockout exposure")
    exposure_end = data_end.date()
    exposure_start = exposure_end - timedelta(days=EXPOSURE_DAYS - 1)
    lines = sel.exposure_lines_frame(start=exposure_start, end=exposure_end)
    exposure = pd.DataFrame(columns=["visits", "exposed_visits", "products_missed", "revenue_at_risk"])
    if not lines.empty:
        closing = sel.stock_frames(
            start=exposure_start,
            end=exposure_end,
            store_ids=lines["store_id"].unique().tolist(),
            product_ids=lines["product_id"].unique().tolist(),
        )
        stockouts = closing[closing["on_hand"] <= 0][["store_id", "product_id", "date"]]
        exposure = customer_engine.stockout_exposure(lines, stockouts, home_store=sel.home_stores())
    metrics["exposure"] = {
        "window_days": EXPOSURE_DAYS,
        "customers_exposed": int(len(exposure)),
        "revenue_at_risk": float(exposure["revenue_at_risk"].sum()) if len(exposure) else 0.0,
    }

    _progress(run, 85, "Saving predictions")
    known = set(
        Customer.objects.filter(anonymised_at__isnull=True, merged_into__isnull=True).values_list("pk", flat=True)
    )
    ids = sorted(known & set(int(i) for i in predicted.index))
    rows = []
    for cid in ids:
        p = predicted.loc[cid]
        d = discount.loc[cid] if cid in discount.index else None
        e = exposure.loc[cid] if cid in exposure.index else None
        rows.append(
            CustomerPrediction(
                run=run,
                customer_id=cid,
                spend_quarter=_money(p.get(f"{prefix}_{HORIZON}")),
                spend_year=_money(p.get(f"{prefix}_365")),
                spend_quarter_regression=_money(p.get(f"reg_{HORIZON}")),
                spend_quarter_probabilistic=_money(p.get(f"prob_{HORIZON}")),
                expected_purchases_quarter=float(p.get(f"purchases_{HORIZON}", 0.0)),
                p_alive=float(p["p_alive"]) if "p_alive" in p else None,
                discount_probability=float(d["probability"]) if d is not None else None,
                expected_discount=_money(d["expected_discount"]) if d is not None else Decimal("0"),
                visits=int(e["visits"]) if e is not None else 0,
                exposed_visits=int(e["exposed_visits"]) if e is not None else 0,
                products_missed=int(e["products_missed"]) if e is not None else 0,
                revenue_at_risk=_money(e["revenue_at_risk"]) if e is not None else Decimal("0"),
            )
        )
    with transaction.atomic():
        CustomerPrediction.objects.filter(run=run).delete()  # a retried task rewrites its own rows
        CustomerPrediction.objects.bulk_create(rows, batch_size=2000)
        CustomerModelRun.objects.filter(pk=run.pk).update(
            status=CustomerModelRun.Status.DONE,
            progress=100,
            message=f"Scored {len(rows)} customers; {chosen} kept (lower RMSE on the holdout quarter).",
            cutoff=cutoff.date(),
            scored_until=data_end.date(),
            chosen_model=chosen,
            metrics=_jsonable(metrics),
            params=_jsonable(params),
            n_customers=len(rows),
            finished_at=timezone.now(),
        )


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):
        return _jsonable(value.item())
    return value
