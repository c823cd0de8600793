"""Signs of life of the background processes, and the figures the health page, /healthz/ and /metrics read.

- Each Celery worker writes its `Heartbeat` row (role "worker", its hostname) when it is ready and then every
  `WORKER_BEAT_SECONDS` from a daemon thread of its main process (the thread dies with the process: kill -9 or a
  freeze stops the beats). A worker not seen for `WORKER_DOWN_AFTER` counts as down.
- Beat writes its row (role "beat") each time it sends the outbox relay (every 10 s, retailops/migrations/0002):
  `before_task_publish` in the beat process only. No tick for `BEAT_DOWN_AFTER`: beat is down.
- Failed and retried tasks (signals task_failure / task_retry) are kept as `TaskEvent` rows for `KEEP_EVENTS`.
- The broker is probed (queue lengths through kombu's connection, with the broker's 2 s timeouts) at most once per
  `BROKER_CHECK_SECONDS` per process, so a frozen broker costs a poller one timeout every few seconds, not each call.

The signal handlers are connected in retailops/celery.py. Imports no app.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from .models import Heartbeat, TaskEvent

log = logging.getLogger("retailops.heartbeat")

WORKER_BEAT_SECONDS = 30
WORKER_DOWN_AFTER = timedelta(minutes=2)  # four missed beats
BEAT_DOWN_AFTER = timedelta(minutes=2)  # twelve missed relays (every 10 s)
KEEP_EVENTS = timedelta(days=7)
EVENTS_WINDOW = timedelta(hours=24)
BEAT_TASK = "retailops.outbox_relay"
BROKER_CHECK_SECONDS = 5.0
QUEUES = ("interactive", "heavy")

# --- writing: workers, beat, task events -------------------------------------------------------------------------


def heartbeat_record(*, role: str, name: str, queues: str = "", started: bool = False) -> None:
    """Upsert the process's row: last seen now (and, when it has just started, its start time)."""
    now = timezone.now()
    defaults = {"last_seen": now, "queues": queues[:200]} if queues else {"last_seen": now}
    if started:
        defaults["started_at"] = now
    Heartbeat.objects.update_or_create(role=role, name=name[:200], defaults=defaults)


class WorkerPulse:
    """A worker's heartbeat thread: a beat now, then every `every` seconds until `stop()`; old task events and
    login logs are pruned at each beat. A failed beat (database away) is logged and tried again at the next one."""

    def __init__(self, name: str, queues: str = "", *, every: float = WORKER_BEAT_SECONDS):
        self.name, self.queues, self.every = name, queues, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retailops-worker-heartbeat", daemon=True)

    def beat(self, *, started: bool = False) -> None:
        try:
            heartbeat_record(role=Heartbeat.Role.WORKER, name=self.name, queues=self.queues, started=started)
            task_events_prune()
            login_logs_prune()
        except Exception:  # noqa: BLE001 — a missed beat is tried again; the worker carries on
            log.warning("worker heartbeat failed", exc_info=True)

    def _run(self) -> None:
        started = True
        while True:
            self.beat(started=started)
            connection.close()  # this thread keeps no idle database connection between beats
            started = False
            if self._stop.wait(self.every):
                return

    def start(self) -> WorkerPulse:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


_process: dict = {"pulse": None, "is_beat": False}  # this process's heartbeat thread; whether it is beat


def worker_pulse_start(consumer) -> None:
    """worker_ready: start this worker's heartbeat thread (once per process)."""
    if _process["pulse"] is not None:
        return
    name = getattr(consumer, "hostname", None) or socket.gethostname()
    try:
        queues = ",".join(sorted(q.name for q in consumer.task_consumer.queues))
    except Exception:  # noqa: BLE001 — the queues are shown for information only
        queues = ""
    _process["pulse"] = WorkerPulse(name, queues).start()


def worker_pulse_stop() -> None:
    """worker_shutdown: stop the thread (the row stays: its age tells when the worker was last seen)."""
    pulse, _process["pulse"] = _process["pulse"], None
    if pulse is not None:
        pulse.stop()


def beat_started() -> None:
    """beat_init: this process is beat; its ticks are recorded from now on."""
    _process["is_beat"] = True
    beat_tick(started=True)


def beat_tick(*, started: bool = False) -> None:
    """Beat sent (or tried to send) the outbox relay: record the tick. Never stops beat."""
    try:
        heartbeat_record(role=Heartbeat.Role.BEAT, name=socket.gethostname(), started=started)
    except Exception:  # noqa: BLE001 — a missed tick is recorded at the next one
        log.warning("beat tick not recorded", exc_info=True)


def beat_publishing(task_name: str | None) -> None:
    """before_task_publish: in the beat process, the outbox relay going out is beat's tick."""
    if _process["is_beat"] and task_name == BEAT_TASK:
        beat_tick()


