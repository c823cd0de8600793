"""Celery tasks of the customers app: thin, idempotent wrappers over services, passing ids.

The tier requalification task ("customers.requalify_tiers") lives in sales/tasks.py, because it reads the
receipts' trailing spend; the customer-model training tasks live in forecasting/customer_tasks.py. Both keep
their "customers.…" names."""

from celery import shared_task

from .services import points_expire


@shared_task(name="customers.expire_points")
def expire_points_task() -> int:
    """Expire unused earned points past POINTS_EXPIRY_DAYS (idempotent for the same moment)."""
    return points_expire()
