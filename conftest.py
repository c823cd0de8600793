"""Project-wide pytest fixtures: the three roles, two stores, and service checks for CI."""

import io
import os

import pytest
from coverage import Coverage
from coverage.exceptions import CoverageException
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from inventory.tests.factories import StoreFactory, make_user
from reports import selectors as report_selectors
from retailops.heartbeat import broker_probe_forget
from retailops.outbox import breaker_forget
from retailops.testing import World

# The reliability scorecard: the `scorecard(label)` marker's table at the end of the run, the `scorecard` fixture.
pytest_plugins = ["retailops.scorecard", "pytester"]  # pytester: the scorecard's own tests


@pytest.fixture(autouse=True)
def _fresh_caches():
    """Each test starts with empty caches: cached sums are keyed by ids and change-log fingerprints, which a
    rolled-back test database hands out again."""
    cache.clear()
    report_selectors._LOCAL.clear()
    breaker_forget()  # a broker outage simulated by one test is not remembered by the next
    broker_probe_forget()  # nor the health check's cached broker probe
    yield


@pytest.fixture
def require_postgres(db):
    if connection.vendor != "postgresql":
        if settings.REQUIRE_SERVICES:
            pytest.fail("This test needs PostgreSQL: set DATABASE_URL (REQUIRE_SERVICES is on).")
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")
    return connection


@pytest.fixture
def require_redis():
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        if settings.REQUIRE_SERVICES:
            pytest.fail("This test needs Redis: set CELERY_BROKER_URL=redis://… (REQUIRE_SERVICES is on).")
        pytest.skip("needs Redis (set CELERY_BROKER_URL)")
    return url


def build_world():
    store_own = StoreFactory(code="OWN", name="Own Street")
    store_other = StoreFactory(code="OTH", name="Other Road")
    return World(
        store_own=store_own,
        store_other=store_other,
        staff=make_user("staff", stores=[store_own], username="sam_staff", first_name="Sam"),
        owner=make_user("owner", username="olivia_owner", first_name="Olivia"),
        accountant=make_user("accountant", username="adam_accountant", first_name="Adam"),
    )


@pytest.fixture
def world(db):
    """Two stores; a staff member of the first; an owner; an accountant (password: factories.PASSWORD)."""
    return build_world()


@pytest.fixture
def world_tx(transactional_db):
    """The same world, committed, for tests with a live server or other threads / processes."""
    return build_world()


@pytest.hookimpl(tryfirst=True)  # before `-m` selects on the markers
def pytest_collection_modifyitems(config, items):
    """A test that needs PostgreSQL (or Redis) through its fixture carries the marker too, so
    `pytest -m postgres --collect-only -q` lists every one of them."""
    for item in items:
        needs = getattr(item, "fixturenames", ())
        if "require_postgres" in needs:
            item.add_marker(pytest.mark.postgres)
        if "require_redis" in needs:
            item.add_marker(pytest.mark.redis)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """With --cov (as `make test` runs), one line with the total coverage, just above pytest's result line."""
    if not config.getoption("cov_source", None) or config.getoption("no_cov", False) or config.option.collectonly:
        return
    cov = Coverage()  # reads [tool.coverage] in pyproject.toml, so the data file pytest-cov just wrote
    try:
        cov.load()
        total = cov.report(file=io.StringIO(), ignore_errors=True)
    except CoverageException:  # no data: nothing ran
        return
    terminalreporter.write_line(f"Coverage: {total:.1f}% of the apps' lines (file by file: .venv/bin/coverage report)")


def pytest_configure(config):
    # Fast password hashing: tests log in hundreds of times.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
