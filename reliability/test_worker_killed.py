"""A forecast run survives a real Celery worker being killed (SIGKILL) in the middle of a chunk — in seconds, not
after the broker's hour-long visibility timeout.

Real processes on the test's PostgreSQL database and a private redis-server (port 6392): a worker, `celery beat`
(the DatabaseScheduler, the sweep every 2 s instead of 60 s) and `manage.py forecast_run --resume` to queue the
run. The first worker holds a 5 s lease on the chunk it computes; it is killed, its lease runs out, the sweeper
re-queues the chunk once and a second worker finishes the run. The visibility timeout stays 3600 s, so the
killed message itself never comes back during the test. Nothing is written twice.

Also used by reliability/test_training_killed.py (the same for a customer-model training run).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import date

import pytest
from django.conf import settings
from django.db import connection
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from forecasting import services
from forecasting.models import DemandForecast, ForecastAccuracy, ForecastChunk, ForecastRun
from forecasting.tests.factories import sales_days
from inventory.tests.factories import ProductFactory, StoreFactory
from retailops.testing import private_redis_server

END = date(2025, 3, 31)
REDIS_PORT = 6392
LEASE_SECONDS = 5  # the workers' lease (RETAILOPS_LEASE_SECONDS); renewed every third of it
SWEEP_SECONDS = 2  # beat sends the sweep this often here (60 s in production)
RECOVERY_LIMIT = 300  # the issue: "worker killed mid-run → run finishes within 5 minutes of a new worker"
SWEEP_TASK = "forecasting.tasks.runs_sweep_task"
RELAY_TASK = "retailops.outbox_relay"


@pytest.fixture
def private_redis():
    """A redis-server of this test's own on port 6392 (no persistence), stopped at the end."""
    with private_redis_server(REDIS_PORT, require=settings.REQUIRE_SERVICES):
        yield f"redis://127.0.0.1:{REDIS_PORT}/0"


def process_env(broker_url: str) -> dict[str, str]:
    """What every process of the test gets: the test's database (committed data: a transactional test), the
    private broker, the short lease and the production visibility timeout."""
    db = settings.DATABASES["default"]
    env = {k: v for k, v in os.environ.items() if k not in {"CELERY_TASK_ALWAYS_EAGER", "PYTEST_XDIST_WORKER"}}
    return {
        **env,
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": broker_url,
        "RETAILOPS_LEASE_SECONDS": str(LEASE_SECONDS),
        "RETAILOPS_BROKER_VISIBILITY_SECONDS": "3600",
        "DJANGO_SECRET_KEY": secrets.token_hex(32),
        "RETAILOPS_ALLOW_HTTP": "1",
    }


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def start_worker(env: dict[str, str], name: str) -> subprocess.Popen:
    command = ["-m", "celery", "-A", "retailops", "worker", "--pool", "solo", "-n", f"{name}@%h"]
    command += ["-Q", "interactive,heavy,celery", "--without-heartbeat", "--without-mingle", "--without-gossip"]
    return _spawn([*command, "--loglevel", "WARNING"], env)


