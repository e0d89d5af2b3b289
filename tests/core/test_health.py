"""/healthz: the database and the broker, as JSON; 503 when either cannot be reached. And the
workers' database connections: kept between requests, replaced when PostgreSQL drops them, and
keeping the statements they repeat prepared."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection, connections
from django.test import Client, RequestFactory

from leors.access.models import User
from leors.celery import app
from tests.processes import settings_in_child


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


def _served_by_wsgi(path: str) -> int:
    """The status of one request through Django's WSGI handler, as gunicorn serves it: the request
    signals run, and with them Django's per-request handling of database connections."""
    statuses: list[str] = []
    environ = RequestFactory().get(path).environ
    body = WSGIHandler()(environ, lambda status, headers, exc_info=None: statuses.append(status))
    body.close()
    return int(statuses[0].split()[0])


def _outside_connection() -> psycopg.Connection[Any]:
    """A connection to the suite's database that is not Django's (none of LEORS's session settings)."""
    return psycopg.connect(host="127.0.0.1", port=connection.settings_dict["PORT"] or 5432,
                           user=connection.settings_dict["USER"], dbname=connection.settings_dict["NAME"],
                           autocommit=True)


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_its_database_connection_and_survives_losing_it() -> None:
    # Production settings: connections persist (not one per request) and are checked before reuse.
    assert connection.settings_dict["CONN_MAX_AGE"] > 0
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True
    assert _served_by_wsgi("/healthz") == 200
    kept = _backend_pid()
    assert _served_by_wsgi("/healthz") == 200
    assert _backend_pid() == kept  # the same PostgreSQL session served both requests

    # PostgreSQL ends the session (a restart, a failover, an administrator): the next request
    # finds the connection unusable, opens a new one and answers, instead of a 500.
    with _outside_connection() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [kept])
    assert _served_by_wsgi("/healthz") == 200
    assert _backend_pid() != kept


@pytest.mark.django_db
def test_a_query_a_connection_repeats_is_planned_once() -> None:
    # Parameters are bound by PostgreSQL, so the same query with other values is the same statement;
    # from its fifth run on a connection, psycopg keeps it prepared and PostgreSQL stops planning it.
    assert connection.settings_dict["OPTIONS"]["server_side_binding"] is True
    for user_id in range(1, 8):
        list(User.objects.filter(pk=user_id).values_list("email", flat=True))
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
        prepared = [row[0] for row in cursor.fetchall()]
    assert [statement for statement in prepared
            if 'FROM "access_user"' in statement and '"access_user"."id" = $1' in statement]


@pytest.mark.django_db
def test_postgresql_compiles_no_query_just_in_time() -> None:
    # PostgreSQL's default is on; LEORS's short queries lost more to compiling than they gained.
    with _outside_connection() as other:
        assert other.execute("SHOW jit").fetchone() == ("on",)  # a connection that is not LEORS's
    opened = connections.create_connection("default")  # as a worker opens its connection
    try:
        with opened.cursor() as cursor:
            cursor.execute("SHOW jit")
            assert cursor.fetchone() == ("off",)
    finally:
        opened.close()


@pytest.mark.parametrize(("database_url", "prepared", "expected"), [
    ("postgres://leors@db.example/leors", "", "60 True True 5"),
    ("postgres://leors@db.example/leors", "false", "60 True None None"),  # behind a transaction-mode pooler
    ("sqlite:///demo.sqlite3", "", "60 True None None"),  # the demo: nothing to prepare
])
def test_database_connection_settings(tmp_path: Path, database_url: str, prepared: str, expected: str) -> None:
    values = settings_in_child(
        "s.DATABASES['default']['CONN_MAX_AGE'], s.DATABASES['default']['CONN_HEALTH_CHECKS'], "
        "s.DATABASES['default'].get('OPTIONS', {}).get('server_side_binding'), "
        "s.DATABASES['default'].get('OPTIONS', {}).get('prepare_threshold')",
        var_dir=tmp_path, DEBUG="true", DATABASE_URL=database_url, DB_PREPARED_STATEMENTS=prepared)
    assert values == expected
