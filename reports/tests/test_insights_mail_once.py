"""The weekly insights e-mail goes out once per user and week, however often Celery delivers the task (acks late:
a worker that dies mid-loop has its task delivered again; beat may fire twice). "Send now" still sends."""

import threading
import time
from datetime import date

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from inventory.tests.factories import PASSWORD, make_user
from reports import insights_mail
from reports.models import InsightsEmailSent
from reports.tasks import insights_weekly_task
from retailops.models import OutboxMessage

MONDAY = date(2026, 12, 7)  # reports the week 30 Nov – 6 Dec
NEXT_MONDAY = date(2026, 12, 14)


def _recipients(world):
    """Owner, accountant and a second owner get the e-mail (in that order: by pk); staff does not."""
    for user, email in ((world.owner, "o@example.com"), (world.accountant, "a@example.com"), (world.staff, "s@e.com")):
        user.email = email
        user.save()
    make_user("owner", username="oscar_owner", email="o2@example.com")
    return ["o@example.com", "a@example.com", "o2@example.com"]


@pytest.fixture
def mailed(world, settings, monkeypatch):
    """The world with three recipients, the locmem backend, and "today" a Monday the test can move on."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    day = {"today": MONDAY}
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: day["today"])
    return _recipients(world), day


def _to() -> list[str]:
    return sorted(m.to[0] for m in mail.outbox)


@pytest.mark.django_db
def test_task_delivered_twice_sends_each_recipient_one_email(mailed):
    emails, _ = mailed
    assert insights_weekly_task() == 3
    assert insights_weekly_task() == 0  # beat fired twice / the message was delivered again
    assert _to() == sorted(emails)
    assert InsightsEmailSent.objects.filter(week_start=date(2026, 11, 30), trigger="scheduled").count() == 3


@pytest.mark.django_db
def test_a_run_that_died_after_the_first_recipient_is_resumed_by_the_redelivery(mailed, monkeypatch):
    emails, _ = mailed
    real_send = EmailMultiAlternatives.send
    failed = []

    def send_dies_once_on_the_second(self, fail_silently=False):
        if self.to == ["a@example.com"] and not failed:
            failed.append(self.to)
            raise ConnectionError("worker lost mid-send")
        return real_send(self, fail_silently)

    monkeypatch.setattr(EmailMultiAlternatives, "send", send_dies_once_on_the_second)
    with pytest.raises(ConnectionError):
        insights_weekly_task()
    assert _to() == ["o@example.com"]  # the first went out; the task died on the second
    assert list(InsightsEmailSent.objects.values_list("user__email", flat=True)) == ["o@example.com"]  # no claim kept

    assert insights_weekly_task() == 2  # the re-delivery: only the two it had not reached
    assert _to() == sorted(emails)  # each exactly once
    assert insights_weekly_task() == 0


@pytest.mark.django_db
def test_send_now_sends_again_after_the_scheduled_email(mailed):
    emails, _ = mailed
    assert insights_weekly_task() == 3
    assert insights_weekly_task(True) == 3  # the page's "send now" (force) still sends
    assert _to() == sorted(emails * 2)
    assert insights_weekly_task() == 0  # and the schedule still does not send a third time
    assert InsightsEmailSent.objects.filter(trigger="manual").count() == 3


@pytest.mark.django_db
def test_send_now_before_the_schedule_spares_the_scheduled_duplicate(mailed):
    assert insights_weekly_task(True) == 3
    assert insights_weekly_task() == 0  # Monday 07:30 after a "send now" at 07:00 for the same week


@pytest.mark.django_db
def test_a_new_week_sends_again(mailed):
    emails, day = mailed
    assert insights_weekly_task() == 3
    assert insights_weekly_task() == 0
    day["today"] = date(2026, 12, 8)  # a re-delivery on Tuesday: still last week's, still sent
    assert insights_weekly_task() == 0
    day["today"] = NEXT_MONDAY
    assert insights_weekly_task() == 3
    assert _to() == sorted(emails * 2)
    assert {m.subject for m in mail.outbox} == {
        "Insights for the week 30 Nov – 06 Dec 2026",
        "Insights for the week 07 Dec – 13 Dec 2026",
    }


@pytest.mark.django_db
def test_send_now_button_queues_the_task_forced(world, client):
    assert client.login(username=world.owner.username, password=PASSWORD)
    client.post(reverse("insights:insights_send"), {"query": ""})
    message = OutboxMessage.objects.get(task_name="reports.tasks.insights_weekly_task")
    assert list(message.args) == [True]


def test_two_deliveries_at_once_send_each_recipient_once(require_postgres, world_tx, settings, monkeypatch):
    """Two workers run the task at the same moment: both pass the "already sent?" check for each user (a barrier
    holds them until both have), then race for the claim; the loser's INSERT waits for the winner's commit and
    skips the user."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []
    emails = _recipients(world_tx)
    barrier = threading.Barrier(2, timeout=20)

    def render(*, user, today=None):
        barrier.wait()  # both deliveries are past the check for this user
        return {"subject": "s", "text": "t", "html": "<p>h</p>", "pdf": b"%PDF", "filename": "i.pdf"}

    real_send = EmailMultiAlternatives.send

    def slow_send(self, fail_silently=False):
        time.sleep(0.3)  # the winner holds its claim (uncommitted) while the loser tries to insert its own
        return real_send(self, fail_silently)

    monkeypatch.setattr(insights_mail, "insights_email_render", render)
    monkeypatch.setattr(EmailMultiAlternatives, "send", slow_send)
    results, errors = [], []

    def worker():
        try:
            results.append(insights_mail.insights_email_send(today=MONDAY))
        except Exception as exc:  # noqa: BLE001 — reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len(results) == 2 and sum(results) == 3, results  # one e-mail per recipient, between the two
    assert _to() == sorted(emails)
    assert InsightsEmailSent.objects.count() == 3
