"""Four-eyes control (R8, R9, R10): activating a freeze, releasing a production and recording a return
each need a second, different member of the legal team; the executing services refuse anything but an
approval of exactly that action on exactly that target; fifty approvals at once make one transition.

The cast: the reviewer who asks (assigned to the case), a legal lead who approves, a reviewer not assigned
to the case, an auditor, and the officer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.utils import timezone

from cases.models import Approval, AssetReturn, Case, Freeze, Production
from cases.services import approvals, clocks, productions, recovery
from leors.access.models import User
from leors.core import outbox
from leors.core.audit import Actor
from leors.core.errors import ActionRefused
from leors.core.models import AuditEvent
from tests.cases.clock_cast import ClockCast, fresh
from tests.cases.recovery_cast import T0, RecoveryCast
from tests.factories import confirm_out_of_band, make_auditor, make_lead, make_reviewer

SECOND_PERSON = "second, different member of the legal team"
THREADS = 50


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def granted_events(case: Case) -> int:
    return AuditEvent.objects.filter(object_type="cases.case", object_id=str(case.pk),
                                     action="approval.granted").count()


def accepted_freeze(cast: ClockCast, *, confirmed: bool = True) -> Case:
    case = cast.freeze_request(30)
    cast.decide(case)
    if confirmed:
        confirm_out_of_band(case, actor=cast.staff, now=timezone.now())
    return case


def released_ready(cast: ClockCast) -> tuple[Case, Production, Production]:
    """An accepted user-information case, notification decided, with two productions uploaded."""
    from cases.services import review
    from tests.factories import submit_case

    case = submit_case(cast.officer, now=timezone.now())
    cast.assign(case)
    review.case_checklist_update(case=case, data=review.ReviewChecklist(True, True, True, True, True, True, ""),
                                 actor=cast.staff, now=timezone.now())
    review.case_document_verify(document=case.documents.get(), actor=cast.staff, now=timezone.now())
    review.case_decide(case=case, decision=Case.Decision.ACCEPT, actor=cast.staff, now=timezone.now(),
                       reasons="The warrant was verified with the issuing court and covers the account.")
    review.case_notification_record(case=case, decision=Case.NotificationDecision.WAIVED, notified_at=None,
                                    waiver_reason="The account holder is the victim of the fraud.",
                                    actor=cast.staff, now=timezone.now())
    uploads = [productions.production_upload(case=case, upload=SimpleUploadedFile(name, b"uid,name\nU-1,A\n"),
                                             description="KYC extract", actor=cast.staff, now=timezone.now())
               for name in ("a.csv", "b.csv")]
    return case, uploads[0], uploads[1]


@dataclass
class Pending:
    """One action asked for by the assigned reviewer, and how to see whether it was carried out."""

    case: Case
    approval: Approval
    requester: User
    is_done: Callable[[], bool]


def pending_freeze() -> Pending:
    cast = ClockCast()
    case = accepted_freeze(cast)
    approval = clocks.freeze_activation_request(case=case, activation=clocks.FreezeActivation(), actor=cast.staff,
                                                now=timezone.now())
    return Pending(case, approval, cast.reviewer, lambda: Freeze.objects.filter(case=case).exists())


def pending_release() -> Pending:
    cast = ClockCast()
    case, production, _ = released_ready(cast)
    approval = productions.production_release_request(production=production, actor=cast.staff, now=timezone.now())
    return Pending(case, approval, cast.reviewer,
                   lambda: Production.objects.get(pk=production.pk).released_at is not None)


def pending_return() -> Pending:
    cast = RecoveryCast().ready_for_return()
    approval = cast.request_return()
    return Pending(cast.case, approval, cast.reviewer, lambda: AssetReturn.objects.filter(case=cast.case).exists())


PENDING = {"freeze": pending_freeze, "release": pending_release, "return": pending_return}


# --- A second, different person ---------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("action", list(PENDING))
def test_r9_each_four_eyes_action_needs_a_second_different_member_of_the_legal_team(
        clock: time_machine.Coordinates, action: str) -> None:
    pending = PENDING[action]()
    assert pending.approval.status == Approval.Status.PENDING and not pending.is_done()
    officer = pending.case.submitted_by

    refusals = {
        "requester": (pending.requester, "You asked for this action"),
        "auditor": (make_auditor(), "not the reviewer of this case"),
        "unassigned reviewer": (make_reviewer(), "not the reviewer of this case"),
        "officer": (officer, "Only a member of the legal team"),
    }
    for who, (user, message) in refusals.items():
        with pytest.raises(ActionRefused, match=message):
            approvals.approval_grant(approval=pending.approval, actor=Actor(user=fresh(user)), now=timezone.now())
        pending.approval.refresh_from_db()
        assert (pending.approval.status, pending.approval.decided_by) == (Approval.Status.PENDING, None), who
        assert not pending.is_done(), who
        assert granted_events(pending.case) == 0, who

    lead = make_lead()
    granted = approvals.approval_grant(approval=pending.approval, actor=Actor(user=fresh(lead)), now=timezone.now())
    assert pending.is_done()
    assert (granted.status, granted.decided_by, granted.decided_at) == (Approval.Status.APPROVED, lead, T0)
    event = AuditEvent.objects.get(object_type="cases.case", object_id=str(pending.case.pk), action="approval.granted")
    assert event.changes["requested_by"] == pending.requester.email
    # Decided once.
    with pytest.raises(ActionRefused, match="already decided"):
        approvals.approval_grant(approval=pending.approval, actor=Actor(user=make_lead()), now=timezone.now())
    assert granted_events(pending.case) == 1


@pytest.mark.django_db
def test_r8_the_freeze_activation_records_who_asked_and_who_approved(clock: time_machine.Coordinates) -> None:
    pending = pending_freeze()
    lead = make_lead()
    freeze = approvals.approval_grant(approval=pending.approval, actor=Actor(user=lead), now=timezone.now()).outcome
    assert isinstance(freeze, Freeze) and freeze.activated_by == lead
    event = AuditEvent.objects.get(object_id=str(pending.case.pk), action="freeze.activated")
    assert (event.changes["requested_by"], event.changes["approved_by"]) == (pending.requester.email, lead.email)


# --- Blocked until the request is confirmed out of band ----------------------------------------------

@pytest.mark.django_db
def test_r8_a_freeze_is_not_activated_until_the_request_is_confirmed_out_of_band(
        clock: time_machine.Coordinates) -> None:
    cast = ClockCast()
    case = accepted_freeze(cast, confirmed=False)
    blockers = clocks.freeze_activation_blockers(case)
    assert len(blockers) == 1 and "contact you found independently" in blockers[0]
    with pytest.raises(ActionRefused, match="Confirm this request with the agency"):
        clocks.freeze_activation_request(case=case, activation=clocks.FreezeActivation(), actor=cast.staff,
                                         now=timezone.now())
    assert not Approval.objects.filter(case=case).exists()

    confirm_out_of_band(case, actor=cast.staff, now=timezone.now())
    assert clocks.freeze_activation_blockers(case) == []
    approval = clocks.freeze_activation_request(case=case, activation=clocks.FreezeActivation(), actor=cast.staff,
                                                now=timezone.now())
    approvals.approval_grant(approval=approval, actor=Actor(user=make_lead()), now=timezone.now())
    assert Freeze.objects.get(case=case).status == Freeze.Status.ACTIVE


# --- The executing services take only an approval of exactly that action and target ------------------

@pytest.mark.django_db
def test_r8_a_release_takes_only_an_approval_of_exactly_that_production(clock: time_machine.Coordinates) -> None:
    cast = ClockCast()
    lead = Actor(user=make_lead())
    case, first, second = released_ready(cast)
    with pytest.raises(ActionRefused, match=SECOND_PERSON):
        productions.production_release(production=first, approval=None, actor=lead, now=timezone.now())

    approval = productions.production_release_request(production=first, actor=cast.staff, now=timezone.now())
    with pytest.raises(ActionRefused, match=SECOND_PERSON):  # still pending
        productions.production_release(production=first, approval=approval, actor=lead, now=timezone.now())
    # An approval whose status is only set in memory (never granted) carries nothing out.
    forged = Approval.objects.get(pk=approval.pk)
    forged.status, forged.decided_by = Approval.Status.APPROVED, lead.user
    with pytest.raises(ActionRefused, match=SECOND_PERSON):
        productions.production_release(production=first, approval=forged, actor=lead, now=timezone.now())
    unsaved = Approval(case=case, action=Approval.Action.PRODUCTION_RELEASE, target_id=second.pk,
                       status=Approval.Status.APPROVED, requested_by=cast.reviewer, decided_by=lead.user)
    with pytest.raises(ActionRefused, match=SECOND_PERSON):
        productions.production_release(production=second, approval=unsaved, actor=lead, now=timezone.now())
    assert Production.objects.filter(case=case, released_at__isnull=False).count() == 0

    approvals.approval_grant(approval=approval, actor=lead, now=timezone.now())
    first.refresh_from_db()
    assert first.released_at == T0
    # The approval of production A does not release production B.
    granted = Approval.objects.get(pk=approval.pk)
    with pytest.raises(ActionRefused, match=SECOND_PERSON):
        productions.production_release(production=second, approval=granted, actor=lead, now=timezone.now())
    second.refresh_from_db()
    assert second.released_at is None
    # Nor does the approval of one case's freeze, or a cancelled one.
    freeze_approval = pending_freeze().approval
    with pytest.raises(ActionRefused, match=SECOND_PERSON):
        productions.production_release(production=second, approval=freeze_approval, actor=lead, now=timezone.now())
    cancelled = productions.production_release_request(production=second, actor=cast.staff, now=timezone.now())
    approvals.approval_cancel(approval=cancelled, actor=cast.staff, now=timezone.now())
    with pytest.raises(ActionRefused, match=SECOND_PERSON):
        productions.production_release(production=second, approval=cancelled, actor=lead, now=timezone.now())
    second.refresh_from_db()
    assert second.released_at is None


@pytest.mark.django_db
def test_r8_a_freeze_activation_takes_only_an_approval_of_that_very_freeze(clock: time_machine.Coordinates) -> None:
    cast = ClockCast()
    lead = Actor(user=make_lead())
    first, second = accepted_freeze(cast), accepted_freeze(cast)
    with pytest.raises(ActionRefused, match=SECOND_PERSON):
        clocks.freeze_activate(case=first, approval=None, actor=lead, now=timezone.now())
    approval = clocks.freeze_activation_request(case=first, activation=clocks.FreezeActivation(), actor=cast.staff,
                                                now=timezone.now())
    with pytest.raises(ActionRefused, match=SECOND_PERSON):
        clocks.freeze_activate(case=first, approval=approval, actor=lead, now=timezone.now())
    approvals.approval_grant(approval=approval, actor=lead, now=timezone.now())
    with pytest.raises(ActionRefused, match=SECOND_PERSON):  # granted for the first freeze, not the second
        clocks.freeze_activate(case=second, approval=Approval.objects.get(pk=approval.pk), actor=lead,
                               now=timezone.now())
    assert list(Freeze.objects.filter(case__in=[first, second]).values_list("case_id", flat=True)) == [first.pk]


@pytest.mark.django_db
def test_r9_a_return_is_recorded_only_on_an_approval_of_that_return(clock: time_machine.Coordinates) -> None:
    cast = RecoveryCast().ready_for_return()
    lead = Actor(user=fresh(cast.lead))
    approval = cast.request_return()
    with pytest.raises(ActionRefused, match=SECOND_PERSON):  # pending
        recovery.return_record(approval=approval, actor=lead, now=timezone.now())
    forged = Approval.objects.get(pk=approval.pk)
    forged.status, forged.decided_by = Approval.Status.APPROVED, cast.lead
    with pytest.raises(ActionRefused, match=SECOND_PERSON):
        recovery.return_record(approval=forged, actor=lead, now=timezone.now())
    other = pending_freeze()  # another case's action, granted
    granted_elsewhere = approvals.approval_grant(approval=other.approval, actor=Actor(user=make_lead()),
                                                 now=timezone.now())
    granted_elsewhere.case = cast.case  # even pointed at this case in memory
    with pytest.raises(ActionRefused, match=SECOND_PERSON):
        recovery.return_record(approval=granted_elsewhere, actor=lead, now=timezone.now())
    assert not AssetReturn.objects.filter(case=cast.case).exists()


# --- One pending request at a time; cancelling ----------------------------------------------------------

@pytest.mark.django_db
def test_r8_a_second_pending_request_for_the_same_action_is_refused(clock: time_machine.Coordinates) -> None:
    cast = ClockCast()
    case = accepted_freeze(cast)
    first = clocks.freeze_activation_request(case=case, activation=clocks.FreezeActivation(), actor=cast.staff,
                                             now=timezone.now())
    lead = Actor(user=make_lead())
    with pytest.raises(ActionRefused, match="already awaits a second approval"):
        clocks.freeze_activation_request(case=case, activation=clocks.FreezeActivation(), actor=lead,
                                         now=timezone.now())
    assert list(Approval.objects.filter(case=case).values_list("pk", flat=True)) == [first.pk]

    # Per target: a release of production B may be asked while A's waits, but not A's twice.
    release_case, production_a, production_b = released_ready(cast)
    productions.production_release_request(production=production_a, actor=cast.staff, now=timezone.now())
    productions.production_release_request(production=production_b, actor=cast.staff, now=timezone.now())
    with pytest.raises(ActionRefused, match="already awaits a second approval"):
        productions.production_release_request(production=production_a, actor=lead, now=timezone.now())
    assert Approval.objects.filter(case=release_case, status=Approval.Status.PENDING).count() == 2

    # Once the first is cancelled, it may be asked again.
    approvals.approval_cancel(approval=first, actor=cast.staff, now=timezone.now())
    again = clocks.freeze_activation_request(case=case, activation=clocks.FreezeActivation(), actor=lead,
                                             now=timezone.now())
    assert again.pk != first.pk and again.status == Approval.Status.PENDING


@pytest.mark.django_db
def test_r8_cancelling_works_once_and_a_cancelled_approval_cannot_be_granted(clock: time_machine.Coordinates) -> None:
    pending = pending_freeze()
    requester = Actor(user=fresh(pending.requester))
    with pytest.raises(ActionRefused, match="Only a member of the legal team"):
        approvals.approval_cancel(approval=pending.approval, actor=Actor(user=pending.case.submitted_by),
                                  now=timezone.now())
    cancelled = approvals.approval_cancel(approval=pending.approval, actor=requester, now=timezone.now())
    assert (cancelled.status, cancelled.decided_by, cancelled.decided_at) == (
        Approval.Status.CANCELLED, pending.requester, T0)
    with pytest.raises(ActionRefused, match="already decided"):
        approvals.approval_cancel(approval=pending.approval, actor=requester, now=timezone.now())
    with pytest.raises(ActionRefused, match="already decided"):
        approvals.approval_grant(approval=pending.approval, actor=Actor(user=make_lead()), now=timezone.now())
    assert not pending.is_done()
    actions = AuditEvent.objects.filter(object_id=str(pending.case.pk), action__startswith="approval.")
    assert list(actions.order_by("id").values_list("action", flat=True)) == [
        "approval.requested", "approval.cancelled"]


# --- Fifty approvals at once --------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_r8_fifty_concurrent_approvals_make_one_transition_and_one_audit_event(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox, "schedule_delivery", lambda message_ids: None)  # no broker needed
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        assert int(cursor.fetchone()[0]) > THREADS + 10, "PostgreSQL allows too few connections for this test"
    with time_machine.travel(T0, tick=False):
        pending = pending_freeze()
        leads = [make_lead().pk for _ in range(THREADS)]
        now = timezone.now()
        start = threading.Barrier(THREADS)
        results: list[Any] = []

        def approve(lead_pk: int) -> None:
            try:
                approval = Approval.objects.get(pk=pending.approval.pk)
                actor = Actor(user=User.objects.get(pk=lead_pk))
                start.wait(30)
                results.append(approvals.approval_grant(approval=approval, actor=actor, now=now))
            except Exception as error:  # surfaced by the assertions below
                results.append(error)
            finally:
                connection.close()  # this thread's own connection

        began = time.monotonic()
        threads = [threading.Thread(target=approve, args=(pk,)) for pk in leads]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        elapsed = time.monotonic() - began

    assert len(results) == THREADS
    granted = [r for r in results if isinstance(r, Approval)]
    refused = [r for r in results if isinstance(r, ActionRefused)]
    assert (len(granted), len(refused)) == (1, THREADS - 1), [r for r in results if not isinstance(r, ActionRefused)]
    assert all("already decided" in r.message for r in refused), {r.message for r in refused}
    approval = Approval.objects.get(pk=pending.approval.pk)
    assert (approval.status, approval.decided_by_id) == (Approval.Status.APPROVED, granted[0].decided_by_id)
    assert granted_events(pending.case) == 1
    assert Freeze.objects.filter(case=pending.case).count() == 1
    assert AuditEvent.objects.filter(object_id=str(pending.case.pk), action="freeze.activated").count() == 1
    assert elapsed < 20, f"fifty approvals took {elapsed:.1f} s"


@pytest.mark.django_db(transaction=True)
def test_r8_an_approval_waits_for_the_askers_account_being_closed_at_that_moment_and_is_then_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The asker's account is closed (an administrator's UPDATE, not yet committed) just as a lead approves: the
    approval waits for that closure and, once it is committed, refuses — it never grants for a closed account."""
    monkeypatch.setattr(outbox, "schedule_delivery", lambda message_ids: None)  # no broker needed
    with time_machine.travel(T0, tick=False):
        pending = pending_freeze()
        lead = make_lead()
        now = timezone.now()
        closing, closed = threading.Event(), threading.Event()
        results: list[Any] = []

        def close_the_askers_account() -> None:
            try:
                with transaction.atomic():
                    User.objects.filter(pk=pending.requester.pk).update(is_active=False)
                    closing.set()
                    closed.wait(30)  # held open while the approval is under way
            finally:
                connection.close()

        def approve() -> None:
            try:
                closing.wait(30)
                results.append(approvals.approval_grant(approval=Approval.objects.get(pk=pending.approval.pk),
                                                        actor=Actor(user=User.objects.get(pk=lead.pk)), now=now))
            except Exception as error:  # surfaced by the assertions below
                results.append(error)
            finally:
                connection.close()

        closer, approver = threading.Thread(target=close_the_askers_account), threading.Thread(target=approve)
        closer.start()
        approver.start()
        approver.join(1)
        assert approver.is_alive(), "the approval did not wait for the closure under way"
        closed.set()
        closer.join(30)
        approver.join(30)

    assert len(results) == 1 and isinstance(results[0], ActionRefused), results
    assert "has left the legal team" in results[0].message
    assert Approval.objects.get(pk=pending.approval.pk).status == Approval.Status.PENDING
    assert not pending.is_done()
