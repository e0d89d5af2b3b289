"""The officers' list sorts and limits its cases before it joins them to their officers.

A supervisor sees every case of the agency (500 in the benchmarks). Read in one query with its
joins, each of those cases was joined to its officer and user before PostgreSQL sorted them and kept
a page (6.9 ms at 100,000 cases). The page's keys are now a subquery that sorts and limits, and only
the page's rows are joined (3.2 ms; benchmarks, P1).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from tests.conftest import signed_in_client
from tests.factories import approved_officer, make_lead, submit_case
from tests.plans import generic_plan, nodes, sent_queries

pytestmark = pytest.mark.django_db

JOINED = ("access_officer", "access_user")


@pytest.mark.parametrize("query", ["", "?q=romance", "?page=2"])
def test_the_case_list_joins_only_a_page_of_cases_to_their_officers(query: str, monkeypatch: Any) -> None:
    monkeypatch.setattr("cases.views.CASES_PER_PAGE", 2)  # three cases make two pages
    officer = approved_officer(lead=make_lead())
    for _ in range(3):
        submit_case(officer)
    client = signed_in_client(officer.user)
    url = reverse("cases:list") + query

    sent = sent_queries(lambda: client.get(url), ["cases_case"])
    pages = [(sql, params) for sql, params in sent if '"access_officer"' in sql]
    assert len(pages) == 1, [sql[:120] for sql, _params in sent]
    plan = generic_plan(*pages[0])
    limits = [node for node in nodes(plan) if node["Node Type"] == "Limit"]
    assert limits, "the page is not limited"
    for limit in limits:
        joined = {node.get("Relation Name") for node in nodes(limit)} & set(JOINED)
        assert not joined, f"{sorted(joined)} joined before the limit"
    assert len(client.get(url).context["page"].object_list) == (1 if query == "?page=2" else 2)
