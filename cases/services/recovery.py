"""Asset recovery (R9): only on a court order; each step recorded and none skipped.

1. the court order verified by a reviewer (acceptance requires it: `case_acceptance_blockers`);
2. each official who will handle the return named, their ID document checked and their identity
   confirmed out of band through a contact the reviewer found independently (who, how, when);
3. written instructions issued to the officer from a template, and acknowledged in the portal;
4. the request itself confirmed out of band with the agency;
5. the return recorded (asset, amount, destination, transaction hash) with a second approval
   (four-eyes), and the related freeze lifted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.template.loader import render_to_string

from cases.identifiers import identifier_normalize
from cases.models import (
    Approval,
    AssetReturn,
    Case,
    ConfirmationMethod,
    Freeze,
    OutOfBandConfirmation,
    RecoveryInstructions,
    RecoveryOfficial,
    RequestType,
)
from cases.services.common import case_transition, officer_case_path, require_staff
from leors.core.audit import Actor, audit_record
from leors.core.dates import is_before, moment_shown
from leors.core.errors import ActionRefused
from leors.core.files import PDF_OR_IMAGE, file_inspect, file_store, files_kept_only_if_committed
from leors.core.outbox import email_enqueue


def _require_recovery(case: Case) -> None:
    if case.request_type != RequestType.ASSET_RECOVERY:
        raise ActionRefused("This step belongs to asset-recovery requests only.")
    if case.status not in Case.ACCEPTED_STATUSES:
        raise ActionRefused("Asset recovery starts only after the court order was verified and the request accepted.")
    if case.on_hold_at is not None:
        raise ActionRefused("This case is on hold; a legal lead must lift the hold first.")


def _lock_recovery(case: Case) -> Case:
    """Inside the step's transaction: lock the case row and check it again as it is now. The case
    handed in may have been loaded before a hold was put on it (R3: suspension puts holds under this
    same row lock), so the early check on it alone would let the step through."""
    locked = Case.objects.select_for_update().get(pk=case.pk)
    _require_recovery(locked)
    return locked


@dataclass(frozen=True)
class Confirmation:
    confirmed_with: str
    method: str
    contact_source: str
    confirmed_at: datetime | None


def _check_confirmation(data: Confirmation, case: Case, now: datetime) -> None:
    """Who, how, where the contact came from, and when: not in the future, nor before the request
    it confirms (or whose official it confirms) was received."""
    errors: dict[str, str] = {}
    if len(data.confirmed_with.strip()) < 3:
        errors["confirmed_with"] = "Name the person who confirmed, and their role."
    if data.method not in ConfirmationMethod.values:
        errors["method"] = "Choose how the confirmation was obtained."
    if len(data.contact_source.strip()) < 5:
        errors["contact_source"] = ("Say where the contact was found (independently: an official directory or "
                                    "website, never the request itself).")
    if data.confirmed_at is None or data.confirmed_at > now:
        errors["confirmed_at"] = "Give when it was confirmed (not in the future)."
    elif is_before(data.confirmed_at, case.submitted_at):
        errors["confirmed_at"] = (f"The confirmation cannot be before the request was received "
                                  f"({moment_shown(case.submitted_at)}): check the date.")
    if errors:
        raise ValidationError(errors)


def case_out_of_band_confirm(*, case: Case, data: Confirmation, actor: Actor, now: datetime) -> OutOfBandConfirmation:
    """Record that the agency confirmed this very request through an independently found contact.
    Freezes and recoveries need one before anything is done (forged-request resistance)."""
    user = require_staff(actor, case)
    _check_confirmation(data, case, now)
    if case.status in (Case.Status.DECLINED, Case.Status.WITHDRAWN, Case.Status.CLOSED):
        raise ActionRefused("This request is no longer open; there is nothing to confirm.")
    with transaction.atomic():
        confirmation = OutOfBandConfirmation.objects.create(
            case=case, confirmed_with=data.confirmed_with.strip(), method=data.method,
            contact_source=data.contact_source.strip(), confirmed_at=data.confirmed_at or now, recorded_by=user,
            recorded_at=now)
        audit_record(actor=actor, action="case.confirmed_out_of_band", obj=case, now=now, changes={
            "confirmation": confirmation.pk, "with": confirmation.confirmed_with, "method": confirmation.method,
            "source": confirmation.contact_source, "at": confirmation.confirmed_at})
    return confirmation


def recovery_official_add(*, case: Case, name: str, title: str, organisation: str, id_document: UploadedFile,
                          actor: Actor, now: datetime) -> RecoveryOfficial:
    """R9, step 2: name an official who will handle the return, with their official ID document."""
    user = require_staff(actor, case)
    _require_recovery(case)
    if RecoveryInstructions.objects.filter(case=case).exists():
        raise ActionRefused("Instructions naming the officials were already issued; a change of officials needs a "
                            "new court order and a new request.")
    errors = {field: "Required." for field, value in (("name", name), ("title", title), ("organisation", organisation))
              if not value.strip()}
    if errors:
        raise ValidationError(errors)
    inspected = file_inspect(id_document, allowed=PDF_OR_IMAGE)
    with files_kept_only_if_committed(), transaction.atomic():
        _lock_recovery(case)
        if RecoveryInstructions.objects.filter(case=case).exists():  # issued meanwhile, under the lock
            raise ActionRefused("Instructions naming the officials were already issued; a change of officials "
                                "needs a new court order and a new request.")
        official = RecoveryOfficial.objects.create(
            case=case, name=name.strip(), title=title.strip(), organisation=organisation.strip(),
            id_file=file_store(id_document, inspected=inspected, folder=f"recovery/{case.pk}"),
            id_original_name=inspected.original_name, id_content_type=inspected.content_type, id_size=inspected.size,
            id_sha256=inspected.sha256, added_by=user, added_at=now)
        audit_record(actor=actor, action="recovery.official_added", obj=case, now=now, changes={
            "official": official.pk, "name": official.name, "id_sha256": official.id_sha256})
    return official


def recovery_official_id_check(*, official: RecoveryOfficial, actor: Actor, now: datetime) -> RecoveryOfficial:
    """R9: the reviewer has examined the official's ID document."""
    require_staff(actor, official.case)
    _require_recovery(official.case)
    with transaction.atomic():
        _lock_recovery(official.case)
        if RecoveryOfficial.objects.filter(pk=official.pk, id_checked_at__isnull=True).update(
                id_checked_by=actor.user, id_checked_at=now) != 1:
            raise ActionRefused("This ID document is already checked.")
        audit_record(actor=actor, action="recovery.official_id_checked", obj=official.case, now=now,
                     changes={"official": official.pk, "id_sha256": official.id_sha256})
    official.refresh_from_db()
    return official


