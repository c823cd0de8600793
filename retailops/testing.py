"""Test helpers shared by every app's tests: the permission-matrix vocabulary. Imports no app.

Each app declares the expected status of each of its URLs, per role, in `<app>/tests/url_access.py`:

    URL_ACCESS = {
        "inventory:product_list": Access(),
        "inventory:stockcount_detail": Access(kwargs=lambda w: {"pk": w.obj["count_own"].pk},
                                              kwargs_other=lambda w: {"pk": w.obj["count_other"].pk},
                                              staff_other=404, accountant=403),
    }
    def build(world): ...   # optional: create the objects the kwargs need, in world.obj

retailops/tests/test_url_matrix.py walks every URL the project resolves and fails for any URL name
that no app declared, so a new page joins the matrix by being registered, not by being remembered.

Another store's object: every URL that takes an id (a path converter or regex group other than `format`) must
declare `kwargs_other` (the same object kind, of `world.store_other`) and `staff_other`, unless its objects are
chain-wide (the explained list in test_url_matrix.CHAIN_WIDE). `staff_other` is 404 — the answer must not say
the object exists — or 403 only where staff are refused the page whatever the store (`staff=403`). `build(world)`
creates the objects of that module's URLs; the matrix runs only the declaring module's `build` for a URL.

Lists: `must_contain` / `must_not_contain` per role, e.g. {"staff": ["MX-OWN-1"]} / {"staff": ["MX-OTHER-1"]}:
a staff member's list shows their store's rows and none of the other store's.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

LOGIN = 302  # anonymous page request → redirect to the login page
UNAUTH = 401  # anonymous API request


@dataclass
class Access:
    anon: int = LOGIN
    staff: int = 200
    owner: int = 200
    accountant: int = 200
    # Status when the staff member asks for another store's object (kwargs_other / query_other).
    staff_other: int | None = None
    kwargs: Callable[[Any], dict] | None = None
    kwargs_other: Callable[[Any], dict] | None = None
    query: str | Callable[[Any], str] = ""
    query_other: str | Callable[[Any], str] | None = None
    method: str = "get"
    data: dict | Callable[[Any], dict] | None = None
    # Extra text that must (not) appear for a role, e.g. costs hidden from staff: {"staff": ["Cost"]}.
    must_not_contain: dict[str, list[str]] = field(default_factory=dict)
    must_contain: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class World:
    """The people and stores every matrix run has; apps add their objects to `obj`."""

    store_own: Any
    store_other: Any
    staff: Any
    owner: Any
    accountant: Any
    obj: dict[str, Any] = field(default_factory=dict)


def resolve(value, world):
    return value(world) if callable(value) else value


# --- a private redis-server, for tests that stop or freeze their broker (never the shared one) -----------------


def redis_server_program(*, require: bool) -> str:
    """The redis-server program; a test without it skips, or fails when services are required (CI)."""
    program = shutil.which("redis-server")
    if not program:
        if require:
            pytest.fail("This test needs the redis-server program (REQUIRE_SERVICES is on).")
        pytest.skip("needs the redis-server program")
    return program


@contextmanager
def private_redis_server(port: int, *, require: bool) -> Iterator[subprocess.Popen]:
    """A redis-server of the test's own on `port`, without persistence: yields its process once the port answers,
    and stops it at the end (woken first, should the test have frozen it with SIGSTOP)."""
    command = [redis_server_program(require=require), "--port", str(port), "--bind", "127.0.0.1"]
    process = subprocess.Popen(command + ["--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not _answers_ping(port):
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server on port {port} did not answer within 20 s")
            time.sleep(0.05)
        yield process
    finally:
        process.send_signal(signal.SIGCONT)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False
