"""A reviewer leaves the legal team (their account is closed): the work on their cases and applications is not lost.

What would have been told to them — an officer's answer, a withdrawal, a clock's end, a reminder to activate a
further order, an applicant's answer — goes to the active legal leads instead, each e-mail once. The leads find that
work in their queues (the "reviewer: has left" filter) and hand it over; an accepted case, which still has an
activation, a production or a return ahead of it, can be handed over too.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.models import Approval, Case, Freeze
from cases.services import approvals, clocks, correspondence, review
from leors.access import services as access
from leors.access.models import AccessApplication, User
from leors.core.audit import Actor
from leors.core.errors import ActionRefused
from tests.cases.clock_cast import T0, ClockCast, emails, sweep
from tests.conftest import signed_in_client
from tests.factories import (
    complete_checklist,
    confirm_out_of_band,
    four_eyes_activate,
    make_lead,
    make_reviewer,
    verified_application,
)

DAY = timedelta(days=1)
QUESTION = "Please send the page of the order that names the account."


def _leave(user: User) -> None:
    """The reviewer's account is closed, as an administrator closes it when they leave."""
    User.objects.filter(pk=user.pk).update(is_active=False)


@pytest.mark.django_db
def test_r10_an_officers_answer_and_a_withdrawal_on_a_case_whose_reviewer_left_reach_the_legal_leads() -> None:
    with time_machine.travel(T0, tick=False):
        cast = ClockCast()
        second_lead, former_lead = make_lead(), make_lead()
        _leave(former_lead)
        case = cast.preservation()
        cast.assign(case)
        review.case_request_information(case=case, question=QUESTION, actor=cast.staff, now=timezone.now())
        _leave(cast.reviewer)

        message = correspondence.case_message_post(case=case, body="The page is attached to this message.",
                                                   attachments=[], is_internal=False, actor=cast.as_officer,
                                                   now=timezone.now())
        assert Case.objects.get(pk=case.pk).status == Case.Status.IN_REVIEW  # the answer puts it back into review
        cast.withdraw(case)

    for lead in (cast.lead, second_lead):
        assert [m.key for m in emails(lead.email, "case-message")] == [f"case-message:{message.pk}:{lead.pk}"]
        assert [m.key for m in emails(lead.email, "case-withdrawn")] == [f"case-withdrawn:{case.pk}:{lead.pk}"]
    for closed_account in (cast.reviewer, former_lead):
        assert emails(closed_account.email, "case-message") == emails(closed_account.email, "case-withdrawn") == []


@pytest.mark.django_db
def test_r10_while_the_reviewer_is_on_the_team_only_they_are_told_as_before() -> None:
    with time_machine.travel(T0, tick=False):
        cast = ClockCast()
        case = cast.preservation()
        cast.assign(case)
        review.case_request_information(case=case, question=QUESTION, actor=cast.staff, now=timezone.now())
        message = correspondence.case_message_post(case=case, body="The page is attached to this message.",
                                                   attachments=[], is_internal=False, actor=cast.as_officer,
                                                   now=timezone.now())
    assert [m.key for m in emails(cast.reviewer.email, "case-message")] == [f"case-message:{message.pk}"]
    assert emails(cast.lead.email, "case-message") == []


@pytest.mark.django_db
def test_r8_the_lift_of_freezes_whose_reviewer_left_is_told_to_the_legal_leads_read_once_for_the_batch() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        freezes = [cast.freeze(5), cast.freeze(5)]
        _leave(cast.reviewer)
        traveller.move_to(freezes[0].expires_at + DAY)
        with CaptureQueriesContext(connection) as sent:
            assert sweep().freezes_lifted == 2
        now = timezone.now()
    assert sum('"auth_group"."name"' in query["sql"] for query in sent.captured_queries) == 1
    assert sorted(m.key for m in emails(cast.lead.email, "freeze-lifted")) == sorted(
        f"clock-staff:{freeze.case_id}:freeze-lifted:{now.isoformat()}:{cast.lead.pk}" for freeze in freezes)
    assert emails(cast.reviewer.email, "freeze-lifted") == []


@pytest.mark.django_db
def test_r10_the_lead_finds_the_cases_of_a_reviewer_who_left_and_hands_over_one_still_to_be_activated() -> None:
    with time_machine.travel(T0, tick=False):
        cast = ClockCast()
        successor = make_reviewer()
        accepted = cast.freeze_request(10)
        cast.decide(accepted)  # accepted: the freeze is still to be activated
        in_review = cast.assign(cast.freeze_request(10))
        closed = cast.assign(cast.preservation())
        cast.withdraw(closed)
        elsewhere = cast.freeze_request(10)
        review.case_assign(case=elsewhere, reviewer=successor, actor=Actor(user=cast.lead), now=timezone.now())
        _leave(cast.reviewer)

        lead = signed_in_client(cast.lead)
        listed = lead.get(reverse("admin:cases_case_changelist"), {"reviewer": "left"})
        assert listed.status_code == 200
        assert {c.reference for c in listed.context["cl"].result_list} == {accepted.reference, in_review.reference}
        assert "Has left (account closed)" in listed.content.decode()

        page = lead.get(reverse("admin:cases_case_change", args=[accepted.pk])).content.decode()
        assert reverse("admin:cases_case_assign", args=[accepted.pk]) in page
        handed = lead.post(reverse("admin:cases_case_assign", args=[accepted.pk]), {"reviewer": successor.pk})
        assert handed.status_code == 302
    accepted.refresh_from_db()
    assert (accepted.assigned_to, accepted.status) == (successor, Case.Status.ACCEPTED)
    assert signed_in_client(User.objects.get(pk=successor.pk)).get(
        reverse("admin:cases_case_change", args=[accepted.pk])).status_code == 200
    assert len(emails(successor.email, f"case-assigned:{accepted.pk}:{successor.pk}")) == 1


