"""The cast of the asset-recovery and four-eyes tests (R9, R8): an officer and a colleague of the same
agency, a legal lead, the reviewer the case is assigned to, a reviewer it is not assigned to, an auditor.

Every step takes `now` from the clock (`timezone.now()` under `time_machine.travel(..., tick=False)`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from cases.models import Approval, Case, CaseDocument, RecoveryInstructions, RecoveryOfficial
from cases.services import approvals, recovery, review, suspension
from leors.access.models import Officer, User
from leors.core.audit import Actor
from leors.core.models import AuditEvent
from tests.documents import pdf_with_text
from tests.factories import (
    approved_officer,
    confirm_out_of_band,
    document_input,
    make_auditor,
    make_lead,
    make_reviewer,
    pdf_upload,
    submit_case,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PARIS_COURT = "Tribunal judiciaire de Paris"
COURT_ORDER = (
    "ORDER FOR THE RESTITUTION OF SEIZED ASSETS. The Tribunal judiciaire de Paris, having examined the application "
    "of the investigating judge, orders that the crypto-assets held in the account identified below be returned "
    "to the victim of the fraud through the officials named by the court, following the written instructions of "
    "the exchange holding them. Done at Paris, signed and sealed by the court."
)
POLICE_LETTER = (
    "REQUEST FOR THE RETURN OF ASSETS. The Metropolitan Police Service requests that the cryptocurrency held in "
    "the account identified below be returned to the victim of a fraud under investigation by this force. The "
    "victim has provided evidence of ownership. Signed by the detective inspector in charge of the investigation."
)
FULL_CHECKLIST = review.ReviewChecklist(True, True, True, True, True, True, "Checked with the court's registry.")
ACCEPT_REASONS = "The court order was verified with the registry of the issuing court and names an account we hold."
WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"
BTC_ADDRESS = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
TX_HASH = "0x" + "ab" * 32


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)  # no cached permissions (guardian)


def court_order(*, document_type: str = "court_order", issuing_authority: str = PARIS_COURT,
                text: str = COURT_ORDER) -> list[Any]:
    return [document_input(pdf_with_text(text), name=f"{document_type}.pdf", document_type=document_type,
                           issuing_authority=issuing_authority, document_reference="JI-2026-00417")]


def confirmation(**overrides: Any) -> recovery.Confirmation:
    values: dict[str, Any] = {"confirmed_with": "Commissaire L. Bernard, head of the unit",
                              "method": "phone",
                              "contact_source": "Switchboard number in the ministry's official directory",
                              "confirmed_at": timezone.now()}
    values.update(overrides)
    return recovery.Confirmation(**values)


def audit_actions(case: Case, prefix: str = "") -> list[str]:
    events = AuditEvent.objects.filter(object_type="cases.case", object_id=str(case.pk), action__startswith=prefix)
    return list(events.order_by("id").values_list("action", flat=True))


class RecoveryCast:
    """One officer's asset-recovery request and the people around it. Build it under time travel."""

    def __init__(self, **case_overrides: Any) -> None:
        self.officer: Officer = approved_officer()
        self.colleague: Officer = approved_officer()  # same agency, not on this case
        self.lead = make_lead()
        self.reviewer = make_reviewer()
        self.other_reviewer = make_reviewer()  # not assigned to this case
        self.auditor = make_auditor()
        self.case: Case = self.submit(**case_overrides)

    # --- the officer's side ----------------------------------------------------------------------

    def submit(self, **overrides: Any) -> Case:
        values: dict[str, Any] = {"request_type": "asset_recovery", "title": "Return of a fraud victim's bitcoin",
                                  "data_requested": "", "has_non_disclosure_instruction": None,
                                  "documents": court_order(), "submission_key": uuid.uuid4().hex,
                                  "assets_description": "0.5 BTC held in the account of the wallet below"}
        values.update(overrides)
        return submit_case(self.officer, now=timezone.now(), **values)

    @property
    def as_officer(self) -> Actor:
        return Actor(user=fresh(self.officer.user))

    def acknowledge(self, actor: Actor | None = None) -> RecoveryInstructions:
        return recovery.recovery_instructions_acknowledge(case=self.case, actor=actor or self.as_officer,
                                                          now=timezone.now())

    # --- the legal team's side -------------------------------------------------------------------

    @property
    def staff(self) -> Actor:
        return Actor(user=fresh(self.reviewer))

    @property
    def as_lead(self) -> Actor:
        return Actor(user=fresh(self.lead))

    def legal_process(self) -> CaseDocument:
        return self.case.documents.get(role=CaseDocument.Role.LEGAL_PROCESS)

    def review(self, *, verify: bool = True) -> RecoveryCast:
        """Assigned, checklist complete, legal process verified (or not)."""
        review.case_assign(case=self.case, reviewer=self.reviewer, actor=self.as_lead, now=timezone.now())
        review.case_checklist_update(case=self.case, data=FULL_CHECKLIST, actor=self.staff, now=timezone.now())
        if verify:
            review.case_document_verify(document=self.legal_process(), actor=self.staff, now=timezone.now())
        return self

    def decide(self, decision: str = Case.Decision.ACCEPT, reasons: str = ACCEPT_REASONS) -> Case:
        return review.case_decide(case=self.case, decision=decision, reasons=reasons, actor=self.staff,
                                  now=timezone.now())

    def accepted(self) -> RecoveryCast:
        self.review().decide()
        return self

    def add_official(self, name: str = "Commandant Claire Martin") -> RecoveryOfficial:
        return recovery.recovery_official_add(
            case=self.case, name=name, title="Commandant de police",
            organisation="Office central pour la répression de la grande délinquance financière",
            id_document=pdf_upload("official-id.pdf"), actor=self.staff, now=timezone.now())

    def verify_official(self, official: RecoveryOfficial) -> RecoveryOfficial:
        recovery.recovery_official_id_check(official=official, actor=self.staff, now=timezone.now())
        return recovery.recovery_official_confirm(official=official, data=confirmation(), actor=self.staff,
                                                  now=timezone.now())

    def issue(self) -> RecoveryInstructions:
        return recovery.recovery_instructions_issue(case=self.case, actor=self.staff, now=timezone.now())

    def confirm_request(self) -> Any:
        return confirm_out_of_band(self.case, actor=self.staff, now=timezone.now())

    def request_return(self, *, actor: Actor | None = None, **overrides: str) -> Approval:
        values = {"asset": "btc", "amount": "0.5", "destination_address": BTC_ADDRESS, "tx_hash": TX_HASH}
        values.update(overrides)
        return recovery.return_request(case=self.case, actor=actor or self.staff, now=timezone.now(), **values)

    def ready_for_return(self) -> RecoveryCast:
        """Every step of R9 before the return: accepted, official verified, instructions issued and
        acknowledged, the request confirmed out of band."""
        self.accepted()
        self.verify_official(self.add_official())
        self.issue()
        self.acknowledge()
        self.confirm_request()
        return self

    def grant(self, approval: Approval, by: User | None = None) -> Approval:
        return approvals.approval_grant(approval=approval, actor=Actor(user=fresh(by or self.lead)),
                                        now=timezone.now())

    def hold(self) -> None:
        """Put the officer's cases on hold, as suspension does (R3)."""
        with transaction.atomic():
            suspension.cases_put_on_hold(officer=self.officer, reason="Suspected impersonation: forged letterhead.",
                                         actor=self.as_lead, now=timezone.now())

    def release_hold(self) -> Case:
        return suspension.case_hold_release(case=self.case, note="Called the force's switchboard: the officer is "
                                            "genuine.", actor=self.as_lead, now=timezone.now())
