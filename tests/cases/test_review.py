"""Independent review (R10) with its gates: R4 (a scan's language is checked by a person), R5 (a
verified warrant, court order or equivalent before user information is disclosed) and R6 (the
notification decision before release).

The cast: the officer who sent the case, a legal lead who assigns work, the reviewer it is assigned
to, a colleague reviewer it is not assigned to, and an auditor who changes nothing.
"""

from __future__ import annotations

import re
import threading
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.http import Http404
from django.utils import timezone

from cases import selectors
from cases.models import Case, CaseDocument, Production
from cases.services import correspondence, productions, review
from leors.access.models import Officer, User
from leors.core import outbox
from leors.core.audit import Actor
from leors.core.errors import ActionRefused
from leors.core.models import AuditEvent
from tests.documents import ENGLISH_WARRANT, FRENCH_WARRANT, FRENCH_WARRANT_TRANSLATION, pdf_with_text, scanned_pdf
from tests.factories import (
    approved_officer,
    document_input,
    four_eyes_release,
    make_auditor,
    make_lead,
    make_reviewer,
    submit_case,
)

Status = Case.Status
FULL_CHECKLIST = review.ReviewChecklist(True, True, True, True, True, True, "Checked against the court register.")
ACCEPT_REASONS = "The warrant was verified with the issuing court and covers the account named."
DECLINE_REASONS = "The order names no account we hold; send an order naming the UID or a wallet of ours."


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)  # no cached permissions


class Cast:
    """One officer's case and the legal team around it."""

    def __init__(self, **case_overrides: Any) -> None:
        self.now = timezone.now()
        self.officer: Officer = approved_officer()
        self.lead = make_lead()
        self.reviewer = make_reviewer()
        self.colleague = make_reviewer()
        self.case: Case = submit_case(self.officer, **case_overrides)

    def assign(self) -> Cast:
        review.case_assign(case=self.case, reviewer=self.reviewer, actor=Actor(user=self.lead), now=self.now)
        return self

    @property
    def staff(self) -> Actor:
        return Actor(user=fresh(self.reviewer))

    @property
    def as_officer(self) -> Actor:
        return Actor(user=fresh(self.officer.user))

    def checklist(self, data: review.ReviewChecklist = FULL_CHECKLIST) -> Cast:
        review.case_checklist_update(case=self.case, data=data, actor=self.staff, now=self.now)
        return self

    def verify(self, document: CaseDocument | None = None) -> Cast:
        review.case_document_verify(document=document or self.case.documents.get(role=CaseDocument.Role.LEGAL_PROCESS),
                                    actor=self.staff, now=self.now)
        return self

    def decide(self, decision: str = Case.Decision.ACCEPT, reasons: str = ACCEPT_REASONS) -> Case:
        return review.case_decide(case=self.case, decision=decision, reasons=reasons, actor=self.staff, now=self.now)

    def accepted(self) -> Cast:
        self.assign().checklist().verify().decide()
        return self

    def upload(self, name: str = "kyc.csv", content: bytes = b"uid,name\nU-1,A. Person\n") -> Production:
        return productions.production_upload(case=self.case, upload=SimpleUploadedFile(name, content),
                                             description="KYC extract", actor=self.staff, now=self.now)

    def notification(self, decision: str, *, notified_at: Any = None, waiver_reason: str = "",
                     now: Any = None) -> Case:
        return review.case_notification_record(case=self.case, decision=decision, notified_at=notified_at,
                                               waiver_reason=waiver_reason, actor=self.staff, now=now or self.now)


# --- R10: the recorded review ----------------------------------------------------------------------

@pytest.mark.django_db
def test_r10_acceptance_needs_the_complete_checklist() -> None:
    cast = Cast().assign().verify()
    cast.checklist(review.ReviewChecklist(True, True, True, True, True, False))
    with pytest.raises(ActionRefused, match=r"Complete the review checklist \(missing: scope\)"):
        cast.decide()
    cast.case.refresh_from_db()
    assert cast.case.status == Status.IN_REVIEW
    assert cast.case.checklist_updated_by == cast.reviewer

    cast.checklist()
    assert cast.decide().status == Status.ACCEPTED
    assert (cast.case.decided_by, cast.case.decision_reasons) == (cast.reviewer, ACCEPT_REASONS)
    checklist_events = AuditEvent.objects.filter(action="case.checklist_updated", object_id=str(cast.case.pk))
    assert checklist_events.count() == 2
    assert checklist_events.last().changes["check_scope"] == [False, True]