@pytest.mark.django_db
def test_r10_a_case_with_no_work_left_is_not_handed_over() -> None:
    with time_machine.travel(T0, tick=False):
        cast = ClockCast()
        case = cast.assign(cast.preservation())
        cast.withdraw(case)
        with pytest.raises(ActionRefused, match="Only a case with work left can be assigned"):
            review.case_assign(case=case, reviewer=make_reviewer(), actor=Actor(user=cast.lead), now=timezone.now())
        page = signed_in_client(cast.lead).get(reverse("admin:cases_case_change", args=[case.pk])).content.decode()
    assert reverse("admin:cases_case_assign", args=[case.pk]) not in page


@pytest.mark.django_db
def test_r2_an_applicants_answer_whose_reviewer_left_reaches_the_legal_leads_who_find_the_application() -> None:
    lead, reviewer = make_lead(), make_reviewer()
    application = verified_application()
    now = timezone.now()
    access.application_assign(application=application, reviewer=reviewer, actor=Actor(user=lead), now=now)
    complete_checklist(application, by=reviewer, now=now)
    access.application_request_information(application=application, question=QUESTION,
                                           actor=Actor(user=User.objects.get(pk=reviewer.pk)), now=now)
    _leave(reviewer)
    access.application_answer(application=application, answer="The order is attached to my e-mail.",
                              actor=Actor(user=application.applicant), now=now)

    assert [m.key for m in emails(lead.email, "application-answered")] == [
        f"application-answered:{application.pk}:{now.isoformat()}:{lead.pk}"]
    assert emails(reviewer.email, "application-answered") == []
    listed = signed_in_client(lead).get(reverse("admin:access_accessapplication_changelist"), {"reviewer": "left"})
    assert listed.status_code == 200
    assert [a.pk for a in listed.context["cl"].result_list] == [application.pk]
    assert AccessApplication.objects.get(pk=application.pk).status == AccessApplication.Status.SUBMITTED


@pytest.mark.django_db
def test_r8_the_withdrawal_of_a_freeze_in_force_whose_reviewer_left_asks_the_leads_to_lift_it_not_the_closed_account(
) -> None:
    with time_machine.travel(T0, tick=False):
        cast = ClockCast()
        freeze = cast.freeze(20)
        _leave(cast.reviewer)
        assert correspondence.case_withdraw(case=freeze.case, actor=cast.as_officer,
                                            now=timezone.now()).freeze_lift_requested
    key = f"freeze-lift-requested:{freeze.case_id}"
    assert [m.key for m in emails(cast.lead.email, key)] == [f"{key}:{cast.lead.pk}"]
    assert emails(cast.reviewer.email, key) == []


@pytest.mark.django_db
def test_r8_an_activation_asked_by_a_reviewer_who_left_is_not_granted_the_successor_asks_again() -> None:
    """Four eyes are two people on the team now. The account that asked may have been closed because it was taken
    over: its pending request is no longer granted by anyone; a successor cancels it and asks again, and a second
    member approves — the freeze is activated then, by two people who answer for it."""
    with time_machine.travel(T0, tick=False):
        cast = ClockCast()
        successor = make_reviewer()
        case = cast.freeze_request(10)
        cast.decide(case)
        confirm_out_of_band(case, actor=cast.staff, now=timezone.now())
        stale = clocks.freeze_activation_request(case=case, activation=clocks.FreezeActivation(), actor=cast.staff,
                                                 now=timezone.now())
        _leave(cast.reviewer)
        lead = Actor(user=User.objects.get(pk=cast.lead.pk))
        with pytest.raises(ActionRefused, match="has left the legal team"):
            approvals.approval_grant(approval=stale, actor=lead, now=timezone.now())
        assert Approval.objects.get(pk=stale.pk).status == Approval.Status.PENDING
        assert not Freeze.objects.filter(case=case).exists()

        lead_client = signed_in_client(cast.lead)
        case_page = lead_client.get(reverse("admin:cases_case_change", args=[case.pk])).content.decode()
        assert 'class="requester-left"' in case_page
        page = lead_client.get(reverse("admin:cases_case_approvals", args=[case.pk])).content.decode()
        assert "has left the legal team (their account is closed)" in page
        assert 'value="approve"' not in page and 'value="cancel"' in page
        refused = lead_client.post(reverse("admin:cases_case_approvals", args=[case.pk]),
                                   {"approval": stale.pk, "decision": "approve"})
        assert refused.status_code == 400
        assert "has left the legal team" in refused.content.decode()

        approvals.approval_cancel(approval=stale, actor=lead, now=timezone.now())
        review.case_assign(case=case, reviewer=successor, actor=lead, now=timezone.now())
        freeze = four_eyes_activate(case=case, actor=Actor(user=User.objects.get(pk=successor.pk)),
                                    now=timezone.now(), approver=cast.lead)
    assert freeze.case_id == case.pk
    granted = Approval.objects.get(case=case, status=Approval.Status.APPROVED)
    assert (granted.requested_by, granted.decided_by) == (successor, cast.lead)
