"""Messages on a case, answers to questions, withdrawal and sharing (R10, R12)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from guardian.shortcuts import assign_perm

from cases.language import detect_document
from cases.models import Case, CaseDocument, CaseMessage
from cases.services.common import case_transition, officer_case_path, require_staff, staff_case_path
from cases.services.intake import language_name, language_status_of
from leors import policy
from leors.access.models import Officer, User
from leors.access.services import legal_leads, reviewers_to_tell, told_key
from leors.core.audit import Actor, audit_record
from leors.core.errors import ActionRefused
from leors.core.files import LEGAL_DOCUMENT_TYPES, file_inspect, file_store, files_kept_only_if_committed
from leors.core.outbox import email_enqueue
from leors.core.permissions import user_may

Status = Case.Status


def _attachments_store(*, case: Case, message: CaseMessage, uploads: list[UploadedFile], user: User,
                       now: datetime) -> list[CaseDocument]:
    """R4 applies to attachments too: English, or a scan flagged for the manual check."""
    checked = []
    problems: list[str] = []
    for upload in uploads:
        try:
            inspected = file_inspect(upload, allowed=LEGAL_DOCUMENT_TYPES)
        except ValidationError as error:
            problems.extend(error.messages)
            continue
        language = detect_document(upload, inspected.content_type)
        status = language_status_of(language)
        if status == CaseDocument.LanguageStatus.NOT_ENGLISH:
            problems.append(f"“{inspected.original_name}” is in {language_name(language.language)}. Attach it with its "
                            "certified English translation, as a new document of the request (R4).")
            continue
        checked.append((upload, inspected, language, status))
    if problems:
        raise ValidationError({"attachments": problems})
    return [
        CaseDocument.objects.create(
            case=case, role=CaseDocument.Role.ATTACHMENT, message=message,
            file=file_store(upload, inspected=inspected, folder=f"cases/{case.pk}"),
            original_name=inspected.original_name, content_type=inspected.content_type, size=inspected.size,
            sha256=inspected.sha256, uploaded_at=now, uploaded_by=user, language_status=status,
            language=language.language, language_confidence=language.confidence,
        )
        for upload, inspected, language, status in checked
    ]


def case_message_post(*, case: Case, body: str, attachments: list[UploadedFile], is_internal: bool, actor: Actor,
                      now: datetime) -> CaseMessage:
    """A message on the case. Staff may write internal notes, which the officer never sees; the other
    side is told by an e-mail with no content (R12). An officer's answer to an open question puts
    the case back into review."""
    user = actor.user
    if user is None:
        raise ActionRefused("Sign in to write a message.")
    body = body.strip()
    if not body:
        raise ValidationError({"body": "Write the message before sending it."})
    from_staff = user.is_staff
    if is_internal and not from_staff:
        raise ActionRefused("Only the legal team can write internal notes.")
    if from_staff:
        require_staff(actor, case)
    elif not user.has_perm("cases.respond_case", case):  # a supervisor reads the agency's cases, no more
        raise ActionRefused("Only the officers of this case can write on it.")
    if len(attachments) > policy.upload_max_files():
        raise ValidationError({"attachments": f"Attach at most {policy.upload_max_files()} files to one message."})
    with files_kept_only_if_committed(), transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if locked.status in (Status.CLOSED, Status.WITHDRAWN):
            raise ActionRefused("This case is closed; messages can no longer be added.")
        message = CaseMessage.objects.create(case=locked, author=user, body=body, is_internal=is_internal,
                                             created_at=now)
        documents = _attachments_store(case=locked, message=message, uploads=attachments, user=user, now=now)
        changes: dict[str, object] = {"message": message.pk, "internal": is_internal,
                                      "attachments": [{"name": d.original_name, "sha256": d.sha256} for d in documents]}
        if not from_staff and locked.status == Status.INFORMATION_REQUESTED:
            case_transition(locked, allowed_from=(Status.INFORMATION_REQUESTED,), to=Status.IN_REVIEW,
                            refusal="The case changed meanwhile.")
            changes["status"] = [Status.INFORMATION_REQUESTED, Status.IN_REVIEW]
            action = "case.answered"
        else:
            action = "case.note_added" if is_internal else "case.message_posted"
        audit_record(actor=actor, action=action, obj=locked, changes=changes, now=now)
        if not is_internal:
            if from_staff:
                email_enqueue(key=f"case-message:{message.pk}", to=locked.submitted_by.email, template="case_update",
                              reference=locked.reference, link_path=officer_case_path(locked), now=now)
            else:
                for person in reviewers_to_tell(locked.assigned_to):
                    email_enqueue(key=told_key(f"case-message:{message.pk}", person, locked.assigned_to), to=person.email,
                                  template="staff_case_message", reference=locked.reference,
                                  link_path=staff_case_path(locked), now=now)
    return message


def _reviewers_of(case: Case) -> list[User]:
    """The case's reviewer, unless they have left, and the legal leads (who alone may lift a freeze early)."""
    return sorted(set(reviewers_to_tell(case.assigned_to)) | set(legal_leads()), key=lambda person: person.pk)