@pytest.mark.django_db
def test_r10_reasons_must_be_specific_and_a_decline_is_always_possible() -> None:
    cast = Cast().assign()  # nothing checked, nothing verified
    for reasons in ("", "Rejected.", "   no   "):
        with pytest.raises(ValidationError) as refused:
            cast.decide(Case.Decision.DECLINE, reasons)
        assert "reasons" in refused.value.message_dict
    with pytest.raises(ValidationError):
        cast.decide("maybe", DECLINE_REASONS)
    case = cast.decide(Case.Decision.DECLINE, f"  {DECLINE_REASONS}  ")
    assert (case.status, case.decision_reasons) == (Status.DECLINED, DECLINE_REASONS)
    # Decided once: nothing more to decide.
    with pytest.raises(ActionRefused, match="The case is now: declined"):
        cast.decide(Case.Decision.ACCEPT)


@pytest.mark.django_db
def test_r10_asking_for_more_information_pauses_the_case_until_the_officer_answers() -> None:
    cast = Cast().assign().checklist().verify()
    with pytest.raises(ValidationError):
        review.case_request_information(case=cast.case, question="Why?", actor=cast.staff, now=cast.now)
    review.case_request_information(case=cast.case, question="Please send the signed second page of the warrant.",
                                    actor=cast.staff, now=cast.now)
    cast.case.refresh_from_db()
    assert cast.case.status == Status.INFORMATION_REQUESTED
    assert cast.case.messages.get().is_question

    # While the question is open nothing is decided, not even a decline.
    for decision in (Case.Decision.ACCEPT, Case.Decision.DECLINE):
        with pytest.raises(ActionRefused, match="more information requested"):
            cast.decide(decision, DECLINE_REASONS)
    # A staff message is not an answer: the case keeps waiting.
    correspondence.case_message_post(case=cast.case, body="Reminder: we are waiting for the second page.",
                                     attachments=[], is_internal=False, actor=cast.staff, now=cast.now)
    cast.case.refresh_from_db()
    assert cast.case.status == Status.INFORMATION_REQUESTED

    correspondence.case_message_post(case=cast.case, body="Attached is the signed second page.", is_internal=False,
                                     attachments=[SimpleUploadedFile("page-2.pdf", pdf_with_text(ENGLISH_WARRANT))],
                                     actor=cast.as_officer, now=cast.now)
    cast.case.refresh_from_db()
    assert cast.case.status == Status.IN_REVIEW
    assert AuditEvent.objects.filter(action="case.answered", object_id=str(cast.case.pk)).count() == 1
    assert cast.decide().status == Status.ACCEPTED


@pytest.mark.django_db
def test_r10_assignment_grants_permissions_on_that_case_only_and_reassignment_takes_them_back() -> None:
    cast = Cast()
    other_case = submit_case(cast.officer)
    # Before assignment a reviewer sees no case; a lead and an auditor see all of them.
    assert not selectors.case_list_for(user=fresh(cast.reviewer)).exists()
    assert set(selectors.case_list_for(user=fresh(cast.lead))) == {cast.case, other_case}
    assert set(selectors.case_list_for(user=make_auditor())) == {cast.case, other_case}

    cast.assign()
    cast.case.refresh_from_db()
    assert (cast.case.status, cast.case.assigned_to) == (Status.IN_REVIEW, cast.reviewer)
    reviewer = fresh(cast.reviewer)
    assert list(selectors.case_list_for(user=reviewer)) == [cast.case]
    assert reviewer.has_perm("cases.review_case", cast.case)
    assert not reviewer.has_perm("cases.review_case", other_case)
    with pytest.raises(Http404):
        selectors.case_get_for(user=reviewer, reference=other_case.reference)
    colleague = fresh(cast.colleague)
    assert not selectors.case_list_for(user=colleague).exists()
    with pytest.raises(Http404):
        selectors.case_get_for(user=colleague, reference=cast.case.reference)

    # Reassigned to the colleague: the first reviewer loses the case.
    review.case_assign(case=cast.case, reviewer=cast.colleague, actor=Actor(user=cast.lead), now=cast.now)
    assert list(selectors.case_list_for(user=fresh(cast.colleague))) == [cast.case]
    assert not selectors.case_list_for(user=fresh(cast.reviewer)).exists()
    assert not fresh(cast.reviewer).has_perm("cases.review_case", cast.case)
    event = AuditEvent.objects.filter(action="case.assigned", object_id=str(cast.case.pk)).last()
    assert event.changes["assigned_to"] == [cast.reviewer.email, cast.colleague.email]

    # Only legal reviewers and leads can be assigned.
    with pytest.raises(ActionRefused, match="not an active legal reviewer"):
        review.case_assign(case=cast.case, reviewer=make_auditor(), actor=Actor(user=cast.lead), now=cast.now)
    with pytest.raises(ActionRefused, match="not an active legal reviewer"):
        review.case_assign(case=cast.case, reviewer=cast.officer.user, actor=Actor(user=cast.lead), now=cast.now)


