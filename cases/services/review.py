"""Independent review of a case (R10), with the gates of R4 (language), R5 (legal process) and R6
(notification). Every step is a transition claimed on the row, audited, and told to the officer by
an e-mail that carries no case content (R12)."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce

from cases.models import CHECKLIST_FIELDS, Case, CaseDocument, CaseMessage, RequestType
from cases.services.common import PERM_ASSIGN, case_transition, officer_update_email, require_staff, staff_case_path
from cases.services.suspension import refuse_if_on_hold
from leors.access.models import User
from leors.access.services import legal_reviewer_require, reviewer_hand_over
from leors.core.audit import Actor, audit_record
from leors.core.errors import ActionRefused
from leors.core.outbox import email_enqueue, emails_enqueue

Status = Case.Status
REVIEWER_CASE_PERMISSIONS = ("view_case", "review_case")
MIN_REASONS_LENGTH = 20


def _tell_officer(case: Case, *, what: str, now: datetime) -> None:
    emails_enqueue([officer_update_email(case, cause="case-update", what=what, now=now)], now=now)


def case_assign(*, case: Case, reviewer: User, actor: Actor, now: datetime) -> Case:
    """Give one reviewer the object permissions on this case only; a submitted case enters review. An accepted case
    still has work (an activation, a production, a return) and may be handed over too, e.g. when its reviewer left."""
    require_staff(actor, case, PERM_ASSIGN)
    legal_reviewer_require(reviewer)
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if not (locked.is_open or locked.status in Case.ACCEPTED_STATUSES):
            raise ActionRefused("Only a case with work left can be assigned: one in review, or accepted and not yet "
                                f"fulfilled. The case is now: {locked.get_status_display().lower()}.")
        previous = reviewer_hand_over(locked, reviewer=reviewer,
                                      perms=[f"cases.{perm}" for perm in REVIEWER_CASE_PERMISSIONS])
        changes: dict[str, object] = {"assigned_to": [previous.email if previous else None, reviewer.email]}
        if locked.status == Status.SUBMITTED:
            case_transition(locked, allowed_from=(Status.SUBMITTED,), to=Status.IN_REVIEW,
                            refusal="The case changed meanwhile.")
            changes["status"] = [Status.SUBMITTED, Status.IN_REVIEW]
        audit_record(actor=actor, action="case.assigned", obj=locked, changes=changes, now=now)
        email_enqueue(key=f"case-assigned:{locked.pk}:{reviewer.pk}:{now.isoformat()}", to=reviewer.email,
                      template="staff_case_assigned", reference=locked.reference, link_path=staff_case_path(locked),
                      now=now)
    case.refresh_from_db()
    return case


@dataclass(frozen=True)
class ReviewChecklist:
    check_issuing_authority: bool
    check_jurisdiction: bool
    check_signature_or_seal: bool
    check_dates: bool
    check_subject_identifiers: bool
    check_scope: bool
    checklist_notes: str = ""


def case_checklist_update(*, case: Case, data: ReviewChecklist, actor: Actor, now: datetime) -> Case:
    """R10: record what the reviewer checked: issuing authority, jurisdiction, signature or seal,
    dates, subject identifiers, scope."""
    user = require_staff(actor, case)
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if locked.status not in (Status.SUBMITTED, Status.IN_REVIEW, Status.INFORMATION_REQUESTED):
            raise ActionRefused("The checklist can only change while the case is under review.")
        after = {f.name: getattr(data, f.name) for f in fields(ReviewChecklist)}
        after["checklist_notes"] = after["checklist_notes"].strip()
        changed = {name: [getattr(locked, name), value] for name, value in after.items() if getattr(locked, name) != value}
        Case.objects.filter(pk=locked.pk).update(**after, checklist_updated_by=user, checklist_updated_at=now)
        audit_record(actor=actor, action="case.checklist_updated", obj=locked, changes=changed, now=now)
    case.refresh_from_db()
    return case


def case_request_information(*, case: Case, question: str, actor: Actor, now: datetime) -> Case:
    """R10: ask the officer for more; the case waits for the answer."""
    user = require_staff(actor, case)
    question = question.strip()
    if len(question) < 10:
        raise ValidationError({"question": "Write the question so the officer knows exactly what to send."})
    with transaction.atomic():
        case_transition(case, allowed_from=(Status.SUBMITTED, Status.IN_REVIEW), to=Status.INFORMATION_REQUESTED,
                        refusal="More information can only be asked while the case is in review.")
        message = CaseMessage.objects.create(case=case, author=user, body=question, is_question=True, created_at=now)
        audit_record(actor=actor, action="case.information_requested", obj=case,
                     changes={"status": case.status, "message": message.pk}, now=now)
        _tell_officer(case, what="question", now=now)
    return case


def case_document_verify(*, document: CaseDocument, actor: Actor, now: datetime) -> CaseDocument:
    """R5: the reviewer has checked this legal process (authority, signature or seal, validity)."""
    user = require_staff(actor, document.case)
    if document.role != CaseDocument.Role.LEGAL_PROCESS:
        raise ActionRefused("Only a legal-process document can be verified.")
    with transaction.atomic():
        if not Case.objects.select_for_update().filter(pk=document.case_id, status__in=Case.OPEN_STATUSES).exists():
            raise ActionRefused("Legal process can only be verified while the case is under review.")
        updated = CaseDocument.objects.filter(pk=document.pk, verified_at__isnull=True).update(verified_by=user,
                                                                                              verified_at=now)
        if updated != 1:
            raise ActionRefused("This document is already verified.")
        audit_record(actor=actor, action="case.document_verified", obj=document.case, now=now,
                     changes={"document": document.pk, "name": document.original_name,
                              "document_type": document.document_type, "sha256": document.sha256})
    document.refresh_from_db()
    return document


def case_document_language_clear(*, document: CaseDocument, language_status: str, reason: str, actor: Actor,
                                 now: datetime) -> CaseDocument:
    """R4: a reviewer records the language of a scan (the manual check), or overrides a finding.

    An override needs a reason: going against the detector (anything other than confirming a scan),
    or changing what a person already recorded (a scan recorded as not English, now English). It is
    audited with the detector's result and the finding it replaces, so the record shows who decided
    what against which evidence, and why.
    """
    user = require_staff(actor, document.case)
    if language_status not in (CaseDocument.LanguageStatus.ENGLISH, CaseDocument.LanguageStatus.NOT_ENGLISH):
        raise ValidationError({"language_status": "Choose English or not English."})
    reason = reason.strip()
    with transaction.atomic():
        # The case row is locked first (as case_decide locks it), so a decision cannot slip in between.
        case_is_open = Case.objects.select_for_update().filter(pk=document.case_id,
                                                               status__in=Case.OPEN_STATUSES).exists()
        locked = CaseDocument.objects.select_for_update().get(pk=document.pk)
        if not case_is_open:
            raise ActionRefused("The language can only be recorded while the case is under review.")
        # Judged on the locked row, not the caller's copy: a finding recorded meanwhile (another tab,
        # a colleague) is one this call would change, and so needs the reason too.
        previously_recorded_as = locked.language_cleared_as
        is_override = (locked.language_status not in CaseDocument.MANUAL_CHECK_STATUSES
                       or previously_recorded_as not in ("", language_status))
        if (is_override or language_status == CaseDocument.LanguageStatus.NOT_ENGLISH) and len(reason) < 10:
            raise ValidationError({"reason": "Record why (at least a sentence): it goes into the audit trail."})
        CaseDocument.objects.filter(pk=locked.pk).update(language_cleared_by=user, language_cleared_at=now,
                                                         language_cleared_as=language_status,
                                                         language_override_reason=reason)
        audit_record(actor=actor, action="case.document_language_recorded", obj=locked.case, now=now, changes={
            "document": locked.pk, "name": locked.original_name, "detected": locked.language_status,
            "detected_language": locked.language, "confidence": locked.language_confidence,
            "previously_recorded_as": previously_recorded_as, "recorded_as": language_status,
            "override": is_override, "reason": reason,
        })
    document.refresh_from_db()
    return document


def case_acceptance_blockers(case: Case) -> list[str]:
    """What stands between this case and an acceptance: R10 checklist, R4 language, R5 legal process."""
    blockers: list[str] = []
    if not case.is_checklist_complete:
        missing = [name.removeprefix("check_").replace("_", " ") for name in CHECKLIST_FIELDS if not getattr(case, name)]
        blockers.append("Complete the review checklist (missing: " + ", ".join(missing) + ").")
    documents = list(case.documents.all())
    for document in documents:
        if document.needs_manual_language_check:
            blockers.append(f"“{document.original_name}” needs a manual language check "
                            f"({document.get_language_status_display().split(':')[0].lower()}): record its language "
                            "first (R4).")
        elif (document.effective_language_status == CaseDocument.LanguageStatus.NOT_ENGLISH
              and document.role == CaseDocument.Role.LEGAL_PROCESS
              and not any(t.effective_language_status == CaseDocument.LanguageStatus.ENGLISH
                          for t in document.translations.all())):
            blockers.append(f"“{document.original_name}” is not in English and has no English translation (R4).")
    if case.request_type == RequestType.ASSET_RECOVERY and not any(
            d.role == CaseDocument.Role.LEGAL_PROCESS and d.document_type == CaseDocument.DocumentType.COURT_ORDER
            and is_judicial_body(d.issuing_authority) and d.verified_at is not None for d in documents):
        blockers.append("Assets are returned only on a lawful decision of a competent judicial body (R9): a court "
                        "order naming the issuing court, verified by the reviewer, must be on the case. A request "
                        "of a law-enforcement agency alone is declined.")
    if case.request_type == RequestType.USER_INFORMATION and not any(
            d.role == CaseDocument.Role.LEGAL_PROCESS and d.document_type in CaseDocument.COMPELLING_TYPES
            and d.verified_at is not None for d in documents):
        blockers.append("Disclosure of user information needs a warrant, court order or local equivalent on the "
                        "case, verified by the reviewer (R5). Decline, or ask the officer for it.")
    return blockers


# R9: the words by which an issuing authority names itself a court, matched as whole words (a police force
# in Courtenay is no court), with the German compounds (Amtsgericht, Bundesgerichtshof) and the names written
# without spaces. "justice" is not among them: a Ministry or Department of Justice is not a court.
COURT_WORDS = frozenset({
    "court", "courts", "cour", "tribunal", "tribunals", "tribunale", "judge", "judges", "judicial", "juge",
    "juzgado", "corte", "rechtbank", "gerechtshof", "magistrate", "magistrates", "sąd", "суд",
})
COURT_WORD_ENDINGS = ("gericht", "gerichtshof")
COURT_NAMES_UNSPACED = ("法院", "裁判所")
# Prosecutors, police forces and ministries are named after the court they sit at or after the judiciary
# ("Procura della Repubblica presso il Tribunale", "Federal Judicial Police"): any of these words, and the
# authority is not a court, whatever else its name says.
NOT_COURT_WORDS = frozenset({
    "prosecutor", "prosecutors", "prosecution", "procura", "procuratore", "procureur", "procuraduría", "parquet",
    "fiscalía", "fiscal", "staatsanwalt", "prokuratura", "prokurator", "прокуратура", "attorney", "attorneys",
    "police", "polizei", "policía", "polizia", "politie", "policja", "полиция", "gendarmerie", "carabinieri", "rcmp",
    "constabulary", "ministry", "ministère", "ministerio", "ministero", "ministerie", "ministerium",
})
NOT_COURT_WORD_ENDINGS = ("staatsanwaltschaft", "polizei", "ministerium")
NOT_COURT_NAMES_UNSPACED = ("检察", "検察", "警察")


def is_judicial_body(issuing_authority: str) -> bool:
    """R9: a return rests on the decision of a judicial body; a police force, a prosecutor's office or a
    ministry is not one, even where its name names a court. (The reviewer verifies the order itself.)"""
    name = issuing_authority.lower()
    words = re.findall(r"\w+", name)
    if any(word in NOT_COURT_WORDS or word.endswith(NOT_COURT_WORD_ENDINGS) for word in words) \
            or any(unspaced in name for unspaced in NOT_COURT_NAMES_UNSPACED):
        return False
    return (any(word in COURT_WORDS or word.endswith(COURT_WORD_ENDINGS) for word in words)
            or any(unspaced in name for unspaced in COURT_NAMES_UNSPACED))


def case_decide(*, case: Case, decision: str, reasons: str, actor: Actor, now: datetime) -> Case:
    """R10: accept, accept in part or decline, with reasons specific enough for the officer to act on.

    Acceptance is blocked while `case_acceptance_blockers` lists anything (R4, R5, R10). A decline is
    always possible: it needs only the reasons.
    """
    user = require_staff(actor, case)
    reasons = reasons.strip()
    if decision not in Case.Decision.values:
        raise ValidationError({"decision": "Choose accept, accept in part or decline."})
    if len(reasons) < MIN_REASONS_LENGTH:
        raise ValidationError({"reasons": "Give reasons the officer can act on: what was checked, what is missing "
                                          "or why (never a bare “rejected”)."})
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if locked.status != Status.IN_REVIEW:
            raise ActionRefused("Only a case in review, with no open question, can be decided. "
                                f"The case is now: {locked.get_status_display().lower()}.")
        if decision != Case.Decision.DECLINE:
            refuse_if_on_hold(locked)
            blockers = case_acceptance_blockers(locked)
            if blockers:
                raise ActionRefused(" ".join(blockers))
        # R7: the hold an extension extends, or a declined preservation ends; R8: the freeze a further order accepted
        # before its end keeps (a sweep running meanwhile would not see the acceptance, and lift it).
        from cases.services import clocks

        clocks.case_clock_lock(locked)
        case_transition(locked, allowed_from=(Status.IN_REVIEW,), to=decision, refusal="The case changed meanwhile.",
                        decided_by=user, decided_at=now, decision_reasons=reasons)
        audit_record(actor=actor, action="case.decided", obj=locked,
                     changes={"status": decision, "reasons": reasons}, now=now)
        _clocks_follow_decision(locked, decision=decision, actor=actor, now=now)
        _tell_officer(locked, what="decision", now=now)
    case.refresh_from_db()
    return case


def _clocks_follow_decision(case: Case, *, decision: str, actor: Actor, now: datetime) -> None:
    """R7: an accepted extension extends the hold at once (and so is fulfilled); a declined
    preservation request ends the hold it started at receipt."""
    from cases.services import clocks

    if case.request_type == RequestType.PRESERVATION_EXTENSION and decision != Case.Decision.DECLINE:
        clocks.hold_extend(extension=case, actor=actor, now=now)
        case_transition(case, allowed_from=Case.ACCEPTED_STATUSES, to=Status.FULFILLED,
                        refusal="The case changed meanwhile.")
        audit_record(actor=actor, action="case.fulfilled", obj=case, changes={"status": Status.FULFILLED}, now=now)
    elif case.request_type == RequestType.PRESERVATION and decision == Case.Decision.DECLINE:
        clocks.hold_end_early(case=case, reason="declined", actor=actor, now=now)


def case_notification_record(*, case: Case, decision: str, notified_at: datetime | None, waiver_reason: str,
                             actor: Actor, now: datetime) -> Case:
    """R6: record whether the user was told before disclosure: notified (when; never while a non-disclosure
    instruction was in force), withheld under the instruction (only while one is in force), or waived (why)."""
    user = require_staff(actor, case)
    if case.request_type != RequestType.USER_INFORMATION:
        raise ActionRefused("A notification decision belongs to user-information requests only.")
    waiver_reason = waiver_reason.strip()
    if decision == Case.NotificationDecision.NOTIFIED:
        if notified_at is None or notified_at > now:
            raise ValidationError({"notified_at": "Give when the user was notified (not in the future)."})
        if case.is_non_disclosure_in_force(notified_at):
            until = f" until {case.non_disclosure_until:%d %B %Y}" if case.non_disclosure_until else ""
            raise ValidationError({"decision": f"The legal process instructs us not to notify the user{until}: "
                                               "record the notification as withheld, or as notified only once the "
                                               "instruction has ended (R6)."})
    elif decision == Case.NotificationDecision.WITHHELD:
        if not case.is_non_disclosure_in_force(now):
            raise ValidationError({"decision": "Notification can be withheld only under a non-disclosure instruction "
                                               "in force; this case has none (or it has ended)."})
        notified_at = None
    elif decision == Case.NotificationDecision.WAIVED:
        if len(waiver_reason) < 10:
            raise ValidationError({"waiver_reason": "Say why notification is waived (at least a sentence)."})
        notified_at = None
    else:
        raise ValidationError({"decision": "Choose notified, withheld or waived."})
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if locked.status not in Case.ACCEPTED_STATUSES:
            raise ActionRefused("Record the notification decision after the case is accepted and before release.")
        withholding_ended = (locked.notification_decision == Case.NotificationDecision.WITHHELD
                             and not locked.is_non_disclosure_in_force(now))
        if locked.productions.filter(released_at__isnull=False).exists() and not withholding_ended:
            raise ActionRefused("A production was already released; the notification decision can no longer change.")
        Case.objects.filter(pk=locked.pk).update(
            notification_decision=decision, notified_at=notified_at,
            notification_waiver_reason=waiver_reason if decision == Case.NotificationDecision.WAIVED else "",
            notification_decided_by=user, notification_decided_at=now,
        )
        audit_record(actor=actor, action="case.notification_recorded", obj=locked, now=now, changes={
            "decision": decision, "notified_at": notified_at, "waiver_reason": waiver_reason,
            "non_disclosure_until": locked.non_disclosure_until,
        })
    case.refresh_from_db()
    return case


# Fulfilled by their own steps, never by hand: a freeze by its activation, a recovery by its recorded return.
FULFILLED_BY_OWN_STEPS = (RequestType.FREEZE, RequestType.ASSET_RECOVERY)


def case_fulfil(*, case: Case, actor: Actor, now: datetime) -> Case:
    """The exchange has done what it accepted to do."""
    require_staff(actor, case)
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if locked.status not in Case.ACCEPTED_STATUSES:
            raise ActionRefused("Only an accepted case can be fulfilled. "
                                f"The case is now: {locked.get_status_display().lower()}.")
        if case.request_type == RequestType.USER_INFORMATION and not case.productions.filter(
                released_at__isnull=False).exists():
            raise ActionRefused("Release the production to the officer before marking the case fulfilled.")
        if case.request_type in FULFILLED_BY_OWN_STEPS:
            raise ActionRefused("A freeze is fulfilled by its activation, a recovery by the recorded return; "
                                "they cannot be marked fulfilled by hand.")
        case_transition(case, allowed_from=Case.ACCEPTED_STATUSES, to=Status.FULFILLED,
                        refusal="Only an accepted case can be fulfilled.")
        audit_record(actor=actor, action="case.fulfilled", obj=case, changes={"status": Status.FULFILLED}, now=now)
        _tell_officer(case, what="fulfilled", now=now)
    return case


CLOSABLE_STATUSES = (Status.FULFILLED, Status.DECLINED, Status.WITHDRAWN)


def case_close_blocker(case: Case, now: datetime) -> str:
    """Why the case cannot be closed yet, or "": its freeze or preservation hold is in force. Closing ends
    the officer's right to withdraw a freeze order and to extend a preservation (R7, R8)."""
    from cases.models import Freeze, PreservationHold

    if case.request_type not in (RequestType.FREEZE, RequestType.PRESERVATION):
        return ""  # no clock of its own: nothing to ask the database
    if Freeze.objects.filter(case=case).in_force(now).exists():
        return "The freeze of this case is still in force; lift it (or let it end) before closing."
    if PreservationHold.objects.filter(case=case).in_force(now).exists():
        return ("The preservation hold of this case is still in force, and the officer may still extend it (R7); "
                "close the case once it has lapsed.")
    return ""


def case_close(*, case: Case, actor: Actor, now: datetime) -> Case:
    require_staff(actor, case)
    with transaction.atomic():
        blocker = case_close_blocker(case, now)
        if blocker:
            raise ActionRefused(blocker)
        # A withdrawn case keeps the moment it was withdrawn: it ended for the officer then (and an extension
        # withdrawn past its hold's end kept the hold until then, R7).
        case_transition(case, allowed_from=CLOSABLE_STATUSES, to=Status.CLOSED,
                        refusal="Only a fulfilled, declined or withdrawn case can be closed.",
                        closed_at=Coalesce(F("closed_at"), Value(now)))
        audit_record(actor=actor, action="case.closed", obj=case, changes={"status": Status.CLOSED}, now=now)
    return case
