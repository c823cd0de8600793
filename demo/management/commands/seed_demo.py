"""`manage.py seed_demo`: load the deterministic demo chain (see demo.load)."""

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError

from demo.load import DemoResetRefused, demo_config, demo_database_empty, demo_load, demo_reset
from forecasting.customer_models import model_run_start
from forecasting.services import forecast_run_start


class Command(BaseCommand):
    help = (
        "Load the demo retail chain: 15 stores in 5 chains, 100 products, 2,000 customers and about three "
        "years of daily sales, purchases, counts and loyalty points, with one demo login per role."
    )

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when any store already exists.")
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Wipe the project's tables and demo users first; refused on a database holding non-demo data.",
        )
        parser.add_argument(
            "--i-know-this-deletes-real-data",
            action="store_true",
            dest="force_reset",
            help="With --reset: wipe even a database that holds stores, imports or receipts the demo did not make.",
        )
        parser.add_argument("--scale", type=int, default=1, help="Multiply stores, customers and receipts (≥ 1).")
        parser.add_argument("--seed", type=int, default=2026, help="Random seed (same seed, same chain).")
        parser.add_argument(
            "--end-date", type=date.fromisoformat, help="Last trading day, YYYY-MM-DD (default: yesterday)."
        )
        parser.add_argument("--years", type=float, default=3.0, help="Years of trading history (default 3).")
        parser.add_argument(
            "--queue-models",
            action="store_true",
            help="After loading, queue a first forecast run and customer-model training for the Celery worker.",
        )

    def handle(self, *args, **options):
        if options["scale"] < 1:
            raise CommandError("--scale must be 1 or more.")
        if not 0.1 <= options["years"] <= 10:
            raise CommandError("--years must be between 0.1 and 10.")
        if options["if_empty"] and not demo_database_empty():
            self.stdout.write("The database already holds stores: the demo chain was not loaded (--if-empty).")
            return
        if options["force_reset"] and not options["reset"]:
            raise CommandError("--i-know-this-deletes-real-data goes with --reset.")
        if options["reset"]:
            try:
                demo_reset(force=options["force_reset"])
            except DemoResetRefused as refused:
                raise CommandError(f"seed_demo --reset refused, nothing was deleted. {refused}") from refused
            self.stdout.write("Wiped the project's tables and the demo users.")
        elif not demo_database_empty():
            raise CommandError("The database already holds stores. Use --reset to replace them, or --if-empty.")
        config = demo_config(
            scale=options["scale"], seed=options["seed"], end_date=options["end_date"], years=options["years"]
        )
        self.stdout.write(
            f"Loading the demo chain (scale {options['scale']}, seed {config.seed}, "
            f"{config.first_day} to {config.last_day}) …"
        )
        summary = demo_load(config=config, log=self.stdout.write)
        for line in summary.lines():
            self.stdout.write(line)
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("Demo logins (user / password):"))
        for username, password, role in summary.logins:
            self.stdout.write(f"  {username:<11} {password:<22} {role}")
        if summary.pos_tokens:
            self.stdout.write(self.style.SUCCESS("POS device API tokens (user pos-<store code>, its own store only):"))
            for code, key in summary.pos_tokens.items():
                self.stdout.write(f"  {code:<8} {key}")
        if options["queue_models"]:
            self._queue_models()

    def _queue_models(self):
        """Give the demo forecasts, reorder suggestions and customer predictions as soon as the worker starts."""

        run = forecast_run_start(trigger="demo")
        customer_run, queued = model_run_start()
        # What the nightly runs of the last four weeks would have said, made from the sales before each night:
        # the Accuracy page scores them against what sold, as it will score real nights from tomorrow on.
        past = [
            forecast_run_start(history_end=run.history_end - timedelta(weeks=k), trigger="as-of") for k in (1, 2, 3, 4)
        ]
        self.stdout.write(
            f"Queued forecast run #{run.pk} ({run.series_total} series) and customer-model run #{customer_run.pk}"
            f"{'' if queued else ' (not queued: ' + customer_run.message + ')'}; the worker picks them up in a few "
            "minutes and the Forecasts and Reorder pages fill in. Then runs "
            f"{', '.join(f'#{r.pk}' for r in past)} forecast as of each of the last four weeks, for the Accuracy page."
        )