@pytest.mark.django_db
def test_r10_staff_only_services_refuse_a_non_staff_actor() -> None:
    cast = Cast().assign()
    officer = cast.as_officer
    document = cast.case.documents.get()
    attempts = [
        lambda: review.case_assign(case=cast.case, reviewer=cast.reviewer, actor=officer, now=cast.now),
        lambda: review.case_checklist_update(case=cast.case, data=FULL_CHECKLIST, actor=officer, now=cast.now),
        lambda: review.case_request_information(case=cast.case, question="Who are you, really? Tell us.",
                                                actor=officer, now=cast.now),
        lambda: review.case_document_verify(document=document, actor=officer, now=cast.now),
        lambda: review.case_document_language_clear(document=document, language_status="english",
                                                    reason="Looks English to me.", actor=officer, now=cast.now),
        lambda: review.case_decide(case=cast.case, decision="accepted", reasons=ACCEPT_REASONS, actor=officer,
                                   now=cast.now),
        lambda: review.case_notification_record(case=cast.case, decision="waived", notified_at=None,
                                                waiver_reason="No need to notify anyone.", actor=officer, now=cast.now),
        lambda: review.case_fulfil(case=cast.case, actor=officer, now=cast.now),
        lambda: review.case_close(case=cast.case, actor=officer, now=cast.now),
        lambda: productions.production_upload(case=cast.case, upload=SimpleUploadedFile("a.csv", b"a,b\n"),
                                              description="", actor=officer, now=cast.now),
        lambda: review.case_decide(case=cast.case, decision="declined", reasons=DECLINE_REASONS,
                                   actor=Actor(user=None), now=cast.now),
    ]
    events_before = AuditEvent.objects.count()
    for attempt in attempts:
        with pytest.raises(ActionRefused, match="Only a member of the legal team"):
            attempt()
    assert AuditEvent.objects.count() == events_before
    cast.case.refresh_from_db()
    assert (cast.case.status, cast.case.is_checklist_complete) == (Status.IN_REVIEW, False)
    # An officer cannot write an internal note either.
    with pytest.raises(ActionRefused, match="internal notes"):
        correspondence.case_message_post(case=cast.case, body="psst", attachments=[], is_internal=True,
                                         actor=officer, now=cast.now)


