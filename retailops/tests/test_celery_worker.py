"""A real Celery worker process takes a task from the configured broker (Redis in CI)."""

import os
import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings

from retailops.tasks import selftest_marker, selftest_task


@pytest.mark.redis
def test_a_real_worker_runs_a_task_from_the_broker():
    broker = settings.CELERY_BROKER_URL
    if settings.REQUIRE_SERVICES and not broker.startswith("redis://"):
        pytest.fail("CI must run Celery on Redis: set CELERY_BROKER_URL=redis://…")
    queue = f"selftest-{uuid.uuid4().hex[:8]}"  # a private queue: no other worker can take the message
    token = uuid.uuid4().hex
    marker = selftest_marker(token)  # the task writes under var/selftest/; the caller names only a token
    # The worker inherits the test run's DJANGO_SECRET_KEY and RETAILOPS_ALLOW_HTTP (retailops/settings_test.py):
    # with DEBUG off it would refuse to start on the development key.
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
        selftest_task.apply_async(args=[token, "pong"], queue=queue)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not marker.exists():
            assert worker.poll() is None, f"worker died: {worker.stdout.read()}"
            time.sleep(0.2)
        assert marker.exists(), "the worker did not run the task within 60 s"
        assert marker.read_text() == "pong"
    finally:
        marker.unlink(missing_ok=True)
        worker.terminate()
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()


@pytest.mark.parametrize("token", ["../../etc/passwd", "/tmp/owned", "ABCDEF12", "abc", "0" * 65, "12345678.txt"])
def test_the_selftest_takes_a_token_never_a_path(settings, tmp_path, token):
    settings.VAR_DIR = tmp_path / "var"
    with pytest.raises(ValueError, match="hex digits"):
        selftest_task(token, "owned")
    assert not (tmp_path / "var").exists()  # nothing written anywhere under var/


def test_the_selftest_writes_under_var_selftest(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    token = uuid.uuid4().hex
    assert selftest_task(token, "pong") == f"{token}.txt"
    assert (tmp_path / "selftest" / f"{token}.txt").read_text() == "pong"
