"""Session settings of LEORS's own PostgreSQL connections."""

from __future__ import annotations

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper


def session_configure(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """No just-in-time compilation: PostgreSQL compiles a query whose estimated cost is high, and an
    EXISTS over a large table is estimated high even when it never runs. LEORS's queries are short
    reads and writes; compiling one cost more than running it (the exchange's restriction feed:
    160 ms of JIT on a 40 ms count at 1M cases; benchmarks README). Set per connection, not as a
    startup option, which PgBouncer refuses."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET jit = off")
