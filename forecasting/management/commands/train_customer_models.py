"""Train and score the customer models now, in this process: `manage.py train_customer_models [--as-of DAY]`.

With --as-of the run sees only sales up to that day (to fit on the past and score on what followed); a run as
of an earlier day is kept apart and never replaces the predictions the pages read."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from customers.models import CustomerModelRun
from forecasting.customer_models import model_run_create, model_run_execute


class Command(BaseCommand):
    help = "Train and score the customer models (spend, churn, discount, stockout exposure)."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", dest="as_of", help="Train on sales up to this day (YYYY-MM-DD).")

    def handle(self, *args, as_of=None, **options):
        day = None
        if as_of:
            try:
                day = date.fromisoformat(as_of)
            except ValueError as exc:
                raise CommandError(f"--as-of must be a day written YYYY-MM-DD, not “{as_of}”.") from exc
            if day > timezone.localdate():
                raise CommandError(f"--as-of {day} is in the future: there are no sales after today to train on.")
        run, created = model_run_create(trigger=CustomerModelRun.Trigger.COMMAND, as_of=day)
        if not created:
            raise CommandError(f"Run #{run.pk} is already {run.get_status_display()}: wait for it to finish.")
        run = model_run_execute(run_id=run.pk)
        if run.status != CustomerModelRun.Status.DONE:
            raise CommandError(f"Run #{run.pk} {run.get_status_display()}: {run.message}")
        self.stdout.write(
            f"Run #{run.pk} done{' (as of ' + str(day) + ', kept apart)' if run.backdated else ''}: {run.message}"
        )