def recovery_official_confirm(*, official: RecoveryOfficial, data: Confirmation, actor: Actor,
                              now: datetime) -> RecoveryOfficial:
    """R9: the official's identity confirmed out of band (who, how, when, where the contact came from)."""
    user = require_staff(actor, official.case)
    _require_recovery(official.case)
    _check_confirmation(data, official.case, now)
    with transaction.atomic():
        _lock_recovery(official.case)
        if not RecoveryOfficial.objects.filter(pk=official.pk, id_checked_at__isnull=False).exists():
            raise ActionRefused("Check the official's ID document first; then confirm their identity out of band.")
        if RecoveryOfficial.objects.filter(pk=official.pk, confirmed_at__isnull=True).update(
                confirmed_with=data.confirmed_with.strip(), confirmation_method=data.method,
                contact_source=data.contact_source.strip(), confirmed_at=data.confirmed_at,
                confirmation_recorded_by=user) != 1:
            raise ActionRefused("This official's identity is already confirmed.")
        audit_record(actor=actor, action="recovery.official_confirmed", obj=official.case, now=now, changes={
            "official": official.pk, "with": data.confirmed_with, "method": data.method,
            "source": data.contact_source, "at": data.confirmed_at})
    official.refresh_from_db()
    return official


def recovery_instructions_issue(*, case: Case, actor: Actor, now: datetime) -> RecoveryInstructions:
    """R9, step 3: written instructions from the template, once every official is verified."""
    user = require_staff(actor, case)
    _require_recovery(case)
    with transaction.atomic():
        # Officials are listed under the case lock, which adding one also takes: none can be added
        # unverified between this check and the instructions that name them.
        _lock_recovery(case)
        officials = list(case.recovery_officials.all())
        if not officials:
            raise ActionRefused("Name the officials who will handle the return first.")
        unverified = [o.name for o in officials if not o.is_verified]
        if unverified:
            raise ActionRefused("Verify the identity of every official first (ID document and out-of-band "
                                "confirmation): " + ", ".join(unverified) + ".")
        text = render_to_string("cases/recovery_instructions.txt", {"case": case, "officials": officials})
        if RecoveryInstructions.objects.filter(case=case).exists():
            raise ActionRefused("Instructions were already issued for this case.")
        instructions = RecoveryInstructions.objects.create(case=case, text=text, issued_by=user, issued_at=now)
        audit_record(actor=actor, action="recovery.instructions_issued", obj=case, now=now,
                     changes={"instructions": instructions.pk})
        email_enqueue(key=f"recovery-instructions:{case.pk}", to=case.submitted_by.email, template="case_update",
                      reference=case.reference, link_path=officer_case_path(case), now=now)
    return instructions


