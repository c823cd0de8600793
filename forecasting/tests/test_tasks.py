"""Runs as Celery work: chunking, idempotent chunks (delivered twice), retries, a failing chunk."""

from datetime import date, timedelta
from unittest import mock

import pytest
from celery.exceptions import Retry
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from forecasting import engine, services
from forecasting.models import DemandForecast, ForecastAccuracy, ForecastChunk, ForecastRun
from forecasting.tasks import forecast_chunk_task
from inventory.tests.factories import ProductFactory, StoreFactory

from .factories import sales_days

END = date(2025, 3, 31)
PATTERN = [3, 4, 5, 4, 6, 9, 7]


@pytest.fixture
def chain(db):
    stores = [StoreFactory(code=f"T{i}") for i in range(2)]
    products = [ProductFactory() for _ in range(3)]
    for s in stores:
        for p in products:
            sales_days(store=s, product=p, units=[PATTERN[i % 7] for i in range(90)], end=END)
    return stores, products


def _deliver(chunk_id):
    """What a worker does with a message: run it; on Retry, the broker delivers it again later."""
    for attempt in range(forecast_chunk_task.max_retries + 1):
        try:
            result = forecast_chunk_task.apply(args=[chunk_id], retries=attempt, throw=False)
        except Retry:
            continue
        if result.state != "RETRY":
            return result


def _run_all(run, times=1):
    for _ in range(times):
        for chunk_id in ForecastChunk.objects.filter(run=run).values_list("pk", flat=True):
            _deliver(chunk_id)


def test_run_is_split_into_chunks_and_each_chunk_delivered_twice_writes_once(chain):
    # given 6 series in chunks of 4
    run = services.forecast_run_start(horizon_days=7, chunk_size=4, models=["seasonal_naive", "ets"], dispatch=False)
    assert (run.series_total, run.chunks_total, run.history_end) == (6, 2, END)
    assert [len(c.series) for c in ForecastChunk.objects.filter(run=run)] == [4, 2]
    # when every chunk is delivered twice (a worker killed after finishing, acks_late)
    _run_all(run, times=2)
    # then the run is done, each series has 7 days, and nothing was written twice
    run.refresh_from_db()
    assert run.status == ForecastRun.Status.DONE
    assert (run.progress, run.chunks_done, run.series_done) == (100, 2, 6)
    assert DemandForecast.objects.filter(run=run).count() == 6 * 7
    assert ForecastAccuracy.objects.filter(run=run, chosen=True).count() == 6
    assert ForecastAccuracy.objects.filter(run=run).count() == 6 * 2
    assert run.message == "6 of 6 series forecast."
    # the sums behind pooled accuracy are stored with each row and agree with its wMAPE
    for acc in ForecastAccuracy.objects.filter(run=run, chosen=True):
        assert acc.units > 0 and acc.abs_error >= 0
        assert acc.abs_error / acc.units == pytest.approx(acc.wmape)
        assert acc.error / acc.units == pytest.approx(acc.bias)
        assert 0 <= acc.wmape_week <= acc.wmape + 1e-9  # a week's total errs no more than its days


def test_a_chunk_that_fails_once_is_retried(chain):
    run = services.forecast_run_start(horizon_days=7, chunk_size=10, models=["seasonal_naive"], dispatch=False)
    real = services._chunk_compute
    calls = {"n": 0}

    def flaky(*args):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("database went away")
        return real(*args)

    with mock.patch.object(services, "_chunk_compute", side_effect=flaky):
        _run_all(run)
    chunk = ForecastChunk.objects.get(run=run)
    assert (chunk.done, chunk.attempts) == (True, 2)
    run.refresh_from_db()
    assert run.status == ForecastRun.Status.DONE


def test_a_chunk_failing_for_good_marks_its_series_failed_and_the_run_finishes(chain):
    run = services.forecast_run_start(horizon_days=7, chunk_size=3, models=["seasonal_naive"], dispatch=False)
    first = ForecastChunk.objects.filter(run=run).first()
    real = services._chunk_compute

    def broken(run_, chunk):
        if chunk.pk == first.pk:
            raise ValueError("bad data")
        return real(run_, chunk)

    with mock.patch.object(services, "_chunk_compute", side_effect=broken):
        _run_all(run)
    run.refresh_from_db()
    assert run.status == ForecastRun.Status.PARTIAL
    assert sorted(run.failed_series) == sorted(f"{s}:{p}" for s, p in first.series)
    assert "3 of 6 series forecast; 3 failed" in run.message
    assert DemandForecast.objects.filter(run=run).count() == 3 * 7


def test_one_failing_series_is_named_and_the_others_finish(chain):
    stores, products = chain
    run = services.forecast_run_start(horizon_days=7, chunk_size=10, models=["seasonal_naive"], dispatch=False)

    real = engine._select_many
    bad = f"{stores[0].pk}:{products[0].pk}"

    def flaky(df, **kw):
        if bad in set(df["unique_id"]):
            raise FloatingPointError("no convergence")
        return real(df, **kw)

    with mock.patch.object(engine, "_select_many", side_effect=flaky):
        _run_all(run)
    run.refresh_from_db()
    assert run.status == ForecastRun.Status.PARTIAL
    assert run.failed_series == {bad: "FloatingPointError: no convergence"}
    assert DemandForecast.objects.filter(run=run).count() == 5 * 7


def test_bad_run_requests_are_refused(db):
    with pytest.raises(ValidationError, match="at most 366"):
        services.forecast_run_start(horizon_days=400)
    with pytest.raises(ValidationError, match="Unknown model"):
        services.forecast_run_start(models=["crystal_ball"])
    run = services.forecast_run_start(store_ids=[StoreFactory(code="NEW").pk], dispatch=False)
    assert run.status == ForecastRun.Status.DONE
    assert "Nothing to forecast" in run.message


def test_nightly_schedule_exists_in_beat(db):
    tasks = set(PeriodicTask.objects.values_list("task", flat=True))
    assert {"forecasting.tasks.forecast_nightly_task", "forecasting.tasks.alerts_digest_task"} <= tasks


def test_a_run_started_during_trading_reads_history_up_to_yesterday(db):
    # given a product with sales up to and including today (the tills are still open)
    store, product = StoreFactory(code="OPEN"), ProductFactory()
    today = timezone.localdate()
    sales_days(store=store, product=product, units=[PATTERN[i % 7] for i in range(60)], end=today)
    # when
    run = services.forecast_run_start(horizon_days=7, models=["seasonal_naive"], dispatch=False)
    # then today's half day is left out: the history ends yesterday and the forecast starts today
    assert run.history_end == today - timedelta(days=1)
