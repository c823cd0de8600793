"""/healthz/ (open, JSON, 503 when the database, the broker, the workers or beat are down) and /metrics (token or
address allow-list, Prometheus text)."""

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
from celery import Celery, current_app
from django.conf import settings
from django.db import connection
from django.utils import timezone

from retailops import heartbeat
from retailops.models import Heartbeat
from retailops.testing import private_redis_server

KEYS = {
    "status",
    "database",
    "broker",
    "worker",
    "worker_heartbeat_seconds_ago",
    "beat",
    "beat_tick_seconds_ago",
    "newest_sale",
    "newest_sale_age_seconds",
}
OWN_REDIS_PORT = 6394  # this suite's private redis-server (never the shared one on 6379)
OWN_REDIS_DB = 14


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def broker(url: str):
    """A Celery app on `url` with the production Redis timeouts, the current app for the block."""
    app = Celery("healthz-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = app.conf.broker_read_url = app.conf.broker_write_url = url
    app.conf.broker_transport_options = {"max_retries": 0, "socket_connect_timeout": 2, "socket_timeout": 2}
    before = current_app._get_current_object()
    app.set_current()
    heartbeat.broker_probe_forget()
    try:
        yield app
    finally:
        before.set_current()
        heartbeat.broker_probe_forget()


def _alive(*, worker: bool = True, beat: bool = True, name: str = "interactive@secret-host-7") -> None:
    if worker:
        heartbeat.heartbeat_record(role=Heartbeat.Role.WORKER, name=name, queues="interactive")
    if beat:
        heartbeat.heartbeat_record(role=Heartbeat.Role.BEAT, name="beat-host-9")


def test_the_answer_has_the_keys_and_reveals_no_hostname(client, db):
    _alive()
    response = client.get("/healthz/")
    body = response.json()
    assert set(body) == KEYS
    assert response.status_code == 200, body  # the filesystem broker of the test run answers
    assert body["status"] == "ok" and body["worker"] == "ok" and body["beat"] == "ok"
    assert body["newest_sale"] == "none" and body["newest_sale_age_seconds"] is None
    text = response.content.decode()
    assert "secret-host" not in text and "beat-host" not in text and "interactive" not in text


def test_503_when_no_worker_has_been_seen(client, db):
    _alive(worker=False)
    response = client.get("/healthz/")
    assert response.status_code == 503
    assert response.json()["worker"] == "down" and response.json()["status"] == "down"


def test_503_when_the_worker_heartbeat_is_older_than_two_minutes(client, db):
    _alive()
    Heartbeat.objects.filter(role=Heartbeat.Role.WORKER).update(last_seen=timezone.now() - timedelta(minutes=3))
    response = client.get("/healthz/")
    assert response.status_code == 503
    assert response.json()["worker"] == "down" and response.json()["worker_heartbeat_seconds_ago"] >= 180


def test_503_when_beat_has_not_ticked_for_two_minutes(client, db):
    _alive()
    Heartbeat.objects.filter(role=Heartbeat.Role.BEAT).update(last_seen=timezone.now() - timedelta(minutes=3))
    response = client.get("/healthz/")
    assert response.status_code == 503 and response.json()["beat"] == "down"


def test_503_when_the_broker_is_down_closed_port(client, db):
    _alive()
    with broker(f"redis://127.0.0.1:{_free_port()}/0"):
        response = client.get("/healthz/")
    assert response.status_code == 503
    assert response.json()["broker"] == "down" and response.json()["worker"] == "ok"


def test_an_old_newest_sale_is_stale_not_down(client, db):
    from inventory.tests.factories import ProductFactory, StoreFactory  # noqa: PLC0415 — apps' helpers, this test only
    from sales.tests.factories import post_sale  # noqa: PLC0415 — apps' helpers, this test only

    _alive()
    post_sale(store=StoreFactory(), lines=[(ProductFactory(), 1, None)], when=timezone.now() - timedelta(days=5))
    response = client.get("/healthz/")
    assert response.status_code == 200
    assert response.json()["newest_sale"] == "stale" and response.json()["newest_sale_age_seconds"] >= 5 * 86400


def own_redis():
    return private_redis_server(OWN_REDIS_PORT, require=settings.REQUIRE_SERVICES)


@pytest.mark.redis
@pytest.mark.postgres
def test_200_with_a_real_worker_and_503_once_its_redis_stops(require_postgres, transactional_db, client):
    """A real worker on this suite's own Redis writes its heartbeat: 200. The Redis stops: 503 (broker down)."""
    url = f"redis://127.0.0.1:{OWN_REDIS_PORT}/{OWN_REDIS_DB}"
    db_url = "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**connection.settings_dict)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CELERY_BROKER_URL": url, "DATABASE_URL": db_url}
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    with own_redis() as redis_process, broker(url):
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "retailops", "worker", "--pool", "solo", "-Q", "interactive"]
            + ["--hostname", "healthz-test@%h", "--without-mingle", "--without-gossip", "--loglevel", "INFO"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not Heartbeat.objects.filter(role="worker").exists():
                assert worker.poll() is None, f"worker died: {worker.stdout.read()}"
                time.sleep(0.2)
            seen = Heartbeat.objects.get(role="worker")
            assert seen.name.startswith("healthz-test@") and "interactive" in seen.queues
            _alive(worker=False)  # beat's tick (beat itself is tested in retailops/tests/test_heartbeat.py)
            response = client.get("/healthz/")
            assert response.status_code == 200, response.json()
            assert response.json()["broker"] == "ok"

            redis_process.terminate()
            redis_process.wait(timeout=10)
            heartbeat.broker_probe_forget()
            response = client.get("/healthz/")
            assert response.status_code == 503 and response.json()["broker"] == "down"
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()


# --- /metrics ----------------------------------------------------------------------------------------------------


def test_metrics_from_an_allowed_address_in_prometheus_text(client, db):
    _alive()
    response = client.get("/metrics")  # the test client calls from 127.0.0.1, the default allow-list
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    for name in (
        "retailops_outbox_waiting",
        "retailops_worker_last_seen_seconds",
        'retailops_queue_length{queue="interactive"}',
        'retailops_queue_length{queue="heavy"}',
        "retailops_tasks_failed_24h",
        "retailops_beat_last_tick_seconds",
        'retailops_import_rows{outcome="accepted"}',
    ):
        assert f"\n{name} " in text or text.startswith(f"{name} "), name


def test_metrics_refuse_other_addresses_and_wrong_tokens(client, db, settings):
    settings.RETAILOPS_METRICS_ALLOW = ["10.9.9.9"]
    settings.RETAILOPS_METRICS_TOKEN = "s3cret-scrape-token"
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
    assert ok.status_code == 200 and b"retailops_outbox_waiting" in ok.content
    settings.RETAILOPS_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403  # no token set: none is right
