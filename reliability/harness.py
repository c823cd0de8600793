"""The reliability suite's running instance: real processes on free ports, as in production.

- `RedisServer`: a private redis-server (no persistence) the tests may `stop()`, `start()`, `freeze()` (SIGSTOP:
  it accepts connections and never answers) and `thaw()` (SIGCONT).
- `Database`: a fresh PostgreSQL database on the server of DATABASE_URL, migrated once, seeded with a tiny demo
  chain (4 stores, 10 products, a login per role, a POS device token), dropped at the end.
- `Stack`: gunicorn (2 sync workers, --timeout 30), a Celery worker on every queue and beat, each a subprocess in its
  own process group with the environment of a production deployment (a random secret key, DEBUG off, plain HTTP
  allowed), its log in a file of the run's temporary directory.
- `Client`: a small HTTP client (token or session login) that times every request.

Nothing here imports Django: the tests talk to the instance over HTTP and read its database with psycopg.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORKER_QUEUES = "interactive,heavy,celery"  # the Procfile's two queues, and Celery's default for older routes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], object], *, seconds: float, what: str, every: float = 0.2) -> object:
    """Poll `condition` until it returns something truthy; raise TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(every)


class Process:
    """A subprocess in its own process group (so its children go with it), its output in a log file."""

    def __init__(self, name: str, command: list[str], *, env: dict[str, str], log_dir: Path):
        self.name, self.command, self.env = name, command, env
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen | None = None

    def start(self) -> Process:
        log = self.log_path.open("a")
        log.write(f"\n--- start {time.strftime('%H:%M:%S')}: {' '.join(self.command)}\n")
        log.flush()
        self.popen = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.killpg(self.pid, sig)

    def stop(self, *, timeout: float = 15) -> None:
        """SIGCONT (a frozen process cannot act on SIGTERM), SIGTERM, then SIGKILL to the whole group."""
        if self.popen is None:
            return
        if self.alive():
            for sig in (signal.SIGCONT, signal.SIGTERM):
                try:
                    os.killpg(self.pid, sig)
                except ProcessLookupError:
                    break
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:  # children left behind by a killed parent go too
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.popen.poll() is None:
            self.popen.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL the whole group: no chance to clean up."""
        if self.popen is not None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(timeout=10)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class RedisServer:
    """A private redis-server without persistence, which a test may stop, start, freeze and thaw."""

    def __init__(self, *, log_dir: Path, port: int | None = None):
        self.port = port or free_port()
        self.log_dir = log_dir
        self.frozen = False
        command = [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(log_dir)]
        self.process = Process("redis", command, env=dict(os.environ), log_dir=log_dir)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        if self.process.alive():
            return
        self.process.start()
        wait_for(self.ping, seconds=20, what=f"redis-server on port {self.port}", every=0.05)

    def stop(self) -> None:
        """The broker goes away: the port refuses connections."""
        self.thaw()
        self.process.stop(timeout=10)

    def freeze(self) -> None:
        """The broker hangs: connections are accepted by the kernel but nothing is ever answered."""
        self.process.signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        if self.frozen:
            self.process.signal(signal.SIGCONT)
            self.frozen = False

    def restore(self) -> None:
        """Back to a healthy broker, whatever a test did to it."""
        self.thaw()
        if not self.process.alive():
            self.start()


class Database:
    """A PostgreSQL database of the suite's own, created fresh from DATABASE_URL's server and dropped at the end."""

    def __init__(self, server_url: str, *, name: str | None = None):
        parts = urllib.parse.urlsplit(server_url)
        self.name = name or f"retailops_reliability_{os.getpid()}"
        self.url = urllib.parse.urlunsplit(parts._replace(path=f"/{self.name}"))
        self.admin_url = urllib.parse.urlunsplit(parts._replace(path="/postgres"))

    def create(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def query(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            return conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: tuple | list = ()) -> object:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None


@dataclass
class Seeded:
    """What the seed script reports: logins, tokens, ids the tests use."""

    tokens: dict[str, str]  # owner, staff, pos
    passwords: dict[str, str]  # owner, accountant, staff
    stores: list[dict]  # [{"id", "code"}], the first is staff's store
    products: list[dict]  # [{"id", "sku", "price"}]
    history_end: str


@dataclass
class Stack:
    """Web, worker and beat on one Redis and one database; `env` is what every process gets."""

    redis: RedisServer
    database: Database
    log_dir: Path
    seeded: Seeded | None = None
    web_port: int = field(default_factory=free_port)
    processes: dict[str, Process] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "REDIS_", "PYTEST_", "COV_"))}
        env.update(
            PYTHONUNBUFFERED="1",
            DJANGO_SETTINGS_MODULE="retailops.settings",
            DATABASE_URL=self.database.url,
            CELERY_BROKER_URL=self.redis.url(0),
            DJANGO_DEBUG="0",
            DJANGO_SECRET_KEY=self._secret,
            RETAILOPS_ALLOW_HTTP="1",
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            RETAILOPS_VAR_DIR=str(self.log_dir / "var"),
            RETAILOPS_LOG_LEVEL="WARNING",
        )
        env.pop("CELERY_TASK_ALWAYS_EAGER", None)
        return env

    def __post_init__(self):
        self._secret = secrets.token_hex(32)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    # --- one-off commands -------------------------------------------------------------------------------

    def manage(self, *args: str, timeout: float = 600) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result.stdout

    def prepare(self) -> None:
        """Create, migrate and seed the database (once per session)."""
        self.database.create()
        self.manage("migrate", "--noinput", "-v", "0")
        out = subprocess.run(
            [sys.executable, "-m", "reliability.seed"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if out.returncode:
            raise RuntimeError(f"seeding failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
        self.seeded = Seeded(**json.loads(out.stdout.strip().splitlines()[-1]))

    # --- the long-running processes ----------------------------------------------------------------------

    def _process(self, name: str, command: list[str]) -> Process:
        process = Process(name, command, env=self.env, log_dir=self.log_dir)
        self.processes[name] = process
        return process.start()

    def start_web(self) -> Process:
        command = [str(BIN / "gunicorn"), "retailops.wsgi:application", "--bind", f"127.0.0.1:{self.web_port}"]
        command += ["--workers", "2", "--timeout", "30", "--graceful-timeout", "5", "--log-level", "warning"]
        process = self._process("web", command)
        wait_for(self._web_answers, seconds=60, what="gunicorn to answer /healthz/")
        return process

    def _web_answers(self) -> bool:
        if not self.processes["web"].alive():
            raise RuntimeError(f"gunicorn exited:\n{self.processes['web'].log_tail()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.web_port, timeout=5)
            conn.request("GET", "/healthz/")
            # 200, or 503 while no worker or beat has started yet (they start after the web): the web answers
            ok = conn.getresponse().status in (200, 503)
            conn.close()
            return ok
        except OSError:
            return False

    def start_worker(self, name: str = "worker") -> Process:
        command = [sys.executable, "-m", "celery", "-A", "retailops", "worker", "-Q", WORKER_QUEUES]
        command += ["--concurrency", "1", "--hostname", f"{name}-{uuid.uuid4().hex[:6]}@%h", "--loglevel", "INFO"]
        process = self._process(name, command)
        wait_for(lambda: "ready" in process.log_tail(20000) or not process.alive(), seconds=90, what=f"{name} ready")
        if not process.alive():
            raise RuntimeError(f"{name} exited on start:\n{process.log_tail()}")
        return process

    def restart_worker(self, name: str = "worker") -> Process:
        self.stop(name)
        return self.start_worker(name)

    def ensure_worker(self, name: str = "worker") -> Process:
        """The worker, started again if a test left it dead."""
        process = self.processes.get(name)
        if process is None or not process.alive():
            return self.start_worker(name)
        return process

    def start_beat(self) -> Process:
        command = [sys.executable, "-m", "celery", "-A", "retailops", "beat", "--loglevel", "INFO"]
        command += ["--pidfile", str(self.log_dir / "beat.pid"), "--schedule", str(self.log_dir / "beat-schedule")]
        return self._process("beat", command)

    def stop(self, name: str) -> None:
        process = self.processes.get(name)
        if process is not None:
            process.stop()

    def stop_all(self) -> None:
        for name in list(self.processes)[::-1]:
            self.stop(name)

    def logs(self, chars: int = 3000) -> str:
        parts = [f"----- {name} ({p.log_path}) -----\n{p.log_tail(chars)}" for name, p in self.processes.items()]
        parts.append(f"----- redis -----\n{self.redis.process.log_tail(chars)}")
        return "\n".join(parts)

    def client(self, *, timeout: float = 35) -> Client:
        return Client(self.web_port, timeout=timeout)


@dataclass
class Answer:
    status: int  # 0: no answer (timed out or connection error)
    seconds: float
    body: bytes = b""
    error: str = ""

    def json(self):
        return json.loads(self.body)


class Client:
    """HTTP to the instance, every request timed. `token(...)` or `login(...)` first."""

    def __init__(self, port: int, *, timeout: float = 35):
        self.port, self.timeout = port, timeout
        self.headers: dict[str, str] = {}
        self.cookies: dict[str, str] = {}

    def token(self, key: str) -> Client:
        self.headers["Authorization"] = f"Token {key}"
        return self

    def request(self, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None) -> Answer:
        all_headers = {**self.headers, **(headers or {})}
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
            data = response.read()
            for header, value in response.getheaders():
                if header.lower() == "set-cookie":
                    name, _, rest = value.partition("=")
                    self.cookies[name.strip()] = rest.split(";", 1)[0]
            return Answer(response.status, time.perf_counter() - started, data)
        except (OSError, http.client.HTTPException) as exc:
            return Answer(0, time.perf_counter() - started, error=repr(exc))
        finally:
            conn.close()

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post_json(self, path: str, payload: object) -> Answer:
        return self.request(
            "POST", path, body=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
        )

    def csrf(self, page: str) -> str:
        answer = self.get(page)
        match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', answer.body)
        if not match:
            raise AssertionError(f"no CSRF token on {page} ({answer.status})")
        return match.group(1).decode()

    def login(self, username: str, password: str) -> Client:
        token = self.csrf("/accounts/login/")
        form = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token})
        answer = self.request(
            "POST", "/accounts/login/", body=form.encode(), headers=self._form_headers("/accounts/login/")
        )
        if answer.status != 302 or "sessionid" not in self.cookies:
            raise AssertionError(f"login as {username} failed: {answer.status} {answer.body[:300]!r}")
        return self

    def _form_headers(self, page: str) -> dict[str, str]:
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            "Referer": f"http://127.0.0.1:{self.port}{page}",
            "X-CSRFToken": self.cookies.get("csrftoken", ""),
        }

    def post_form(self, page: str, fields: dict[str, str], *, files: dict[str, tuple[str, bytes]] | None = None):
        """POST a page's form (its CSRF token fetched first), multipart when there are files."""
        fields = {**fields, "csrfmiddlewaretoken": self.csrf(page)}
        headers = {"Referer": f"http://127.0.0.1:{self.port}{page}"}
        if not files:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            return self.request("POST", page, body=urllib.parse.urlencode(fields).encode(), headers=headers)
        boundary = uuid.uuid4().hex
        chunks = []
        for name, value in fields.items():
            chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
        for name, (filename, content) in files.items():
            head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            chunks.append(head.encode() + b"Content-Type: text/csv\r\n\r\n" + content + b"\r\n")
        chunks.append(f"--{boundary}--\r\n".encode())
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        return self.request("POST", page, body=b"".join(chunks), headers=headers)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]
