"""Services enqueue by task name through forecasting.dispatch (a shim over the outbox); tasks import services, never
the reverse."""

import ast
import uuid
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from unittest import mock

import pytest
from celery import current_app
from kombu.exceptions import OperationalError

from forecasting import dispatch, services
from forecasting.models import ForecastChunk, ForecastRun
from inventory.tests.factories import ProductFactory, StoreFactory
from retailops.models import OutboxMessage
from retailops.tasks import selftest_marker

from .factories import sales_days

APP_DIR = Path(__file__).resolve().parent.parent


@contextmanager
def _eager(value: bool):
    before = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = value
    try:
        yield
    finally:
        current_app.conf.task_always_eager = before


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function, resolved to its dotted name."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "forecasting" if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("name", ["services.py", "dispatch.py"])
def test_services_and_dispatch_never_import_the_tasks_module(name):
    assert "forecasting.tasks" not in _imported_modules(APP_DIR / name)


def test_tasks_import_the_services():
    assert "forecasting.services" in _imported_modules(APP_DIR / "tasks.py")


def test_enqueue_sends_the_task_by_its_registered_name_through_the_outbox(db):
    with _eager(False):
        with mock.patch.object(type(current_app._get_current_object()), "send_task") as send_task:
            queued = dispatch.enqueue("forecasting.tasks.forecast_chunk_task", 7, queue="heavy", key="chunk:7")
    send_task.assert_called_once_with("forecasting.tasks.forecast_chunk_task", args=[7], queue="heavy", retry=False)
    assert queued and queued.published is True
    message = OutboxMessage.objects.get(pk=queued.message_id)
    assert (message.args, message.queue, message.key, message.sent_at is not None) == ([7], "heavy", "chunk:7", True)


def test_enqueue_runs_the_task_in_process_in_eager_mode(db):
    token = uuid.uuid4().hex
    with _eager(True):
        queued = dispatch.enqueue("retailops.selftest", token, "eager")
    assert queued.published is True
    assert selftest_marker(token).read_text() == "eager"
    selftest_marker(token).unlink()


def test_a_run_whose_broker_is_down_is_queued_in_the_outbox(db, django_capture_on_commit_callbacks):
    # given a run with one chunk to send
    store, product = StoreFactory(code="BRK"), ProductFactory()
    sales_days(store=store, product=product, units=[3, 4, 5, 4, 6, 9, 7] * 8, end=date(2025, 3, 31))
    run = services.forecast_run_start(horizon_days=7, models=["seasonal_naive"], dispatch=False)
    # when the broker cannot be reached
    down = OperationalError("connection refused")
    with _eager(False):
        with mock.patch.object(type(current_app._get_current_object()), "send_task", side_effect=down) as send_task:
            with django_capture_on_commit_callbacks(execute=True):
                queued = services.forecast_run_dispatch(run_id=run.pk)
            again = dispatch.enqueue("forecasting.tasks.suggestions_build_task", run.pk)
    # then the run and its chunk wait, and the chunk's task waits in the outbox for the relay
    run.refresh_from_db()
    assert queued == 1
    assert run.status == ForecastRun.Status.PENDING
    assert ForecastChunk.objects.filter(run=run, done=False).count() == 1
    waiting = OutboxMessage.objects.get(task_name="forecasting.tasks.forecast_chunk_task", args=[run.chunks.get().pk])
    assert waiting.sent_at is None and "connection refused" in waiting.last_error
    # and the next enqueue, within the breaker's window, does not try the broker at all
    assert again.published is False and send_task.call_count == 1
