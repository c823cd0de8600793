"""Writes of the forecasting app: runs and their chunks, reorder suggestions, draft purchase orders,
alerts and the owners' digest. Every function is keyword-only and atomic where it writes."""

from __future__ import annotations

import base64
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from email.mime.image import MIMEImage

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Max, Sum
from django.template.loader import render_to_string
from django.utils import timezone

from inventory.models import Product, PurchaseOrder, PurchaseOrderLine, StockLevel, Store
from inventory.selectors import stores_visible, user_can_see_costs
from inventory.services import stock_transfer_post
from retailops.models import OutboxMessage
from sales.models import SalesDaily

from . import calendar as retail_calendar
from . import charts, engine, leases, policy, selectors
from .dispatch import enqueue
from .models import (
    DemandForecast,
    ForecastAccuracy,
    ForecastChunk,
    ForecastRun,
    ReorderSuggestion,
    StockAlert,
)

log = logging.getLogger(__name__)
ZERO = Decimal("0")
DEFAULT_LEAD_TIME = 7
CHUNK_TASK = "forecasting.tasks.forecast_chunk_task"
CHUNK_RETRIES = 2  # a chunk is given up after this many retries (errors) or this many + 1 lost workers
UNFINISHED = (ForecastRun.Status.PENDING, ForecastRun.Status.RUNNING)
QUEUED_MESSAGE = "Queued: the worker will start it when the task queue is back."


class TooManyQueued(ValidationError):
    """A user already has as many unfinished forecast runs as they may; `retry_after` in seconds."""

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message, code="too_many_queued")
        self.retry_after = retry_after


# --------------------------------------------------------------------------------------------------
# Forecast runs
# --------------------------------------------------------------------------------------------------


def _history_end(store_ids: list[int] | None) -> date:
    """The last complete day of sales: the latest day with sales, but never today — today's till is still
    open, and a half day read as a whole one would pull every forecast down."""
    qs = SalesDaily.objects.all()
    if store_ids:
        qs = qs.filter(store_id__in=store_ids)
    last = qs.aggregate(last=Max("date"))["last"]
    yesterday = selectors.last_complete_day()
    return min(last, yesterday) if last else yesterday


def forecast_run_start(
    *,
    actor=None,
    horizon_days: int = 28,
    store_ids: list[int] | None = None,
    models: list[str] | None = None,
    chunk_size: int = 100,
    backtest_windows: int = engine.DEFAULT_WINDOWS,
    history_end: date | None = None,
    trigger: str = "manual",
    dispatch: bool = True,
) -> ForecastRun:
    """Create a run and its chunks (atomic), then fan the chunks out to the workers after commit."""
    try:
        horizon_days = engine.validate_horizon(horizon_days)
    except engine.EngineError as exc:
        raise ValidationError(str(exc)) from exc
    if backtest_windows < 2:
        raise ValidationError("A rolling-origin backtest needs at least two windows.")
    models = list(models or engine.DEFAULT_MODELS)
    unknown = [m for m in models if m not in engine.CANDIDATES]
    if unknown:
        raise ValidationError(f"Unknown model(s): {', '.join(unknown)}.")
    if store_ids:
        known = set(Store.objects.filter(pk__in=store_ids).values_list("pk", flat=True))
        if missing := sorted(set(store_ids) - known):
            raise ValidationError(f"Unknown store id(s): {missing}.")
    chunk_size = max(1, min(int(chunk_size), 2000))
    latest_end = _history_end(store_ids)
    if history_end is not None:
        if history_end > latest_end:
            raise ValidationError(
                f"A forecast can be made as of {latest_end:%d %b %Y} at the latest: the days after it are not over."
            )
        sold = SalesDaily.objects.filter(date__lte=history_end)
        if not (sold.filter(store_id__in=store_ids) if store_ids else sold).exists():
            raise ValidationError(f"There are no sales on or before {history_end:%d %b %Y} to forecast from.")
    pairs = selectors.series_in_scope(store_ids=store_ids)
    with transaction.atomic():
        if actor is not None and trigger != "nightly":
            _queued_limit_check(actor=actor)
        run = ForecastRun.objects.create(
            horizon_days=horizon_days,
            model_names=models,
            backtest_windows=backtest_windows,
            store_ids=sorted(store_ids or []),
            history_end=history_end or latest_end,
            chunk_size=chunk_size,
            series_total=len(pairs),
            trigger=trigger,
            created_by=actor,
        )
        chunks = [
            ForecastChunk(run=run, number=n, series=[list(p) for p in pairs[i : i + chunk_size]])
            for n, i in enumerate(range(0, len(pairs), chunk_size), start=1)
        ]
        ForecastChunk.objects.bulk_create(chunks)
        run.chunks_total = len(chunks)
        if not chunks:
            run.status = ForecastRun.Status.DONE
            run.message = "Nothing to forecast: no product has sales or stock in the chosen stores."
            run.started_at = run.finished_at = timezone.now()
        run.save(update_fields=["chunks_total", "status", "message", "started_at", "finished_at"])
        if chunks and dispatch:
            # One outbox message per chunk, written with the run: committed together or not at all.
            sent = _chunks_send(run, [(c.pk, c.attempts) for c in chunks])
            transaction.on_commit(lambda: _say_if_not_published(run.pk, sent))  # after the outbox's publish
    return run


def _queued_limit_check(*, actor) -> None:
    """Refuse a run when `actor` already has MAX_QUEUED_RUNS unfinished ones. The user's row is locked first,
    so two requests at once cannot both pass the count."""
    limit = int(settings.RETAILOPS.get("MAX_QUEUED_RUNS", 3))
    list(get_user_model().objects.select_for_update().filter(pk=actor.pk).values_list("pk", flat=True))
    waiting = ForecastRun.objects.filter(created_by=actor, status__in=UNFINISHED)
    count = waiting.count()
    if count < limit:
        return
    oldest = waiting.order_by("created_at", "pk").first()
    wait = _seconds_left(oldest) if oldest else 60
    raise TooManyQueued(
        f"You have {count} forecast run{'s' if count != 1 else ''} waiting; try again when one finishes "
        f"({_about(wait)}).",
        retry_after=wait,
    )


def _seconds_left(run: ForecastRun) -> int:
    """Estimated seconds until `run` finishes: its chunks left × the recent mean seconds per chunk (10 s when
    no chunk has finished yet), at least 30 s and at most an hour."""
    recent: list[float] = [
        seconds
        for seconds in ForecastChunk.objects.filter(done=True, seconds__isnull=False)
        .order_by("-finished_at")
        .values_list("seconds", flat=True)[:200]
        if seconds is not None
    ]
    per_chunk = sum(recent) / len(recent) if recent else 10.0
    left = max(run.chunks_total - run.chunks_done, 1)
    return int(min(max(left * per_chunk, 30), 3600))