def recovery_instructions_acknowledge(*, case: Case, actor: Actor, now: datetime) -> RecoveryInstructions:
    """R9: the officer acknowledges the instructions in the portal."""
    if actor.user is None or not actor.user.has_perm("cases.respond_case", case):
        raise ActionRefused("Only the officers of this case can acknowledge its instructions.")
    _require_recovery(case)
    with transaction.atomic():
        _lock_recovery(case)  # a case on hold (R3) takes no step, the officer's included
        instructions = RecoveryInstructions.objects.select_for_update().filter(case=case).first()
        if instructions is None:
            raise ActionRefused("No instructions were issued yet.")
        if instructions.acknowledged_at is not None:
            raise ActionRefused("The instructions were already acknowledged.")
        instructions.acknowledged_by = actor.user
        instructions.acknowledged_at = now
        instructions.save(update_fields=["acknowledged_by", "acknowledged_at"])
        audit_record(actor=actor, action="recovery.instructions_acknowledged", obj=case, now=now,
                     changes={"instructions": instructions.pk})
    return instructions


def return_blockers(case: Case) -> list[str]:
    """Every step of R9 before a return, in order; a missing one blocks it."""
    if case.request_type != RequestType.ASSET_RECOVERY:
        return ["Only an asset-recovery request has a return."]
    blockers = []
    if case.status not in Case.ACCEPTED_STATUSES:
        blockers.append("The court order must be verified and the request accepted.")
    if case.on_hold_at is not None:
        blockers.append("The case is on hold.")
    officials = list(case.recovery_officials.all())
    if not officials or not all(o.is_verified for o in officials):
        blockers.append("Every official handling the return must be named and verified (ID and out-of-band).")
    instructions = RecoveryInstructions.objects.filter(case=case).first()
    if instructions is None or instructions.acknowledged_at is None:
        blockers.append("Written instructions must be issued and acknowledged by the officer.")
    if not case.out_of_band_confirmations.exists():
        blockers.append("The request must be confirmed with the agency through an independently found contact.")
    if AssetReturn.objects.filter(case=case).exists():
        blockers.append("The return was already recorded.")
    return blockers


