"""Project-level Celery tasks (no app code): a self-test that proves broker and worker are wired, and the outbox
relay."""

import re
from pathlib import Path

from celery import shared_task
from django.conf import settings

from .outbox import outbox_relay

SELFTEST_TOKEN = re.compile(r"[0-9a-f]{8,64}")


def selftest_marker(token: str) -> Path:
    """Where the self-test with this token leaves its mark: var/selftest/<token>.txt. The caller names a token, never
    a path — a token is 8 to 64 lower-case hex digits, so it cannot climb out of that folder."""
    if not isinstance(token, str) or not SELFTEST_TOKEN.fullmatch(token):
        raise ValueError("A self-test token is 8 to 64 lower-case hex digits (e.g. uuid.uuid4().hex).")
    return Path(settings.VAR_DIR) / "selftest" / f"{token}.txt"


@shared_task(name="retailops.selftest")
def selftest_task(token: str, text: str = "pong") -> str:
    """Write `text` (at most 100 characters) to var/selftest/<token>.txt: the deployment self-test and the test
    suite queue it and wait for that file, which proves broker and worker are wired."""
    marker = selftest_marker(token)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(text)[:100])
    return marker.name


@shared_task(name="retailops.outbox_relay", ignore_result=True)
def outbox_relay_task() -> int:
    """Beat task (every 10 s; each worker also relays when it starts): publish the outbox messages the broker
    could not take when they were written. Safe to run twice at once: each message is published once."""
    return outbox_relay()
