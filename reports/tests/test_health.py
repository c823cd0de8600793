"""The pipeline health page: what is late or failing is red with its reason and a link; the page and /metrics show
the same figures; the Celery signals record workers, beat's ticks and failed or retried tasks."""

import contextlib
import re
from datetime import timedelta

import pytest
from celery import shared_task
from django.urls import reverse
from django.utils import timezone

from customers.models import CustomerModelRun
from inventory.tests.factories import PASSWORD
from retailops import heartbeat
from retailops.models import Heartbeat, OutboxMessage, TaskEvent
from sales.models import ImportBatch

pytestmark = pytest.mark.django_db
URL = "/reports/health/"


@shared_task(name="reports.tests.health_always_fails")
def always_fails():
    raise ValueError("the supplier file is missing")


@shared_task(name="reports.tests.health_retries_once", bind=True, max_retries=1)
def retries_once(self):
    raise self.retry(exc=ConnectionError("the mail server is away"), countdown=0)


def _run(task) -> None:
    """Run a task as a worker would: its error is caught and the failure signals are sent (throw=False)."""
    task.apply(throw=False)


def _owner(client, world):
    client.login(username=world.owner.username, password=PASSWORD)
    return client


def _problems(response) -> list[str]:
    return [re.sub(r"\s+", " ", p.reason) for p in response.context["h"].problems]


def test_all_well_says_so(client, world):
    heartbeat.heartbeat_record(role=Heartbeat.Role.WORKER, name="interactive@shop", queues="interactive")
    heartbeat.heartbeat_record(role=Heartbeat.Role.BEAT, name="shop")
    response = _owner(client, world).get(URL)
    assert response.status_code == 200
    problems = [p for p in response.context["h"].problems if not p.warn]
    assert problems == []  # only the "no sale yet" warning
    assert "interactive@shop" in response.content.decode()


def test_late_and_failing_things_are_red_with_a_link(client, world):
    now = timezone.now()
    heartbeat.heartbeat_record(role=Heartbeat.Role.WORKER, name="interactive@shop")
    Heartbeat.objects.update(last_seen=now - timedelta(minutes=7))
    failed = ImportBatch.objects.create(source_name="tills-monday.csv", status=ImportBatch.Status.FAILED)
    waiting = ImportBatch.objects.create(source_name="tills-tuesday.csv", status=ImportBatch.Status.PENDING)
    ImportBatch.objects.filter(pk=waiting.pk).update(created_at=now - timedelta(minutes=40))
    run = CustomerModelRun.objects.create(
        status=CustomerModelRun.Status.RUNNING, lease_until=now - timedelta(minutes=3)
    )
    message = OutboxMessage.objects.create(task_name="sales.import_batch", args=[waiting.pk])
    OutboxMessage.objects.filter(pk=message.pk).update(created_at=now - timedelta(minutes=10))

    response = _owner(client, world).get(URL)
    problems = {p.reason: p for p in response.context["h"].problems}
    text = "\n".join(problems)
    assert "No worker seen for 7 min — start one: `make run`" in text
    assert "Beat has never ticked" in text
    assert f"Import #{failed.pk} · tills-monday.csv (file upload) failed." in problems
    assert problems[f"Import #{failed.pk} · tills-monday.csv (file upload) failed."].url == reverse(
        "sales:importbatch_detail", args=[failed.pk]
    )
    assert f"Import #{waiting.pk} · tills-tuesday.csv has waited for a worker for 40 min." in problems
    assert f"Customer models #{run.pk} (running): its worker stopped 3 min ago." in problems
    outbox = next(p for p in problems.values() if "wait in the outbox" in p.reason)
    assert outbox.reason.startswith("1 task(s) wait in the outbox, the oldest for 10 min")
    assert outbox.url == reverse("admin:retailops_outboxmessage_changelist")
    page = response.content.decode()
    assert page.count('class="msg error"') == len([p for p in problems.values() if not p.warn])
    assert f'href="{reverse("sales:importbatch_detail", args=[failed.pk])}"' in page


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


