"""The Celery application. Tasks are discovered in each app's tasks.py.

A worker that becomes ready (first start, or a restart after an outage) runs the outbox relay once, so the work
queued while it or the broker was away is published without waiting for beat."""

import logging
import os

from celery import Celery
from celery.signals import beat_init, before_task_publish, task_failure, task_retry, worker_ready, worker_shutdown
from django.db import connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "retailops.settings")

app = Celery("retailops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

log = logging.getLogger("retailops.outbox")


@worker_ready.connect(dispatch_uid="retailops_outbox_relay_on_worker_ready")
def relay_when_ready(sender=None, **kwargs) -> None:
    """Publish what accumulated in the outbox; never stop the worker from starting."""
    from .outbox import outbox_relay  # noqa: PLC0415 — the outbox's models need the app registry, ready only now

    try:
        published = outbox_relay()
        log.info("worker ready: the outbox relay published %s queued task(s)", published)
    except Exception:  # noqa: BLE001 — the beat relay tries again in 10 s
        log.warning("worker ready: the outbox relay failed", exc_info=True)
    finally:
        connections.close_all()  # the worker's main process keeps no idle database connection


# --- signs of life (retailops/heartbeat.py: the health page, /healthz/ and /metrics read them) ----------------------
# The handlers import retailops.heartbeat when called: its models need the app registry, ready only by then.


@worker_ready.connect(dispatch_uid="retailops_worker_heartbeat_start")
def worker_heartbeat_start(sender=None, **kwargs) -> None:
    from .heartbeat import worker_pulse_start  # noqa: PLC0415 — models need the app registry

    worker_pulse_start(sender)


@worker_shutdown.connect(dispatch_uid="retailops_worker_heartbeat_stop")
def worker_heartbeat_stop(sender=None, **kwargs) -> None:
    from .heartbeat import worker_pulse_stop  # noqa: PLC0415 — models need the app registry

    worker_pulse_stop()


@beat_init.connect(dispatch_uid="retailops_beat_started")
def beat_started(sender=None, **kwargs) -> None:
    from .heartbeat import beat_started as started  # noqa: PLC0415 — models need the app registry

    started()


@before_task_publish.connect(dispatch_uid="retailops_beat_tick")
def beat_tick(sender=None, **kwargs) -> None:
    from .heartbeat import beat_publishing  # noqa: PLC0415 — models need the app registry

    beat_publishing(sender)


@task_failure.connect(dispatch_uid="retailops_task_failed")
def task_failed(sender=None, task_id=None, exception=None, **kwargs) -> None:
    from .heartbeat import task_event_record  # noqa: PLC0415 — models need the app registry

    task_event_record(kind="failed", task_name=getattr(sender, "name", str(sender)), task_id=task_id, exc=exception)


@task_retry.connect(dispatch_uid="retailops_task_retried")
def task_retried(sender=None, request=None, reason=None, **kwargs) -> None:
    from .heartbeat import task_event_record  # noqa: PLC0415 — models need the app registry

    exc = reason if isinstance(reason, BaseException) else None
    task_id = getattr(request, "id", None)
    task_event_record(kind="retried", task_name=getattr(sender, "name", str(sender)), task_id=task_id, exc=exc)
