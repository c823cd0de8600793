"""Celery tasks of the sales app: thin, idempotent wrappers over sales.services, passing ids."""

from __future__ import annotations

import logging

from celery import shared_task
from kombu.exceptions import OperationalError

from .models import ImportBatch
from .services import customer_tiers_requalify, import_batch_preview, sales_import, watch_folder_scan

logger = logging.getLogger("retailops.sales")


@shared_task(name="sales.import_sales", acks_late=True)
def import_sales_task(batch_id: int) -> str:
    """Run an import batch. Safe to retry: a finished batch is left alone, a stopped one resumes."""

    batch = sales_import(batch_id=batch_id)
    return batch.status


@shared_task(name="sales.import_sales_preview", acks_late=True)
def import_sales_preview_task(batch_id: int) -> str:
    """Preview an uploaded batch (what it would post and create), writing nothing. Safe to retry."""

    batch = import_batch_preview(batch_id=batch_id)
    return batch.status


@shared_task(name="sales.watch_folder_scan")
def watch_folder_scan_task() -> list[int]:
    """Beat task: import files dropped into settings.RETAILOPS["WATCH_FOLDER"] (no-op when unset)."""

    return watch_folder_scan()


def import_sales_enqueue(*, batch_id: int, preview: bool = False) -> bool:
    """Queue the import (or, with preview, the preview) of a batch. False (and the batch says why) when the
    broker cannot be reached."""

    task = import_sales_preview_task if preview else import_sales_task
    try:
        task.apply_async(args=[batch_id], retry=True, retry_policy={"max_retries": 2, "interval_start": 0})
    except (OperationalError, OSError, ConnectionError) as exc:
        logger.warning("import batch %s could not be queued: %s", batch_id, exc)
        ImportBatch.objects.filter(pk=batch_id).update(
            message="The import could not be queued: the task queue (broker) is not reachable. Your file is "
            "saved with this batch; press “Run again” once the worker and broker are back."
        )
        return False
    return True


@shared_task(name="customers.requalify_tiers")
def requalify_tiers_task() -> dict:
    """Move customers up or down to the tier their trailing spend earns (nightly; the beat entry keeps the
    customers.* name it was created with). Lives in sales: the spend is read from the receipts."""

    return customer_tiers_requalify()
