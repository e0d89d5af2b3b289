"""The exchange's restriction feed (R7, R8): read-only, token-authenticated, paginated JSON of the
freezes and preservation holds in force now, derived from their stored ends at the moment of asking.
"""

from __future__ import annotations

import hashlib
import io
import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from cases.models import Freeze, PreservationHold
from cases.services import clocks
from cases.services.intake import IdentifierInput
from leors.core.audit import Actor
from leors.core.models import ApiToken
from leors.core.tokens import api_token_create, api_token_revoke
from tests.cases.clock_cast import T0, WALLET, ClockCast, order, sweep
from tests.plans import generic_plan, nodes, sent_queries

FEED = "/api/v1/restrictions/"
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
SYSTEM = Actor.system("test")


def get(token: str | None, path: str = FEED, **params: Any) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    return Client().get(path, params, **headers)


def new_token(name: str = "exchange-enforcement") -> str:
    return api_token_create(name=name, actor=SYSTEM, now=timezone.now())


@pytest.mark.django_db
def test_the_feed_refuses_a_missing_wrong_or_revoked_token() -> None:
    with time_machine.travel(T0, tick=False):
        token = new_token()
        assert get(token).status_code == 200
        refusals = {
            "no header": Client().get(FEED),
            "no token": get(""),
            "wrong token": get("leors_" + "x" * 43),
            "altered token": get(token[:-1] + ("A" if token[-1] != "A" else "B")),
            "another scheme": Client().get(FEED, HTTP_AUTHORIZATION=f"Token {token}"),
        }
        api_token_revoke(name="exchange-enforcement", actor=SYSTEM, now=timezone.now())
        refusals["revoked token"] = get(token)
    for what, response in refusals.items():
        assert response.status_code == 401, what
        assert response.json() == {"error": "A valid bearer token is required."}, what
        assert response["WWW-Authenticate"].startswith("Bearer"), what


@pytest.mark.django_db
def test_the_api_token_command_prints_a_token_once_and_keeps_only_its_digest() -> None:
    out = io.StringIO()
    call_command("api_token", "create", "exchange-enforcement", stdout=out)
    printed = out.getvalue()
    token = printed.split()[0]
    assert token.startswith("leors_") and printed.count(token) == 1
    assert "not shown again" in printed
    record = ApiToken.objects.get(name="exchange-enforcement")
    assert record.digest == hashlib.sha256(token.encode()).hexdigest() != token
    assert get(token).status_code == 200
    with pytest.raises(CommandError, match="exists"):
        call_command("api_token", "create", "exchange-enforcement", stdout=io.StringIO())

    call_command("api_token", "revoke", "exchange-enforcement", stdout=io.StringIO())
    assert get(token).status_code == 401
    with pytest.raises(CommandError, match="No active token"):
        call_command("api_token", "revoke", "exchange-enforcement", stdout=io.StringIO())


@pytest.mark.django_db
def test_the_feed_lists_freezes_and_holds_in_force_with_their_subjects_start_and_end() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        preservation = cast.preservation(identifiers=[IdentifierInput(kind="uid", value=" ab12cd34 ")])
        cast.preservation(request_type="user_information", data_requested="KYC data",
                          has_non_disclosure_instruction=False, documents=order("warrant"))
        traveller.move_to(T0 + DAY)
        freeze_case = cast.freeze_request(20, identifiers=[IdentifierInput(kind="wallet", value=WALLET),
                                                           IdentifierInput(kind="email", value="Suspect@Example.COM")])
        cast.decide(freeze_case)
        traveller.move_to(T0 + 2 * DAY)
        freeze = cast.activate(freeze_case)
        hold = PreservationHold.objects.get(case=preservation)

        traveller.move_to(T0 + 3 * DAY)
        response = get(new_token())
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    body = response.json()
    assert (body["count"], body["page"], body["next"], body["previous"]) == (2, 1, None, None)
    assert body["as_of"] == (T0 + 3 * DAY).isoformat()
    listed = {item["type"]: item for item in body["results"]}
    assert set(listed) == {"freeze", "preservation"}  # the user-information request restricts nothing

    frozen = listed["freeze"]
    assert (frozen["id"], frozen["case"]) == (freeze.pk, freeze_case.reference)
    assert (frozen["starts_at"], frozen["ends_at"]) == ((T0 + 2 * DAY).isoformat(), (T0 + 22 * DAY).isoformat())
    assert sorted(frozen["subjects"], key=lambda s: s["kind"]) == [
        {"kind": "email", "value": "suspect@example.com", "chain": ""},
        {"kind": "wallet", "value": WALLET.lower(), "chain": "eth"},
    ]
    preserved = listed["preservation"]
    assert (preserved["id"], preserved["case"]) == (hold.pk, preservation.reference)
    assert (preserved["starts_at"], preserved["ends_at"]) == (T0.isoformat(), (T0 + 60 * DAY).isoformat())
    assert preserved["subjects"] == [{"kind": "uid", "value": "AB12CD34", "chain": ""}]


