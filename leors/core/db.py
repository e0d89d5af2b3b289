"""LEORS's database connections: their session settings, and the quoted names hand-written SQL uses."""

from __future__ import annotations

from typing import Any, cast

from django.db import connection as default_connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model


def session_configure(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """No just-in-time compilation: PostgreSQL compiles a query whose estimated cost is high, and an
    EXISTS over a large table is estimated high even when it never runs. LEORS's queries are short
    reads and writes; compiling one cost more than running it (the exchange's restriction feed:
    160 ms of JIT on a 40 ms count at 1M cases; benchmarks README). Set per connection, not as a
    startup option, which PgBouncer refuses."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET jit = off")


def quoted_column(model: type[Model], field_name: str) -> str:
    """The column of a model's field, quoted for the default database: the one way the hand-written
    SQL texts (permission reads, the audit list's filters) put a name into their text."""
    return default_connection.ops.quote_name(str(cast(Field, model._meta.get_field(field_name)).column))  # type: ignore[type-arg]
