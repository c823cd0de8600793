"""Celery tasks of the customer models: thin, idempotent wrappers over forecasting.customer_models, passing ids.

They keep the names they were registered with in customers/tasks.py ("customers.…"): beat schedules in the
database and queued messages use them. Celery discovers only tasks.py, so ForecastingConfig.ready imports
this module."""

from celery import shared_task

from customers.models import CustomerModelRun

from .customer_models import model_run_create, model_run_execute


@shared_task(name="customers.train_customer_models")
def train_customer_models_task(run_id: int) -> str:
    """Execute one training run (a run already done or running is left alone)."""
    return model_run_execute(run_id=run_id).status


@shared_task(name="customers.train_customer_models_nightly")
def train_customer_models_nightly_task() -> str:
    """Nightly: create a run (or reuse the pending one) and execute it in this worker."""
    run, _ = model_run_create(trigger=CustomerModelRun.Trigger.NIGHTLY)
    return model_run_execute(run_id=run.pk).status