@pytest.mark.django_db
def test_the_feed_is_paginated(settings: Any) -> None:
    settings.LEORS_FEED_PAGE_SIZE = 2
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        expected: set[tuple[str, int]] = set()
        for hour in range(2):
            traveller.move_to(T0 + timedelta(hours=hour))
            expected.add(("freeze", cast.freeze(10).pk))
        for hour in range(3):
            traveller.move_to(T0 + timedelta(hours=2 + hour))
            expected.add(("preservation", PreservationHold.objects.get(case=cast.preservation()).pk))
        token = new_token()

        pages = [get(token).json()]
        while pages[-1]["next"]:
            pages.append(get(token, pages[-1]["next"]).json())
        numbered = [get(token, page=number).json() for number in (1, 2, 3)]  # the first version's pages
        # One lifted: four left, two full pages and no third.
        clocks.freeze_lift(freeze=Freeze.objects.order_by("pk").first(), reason=Freeze.LiftReason.COURT_DECISION,
                           note="Discharged by the Crown Court at Southwark, T20267781.", actor=cast.staff,
                           now=timezone.now())
        second = get(token, page=2).json()
        assert (second["count"], len(second["results"]), second["next"]) == (4, 2, None)
        for bad in ("abc", "0", "-1", "1.5", ""):
            response = get(token, page=bad)
            assert response.status_code == 400, bad
            assert "page" in response.json()["error"]

    # The first page counts; the pages after it are read from the position of the last one listed.
    assert [len(page["results"]) for page in pages] == [2, 2, 1]
    assert [page["count"] for page in pages] == [5, None, None]
    assert [page["page"] for page in pages] == [1, None, None]
    assert [page["previous"] for page in pages] == [None, None, None]
    assert all(re.fullmatch(rf"{FEED}\?after=[fp]\.\d+\.\d+", page["next"]) for page in pages[:2])
    assert pages[-1]["next"] is None
    listed = [(item["type"], item["id"]) for page in pages for item in page["results"]]
    assert len(listed) == len(set(listed)) == 5
    assert set(listed) == expected
    assert [item["type"] for item in [*pages[0]["results"], *pages[1]["results"]]] == [
        "freeze", "freeze", "preservation", "preservation"]  # the freezes first, then the holds
    # Numbered pages list the same, in the same order, each with the count.
    assert [item for page in numbered for item in page["results"]] == [
        item for page in pages for item in page["results"]]
    assert [page["count"] for page in numbered] == [5, 5, 5]
    assert [page["next"] for page in numbered] == [f"{FEED}?page=2", f"{FEED}?page=3", None]  # as in version 1
    assert [page["previous"] for page in numbered] == [None, f"{FEED}?page=1", f"{FEED}?page=2"]