def _about(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return "about a minute" if minutes == 1 else f"about {minutes} minutes"


def _chunk_queue(run: ForecastRun) -> str:
    """Single-store runs are interactive work; chain-wide ones wait in the heavy queue."""
    if len(run.store_ids) == 1:
        return "interactive"
    if not run.store_ids and Store.objects.filter(active=True).count() == 1:
        return "interactive"
    return "heavy"


def _chunk_key(chunk_id: int, attempts: int) -> str:
    """The outbox key of a chunk's message for its next attempt: two senders of the same attempt (two
    sweepers, a sweeper and --resume) never put it on the queue twice."""
    return f"forecast-chunk:{chunk_id}:{attempts}"


def _chunks_send(run: ForecastRun, chunks: list[tuple[int, int]]) -> list:
    """Enqueue (chunk id, attempts) pairs with their keys on the run's queue; the outbox rows are written in
    the caller's transaction. Returns the enqueue results."""
    queue = _chunk_queue(run)
    return [enqueue(CHUNK_TASK, pk, queue=queue, key=_chunk_key(pk, attempts)) for pk, attempts in chunks]


def _say_if_not_published(run_id: int, sent: list) -> None:
    """After commit (registered after the outbox's own callbacks, so they have tried to publish): when the broker
    did not take a message now, the run stays pending (the relay publishes it when the broker is back) and says
    so."""
    if any(getattr(e, "published", e) is False for e in sent):
        ForecastRun.objects.filter(pk=run_id, status=ForecastRun.Status.PENDING).update(message=QUEUED_MESSAGE)


def _keys_in_outbox(keys: list[str], *, unsent_only: bool) -> set[str]:
    """Those of `keys` that have an outbox message (only those not yet published, with `unsent_only`)."""
    rows = OutboxMessage.objects.filter(sent_at__isnull=True) if unsent_only else OutboxMessage.objects.all()
    found: set[str] = set()
    for i in range(0, len(keys), 1000):
        found.update(key for key in rows.filter(key__in=keys[i : i + 1000]).values_list("key", flat=True) if key)
    return found


def forecast_run_dispatch(*, run_id: int, resend: bool = False) -> int:
    """Resume a run: send each lost chunk once, with its key. Lost = not done, not under a live lease (a
    worker is computing it) and with no message for its next attempt in the outbox — neither waiting there
    (the relay publishes it when the broker is back) nor already published (it is queued). An expired lease
    is swept here as the sweeper would. ``resend`` also re-sends chunks whose message was published (for a
    broker that lost its queues). Returns how many messages were written."""
    run = ForecastRun.objects.get(pk=run_id)
    if run.is_finished:
        return 0
    swept = chunks_sweep(run_ids=[run_id])["requeued"]
    candidates = list(
        ForecastChunk.objects.filter(run_id=run_id, done=False, lease_until__isnull=True)
        .order_by("number")
        .values_list("pk", "attempts")
    )
    known = _keys_in_outbox([_chunk_key(pk, a) for pk, a in candidates], unsent_only=resend)
    lost = [(pk, a) for pk, a in candidates if _chunk_key(pk, a) not in known]
    sent = _chunks_send(run, lost)
    transaction.on_commit(lambda: _say_if_not_published(run_id, sent))  # at once outside a transaction
    return swept + len(sent)


def chunks_sweep(*, run_ids: list[int] | None = None, limit: int = 500) -> dict[str, int]:
    """Re-queue, once, each chunk of an unfinished run whose lease expired (its worker stopped renewing it):
    the lease is cleared and a message for the next attempt is written with its key, in one transaction
    under the chunk's row lock (skip-locked: two sweepers share the work, never send one twice). A chunk
    lost CHUNK_RETRIES + 1 times is given up like one that kept failing: its series are reported failed.
    Returns {"requeued": n, "failed": m}."""
    now = timezone.now()
    requeued = failed = 0
    with transaction.atomic():
        expired = (
            ForecastChunk.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("run")
            .filter(done=False, lease_until__lt=now, run__status__in=UNFINISHED)
            .order_by("lease_until")
        )
        if run_ids is not None:
            expired = expired.filter(run_id__in=run_ids)
        for chunk in expired[:limit]:
            stopped = timezone.localtime(chunk.lease_until)
            if chunk.attempts >= CHUNK_RETRIES + 1:
                forecast_chunk_fail(
                    chunk_id=chunk.pk,
                    error=f"Its worker stopped {chunk.attempts} times before finishing (last at {stopped:%H:%M}).",
                )
                failed += 1
                continue
            ForecastChunk.objects.filter(pk=chunk.pk).update(lease_until=None, claimed_by="")
            log.warning("chunk %s: worker %s stopped at %s; re-queued", chunk.pk, chunk.claimed_by, stopped)
            _chunks_send(chunk.run, [(chunk.pk, chunk.attempts)])
            requeued += 1
    return {"requeued": requeued, "failed": failed}


def _chunk_compute(run: ForecastRun, chunk: ForecastChunk) -> tuple[engine.ForecastResult, dict]:
    pairs = [tuple(p) for p in chunk.series]
    # What the calendar-aware engine reads: last year's same weeks and level before the backtest, for the yearly
    # season and the promotion and holiday effects (it keeps its own window for the statistical fits).
    days = engine.history_days_with_calendar(run.model_names, run.backtest_windows) + 14
    sales = selectors.demand_history_frame(pairs=pairs, end=run.history_end, days=days)
    stock = selectors.stock_delta_frame(pairs=pairs, end=run.history_end)
    demand = engine.prepare_demand(sales, stock=stock, end=run.history_end)
    if not demand.empty:
        demand = demand[demand["ds"] > demand["ds"].max() - timedelta(days=days)]
    # The calendar of these series over the history read and the horizon: closures, promotions, holidays.
    calendar = _calendar_frame_for(pairs, start=run.history_end - timedelta(days=days - 1), run=run)
    result = engine.forecast_frame(
        demand,
        horizon=run.horizon_days,
        models=run.model_names,
        windows=run.backtest_windows,
        calendar=calendar,
        groups=selectors.series_groups_frame(pairs=pairs),
    )
    known = set(demand["unique_id"]) if not demand.empty else set()
    for s, p in pairs:
        uid = selectors.series_id(s, p)
        if uid not in known and uid not in result.failed:
            # In scope (a stock level) but never sold and no ledger: forecast zero, honestly labelled.
            result.chosen[uid] = {
                "model": "zero",
                "reason": "No sales and no stock history yet: forecast zero.",
                "rmse": 0.0,
                "history_days": 0,
            }
    return result, {"stockout_days": int(demand["stockout"].sum()) if not demand.empty else 0}


def _calendar_frame_for(pairs: list[tuple[int, int]], *, start: date, run: ForecastRun):
    """The calendar frame (:func:`forecasting.calendar.calendar_frame`) of ``pairs`` from ``start`` to the
    run's last forecast day. Passed even when empty: the calendar-aware engine also forecasts launches from
    similar products, carries the year's season and calibrates its band on the backtest."""
    return retail_calendar.calendar_frame(
        pairs=pairs, start=start, end=run.history_end + timedelta(days=run.horizon_days)
    )


def forecast_chunk_process(*, chunk_id: int) -> ForecastChunk:
    """Forecast one chunk and write all of it in one transaction. Idempotent: a chunk already done is
    skipped, so a task delivered twice (worker killed, acks_late) writes nothing twice."""
    chunk = ForecastChunk.objects.select_related("run").get(pk=chunk_id)
    if chunk.done:
        return chunk
    run = chunk.run
    if run.status == ForecastRun.Status.PENDING:
        ForecastRun.objects.filter(pk=run.pk, status=ForecastRun.Status.PENDING).update(
            status=ForecastRun.Status.RUNNING, started_at=timezone.now()
        )
    # Claim it: a lease this worker renews while it computes (the sweeper re-queues it once it runs out).
    me = leases.worker_name()
    mine = ForecastChunk.objects.filter(pk=chunk.pk, done=False)
    mine.update(attempts=F("attempts") + 1, lease_until=leases.lease_end(), claimed_by=me)
    mine = mine.filter(claimed_by=me)
    began = time.monotonic()
    try:
        with leases.Heartbeat(lambda: mine.update(lease_until=leases.lease_end()) > 0):
            result, _info = _chunk_compute(run, chunk)
            forecasts, accuracies = _result_rows(run, result)
    except BaseException:
        mine.update(lease_until=None)  # failed, not lost: the task's retry takes it from here, not the sweeper
        raise
    with transaction.atomic():
        locked = ForecastChunk.objects.select_for_update().get(pk=chunk.pk)
        if locked.done:  # another delivery (or the worker it was taken from) finished it while this one computed
            return locked
        DemandForecast.objects.bulk_create(forecasts, batch_size=2000)
        ForecastAccuracy.objects.bulk_create(accuracies, batch_size=2000)
        locked.done = True
        locked.failed_series = result.failed
        locked.seconds = round(time.monotonic() - began, 3)
        locked.finished_at = timezone.now()
        locked.lease_until = None
        locked.save(update_fields=["done", "failed_series", "seconds", "finished_at", "lease_until"])
        ForecastRun.objects.filter(pk=run.pk).update(
            chunks_done=F("chunks_done") + 1, series_done=F("series_done") + len(chunk.series)
        )
    forecast_run_finalize(run_id=run.pk)
    return locked


def forecast_chunk_fail(*, chunk_id: int, error: str) -> None:
    """Give up on a chunk after its retries: every series in it is reported failed, the run goes on."""
    with transaction.atomic():
        chunk = ForecastChunk.objects.select_for_update().get(pk=chunk_id)
        if chunk.done:
            return
        chunk.done = True
        chunk.error = error[:2000]
        chunk.failed_series = {selectors.series_id(s, p): error[:200] for s, p in chunk.series}
        chunk.finished_at = timezone.now()
        chunk.lease_until = None
        chunk.save(update_fields=["done", "error", "failed_series", "finished_at", "lease_until"])
        ForecastRun.objects.filter(pk=chunk.run_id).update(
            chunks_done=F("chunks_done") + 1, series_done=F("series_done") + len(chunk.series)
        )
    forecast_run_finalize(run_id=chunk.run_id)


REASON_LENGTH = 300  # ForecastAccuracy.reason


def _reason_fit(text: str, limit: int = REASON_LENGTH) -> str:
    """A model's reason within the column: whole clauses (cut at the last "; " or ", " that fits) and "…", never a
    sentence broken mid-word or ending on a comma."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    cut = max(head.rfind("; "), head.rfind(", "))
    return (head[:cut] if cut > limit // 2 else head.rstrip()) + "…"


def _result_rows(run: ForecastRun, result: engine.ForecastResult):
    forecasts = []
    fc = result.forecasts
    if not fc.empty:
        ids = fc["unique_id"].map(selectors.series_split)
        # The forecast without promotion or holiday uplift (= yhat without a calendar; None if the engine gave none).
        baselines = fc["baseline"] if "baseline" in fc else [None] * len(fc)
        for (s, p), ds, yhat, lo, hi, model, baseline in zip(
            ids, fc["ds"], fc["yhat"], fc["lo"], fc["hi"], fc["model"], baselines, strict=True
        ):
            forecasts.append(
                DemandForecast(
                    run=run,
                    store_id=s,
                    product_id=p,
                    date=ds.date(),
                    yhat=round(float(yhat), 4),
                    lo=round(float(lo), 4),
                    hi=round(float(hi), 4),
                    baseline=None if baseline is None or baseline != baseline else round(float(baseline), 4),
                    model=model,
                )
            )
    accuracies = []
    seen = set()

    def _num(v):
        return None if v is None or v != v else float(v)  # NaN → None

    for row in result.accuracy.itertuples(index=False) if not result.accuracy.empty else []:
        s, p = selectors.series_split(row.unique_id)
        info = result.chosen.get(row.unique_id, {})
        seen.add(row.unique_id)
        accuracies.append(
            ForecastAccuracy(
                run=run,
                store_id=s,
                product_id=p,
                model=row.model,
                mase=_num(row.mase),
                wmape=_num(row.wmape),
                bias=_num(row.bias),
                rmse=_num(row.rmse),
                units=_num(row.units),
                abs_error=_num(row.abs_error),
                abs_error_week=_num(row.abs_error_week),
                error=_num(row.error),
                chosen=bool(row.chosen),
                reason=_reason_fit(info.get("reason", "")) if row.chosen else "",
                history_days=info.get("history_days") or 0,
            )
        )
    for uid, info in result.chosen.items():
        if uid in seen:
            continue
        s, p = selectors.series_split(uid)
        accuracies.append(
            ForecastAccuracy(
                run=run,
                store_id=s,
                product_id=p,
                model=info["model"],
                rmse=_num(info.get("rmse")),
                chosen=True,
                reason=_reason_fit(info["reason"]),
                history_days=info.get("history_days") or 0,
            )
        )
    return forecasts, accuracies


def forecast_run_finalize(*, run_id: int) -> ForecastRun:
    """Close the run once every chunk is done (idempotent; the last chunk to finish does it)."""
    with transaction.atomic():
        run = ForecastRun.objects.select_for_update().get(pk=run_id)
        if run.is_finished or ForecastChunk.objects.filter(run=run, done=False).exists():
            return run
        failed: dict = {}
        for chunk_failed in ForecastChunk.objects.filter(run=run).values_list("failed_series", flat=True):
            failed.update(chunk_failed or {})
        run.failed_series = failed
        run.status = ForecastRun.Status.PARTIAL if failed else ForecastRun.Status.DONE
        run.finished_at = timezone.now()
        run.started_at = run.started_at or run.finished_at
        done = run.series_total - len(failed)
        run.message = f"{done} of {run.series_total} series forecast" + (
            f"; {len(failed)} failed: " + ", ".join(sorted(failed)[:20]) if failed else "."
        )
        run.save(update_fields=["failed_series", "status", "finished_at", "started_at", "message"])
        transaction.on_commit(lambda: enqueue("forecasting.tasks.suggestions_build_task", run.pk))
    return run


# --------------------------------------------------------------------------------------------------
# Reorder plan (read-only computation) and suggestions (persisted)
# --------------------------------------------------------------------------------------------------


@dataclass
class PlanLine:
    store_id: int
    product_id: int
    kind: str
    result: policy.PolicyResult
    supplier_id: int | None
    lead_time: int
    review: int
    unit_cost: Decimal
    on_hand: Decimal
    on_order: Decimal
    forecast_error: float
    source_store_id: int | None = None
    in_budget: bool = True
    quantity: Decimal = ZERO
    explanation: list[str] = field(default_factory=list)
    season: dict | None = None  # _season_check's figures when last year's same days sold clearly more
    case_pack: int = 1

    @property
    def cash(self) -> Decimal:
        return (self.quantity * self.unit_cost).quantize(Decimal("0.01"))


@dataclass
class Plan:
    lines: list[PlanLine]
    alerts: list[dict]
    messages: list[str]
    run: ForecastRun | None


def _service_level_for(level: StockLevel, abc: dict) -> tuple[Decimal | None, str]:
    if level.service_level is not None:
        return level.service_level, "set on the stock level"
    category = level.product.category
    if category is not None:
        if category.service_level is not None:
            return category.service_level, f"category {category.name}"
        # parent_id is set, so parent is a Category
        if category.parent_id and category.parent.service_level is not None:  # type: ignore[union-attr]
            return category.parent.service_level, f"category {category.parent.name}"  # type: ignore[union-attr]
    klass = abc.get(level.product_id, "C")
    return policy.ABC_SERVICE_LEVEL[klass], f"ABC class {klass} (share of the last 90 days' revenue)"


def reorder_plan(
    *,
    store_ids: list[int],
    run: ForecastRun | None = None,
    budget: Decimal | None = None,
    for_season: frozenset[tuple[int, int]] = frozenset(),
) -> Plan:
    """What to buy or move for the stores, from the latest forecast; writes nothing. ``for_season``:
    (store, product) pairs whose line is planned on the forecast raised halfway to last year's same days
    (only where :func:`policy.season_turning` holds)."""
    run = run or selectors.latest_run(store_ids=store_ids) or selectors.latest_run()
    messages = []
    if run is None:
        messages.append("No forecast yet: start a forecast run first. Suggestions below assume zero demand.")
    elif not selectors.run_covers(run, store_ids):
        missing = Store.objects.filter(pk__in=set(store_ids) - set(run.store_ids), active=True)
        codes = ", ".join(missing.order_by("code").values_list("code", flat=True)[:10])
        if codes:
            messages.append(
                f"Forecast run #{run.pk} did not cover {codes}: start a run of every store; until then their "
                "lines assume zero demand."
            )
    levels = list(
        StockLevel.objects.filter(
            store_id__in=store_ids, store__active=True, product__active=True, product__kind=Product.Kind.GOODS
        )
        .select_related("store", "product", "product__category", "product__category__parent", "product__supplier")
        .order_by("store_id", "product_id")
    )
    if not levels:
        messages.append("These stores hold no stock levels yet (a new store?): nothing to suggest.")
        return Plan([], [], messages, run)
    daily = selectors.forecast_daily_map(run=run, store_ids=store_ids) if run else {}
    errors = selectors.forecast_error_map(run=run, store_ids=store_ids) if run else {}
    on_order = selectors.on_order_map(store_ids=store_ids)
    last_sale = selectors.last_sale_map(store_ids=store_ids)
    end = run.history_end if run else timezone.localdate()
    start = end + timedelta(days=1)
    span = min(policy.SEASON_DAYS, run.horizon_days) if run else 0  # a 7-day run is set against 7 days
    last_year = selectors.last_year_units_map(store_ids=store_ids, start=start, days=span) if run else {}
    revenue = dict(
        SalesDaily.objects.filter(date__gt=end - timedelta(days=90), date__lte=end)
        .values_list("product_id")
        .annotate(r=Sum("revenue"))
        .values_list("product_id", "r")
    )
    abc = policy.abc_classes(revenue)
    notes_for = _calendar_notes_reader(run, store_ids, levels) if run else None
    lines, alerts, capped = [], [], 0
    for level in levels:
        key = (level.store_id, level.product_id)
        product = level.product
        lead = level.lead_time_override_days
        if lead is None:
            lead = product.supplier.lead_time_days if product.supplier_id else DEFAULT_LEAD_TIME
        service, service_source = _service_level_for(level, abc)
        unit_cost = level.average_cost or product.cost_price
        inputs = policy.PolicyInput(
            on_hand=level.on_hand,
            on_order=Decimal(str(on_order.get(key, 0))),
            daily_forecast=daily.get(key, []),
            forecast_error=errors.get(key, 0.0),
            lead_time_days=lead,
            review_period_days=level.review_period_days,
            service_level=service,
            case_pack=product.case_pack,
            min_order_qty=Decimal(product.case_pack),
            unit_cost=unit_cost,
            unit_price=product.mrp,
            manual_min=level.min_qty,
            manual_max=level.max_qty,
        )
        result = policy.reorder_policy(inputs)
        capped += bool(result.messages)
        explanation = [f"Service level {result.service_level:.1%} from {service_source}."] + result.messages
        if key not in daily:
            explanation.append("No forecast for this product in this store yet: demand taken as zero.")
        season = _season_check(daily.get(key, [])[:span], last_year.get(key, 0.0))
        if season:
            raised = policy.reorder_policy(replace(inputs, daily_forecast=_raised(daily.get(key, []), season)))
            season["quantity"], season["base_quantity"] = raised.quantity, result.quantity
            explanation.append(
                f"The same {season['days']} days last year sold {season['last_year']:.0f}; this forecast says "
                f"{season['forecast']:.1f}. The models read the last 26 weeks and cannot see a season coming back: "
                f"if it is, order for it from the alert (planned on halfway between the two, "
                f"{season['halfway']:.0f}: {raised.quantity:.0f} to buy) or edit the quantity."
            )
            if key in for_season:
                result = raised
                explanation.append(
                    f"Ordered for the season: the forecast raised to {season['halfway']:.0f} over those "
                    f"{season['days']} days, halfway to last year's figure."
                )
        # What the calendar did to the forecast over the days this order covers (right after that forecast).
        notes = notes_for(key, lead + level.review_period_days) if notes_for and key in daily else []
        lines.append(
            PlanLine(
                store_id=level.store_id,
                product_id=level.product_id,
                kind=ReorderSuggestion.Kind.PURCHASE,
                result=result,
                supplier_id=product.supplier_id,
                lead_time=lead,
                review=level.review_period_days,
                unit_cost=unit_cost,
                on_hand=level.on_hand,
                on_order=Decimal(str(on_order.get(key, 0))),
                forecast_error=errors.get(key, 0.0),
                quantity=result.quantity,
                explanation=explanation + result.explanation[:1] + notes + result.explanation[1:],
                season=season,
                case_pack=product.case_pack,
            )
        )
        alerts.extend(_alerts_for(level, result, lead, daily.get(key, []), last_sale.get(key), end, season))
    if capped:
        messages.append(f"{capped} line(s) asked for a 100 % service level; capped at {policy.MAX_SERVICE_LEVEL:.1%}.")
    lines = _with_transfers(lines, {level.store_id: level.store for level in levels})
    if budget is not None:
        budget = Decimal(budget)
        if budget < 0:
            raise ValidationError("A budget cannot be negative.")
        buys = [ln for ln in lines if ln.kind == ReorderSuggestion.Kind.PURCHASE and ln.quantity > 0]
        picked, msg = policy.budget_pick([(i, ln.cash, ln.result.margin_at_risk) for i, ln in enumerate(buys)], budget)
        for i, ln in enumerate(buys):
            ln.in_budget = i in picked
        messages.append(msg)
    return Plan(lines, alerts, messages, run)


CALENDAR_LOOKAROUND = 62  # days read either side of the cover, so a promotion's whole range can be named


def _calendar_notes_reader(run: ForecastRun, store_ids: list[int], levels: list[StockLevel]):
    """A function (store, product), cover days → the lines that say how the calendar changed the forecast over
    the cover: each promotion that raised it, with its range, discount and units ("Promotion 12–18 Dec, 20 % off:
    +34 units"), and the days the store is closed ("Closed Sun 13 Dec: 0 expected"). Two reads for the plan."""
    start = run.history_end + timedelta(days=1)
    longest = max((_cover_days(level) for level in levels), default=0)
    uplift = selectors.forecast_uplift_map(run=run, store_ids=store_ids)
    marks = selectors.calendar_days(
        pairs=[(level.store_id, level.product_id) for level in levels],
        start=start - timedelta(days=CALENDAR_LOOKAROUND),
        end=start + timedelta(days=longest + CALENDAR_LOOKAROUND),
    )

    def notes(key: tuple[int, int], cover: int) -> list[str]:
        return calendar_notes(marks.get(key, {}), uplift.get(key, {}), start=start, days=min(cover, run.horizon_days))

    return notes


def _cover_days(level: StockLevel) -> int:
    lead = level.lead_time_override_days
    if lead is None:
        supplier = level.product.supplier
        lead = supplier.lead_time_days if supplier is not None else DEFAULT_LEAD_TIME
    return lead + level.review_period_days


def _day_range(first: date, last: date) -> str:
    """ "12–18 Dec", "28 Dec–3 Jan", "5 Dec" (one day)."""
    if first == last:
        return f"{first.day} {first:%b}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{last.day} {last:%b}"
    return f"{first.day} {first:%b}–{last.day} {last:%b}"


def calendar_notes(marks: dict[date, dict], uplift: dict[date, float], *, start: date, days: int) -> list[str]:
    """The explanation lines of the calendar over the ``days`` days from ``start`` (the days an order covers):
    a line per promotion (a run of consecutive days at one discount) whose days there the forecast raised above
    its baseline, with the units it added; then the closed days, forecast 0. ``marks``: day → {closed, promo,
    holiday} (:func:`selectors.calendar_days`); ``uplift``: day → forecast − baseline
    (:func:`selectors.forecast_uplift_map`)."""
    window = {start + timedelta(days=i) for i in range(max(days, 0))}
    runs: list[list] = []  # [first, last, share]
    for day in sorted(d for d, m in marks.items() if m["promo"] > 0):
        share = marks[day]["promo"]
        if runs and runs[-1][1] == day - timedelta(days=1) and abs(runs[-1][2] - share) < 1e-9:
            runs[-1][1] = day
        else:
            runs.append([day, day, share])
    out = []
    for first, last, share in runs:
        added = sum(v for d, v in uplift.items() if first <= d <= last and d in window)
        if round(added) >= 1:
            length = (last - first).days + 1
            inside = sum(1 for d in window if first <= d <= last)
            part = f" over the {inside} of its {length} days this order covers" if inside < length else ""
            out.append(f"Promotion {_day_range(first, last)}, {share * 100:.0f} % off: +{added:.0f} units{part}.")
    closed = sorted(d for d in window if marks.get(d, {}).get("closed"))
    if closed:
        listed = ", ".join(f"{d:%a} {d.day} {d:%b}" for d in closed[:6]) + (" …" if len(closed) > 6 else "")
        out.append(f"Closed {listed}: 0 expected.")
    return out


def _store_label(store: Store) -> str:
    return f"{store.code} {store.name}"


def _with_transfers(lines: list[PlanLine], stores: dict[int, Store]) -> list[PlanLine]:
    """Before buying: move surplus stock of a product from stores above their order-up-to level to stores
    that may receive it (:func:`policy.stores_can_transfer`); what a store buys is then its need less every
    transfer in, rounded to the case pack (:func:`policy.transfer_plan`) — a transfer never raises a buy."""
    by_product = defaultdict(list)
    for ln in lines:
        by_product[ln.product_id].append(ln)
    out = list(lines)
    for product_id, group in by_product.items():
        if len(group) < 2 or not any(ln.quantity > 0 for ln in group):
            continue
        needs = [
            policy.StoreNeed(
                store_id=ln.store_id,
                on_hand=ln.on_hand,
                order_up_to=ln.result.order_up_to,
                need=ln.result.raw_quantity if ln.quantity > 0 else ZERO,
                chain=stores[ln.store_id].chain,
                currency=stores[ln.store_id].currency,
                transfer_group=stores[ln.store_id].transfer_group,
            )
            for ln in group
        ]
        moves, buys = policy.transfer_plan(needs, case_pack=group[0].case_pack)
        if not moves:
            continue
        by_store = {ln.store_id: ln for ln in group}
        arriving, transfer_lines = defaultdict(list), defaultdict(list)
        for from_store, to_store, qty in moves:
            buyer, giver, sender = by_store[to_store], by_store[from_store], stores[from_store]
            arriving[to_store].append((sender, qty))
            transfer_lines[to_store].append(
                PlanLine(
                    store_id=to_store,
                    product_id=product_id,
                    kind=ReorderSuggestion.Kind.TRANSFER,
                    result=buyer.result,
                    supplier_id=None,
                    lead_time=0,
                    review=buyer.review,
                    unit_cost=ZERO,
                    on_hand=buyer.on_hand,
                    on_order=buyer.on_order,
                    forecast_error=buyer.forecast_error,
                    source_store_id=from_store,
                    quantity=qty,
                    case_pack=buyer.case_pack,
                    explanation=[
                        f"{_store_label(sender)} holds {giver.on_hand:.0f}, above its order-up-to level "
                        f"{giver.result.order_up_to:.0f}: move {qty:.0f} to {_store_label(stores[to_store])} "
                        "before buying; the sender keeps its order-up-to level."
                    ],
                )
            )
            out.append(transfer_lines[to_store][-1])
        for to_store, incoming in arriving.items():
            buyer = by_store[to_store]
            total = sum((qty for _, qty in incoming), ZERO)
            senders = ", ".join(f"{qty:.0f} from {_store_label(sender)}" for sender, qty in incoming)
            new_qty = buys[to_store]
            buyer.explanation.append(
                f"Transfers in: {senders} ({total:.0f} in all). Still needed after on hand, on order and "
                f"transfers: {max(buyer.result.raw_quantity - total, ZERO):.1f}; rounded up to cases of "
                f"{buyer.case_pack}: buy {new_qty:.0f} instead of {buyer.quantity:.0f}."
            )
            for line in transfer_lines[to_store]:
                line.explanation.append(
                    f"With {total:.0f} coming in by transfer, {stores[to_store].code} buys {new_qty:.0f} instead "
                    f"of {buyer.quantity:.0f} (cases of {buyer.case_pack}); no more is moved than saves a case."
                )
            buyer.quantity = new_qty
    return out


def _cover_text(cover: float, *, on_hand, per_day: float) -> str:
    """ "120 days of cover", or in years when it is absurd for a shelf — with the figures behind it."""
    span = f"{cover:.0f} days" if cover < 365 else f"over {int(cover // 365)} year{'s' if cover >= 730 else ''}"
    rate = f"{on_hand:.0f} on hand at about {per_day:.2f} a day"
    return f"{span} of cover: {rate} (overstock above {policy.OVERSTOCK_DAYS} days)."


def _season_check(daily: list[float], last_year: float) -> dict | None:
    """The forecast's days against what the same days sold last year, when the season turns."""
    n = len(daily)
    ahead = float(sum(daily))
    if n == 0 or not policy.season_turning(last_year, ahead):
        return None
    return {"days": n, "last_year": last_year, "forecast": ahead, "halfway": policy.season_halfway(last_year, ahead)}


def _raised(daily: list[float], season: dict) -> list[float]:
    """The daily forecast scaled so that its season days add up to the halfway point (flat when it was 0)."""
    if season["forecast"] > 0:
        factor = season["halfway"] / season["forecast"]
        return [d * factor for d in daily]
    return [season["halfway"] / season["days"]] * len(daily)


def _alerts_for(level, result, lead, daily, last_sale, end, season=None) -> list[dict]:
    alerts = []
    week = daily[:7]
    per_day = sum(week) / len(week) if week else 0.0
    on_hand = level.on_hand
    cover = float(on_hand) / per_day if per_day > 0 else None
    common = {"store_id": level.store_id, "product_id": level.product_id, "on_hand": on_hand, "days_of_cover": cover}
    if result.forecast_lead_time > 0 and result.position < result.forecast_lead_time:
        run_out = "now" if cover is None else "within a day" if cover < 1 else f"in about {cover:.0f} days"
        alerts.append(
            {
                **common,
                "kind": StockAlert.Kind.STOCKOUT_RISK,
                "severity": 1,
                "message": f"Runs out {run_out}; a new order takes {lead} days to arrive.",
            }
        )
    elif result.forecast_lead_time > 0 and result.position <= result.reorder_point:
        alerts.append(
            {
                **common,
                "kind": StockAlert.Kind.LOW_STOCK,
                "severity": 2,
                "message": f"Position {result.position:.0f} at or below the reorder point {result.reorder_point:.0f}.",
            }
        )
    if season and season["quantity"] > 0:  # acting on it would buy something
        alerts.append(
            {
                **common,
                "kind": StockAlert.Kind.SEASON,
                "severity": 2,
                "message": (
                    f"The same {season['days']} days last year sold {season['last_year']:.0f}; the forecast says "
                    f"{season['forecast']:.0f} and you hold {result.position:.0f} with what is on order. A season "
                    f"coming back? Ordering for it (halfway between the two) buys {season['quantity']:.0f}."
                ),
            }
        )
    if on_hand > 0 and (last_sale is None or (end - last_sale).days > policy.DEAD_STOCK_DAYS):
        since = f"since {last_sale:%d %b %Y}" if last_sale else "ever"
        alerts.append(
            {
                **common,
                "kind": StockAlert.Kind.DEAD_STOCK,
                "severity": 3,
                "message": f"{on_hand:.0f} on the shelf and no sale {since}.",
            }
        )
    elif cover is not None and cover > policy.OVERSTOCK_DAYS and on_hand > 2 * result.order_up_to:
        alerts.append(
            {
                **common,
                "kind": StockAlert.Kind.OVERSTOCK,
                "severity": 3,
                "message": _cover_text(cover, on_hand=on_hand, per_day=per_day),
            }
        )
    return alerts


def reorder_suggestions_build(*, store_ids: list[int] | None = None, run: ForecastRun | None = None) -> dict:
    """Replace the open suggestions and the alerts of the stores with a fresh plan (atomic).

    Accepted suggestions and those already on a purchase order are kept; a pair with an accepted line
    gets no new one. Given a ``run`` and no stores (a run has just finished): the stores it forecast for
    which it is the latest forecast — a run of one store leaves the others' lines alone, and a run made
    as of an earlier day (to score it later) changes none."""
    if store_ids is None:
        store_ids = list(Store.objects.filter(active=True).values_list("pk", flat=True))
        if run is not None:
            latest = selectors.latest_run_by_store(store_ids)
            store_ids = [s for s in store_ids if latest[s] == run]
            if not store_ids:
                return {"suggestions": 0, "alerts": 0, "messages": [f"Run #{run.pk} is not the latest forecast."]}
    plan = reorder_plan(store_ids=store_ids, run=run)
    with transaction.atomic():
        ReorderSuggestion.objects.filter(store_id__in=store_ids, status=ReorderSuggestion.Status.OPEN).update(
            status=ReorderSuggestion.Status.SUPERSEDED
        )
        accepted = set(
            ReorderSuggestion.objects.filter(
                store_id__in=store_ids, status=ReorderSuggestion.Status.ACCEPTED
            ).values_list("store_id", "product_id", "kind")
        )
        rows = []
        for ln in plan.lines:
            if ln.quantity <= 0 or (ln.store_id, ln.product_id, ln.kind) in accepted:
                continue
            rows.append(_suggestion_from(ln, plan.run))
        ReorderSuggestion.objects.bulk_create(rows)
        _alerts_replace(store_ids, plan.alerts)
    return {"suggestions": len(rows), "alerts": len(plan.alerts), "messages": plan.messages}


def _alerts_replace(store_ids: list[int], alerts: list[dict]) -> None:
    StockAlert.objects.filter(store_id__in=store_ids).delete()
    StockAlert.objects.bulk_create([StockAlert(**a) for a in alerts], ignore_conflicts=True)


def stock_alerts_refresh(*, store_ids: list[int]) -> int:
    """Recompute the alerts of these stores from their stock now and the latest forecast (suggestions are
    left as they are). Returns the number of alerts."""
    plan = reorder_plan(store_ids=store_ids)
    with transaction.atomic():
        _alerts_replace(store_ids, plan.alerts)
    return len(plan.alerts)


def _suggestion_from(ln: PlanLine, run) -> ReorderSuggestion:
    r = ln.result
    return ReorderSuggestion(
        kind=ln.kind,
        run=run,
        store_id=ln.store_id,
        product_id=ln.product_id,
        supplier_id=ln.supplier_id,
        source_store_id=ln.source_store_id,
        on_hand=ln.on_hand,
        on_order=ln.on_order,
        lead_time_days=ln.lead_time,
        review_period_days=ln.review,
        service_level=r.service_level,
        forecast_lead_time=r.forecast_lead_time,
        forecast_review=r.forecast_review,
        forecast_error=ln.forecast_error,
        safety_stock=r.safety_stock,
        reorder_point=r.reorder_point,
        order_up_to=r.order_up_to,
        raw_quantity=r.raw_quantity,
        suggested_qty=ln.quantity,
        quantity=ln.quantity,
        unit_cost=ln.unit_cost,
        cash_needed=ln.cash,
        margin_at_risk=r.margin_at_risk if ln.kind == ReorderSuggestion.Kind.PURCHASE else ZERO,
        in_budget=ln.in_budget,
        explanation=ln.explanation,
    )


def season_order(*, store_id: int, product_id: int, actor) -> ReorderSuggestion:
    """Order for a season coming back: the line planned on the forecast raised halfway to last year's same
    days, accepted (it goes on the next draft purchase order, and survives the nightly rebuild)."""
    key = (store_id, product_id)
    with transaction.atomic():
        # The stock level's row lock serialises two clicks on the same alert: the second finds the first's line.
        if not StockLevel.objects.select_for_update().filter(store_id=store_id, product_id=product_id).exists():
            raise ValidationError("This product has no stock level in this store.")
        pending = ReorderSuggestion.objects.filter(
            store_id=store_id, product_id=product_id, kind=ReorderSuggestion.Kind.PURCHASE
        )
        if pending.filter(status=ReorderSuggestion.Status.ACCEPTED).exists():
            raise ValidationError("An accepted line for this product is waiting for its purchase order: edit that one.")
        plan = reorder_plan(store_ids=[store_id], for_season=frozenset([key]))
        line = next((ln for ln in plan.lines if (ln.store_id, ln.product_id) == key), None)
        if line is None:
            raise ValidationError("Nothing is reordered for this product here (inactive, or not stocked goods).")
        if line.season is None:
            raise ValidationError(
                "Last year's same days did not sell clearly more than the forecast: nothing to raise."
            )
        if line.quantity <= 0:
            raise ValidationError("Stock and open orders already cover the season at the halfway point.")
        pending.filter(status=ReorderSuggestion.Status.OPEN).update(status=ReorderSuggestion.Status.SUPERSEDED)
        suggestion = _suggestion_from(line, plan.run)
        suggestion.status, suggestion.decided_by, suggestion.decided_at = (
            ReorderSuggestion.Status.ACCEPTED,
            actor,
            timezone.now(),
        )
        suggestion.suggested_qty = line.season["base_quantity"]  # what the forecast alone asked for
        suggestion.edit_reason = "Ordered for the season coming back (halfway to last year's same days)."
        suggestion.save()
        StockAlert.objects.filter(kind=StockAlert.Kind.SEASON, store_id=store_id, product_id=product_id).delete()
    return suggestion


def suggestions_budget_apply(*, store_ids: list[int], budget: Decimal) -> str:
    """Mark which open purchase suggestions fit a cash budget (most margin protected per unit of cash)."""
    budget = Decimal(budget)
    if budget < 0:
        raise ValidationError("A budget cannot be negative.")
    with transaction.atomic():
        open_rows = list(
            ReorderSuggestion.objects.select_for_update().filter(
                store_id__in=store_ids, kind=ReorderSuggestion.Kind.PURCHASE, status=ReorderSuggestion.Status.OPEN
            )
        )
        picked, message = policy.budget_pick([(s.pk, s.cash_needed, s.margin_at_risk) for s in open_rows], budget)
        ReorderSuggestion.objects.filter(pk__in=[s.pk for s in open_rows]).update(in_budget=False)
        ReorderSuggestion.objects.filter(pk__in=picked).update(in_budget=True)
    return message


def _decide(suggestion: ReorderSuggestion, allowed: set[str]) -> ReorderSuggestion:
    locked = ReorderSuggestion.objects.select_for_update().get(pk=suggestion.pk)
    if locked.status not in allowed:
        raise ValidationError(f"This suggestion is already {locked.get_status_display()}.")
    return locked


def suggestion_accept(*, suggestion: ReorderSuggestion, actor) -> ReorderSuggestion:
    with transaction.atomic():
        s = _decide(suggestion, {ReorderSuggestion.Status.OPEN})
        if s.quantity <= 0:
            raise ValidationError("A line with quantity 0 cannot be accepted; dismiss it instead.")
        s.status, s.decided_by, s.decided_at = ReorderSuggestion.Status.ACCEPTED, actor, timezone.now()
        s.save(update_fields=["status", "decided_by", "decided_at"])
    return s


def suggestion_edit(*, suggestion: ReorderSuggestion, actor, quantity, reason: str) -> ReorderSuggestion:
    """Change the quantity (a reason is required) and accept the line."""
    try:
        quantity = Decimal(str(quantity))
    except Exception as exc:  # noqa: BLE001
        raise ValidationError("Enter a quantity as a number.") from exc
    if quantity <= 0 or quantity != quantity.to_integral_value():
        raise ValidationError("The quantity must be a whole number above 0 (dismiss the line to order nothing).")
    if quantity > 1_000_000:
        raise ValidationError("That quantity is not plausible.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Say why you changed the quantity.")
    with transaction.atomic():
        s = _decide(suggestion, {ReorderSuggestion.Status.OPEN, ReorderSuggestion.Status.ACCEPTED})
        s.quantity = quantity
        s.cash_needed = (quantity * s.unit_cost).quantize(Decimal("0.01"))
        s.edit_reason = reason[:200]
        s.status, s.decided_by, s.decided_at = ReorderSuggestion.Status.ACCEPTED, actor, timezone.now()
        s.save(update_fields=["quantity", "cash_needed", "edit_reason", "status", "decided_by", "decided_at"])
    return s


def suggestion_dismiss(*, suggestion: ReorderSuggestion, actor, reason: str = "") -> ReorderSuggestion:
    with transaction.atomic():
        s = _decide(suggestion, {ReorderSuggestion.Status.OPEN, ReorderSuggestion.Status.ACCEPTED})
        s.status, s.decided_by, s.decided_at = ReorderSuggestion.Status.DISMISSED, actor, timezone.now()
        s.edit_reason = (reason or "").strip()[:200] or s.edit_reason
        s.save(update_fields=["status", "decided_by", "decided_at", "edit_reason"])
    return s


def purchase_orders_from_suggestions(*, actor, store_ids: list[int]) -> list[PurchaseOrder]:
    """Turn accepted purchase suggestions into draft purchase orders, one per supplier × store (atomic).

    Each suggestion is locked and moved to ORDERED with its order, so a double click creates nothing twice."""
    with transaction.atomic():
        accepted = list(
            ReorderSuggestion.objects.select_for_update(of=("self",))
            .filter(
                store_id__in=store_ids, kind=ReorderSuggestion.Kind.PURCHASE, status=ReorderSuggestion.Status.ACCEPTED
            )
            .select_related("product", "supplier")
            .order_by("store_id", "product_id")
        )
        if not accepted:
            raise ValidationError("No accepted purchase line to order: accept or edit some suggestions first.")
        groups = defaultdict(list)
        no_supplier = []
        for s in accepted:
            supplier_id = s.supplier_id or s.product.supplier_id
            if supplier_id is None:
                no_supplier.append(s.product.sku)
                continue
            groups[(supplier_id, s.store_id)].append(s)
        if no_supplier:
            raise ValidationError(
                f"These products have no supplier, so no order can be drafted: {', '.join(no_supplier)}."
            )
        orders = []
        today = timezone.localdate()
        for (supplier_id, store_id), items in sorted(groups.items()):
            lead = max(s.lead_time_days for s in items)
            order = PurchaseOrder.objects.create(
                supplier_id=supplier_id,
                store_id=store_id,
                status=PurchaseOrder.Status.DRAFT,
                created_by=actor,
                expected_date=today + timedelta(days=lead),
                note="Drafted from reorder suggestions.",
            )
            merged: defaultdict[int, Decimal] = defaultdict(lambda: ZERO)
            costs = {}
            for s in items:
                merged[s.product_id] += s.quantity
                costs[s.product_id] = s.unit_cost or s.product.cost_price
            PurchaseOrderLine.objects.bulk_create(
                [
                    PurchaseOrderLine(order=order, product_id=pid, quantity_ordered=qty, unit_cost=costs[pid])
                    for pid, qty in sorted(merged.items())
                ]
            )
            ReorderSuggestion.objects.filter(pk__in=[s.pk for s in items]).update(
                status=ReorderSuggestion.Status.ORDERED, purchase_order=order
            )
            orders.append(order)
    return orders


def transfers_from_suggestions(*, actor, store_ids: list[int]) -> list[ReorderSuggestion]:
    """Move the stock of accepted transfer suggestions into the stores of `store_ids` (atomic, all or none).

    Each line posts a transfer-out at the store with the surplus and a transfer-in here (inventory's
    stock_transfer_post) and becomes MOVED; the lines are locked, so a double click moves nothing twice.
    The sending store must be one the actor may see, and must still hold the quantity."""
    visible = set(stores_visible(user=actor).values_list("pk", flat=True))
    with transaction.atomic():
        accepted = list(
            ReorderSuggestion.objects.select_for_update(of=("self",))
            .filter(
                store_id__in=store_ids, kind=ReorderSuggestion.Kind.TRANSFER, status=ReorderSuggestion.Status.ACCEPTED
            )
            .select_related("product", "store", "source_store")
            .order_by("store_id", "product_id")
        )
        if not accepted:
            raise ValidationError("No accepted transfer to move: accept some transfer lines first.")
        for s in accepted:
            if s.source_store_id not in visible:
                raise ValidationError(f"{s.product.sku}: the sending store is not one you may move stock from.")
            # A transfer line always has a sending store (source_store_id is in `visible`, checked above).
            if not policy.stores_can_transfer(s.source_store, s.store):
                raise ValidationError(
                    f"{s.product.sku}: {_store_label(s.source_store)} cannot move stock to {_store_label(s.store)} "
                    f"(another chain, currency or transfer group); dismiss the line."
                )
            stock_transfer_post(
                from_store_id=s.source_store_id,
                to_store_id=s.store_id,
                product=s.product,
                quantity=s.quantity,
                actor=actor,
                source_type="forecasting.reordersuggestion",
                source_id=s.pk,
                reason="Rebalancing suggestion.",
            )
        ReorderSuggestion.objects.filter(pk__in=[s.pk for s in accepted]).update(status=ReorderSuggestion.Status.MOVED)
    # every transfer line has a sending store: no None among the ids
    touched: list[int] = sorted({s.store_id for s in accepted} | {s.source_store_id for s in accepted})
    try:  # the stock has moved (committed); the alerts of both ends follow it
        stock_alerts_refresh(store_ids=touched)
    except Exception:  # noqa: BLE001 — stale alerts must not undo or hide a move that happened
        log.warning("alerts of stores %s not refreshed after a transfer", touched, exc_info=True)
    return accepted


def purchase_order_warnings(*, orders: list[PurchaseOrder]) -> list[str]:
    """Orders below their supplier's minimum order value."""
    out = []
    for order in orders:
        total = sum((ln.quantity_ordered * ln.unit_cost for ln in order.lines.all()), ZERO)
        minimum = order.supplier.min_order_value
        if minimum and total < minimum:
            out.append(
                f"PO #{order.pk} to {order.supplier} is {total:.2f}, below the supplier's minimum of {minimum:.2f}."
            )
    return out


# --------------------------------------------------------------------------------------------------
# On-demand forecast (API predict beyond a run) and the owners' digest
# --------------------------------------------------------------------------------------------------


def series_forecast_now(*, store: Store, product: Product, horizon: int, end: date | None = None):
    """Forecast one series now with the fast models (no write): for horizons a run does not cover."""
    horizon = engine.validate_horizon(horizon)
    end = end or _history_end([store.pk])
    pairs = [(store.pk, product.pk)]
    # As a run reads it: last year's same weeks too, and the calendar over the history and the horizon.
    days = engine.history_days_with_calendar(engine.FAST_MODELS, engine.DEFAULT_WINDOWS) + 14
    sales = selectors.demand_history_frame(pairs=pairs, end=end, days=days)
    stock = selectors.stock_delta_frame(pairs=pairs, end=end)
    demand = engine.prepare_demand(sales, stock=stock, end=end)
    calendar = retail_calendar.calendar_frame(
        pairs=pairs, start=end - timedelta(days=days - 1), end=end + timedelta(days=horizon)
    )
    result = engine.forecast_frame(
        demand, horizon=horizon, calendar=calendar, groups=selectors.series_groups_frame(pairs=pairs)
    )
    return result, end


def series_forecast_predict(*, store: Store, product: Product, horizon: int) -> dict:
    """The daily forecast the API serves for one series (no write): the latest run's when it covers the
    horizon (:func:`selectors.series_forecast_stored`), else fitted now with the fast models, else — never
    sold in this store — zeros from the day after the last complete day, said so. Returns {source ("run" |
    "on demand"), run (id or None), info (model, reason and, when known, the accuracy figures), days}."""
    stored = selectors.series_forecast_stored(store=store, product=product, horizon=horizon)
    if stored:
        return stored
    result, _end = series_forecast_now(store=store, product=product, horizon=horizon)
    uid = selectors.series_id(store.pk, product.pk)
    fc = result.forecasts[result.forecasts["unique_id"] == uid]
    days = [
        {"date": d.date(), "yhat": float(y), "lo": float(lo), "hi": float(hi)}
        for d, y, lo, hi in zip(fc["ds"], fc["yhat"], fc["lo"], fc["hi"], strict=True)
    ]
    info = result.chosen.get(uid) or {"model": "zero", "reason": "No sales history: forecast zero."}
    if not days:  # never sold here (a new store): say so with zeros rather than nothing
        info = {"model": "zero", "reason": "No sales history in this store: forecast zero."}
        start = _history_end([store.pk]) + timedelta(days=1)
        days = [{"date": start + timedelta(days=i), "yhat": 0.0, "lo": 0.0, "hi": 0.0} for i in range(horizon)]
    return {"source": "on demand", "run": None, "info": info, "days": days}


DIGEST_CHART_CID = "trend"
SUBJECT_WORDS: dict[str, tuple[str, str]] = {  # kind → (one, many) for the digest's subject line
    StockAlert.Kind.STOCKOUT_RISK: ("stockout risk", "stockout risks"),
    StockAlert.Kind.LOW_STOCK: ("low stock", "low stock"),
    StockAlert.Kind.SEASON: ("season coming back", "seasons coming back"),
}


def _subject_count(kind: str, n: int) -> str:
    one, many = SUBJECT_WORDS.get(kind, (kind, kind))
    return f"{n} {one if n == 1 else many}"


def digest_render(*, user, preview: bool = False) -> dict | None:
    """The morning e-mail of one owner: {subject, text, html, png}; None when they have no alert (no e-mail
    is sent). ``preview``: rendered for the browser, whatever the alerts, with the chart inline as data."""
    ctx = selectors.digest_context(user=user)
    if not ctx["alerts_total"] and not preview:
        return None
    urgent = ", ".join(_subject_count(c["kind"], c["n"]) for c in ctx["act_counts"]) or "nothing urgent"
    png = charts.trend_png(ctx["trend"], forecast=ctx["ahead"], title="Units sold and forecast")
    ctx.update(
        user=user,
        subject=f"RetailOps stock alerts · {ctx['yesterday']:%a %-d %b}: {urgent}",
        show_costs=user_can_see_costs(user=user),
        site_url=settings.RETAILOPS["SITE_URL"].rstrip("/"),
        chart_src=f"data:image/png;base64,{base64.b64encode(png).decode()}" if preview else f"cid:{DIGEST_CHART_CID}",
        preview=preview,
    )
    return {
        "subject": ctx["subject"],
        "text": render_to_string("forecasting/email/digest.txt", ctx),
        "html": render_to_string("forecasting/email/digest.html", ctx),
        "png": png,
    }


def alerts_digest_send() -> int:
    """E-mail each owner the morning digest of the stores they see (Django e-mail; console backend by
    default): yesterday's sales, the alerts to act on, the reorder lines waiting, and a chart of sales and
    forecast (inline in the HTML part, attached for plain-text readers). An owner with no alert gets none.
    Returns how many were sent."""
    sent = 0
    for user in selectors.digest_recipients():
        digest = digest_render(user=user)
        if digest is None:
            continue
        mail = EmailMultiAlternatives(digest["subject"], digest["text"], None, [user.email])
        mail.attach_alternative(digest["html"], "text/html")
        chart = MIMEImage(digest["png"])
        chart.add_header("Content-ID", f"<{DIGEST_CHART_CID}>")
        chart.add_header("Content-Disposition", "inline", filename="sales-and-forecast.png")
        mail.attach(chart)
        mail.mixed_subtype = "related"
        sent += mail.send(fail_silently=False)
    return sent
