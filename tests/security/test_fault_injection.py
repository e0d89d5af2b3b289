"""Fault injection: the worker is killed in the middle of a sweep, and the broker restarts with
all its data gone. Afterwards every due freeze was lifted exactly once and every webhook queued in
the outbox reached the exchange exactly once.

The broker here is a Redis server of the test's own, listening on a unix socket in a directory of
its own (no TCP port, so no other process can take its address between a stop and a start), so that
flushing and restarting it touches nothing else; the database is the suite's PostgreSQL.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from cases.models import Case, Freeze
from leors.core.models import AuditEvent, OutboxMessage
from tests.factories import approved_officer, make_lead
from tests.processes import suite_database_url

SECRET = "fault-injection-shared-secret-0123456789abcdef"
FREEZES = 150


class _Redis:
    """A private redis-server: started, flushed, killed and started again by the test."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is needed for the fault-injection test (Debian package redis-server).")
        # A short path of its own: a unix socket's path may not exceed 107 bytes, and pytest's tmp_path can.
        self.binary, self.workdir = binary, workdir
        self.socket = Path(tempfile.mkdtemp(prefix="leors-redis-")) / "redis.sock"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis+socket://{self.socket}?virtual_host=0"

    def _client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1)

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            [self.binary, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self._client().ping():
                    return
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                time.sleep(0.05)
        self.stop()
        pytest.fail("The private redis-server did not start.")

    def flush_and_restart(self) -> None:
        self._client().flushall()
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None
        self.socket.unlink(missing_ok=True)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.socket.parent, ignore_errors=True)


class _Receiver(BaseHTTPRequestHandler):
    keys: list[str] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.keys.append(json.loads(body)["idempotency_key"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def exchange() -> Iterator[str]:
    _Receiver.keys = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/webhooks"
    server.shutdown()
    server.server_close()


def _start_celery(workdir: Path, env: dict[str, str], run: int) -> list[subprocess.Popen[bytes]]:
    celery = [sys.executable, "-m", "celery", "-A", "leors"]
    processes = []
    for name, command in (
        ("worker", [*celery, "worker", "--pool=solo", "--loglevel=INFO", "--without-heartbeat", "--without-gossip",
                    "--without-mingle"]),
        ("beat", [*celery, "beat", "--loglevel=INFO", "--schedule", str(workdir / f"beat-{run}")]),
    ):
        log = (workdir / f"{name}-{run}.log").open("w")
        processes.append(subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=log,  # noqa: S603
                                          stderr=subprocess.STDOUT))
    return processes


def _due_freezes(count: int) -> None:
    """Freezes already past their end, as after downtime (built in bulk: the sweep is what is tested)."""
    officer, lead = approved_officer(), make_lead()
    now = timezone.now()
    cases = Case.objects.bulk_create([
        Case(reference=f"LEORS-2026-9{n:05d}", request_type="freeze", status=Case.Status.FULFILLED, officer=officer,
             agency=officer.agency, submitted_by=officer.user, submission_key=f"fault-{n}",
             submitted_at=now - timedelta(days=40), title="Freeze", request_text="Freeze the account.",
             freeze_duration_days=30)
        for n in range(count)
    ])
    Freeze.objects.bulk_create([
        Freeze(case=case, stated_days=30, granted_days=30, activated_at=now - timedelta(days=31), activated_by=lead,
               expires_at=now - timedelta(days=1) + timedelta(seconds=n))
        for n, case in enumerate(cases)
    ])


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_r8_worker_killed_mid_sweep_and_broker_flushed_lose_nothing_and_repeat_nothing(
        exchange: str, settings: Any, tmp_path: Path) -> None:
    _due_freezes(FREEZES)
    broker = _Redis(tmp_path)
    env = {**os.environ, "DATABASE_URL": suite_database_url(), "CELERY_BROKER_URL": broker.url,
           "LEORS_VAR_DIR": str(tmp_path / "var"), "LEORS_SWEEP_INTERVAL_SECONDS": "1",
           "LEORS_SWEEP_BATCH_SIZE": "5",  # small batches, so that the kill lands between two of them
           "LEORS_EXCHANGE_WEBHOOK_URL": exchange, "LEORS_EXCHANGE_WEBHOOK_SECRET": SECRET}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        broker.start()
        # 1. A sweep starts lifting; the worker is killed (SIGKILL: no clean-up) part-way through.
        processes = _start_celery(tmp_path, env, run=1)
        deadline = time.monotonic() + 60
        lifted = 0
        while time.monotonic() < deadline:
            lifted = Freeze.objects.filter(status=Freeze.Status.LIFTED).count()
            if lifted >= 5:
                break
            time.sleep(0.01)
        for process in processes:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        killed_at = Freeze.objects.filter(status=Freeze.Status.LIFTED).count()
        assert 0 < killed_at < FREEZES, f"the kill did not land mid-sweep ({killed_at} of {FREEZES} lifted)"

        # 2. The broker restarts with nothing in it: every queued task is gone.
        broker.flush_and_restart()

        # 3. Worker and beat come back; the sweeps and the outbox catch up.
        processes = _start_celery(tmp_path, env, run=2)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = (not Freeze.objects.filter(status=Freeze.Status.ACTIVE).exists()
                    and not OutboxMessage.objects.exclude(status=OutboxMessage.Status.SENT).exists())
            if done:
                break
            time.sleep(0.25)
        for process in processes:
            process.terminate()
            process.wait(timeout=20)
    finally:
        for process in processes:  # a failure part-way leaves none of them running
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        broker.remove()

    log = (tmp_path / "worker-2.log").read_text()[-2000:]
    assert not Freeze.objects.filter(status=Freeze.Status.ACTIVE).exists(), log
    lifts = Counter(AuditEvent.objects.filter(action="freeze.lifted").values_list("object_id", flat=True))
    assert len(lifts) == FREEZES and set(lifts.values()) == {1}  # every expiry happened, once
    messages = list(OutboxMessage.objects.filter(channel=OutboxMessage.Channel.WEBHOOK))
    assert len(messages) == FREEZES and all(m.status == OutboxMessage.Status.SENT for m in messages), log
    deliveries = Counter(_Receiver.keys)
    assert set(deliveries) == {m.key for m in messages}  # nothing lost
    assert set(deliveries.values()) == {1}  # nothing sent twice
