"""The one way forecasting services hand work to Celery: by the task's registered name, so a service never
imports its tasks module (tasks import services, never the reverse — no import cycle, not even a lazy one)."""

from __future__ import annotations

import logging

from celery import current_app

log = logging.getLogger(__name__)


def enqueue(task_name: str, *args: object) -> bool:
    """Send the task registered as `task_name` with positional `args` (ids, never objects). Returns False (and
    logs a warning) when the broker cannot be reached: a down broker must not break the page that asked."""
    app = current_app
    try:
        if app.conf.task_always_eager:
            # send_task ignores eager mode: run the registered task here, as task.delay() would (a web
            # process has not imported the apps' tasks modules yet, so register them first).
            if task_name not in app.tasks:
                app.autodiscover_tasks(force=True)
            app.tasks[task_name].delay(*args)
        else:
            app.send_task(task_name, args=args)
        return True
    except Exception:  # noqa: BLE001 — a down broker must not break the page that asked
        log.warning("could not enqueue %s%s", task_name, args, exc_info=True)
        return False
