"""The clocks with nothing faked but the exchange: a real Celery worker and beat against Redis and
the test database. Beat fires the sweep, the worker lifts the freeze at its end, and the signed
webhook reaches an HTTP receiver standing in for the exchange platform."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from cases import tasks
from cases.models import Freeze
from cases.services import clocks, review
from leors.core.audit import Actor
from leors.core.models import AuditEvent, OutboxMessage
from leors.core.webhooks import webhook_signature_check
from tests.cases.clock_cast import ClockCast
from tests.documents import ENGLISH_WARRANT, pdf_with_text
from tests.factories import (
    approved_officer,
    confirm_out_of_band,
    document_input,
    four_eyes_activate,
    make_lead,
    submit_case,
)
from tests.processes import celery_processes

SECRET = "a-shared-secret-of-the-exchange-and-leors-0123456789"


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append({"body": body, "headers": {k.lower(): v for k, v in self.headers.items()}})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def exchange_receiver() -> Any:
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, _Receiver.received
    server.shutdown()
    server.server_close()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_r8_beat_and_worker_lift_a_freeze_at_its_end_and_tell_the_exchange(
        exchange_receiver: Any, settings: Any, tmp_path: Path) -> None:
    server, received = exchange_receiver
    url = f"http://127.0.0.1:{server.server_address[1]}/leors-webhooks"
    settings.LEORS_EXCHANGE_WEBHOOK_URL, settings.LEORS_EXCHANGE_WEBHOOK_SECRET = url, SECRET
    officer, lead = approved_officer(), make_lead()
    staff = Actor(user=lead)
    case = submit_case(officer, request_type="freeze", freeze_duration_days=10, data_requested="",
                       has_non_disclosure_instruction=None,
                       documents=[document_input(pdf_with_text(ENGLISH_WARRANT), document_type="freeze_order")])
    now = timezone.now()
    review.case_assign(case=case, reviewer=lead, actor=staff, now=now)
    review.case_checklist_update(case=case, data=review.ReviewChecklist(True, True, True, True, True, True),
                                 actor=staff, now=now)
    review.case_decide(case=case, decision="accepted", reasons="The freeze order is valid and explicit.",
                       actor=staff, now=now)
    confirm_out_of_band(case, actor=staff, now=now)  # confirmed now (a confirmation cannot predate the request)
    # Activated ten days ago less a few seconds: its end comes while the processes run.
    activated = timezone.now() - timedelta(days=10) + timedelta(seconds=6)
    freeze = four_eyes_activate(case=case, activation=clocks.FreezeActivation(), actor=staff, now=activated)
    assert freeze.is_in_force(timezone.now())

    with celery_processes(tmp_path, beat=True, LEORS_SWEEP_INTERVAL_SECONDS="1",
                          LEORS_EXCHANGE_WEBHOOK_URL=url, LEORS_EXCHANGE_WEBHOOK_SECRET=SECRET):
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            events = [json.loads(item["body"])["event"] for item in received]
            if "freeze.lifted" in events:
                break
            time.sleep(0.5)

    freeze.refresh_from_db()
    assert freeze.status == Freeze.Status.LIFTED, (tmp_path / "celery-0.log").read_text()[-3000:]
    assert freeze.lifted_at >= freeze.expires_at  # never before its end
    assert freeze.lift_reason == Freeze.LiftReason.EXPIRED
    events = [json.loads(item["body"])["event"] for item in received]
    assert events.count("freeze.activated") == 1 and events.count("freeze.lifted") == 1
    for item in received:
        headers = item["headers"]
        assert webhook_signature_check(secret=SECRET, timestamp=headers["x-leors-timestamp"], body=item["body"],
                                       signature=headers["x-leors-signature"], now=time.time(), window_seconds=300)
    lifted = next(json.loads(item["body"]) for item in received if json.loads(item["body"])["event"] == "freeze.lifted")
    assert lifted["data"]["case"] == case.reference
    assert lifted["data"]["subjects"][0]["value"] == "0x52908400098527886e0f7030069857d2e4169ee7"
    assert not OutboxMessage.objects.filter(channel="webhook").exclude(status="sent").exists()
    # The beat's sweeps left their heartbeat: monitoring sees the clocks keep time.
    health = Client().get("/healthz/clocks")
    assert health.status_code == 200 and health.json()["clocks"] == "ok", health.json()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_r8_two_worker_processes_lift_a_backlog_of_due_freezes_each_once(settings: Any, tmp_path: Path) -> None:
    settings.LEORS_EXCHANGE_WEBHOOK_URL = ""
    # Five freezes whose ten days ended yesterday (LEORS was down): more than one batch of two.
    with time_machine.travel(timezone.now() - timedelta(days=11), tick=False):
        cast = ClockCast()
        freezes = [cast.freeze(10) for _ in range(5)]

    with celery_processes(tmp_path, workers=2, LEORS_SWEEP_BATCH_SIZE="2", LEORS_SWEEP_WORKERS="2",
                          LEORS_EXCHANGE_WEBHOOK_URL=""):
        tasks.clocks_sweep.delay()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            logs = "".join(log.read_text() for log in sorted(tmp_path.glob("celery-*.log")))
            # The helper the sweep asked for ran in a worker process (a solo pool runs one task at a time).
            helped = re.search(r"Task cases\.tasks\.freezes_lift_due\[[\w-]+\] succeeded", logs)
            if helped and not Freeze.objects.filter(status=Freeze.Status.ACTIVE).exists():
                break
            time.sleep(0.5)

    assert helped, logs[-3000:]
    assert not Freeze.objects.filter(status=Freeze.Status.ACTIVE).exists(), logs[-3000:]
    for freeze in freezes:
        lifted = AuditEvent.objects.filter(action="freeze.lifted", object_id=str(freeze.case_id))
        assert lifted.count() == 1, freeze  # each once, whichever process took it
