"""The cast of the clock tests (R7, R8): an officer, a legal lead who assigns, the reviewer who decides.

Every step takes `now` from the clock (`timezone.now()` under `time_machine.travel(..., tick=False)`),
so a test reads as a timeline: travel, act, travel, sweep.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from cases.models import Case, Freeze
from cases.services import clocks, correspondence, review
from leors.access.models import Officer, User
from leors.core.audit import Actor
from leors.core.models import AuditEvent, OutboxMessage
from tests.documents import ENGLISH_WARRANT, pdf_with_text
from tests.factories import approved_officer, document_input, four_eyes_activate, make_lead, make_reviewer, submit_case

# A Monday morning; everything in the clock tests happens within a year of it (the officer's access lasts one).
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FULL_CHECKLIST = review.ReviewChecklist(True, True, True, True, True, True, "Checked with the issuing court.")
ACCEPT_REASONS = "The order was checked with the issuing court and names an account we hold."
DECLINE_REASONS = "The order names no account we hold; send one naming the UID or a wallet of ours."
WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)  # no cached permissions (guardian)


def order(document_type: str) -> list[Any]:
    return [document_input(pdf_with_text(ENGLISH_WARRANT), name=f"{document_type}.pdf", document_type=document_type)]


class ClockCast:
    """One officer and the legal team around their requests. Build it under time travel."""

    def __init__(self) -> None:
        self.officer: Officer = approved_officer()
        self.lead = make_lead()
        self.reviewer = make_reviewer()

    @property
    def staff(self) -> Actor:
        return Actor(user=fresh(self.reviewer))

    @property
    def as_officer(self) -> Actor:
        return Actor(user=fresh(self.officer.user))

    # --- requests, as the officer sends them -------------------------------------------------------

    def preservation(self, **overrides: Any) -> Case:
        values: dict[str, Any] = {"request_type": "preservation", "data_requested": "",
                                  "has_non_disclosure_instruction": None, "documents": order("preservation_letter"),
                                  "submission_key": uuid.uuid4().hex}
        values.update(overrides)
        return submit_case(self.officer, now=timezone.now(), **values)

    def extension(self, preservation: Case, **overrides: Any) -> Case:
        return self.preservation(request_type="preservation_extension", extends_case_reference=preservation.reference,
                                 **overrides)

    def freeze_request(self, days: int | None, *, further_order_of: Case | None = None, **overrides: Any) -> Case:
        values: dict[str, Any] = {"request_type": "freeze", "freeze_duration_days": days, "data_requested": "",
                                  "has_non_disclosure_instruction": None, "documents": order("freeze_order"),
                                  "extends_case_reference": further_order_of.reference if further_order_of else ""}
        values.update(overrides)
        return submit_case(self.officer, now=timezone.now(), **values)

    # --- review, as the legal team does it ---------------------------------------------------------

    def assign(self, case: Case) -> Case:
        return review.case_assign(case=case, reviewer=self.reviewer, actor=Actor(user=fresh(self.lead)),
                                  now=timezone.now())

    def decide(self, case: Case, decision: str = Case.Decision.ACCEPT) -> Case:
        if case.assigned_to_id is None:
            self.assign(case)
        review.case_checklist_update(case=case, data=FULL_CHECKLIST, actor=self.staff, now=timezone.now())
        reasons = DECLINE_REASONS if decision == Case.Decision.DECLINE else ACCEPT_REASONS
        return review.case_decide(case=case, decision=decision, reasons=reasons, actor=self.staff, now=timezone.now())

    def activate(self, case: Case, *, confirm_longer: bool = False, longer_passage: str = "") -> Freeze:
        return four_eyes_activate(case=case, activation=clocks.FreezeActivation(confirm_longer, longer_passage),
                                      actor=self.staff, now=timezone.now())

    def freeze(self, days: int, **activation: Any) -> Freeze:
        """A freeze request sent, accepted and activated now."""
        case = self.freeze_request(days)
        self.decide(case)
        return self.activate(case, **activation)

    def withdraw(self, case: Case) -> Case:
        return correspondence.case_withdraw(case=case, actor=self.as_officer, now=timezone.now()).case


def sweep() -> clocks.SweepResult:
    return clocks.clocks_sweep(now=timezone.now())


def sweep_meanwhile(now: datetime, *, waits: str) -> Any:
    """The minute's sweep at `now`, run while the caller's transaction is under way: in a thread, on a connection of
    its own, as the worker's would be. Its result, or its error; it must not wait for the caller's locks (`waits`
    says what that would mean)."""
    results: list[Any] = []

    def run() -> None:
        try:
            results.append(clocks.clocks_sweep(now=now))
        except Exception as error:  # returned, for the caller's assertions
            results.append(error)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(20)
    assert not thread.is_alive(), waits
    return results[0]


def audit_actions(case: Case, prefix: str) -> list[str]:
    """The audited transitions of the case's clock, in order (reminders left out unless asked for)."""
    events = AuditEvent.objects.filter(object_type="cases.case", object_id=str(case.pk), action__startswith=prefix)
    if "reminder" not in prefix:
        events = events.exclude(action__endswith=".reminder_sent")
    return list(events.order_by("id").values_list("action", flat=True))


def emails(to: str, key_contains: str) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(channel=OutboxMessage.Channel.EMAIL, recipient=to,
                                             key__contains=key_contains).order_by("id"))


def webhook_data(key: str) -> dict[str, Any]:
    """The data of the exchange's event queued under `key` (e.g. "freeze:12:lifted"; see the `exchange_webhook`
    fixture)."""
    event = OutboxMessage.objects.get(channel=OutboxMessage.Channel.WEBHOOK, key=f"webhook:{key}")
    return event.payload["data"]
