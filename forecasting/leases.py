"""Leases of background work: a worker computing a forecast chunk or a training run holds a lease on its row
(`lease_until`, `claimed_by`) and a daemon thread renews it every third of the lease while the work runs. The
thread stops when the work ends and dies with the process on kill -9; the lease then runs out and the sweeper
(`services.runs_sweep`) hands the work to another worker."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

log = logging.getLogger(__name__)


def lease_seconds() -> int:
    return max(1, int(settings.RETAILOPS.get("LEASE_SECONDS", 60)))


def lease_end(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) + timedelta(seconds=lease_seconds())


def worker_name() -> str:
    """Who holds a lease: host:pid (a pid alone repeats across machines)."""
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


class Heartbeat:
    """`with Heartbeat(renew):` calls `renew()` every third of the lease in a daemon thread until the block ends.

    `renew` updates the row only while this worker still holds it and returns False once it does not (the
    work was taken over or finished): the thread then stops renewing. A failed renewal (database briefly
    away) is logged and tried again at the next beat; the lease is long enough for two misses."""

    def __init__(self, renew: Callable[[], bool], *, every: float | None = None):
        self.renew = renew
        self.every = every if every is not None else lease_seconds() / 3
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.every):
                try:
                    if not self.renew():
                        return
                except Exception:  # noqa: BLE001 — a missed beat is retried; the lease covers two of them
                    log.warning("lease heartbeat failed", exc_info=True)
                    close_old_connections()
        finally:
            connection.close()  # this thread's own connection, if it opened one

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.every + 5)