@pytest.mark.django_db
@pytest.mark.parametrize("size", [1, 2])
def test_r8_a_walk_by_next_lists_every_restriction_still_in_force_once_while_others_end_and_start(
        size: int, settings: Any) -> None:
    """The exchange reconciles its restrictions with a walk of the feed. A freeze that ends during the
    walk must not push one that is still in force out of it: by page numbers it does."""
    settings.LEORS_FEED_PAGE_SIZE = size
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        freezes = []
        for hour in range(4):
            traveller.move_to(T0 + timedelta(hours=hour))
            freezes.append(cast.freeze(10))
        traveller.move_to(T0 + timedelta(hours=5))
        holds = [PreservationHold.objects.get(case=cast.preservation()) for _ in range(3)]
        token = new_token()

        def walk(*, numbered: bool) -> list[tuple[str, int]]:
            """The whole feed, page by page; after the first page, the first freeze ends."""
            page = get(token).json()
            listed = [(item["type"], item["id"]) for item in page["results"]]
            ending = Freeze.objects.filter(pk=freezes[0].pk)
            ending.update(expires_at=timezone.now())  # its end reached: out of force from now on
            number = 1
            while page["next"]:
                number += 1
                page = get(token, page=number).json() if numbered else get(token, page["next"]).json()
                listed += [(item["type"], item["id"]) for item in page["results"]]
            ending.update(expires_at=freezes[0].expires_at)
            return listed

        by_next, by_number = walk(numbered=False), walk(numbered=True)
        traveller.move_to(T0 + timedelta(hours=6))
        page = get(token).json()
        walked = [(item["type"], item["id"]) for item in page["results"]]
        started = cast.freeze(10)  # activated while the walk is among the freezes: it comes later in it
        while page["next"]:
            page = get(token, page["next"]).json()
            walked += [(item["type"], item["id"]) for item in page["results"]]

    always = [("freeze", freeze.pk) for freeze in freezes[1:]] + [("preservation", hold.pk) for hold in holds]
    assert sorted(by_next) == sorted([("freeze", freezes[0].pk), *always])  # each once, none skipped
    missed = set(always) - set(by_number)
    assert missed == {("freeze", freezes[size].pk)}  # it moved onto page 1, which had been read already
    assert sorted(walked) == sorted([("freeze", freezes[0].pk), *always, ("freeze", started.pk)])


@pytest.mark.django_db
def test_the_feed_refuses_a_cursor_it_did_not_give_and_both_ways_of_paging_at_once() -> None:
    with time_machine.travel(T0, tick=False):
        hold = PreservationHold.objects.get(case=ClockCast().preservation())
        token = new_token()
        assert [item["id"] for item in get(token, after="p.0.0").json()["results"]] == [hold.pk]  # before it
        after_every_freeze = get(token, after="f.99999999999999999.1").json()["results"]
        assert [item["id"] for item in after_every_freeze] == [hold.pk]  # then the holds, from their first
        assert get(token, after="p.99999999999999999.1").json()["results"] == []  # past every hold
    for bad in ("", "x", "f.1", "q.1.1", "f.-1.1", "f.1.1.1", "f.1.1 ", "f.123456789012345678.1",
                "p.1.1234567890123456789", "f.\u0661\u0662.\u0663"):
        response = get(token, after=bad)
        assert response.status_code == 400, bad
        assert "next link" in response.json()["error"], bad
    response = get(token, after="f.1.1", page="2")
    assert response.status_code == 400 and "not both" in response.json()["error"]
    for repeated in ({"after": ["f.1.1", "p.1.1"]}, {"page": ["1", "2"]}):
        response = get(token, **repeated)
        assert response.status_code == 400 and "once" in response.json()["error"], repeated
    response = get(token, cursor="f.1.1")
    assert response.status_code == 400 and "Only after or page" in response.json()["error"]


@pytest.mark.django_db
def test_a_lifted_freeze_and_a_lapsed_or_ended_hold_are_not_in_the_feed() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        lapsing = cast.preservation()  # ends T0 + 60 days; no extension
        extended = cast.preservation()  # ends T0 + 60 days; an extension is filed in time
        traveller.move_to(T0 + DAY)
        lifted = cast.freeze(20)
        traveller.move_to(T0 + 2 * DAY)
        clocks.freeze_lift(freeze=lifted, reason=Freeze.LiftReason.COURT_DECISION,
                           note="Discharged by the Crown Court at Southwark on appeal, T20267781.", actor=cast.staff,
                           now=timezone.now())
        traveller.move_to(T0 + 50 * DAY)
        running = cast.freeze(30)
        withdrawn = cast.preservation()
        traveller.move_to(T0 + 51 * DAY)
        cast.withdraw(withdrawn)
        traveller.move_to(T0 + 59 * DAY)
        cast.extension(extended)

        traveller.move_to(T0 + 60 * DAY + SECOND)
        assert sweep().holds_lapsed == 1
        body = get(new_token()).json()
    listed = {(item["type"], item["id"]) for item in body["results"]}
    assert listed == {("freeze", running.pk), ("preservation", PreservationHold.objects.get(case=extended).pk)}
    assert body["count"] == 2
    assert PreservationHold.objects.get(case=lapsing).status == PreservationHold.Status.LAPSED
    assert PreservationHold.objects.get(case=withdrawn).status == PreservationHold.Status.LAPSED


