"""The sweeps find their due rows through an index even when PostgreSQL plans them generically.

Queries are prepared statements with bound parameters (settings: server-side binding, psycopg's
prepare_threshold). After a few runs PostgreSQL may keep one generic plan, made without the
values; a partial index whose condition names a value (`WHERE status = 'active'`) is then of no
use, and the every-minute sweep scanned the whole clock table (benchmarks P2: 125 ms on 1M rows
with nothing due). Each query the sweeps really send is recorded, planned generically, and every
scan of a clock or of the outbox that is not a lookup by id or key must read `status` from an index.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from cases.services import clocks
from leors.core.outbox import email_enqueue, outbox_deliver_due
from tests.cases.clock_cast import T0, ClockCast

pytestmark = pytest.mark.django_db

SWEPT_TABLES = ("cases_freeze", "cases_preservationhold", "core_outboxmessage")
IDENTITY = re.compile(r"\(+(id|key)\)?(::text)? = ")  # an index condition on the row's id or unique key


def sent_queries(work: Callable[[], Any]) -> list[tuple[str, Sequence[Any]]]:
    """The SELECTs `work` sends, as sent: SQL with placeholders, and its parameters."""
    sent: list[tuple[str, Sequence[Any]]] = []

    def record(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if not many and sql.lstrip().upper().startswith("SELECT") and any(t in sql for t in SWEPT_TABLES):
            sent.append((sql, params or ()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        work()
    return sent


def generic_plan(sql: str, params: Sequence[Any]) -> dict[str, Any]:
    """PostgreSQL's generic plan of the statement (EXPLAIN of a PREPAREd statement forced generic),
    with sequential scans priced out so that a table of a test's few rows is planned as a large one."""
    numbers = iter(range(1, len(params) + 1))
    numbered = re.sub(r"%%|%s", lambda found: "%" if found.group() == "%%" else f"${next(numbers)}", sql)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"PREPARE leors_generic AS {numbered}")
        try:
            arguments = ", ".join(["%s"] * len(params))
            cursor.execute(connection.ops.compose_sql(
                f"EXPLAIN (FORMAT JSON) EXECUTE leors_generic{f'({arguments})' if params else ''}", params))
            explained = cursor.fetchone()[0]
        finally:
            cursor.execute("DEALLOCATE leors_generic")
    return (json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"]


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def index_reads(scan: dict[str, Any]) -> list[tuple[str, str]]:
    """The indexes a scan reads, with their conditions (a bitmap scan reads them in its children)."""
    return [(node["Index Name"], node.get("Index Cond", "")) for node in nodes(scan) if "Index Name" in node]


def unindexed_status_reads(work: Callable[[], Any]) -> list[str]:
    """Each scan of a swept table, planned generically, that reads the table beyond a lookup by id
    or key without `status` in its index condition."""
    found = []
    queries = sent_queries(work)
    assert queries, "the work sent no query to check"
    for sql, params in queries:
        for scan in nodes(generic_plan(sql, params)):
            if scan.get("Relation Name") not in SWEPT_TABLES:
                continue
            reads = index_reads(scan)
            if reads and all(IDENTITY.match(condition) for _name, condition in reads):
                continue  # a lookup by id or key (a batch claimed by its ids, messages queued before)
            if not any("status" in condition for _name, condition in reads):
                found.append(f"{scan['Node Type']} on {scan['Relation Name']} ({reads or 'no index'}; "
                             f"filter {scan.get('Filter', '-')}) in {sql[:160]}")
    return found


def test_r7_r8_the_sweep_finds_due_clocks_through_an_index_under_a_generic_plan() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        cast.freeze(5)
        cast.freeze(40)
        cast.preservation()
        traveller.move_to(T0 + timedelta(days=6))
        # The sweep as it runs every minute: a freeze due, reminders owed, the rest not due.
        assert unindexed_status_reads(lambda: clocks.clocks_sweep(now=timezone.now())) == []
        # And with nothing due, the sweep that runs most often.
        assert unindexed_status_reads(lambda: clocks.clocks_sweep(now=timezone.now())) == []


def test_the_outbox_sweep_finds_due_messages_through_an_index_under_a_generic_plan() -> None:
    now = timezone.now()
    with transaction.atomic():
        email_enqueue(key="plan:1", to="officer@zephyr.police.example.uk", template="case_update",
                      reference="LEO-TEST", link_path="/cases/", now=now)
    assert unindexed_status_reads(lambda: outbox_deliver_due(now=now)) == []