def test_the_page_and_metrics_agree(client, world):
    _run(always_fails)
    _run(always_fails)
    with contextlib.suppress(ConnectionError):  # eager mode runs the retry at once, and it propagates
        _run(retries_once)
    OutboxMessage.objects.create(task_name="sales.import_batch", args=[1])
    OutboxMessage.objects.create(task_name="sales.import_batch", args=[2])
    ImportBatch.objects.create(source_name="a.csv", status=ImportBatch.Status.DONE, rows_read=120, rows_accepted=118)
    heartbeat.heartbeat_record(role=Heartbeat.Role.WORKER, name="heavy@shop")

    h = _owner(client, world).get(URL).context["h"]
    text = client.get("/metrics").content.decode()
    assert h.tasks.failed == _metric(text, "retailops_tasks_failed_24h") == 2
    assert h.tasks.retried == _metric(text, "retailops_tasks_retried_24h") >= 1
    assert h.outbox.waiting == _metric(text, "retailops_outbox_waiting") == 2
    assert _metric(text, 'retailops_import_rows{outcome="accepted"}') == 118
    for queue, length in h.broker.queues.items():
        assert _metric(text, f'retailops_queue_length{{queue="{queue}"}}') == length
    assert _metric(text, "retailops_workers_up") == sum(w.up for w in h.workers) == 1
    assert _metric(text, "retailops_worker_last_seen_seconds") < 60


def test_failed_tasks_are_recorded_by_the_signal_and_pruned_after_a_week(db):
    _run(always_fails)
    event = TaskEvent.objects.get()
    assert event.kind == "failed" and event.task_name == "reports.tests.health_always_fails"
    assert event.error == "ValueError: the supplier file is missing"
    TaskEvent.objects.update(at=timezone.now() - timedelta(days=8))
    assert heartbeat.task_events_prune() == 1


def test_login_logs_are_kept_for_the_configured_days_then_pruned_at_a_worker_beat(db, settings):
    from axes.models import AccessAttempt, AccessLog  # noqa: PLC0415 — only this test reads axes' tables

    settings.RETAILOPS = {**settings.RETAILOPS, "LOGIN_LOG_DAYS": 30}
    old, recent = (AccessLog.objects.create(username=n, ip_address="10.0.0.1", user_agent="t") for n in "ab")
    AccessLog.objects.filter(pk=old.pk).update(attempt_time=timezone.now() - timedelta(days=31))
    AccessLog.objects.filter(pk=recent.pk).update(attempt_time=timezone.now() - timedelta(days=29))
    attempt = AccessAttempt.objects.create(username="c", ip_address="10.0.0.2", user_agent="t", failures_since_start=3)
    AccessAttempt.objects.filter(pk=attempt.pk).update(attempt_time=timezone.now() - timedelta(days=60))
    heartbeat.WorkerPulse("w1").beat()
    assert list(AccessLog.objects.values_list("username", flat=True)) == ["b"]
    assert AccessAttempt.objects.count() == 1  # the lock-out counter is axes' own to expire


def test_beat_ticks_only_in_the_beat_process(db, monkeypatch):
    heartbeat.beat_publishing("retailops.outbox_relay")  # a web process publishing: not beat
    assert not Heartbeat.objects.filter(role="beat").exists()
    monkeypatch.setitem(heartbeat._process, "is_beat", False)
    heartbeat.beat_started()
    first = Heartbeat.objects.get(role="beat").last_seen
    heartbeat.beat_publishing("sales.import_batch")
    assert Heartbeat.objects.get(role="beat").last_seen == first
    heartbeat.beat_publishing("retailops.outbox_relay")
    assert Heartbeat.objects.get(role="beat").last_seen > first


def test_a_worker_beat_writes_its_row_with_its_queues(db):
    pulse = heartbeat.WorkerPulse("interactive@till-server", "heavy,interactive")
    pulse.beat(started=True)
    row = Heartbeat.objects.get(role="worker")
    assert (row.name, row.queues) == ("interactive@till-server", "heavy,interactive")
    first = row.last_seen
    pulse.beat()
    assert Heartbeat.objects.get(role="worker").last_seen > first and Heartbeat.objects.count() == 1