def case_withdrawable_from(*, freeze_in_force: bool) -> tuple[str, ...]:
    """The statuses from which an officer may withdraw a case: an open request, or a fulfilled freeze
    request whose freeze is still in force (the withdrawal then asks the legal team to lift it, R8)."""
    return Case.WITHDRAWABLE_STATUSES + ((Status.FULFILLED,) if freeze_in_force else ())


@dataclass(frozen=True)
class Withdrawal:
    case: Case
    freeze_lift_requested: bool  # R8: a freeze was in force; the legal team lifts it, not the withdrawal


def case_withdraw(*, case: Case, actor: Actor, now: datetime) -> Withdrawal:
    """The officer withdraws the request. An open request simply ends; for a freeze already in force
    the withdrawal is recorded and the legal team told, who lift it (R8: early lift on withdrawal);
    a preservation hold ends (R7)."""
    from cases.models import Freeze, RequestType
    from cases.services import clocks

    if actor.user is None or not user_may(actor.user, "cases.respond_case", case):
        raise ActionRefused("Only the officers of this case can withdraw it.")
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        clocks.case_clock_lock(locked)  # R7: a preservation's hold ends with it
        # In force as everywhere else: a freeze past its end that no sweep has lifted yet has ended (the
        # sweep records it as expired) unless a further order accepted in time keeps it.
        active_freeze = Freeze.objects.filter(case=locked).in_force(now).first()
        case_transition(locked, allowed_from=case_withdrawable_from(freeze_in_force=active_freeze is not None),
                        to=Status.WITHDRAWN,
                        refusal="This case can no longer be withdrawn.", closed_at=now)
        audit_record(actor=actor, action="case.withdrawn", obj=locked, changes={"status": Status.WITHDRAWN}, now=now)
        if active_freeze is not None:
            # R8: the withdrawal of the order is recorded; the legal team lifts the freeze on it after
            # checking it with the agency (a taken-over account alone must not release funds).
            audit_record(actor=actor, action="freeze.lift_requested", obj=locked, now=now,
                         changes={"freeze": active_freeze.pk, "reason": Freeze.LiftReason.WITHDRAWN})
            for person in _reviewers_of(locked):
                email_enqueue(key=f"freeze-lift-requested:{locked.pk}:{person.pk}", to=person.email,
                              template="staff_case_message", reference=locked.reference,
                              link_path=staff_case_path(locked), now=now)
        if locked.request_type == RequestType.PRESERVATION:
            clocks.hold_end_early(case=locked, reason="withdrawn", actor=actor, now=now)
        for person in reviewers_to_tell(locked.assigned_to):
            email_enqueue(key=told_key(f"case-withdrawn:{locked.pk}", person, locked.assigned_to), to=person.email,
                          template="staff_case_message", reference=locked.reference, link_path=staff_case_path(locked),
                          now=now)
    case.refresh_from_db()
    return Withdrawal(case=case, freeze_lift_requested=active_freeze is not None)


def case_share(*, case: Case, colleague_email: str, actor: Actor, now: datetime) -> User:
    """An officer shares the case with a named colleague of the same agency (view and respond)."""
    if actor.user is None or not user_may(actor.user, "cases.share_case", case):
        raise ActionRefused("Only the officer who made the request can share it.")
    colleague = Officer.objects.select_related("user").filter(
        user__email=colleague_email.strip().lower(), agency_id=case.agency_id).first()
    if colleague is None or not colleague.is_access_current(now) or not colleague.user.is_active:
        # The same answer for "no such person" and "another agency": nothing about other agencies leaks.
        raise ValidationError({"colleague_email": "No officer of your agency with current access has this address."})
    if colleague.user_id == actor.user.pk:
        raise ValidationError({"colleague_email": "This is your own address."})
    with transaction.atomic():
        for perm in ("view_case", "respond_case"):
            assign_perm(f"cases.{perm}", colleague.user, case)
        audit_record(actor=actor, action="case.shared", obj=case, changes={"with": colleague.user.email}, now=now)
        email_enqueue(key=f"case-shared:{case.pk}:{colleague.user_id}", to=colleague.user.email,
                      template="case_update", reference=case.reference, link_path=officer_case_path(case), now=now)
    return colleague.user
