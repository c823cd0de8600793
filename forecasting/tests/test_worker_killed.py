"""A forecast run survives a real Celery worker being killed in the middle of a chunk.

Two worker processes on Redis and the test's PostgreSQL database: the first is killed (SIGKILL, no
chance to clean up) while it computes a chunk; its message, taken but never acknowledged (acks_late),
goes back on the queue after the broker's visibility timeout and a second worker finishes the run.
Nothing is written twice.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import date

import pytest
from django.conf import settings
from django.db import connection

from forecasting import services
from forecasting.models import DemandForecast, ForecastAccuracy, ForecastChunk, ForecastRun
from forecasting.tasks import forecast_chunk_task
from inventory.tests.factories import ProductFactory, StoreFactory

from .factories import sales_days

END = date(2025, 3, 31)
VISIBILITY_SECONDS = 3  # how long a taken message waits for its acknowledgement before it is delivered again


def _worker(queue: str) -> subprocess.Popen:
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        # The worker reads and writes the test's database (committed data: transactional test).
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "RETAILOPS_BROKER_VISIBILITY_SECONDS": str(VISIBILITY_SECONDS),
    }
    command = [sys.executable, "-m", "celery", "-A", "retailops", "worker", "--pool", "solo", "-Q", queue]
    command += ["--without-heartbeat", "--without-mingle", "--without-gossip", "--loglevel", "WARNING"]
    return subprocess.Popen(
        command, cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _stop(worker: subprocess.Popen) -> str:
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
    return worker.stdout.read() if worker.stdout else ""


def _wait(condition, *, seconds: float, what: str, worker: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        if worker is not None and worker.poll() is not None:
            pytest.fail(f"the worker exited while waiting for {what}: {_stop(worker)}")
        time.sleep(0.05)
    pytest.fail(f"timed out after {seconds} s waiting for {what}")


@pytest.mark.redis
def test_a_run_finishes_once_when_its_worker_is_killed_mid_chunk(transactional_db, require_postgres, require_redis):
    # given a run of 12 series in 3 chunks, its messages on a private queue no other worker reads
    stores = [StoreFactory(code=f"K{i}") for i in range(2)]
    products = [ProductFactory() for _ in range(6)]
    for s in stores:
        for i, p in enumerate(products):
            sales_days(store=s, product=p, units=[(d % 7) + i + 1 for d in range(120)], end=END)
    run = services.forecast_run_start(horizon_days=14, chunk_size=4, models=["seasonal_naive", "ets"], dispatch=False)
    chunk_ids = list(ForecastChunk.objects.filter(run=run).order_by("number").values_list("pk", flat=True))
    assert len(chunk_ids) == 3
    queue = f"forecast-kill-{uuid.uuid4().hex[:8]}"
    connection.close()  # the workers open their own connections; this one is reopened when needed

    first = _worker(queue)
    try:
        for chunk_id in chunk_ids:
            forecast_chunk_task.apply_async(args=[chunk_id], queue=queue)
        # when the first worker has started a chunk (its attempt is recorded) and is killed before it is done
        started = ForecastChunk.objects.filter(run=run, attempts__gt=0, done=False)
        _wait(started.exists, seconds=120, what="the first worker to start a chunk", worker=first)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        _stop(first)
    killed = ForecastChunk.objects.get(run=run, attempts__gt=0, done=False)
    killed_pairs = {tuple(pair) for pair in killed.series}
    written = set(DemandForecast.objects.filter(run=run).values_list("store_id", "product_id").distinct())
    assert not killed_pairs & written  # the killed attempt left nothing behind

    # then a second worker, started once the taken message's visibility timeout has passed, gets it back
    time.sleep(VISIBILITY_SECONDS + 1)
    second = _worker(queue)
    try:
        run_done = ForecastRun.objects.filter(pk=run.pk, status=ForecastRun.Status.DONE).exists
        _wait(run_done, seconds=180, what="the run to finish on the second worker", worker=second)
    finally:
        log = _stop(second)

    run.refresh_from_db()
    killed.refresh_from_db()
    assert run.status == ForecastRun.Status.DONE, log
    assert (run.chunks_done, run.series_done, run.failed_series) == (3, 12, {})
    assert killed.done and killed.attempts == 2  # the killed attempt and the one that finished it
    # each series forecast exactly once: 14 days each, one chosen model each
    assert DemandForecast.objects.filter(run=run).count() == 12 * 14
    assert DemandForecast.objects.filter(run=run).values("store_id", "product_id", "date").distinct().count() == 12 * 14
    assert ForecastAccuracy.objects.filter(run=run, chosen=True).count() == 12
