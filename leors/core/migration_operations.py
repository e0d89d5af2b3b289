"""Migration operations of LEORS's own: indexes that only PostgreSQL builds, or builds without locking."""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db.migrations.operations import AddIndex, RemoveIndex
from django.db.migrations.operations.base import Operation


def _drop_if_invalid(schema_editor: Any, name: str) -> bool:
    """Drop `name` if it is an index a failed or cancelled CREATE INDEX CONCURRENTLY left behind (it is
    kept up to date by every write and serves no read); say whether a valid index `name` exists."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
                       [schema_editor.quote_name(name)])
        row = cursor.fetchone()
    if row is not None and not row[0]:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY {schema_editor.quote_name(name)}")
    return bool(row and row[0])


class _PlainWhereNotPostgreSQL(Operation):
    """PostgreSQL runs the concurrent operation (the next class in the MRO); another database, the plain
    one it is based on (`plain`): CONCURRENTLY is PostgreSQL's, and the demo's SQLite has no writer to
    keep waiting."""

    plain: type[Operation]

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            self.plain.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            self.plain.database_backwards(self, app_label, schema_editor, from_state, to_state)


class AddIndexWithoutLocking(_PlainWhereNotPostgreSQL, AddIndexConcurrently):
    """Django's AddIndexConcurrently on PostgreSQL: the table stays writable while its index is built
    (a sweep's clock table, a million rows at a global exchange's volume, is written by every freeze
    and lift). A plain AddIndex elsewhere (SQLite, the demo). The migration must be `atomic = False`,
    so Django records it as applied only once all of it ran; for it to be simply run again after a
    run stopped part-way, an index of the same name that run left behind is kept if it was built, or
    dropped and built again if its build was cancelled (as CreateTrigramIndexes does)."""

    plain = AddIndex

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql" and _drop_if_invalid(schema_editor, self.index.name):
            return  # built by a run that stopped after it
        super().database_forwards(app_label, schema_editor, from_state, to_state)


class RemoveIndexWithoutLocking(_PlainWhereNotPostgreSQL, RemoveIndexConcurrently):
    """Django's RemoveIndexConcurrently on PostgreSQL (a plain DROP INDEX waits for every read of the
    table and holds up every one after it); a plain RemoveIndex elsewhere."""

    plain = RemoveIndex


class CreateTrigramIndexes(Operation):
    """Trigram GIN indexes (pg_trgm) on `UPPER(column::text)`, the expression Django's `icontains`
    compares with `LIKE UPPER('%term%')`: a search for a fragment of a reference, a title, a wallet
    or a name reads the index instead of every row (benchmarks, P1: the staff searches).

    - Built CONCURRENTLY, so the table stays writable while a large one is indexed (the audit trail
      is written on every change); the migration must be `atomic = False`. A build that failed or was
      cancelled leaves an invalid index behind, which is dropped and built again.
    - PostgreSQL only, and outside the models' state: SQLite (the demo) has neither pg_trgm nor GIN,
      and its searches scan as before.
    - Run as the tables' owner, as every migration is (core.0002: the application's role should not
      own the tables). `pg_trgm` is a trusted extension (PostgreSQL 13 and later): a role with CREATE
      on the database may create it. It is never dropped on the way back: the indexes of another
      app's migration may still use it.
    """

    reduces_to_sql = True
    reversible = True

    def __init__(self, *, table: str, columns: dict[str, str]) -> None:
        self.table = table
        self.columns = columns  # index name -> column

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return self.__class__.__qualname__, [], {"table": self.table, "columns": self.columns}

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass  # no model state: the indexes are not in Meta.indexes, which SQLite could not create

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        quote = schema_editor.quote_name
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, column in self.columns.items():
            _drop_if_invalid(schema_editor, name)
            schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {quote(name)} ON {quote(self.table)} "
                                  f"USING gin ((UPPER({quote(column)}::text)) gin_trgm_ops)")

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for name in self.columns:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}")

    def describe(self) -> str:
        return f"Create trigram indexes on {self.table} ({', '.join(self.columns.values())}), PostgreSQL only"

    @property
    def migration_name_fragment(self) -> str:
        return f"{self.table}_trigram_indexes"
