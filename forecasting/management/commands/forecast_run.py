"""manage.py forecast_run [--store CODE …] [--horizon DAYS] [--models m,…] [--as-of YYYY-MM-DD] [--inline]
manage.py forecast_run --resume [--inline | --resend]

Start a forecast run (the same as the Forecasts page's button), or resume the unfinished ones: each lost
chunk is sent to the workers once — not a chunk done, one a worker is computing (live lease), or one whose
message waits in the outbox or was already published (--resend sends those published again too, for a
broker that lost its queues); a chunk whose worker stopped is re-queued as the sweeper would.

``--as-of`` forecasts from the sales up to an earlier day only: once the days after it are over, the Accuracy
page scores what it said against what sold (how far to trust the forecasts, with no need to wait weeks after
importing a shop's history); it does not replace the current forecast. With --inline the chunks are computed
here, in this process, with no worker or broker (a cron job, or a machine where the worker is down)."""

import argparse
from datetime import date

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from forecasting import services
from forecasting.models import ForecastChunk, ForecastRun
from inventory.selectors import store_ids_by_code


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a day written like 2026-11-30") from None


class Command(BaseCommand):
    help = "Start a forecast run, or resume unfinished runs (--resume); --inline computes it in this process."

    def add_arguments(self, parser):
        parser.add_argument("--store", action="append", default=[], help="Store code (repeatable; default all).")
        parser.add_argument("--horizon", type=int, default=28, help="Days ahead (1–366).")
        parser.add_argument("--models", default="", help="Comma-separated candidate models (default: the usual set).")
        parser.add_argument("--resume", action="store_true", help="Finish the runs that are pending or running.")
        parser.add_argument("--inline", action="store_true", help="Compute the chunks here instead of in a worker.")
        parser.add_argument(
            "--resend",
            action="store_true",
            help="With --resume: send again also the chunks whose message was published (the broker lost it).",
        )
        parser.add_argument(
            "--as-of",
            type=_day,
            default=None,
            metavar="YYYY-MM-DD",
            help="Forecast from the sales up to this day only (default: yesterday); scored on the Accuracy page.",
        )

    def handle(self, *args, **opts):
        if opts["resume"]:
            runs = list(ForecastRun.objects.filter(status__in=[ForecastRun.Status.PENDING, ForecastRun.Status.RUNNING]))
            if not runs:
                self.stdout.write("No unfinished forecast run.")
            for run in runs:
                self._finish(run, inline=opts["inline"], resend=opts["resend"])
            return
        store_ids = None
        if opts["store"]:
            store_ids, missing = store_ids_by_code(opts["store"])
            if missing:
                raise CommandError(f"Unknown store(s): {', '.join(missing)}")
        models = [m.strip() for m in opts["models"].split(",") if m.strip()] or None
        try:
            run = services.forecast_run_start(
                horizon_days=opts["horizon"],
                store_ids=store_ids,
                models=models,
                history_end=opts["as_of"],
                trigger="as-of" if opts["as_of"] else "command",
                dispatch=False,
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"Run #{run.pk}: {run.series_total} series in {run.chunks_total} chunk(s).")
        if run.chunks_total:
            self._finish(run, inline=opts["inline"])

    def _finish(self, run: ForecastRun, *, inline: bool, resend: bool = False) -> None:
        if not inline:
            sent = services.forecast_run_dispatch(run_id=run.pk, resend=resend)
            self.stdout.write(f"Run #{run.pk}: {sent} chunk(s) sent to the workers.")
            run.refresh_from_db()
            if run.message == services.QUEUED_MESSAGE:
                self.stdout.write(
                    f"Run #{run.pk}: the task queue is down; its chunks go when it is back (or use --inline)."
                )
            return
        for chunk_id in (
            ForecastChunk.objects.filter(run=run, done=False).order_by("number").values_list("pk", flat=True)
        ):
            try:
                services.forecast_chunk_process(chunk_id=chunk_id)
            except Exception as exc:  # noqa: BLE001 — the chunk's series are reported failed, the run goes on
                services.forecast_chunk_fail(chunk_id=chunk_id, error=f"{type(exc).__name__}: {exc}")
            self.stdout.write(f"  chunk {chunk_id} done")
        run.refresh_from_db()
        self.stdout.write(f"Run #{run.pk}: {run.get_status_display().lower()} — {run.message}")
