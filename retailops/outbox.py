"""The task outbox: work that must not be lost is written to the database first, then published to the broker.

`outbox_enqueue` writes an `OutboxMessage` in the caller's transaction (so it commits or rolls back with the run,
import or e-mail it belongs to) and, once that commits, tries to publish it once, fast. When the broker is down or
frozen the row waits and `outbox_relay` publishes it later (beat every 10 s, and each worker when it starts).

A circuit breaker remembers a failed publish for `BREAKER_SECONDS` (in this process and in the shared cache), so
only the first request after an outage pays the connect timeout; the next ones skip the broker and return at once.

Imports no app: tasks are named, never imported.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from celery import current_app
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from .models import OutboxMessage

log = logging.getLogger("retailops.outbox")

BREAKER_SECONDS = 15
BREAKER_CACHE_KEY = "retailops:outbox:broker-down-until"
KEEP_SENT = timedelta(days=7)
BACKOFF_MAX_SECONDS = 60

# Process-local state of the breaker: wall-clock seconds until which the broker (or the cache) counts as down.
_state = {"broker_down_until": 0.0, "cache_down_until": 0.0}


@dataclass
class Enqueued:
    """What `outbox_enqueue` did. Always true: the work is durably queued. `published` is None until the caller's
    transaction commits, then True (the broker took it) or False (it waits for the relay)."""

    message_id: int
    published: bool | None = None

    def __bool__(self) -> bool:
        return True

    # `sum(enqueue(...) for ...)` counts queued messages, as it counted True values before the outbox.
    def __add__(self, other: object) -> int:
        return 1 + int(other)  # type: ignore[call-overload]

    __radd__ = __add__


# --- circuit breaker --------------------------------------------------------------------------------------------


def _cache_call(method: str, *args: object) -> object:
    """A call to the shared cache that never raises and, after a failure, is skipped for BREAKER_SECONDS (the
    cache may live on the same Redis as the broker: a frozen one must not cost a timeout per request)."""
    if _state["cache_down_until"] > time.time():
        return None
    try:
        return getattr(cache, method)(*args)
    except Exception:  # noqa: BLE001 — an unreachable cache only means the breaker is not shared
        _state["cache_down_until"] = time.time() + BREAKER_SECONDS
        log.warning("cache unreachable: the broker circuit breaker is process-local for %s s", BREAKER_SECONDS)
        return None


def broker_is_up() -> bool:
    """False while a recent publish failed (here or, through the cache, in another process). No network call
    when this process already knows the broker is down."""
    now = time.time()
    if _state["broker_down_until"] > now:
        return False
    until = _cache_call("get", BREAKER_CACHE_KEY)
    if isinstance(until, int | float) and until > now:
        _state["broker_down_until"] = until
        return False
    return True


def breaker_forget() -> None:
    """Forget, in this process, what the breaker knew (the test suite calls it before each test)."""
    _state["broker_down_until"] = _state["cache_down_until"] = 0.0


def _breaker_trip() -> None:
    until = time.time() + BREAKER_SECONDS
    _state["broker_down_until"] = until
    _cache_call("set", BREAKER_CACHE_KEY, until, BREAKER_SECONDS + 1)


def _breaker_reset() -> None:
    _state["broker_down_until"] = 0.0
    _cache_call("delete", BREAKER_CACHE_KEY)


# --- writing and publishing -------------------------------------------------------------------------------------


def _in_callers_transaction() -> bool:
    """True inside an atomic block of the caller's (a test case's own wrapping block does not count, as with
    Django's durable check): then publishing waits for the commit."""
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_MAX_SECONDS, 2**attempts))


def _locked(queryset: QuerySet[OutboxMessage]) -> QuerySet[OutboxMessage]:
    """Rows another publisher holds are skipped (PostgreSQL), so each message is published once."""
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True)
    return queryset.select_for_update()


def _send(message: OutboxMessage) -> None:
    """Publish one message, no retries: the relay is the retry. Raises when the broker cannot take it."""
    current_app.send_task(message.task_name, args=list(message.args), queue=message.queue or None, retry=False)


def _record_failure(message: OutboxMessage, exc: BaseException) -> None:
    message.attempts += 1
    message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    message.next_attempt_at = timezone.now() + _backoff(message.attempts)
    message.save(update_fields=["attempts", "last_error", "next_attempt_at"])