def task_event_record(*, kind: str, task_name: str, task_id: str | None, exc: BaseException | None) -> None:
    """task_failure / task_retry: keep a row (in a savepoint, so a failing task's broken transaction in eager mode
    cannot break it). Never raises."""
    error = f"{type(exc).__name__}: {exc}" if exc is not None else ""
    try:
        with transaction.atomic():
            TaskEvent.objects.create(
                kind=kind, task_name=task_name[:200], task_id=(task_id or "")[:100], error=error[:300]
            )
    except DatabaseError:
        log.warning("task event not recorded: %s %s", task_name, kind, exc_info=True)


def task_events_prune() -> int:
    return TaskEvent.objects.filter(at__lt=timezone.now() - KEEP_EVENTS).delete()[0]


def login_logs_prune() -> int:
    """django-axes keeps a row for every login (AccessLog) for ever: keep RETAILOPS_LOGIN_LOG_DAYS days of them.
    Failed attempts (AccessAttempt) are axes' own to expire: they are the lock-out counter."""
    from axes.models import AccessLog  # noqa: PLC0415 — axes' models load with the apps, not with this module

    keep = timedelta(days=settings.RETAILOPS["LOGIN_LOG_DAYS"])
    return AccessLog.objects.filter(attempt_time__lt=timezone.now() - keep).delete()[0]


# --- reading: one figure, one function ---------------------------------------------------------------------------


def _age(moment: datetime | None, now: datetime | None = None) -> float | None:
    if moment is None:
        return None
    return max(0.0, ((now or timezone.now()) - moment).total_seconds())


@dataclass
class ProcessSeen:
    name: str
    queues: str
    started_at: datetime
    last_seen: datetime
    age_seconds: float
    up: bool


def workers_seen() -> list[ProcessSeen]:
    """Every worker that ever beat (pruned after KEEP_EVENTS without a beat), most recently seen first."""
    now = timezone.now()
    Heartbeat.objects.filter(role=Heartbeat.Role.WORKER, last_seen__lt=now - KEEP_EVENTS).delete()
    rows = Heartbeat.objects.filter(role=Heartbeat.Role.WORKER).order_by("-last_seen", "name")
    return [
        ProcessSeen(
            name=r.name,
            queues=r.queues,
            started_at=r.started_at,
            last_seen=r.last_seen,
            age_seconds=_age(r.last_seen, now) or 0.0,
            up=now - r.last_seen <= WORKER_DOWN_AFTER,
        )
        for r in rows
    ]


def worker_last_seen() -> datetime | None:
    """The newest heartbeat of any worker."""
    return Heartbeat.objects.filter(role=Heartbeat.Role.WORKER).aggregate(m=Max("last_seen"))["m"]


def worker_is_up(last_seen: datetime | None) -> bool:
    return last_seen is not None and timezone.now() - last_seen <= WORKER_DOWN_AFTER


def beat_last_tick() -> datetime | None:
    return Heartbeat.objects.filter(role=Heartbeat.Role.BEAT).aggregate(m=Max("last_seen"))["m"]


def beat_is_up(last_tick: datetime | None) -> bool:
    return last_tick is not None and timezone.now() - last_tick <= BEAT_DOWN_AFTER


@dataclass
class TaskEvents:
    failed: int
    retried: int
    recent: list[TaskEvent] = field(default_factory=list)


def task_events_24h(*, recent: int = 10) -> TaskEvents:
    """Tasks failed and retried in the last 24 h, and the latest of them."""
    since = timezone.now() - EVENTS_WINDOW
    rows = TaskEvent.objects.filter(at__gte=since)
    counts = rows.aggregate(
        failed=Count("id", filter=Q(kind=TaskEvent.Kind.FAILED)),
        retried=Count("id", filter=Q(kind=TaskEvent.Kind.RETRIED)),
    )
    return TaskEvents(failed=counts["failed"], retried=counts["retried"], recent=list(rows[:recent]))


@dataclass
class BrokerProbe:
    up: bool
    queues: dict[str, int | None]  # None: not known (the broker did not answer)
    checked_at: float


_probe: dict[str, BrokerProbe | None] = {"last": None}


def broker_probe(*, fresh: bool = False) -> BrokerProbe:
    """Whether the broker answers, and how many messages wait on each queue (Redis: LLEN; the filesystem broker:
    its files). One probe per BROKER_CHECK_SECONDS in this process; a down or frozen broker costs one timeout
    (2 s: the broker's socket timeouts, settings BROKER_SOCKET_TIMEOUT)."""
    last = _probe["last"]
    if not fresh and last is not None and time.monotonic() - last.checked_at < BROKER_CHECK_SECONDS:
        return last
    queues: dict[str, int | None] = dict.fromkeys(QUEUES)
    up = True
    try:
        with current_app.connection_for_read() as conn:
            channel = conn.default_channel
            for queue in QUEUES:
                queues[queue] = int(channel._size(queue))  # kombu's virtual transports: Redis LLEN, files counted
    except Exception:  # noqa: BLE001 — any error: the broker does not answer
        up = False
        queues = dict.fromkeys(QUEUES)
    probe = BrokerProbe(up=up, queues=queues, checked_at=time.monotonic())
    _probe["last"] = probe
    return probe


def broker_probe_forget() -> None:
    """Forget the cached probe (tests)."""
    _probe["last"] = None
