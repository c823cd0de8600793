"""A real Celery worker process takes a task from the configured broker (Redis in CI)."""

import os
import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings

from retailops.tasks import selftest_task


@pytest.mark.redis
def test_a_real_worker_runs_a_task_from_the_broker(tmp_path):
    broker = settings.CELERY_BROKER_URL
    if settings.REQUIRE_SERVICES and not broker.startswith("redis://"):
        pytest.fail("CI must run Celery on Redis: set CELERY_BROKER_URL=redis://…")
    queue = f"selftest-{uuid.uuid4().hex[:8]}"  # a private queue: no other worker can take the message
    marker = tmp_path / "marker.txt"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "retailops",
            "worker",
            "--pool",
            "solo",
            "-Q",
            queue,
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "WARNING",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        selftest_task.apply_async(args=[str(marker), "pong"], queue=queue)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not marker.exists():
            assert worker.poll() is None, f"worker died: {worker.stdout.read()}"
            time.sleep(0.2)
        assert marker.exists(), "the worker did not run the task within 60 s"
        assert marker.read_text() == "pong"
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
