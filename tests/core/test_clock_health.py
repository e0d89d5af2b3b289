"""/healthz/clocks: whether the scheduled work is done (R7, R8). With the worker or beat down, pages still
show the right state, but no freeze is lifted at the exchange and no reminder goes out; monitoring is told
by a 503 here. (The real worker and beat leave their heartbeat in tests/cases/test_worker_beat.py.)"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from cases import tasks
from leors.core.models import OutboxMessage, SweepHeartbeat

pytestmark = pytest.mark.django_db


def _clocks() -> tuple[int, dict[str, Any]]:
    response = Client().get("/healthz/clocks")
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    return response.status_code, response.json()


def _message(channel: str, *, created_at: Any, status: str = OutboxMessage.Status.PENDING) -> OutboxMessage:
    return OutboxMessage.objects.create(key=f"{channel}:{created_at.isoformat()}", channel=channel,
                                        recipient="https://exchange.example/hooks", status=status,
                                        created_at=created_at, next_attempt_at=created_at)


def test_r7_r8_clocks_that_never_ran_are_reported_to_monitoring() -> None:
    assert _clocks() == (503, {"status": "late", "clocks": "never run", "webhooks": "ok", "emails": "ok"})


def test_r7_r8_the_sweep_task_leaves_its_heartbeat_and_a_silence_past_the_limit_is_late(settings: Any) -> None:
    settings.LEORS_HEALTH_SWEEP_LATE_MINUTES = 5
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        tasks.clocks_sweep()
        status, body = _clocks()
    assert (status, body["status"], body["clocks"]) == (200, "ok", "ok")
    assert SweepHeartbeat.objects.get().finished_at == start
    with time_machine.travel(start + timedelta(minutes=5), tick=False):
        assert _clocks()[0] == 200  # at the limit, still in time
    with time_machine.travel(start + timedelta(minutes=5, seconds=1), tick=False):
        status, body = _clocks()
    assert (status, body["status"], body["clocks"]) == (503, "late", "late")
    assert body["clocks_last_finished_seconds_ago"] == 301
    with time_machine.travel(start + timedelta(minutes=6), tick=False):
        tasks.clocks_sweep()  # the worker is back: one heartbeat row, written over
        assert _clocks()[0] == 200
    assert SweepHeartbeat.objects.count() == 1


def test_r7_r8_the_cron_command_leaves_the_same_heartbeat() -> None:
    call_command("run_sweeps", stdout=StringIO())
    status, body = _clocks()
    assert (status, body["clocks"]) == (200, "ok")


def test_r8_a_webhook_waiting_past_the_limit_is_late_and_names_nothing(settings: Any) -> None:
    settings.LEORS_HEALTH_OUTBOX_LATE_MINUTES = 15
    now = timezone.now()
    tasks.clocks_sweep()
    _message("webhook", created_at=now - timedelta(minutes=14))  # retrying, still within the limit
    _message("email", created_at=now - timedelta(hours=5), status=OutboxMessage.Status.SENT)
    assert _clocks()[0] == 200
    late = _message("webhook", created_at=now - timedelta(minutes=16))  # the exchange keeps refusing it
    status, body = _clocks()
    assert (status, body["status"], body["webhooks"], body["emails"]) == (503, "late", "late", "ok")
    assert 16 * 60 <= body["webhooks_oldest_waiting_seconds"] < 17 * 60
    assert "exchange.example" not in str(body)  # open to monitoring: states and ages, no recipient or count
    late.status = OutboxMessage.Status.SENT
    late.save()
    assert _clocks()[0] == 200


def test_r12_an_email_the_relay_keeps_refusing_is_late(settings: Any) -> None:
    settings.LEORS_HEALTH_OUTBOX_LATE_MINUTES = 15
    tasks.clocks_sweep()
    _message("email", created_at=timezone.now() - timedelta(minutes=20))
    status, body = _clocks()
    assert (status, body["webhooks"], body["emails"]) == (503, "ok", "late")