@pytest.mark.django_db
def test_r8_a_feed_page_reads_its_restrictions_in_the_feeds_order_from_an_index() -> None:
    # At a million cases, sorting every freeze in force to return a page of 100 took 0.5-1.1 s a page.
    with time_machine.travel(T0, tick=False):
        cast = ClockCast()
        cast.freeze(30)
        cast.preservation()
        token = new_token()
        queries = sent_queries(lambda: [get(token), get(token, after="f.0.0"), get(token, after="p.0.0")],
                               ("cases_freeze", "cases_preservationhold"))
    pages = [(sql, params) for sql, params in queries if "ORDER BY" in sql]
    assert len(pages) == 5  # the first page, and the page after a freeze, each of both; after a hold, holds
    assert {'FROM "cases_freeze"' in sql for sql, _params in pages} == {True, False}
    for sql, params in pages:
        plan = list(nodes(generic_plan(sql, params, allow_sort=False)))
        assert [node["Node Type"] for node in plan if "Sort" in node["Node Type"]] == [], sql
    # A page after a position starts its index range there: one row comparison in the index condition.
    after = [cond for sql, params in pages if "> (" in sql
             for node in nodes(generic_plan(sql, params, allow_sort=False)) if (cond := node.get("Index Cond"))]
    assert sum("ROW(activated_at, id) >" in cond for cond in after) == 1, after
    assert sum("ROW(started_at, id) >" in cond for cond in after) == 1, after


@pytest.mark.django_db
def test_r7_r8_a_restriction_kept_past_its_end_is_listed_as_kept_with_the_latest_moment_when_one_is_set() -> None:
    """Past its end a freeze kept by a further order awaiting activation, and a hold kept by an extension under
    review, are still in force: the exchange must keep enforcing them, though their ends_at is past. The feed says
    so, and until when at the latest for the freeze (the further order's own period); a hold has no such moment."""
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        ended_freeze = cast.freeze(40)
        preservation = cast.preservation()
        hold = PreservationHold.objects.get(case=preservation)
        traveller.move_to(T0 + 45 * DAY)
        kept_freeze = cast.freeze(10)  # ends on day 55; the further order keeps it to day 65 at the latest
        further = cast.freeze_request(10, further_order_of=kept_freeze.case)
        cast.decide(further)
        traveller.move_to(hold.expires_at - DAY)
        cast.extension(preservation)
        traveller.move_to(hold.expires_at + DAY)  # day 61: past the end of both, and of the 40-day freeze
        token = new_token()
        first = get(token).json()["results"]
        walked = get(token, after=f"f.{0}.{0}").json()["results"]  # the same restrictions by the cursor's path
    assert walked == first
    listed = {(item["type"], item["id"]): item for item in first}
    assert set(listed) == {("freeze", kept_freeze.pk), ("preservation", hold.pk)}
    frozen = listed[("freeze", kept_freeze.pk)]
    assert (frozen["ends_at"], frozen["kept_past_end"], frozen["kept_until"]) == (
        kept_freeze.expires_at.isoformat(), True, (kept_freeze.expires_at + 10 * DAY).isoformat())
    preserved = listed[("preservation", hold.pk)]
    assert (preserved["ends_at"], preserved["kept_past_end"], preserved["kept_until"]) == (
        hold.expires_at.isoformat(), True, None)
    assert ended_freeze.expires_at < hold.expires_at + DAY  # ended, so not listed


@pytest.mark.django_db
def test_r8_a_restriction_within_its_period_is_not_listed_as_kept() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        freeze = cast.freeze(20)
        traveller.move_to(T0 + DAY)
        (item,) = get(new_token()).json()["results"]
    assert (item["id"], item["kept_past_end"], item["kept_until"]) == (freeze.pk, False, None)
