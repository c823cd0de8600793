"""Pipeline health: the figures of the health page (/reports/health/), /healthz/ and /metrics — one figure, one
function. Reads imports, rollups, forecast and customer-model runs, the task outbox, and the signs of life of the
Celery processes (retailops.heartbeat). Owners only (the page); /healthz/ reads `newest_sale_at` alone.

What counts as late (each a constant here or in retailops.heartbeat):
- an import waiting for a worker for more than IMPORT_WAIT_LATE, or running for more than IMPORT_RUN_LATE;
  the last import of a source failed;
- a store × day of the last ROLLUP_CHECK_DAYS with receipts but no daily rollup row;
- a forecast chunk or a customer-model run whose lease ran out (its worker stopped; the sweeper re-queues it),
  or a run waiting for a worker for more than RUN_WAIT_LATE; the last run failed;
- an outbox message waiting for more than OUTBOX_LATE (the broker is down, or beat's relay is not running);
- no worker seen for WORKER_DOWN_AFTER, no beat tick for BEAT_DOWN_AFTER, the broker not answering;
- no sale for SALE_STALE_AFTER: a warning only (a shop may be closed), never "down".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Max, Min, OuterRef, Subquery, Sum
from django.urls import reverse
from django.utils import timezone

from customers.models import CustomerModelRun
from forecasting.models import ForecastChunk, ForecastRun
from inventory.models import Store
from retailops import heartbeat
from retailops.models import OutboxMessage
from sales.models import ImportBatch, RollupChange, Sale, StoreDaily

IMPORT_WAIT_LATE = timedelta(minutes=15)
IMPORT_RUN_LATE = timedelta(hours=1)
RUN_WAIT_LATE = timedelta(minutes=15)
OUTBOX_LATE = timedelta(minutes=2)
ROLLUP_CHECK_DAYS = 7
SALE_STALE_AFTER = timedelta(hours=48)
IMPORTS_PER_SOURCE = 5

START_WORKER = "start one: `make run`, or the Procfile's `worker` and `worker_heavy`"


@dataclass
class Problem:
    """A red (or, for `warn`, amber) line: what is wrong, and where to act."""

    reason: str
    action: str = ""
    url: str = ""
    warn: bool = False


def _seconds(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return f"{int(delta.total_seconds())} s"
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"


# --- imports -----------------------------------------------------------------------------------------------------


@dataclass
class ImportRow:
    batch: ImportBatch
    duration_seconds: float | None
    rows_per_second: float | None
    url: str


@dataclass
class ImportSource:
    source: str
    label: str
    imports: list[ImportRow]


def imports_by_source(*, per_source: int = IMPORTS_PER_SOURCE) -> list[ImportSource]:
    """The last imports of each source (file upload, command line, API, watch folder) that has any."""
    out = []
    for value, label in ImportBatch.Source.choices:
        batches = ImportBatch.objects.filter(source=value).order_by("-created_at", "-id")[:per_source]
        rows = []
        for b in batches:
            duration = b.duration_seconds
            rate = b.rows_read / duration if duration and b.rows_read else None
            rows.append(ImportRow(b, duration, rate, reverse("sales:importbatch_detail", args=[b.pk])))
        if rows:
            out.append(ImportSource(value, label, rows))
    return out


def import_rows_total() -> dict[str, int]:
    """Rows read, accepted and rejected by every import kept (for /metrics)."""
    sums = ImportBatch.objects.aggregate(
        read=Sum("rows_read"), accepted=Sum("rows_accepted"), rejected=Sum("rows_rejected")
    )
    return {k: int(v or 0) for k, v in sums.items()}


def _import_problems(sources: list[ImportSource], now: datetime) -> list[Problem]:
    problems = []
    for source in sources:
        last = source.imports[0]
        if last.batch.status == ImportBatch.Status.FAILED:
            problems.append(Problem(f"{last.batch} ({source.label}) failed.", "Open it", last.url))
    late = ImportBatch.objects.filter(
        status=ImportBatch.Status.PENDING, created_at__lt=now - IMPORT_WAIT_LATE
    ) | ImportBatch.objects.filter(status=ImportBatch.Status.RUNNING, started_at__lt=now - IMPORT_RUN_LATE)
    for b in late.order_by("created_at")[:5]:
        since = b.started_at if b.status == ImportBatch.Status.RUNNING else b.created_at
        what = "has been running" if b.status == ImportBatch.Status.RUNNING else "has waited for a worker"
        problems.append(
            Problem(
                f"{b} {what} for {_seconds(now - since)}.",
                "Open it",
                reverse("sales:importbatch_detail", args=[b.pk]),
            )
        )
    return problems


# --- rollups -----------------------------------------------------------------------------------------------------


@dataclass
class RollupFreshness:
    last_change: RollupChange | None
    pending: list[tuple[str, object]]  # (store code, day) with receipts but no daily rollup
    checked_days: int = ROLLUP_CHECK_DAYS


def rollup_freshness() -> RollupFreshness:
    """The last closed day a change was logged for, and any store × day of the last week with receipts and no rollup
    row (rollups are written with each receipt, in its transaction: a pending day means they need a rebuild)."""
    since = timezone.localdate() - timedelta(days=ROLLUP_CHECK_DAYS)
    with_sales = set(Sale.objects.filter(local_date__gte=since).values_list("store_id", "local_date").distinct())
    rolled = set(StoreDaily.objects.filter(date__gte=since).values_list("store_id", "date").distinct())
    missing = sorted(with_sales - rolled, key=lambda pair: (pair[1], pair[0]))
    codes = dict(Store.objects.filter(pk__in={s for s, _ in missing}).values_list("pk", "code"))
    return RollupFreshness(
        last_change=RollupChange.objects.order_by("-id").first(),
        pending=[(codes.get(s, str(s)), d) for s, d in missing],
    )


# --- forecast and customer-model runs ----------------------------------------------------------------------------


@dataclass
class RunsSummary:
    label: str
    last_finished: object | None
    duration_seconds: float | None
    failed_series: int | None  # None: runs that have no series (customer models)
    running: int
    stuck: list[Problem] = field(default_factory=list)


def forecast_runs() -> RunsSummary:
    now = timezone.now()
    unfinished = (ForecastRun.Status.PENDING, ForecastRun.Status.RUNNING)
    last = ForecastRun.objects.exclude(status__in=unfinished).order_by("-finished_at", "-id").first()
    stuck = []
    lost = (
        ForecastChunk.objects.filter(done=False, lease_until__lt=now, run__status__in=unfinished)
        .values("run_id")
        .annotate(n=Count("id"), since=Min("lease_until"))
        .order_by("run_id")
    )
    for row in lost[:5]:
        stuck.append(
            Problem(
                f"Forecast run #{row['run_id']}: {row['n']} chunk(s) lost their worker {_seconds(now - row['since'])} "
                "ago (the sweeper re-queues them; if this stays, no worker takes them).",
                "Open the run",
                reverse("forecasting:run_detail", args=[row["run_id"]]),
            )
        )
    for run in ForecastRun.objects.filter(status=ForecastRun.Status.PENDING, created_at__lt=now - RUN_WAIT_LATE)[:5]:
        stuck.append(
            Problem(
                f"{run} has waited for a worker for {_seconds(now - run.created_at)} — {START_WORKER}.",
                "Open the run",
                reverse("forecasting:run_detail", args=[run.pk]),
            )
        )
    if last is not None and last.status == ForecastRun.Status.FAILED:
        stuck.append(Problem(f"{last} failed.", "Open the run", reverse("forecasting:run_detail", args=[last.pk])))
    return RunsSummary(
        label="Forecast runs",
        last_finished=last,
        duration_seconds=last.duration_seconds if last else None,
        failed_series=len(last.failed_series or {}) if last else 0,
        running=ForecastRun.objects.filter(status__in=unfinished).count(),
        stuck=stuck,
    )


def customer_model_runs() -> RunsSummary:
    now = timezone.now()
    status = CustomerModelRun.Status
    last = CustomerModelRun.objects.filter(status__in=(status.DONE, status.FAILED)).order_by("-finished_at", "-id")
    last = last.first()
    url = reverse("customer_reports:models")
    stuck = [
        Problem(f"{run}: its worker stopped {_seconds(now - run.lease_until)} ago.", "Open customer models", url)
        for run in CustomerModelRun.objects.filter(status=status.RUNNING, lease_until__lt=now)[:5]
    ]
    stuck += [
        Problem(f"{run} has waited for a worker for {_seconds(now - run.created_at)} — {START_WORKER}.", "Open", url)
        for run in CustomerModelRun.objects.filter(status=status.PENDING, created_at__lt=now - RUN_WAIT_LATE)[:5]
    ]
    if last is not None and last.status == status.FAILED:
        stuck.append(Problem(f"{last} failed: {last.message[:200]}", "Open customer models", url))
    duration = None
    if last is not None and last.started_at and last.finished_at:
        duration = (last.finished_at - last.started_at).total_seconds()
    return RunsSummary(
        label="Customer-model runs",
        last_finished=last,
        duration_seconds=duration,
        failed_series=None,
        running=CustomerModelRun.objects.filter(status__in=(status.PENDING, status.RUNNING)).count(),
        stuck=stuck,
    )


# --- outbox, sales -----------------------------------------------------------------------------------------------


@dataclass
class OutboxFigures:
    waiting: int
    oldest_age_seconds: float | None


def outbox_waiting() -> OutboxFigures:
    """Messages not yet published and the age of the oldest."""
    agg = OutboxMessage.objects.filter(sent_at__isnull=True).aggregate(n=Count("id"), oldest=Min("created_at"))
    age = (timezone.now() - agg["oldest"]).total_seconds() if agg["oldest"] else None
    return OutboxFigures(waiting=agg["n"], oldest_age_seconds=age)


def newest_sale_at() -> datetime | None:
    """When the newest sale took place: per store, the last of its newest day (the (store, day) index), then the
    latest of those."""
    newest = Sale.objects.filter(store=OuterRef("pk")).order_by("-local_date", "-occurred_at").values("occurred_at")
    return Store.objects.annotate(newest=Subquery(newest[:1])).aggregate(m=Max("newest"))["m"]


def newest_sale_age_seconds(moment: datetime | None = None) -> float | None:
    moment = moment if moment is not None else newest_sale_at()
    return None if moment is None else max(0.0, (timezone.now() - moment).total_seconds())


def sale_is_stale(age_seconds: float | None) -> bool:
    return age_seconds is None or age_seconds > SALE_STALE_AFTER.total_seconds()


# --- the whole page ----------------------------------------------------------------------------------------------


@dataclass
class PipelineHealth:
    imports: list[ImportSource]
    rollups: RollupFreshness
    runs: list[RunsSummary]
    outbox: OutboxFigures
    workers: list[heartbeat.ProcessSeen]
    worker_last_seen: datetime | None
    beat_last_tick: datetime | None
    broker: heartbeat.BrokerProbe
    tasks: heartbeat.TaskEvents
    newest_sale_at: datetime | None
    newest_sale_age_seconds: float | None
    problems: list[Problem]
    checked_at: datetime


def pipeline_health() -> PipelineHealth:
    now = timezone.now()
    sources = imports_by_source()
    rollups = rollup_freshness()
    runs = [forecast_runs(), customer_model_runs()]
    outbox = outbox_waiting()
    workers = heartbeat.workers_seen()
    worker_seen = heartbeat.worker_last_seen()
    beat_tick = heartbeat.beat_last_tick()
    broker = heartbeat.broker_probe()
    tasks = heartbeat.task_events_24h()
    sale_at = newest_sale_at()
    sale_age = newest_sale_age_seconds(sale_at)

    problems: list[Problem] = []
    if not broker.up:
        problems.append(
            Problem("The broker (Redis) does not answer: queued work waits in the outbox.", "See the README, 'Running'")
        )
    if worker_seen is None:
        problems.append(Problem(f"No worker has ever been seen — {START_WORKER}."))
    elif not heartbeat.worker_is_up(worker_seen):
        problems.append(Problem(f"No worker seen for {_seconds(now - worker_seen)} — {START_WORKER}."))
    elif any(not w.up for w in workers):  # one worker alive, another gone: its queue may have no worker left
        problems += [
            Problem(
                f"Worker {w.name} ({w.queues or 'its queues'}) not seen for {_seconds(now - w.last_seen)} — if no "
                "other worker takes its queue, start it (Procfile `worker` / `worker_heavy`).",
                warn=True,
            )
            for w in workers
            if not w.up
        ]
    if beat_tick is None:
        problems.append(Problem("Beat has never ticked — start it: `make run`, or the Procfile's `beat`."))
    elif not heartbeat.beat_is_up(beat_tick):
        problems.append(
            Problem(f"No beat tick for {_seconds(now - beat_tick)} — start it: `make run`, or the Procfile's `beat`.")
        )
    if outbox.oldest_age_seconds is not None and outbox.oldest_age_seconds > OUTBOX_LATE.total_seconds():
        problems.append(
            Problem(
                f"{outbox.waiting} task(s) wait in the outbox, the oldest for "
                f"{_seconds(timedelta(seconds=outbox.oldest_age_seconds))} (broker down or beat's relay stopped).",
                "Open the outbox",
                reverse("admin:retailops_outboxmessage_changelist"),
            )
        )
    if tasks.failed:
        problems.append(Problem(f"{tasks.failed} task(s) failed in the last 24 h.", "See them below", "#tasks"))
    problems += _import_problems(sources, now)
    if rollups.pending:
        store, day = rollups.pending[0]
        problems.append(
            Problem(
                f"{len(rollups.pending)} store × day(s) have receipts but no daily rollup (first: {store} on {day}).",
                "Rebuild them: `manage.py rebuild_rollups`",
            )
        )
    for summary in runs:
        problems += summary.stuck
    if sale_age is None:
        problems.append(Problem("No sale yet.", "Import sales", reverse("sales:importbatch_create"), warn=True))
    elif sale_is_stale(sale_age):
        problems.append(
            Problem(
                f"The newest sale is {_seconds(timedelta(seconds=sale_age))} old (fine if the shops are closed).",
                "Import sales",
                reverse("sales:importbatch_create"),
                warn=True,
            )
        )
    return PipelineHealth(
        imports=sources,
        rollups=rollups,
        runs=runs,
        outbox=outbox,
        workers=workers,
        worker_last_seen=worker_seen,
        beat_last_tick=beat_tick,
        broker=broker,
        tasks=tasks,
        newest_sale_at=sale_at,
        newest_sale_age_seconds=sale_age,
        problems=problems,
        checked_at=now,
    )


# --- /metrics ----------------------------------------------------------------------------------------------------


class HealthCollector:
    """The health page's figures as Prometheus gauges, read at scrape time from the same functions (no counters kept
    in a process: every web process answers the same)."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily  # noqa: PLC0415 — only a scrape needs the library

        def gauge(name: str, doc: str, value: float | None, labels: dict[str, str] | None = None):
            family = GaugeMetricFamily(name, doc, labels=list(labels or {}))
            if value is not None:
                family.add_metric(list((labels or {}).values()), value)
            return family

        now = timezone.now()
        outbox = outbox_waiting()
        yield gauge("retailops_outbox_waiting", "Outbox messages not yet published.", outbox.waiting)
        yield gauge(
            "retailops_outbox_oldest_age_seconds", "Age of the oldest unpublished message.", outbox.oldest_age_seconds
        )
        seen = heartbeat.worker_last_seen()
        yield gauge(
            "retailops_worker_last_seen_seconds",
            "Seconds since any Celery worker's last heartbeat.",
            None if seen is None else (now - seen).total_seconds(),
        )
        workers = heartbeat.workers_seen()
        yield gauge("retailops_workers_up", "Workers seen within the down threshold.", sum(w.up for w in workers))
        tick = heartbeat.beat_last_tick()
        yield gauge(
            "retailops_beat_last_tick_seconds",
            "Seconds since beat last sent the outbox relay.",
            None if tick is None else (now - tick).total_seconds(),
        )
        broker = heartbeat.broker_probe()
        yield gauge("retailops_broker_up", "1 when the broker answers.", 1 if broker.up else 0)
        queues = GaugeMetricFamily("retailops_queue_length", "Messages waiting on a Celery queue.", labels=["queue"])
        for queue, length in broker.queues.items():
            if length is not None:
                queues.add_metric([queue], length)
        yield queues
        tasks = heartbeat.task_events_24h(recent=0)
        yield gauge("retailops_tasks_failed_24h", "Celery tasks failed in the last 24 hours.", tasks.failed)
        yield gauge("retailops_tasks_retried_24h", "Celery tasks retried in the last 24 hours.", tasks.retried)
        yield gauge("retailops_newest_sale_age_seconds", "Age of the newest sale.", newest_sale_age_seconds())
        rows = GaugeMetricFamily("retailops_import_rows", "Rows of every import kept, by outcome.", labels=["outcome"])
        for outcome, n in import_rows_total().items():
            rows.add_metric([outcome], n)
        yield rows
        yield gauge(
            "retailops_rollup_days_pending",
            "Store × days with receipts and no rollup.",
            len(rollup_freshness().pending),
        )
        stuck = sum(len(r.stuck) for r in (forecast_runs(), customer_model_runs()))
        yield gauge("retailops_runs_needing_attention", "Forecast / customer-model runs stuck or failed.", stuck)
