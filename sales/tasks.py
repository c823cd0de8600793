"""Celery tasks of the sales app: thin, idempotent wrappers over sales.services, passing ids."""

from __future__ import annotations

import logging

from celery import shared_task

from retailops.outbox import Enqueued, outbox_enqueue

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


def import_sales_enqueue(*, batch_id: int, preview: bool = False) -> Enqueued:
    """Queue the import (or, with preview, the preview) of a batch through the outbox (one unsent message per
    batch and kind). Always true: the work is durably queued. When the broker could not take it yet
    (`.published` is False) the batch says it will start by itself when the task queue is back."""

    task_name = "sales.import_sales_preview" if preview else "sales.import_sales"
    key = f"import-preview:{batch_id}" if preview else f"import:{batch_id}"
    queued = outbox_enqueue(task_name, batch_id, key=key)
    if queued.published is False:
        logger.warning("import batch %s waits in the outbox: the broker is not reachable", batch_id)
        ImportBatch.objects.filter(pk=batch_id).update(
            message="Queued: the import will start when the task queue is back — nothing to do."
        )
    return queued


@shared_task(name="customers.requalify_tiers")
def requalify_tiers_task() -> dict:
    """Move customers up or down to the tier their trailing spend earns (nightly; the beat entry keeps the
    customers.* name it was created with). Lives in sales: the spend is read from the receipts."""

    return customer_tiers_requalify()
