"""Celery tasks of the customers app: thin, idempotent wrappers over services, passing ids."""

from celery import shared_task


@shared_task(name="customers.train_customer_models")
def train_customer_models_task(run_id: int) -> str:
    """Execute one training run (a run already done or running is left alone)."""
    from .modelling import model_run_execute

    return model_run_execute(run_id=run_id).status


@shared_task(name="customers.train_customer_models_nightly")
def train_customer_models_nightly_task() -> str:
    """Nightly: create a run (or reuse the pending one) and execute it in this worker."""
    from .modelling import model_run_create, model_run_execute
    from .models import CustomerModelRun

    run, _ = model_run_create(trigger=CustomerModelRun.Trigger.NIGHTLY)
    return model_run_execute(run_id=run.pk).status


@shared_task(name="customers.expire_points")
def expire_points_task() -> int:
    """Expire unused earned points past POINTS_EXPIRY_DAYS (idempotent for the same moment)."""
    from .services import points_expire

    return points_expire()


@shared_task(name="customers.requalify_tiers")
def requalify_tiers_task() -> dict:
    """Move customers up or down to the tier their trailing spend earns."""
    from .services import tiers_requalify

    return tiers_requalify()