def _run_eager(message_ids: list[int]) -> tuple[int, bool]:
    """Eager mode (tests, `CELERY_TASK_ALWAYS_EAGER`): mark each message sent, then run its task here, as
    `task.delay()` would. Returns (how many ran, whether all ran without raising)."""
    app = current_app
    ran, ok = 0, True
    for message in OutboxMessage.objects.filter(pk__in=message_ids).order_by("pk"):
        if not OutboxMessage.objects.filter(pk=message.pk, sent_at__isnull=True).update(
            sent_at=timezone.now(), attempts=F("attempts") + 1
        ):
            continue  # already sent by someone else
        ran += 1
        try:
            if message.task_name not in app.tasks:
                # a web process has not imported the apps' tasks modules yet: register them first
                app.autodiscover_tasks(force=True)
            app.tasks[message.task_name].delay(*message.args)
        except Exception as exc:  # noqa: BLE001 — a failing task must not break the page that asked (as before)
            ok = False
            log.warning("eager task %s%s failed", message.task_name, tuple(message.args), exc_info=True)
            OutboxMessage.objects.filter(pk=message.pk).update(last_error=f"{type(exc).__name__}: {exc}"[:2000])
    return ran, ok


def _publish_once(result: Enqueued) -> None:
    """After commit: try to publish the message once, fast; else leave it to the relay."""
    if current_app.conf.task_always_eager:
        result.published = _run_eager([result.message_id])[1]
        return
    if not broker_is_up():
        result.published = False
        return
    with transaction.atomic():
        message = _locked(OutboxMessage.objects.filter(pk=result.message_id, sent_at__isnull=True)).first()
        if message is None:  # sent meanwhile (the relay), or rolled back
            result.published = OutboxMessage.objects.filter(pk=result.message_id, sent_at__isnull=False).exists()
            return
        try:
            _send(message)
        except Exception as exc:  # noqa: BLE001 — a down or frozen broker must not break the page that asked
            log.warning("broker unreachable, %s waits in the outbox: %s", message, exc)
            _breaker_trip()
            _record_failure(message, exc)
            result.published = False
            return
        message.sent_at = timezone.now()
        message.attempts += 1
        message.save(update_fields=["sent_at", "attempts"])
    result.published = True


def outbox_enqueue(task_name: str, *args: object, queue: str | None = None, key: str | None = None) -> Enqueued:
    """Queue the task registered as `task_name` with positional `args` (ids, never objects) on `queue` (None: the
    task's route or the default queue). The row is written in the caller's transaction; it is published after
    commit (at once outside a transaction). With a `key` that already has an unsent message, no second row."""
    payload = list(args)
    with transaction.atomic():  # a savepoint: a lost race on the key must not break the caller's transaction
        message = OutboxMessage.objects.filter(key=key, sent_at__isnull=True).first() if key else None
        if message is None:
            try:
                with transaction.atomic():
                    message = OutboxMessage.objects.create(
                        task_name=task_name, args=payload, queue=queue or "", key=key
                    )
            except IntegrityError:  # another transaction wrote the key's unsent row first
                message = OutboxMessage.objects.get(key=key, sent_at__isnull=True)
    result = Enqueued(message_id=message.pk)
    if _in_callers_transaction():
        transaction.on_commit(lambda: _publish_once(result))
    else:
        _publish_once(result)
    return result


def outbox_relay(*, limit: int = 500, ids: list[int] | None = None) -> int:
    """Publish unsent messages that are due (or, with `ids`, those messages now), oldest first; stop at the first
    broker error (the broker is down: no point trying the rest). Deletes sent messages older than 7 days.
    Returns how many were published."""
    now = timezone.now()
    OutboxMessage.objects.filter(sent_at__lt=now - KEEP_SENT).delete()
    due = OutboxMessage.objects.filter(sent_at__isnull=True)
    due = due.filter(pk__in=ids) if ids is not None else due.filter(next_attempt_at__lte=now)
    if current_app.conf.task_always_eager:
        return _run_eager(list(due.order_by("pk").values_list("pk", flat=True)[:limit]))[0]
    published = 0
    with transaction.atomic():
        for message in _locked(due.order_by("pk"))[:limit]:
            try:
                _send(message)
            except Exception as exc:  # noqa: BLE001 — any publish error: the broker is down, try again later
                log.warning("outbox relay: broker unreachable after %s published: %s", published, exc)
                _breaker_trip()
                _record_failure(message, exc)
                break
            message.sent_at = timezone.now()
            message.attempts += 1
            message.save(update_fields=["sent_at", "attempts"])
            published += 1
    if published:
        _breaker_reset()
        log.info("outbox relay published %s message(s)", published)
    return published
