"""Migration operations of LEORS's own: indexes that only PostgreSQL builds."""

from __future__ import annotations

from typing import Any

from django.db.migrations.operations.base import Operation


class CreateTrigramIndexes(Operation):
    """Trigram GIN indexes (pg_trgm) on `UPPER(column::text)`, the expression Django's `icontains`
    compares with `LIKE UPPER('%term%')`: a search for a fragment of a reference, a title, a wallet
    or a name reads the index instead of every row (benchmarks, P1: the staff searches).

    Built CONCURRENTLY, so the table stays writable while a large one is indexed (the audit trail is
    written on every change); the migration must be `atomic = False`. PostgreSQL only, and outside
    the models' state: SQLite (the demo) has neither pg_trgm nor GIN, and its searches scan as before.
    `pg_trgm` is a trusted extension (PostgreSQL 13 and later): the database's owner may create it.
    """

    reduces_to_sql = False
    reversible = True
    atomic = False

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
