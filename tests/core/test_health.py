"""/healthz: the database and the broker, as JSON; 503 when either cannot be reached."""

from __future__ import annotations

import socket

import pytest
from django.test import Client

from leors.celery import app


def _closed_port() -> int:
    # A port the OS just handed out and we released: nothing listens on it.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.django_db
def test_healthz_reports_database_and_broker_ok() -> None:
    assert app.conf.broker_url.startswith("redis://")  # the suite runs with the Redis broker
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_is_503_when_the_broker_cannot_be_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    unreachable = f"redis://127.0.0.1:{_closed_port()}/0"
    # Celery reads CELERY_BROKER_URL from the environment before its own configuration, so both are
    # pointed at the closed port; monkeypatch restores them after the test.
    monkeypatch.setenv("CELERY_BROKER_URL", unreachable)
    monkeypatch.setitem(app.conf, "broker_url", unreachable)
    assert app.conf.broker_write_url == unreachable

    response = Client().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "ok"
    assert body["broker"].startswith("error: ")
