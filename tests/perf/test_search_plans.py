"""The staff's searches read their tables through indexes, however large the tables grow.

The staff queue's search (a reference, a title, a wallet, a phone number written as on a letterhead)
and the audit list's search compare fragments with `icontains`: `UPPER(column) LIKE UPPER('%term%')`.
Without an index for that expression PostgreSQL reads every case and subject, or every audit event:
1.5 s for one search of the queue and 0.3 s of the audit list at 100,000 cases (benchmarks, P1),
ten times that at a million. The trigram indexes (cases.0009, core.0006) serve exactly that
expression; the queue's search is keys read index by index (`case_keys_matching`).

Each search is planned generically with sequential scans priced out, as a table of a test's few rows
would otherwise be read whole: every read of the searched tables must then have an index condition.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from django.contrib.admin.sites import site
from django.db import connection
from django.db.models import QuerySet
from django.test import RequestFactory

from cases.selectors import case_keys_matching
from leors.core.models import AuditEvent
from tests.factories import approved_officer, make_lead, submit_case
from tests.plans import generic_plan, nodes

pytestmark = pytest.mark.django_db

SEARCHED = ("cases_case", "cases_subjectidentifier", "core_auditevent")


def reads_without_index_condition(queryset: QuerySet[Any]) -> list[str]:
    sql, params = queryset.query.sql_with_params()
    found = []
    for node in nodes(generic_plan(sql, params)):
        if node.get("Relation Name") not in SEARCHED or node["Node Type"] == "Bitmap Heap Scan":
            continue  # a bitmap heap scan reads what its bitmap index scans found by their conditions
        if "Index Cond" not in node:
            found.append(f"{node['Node Type']} on {node['Relation Name']} (filter {node.get('Filter', '-')})")
    return found


@pytest.mark.parametrize("term", [
    "kestrel",  # a word of a title
    "LEORS-20",  # a fragment of a reference
    "0x52908400098527886e0f7030069857d2e4169ee7",  # a wallet: a subject, and its normalized form
    "+44 20 7946 0018",  # a phone number as on a letterhead: short words, and its normalized form
    '"operation kestrel" 42',
])
def test_the_staff_queue_search_reads_cases_and_subjects_through_indexes(term: str) -> None:
    submit_case(approved_officer(lead=make_lead()))
    keys = case_keys_matching(term=term)
    assert keys is not None
    assert reads_without_index_condition(keys) == []


def test_the_search_plans_do_not_depend_on_what_autovacuum_last_saw_of_the_tables() -> None:
    """Autovacuum may run on the test database at any moment: between two tests it finds the rows the
    earlier ones rolled back, and records the searched tables as empty. PostgreSQL then reads a table it
    believes empty whole, through any index, and whether a plan test passed would depend on which tests
    ran before it and when autovacuum last woke. `generic_plan` plans as for tables never analysed."""
    settings = connection.settings_dict
    with psycopg.connect(host=settings["HOST"] or "127.0.0.1", port=settings["PORT"] or 5432, user=settings["USER"],
                         password=settings["PASSWORD"] or None, dbname=settings["NAME"], autocommit=True) as vacuum:
        for table in SEARCHED:  # as autovacuum would, outside the test's transaction
            vacuum.execute(f"VACUUM (ANALYZE) {table}")
    submit_case(approved_officer(lead=make_lead()))
    for term in ("kestrel", "0x52908400098527886e0f7030069857d2e4169ee7", "+44 20 7946 0018"):
        keys = case_keys_matching(term=term)
        assert keys is not None
        assert reads_without_index_condition(keys) == [], term


def test_the_audit_list_search_reads_the_trail_through_indexes() -> None:
    lead = make_lead()
    officer = approved_officer(lead=lead)
    case = submit_case(officer)
    request = RequestFactory().get("/")
    request.user = lead
    model_admin = site._registry[AuditEvent]
    # A case's reference, an actor's domain, an actor's address.
    for term in (case.reference[-7:], officer.user.email.split("@")[1], officer.user.email):
        found, _duplicates = model_admin.get_search_results(request, AuditEvent.objects.order_by(), term)
        assert found.exists(), term
        assert reads_without_index_condition(found) == [], term
