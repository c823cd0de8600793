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

from . import customer_engine, leases
from . import customer_selectors as sel
from .dispatch import enqueue

logger = logging.getLogger("retailops.customers")

HORIZON = 91
EXPOSURE_DAYS = 182
MIN_HISTORY_DAYS = 2 * HORIZON
TRAIN_TASK = "customers.train_customer_models"
LOST_LIMIT = 3  # a run whose worker stopped this many times is given up
QUEUED_MESSAGE = "Queued: the worker will start it when the task queue is back."


def _money(value) -> Decimal:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return Decimal("0")
    return Decimal(str(round(float(value), 2)))


def _is_stale(run: CustomerModelRun, now) -> bool:
    """Running, but its worker stopped renewing the lease (or never had one: started before leases)."""
    return run.status == CustomerModelRun.Status.RUNNING and (run.lease_until is None or run.lease_until < now)


def _take_over(run: CustomerModelRun) -> bool:
    """Put a stale running run (locked by the caller) back to pending, saying when its worker stopped; a run
    lost LOST_LIMIT times is failed instead. Returns True when the run is pending again (to be queued)."""
    stopped = timezone.localtime(run.heartbeat_at or run.started_at or timezone.now())
    logger.warning("customer model run %s: worker %s stopped at %s", run.pk, run.claimed_by or "?", stopped)
    if run.attempts >= LOST_LIMIT:
        run.status = CustomerModelRun.Status.FAILED
        run.message = f"Its worker stopped {run.attempts} times (last at {stopped:%H:%M}); training gave up."
        run.finished_at = timezone.now()
    else:
        run.status = CustomerModelRun.Status.PENDING
        run.message = f"Taken over: its worker stopped at {stopped:%H:%M}."
    run.lease_until = None
    run.claimed_by = ""
    run.save(update_fields=["status", "message", "finished_at", "lease_until", "claimed_by"])
    return run.status == CustomerModelRun.Status.PENDING


def _run_key(run: CustomerModelRun) -> str:
    return f"customer-model-run:{run.pk}:{run.attempts}"


def model_run_create(
    *, actor=None, trigger: str = CustomerModelRun.Trigger.MANUAL, as_of: date | None = None
) -> tuple[CustomerModelRun, bool]:
    """Create a pending run, unless one is already pending or running: (run, created). A running one whose
    worker stopped (lease expired) is taken over — pending again — and counts as created (to be queued)."""
    with transaction.atomic():
        busy = (
            CustomerModelRun.objects.select_for_update()
            .filter(status__in=[CustomerModelRun.Status.PENDING, CustomerModelRun.Status.RUNNING])
            .first()
        )
        if busy and _is_stale(busy, timezone.now()):
            if _take_over(busy):
                return busy, True
            busy = None
        if busy:
            return busy, False
        backdated = as_of is not None and as_of < timezone.localdate()
        run = CustomerModelRun.objects.create(
            created_by=actor, trigger=trigger, horizon_days=HORIZON, as_of=as_of, backdated=backdated
        )
        return run, True


def model_run_start(
    *, actor=None, trigger: str = CustomerModelRun.Trigger.MANUAL, as_of: date | None = None
) -> tuple[CustomerModelRun, bool]:
    """Create a run (or take over a stale one) and queue its task in the same transaction (the outbox). Returns
    (run, queued).

    If the broker cannot be reached now the run stays pending and says so; the outbox's relay publishes its
    message when the broker is back (DESIGN §9: a page says clearly when a task could not be started)."""
    with transaction.atomic():
        run, created = model_run_create(actor=actor, trigger=trigger, as_of=as_of)
        if created:
            sent = enqueue(TRAIN_TASK, run.pk, key=_run_key(run))  # heavy queue: routed by its name
            transaction.on_commit(lambda: _say_if_not_published(run.pk, sent))  # after the outbox's publish
    run.refresh_from_db()
    return run, created


def _say_if_not_published(run_id: int, sent) -> None:
    if sent.published is False:
        logger.warning("customer model run %s queued while the broker is down", run_id)
        CustomerModelRun.objects.filter(pk=run_id, status=CustomerModelRun.Status.PENDING).update(
            message=QUEUED_MESSAGE
        )


