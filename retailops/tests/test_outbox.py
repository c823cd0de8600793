"""The task outbox: a message commits or rolls back with its caller, is published once, and survives a broker that
refuses connections (a circuit breaker spares the next requests the wait), until the relay publishes it."""

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from contextlib import ExitStack, contextmanager
from unittest import mock
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from celery import Celery, current_app
from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

from inventory.tests.factories import PASSWORD
from retailops import outbox
from retailops.celery import app as retailops_app
from retailops.models import OutboxMessage
from retailops.outbox import outbox_enqueue, outbox_relay
from retailops.tasks import selftest_marker
from retailops.testing import private_redis_server, redis_server_program

REFUSED = "redis://127.0.0.1:6399/0"  # nothing listens there


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def broker(url: str):
    """Make a Celery app on `url`, with the production Redis options, the current app for the block."""
    app = Celery("outbox-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = app.conf.broker_write_url = url  # the write URL wins over $CELERY_BROKER_URL
    app.conf.task_always_eager = False
    app.conf.broker_connection_timeout = 2
    app.conf.broker_transport_options = {
        "max_retries": 0,
        "socket_connect_timeout": 2,
        "socket_timeout": 2,
        "retry_on_timeout": False,
    }
    app.set_current()
    try:
        yield app
    finally:
        app.close()
        retailops_app.set_current()


@contextmanager
def eager(value: bool):
    before = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = value
    try:
        yield
    finally:
        current_app.conf.task_always_eager = before


def test_the_message_rolls_back_with_the_callers_transaction(db, django_capture_on_commit_callbacks):
    with eager(False), mock.patch.object(outbox, "_send") as send:
        with django_capture_on_commit_callbacks(execute=True):
            with pytest.raises(RuntimeError), transaction.atomic():
                queued = outbox_enqueue("retailops.selftest", "abcdef12")
                assert queued.published is None  # not before the commit
                raise RuntimeError("the import failed")
    assert not OutboxMessage.objects.exists()
    send.assert_not_called()


def test_a_key_with_an_unsent_message_gets_no_second_row(db):
    with eager(False), broker(REFUSED):
        first = outbox_enqueue("sales.import_sales", 5, key="import:5")
        second = outbox_enqueue("sales.import_sales", 5, key="import:5")
    assert first.message_id == second.message_id
    assert OutboxMessage.objects.filter(key="import:5").count() == 1
    # once sent, the key may be queued again (and the broker is back)
    outbox._breaker_reset()
    OutboxMessage.objects.filter(key="import:5").update(sent_at=timezone.now())
    with eager(False), mock.patch.object(outbox, "_send"):
        third = outbox_enqueue("sales.import_sales", 5, key="import:5")
    assert third.message_id != first.message_id and third.published is True


def test_eager_mode_runs_the_task_once_at_commit(db, django_capture_on_commit_callbacks):
    token = uuid.uuid4().hex
    with eager(True):
        with django_capture_on_commit_callbacks(execute=True):
            with transaction.atomic():
                queued = outbox_enqueue("retailops.selftest", token, "ran")
                assert not selftest_marker(token).exists()  # not before the commit
        assert queued.published is True
        assert selftest_marker(token).read_text() == "ran"
        selftest_marker(token).unlink()
        assert outbox_relay() == 0  # marked sent: the relay does not run it again
    assert not selftest_marker(token).exists()
    assert OutboxMessage.objects.get().sent_at is not None


def test_a_refused_broker_costs_no_wait_and_the_next_call_skips_it(db):
    with eager(False), broker(REFUSED):
        started = time.monotonic()
        queued = outbox_enqueue("retailops.selftest", "abcdef12")
        elapsed = time.monotonic() - started
        with mock.patch.object(outbox, "_send") as send:
            again = outbox_enqueue("retailops.selftest", "abcdef13")
        assert not outbox.broker_is_up()
    assert elapsed < 2.5, f"a refused publish took {elapsed:.2f} s"
    assert (queued.published, again.published) == (False, False)
    send.assert_not_called()  # the breaker: no network attempt within its window
    message = OutboxMessage.objects.get(pk=queued.message_id)
    assert message.sent_at is None and message.attempts == 1 and "refused" in message.last_error.lower()


@pytest.mark.redis
def test_the_relay_publishes_once_the_broker_answers(db, require_redis):
    url = urlunsplit(urlsplit(require_redis)._replace(path="/11"))  # this suite's own Redis database
    queue = f"outbox-{uuid.uuid4().hex[:8]}"
    with eager(False), broker(REFUSED):
        queued = outbox_enqueue("retailops.selftest", "abcdef12", queue=queue)
        assert outbox_relay() == 0  # still down
    assert queued.published is False
    OutboxMessage.objects.filter(pk=queued.message_id).update(next_attempt_at=timezone.now())  # due now
    client = redis.Redis.from_url(url)
    try:
        with eager(False), broker(url):
            assert outbox_relay() == 1
            assert outbox_relay() == 0
        assert client.llen(queue) == 1
    finally:
        client.delete(queue)
    assert OutboxMessage.objects.get(pk=queued.message_id).sent_at is not None
    assert outbox.broker_is_up()


@pytest.mark.postgres
def test_two_relays_at_once_publish_each_message_once(require_postgres, transactional_db):
    OutboxMessage.objects.bulk_create(OutboxMessage(task_name="retailops.selftest", args=[i]) for i in range(40))
    sent: list[int] = []
    lock = threading.Lock()

    def send(message):
        with lock:
            sent.append(message.pk)
        time.sleep(0.01)  # widens the window in which the two relays overlap

    counts = []

    def relay():
        try:
            counts.append(outbox_relay())
        finally:
            connections.close_all()

    with eager(False), mock.patch.object(outbox, "_send", side_effect=send):
        threads = [threading.Thread(target=relay) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert sum(counts) == 40 and len(counts) == 2
    assert sorted(sent) == sorted(set(sent)) and len(sent) == 40
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()


@pytest.mark.redis
@pytest.mark.postgres
def test_a_worker_started_while_redis_is_down_runs_the_work_queued_meanwhile(require_postgres, transactional_db):
    redis_server_program(require=settings.REQUIRE_SERVICES)
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    token = uuid.uuid4().hex
    # the broker is down: the work waits in the outbox
    with eager(False), broker(url):
        queued = outbox_enqueue("retailops.selftest", token, "after the outage")
    assert queued.published is False
    OutboxMessage.objects.filter(pk=queued.message_id).update(next_attempt_at=timezone.now())

    db_url = "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**connection.settings_dict)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CELERY_BROKER_URL": url, "DATABASE_URL": db_url}
    env.setdefault("DJANGO_DEBUG", "1")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "retailops", "worker", "--pool", "solo", "-Q", "interactive"]
        + ["--without-heartbeat", "--without-mingle", "--without-gossip", "--loglevel", "INFO"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    outage = ExitStack()
    try:
        time.sleep(5)  # the outage lasts 5 s after the worker started
        assert worker.poll() is None, f"the worker gave up on the broker: {worker.stdout.read()}"
        outage.enter_context(private_redis_server(port, require=settings.REQUIRE_SERVICES))
        marker = selftest_marker(token)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not marker.exists():
            assert worker.poll() is None, f"worker died: {worker.stdout.read()}"
            time.sleep(0.2)
        assert marker.exists(), "the worker did not run the queued task within 30 s of the broker's return"
        assert marker.read_text() == "after the outage"
        assert worker.poll() is None  # the same worker, never restarted
        assert OutboxMessage.objects.get(pk=queued.message_id).sent_at is not None
        marker.unlink()
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
        outage.close()


@pytest.mark.django_db
def test_owners_read_the_outbox_in_the_admin_and_nobody_edits_it(client, world):
    OutboxMessage.objects.create(task_name="sales.import_sales", args=[1], queue="interactive", key="import:1")
    assert client.login(username=world.owner.username, password=PASSWORD)
    listing = client.get("/admin/retailops/outboxmessage/?state=unsent")
    assert listing.status_code == 200 and "import:1" in listing.content.decode()
    assert client.get("/admin/retailops/outboxmessage/add/").status_code == 403
    client.logout()
    assert client.login(username=world.staff.username, password=PASSWORD)
    assert client.get("/admin/retailops/outboxmessage/").status_code in (302, 403)
