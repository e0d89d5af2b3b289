"""Productions: what the legal team hands over, released only after review (R10) and the
notification decision (R6); downloads are audited and the download window expires."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from cases.models import Case, CaseDocument, Production, RequestType
from cases.services.common import officer_case_path, require_staff
from leors import policy
from leors.core.audit import Actor, audit_record
from leors.core.errors import ActionRefused
from leors.core.files import PRODUCTION_TYPES, file_inspect, file_store, files_kept_only_if_committed
from leors.core.outbox import email_enqueue


def production_upload(*, case: Case, upload: UploadedFile, description: str, actor: Actor, now: datetime) -> Production:
    user = require_staff(actor, case)
    inspected = file_inspect(upload, allowed=PRODUCTION_TYPES)
    with files_kept_only_if_committed(), transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if locked.request_type != RequestType.USER_INFORMATION:
            raise ActionRefused("Productions answer user-information requests only.")
        if locked.status not in Case.ACCEPTED_STATUSES:
            raise ActionRefused("Productions can be prepared only for an accepted case (R10).")
        production = Production.objects.create(
            case=locked, file=file_store(upload, inspected=inspected, folder=f"productions/{locked.pk}"),
            original_name=inspected.original_name, content_type=inspected.content_type, size=inspected.size,
            sha256=inspected.sha256, description=description.strip()[:300], uploaded_at=now, uploaded_by=user,
        )
        audit_record(actor=actor, action="case.production_uploaded", obj=locked, now=now,
                     changes={"production": production.pk, "name": production.original_name, "sha256": production.sha256})
    return production


def production_release_blockers(case: Case, now: datetime) -> list[str]:
    blockers = []
    if case.request_type != RequestType.USER_INFORMATION:
        return ["Productions answer user-information requests only."]
    if not case.documents.filter(role=CaseDocument.Role.LEGAL_PROCESS, verified_at__isnull=False,
                                 document_type__in=CaseDocument.COMPELLING_TYPES).exists():
        blockers.append("Disclosure needs a warrant, court order or local equivalent verified on the case (R5).")
    if case.on_hold_at is not None:
        blockers.append("The case is on hold (its officer was suspended); a legal lead must lift the hold first.")
    if case.status not in Case.ACCEPTED_STATUSES:
        blockers.append("The case must be accepted (in full or in part) before anything is released (R10).")
    if case.request_type == RequestType.USER_INFORMATION and not case.notification_decision:
        blockers.append("Record the notification decision first: notified (when), withheld under the non-disclosure "
                        "instruction, or waived (why) (R6).")
    elif (case.notification_decision == Case.NotificationDecision.WITHHELD
          and not case.is_non_disclosure_in_force(now)):
        blockers.append(f"Notification was withheld under a non-disclosure instruction that ended on "
                        f"{case.non_disclosure_until:%d %B %Y}. Record a new notification decision first (R6).")
    return blockers


def production_release_request(*, production: Production, actor: Actor, now: datetime) -> Any:
    """Four-eyes: ask for the release; a second member of the team approves it, which releases it."""
    from cases.models import Approval
    from cases.services.approvals import approval_request

    return approval_request(case=production.case, action=Approval.Action.PRODUCTION_RELEASE, target_id=production.pk,
                            actor=actor, now=now)


def production_release(*, production: Production, approval: Any, actor: Actor, now: datetime) -> Production:
    """Make a production downloadable by the case's officers until the window ends — only on an
    approval of exactly this release granted by a second, different member of the legal team."""
    from cases.models import Approval
    from cases.services.approvals import require_approval

    user = require_staff(actor, production.case)
    approval = require_approval(approval, case=production.case, action=Approval.Action.PRODUCTION_RELEASE,
                     target_id=production.pk)
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=production.case_id)
        blockers = production_release_blockers(case, now)
        if blockers:
            raise ActionRefused(" ".join(blockers))
        available_until = now + policy.production_available_for()
        updated = Production.objects.filter(pk=production.pk, released_at__isnull=True).update(
            released_at=now, released_by=user, available_until=available_until)
        if updated != 1:
            raise ActionRefused("This production was already released.")
        audit_record(actor=actor, action="case.production_released", obj=case, now=now, changes={
            "production": production.pk, "sha256": production.sha256, "available_until": available_until,
            "notification_decision": case.notification_decision,
        })
        email_enqueue(key=f"production-released:{production.pk}", to=case.submitted_by.email, template="case_update",
                      reference=case.reference, link_path=officer_case_path(case), now=now)
    production.refresh_from_db()
    return production


def production_download_record(*, production: Production, actor: Actor, now: datetime) -> None:
    """Every download is audited; an officer can download only within the window."""
    if actor.user is None:
        # Nobody anonymous downloads anything; without this check the window did not apply to them.
        raise ActionRefused("Sign in to download this file.")
    if not actor.user.is_staff and production.case.on_hold_at is not None:
        raise ActionRefused("This request is on hold; its files cannot be downloaded until the legal team lifts "
                            "the hold.")
    if not actor.user.is_staff and not production.is_available(now):
        raise ActionRefused("This download has expired or has not been released. Ask the legal team through a message.")
    with transaction.atomic():
        audit_record(actor=actor, action="production.downloaded", obj=production, now=now,
                     changes={"case": production.case.reference, "sha256": production.sha256})


def case_document_download_record(*, document: CaseDocument, actor: Actor, now: datetime) -> None:
    with transaction.atomic():
        audit_record(actor=actor, action="document.downloaded", obj=document, now=now,
                     changes={"case": document.case.reference, "sha256": document.sha256})
