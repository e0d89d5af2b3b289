"""PostgreSQL's plans of the queries a piece of LEORS really sends, for tests of their shape."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from django.db import connection, transaction


def sent_queries(work: Callable[[], Any], tables: Sequence[str]) -> list[tuple[str, Sequence[Any]]]:
    """The SELECTs on `tables` that `work` sends, as sent: SQL with placeholders, and its parameters."""
    sent: list[tuple[str, Sequence[Any]]] = []

    def record(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if not many and sql.lstrip().upper().startswith("SELECT") and any(t in sql for t in tables):
            sent.append((sql, params or ()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        work()
    return sent


# The planner's knowledge of the project's tables and indexes as when they were created: never analysed,
# so at least ten pages of rows, and no column statistics. Autovacuum runs on the test database whenever
# it wakes; when it has seen only the rows earlier tests rolled back it records a table as empty, and
# PostgreSQL reads a table it believes empty whole, through any of its indexes. A plan test would then
# pass or fail by which tests ran before it and when autovacuum last woke. Rolled back with the plan's
# savepoint. Writing the catalogues takes a superuser, as the suite's role is (tests/core's migration
# tests also write pg_index).
FORGET_STATISTICS = (
    "UPDATE pg_class SET reltuples = -1, relpages = 0 "
    "WHERE relkind IN ('r', 'i') AND relnamespace = 'public'::regnamespace",
    "DELETE FROM pg_statistic WHERE starelid IN "
    "(SELECT oid FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace)",
)


def generic_plan(sql: str, params: Sequence[Any], *, allow_sort: bool = True) -> dict[str, Any]:
    """PostgreSQL's generic plan of the statement (EXPLAIN of a PREPAREd statement forced generic),
    with sequential scans priced out so that a table of a test's few rows is planned as a large one
    (and sorts too, unless `allow_sort`: then a plan sorts only where no index gives the order), on
    tables as the planner knew them before any (auto)vacuum or analysis (FORGET_STATISTICS)."""
    numbers = iter(range(1, len(params) + 1))
    numbered = re.sub(r"%%|%s", lambda found: "%" if found.group() == "%%" else f"${next(numbers)}", sql)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute("SET LOCAL enable_seqscan = off")
        if not allow_sort:
            cursor.execute("SET LOCAL enable_sort = off")
        for statement in FORGET_STATISTICS:
            cursor.execute(statement)
        cursor.execute(f"PREPARE leors_generic AS {numbered}")
        try:
            arguments = ", ".join(["%s"] * len(params))
            cursor.execute(connection.ops.compose_sql(
                f"EXPLAIN (FORMAT JSON) EXECUTE leors_generic{f'({arguments})' if params else ''}", params))
            explained = cursor.fetchone()[0]
        finally:
            cursor.execute("DEALLOCATE leors_generic")
        # Undo the settings and the forgotten statistics now: a savepoint that ended well would be
        # released into the test's transaction, with a lock on every table's row of pg_class.
        transaction.set_rollback(True)
    return (json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"]


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


