"""Fixtures of the reliability suite: one running instance per session (see harness.py).

Needs PostgreSQL (DATABASE_URL's server), redis-server on the PATH and gunicorn in the virtualenv: without them the
suite is skipped, unless REQUIRE_SERVICES or CI is set (then it fails, as the `postgres` and `redis` markers do).
Run it on its own, without xdist, so its processes do not compete with test workers:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/retailops .venv/bin/pytest -q -p no:xdist reliability
"""

from __future__ import annotations

import os
import shutil
import signal
from contextlib import contextmanager

import psycopg
import pytest

from retailops.settings import env_bool

from .harness import BIN, Database, RedisServer, Stack

REQUIRED = env_bool("REQUIRE_SERVICES") or env_bool("CI")


def _missing_services() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return "PostgreSQL (set DATABASE_URL=postgres://…)"
    try:
        psycopg.connect(Database(url).admin_url, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL at DATABASE_URL ({exc.__class__.__name__})"
    if not shutil.which("redis-server"):
        return "redis-server on the PATH"
    if not (BIN / "gunicorn").exists():
        return "gunicorn in the virtualenv"
    return ""


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def running_stack(tmp_path_factory, name: str, *, worker: bool = True, beat: bool = True):
    """Redis, a fresh migrated and seeded database, gunicorn and (unless told not to) a Celery worker and beat;
    all torn down and the database dropped at the end, whatever happened."""
    missing = _missing_services()
    if missing:
        if REQUIRED:
            pytest.fail(f"The reliability suite needs {missing} (REQUIRE_SERVICES is on).")
        pytest.skip(f"needs {missing}")
    log_dir = tmp_path_factory.mktemp(name)
    (log_dir / "var").mkdir()
    redis = RedisServer(log_dir=log_dir)
    database = Database(os.environ["DATABASE_URL"], name=f"retailops_{name}_{os.getpid()}")
    stack = Stack(redis=redis, database=database, log_dir=log_dir)
    # A CI timeout's SIGTERM becomes an interrupt, so the processes (each in its own session) are still stopped.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        try:
            redis.start()
            stack.prepare()
            stack.start_web()
            if worker:
                stack.start_worker()
            if beat:
                stack.start_beat()
        except Exception as exc:
            raise RuntimeError(f"the reliability stack did not start: {exc}\n{stack.logs()}") from exc
        yield stack
    finally:
        stack.stop_all()
        redis.stop()
        database.drop()
        signal.signal(signal.SIGTERM, previous)
        print(f"\n{name}: process logs kept in {log_dir}")


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The suite's running instance: web, worker and beat on a Redis the tests may stop and freeze."""
    with running_stack(tmp_path_factory, "reliability") as running:
        yield running


@pytest.fixture
def broker(stack):
    """The stack's Redis, which this test may stop or freeze: healthy again afterwards, the worker alive."""
    yield stack.redis
    stack.redis.restore()
    if not stack.processes["web"].alive():
        stack.start_web()
    stack.ensure_worker()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test's report carries the end of every process's log."""
    report = yield
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, Stack):
                report.sections.append((f"process logs ({value.log_dir})", value.logs()))
    return report
