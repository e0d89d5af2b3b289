"""Bulk inserts for the sweeps: one COPY on PostgreSQL instead of an INSERT of thousands of rows.

`bulk_create` quotes every value of every row into the SQL text in Python (Django's client-side
binding, through UNNEST arrays) — most of what a sweep of thousands of clocks costs. COPY streams
the rows in PostgreSQL's own format, each value dumped by psycopg's C code. The rows get their
ids in the order given (a serial column), which the audit chain relies on; ids are not read back
(the objects keep pk None). A single row, and every row on another database (the demo's SQLite),
goes through `bulk_create`, which sets the pk.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import AutoField, BigAutoField, JSONField, Model, SmallAutoField

_AUTO = (AutoField, BigAutoField, SmallAutoField)


def rows_insert(model: type[Model], objects: Sequence[Model]) -> None:
    """Insert `objects` (unsaved, of `model`) in the caller's transaction, in order.

    Raises django.db.IntegrityError, as `bulk_create` would, when a row breaks a constraint (the
    whole COPY is then undone: run it in a savepoint if the caller means to recover).
    """
    if not objects:
        return
    if len(objects) == 1 or connection.vendor != "postgresql":
        model._default_manager.bulk_create(objects)
        return
    fields = [field for field in model._meta.concrete_fields if not isinstance(field, _AUTO)]
    json_fields = {field.attname: field for field in fields if isinstance(field, JSONField)}
    attnames = [field.attname for field in fields]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(field.column)) for field in fields)
    statement = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:
        for obj in objects:
            copy.write_row([json_fields[name].get_db_prep_save(getattr(obj, name), connection)
                            if name in json_fields else getattr(obj, name) for name in attnames])
