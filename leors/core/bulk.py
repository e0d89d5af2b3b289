"""Bulk inserts for the sweeps: one COPY on PostgreSQL instead of an INSERT of thousands of rows.

`bulk_create` quotes every value of every row into the SQL text in Python (Django's client-side
binding, through UNNEST arrays) — most of what a sweep of thousands of clocks costs. COPY streams
the rows in PostgreSQL's own format, each value dumped by psycopg's C code. COPY returns no ids, so
the ids are taken from the table's sequence first, in one query, and written with the rows: every
object gets its pk, as with `bulk_create`, and within a call the ids follow the order given. (Across
transactions they follow the order in which the ids were taken: the audit chain takes them under
its lock.) A single row, and every row on another database (the demo's SQLite), goes through
`bulk_create`.
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
    pk = model._meta.pk
    if not isinstance(pk, _AUTO):
        raise TypeError(f"{model.__name__} has no sequence to take its ids from")
    fields = [field for field in model._meta.concrete_fields if field is not pk]
    json_fields = {field.attname: field for field in fields if isinstance(field, JSONField)}
    attnames = [field.attname for field in fields]
    quote = connection.ops.quote_name
    table = model._meta.db_table
    columns = ", ".join(quote(str(field.column)) for field in [pk, *fields])
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                       [quote(table), pk.column, len(objects)])
        ids = sorted(row[0] for row in cursor.fetchall())
        with connection.wrap_database_errors, cursor.cursor.copy(f"COPY {quote(table)} ({columns}) FROM STDIN") as copy:
            for id_, obj in zip(ids, objects, strict=True):
                copy.write_row([id_, *(json_fields[name].get_db_prep_save(getattr(obj, name), connection)
                                       if name in json_fields else getattr(obj, name) for name in attnames)])
    for id_, obj in zip(ids, objects, strict=True):
        obj.pk = id_
        obj._state.adding, obj._state.db = False, connection.alias