@pytest.mark.django_db(transaction=True)
def test_r10_two_concurrent_decisions_make_one_transition_and_one_audit_event(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox, "schedule_delivery", lambda message_ids: None)  # no broker needed
    cast = Cast().assign().checklist().verify()
    lead = Actor(user=cast.lead)
    start = threading.Barrier(2)
    results: list[Any] = []

    def decide(decision: str, actor: Actor, reasons: str) -> None:
        try:
            start.wait(10)
            results.append(review.case_decide(case=Case.objects.get(pk=cast.case.pk), decision=decision,
                                              reasons=reasons, actor=actor, now=timezone.now()))
        except Exception as error:  # surfaced by the assertions below
            results.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(Case.Decision.ACCEPT, cast.staff, ACCEPT_REASONS)),
               threading.Thread(target=decide, args=(Case.Decision.DECLINE, lead, DECLINE_REASONS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 2
    decided = [r for r in results if isinstance(r, Case)]
    refused = [r for r in results if isinstance(r, ActionRefused)]
    assert (len(decided), len(refused)) == (1, 1), results
    assert "Only a case in review" in refused[0].message
    cast.case.refresh_from_db()
    assert cast.case.status == decided[0].status
    events = AuditEvent.objects.filter(action="case.decided", object_id=str(cast.case.pk))
    assert events.count() == 1
    assert events.get().changes["status"] == cast.case.status


# --- R5: legal process before disclosure -----------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("document_type", ["subpoena", "preservation_letter", "other"])
def test_r5_user_information_is_not_disclosed_on_a_subpoena_or_a_letter(document_type: str) -> None:
    cast = Cast(documents=[document_input(pdf_with_text(ENGLISH_WARRANT), name="letter.pdf",
                                          document_type=document_type)])
    cast.assign().checklist().verify()
    assert cast.case.documents.get().verified_at is not None
    for decision in (Case.Decision.ACCEPT, Case.Decision.PARTLY_ACCEPT):
        with pytest.raises(ActionRefused, match=r"needs a warrant, court order or local equivalent.*\(R5\)"):
            cast.decide(decision)
    assert cast.decide(Case.Decision.DECLINE, DECLINE_REASONS).status == Status.DECLINED


@pytest.mark.django_db
@pytest.mark.parametrize("document_type", ["warrant", "court_order", "local_equivalent"])
def test_r5_a_warrant_order_or_equivalent_counts_only_once_verified(document_type: str) -> None:
    cast = Cast(documents=[document_input(pdf_with_text(ENGLISH_WARRANT), document_type=document_type)])
    cast.assign().checklist()
    with pytest.raises(ActionRefused, match=r"\(R5\)"):
        cast.decide()
    cast.verify()
    with pytest.raises(ActionRefused, match="already verified"):
        cast.verify()
    document = cast.case.documents.get()
    assert document.verified_by == cast.reviewer
    assert cast.decide(Case.Decision.PARTLY_ACCEPT).status == Status.PARTLY_ACCEPTED
    event = AuditEvent.objects.get(action="case.document_verified", object_id=str(cast.case.pk))
    assert (event.actor_id, event.changes["sha256"]) == (cast.reviewer.pk, document.sha256)


@pytest.mark.django_db
def test_r5_a_translation_cannot_be_verified_as_legal_process() -> None:
    cast = Cast(documents=[
        document_input(pdf_with_text(FRENCH_WARRANT), name="requisition.pdf"),
        document_input(pdf_with_text(FRENCH_WARRANT_TRANSLATION), name="requisition-EN.pdf", translation_of=0,
                       translator_certification="Certified accurate by J. Martin, sworn translator, Paris."),
    ]).assign().checklist()
    with pytest.raises(ActionRefused, match="Only a legal-process document"):
        cast.verify(cast.case.documents.get(role=CaseDocument.Role.TRANSLATION))
    cast.verify(cast.case.documents.get(role=CaseDocument.Role.LEGAL_PROCESS))
    assert cast.decide().status == Status.ACCEPTED  # French original + English translation satisfy R4


# --- R4: the manual language check -----------------------------------------------------------------

@pytest.mark.django_db
def test_r4_acceptance_waits_for_the_manual_language_check_of_a_scan() -> None:
    cast = Cast(documents=[document_input(scanned_pdf(), name="scanned-warrant.pdf")])
    cast.assign().checklist().verify()
    scan = cast.case.documents.get()
    assert scan.needs_manual_language_check
    with pytest.raises(ActionRefused, match=re.escape("“scanned-warrant.pdf” needs a manual language check (no text layer): record its language")):
        cast.decide()

    # Recording it as not English needs a reason; then the missing translation blocks acceptance instead.
    with pytest.raises(ValidationError):
        review.case_document_language_clear(document=scan, language_status="not_english", reason="",
                                            actor=cast.staff, now=cast.now)
    with pytest.raises(ValidationError):
        review.case_document_language_clear(document=scan, language_status="klingon", reason="Read by a person.",
                                            actor=cast.staff, now=cast.now)
    review.case_document_language_clear(document=scan, language_status="not_english",
                                        reason="The scan is a Spanish court order.", actor=cast.staff, now=cast.now)
    with pytest.raises(ActionRefused, match="is not in English and has no English translation"):
        cast.decide()

    # Read again by the reviewer: it is English after all. Changing a recorded finding is an override (with a reason).
    review.case_document_language_clear(document=scan, language_status="english",
                                        reason="Second reading: English, with a Spanish letterhead only.",
                                        actor=cast.staff, now=cast.now)
    scan.refresh_from_db()
    assert not scan.needs_manual_language_check
    assert (scan.language_cleared_by, scan.language_cleared_as) == (cast.reviewer, "english")
    assert scan.language_status == CaseDocument.LanguageStatus.NO_TEXT  # the detector's finding is kept
    events = AuditEvent.objects.filter(action="case.document_language_recorded", object_id=str(cast.case.pk))
    assert [(e.actor_id, e.changes["recorded_as"], e.changes["override"]) for e in events] == [
        (cast.reviewer.pk, "not_english", False), (cast.reviewer.pk, "english", True)]
    assert events.last().changes["reason"] == "Second reading: English, with a Spanish letterhead only."
    assert cast.decide().status == Status.ACCEPTED


@pytest.mark.django_db
def test_r4_a_scan_confirmed_as_english_needs_no_reason() -> None:
    cast = Cast(documents=[document_input(scanned_pdf(), name="scan.pdf")]).assign()
    document = review.case_document_language_clear(document=cast.case.documents.get(), language_status="english",
                                                   reason="", actor=cast.staff, now=cast.now)
    assert document.language_cleared_as == "english"
    assert not document.needs_manual_language_check


@pytest.mark.django_db
def test_r4_reversing_a_recorded_not_english_finding_needs_a_reason() -> None:
    cast = Cast(documents=[document_input(scanned_pdf(), name="scanned-order.pdf")])
    cast.assign().checklist().verify()
    scan = cast.case.documents.get()
    stale = cast.case.documents.get()  # read before the finding below, as by a page opened in another tab
    review.case_document_language_clear(document=scan, language_status="not_english",
                                        reason="The scan is a Spanish court order.", actor=cast.staff, now=cast.now)
    # Turning a person's recorded "not English" into "English" is an override, though the detector only said "no
    # text": without a reason it is refused, and the R4 blocker stays. Judged on the finding on record, not on
    # the caller's copy.
    for document, reason in ((scan, ""), (scan, "ok"), (stale, "")):
        with pytest.raises(ValidationError) as refused:
            review.case_document_language_clear(document=document, language_status="english", reason=reason,
                                                actor=cast.staff, now=cast.now)
        assert "reason" in refused.value.message_dict
    scan.refresh_from_db()
    assert scan.effective_language_status == CaseDocument.LanguageStatus.NOT_ENGLISH
    with pytest.raises(ActionRefused, match=re.escape("“scanned-order.pdf” is not in English and has no English translation")):
        cast.decide()

    # With a reason it is taken, and the audit shows who changed which finding, and why.
    colleague_lead = Actor(user=fresh(cast.lead))
    review.case_document_language_clear(document=scan, language_status="english",
                                        reason="Read again: an English order; only the court's stamp is Spanish.",
                                        actor=colleague_lead, now=cast.now)
    event = AuditEvent.objects.filter(action="case.document_language_recorded").latest("pk")
    assert (event.actor_id, event.changes["previously_recorded_as"], event.changes["recorded_as"],
            event.changes["override"], event.changes["reason"]) == (
        cast.lead.pk, "not_english", "english", True,
        "Read again: an English order; only the court's stamp is Spanish.")
    # Recording the same finding again is no change: confirming a scan as English still needs no reason.
    review.case_document_language_clear(document=scan, language_status="english", reason="", actor=cast.staff,
                                        now=cast.now)


@pytest.mark.django_db
def test_r4_overriding_a_detection_needs_a_reason_and_is_audited() -> None:
    cast = Cast().assign()
    document = cast.case.documents.get()
    assert document.language_status == CaseDocument.LanguageStatus.ENGLISH
    for reason in ("", "because"):
        with pytest.raises(ValidationError) as refused:
            review.case_document_language_clear(document=document, language_status="not_english", reason=reason,
                                                actor=cast.staff, now=cast.now)
        assert "reason" in refused.value.message_dict
    # Confirming an English detection is an override too (the detector already decided): a reason is needed.
    with pytest.raises(ValidationError):
        review.case_document_language_clear(document=document, language_status="english", reason="",
                                            actor=cast.staff, now=cast.now)
    assert not AuditEvent.objects.filter(action="case.document_language_recorded").exists()

    review.case_document_language_clear(document=document, language_status="not_english",
                                        reason="Only the cover page is English; the order itself is in Dutch.",
                                        actor=cast.staff, now=cast.now)
    document.refresh_from_db()
    assert (document.effective_language_status, document.language_cleared_by) == ("not_english", cast.reviewer)
    event = AuditEvent.objects.get(action="case.document_language_recorded")
    assert (event.actor_id, event.actor_label) == (cast.reviewer.pk, cast.reviewer.email)
    assert event.changes["override"] is True
    assert (event.changes["detected"], event.changes["detected_language"]) == ("english", "en")
    assert event.changes["reason"] == "Only the cover page is English; the order itself is in Dutch."
    cast.checklist().verify()
    with pytest.raises(ActionRefused, match=r"not in English.*\(R4\)"):
        cast.decide()


# --- R6: the notification decision -----------------------------------------------------------------

@pytest.mark.django_db
def test_r6_a_production_is_not_released_without_the_notification_decision() -> None:
    cast = Cast().accepted()
    production = cast.upload()
    with pytest.raises(ActionRefused, match=r"Record the notification decision first.*\(R6\)"):
        four_eyes_release(production=production, actor=cast.staff, now=cast.now)
    production.refresh_from_db()
    assert production.released_at is None
    cast.notification(Case.NotificationDecision.WAIVED, waiver_reason="The account holder is the victim here.")
    released = four_eyes_release(production=production, actor=cast.staff, now=cast.now)
    assert released.released_at == cast.now
    assert AuditEvent.objects.get(action="case.production_released").changes["notification_decision"] == "waived"


@pytest.mark.django_db
def test_r6_the_notification_decision_comes_after_acceptance_and_only_on_user_information() -> None:
    cast = Cast().assign()
    with pytest.raises(ActionRefused, match="after the case is accepted"):
        cast.notification(Case.NotificationDecision.WAIVED, waiver_reason="The account holder is the victim.")
    freeze = Cast(request_type="freeze", freeze_duration_days=10, data_requested="",
                  has_non_disclosure_instruction=None,
                  documents=[document_input(pdf_with_text(ENGLISH_WARRANT), document_type="freeze_order")]).assign()
    with pytest.raises(ActionRefused, match="user-information requests only"):
        freeze.notification(Case.NotificationDecision.WAIVED, waiver_reason="The account holder is the victim.")


@pytest.mark.django_db
def test_r6_withheld_only_while_a_non_disclosure_instruction_is_in_force() -> None:
    until = timezone.now().date() + timedelta(days=30)
    cast = Cast(has_non_disclosure_instruction=True, non_disclosure_until=until).accepted()
    day_after = datetime.combine(until + timedelta(days=1), time(12), tzinfo=UTC)  # the last day ended everywhere
    with time_machine.travel(day_after, tick=False), pytest.raises(ValidationError) as refused:
        cast.notification(Case.NotificationDecision.WITHHELD, now=timezone.now())
    assert "non-disclosure instruction in force" in refused.value.message_dict["decision"][0]
    with time_machine.travel(timezone.now() + timedelta(days=30), tick=False):  # the last day it is in force
        case = cast.notification(Case.NotificationDecision.WITHHELD, now=timezone.now())
    assert (case.notification_decision, case.notified_at, case.notification_decided_by) == (
        "withheld", None, cast.reviewer)

    without = Cast(has_non_disclosure_instruction=False).accepted()
    with pytest.raises(ValidationError):
        without.notification(Case.NotificationDecision.WITHHELD)


@pytest.mark.django_db
def test_r6_notified_is_refused_while_the_non_disclosure_instruction_is_in_force() -> None:
    until = timezone.now().date() + timedelta(days=30)
    cast = Cast(has_non_disclosure_instruction=True, non_disclosure_until=until).accepted()
    with pytest.raises(ValidationError) as refused:
        cast.notification(Case.NotificationDecision.NOTIFIED, notified_at=cast.now - timedelta(hours=1))
    assert f"not to notify the user until {until:%d %B %Y}" in refused.value.message_dict["decision"][0]
    cast.case.refresh_from_db()
    assert cast.case.notification_decision == ""
    assert productions.production_release_blockers(cast.case, cast.now)  # so nothing can be released either
    # Once the instruction has ended, a notification made after it is recorded; one made during it is not.
    with time_machine.travel(timezone.now() + timedelta(days=32), tick=False):
        with pytest.raises(ValidationError):
            cast.notification(Case.NotificationDecision.NOTIFIED, notified_at=cast.now, now=timezone.now())
        case = cast.notification(Case.NotificationDecision.NOTIFIED, notified_at=timezone.now(), now=timezone.now())
    assert case.notification_decision == "notified"


def test_r6_a_non_disclosure_instruction_lasts_until_its_last_day_has_ended_everywhere() -> None:
    """The order's last day is its own, in a zone LEORS does not know: the user may not be notified until that day
    has ended everywhere (UTC-12). A reviewer enters the time of a notification in their own zone; the same instant
    gets the same answer."""
    case = Case(has_non_disclosure_instruction=True, non_disclosure_until=date(2026, 4, 30))
    auckland_next_day = datetime(2026, 4, 30, 20, 0, tzinfo=UTC)  # already 1 May in Auckland
    los_angeles_last_evening = datetime(2026, 5, 1, 6, 0, tzinfo=UTC)  # 30 April, 23:00, in Los Angeles
    last_second = datetime(2026, 5, 1, 11, 59, 59, tzinfo=UTC)  # 30 April, 23:59:59, at UTC-12
    ended = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    for zone in ("UTC", "Pacific/Auckland", "America/Los_Angeles"):
        for moment in (auckland_next_day, los_angeles_last_evening, last_second):
            assert case.is_non_disclosure_in_force(moment.astimezone(zoneinfo.ZoneInfo(zone))), (zone, moment)
        assert not case.is_non_disclosure_in_force(ended.astimezone(zoneinfo.ZoneInfo(zone))), zone
    assert Case(has_non_disclosure_instruction=True, non_disclosure_until=date.max).is_non_disclosure_in_force(ended)


@pytest.mark.django_db
def test_r6_notified_needs_a_time_not_in_the_future_and_waived_needs_a_reason() -> None:
    cast = Cast().accepted()
    for notified_at in (None, cast.now + timedelta(minutes=5)):
        with pytest.raises(ValidationError) as refused:
            cast.notification(Case.NotificationDecision.NOTIFIED, notified_at=notified_at)
        assert "notified_at" in refused.value.message_dict
    for reason in ("", "   ", "victim"):
        with pytest.raises(ValidationError) as refused:
            cast.notification(Case.NotificationDecision.WAIVED, waiver_reason=reason)
        assert "waiver_reason" in refused.value.message_dict
    with pytest.raises(ValidationError):
        cast.notification("ignored")
    cast.case.refresh_from_db()
    assert cast.case.notification_decision == ""

    told = cast.now - timedelta(hours=2)
    case = cast.notification(Case.NotificationDecision.NOTIFIED, notified_at=told)
    assert (case.notification_decision, case.notified_at, case.notification_decided_at) == ("notified", told, cast.now)
    case = cast.notification(Case.NotificationDecision.WAIVED, notified_at=told,
                             waiver_reason="The account holder is the reporting victim.")
    assert (case.notification_decision, case.notified_at, case.notification_waiver_reason) == (
        "waived", None, "The account holder is the reporting victim.")


@pytest.mark.django_db
def test_r6_the_notification_decision_cannot_change_after_a_release() -> None:
    cast = Cast().accepted()
    production = cast.upload()
    cast.notification(Case.NotificationDecision.NOTIFIED, notified_at=cast.now - timedelta(days=1))
    four_eyes_release(production=production, actor=cast.staff, now=cast.now)
    with pytest.raises(ActionRefused, match="already released"):
        cast.notification(Case.NotificationDecision.WAIVED, waiver_reason="Changed our mind about notifying.")
    cast.case.refresh_from_db()
    assert cast.case.notification_decision == "notified"
    with pytest.raises(ActionRefused, match="already released"):
        four_eyes_release(production=production, actor=cast.staff, now=cast.now)


# --- Who may act, checked in the services themselves ----------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("who", ["auditor", "unassigned reviewer"])
def test_r10_only_the_assigned_reviewer_or_a_lead_can_decide_even_through_the_service(who: str) -> None:
    cast = Cast().assign().checklist().verify()
    intruder = make_auditor() if who == "auditor" else cast.colleague
    for attempt in (
        lambda: review.case_decide(case=cast.case, decision="declined", reasons="Declined by someone else entirely.",
                                   actor=Actor(user=fresh(intruder)), now=cast.now),
        lambda: review.case_request_information(case=cast.case, question="Who are you, really?",
                                                actor=Actor(user=fresh(intruder)), now=cast.now),
    ):
        with pytest.raises(ActionRefused):
            attempt()
    cast.case.refresh_from_db()
    assert cast.case.status == Status.IN_REVIEW
    # The lead may, on any case.
    assert review.case_decide(case=cast.case, decision="declined", reasons="The order does not name this account.",
                              actor=Actor(user=cast.lead), now=cast.now).status == Status.DECLINED


@pytest.mark.django_db
def test_r10_a_supervisor_reads_the_agency_cases_but_cannot_write_on_them() -> None:
    from leors.access.services import officer_supervisor_set

    cast = Cast().assign()
    supervisor = approved_officer(official_email="chief.inspector@met.police.example.uk")
    officer_supervisor_set(officer=supervisor, is_supervisor=True, actor=Actor(user=cast.lead), now=cast.now)
    with pytest.raises(ActionRefused):
        correspondence.case_message_post(case=cast.case, body="I answer for my officer.", attachments=[],
                                         is_internal=False, actor=Actor(user=fresh(supervisor.user)), now=cast.now)
    assert not cast.case.messages.exists()


@pytest.mark.django_db
def test_r6_release_is_blocked_again_when_the_withholding_instruction_has_ended() -> None:
    until = timezone.now().date() + timedelta(days=10)
    cast = Cast(has_non_disclosure_instruction=True, non_disclosure_until=until).accepted()
    cast.notification(Case.NotificationDecision.WITHHELD)
    first, second = cast.upload(), cast.upload(name="ip-log.csv")
    four_eyes_release(production=first, actor=cast.staff, now=cast.now)
    later = datetime.combine(until + timedelta(days=1), time(12), tzinfo=UTC)  # the last day ended everywhere
    with time_machine.travel(later, tick=False):
        with pytest.raises(ActionRefused, match="Record a new notification decision"):
            four_eyes_release(production=second, actor=cast.staff, now=timezone.now())
        # The ended withholding is the one decision that may be replaced after a release.
        cast.notification(Case.NotificationDecision.NOTIFIED, notified_at=timezone.now(), now=timezone.now())
        assert four_eyes_release(production=second, actor=cast.staff,
                                              now=timezone.now()).released_at is not None


def test_r4_a_detection_the_detector_is_unsure_of_goes_to_a_person() -> None:
    from cases.language import LanguageResult
    from cases.services.intake import language_status_of

    unsure_english = LanguageResult(language="en", confidence=0.2, has_text=True)
    unsure_german = LanguageResult(language="de", confidence=0.2, has_text=True)
    assert language_status_of(unsure_english) == CaseDocument.LanguageStatus.UNCERTAIN
    assert language_status_of(unsure_german) == CaseDocument.LanguageStatus.UNCERTAIN
    assert language_status_of(LanguageResult(language="de", confidence=0.9, has_text=True)) == "not_english"
    assert language_status_of(LanguageResult(language="en", confidence=0.9, has_text=True)) == "english"
