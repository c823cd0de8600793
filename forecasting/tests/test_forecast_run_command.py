"""manage.py forecast_run: start a run (or resume one) and compute it here with --inline, no worker."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from forecasting import services
from forecasting.models import DemandForecast, ForecastRun

from .test_tasks import chain  # noqa: F401 — the fixture: 2 stores × 3 products, 90 days of sales


def run_command(*args) -> str:
    out = StringIO()
    call_command("forecast_run", *args, stdout=out)
    return out.getvalue()


def test_inline_computes_a_whole_run_without_a_worker(chain):  # noqa: F811
    out = run_command("--inline", "--horizon", "7", "--models", "seasonal_naive,ets", "--store", "t0")
    run = ForecastRun.objects.get()
    assert run.status == ForecastRun.Status.DONE
    assert run.series_total == 3 and run.store_ids == [chain[0][0].pk]
    assert DemandForecast.objects.filter(run=run).count() == 3 * 7
    assert f"Run #{run.pk}: done" in out
    assert run.trigger == "command"


def test_resume_inline_finishes_a_run_whose_messages_were_lost(chain):  # noqa: F811
    run = services.forecast_run_start(horizon_days=7, chunk_size=4, models=["seasonal_naive"], dispatch=False)
    run_command("--resume", "--inline")
    run.refresh_from_db()
    assert (run.status, run.chunks_done, run.series_done) == (ForecastRun.Status.DONE, 2, 6)
    assert "No unfinished forecast run." in run_command("--resume", "--inline")  # nothing twice
    assert DemandForecast.objects.filter(run=run).count() == 6 * 7


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--store", "NOPE"], "Unknown store(s): NOPE"),
        (["--horizon", "400"], "at most 366 days"),
        (["--models", "magic"], "Unknown model(s): magic"),
    ],
)
def test_bad_arguments_say_why_and_start_nothing(chain, args, message):  # noqa: F811
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_command("--inline", *args)
    assert not ForecastRun.objects.exists()
