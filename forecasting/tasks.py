"""Celery tasks of the forecasting app: thin, idempotent wrappers over services, passing ids. Tasks import the
services; services never import this module (they enqueue by task name through forecasting.dispatch)."""

from __future__ import annotations

import logging

from celery import shared_task

from . import customer_models, services
from .models import ForecastRun

log = logging.getLogger(__name__)
CHUNK_RETRIES = services.CHUNK_RETRIES


@shared_task(bind=True, acks_late=True, max_retries=CHUNK_RETRIES)
def forecast_chunk_task(self, chunk_id: int) -> None:
    """Forecast one chunk. Delivered twice (worker killed) → the second delivery skips it. After its
    retries, the chunk's series are reported failed and the run finishes without them."""
    try:
        services.forecast_chunk_process(chunk_id=chunk_id)
    except Exception as exc:
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=5 * (self.request.retries + 1)) from exc
        log.exception("forecast chunk %s failed after retries", chunk_id)
        services.forecast_chunk_fail(chunk_id=chunk_id, error=f"{type(exc).__name__}: {exc}")


@shared_task
def forecast_run_dispatch_task(run_id: int) -> int:
    return services.forecast_run_dispatch(run_id=run_id)


@shared_task
def forecast_nightly_task() -> int:
    """Beat: start tonight's run on every store (lost chunks of earlier runs are the sweeper's)."""
    return services.forecast_run_start(trigger="nightly").pk


@shared_task
def runs_sweep_task() -> dict:
    """Beat, every minute: re-queue forecast chunks and take over training runs whose worker stopped."""
    return {**services.chunks_sweep(), "training": customer_models.model_runs_sweep()}


@shared_task
def suggestions_build_task(run_id: int | None = None) -> dict:
    run = ForecastRun.objects.filter(pk=run_id).first() if run_id else None
    return services.reorder_suggestions_build(run=run)


@shared_task
def closing_days_detect_task() -> dict:
    """Beat, nightly before the forecast run: weekly closing days found in the sales history, for confirmation."""
    from .calendar import closing_days_detect  # noqa: PLC0415 — calendar imports pandas; load it in the task only

    return closing_days_detect()


@shared_task
def alerts_digest_task() -> int:
    return services.alerts_digest_send()