def model_runs_sweep() -> int:
    """Take over every running run whose lease expired and queue it again (once: under its row lock, with
    its key). Returns how many were re-queued."""
    now = timezone.now()
    requeued = 0
    with transaction.atomic():
        stale = CustomerModelRun.objects.select_for_update(skip_locked=True).filter(
            status=CustomerModelRun.Status.RUNNING, lease_until__lt=now
        )
        for run in stale:
            if _take_over(run):
                enqueue(TRAIN_TASK, run.pk, key=_run_key(run))
                requeued += 1
    return requeued


def _progress(run: CustomerModelRun, pct: int, message: str) -> None:
    CustomerModelRun.objects.filter(pk=run.pk).update(progress=pct, message=message)


def model_run_execute(*, run_id: int, today: date | None = None) -> CustomerModelRun:
    """Train, evaluate and score; idempotent: a run that is done (or running elsewhere) is left alone.

    The worker holds a lease on the run while it trains, renewed by a heartbeat thread; if the worker
    stops, the sweeper (or the next Train / nightly task) takes the run over."""
    me = leases.worker_name()
    with transaction.atomic():
        run = CustomerModelRun.objects.select_for_update().get(pk=run_id)
        if run.status not in (CustomerModelRun.Status.PENDING,):
            return run
        now = timezone.now()
        run.status = CustomerModelRun.Status.RUNNING
        run.started_at = now
        run.attempts += 1
        run.claimed_by, run.heartbeat_at, run.lease_until = me, now, leases.lease_end(now)
        run.save(update_fields=["status", "started_at", "attempts", "claimed_by", "heartbeat_at", "lease_until"])
    mine = CustomerModelRun.objects.filter(pk=run.pk, status=CustomerModelRun.Status.RUNNING, claimed_by=me)

    def renew() -> bool:
        now = timezone.now()
        return mine.update(heartbeat_at=now, lease_until=leases.lease_end(now)) > 0

    try:
        with leases.Heartbeat(renew):
            _execute(run, today=run.as_of or today or timezone.localdate(), owner=me)
    except Exception as exc:
        logger.exception("customer model run %s failed", run.pk)
        text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)  # not "['…']"
        mine.update(
            status=CustomerModelRun.Status.FAILED, message=text[:2000], finished_at=timezone.now(), lease_until=None
        )
    run.refresh_from_db()
    return run


SPEND_LABELS = {"regression": "linear regression", "probabilistic": "BG/NBD × Gamma-Gamma", "blend": "a blend of both"}


def history_problem(days: pd.DataFrame) -> str | None:
    """Why a history cannot train the customer models (a plain-English message for the models page), or None.

    days: purchase_days of every loyalty receipt. Caught here: no sales, only returns, every purchase £0,
    too short a history (a single day included), no customer who bought on two different days."""
    if days.empty:
        return "There are no sales to loyalty customers yet: nothing to train on."
    if not (days["amount"] > 0).any():
        if (days["amount"] < 0).all():
            return "The loyalty customers' receipts are all returns: there is no purchase to learn from."
        return "Every loyalty purchase is £0 (or a return): there is no spend to learn from."
    span = (days["date"].max() - days["date"].min()).days
    if span < MIN_HISTORY_DAYS:
        what = "a single day" if span == 0 else f"{span} days"
        return (
            f"The models need at least {MIN_HISTORY_DAYS} days of customer sales (one quarter to train, "
            f"one to test); there is {what}."
        )
    repeat = days[days["amount"] > 0].groupby("customer_id").size()
    if not (repeat > 1).any():
        return (
            "No customer has bought on two different days yet: without repeat customers the models cannot tell "
            "who comes back."
        )
    return None