def return_params(*, asset: str, amount: str, destination_address: str, tx_hash: str) -> dict[str, Any]:
    """Check what the return will record; raise ValidationError naming each field that is wrong."""
    errors: dict[str, str] = {}
    params: dict[str, Any] = {"asset": asset.strip().upper()}
    if not 2 <= len(params["asset"]) <= 20:
        errors["asset"] = "Name the asset, e.g. BTC or USDT."
    try:
        value = Decimal(amount.strip())
        # What AssetReturn.amount can hold exactly: up to 20 digits before the point, 18 after.
        exponent = value.as_tuple().exponent if value.is_finite() else None
        if not isinstance(exponent, int) or exponent < -18 or value <= 0 or value >= Decimal(10) ** 20:
            raise InvalidOperation
        params["amount"] = str(value)
    except (InvalidOperation, AttributeError):
        errors["amount"] = ("Give the amount as a positive number with at most 18 decimal places, e.g. 0.5.")
    try:
        wallet = identifier_normalize(kind="wallet", value=destination_address)
        params["destination_address"], params["destination_chain"] = wallet.written, wallet.chain
    except ValidationError as error:
        errors["destination_address"] = " ".join(error.messages)
    try:
        params["tx_hash"] = identifier_normalize(kind="tx_hash", value=tx_hash).normalized
    except ValidationError as error:
        errors["tx_hash"] = " ".join(error.messages)
    if errors:
        raise ValidationError(errors)
    return params


def return_request(*, case: Case, asset: str, amount: str, destination_address: str, tx_hash: str, actor: Actor,
                   now: datetime) -> Approval:
    """R9, step 5, first pair of eyes: ask for the return to be recorded."""
    from cases.services.approvals import approval_request

    params = return_params(asset=asset, amount=amount, destination_address=destination_address, tx_hash=tx_hash)
    return approval_request(case=case, action=Approval.Action.RETURN_RECORD, params=params, actor=actor, now=now)


def return_record(*, approval: Approval, actor: Actor, now: datetime) -> AssetReturn:
    """R9, step 5, carried out on the second approval: the return is recorded, the related freeze
    lifted, the case fulfilled. Runs inside the approval's transaction."""
    from cases.services import clocks
    from cases.services.approvals import require_approval

    case = Case.objects.select_for_update().get(pk=approval.case_id)
    approval = require_approval(approval, case=case, action=Approval.Action.RETURN_RECORD)
    blockers = return_blockers(case)
    if blockers:
        raise ActionRefused(" ".join(blockers))
    params = approval.params
    record = AssetReturn.objects.create(
        case=case, asset=params["asset"], amount=Decimal(params["amount"]),
        destination_address=params["destination_address"], destination_chain=params["destination_chain"],
        tx_hash=params["tx_hash"], requested_by=approval.requested_by, approved_by=approval.decided_by,  # type: ignore[misc]  # require_approval: set
        recorded_at=now)
    audit_record(actor=actor, action="recovery.return_recorded", obj=case, now=now, changes={
        "return": record.pk, **params, "requested_by": approval.requested_by.email,
        "approved_by": approval.decided_by.email if approval.decided_by else None})
    # The freeze holding the assets, found through any chain of further orders, is lifted as part of
    # the approved return (not subject to the approver's rights on the freeze request itself).
    related = clocks.freeze_holding(case)
    if related is not None and related.status == Freeze.Status.ACTIVE:
        clocks.freeze_lift_for_return(freeze=related, recovery=case, actor=actor, now=now)
    case_transition(case, allowed_from=Case.ACCEPTED_STATUSES, to=Case.Status.FULFILLED,
                    refusal="The case changed meanwhile.")
    audit_record(actor=actor, action="case.fulfilled", obj=case, changes={"status": Case.Status.FULFILLED}, now=now)
    email_enqueue(key=f"recovery-returned:{case.pk}", to=case.submitted_by.email, template="case_update",
                  reference=case.reference, link_path=officer_case_path(case), now=now)
    return record
