"""The Celery application. Tasks are discovered in each app's tasks.py.

A worker that becomes ready (first start, or a restart after an outage) runs the outbox relay once, so the work
queued while it or the broker was away is published without waiting for beat."""

import logging
import os

from celery import Celery
from celery.signals import worker_ready
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
