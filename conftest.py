"""Stops the suite at once, naming what to start, when PostgreSQL or Redis cannot be reached.

The suite never skips its real tests: it runs against the real services or not at all.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

_HOW_TO_START = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no",
}


def _reachable(url: str, default_port: int) -> tuple[str, int, bool]:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
    try:
        with socket.create_connection((host, port), timeout=2):
            return host, port, True
    except OSError:
        return host, port, False


def _postgres_login_problem(url: str) -> str | None:
    """A real connection: a port that answers may still refuse us (pg_hba, password, no database)."""
    import psycopg

    parsed = urlparse(url)
    try:
        with psycopg.connect(host=parsed.hostname or "127.0.0.1", port=parsed.port or 5432,
                             user=parsed.username or "postgres", password=parsed.password or None,
                             dbname="postgres", connect_timeout=3):
            return None
    except psycopg.Error as error:
        return (f"PostgreSQL answers but refuses the connection: {str(error).strip()}. The suite connects as "
                f"{parsed.username or 'postgres'} to {parsed.hostname}:{parsed.port or 5432}; allow it (trust or a "
                "password in DATABASE_URL) and let it create databases.")


def pytest_configure(config: pytest.Config) -> None:
    checks = [
        ("PostgreSQL", os.environ.get("DATABASE_URL", ""), 5432),
        ("Redis", os.environ.get("CELERY_BROKER_URL", ""), 6379),
    ]
    for name, url, port in checks:
        if not url or url.startswith(("sqlite", "filesystem")):
            pytest.exit(f"The test suite needs {name}; its URL is {url!r}. Set it (see README.md).", returncode=3)
        host, port, ok = _reachable(url, port)
        if not ok:
            pytest.exit(
                f"{name} is not reachable at {host}:{port}. Start it, e.g.: {_HOW_TO_START[name]}", returncode=3
            )
    problem = _postgres_login_problem(os.environ["DATABASE_URL"])
    if problem:
        pytest.exit(problem, returncode=3)


if __name__ == "__main__":  # used by bin/test to fail fast before installing the browser or linting
    import sys

    for name, url, port in [
        ("PostgreSQL", os.environ.get("DATABASE_URL", ""), 5432),
        ("Redis", os.environ.get("CELERY_BROKER_URL", ""), 6379),
    ]:
        host, port, ok = _reachable(url, port)
        if not ok:
            print(f"{name} is not reachable at {host}:{port}. Start it, e.g.: {_HOW_TO_START[name]}", file=sys.stderr)
            sys.exit(3)
    problem = _postgres_login_problem(os.environ.get("DATABASE_URL", ""))
    if problem:
        print(problem, file=sys.stderr)
        sys.exit(3)
    print("PostgreSQL and Redis are reachable.")
