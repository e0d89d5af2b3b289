"""The sweeps find their due rows through an index even when PostgreSQL plans them generically.

Queries are prepared statements with bound parameters (settings: server-side binding, psycopg's
prepare_threshold). After a few runs PostgreSQL may keep one generic plan, made without the
values; a partial index whose condition names a value (`WHERE status = 'active'`) is then of no
use, and the every-minute sweep scanned the whole clock table (benchmarks P2: 125 ms on 1M rows
with nothing due). Each query the sweeps really send is recorded, planned generically, and every
scan of a clock or of the outbox that is not a lookup by id or key must read `status` from an index.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from cases.models import Case, Freeze, PreservationHold
from cases.services import clocks
from leors.core.audit import Actor
from leors.core.bulk import rows_insert
from leors.core.models import OutboxMessage
from leors.core.outbox import email_enqueue, outbox_deliver_due
from tests.cases.clock_cast import T0, ClockCast
from tests.core.test_webhooks import Receiver, receiver  # noqa: F401  (the fixture)
from tests.plans import generic_plan, nodes, sent_queries

pytestmark = pytest.mark.django_db

SWEPT_TABLES = ("cases_freeze", "cases_preservationhold", "core_outboxmessage")
# The claim of a batch of due clocks, in the sweep's order (expires_at, id), a batch at a time.
BATCH_READ = re.compile(r'SELECT .* FROM "(cases_freeze|cases_preservationhold)" .* LIMIT \S+ FOR UPDATE OF "\1" SKIP LOCKED$')
IDENTITY = re.compile(r"\(+(id|key)\)?(::text)? = ")  # an index condition on the row's id or unique key


def index_reads(scan: dict[str, Any]) -> list[tuple[str, str]]:
    """The indexes a scan reads, with their conditions (a bitmap scan reads them in its children). A subquery
    the scan evaluates per row (a SubPlan or InitPlan under it) is a scan of its own, checked on its own."""
    own = {**scan, "Plans": [child for child in scan.get("Plans", [])
                             if child.get("Parent Relationship") not in ("SubPlan", "InitPlan")]}
    return [(node["Index Name"], node.get("Index Cond", "")) for node in nodes(own) if "Index Name" in node]


def unindexed_status_reads(work: Callable[[], Any]) -> list[str]:
    """Each scan of a swept table, planned generically, that reads the table beyond a lookup by id
    or key without `status` in its index condition."""
    found = []
    queries = sent_queries(work, SWEPT_TABLES)
    assert queries, "the work sent no query to check"
    for sql, params in queries:
        for scan in nodes(generic_plan(sql, params)):
            if scan.get("Relation Name") not in SWEPT_TABLES:
                continue
            reads = index_reads(scan)
            if reads and all(IDENTITY.match(condition) for _name, condition in reads):
                continue  # a lookup by id or key (a row of a failed batch claimed again, messages queued before)
            if not any("status" in condition for _name, condition in reads):
                found.append(f"{scan['Node Type']} on {scan['Relation Name']} ({reads or 'no index'}; "
                             f"filter {scan.get('Filter', '-')}) in {sql[:160]}")
    return found


def test_r7_r8_the_sweep_finds_due_clocks_through_an_index_under_a_generic_plan() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        cast.freeze(5)
        cast.freeze(40)
        preservation = cast.preservation()
        traveller.move_to(T0 + timedelta(days=6))
        # The sweep as it runs every minute: a freeze due, reminders owed, the rest not due.
        assert unindexed_status_reads(lambda: clocks.clocks_sweep(now=timezone.now())) == []
        # And with nothing due, the sweep that runs most often.
        assert unindexed_status_reads(lambda: clocks.clocks_sweep(now=timezone.now())) == []
        # A hold an extension kept past its end lapses once that extension is declined (when it ended is read).
        traveller.move_to(T0 + timedelta(days=59))
        extension = cast.extension(preservation)
        traveller.move_to(T0 + timedelta(days=61))
        cast.decide(extension, Case.Decision.DECLINE)
        assert unindexed_status_reads(lambda: clocks.clocks_sweep(now=timezone.now())) == []
        assert PreservationHold.objects.get(case=preservation).kept_past_end


def test_the_outbox_sweep_finds_due_messages_through_an_index_under_a_generic_plan() -> None:
    now = timezone.now()
    with transaction.atomic():
        email_enqueue(key="plan:1", to="officer@zephyr.police.example.uk", template="case_update",
                      reference="LEO-TEST", link_path="/cases/", now=now)
    assert unindexed_status_reads(lambda: outbox_deliver_due(now=now)) == []


def _outbox_history(*, restrictions: int, now: Any) -> None:
    """Sent events of many restrictions, with the table's statistics gathered, as in production: the planner
    then knows that an ordering key names a few rows (in a test's nearly empty outbox, reading every pending
    message through the due index is as cheap, and it may choose that)."""
    with transaction.atomic():
        rows_insert(OutboxMessage, [OutboxMessage(
            key=f"history:{n}", channel=OutboxMessage.Channel.WEBHOOK, recipient="https://exchange.example/",
            ordering_key=f"freeze:{1_000_000 + n}", status=OutboxMessage.Status.SENT, created_at=now,
            next_attempt_at=now, sent_at=now) for n in range(restrictions)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE core_outboxmessage")


def ordering_reads(work: Callable[[], Any]) -> list[list[str]]:
    """The indexes each query of the outbox by ordering key reads, planned generically."""
    return [[name for scan in nodes(generic_plan(sql, params)) if scan.get("Relation Name") == "core_outboxmessage"
             for name, _condition in index_reads(scan)]
            for sql, params in sent_queries(work, ("core_outboxmessage",)) if '"ordering_key" =' in sql]


def test_r7_r8_the_outbox_finds_a_restrictions_earlier_and_next_events_through_an_index_under_a_generic_plan(
        receiver: Receiver) -> None:  # noqa: F811  (the fixture imported above)
    """A restriction's event waits while an earlier one is pending, and goes right after it: the one it waits for
    and the one after it are read from the ordering index (ordering_key, status, id), not from every pending
    message (thousands, after an outage of the exchange) nor from the whole outbox."""
    receiver.answers = [503]
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        freeze = cast.freeze(10)
        outbox_deliver_due(now=timezone.now())  # freeze.activated: 503
        _outbox_history(restrictions=3000, now=timezone.now())
        traveller.move_to(T0 + timedelta(seconds=30))
        clocks.freeze_lift(freeze=Freeze.objects.get(pk=freeze.pk), reason=Freeze.LiftReason.COURT_DECISION,
                           note="Set aside on appeal.", actor=Actor(user=cast.lead), now=timezone.now())
        # The lift waits for the activation (the earlier event is looked up).
        assert ordering_reads(lambda: outbox_deliver_due(now=timezone.now())) == [["outbox_ordering_idx"]]
        traveller.move_to(T0 + timedelta(minutes=1))
        # The activation goes (nothing earlier), and the lift right after it (the next is looked up; nothing earlier
        # for it, nothing after it).
        assert ordering_reads(lambda: outbox_deliver_due(now=timezone.now())) == [["outbox_ordering_idx"]] * 4
    assert receiver.events == ["freeze.activated", "freeze.lifted"]


def test_r7_r8_a_clocks_end_is_indexed_only_after_its_status() -> None:
    """An index led by `expires_at` gives the sweep's batches their order, and PostgreSQL chose it over
    (status, expires_at): it then read the entry of every clock that ever ended, ~6× the time of a
    batch's read on a table of 50,000 ended freezes, growing with the history."""
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT index.indexrelid::regclass::text, table_.relname,
                   array_agg(attribute.attname ORDER BY key.position)
            FROM pg_index index
            JOIN pg_class table_ ON table_.oid = index.indrelid
            CROSS JOIN LATERAL unnest(index.indkey) WITH ORDINALITY AS key(attnum, position)
            JOIN pg_attribute attribute ON attribute.attrelid = index.indrelid AND attribute.attnum = key.attnum
            WHERE table_.relname IN ('cases_freeze', 'cases_preservationhold')
            GROUP BY 1, 2""")
        indexes = cursor.fetchall()
    assert {table for _name, table, _columns in indexes} == {"cases_freeze", "cases_preservationhold"}
    assert [name for name, _table, columns in indexes if columns[0] == "expires_at"] == []
    assert {(table, tuple(columns[:2])) for _name, table, columns in indexes if "expires_at" in columns} == {
        ("cases_freeze", ("status", "expires_at")), ("cases_preservationhold", ("status", "expires_at"))}


def test_r7_r8_a_sweep_reads_its_batch_in_the_index_order_without_sorting_every_due_clock(settings: Any) -> None:
    """Clocks that end at the same moment (after downtime, or orders activated together) share one
    `expires_at`; the batch's order continues with the id, so the index must give that too. Otherwise
    PostgreSQL reads, joins and sorts every due clock before it claims a batch's first: 35 ms for 500 of
    3,000 due at once at 1M cases, where the index's order reads and joins 500 (10 ms)."""
    settings.LEORS_SWEEP_BATCH_SIZE = 2
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        for _ in range(3):
            cast.freeze(5)
        cast.preservation()
        traveller.move_to(T0 + 70 * timedelta(days=1))
        swept = sent_queries(lambda: clocks.clocks_sweep(now=timezone.now()), ("cases_freeze", "cases_preservationhold"))
        batches = [(sql, params) for sql, params in swept if BATCH_READ.match(sql)]
    assert {table for sql, _params in batches for table in ("cases_freeze", "cases_preservationhold")
            if f'FROM "{table}"' in sql} == {"cases_freeze", "cases_preservationhold"}
    for sql, params in batches:
        sorts = [node["Node Type"] for node in nodes(generic_plan(sql, params, allow_sort=False)) if "Sort" in node["Node Type"]]
        assert sorts == [], sql[:200]