def start_beat(env: dict[str, str], tmp_path) -> subprocess.Popen:
    """A real `celery beat` on the database schedule: the sweep every SWEEP_SECONDS (its sends expire as fast, so
    a busy worker does not run a backlog of them), the outbox relay likewise, and nothing else."""
    every, _ = IntervalSchedule.objects.get_or_create(every=SWEEP_SECONDS, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.update(enabled=False)
    for name, task in [("test: sweep", SWEEP_TASK), ("test: relay", RELAY_TASK)]:
        PeriodicTask.objects.update_or_create(
            name=name, defaults={"task": task, "interval": every, "enabled": True, "expire_seconds": SWEEP_SECONDS}
        )
    connection.close()
    schedule = ["--pidfile", str(tmp_path / "beat.pid"), "--schedule", str(tmp_path / "beat-schedule")]
    return _spawn(["-m", "celery", "-A", "retailops", "beat", *schedule, "--loglevel", "WARNING"], env)


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.stdout.read() if process.stdout else ""


def kill(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _wait(condition, *, seconds: float, what: str, processes: tuple[subprocess.Popen, ...] = ()) -> float:
    """Poll `condition` until true; returns the seconds it took. Fails if a watched process exits meanwhile."""
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        if condition():
            return time.monotonic() - began
        for process in processes:
            if process.poll() is not None:
                pytest.fail(f"a process exited while waiting for {what}: {stop(process)}")
        time.sleep(0.05)
    pytest.fail(f"timed out after {seconds} s waiting for {what}")


@pytest.mark.redis
@pytest.mark.scorecard("worker killed mid-run → run finishes")
def test_a_run_finishes_once_within_minutes_when_its_worker_is_killed_mid_chunk(
    transactional_db, require_postgres, private_redis, tmp_path, scorecard
):
    # given a chain-wide run of 12 series in 3 chunks (the heavy queue), queued by `forecast_run --resume`
    stores = [StoreFactory(code=f"K{i}") for i in range(2)]
    products = [ProductFactory() for _ in range(6)]
    for s in stores:
        for i, p in enumerate(products):
            sales_days(store=s, product=p, units=[(d % 7) + i + 1 for d in range(120)], end=END)
    run = services.forecast_run_start(horizon_days=14, chunk_size=4, models=["seasonal_naive", "ets"], dispatch=False)
    assert run.chunks_total == 3
    env = process_env(private_redis)
    beat = start_beat(env, tmp_path)
    first = start_worker(env, "first")
    second = None
    try:
        assert f"Run #{run.pk}: 3 chunk(s) sent" in manage(env, "forecast_run", "--resume")

        # when the first worker holds a chunk's lease and is killed (SIGKILL: no clean-up) before it is done
        claimed = ForecastChunk.objects.filter(run=run, done=False, lease_until__isnull=False)
        _wait(claimed.exists, seconds=120, what="the first worker to claim a chunk", processes=(first, beat))
        kill(first)
        killed_at = time.monotonic()
        killed = ForecastChunk.objects.get(run=run, attempts=1, done=False)
        killed_pairs = {tuple(pair) for pair in killed.series}
        written = set(DemandForecast.objects.filter(run=run).values_list("store_id", "product_id").distinct())
        assert not killed_pairs & written  # the killed attempt left nothing behind

        # then a new worker finishes the run, the lost chunk re-queued by the sweeper once its lease ran out
        second = start_worker(env, "second")
        run_done = ForecastRun.objects.filter(pk=run.pk, status=ForecastRun.Status.DONE).exists
        took = _wait(run_done, seconds=RECOVERY_LIMIT, what="the run to finish", processes=(second, beat))
        recovered = time.monotonic() - killed_at
    finally:
        logs = {name: stop(p) for name, p in [("first", first), ("second", second), ("beat", beat)] if p is not None}
    scorecard.record("forecast_recovery_s", round(recovered, 1))

    run.refresh_from_db()
    killed.refresh_from_db()
    assert run.status == ForecastRun.Status.DONE, logs
    assert (run.chunks_done, run.chunks_total, run.series_done, run.failed_series) == (3, 3, 12, {})
    assert killed.done and killed.attempts == 2  # the killed attempt and the one that finished it
    assert took < RECOVERY_LIMIT
    # each series forecast exactly once: 14 days each, one chosen model each
    assert DemandForecast.objects.filter(run=run).count() == 12 * 14
    assert DemandForecast.objects.filter(run=run).values("store_id", "product_id", "date").distinct().count() == 12 * 14
    assert ForecastAccuracy.objects.filter(run=run, chosen=True).count() == 12
    print(
        f"\nforecast run: killed → done in {recovered:.1f} s (lease {LEASE_SECONDS} s, sweep every {SWEEP_SECONDS} s)"
    )
