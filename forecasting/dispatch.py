"""The one way forecasting services hand work to Celery: by the task's registered name, so a service never
imports its tasks module (tasks import services, never the reverse — no import cycle, not even a lazy one).

A thin shim over the outbox (retailops.outbox): the message is written in the caller's transaction and published
after commit, or later by the relay when the broker is down."""

from __future__ import annotations

from retailops.outbox import Enqueued, outbox_enqueue

__all__ = ["Enqueued", "enqueue"]


def enqueue(task_name: str, *args: object, queue: str | None = None, key: str | None = None) -> Enqueued:
    """Queue the task registered as `task_name` with positional `args` (ids, never objects). The result is always
    true (the work is durably queued); its `.published` is False when the broker could not take it yet (the page
    says "queued; the worker will start it when the queue is back"), None until the caller's transaction commits.
    `queue` overrides the task's route ("interactive" / "heavy"); `key` keeps one unsent message per key."""
    return outbox_enqueue(task_name, *args, queue=queue, key=key)