def not_scored(transactions: pd.DataFrame, scored: set[int]) -> dict[str, int]:
    """Customers with no prediction, by reason (every customer accounted for on the models page)."""
    customers = Customer.objects.values_list("pk", "anonymised_at", "merged_into_id")
    gone = {pk for pk, anon, merged in customers if anon is not None or merged is not None}
    everyone = {pk for pk, _, _ in customers}
    per = transactions.groupby("customer_id")["amount"].agg(["max", "min"]) if len(transactions) else None
    reasons = {"only returns": 0, "every purchase £0": 0, "no purchase yet": 0, "anonymised or merged": 0}
    for pk in everyone - scored:
        if pk in gone:
            reasons["anonymised or merged"] += 1
        elif per is None or pk not in per.index:
            reasons["no purchase yet"] += 1
        elif per.at[pk, "max"] < 0:
            reasons["only returns"] += 1
        else:
            reasons["every purchase £0"] += 1
    return {k: v for k, v in reasons.items() if v}


def _execute(run: CustomerModelRun, *, today: date, owner: str = "") -> None:
    _progress(run, 5, "Reading sales")
    transactions = sel.transactions_frame(until=today)
    days = customer_engine.purchase_days(transactions)
    problem = history_problem(days)
    if problem:
        raise ValidationError(f"{problem} The previous predictions stay in place.")
    data_end = days["date"].max()
    cutoff = data_end - pd.Timedelta(days=HORIZON)
    tiers = pd.Series(dict(Customer.objects.exclude(tier=None).values_list("pk", "tier__rank")), dtype=float)

    _progress(run, 15, "Training the spend models on the cut-off and scoring the holdout quarter")
    evaluation = customer_engine.spend_evaluate(days, cutoff=cutoff, horizon_days=HORIZON)
    metrics: dict = {"spend": evaluation.metrics}
    params: dict = {"spend": evaluation.params}
    chosen = evaluation.chosen
    roles = customer_engine.blend_roles(evaluation.metrics) if chosen == "blend" else None
    metrics["spend"]["chosen"] = chosen
    metrics["spend"]["blend_roles"] = roles
    metrics["spend"]["holdout_season"] = evaluation.season

    _progress(run, 30, "Scoring the churn models on the holdout")
    try:
        churn_eval = customer_engine.churn_evaluate(
            days, cutoff=cutoff, horizon_days=customer_engine.CHURN_DAYS, tiers=tiers
        )
        churn_model = churn_eval.chosen
        metrics["churn"] = {
            "models": churn_eval.metrics,
            "chosen": churn_model,
            "auc": churn_eval.metrics[churn_model]["auc"],
            "horizon_days": customer_engine.CHURN_DAYS,
        }
    except ValueError as exc:
        churn_model = "heuristic"
        metrics["churn"] = {"error": str(exc), "chosen": churn_model, "auc": None}

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

    _progress(run, 55, "Predicting next quarter, next year and churn")
    predicted = customer_engine.spend_predict(days, as_of=data_end, horizons=(HORIZON, 365))
    season = customer_engine.seasonal_index(days, start=data_end, horizon_days=HORIZON)
    metrics["season"] = season
    factor = season["index"] if season else 1.0
    # The level check: how far the kept model's total missed in the last two quarters (back-tests reused).
    level = customer_engine.level_check(
        days,
        as_of=data_end,
        model=customer_engine.total_model(chosen, roles),
        horizon_days=HORIZON,
        evaluations={cutoff: evaluation.metrics, **evaluation.backtests},
    )
    metrics["level"] = level
    metrics["spend"]["holdout_level"] = evaluation.level
    scale = level["factor"] if level else 1.0
    quarter = customer_engine.spend_kept(predicted, chosen=chosen, horizon=HORIZON, roles=roles, factor=factor * scale)
    # a year has every season, but the model's level is the same
    year = customer_engine.spend_kept(predicted, chosen=chosen, horizon=365, roles=roles, factor=scale)
    try:
        churn = customer_engine.churn_predict(days, as_of=data_end, model=churn_model, tiers=tiers)
    except ValueError:
        churn = customer_engine.churn_predict(days, as_of=data_end, model="heuristic", tiers=tiers)
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
        store_ids = lines["store_id"].unique().tolist()
        product_ids = lines["product_id"].unique().tolist()
        closing = sel.stock_frames(start=exposure_start, end=exposure_end, store_ids=store_ids, product_ids=product_ids)
        stocked = sel.stocked_pairs(until=exposure_end, store_ids=store_ids, product_ids=product_ids)
        stockouts = customer_engine.stockouts_where_stocked(closing, stocked)
        exposure = customer_engine.stockout_exposure(lines, stockouts, home_store=sel.home_stores())
    metrics["exposure"] = {
        "window_days": EXPOSURE_DAYS,
        "customers_exposed": int(len(exposure)),
        "revenue_at_risk": float(exposure["revenue_at_risk"].sum()) if len(exposure) else 0.0,
        "rule": "stocked only",
    }

    _progress(run, 85, "Saving predictions")
    known = set(
        Customer.objects.filter(anonymised_at__isnull=True, merged_into__isnull=True).values_list("pk", flat=True)
    )
    ids = sorted(known & set(int(i) for i in predicted.index))
    metrics["not_scored"] = not_scored(transactions, set(ids))
    rows = []
    for cid in ids:
        p = predicted.loc[cid]
        d = discount.loc[cid] if cid in discount.index else None
        e = exposure.loc[cid] if cid in exposure.index else None
        risk = churn.get(cid)
        rows.append(
            CustomerPrediction(
                run=run,
                customer_id=cid,
                spend_quarter=_money(quarter.get(cid)),
                spend_year=_money(year.get(cid)),
                spend_quarter_regression=_money(p.get(f"reg_{HORIZON}", 0.0) * factor),
                spend_quarter_probabilistic=_money(p.get(f"prob_{HORIZON}", 0.0) * factor),
                expected_purchases_quarter=float(p.get(f"purchases_{HORIZON}", 0.0)),
                p_alive=float(p["p_alive"]) if "p_alive" in p else None,
                churn_risk=float(risk) if risk is not None and math.isfinite(risk) else None,
                discount_probability=float(d["probability"]) if d is not None else None,
                expected_discount=_money(d["expected_discount"]) if d is not None else Decimal("0"),
                visits=int(e["visits"]) if e is not None else 0,
                exposed_visits=int(e["exposed_visits"]) if e is not None else 0,
                products_missed=int(e["products_missed"]) if e is not None else 0,
                revenue_at_risk=_money(e["revenue_at_risk"]) if e is not None else Decimal("0"),
            )
        )
    why = {
        "regression": "better per customer and in total",
        "probabilistic": "better per customer and in total",
        "blend": "each model won one score",
    }[chosen]
    auc = metrics["churn"].get("auc")
    churn_text = f"churn: {churn_model} (AUC {auc:.2f})" if auc is not None else f"churn: {churn_model}"
    season_text = f"season ×{season['index']:.2f} applied" if season else "no season applied"
    if level:
        season_text += f"; level ×{level['factor']:.2f}"
    _results_save(
        run,
        owner=owner,
        rows=rows,
        message=f"Scored {len(rows)} customers; spend: {SPEND_LABELS[chosen]} kept ({why}); {churn_text}; "
        f"{season_text}.",
        cutoff=cutoff.date(),
        scored_until=data_end.date(),
        chosen_model=chosen,
        metrics=_jsonable(metrics),
        params=_jsonable(params),
    )


def _results_save(run: CustomerModelRun, *, owner: str, rows: list[CustomerPrediction], **fields) -> bool:
    """Write the predictions and finish the run, once: under the run's row lock, only while it is still
    running under `owner` (a run taken over from this worker is the new worker's to write). Returns whether
    it wrote."""
    with transaction.atomic():
        locked = CustomerModelRun.objects.select_for_update().get(pk=run.pk)
        if locked.status != CustomerModelRun.Status.RUNNING or (owner and locked.claimed_by != owner):
            logger.warning("customer model run %s was taken over; this worker's results are dropped", run.pk)
            return False
        CustomerPrediction.objects.filter(run=run).delete()  # a retried task rewrites its own rows
        CustomerPrediction.objects.bulk_create(rows, batch_size=2000)
        CustomerModelRun.objects.filter(pk=run.pk).update(
            **fields,
            status=CustomerModelRun.Status.DONE,
            progress=100,
            n_customers=len(rows),
            lease_until=None,
            finished_at=timezone.now(),
        )
    return True


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
