"""R8: freeze orders must state their duration; at most 30 days unless the order says otherwise; with
no explicit instructions, restrictions are lifted.

The freeze runs from activation (after an accepted review), lifts itself one second after its end —
never before, exactly once, even with two sweeps at once — and a further order accepted before then
extends it. Time is controlled with time-machine.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cases.models import Case, Freeze, Reminder
from cases.services import clocks, review
from cases.services.intake import IdentifierInput
from leors import policy
from leors.access.models import User
from leors.core import outbox
from leors.core.audit import Actor
from leors.core.errors import ActionRefused
from leors.core.models import AuditEvent, OutboxMessage
from leors.core.tokens import api_token_create
from tests.cases.clock_cast import (
    ACCEPT_REASONS,
    FULL_CHECKLIST,
    T0,
    WALLET,
    ClockCast,
    audit_actions,
    emails,
    order,
    sweep,
    sweep_meanwhile,
    webhook_data,
)
from tests.conftest import signed_in_client
from tests.factories import (
    approved_officer,
    confirm_out_of_band,
    four_eyes_activate,
    make_lead,
    make_reviewer,
    submit_case,
)

SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
PASSAGE = "“The account shall remain frozen for a period of ninety (90) days from service of this order.” (para. 4)"
COURT_NOTE = "Order of the Crown Court at Southwark of 12 March 2026, T20267781, discharging the freeze."


def feed_ids(kind: str) -> list[int]:
    """What the exchange's restriction feed lists as in force right now."""
    token = api_token_create(name=f"exchange-{uuid.uuid4().hex[:8]}", actor=Actor.system("test"),
                             now=timezone.now())
    response = Client().get("/api/v1/restrictions/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    return [item["id"] for item in response.json()["results"] if item["type"] == kind]


# --- Intake and the granted period ---------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("stated", [None, 0])
def test_r8_a_freeze_order_without_a_stated_duration_is_refused_at_intake(stated: int | None) -> None:
    with time_machine.travel(T0, tick=False):
        cast = ClockCast()
        with pytest.raises(ValidationError) as refused:
            cast.freeze_request(stated)
    message = " ".join(refused.value.message_dict["freeze_duration_days"])
    assert "State the duration of the freeze" in message and "(R8)" in message
    assert not Case.objects.exists()
    assert not AuditEvent.objects.filter(action="case.submitted").exists()


@pytest.mark.django_db
def test_r8_the_granted_period_is_the_stated_duration_capped_at_30_days() -> None:
    assert policy.freeze_max_days() == 30
    plain = clocks.FreezeActivation()
    assert [clocks.freeze_granted_days(stated_days=d, activation=plain) for d in (1, 29, 30, 31, 365)] == [
        1, 29, 30, 30, 30]
    with time_machine.travel(T0, tick=False):
        cast = ClockCast()
        for stated, granted in ((30, 30), (31, 30), (90, 30)):
            freeze = cast.freeze(stated)
            assert (freeze.stated_days, freeze.granted_days) == (stated, granted)
            assert freeze.expires_at - freeze.activated_at == timedelta(days=granted)
            assert (freeze.longer_confirmed, freeze.longer_passage) == (False, "")
        # A passage quoted without confirming that the order orders longer changes nothing.
        freeze = cast.freeze(90, longer_passage=PASSAGE)
        assert (freeze.granted_days, freeze.longer_passage) == (30, "")


@pytest.mark.django_db
def test_r8_a_longer_period_needs_the_reviewer_to_confirm_it_citing_the_passage_of_the_order() -> None:
    with time_machine.travel(T0, tick=False):
        cast = ClockCast()
        case = cast.freeze_request(90)
        cast.decide(case)
        for passage in ("", "   ", "para. 4"):
            with pytest.raises(ValidationError) as refused:
                cast.activate(case, confirm_longer=True, longer_passage=passage)
            assert "longer_passage" in refused.value.message_dict
        case.refresh_from_db()
        assert case.status == Case.Status.ACCEPTED
        assert not Freeze.objects.exists()

        freeze = cast.activate(case, confirm_longer=True, longer_passage=f"  {PASSAGE}  ")
    assert (freeze.stated_days, freeze.granted_days) == (90, 90)
    assert freeze.expires_at == T0 + timedelta(days=90)
    assert (freeze.longer_confirmed, freeze.longer_passage) == (True, PASSAGE)
    activated = AuditEvent.objects.get(action="freeze.activated")
    assert (activated.changes["longer_confirmed"], activated.changes["longer_passage"]) == (True, PASSAGE)
    assert activated.changes["requested_by"] == cast.reviewer.email  # asked by the reviewer, approved by a lead
    assert activated.actor_id != cast.reviewer.pk and activated.changes["approved_by"] == activated.actor_label
    # With a short order, confirming "longer" records nothing: the stated period is all there is.
    assert clocks.freeze_granted_days(stated_days=20, activation=clocks.FreezeActivation(True, "")) == 20


@pytest.mark.django_db
def test_r8_r10_a_freeze_is_activated_only_after_the_request_was_accepted() -> None:
    with time_machine.travel(T0, tick=False):
        cast = ClockCast()
        in_review = cast.freeze_request(10)
        cast.assign(in_review)
        declined = cast.freeze_request(10)
        cast.decide(declined, Case.Decision.DECLINE)
        for case in (in_review, declined):
            with pytest.raises(ActionRefused, match=r"only after the request was reviewed and accepted \(R10\)"):
                cast.activate(case)
        # Nor by an officer, even on an accepted request.
        accepted = cast.freeze_request(10)
        cast.decide(accepted)
        with pytest.raises(ActionRefused, match="legal team"):
            four_eyes_activate(case=accepted, activation=clocks.FreezeActivation(), actor=cast.as_officer,
                                   now=timezone.now())
    assert not Freeze.objects.exists()
    in_review.refresh_from_db()
    assert in_review.status == Case.Status.IN_REVIEW


@pytest.mark.django_db
def test_r8_a_freeze_runs_from_its_activation_not_from_the_submission() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        case = cast.freeze_request(20)
        traveller.move_to(T0 + 2 * DAY)
        cast.decide(case)
        traveller.move_to(T0 + 3 * DAY + timedelta(hours=5))
        freeze = cast.activate(case)
    assert case.submitted_at == T0
    assert freeze.activated_at == T0 + 3 * DAY + timedelta(hours=5)
    assert freeze.expires_at == freeze.activated_at + timedelta(days=20)
    case.refresh_from_db()
    assert case.status == Case.Status.FULFILLED


# --- The end of a freeze --------------------------------------------------------------------------------

@pytest.mark.django_db
def test_r8_a_freeze_lifts_itself_one_second_after_its_end_never_before_and_once() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        freeze = cast.freeze(10)
        end = freeze.expires_at

        traveller.move_to(end - SECOND)
        assert freeze.is_in_force(timezone.now())
        assert sweep().freezes_lifted == 0
        freeze.refresh_from_db()
        assert freeze.status == Freeze.Status.ACTIVE

        traveller.move_to(end + SECOND)
        assert sweep().freezes_lifted == 1
        assert sweep().freezes_lifted == 0
        traveller.move_to(end + timedelta(minutes=1))
        assert sweep().freezes_lifted == 0

    freeze.refresh_from_db()
    assert (freeze.status, freeze.lifted_at, freeze.lift_reason, freeze.lifted_by) == (
        Freeze.Status.LIFTED, end + SECOND, Freeze.LiftReason.EXPIRED, None)
    assert freeze.expires_at == end
    assert audit_actions(freeze.case, "freeze.") == ["freeze.activated", "freeze.lifted"]
    assert len(emails(cast.officer.user.email, "freeze-lifted")) == 1
    assert len(emails(cast.reviewer.email, "freeze-lifted")) == 1


@pytest.mark.django_db(transaction=True)
def test_r8_two_sweeps_at_the_same_time_lift_each_freeze_exactly_once(monkeypatch: pytest.MonkeyPatch,
                                                                     settings: Any) -> None:
    monkeypatch.setattr(outbox, "schedule_delivery", lambda message_ids: None)  # no broker needed
    settings.LEORS_SWEEP_BATCH_SIZE = 2
    lift = clocks._lift
    slow_sweep_is_lifting = threading.Event()

    def lift_in_step(*args: Any, **kwargs: Any) -> None:
        # Force the worst interleaving. The slow sweep holds its first batch's locks for a while; the
        # fast one skips them and claims the next batch meanwhile. When the slow one moves on, the rows
        # after its batch are locked by the other (skipped) or already lifted (the claim re-checks the
        # due condition of each row it locks: nothing to do).
        if threading.current_thread().name == "slow":
            slow_sweep_is_lifting.set()
            time.sleep(0.3)
        else:
            assert slow_sweep_is_lifting.wait(10)
        lift(*args, **kwargs)

    monkeypatch.setattr(clocks, "_lift", lift_in_step)
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        freezes = [cast.freeze(days) for days in (5, 5, 6, 7)]
        traveller.move_to(T0 + 8 * DAY)
        now = timezone.now()
        start = threading.Barrier(2)
        results: list[Any] = []

        def run_sweep() -> None:
            try:
                start.wait(10)
                results.append(clocks.clocks_sweep(now=now))
            except Exception as error:  # surfaced by the assertions below
                results.append(error)
            finally:
                connection.close()  # this thread's own connection

        threads = [threading.Thread(target=run_sweep, name=name) for name in ("slow", "fast")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

        assert len(results) == 2 and all(isinstance(result, clocks.SweepResult) for result in results), results
        assert sum(result.freezes_lifted for result in results) == len(freezes)
        assert all(result.freezes_lifted >= 1 for result in results)  # both sweeps really took part
        assert sweep().freezes_lifted == 0  # and a third, later, finds nothing
    for freeze in freezes:
        freeze.refresh_from_db()
        assert (freeze.status, freeze.lifted_at) == (Freeze.Status.LIFTED, now)
        assert audit_actions(freeze.case, "freeze.") == ["freeze.activated", "freeze.lifted"]
        assert OutboxMessage.objects.filter(key__startswith=f"clock:{freeze.case_id}:freeze-lifted").count() == 1


@pytest.mark.django_db(transaction=True)
def test_r8_activating_a_further_order_while_one_continuing_it_is_decided_deadlocks_neither(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The activation holds the audit trail's lock until it commits; a reviewer deciding a further order
    that continues it holds that order's row and waits for the lock. The activation re-points such orders
    only after its commit, so neither waits for the other."""
    from cases.services import approvals, review

    monkeypatch.setattr(outbox, "schedule_delivery", lambda message_ids: None)  # no broker needed
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        first = cast.freeze(10).case
        y = cast.freeze_request(10, further_order_of=first)
        z = cast.freeze_request(10, further_order_of=y)
        traveller.move_to(T0 + 11 * DAY)
        assert sweep().freezes_lifted == 1  # the first freeze ended: Y's activation starts a freeze of its own
        cast.decide(y)
        cast.assign(z)
        review.case_checklist_update(case=z, data=FULL_CHECKLIST, actor=cast.staff, now=timezone.now())
        now = timezone.now()
        confirm_out_of_band(y, actor=cast.staff, now=now)
        asked = clocks.freeze_activation_request(case=y, activation=clocks.FreezeActivation(), actor=cast.staff,
                                                 now=now)
        approver, reviewer = Actor(user=make_lead()), cast.staff
    repointing, deciding = threading.Event(), threading.Event()
    repoint, blockers = clocks._further_orders_recontinued, review.case_acceptance_blockers

    def repoint_when_z_is_locked(case: Case) -> None:
        repointing.set()
        deciding.wait(10)
        repoint(case)

    def blockers_then_signal(case: Case) -> list[str]:
        found = blockers(case)
        deciding.set()  # Z's row is locked by now
        return found

    monkeypatch.setattr(clocks, "_further_orders_recontinued", repoint_when_z_is_locked)
    monkeypatch.setattr(review, "case_acceptance_blockers", blockers_then_signal)
    results: dict[str, Any] = {}

    def activate() -> None:
        try:
            results["activate"] = approvals.approval_grant(approval=asked, actor=approver, now=now).outcome
        except Exception as error:  # surfaced by the assertions below
            results["activate"] = error
        finally:
            connection.close()

    def decide() -> None:
        try:
            repointing.wait(10)
            results["decide"] = review.case_decide(case=Case.objects.get(pk=z.pk), decision=Case.Decision.ACCEPT,
                                                   reasons=ACCEPT_REASONS, actor=reviewer, now=now)
        except Exception as error:
            results["decide"] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=activate), threading.Thread(target=decide)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert isinstance(results["activate"], Freeze) and isinstance(results["decide"], Case), results
    z.refresh_from_db()
    assert (z.status, z.continues_freeze_of_id) == (Case.Status.ACCEPTED, y.pk)


@pytest.mark.django_db
def test_r8_a_freeze_past_its_end_is_not_in_force_nor_in_the_feed_even_when_no_sweep_ran() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        freeze = cast.freeze(10)
        end = freeze.expires_at

        traveller.move_to(end - SECOND)
        assert freeze.is_in_force(timezone.now())
        assert feed_ids("freeze") == [freeze.pk]

        traveller.move_to(end)
        freeze.refresh_from_db()
        assert freeze.status == Freeze.Status.ACTIVE  # no sweep has run…
        assert not freeze.is_in_force(timezone.now())  # …and yet it is not in force
        assert feed_ids("freeze") == []


@pytest.mark.django_db
def test_r8_a_further_order_accepted_before_the_end_extends_the_same_freeze(settings: Any) -> None:
    settings.LEORS_EXCHANGE_WEBHOOK_URL = "https://exchange.example/leors/webhooks"
    settings.LEORS_EXCHANGE_WEBHOOK_SECRET = "s" * 40
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        freeze = cast.freeze(20)
        first = freeze.case
        end = freeze.expires_at

        traveller.move_to(T0 + 15 * DAY)
        further = cast.freeze_request(10, further_order_of=first)
        assert further.extends_case_id == first.pk
        cast.decide(further)
        traveller.move_to(end - timedelta(hours=1))
        extended = cast.activate(further)
        assert extended.pk == freeze.pk
        assert Freeze.objects.count() == 1
        new_end = end + timedelta(days=10)  # from the current end, not from now
        assert (extended.expires_at, extended.extension_count, extended.activated_at) == (new_end, 1, T0)

        traveller.move_to(end + SECOND)
        assert sweep().freezes_lifted == 0
        freeze.refresh_from_db()
        assert freeze.is_in_force(timezone.now())
        traveller.move_to(new_end - SECOND)
        assert sweep().freezes_lifted == 0
        traveller.move_to(new_end + SECOND)
        assert sweep().freezes_lifted == 1

    further.refresh_from_db()
    assert further.status == Case.Status.FULFILLED
    webhooks = OutboxMessage.objects.filter(channel=OutboxMessage.Channel.WEBHOOK).order_by("id")
    assert [w.subject for w in webhooks] == ["freeze.activated", "freeze.extended", "freeze.lifted"]
    extended_event = webhooks[1].payload
    assert extended_event["data"]["restriction"] == {"type": "freeze", "id": freeze.pk}
    assert extended_event["data"]["ends_at"] == new_end.isoformat()
    assert audit_actions(first, "freeze.") == ["freeze.activated", "freeze.extended", "freeze.lifted"]
    assert AuditEvent.objects.get(action="freeze.extended").changes["further_order"] == further.reference


@pytest.mark.django_db
def test_r8_a_further_order_accepted_after_the_first_freeze_ended_starts_a_new_freeze() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        first = cast.freeze(10)
        end = first.expires_at
        traveller.move_to(T0 + 5 * DAY)
        further = cast.freeze_request(15, further_order_of=first.case)

        # Accepted only after the first ended (no sweep has run yet): no continuation, a new freeze.
        # (Accepted before the end, it would continue the first: see the test of that.)
        traveller.move_to(end + timedelta(hours=1))
        cast.decide(further)
        traveller.move_to(end + timedelta(hours=2))
        second = cast.activate(further)
        assert second.pk != first.pk and second.case_id == further.pk
        assert (second.activated_at, second.expires_at) == (end + timedelta(hours=2),
                                                            end + timedelta(hours=2) + timedelta(days=15))
        first.refresh_from_db()
        assert (first.expires_at, first.extension_count) == (end, 0)
        # The first had run out unswept: the activation lifted it, as of its end, before the second started.
        assert (first.status, first.lift_reason, first.ended) == (Freeze.Status.LIFTED, Freeze.LiftReason.EXPIRED, end)
        assert sweep().freezes_lifted == 0
    second.refresh_from_db()
    assert second.status == Freeze.Status.ACTIVE
    assert not AuditEvent.objects.filter(action="freeze.extended").exists()


@pytest.mark.django_db
def test_r8_an_early_lift_needs_a_reason_and_a_note() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        freeze = cast.freeze(20)
        traveller.move_to(T0 + 4 * DAY)
        now = timezone.now()
        for reason, note, field in (("", COURT_NOTE, "reason"), (Freeze.LiftReason.EXPIRED, COURT_NOTE, "reason"),
                                    (Freeze.LiftReason.COURT_DECISION, "", "note"),
                                    (Freeze.LiftReason.COURT_DECISION, "  court  ", "note")):
            with pytest.raises(ValidationError) as refused:
                clocks.freeze_lift(freeze=freeze, reason=reason, note=note, actor=cast.staff, now=now)
            assert field in refused.value.message_dict
        freeze.refresh_from_db()
        assert freeze.status == Freeze.Status.ACTIVE

        clocks.freeze_lift(freeze=freeze, reason=Freeze.LiftReason.COURT_DECISION, note=COURT_NOTE,
                           actor=cast.staff, now=now)
        assert not freeze.is_in_force(now)
        with pytest.raises(ActionRefused, match="no longer active"):
            clocks.freeze_lift(freeze=freeze, reason=Freeze.LiftReason.OTHER, note=COURT_NOTE, actor=cast.staff,
                               now=now)
        traveller.move_to(freeze.expires_at + SECOND)
        assert sweep().freezes_lifted == 0

    freeze.refresh_from_db()
    assert (freeze.status, freeze.lifted_at, freeze.lift_reason, freeze.lift_note, freeze.lifted_by) == (
        Freeze.Status.LIFTED, T0 + 4 * DAY, Freeze.LiftReason.COURT_DECISION, COURT_NOTE, cast.reviewer)
    lifted = AuditEvent.objects.get(action="freeze.lifted")
    assert (lifted.changes["reason"], lifted.changes["note"], lifted.actor_id) == (
        "court_decision", COURT_NOTE, cast.reviewer.pk)


@pytest.mark.django_db
def test_r8_withdrawal_by_the_officer_is_lifted_by_the_legal_team_never_by_the_account_alone() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        freeze = cast.freeze(20)
        traveller.move_to(T0 + 3 * DAY)
        case = cast.withdraw(freeze.case)
        assert case.status == Case.Status.WITHDRAWN
        freeze.refresh_from_db()
        assert freeze.status == Freeze.Status.ACTIVE  # a taken-over account alone releases nothing
        with pytest.raises(ActionRefused):
            clocks.freeze_lift(freeze=freeze, reason=Freeze.LiftReason.WITHDRAWN, actor=cast.as_officer,
                               note="The officer tries to lift it directly.", now=timezone.now())
        traveller.move_to(T0 + 3 * DAY + HOUR)
        clocks.freeze_lift(freeze=freeze, reason=Freeze.LiftReason.WITHDRAWN, actor=cast.staff,
                           note="Withdrawal confirmed with the agency's duty desk.", now=timezone.now())
        freeze.refresh_from_db()
        assert (freeze.status, freeze.lifted_at, freeze.lift_reason) == (
            Freeze.Status.LIFTED, T0 + 3 * DAY + HOUR, Freeze.LiftReason.WITHDRAWN)
        assert not freeze.is_in_force(timezone.now())
        assert feed_ids("freeze") == []
        traveller.move_to(freeze.expires_at + SECOND)
        assert tuple(sweep()) == (0, 0, 0)
    assert audit_actions(case, "freeze.") == ["freeze.activated", "freeze.lift_requested", "freeze.lifted"]
    assert AuditEvent.objects.get(action="freeze.lifted").actor_id == cast.reviewer.pk


@pytest.mark.django_db
def test_r8_reminders_5_and_1_days_before_the_lift_are_each_sent_once() -> None:
    assert policy.freeze_reminder_days() == [5, 1]
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        freeze = cast.freeze(20)
        end = freeze.expires_at
        for count, days in enumerate((5, 1), start=1):
            traveller.move_to(end - timedelta(days=days) - SECOND)
            assert sweep().reminders_sent == 0
            traveller.move_to(end - timedelta(days=days))
            assert sweep().reminders_sent == 1
            assert sweep().reminders_sent == 0
            assert len(emails(cast.officer.user.email, "freeze-reminder")) == count
        traveller.move_to(end - SECOND)
        assert sweep().reminders_sent == 0
    assert sorted(Reminder.objects.filter(freeze=freeze, clock_ends_at=end).values_list("days_before", flat=True)) == [
        1, 5]
    assert audit_actions(freeze.case, "freeze.reminder") == ["freeze.reminder_sent"] * 2


def _awaiting_activation() -> tuple[ClockCast, Freeze, Case, datetime]:
    """A 20-day freeze activated now, a 10-day further order naming it, accepted now and not yet activated,
    and the freeze's end."""
    cast = ClockCast()
    freeze = cast.freeze(20)
    further = cast.freeze_request(10, further_order_of=freeze.case)
    cast.decide(further)
    return cast, freeze, further, freeze.expires_at


def _extended_once(cast: ClockCast) -> tuple[Freeze, Case]:
    """A 20-day freeze activated now and extended by a 10-day further order naming it, and that order."""
    freeze = cast.freeze(20)
    second = cast.freeze_request(10, further_order_of=freeze.case)
    cast.decide(second)
    cast.activate(second)
    return freeze, second


@pytest.mark.django_db
def test_r8_a_further_order_of_a_further_order_extends_the_same_freeze() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        freeze, second = _extended_once(cast)
        third = cast.freeze_request(5, further_order_of=second)  # names the further order, not the first
        cast.decide(third)
        traveller.move_to(T0 + 25 * DAY)
        extended = cast.activate(third)
    assert extended.pk == freeze.pk and Freeze.objects.count() == 1
    assert extended.expires_at == T0 + (20 + 10 + 5) * DAY
    assert extended.extension_count == 2


@pytest.mark.django_db
def test_r8_a_further_order_named_before_its_target_started_a_freeze_of_its_own_continues_that_freeze(
        django_capture_on_commit_callbacks: Any) -> None:
    """X ends before its further order Y is activated, so Y starts a freeze of its own; Z, naming Y while Y
    waited, then continues Y's freeze, not X's ended one."""
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        x = cast.freeze(10).case
        traveller.move_to(T0 + DAY)
        y = cast.freeze_request(10, further_order_of=x)
        traveller.move_to(T0 + 11 * DAY)
        assert sweep().freezes_lifted == 1  # X ended; Y not yet decided
        cast.decide(y)
        traveller.move_to(T0 + 12 * DAY)
        z = cast.freeze_request(10, further_order_of=y)
        assert (z.extends_case_id, z.continues_freeze_of_id) == (y.pk, x.pk)  # Y holds no freeze yet
        traveller.move_to(T0 + 13 * DAY)
        with django_capture_on_commit_callbacks(execute=True):  # Z is re-pointed after the activation's commit
            y_freeze = cast.activate(y)
        assert y_freeze.case_id == y.pk  # a freeze of its own: X's had ended
        z.refresh_from_db()
        assert z.continues_freeze_of_id == y.pk
        traveller.move_to(T0 + 20 * DAY)
        cast.decide(z)  # accepted before Y's freeze ends, at T0 + 23 days
        traveller.move_to(T0 + 23 * DAY + HOUR)
        assert sweep().freezes_lifted == 0
        traveller.move_to(T0 + 24 * DAY)
        extended = cast.activate(z)
    assert (extended.pk, extended.expires_at, Freeze.objects.count()) == (y_freeze.pk, T0 + 33 * DAY, 2)


@pytest.mark.django_db
def test_r8_further_orders_on_file_before_the_column_are_filled_in_by_its_migration() -> None:
    import importlib

    from django.apps import apps

    fill_in = importlib.import_module("cases.migrations.0013_further_order_continues_freeze_filled_in").fill_in
    with time_machine.travel(T0, tick=False):
        cast = ClockCast()
        freeze, second = _extended_once(cast)
        third = cast.freeze_request(5, further_order_of=second)
        unrelated = cast.freeze_request(7)
    Case.objects.update(continues_freeze_of=None)  # as before the migration
    fill_in(apps, None)
    assert dict(Case.objects.filter(pk__in=[second.pk, third.pk, unrelated.pk])
                .values_list("pk", "continues_freeze_of_id")) == {
        second.pk: freeze.case_id, third.pk: freeze.case_id, unrelated.pk: None}


@pytest.mark.django_db
def test_r8_a_further_order_sees_an_activation_that_commits_while_it_is_taken_in(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Z names Y while Y's activation (a freeze of its own: X's had ended) commits during Z's intake. Z is
    resolved under the audit trail's lock, after that commit, so it continues Y's freeze."""
    from cases.services import intake

    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        x = cast.freeze(10).case
        y = cast.freeze_request(10, further_order_of=x)
        traveller.move_to(T0 + 11 * DAY)
        assert sweep().freezes_lifted == 1
        cast.decide(y)
        check_documents = intake._check_documents

        def activation_meanwhile(*args: Any, **kwargs: Any) -> Any:
            monkeypatch.setattr(intake, "_check_documents", check_documents)
            cast.activate(y)  # after Z's subjects were checked, before Z is on file
            return check_documents(*args, **kwargs)

        monkeypatch.setattr(intake, "_check_documents", activation_meanwhile)
        z = cast.freeze_request(10, further_order_of=y)
    assert Freeze.objects.get(case=y).pk
    assert (z.extends_case_id, z.continues_freeze_of_id) == (y.pk, y.pk)


@pytest.mark.django_db
def test_r3_r8_a_further_order_does_not_extend_a_freeze_whose_case_is_on_hold() -> None:
    from leors.access.services import officer_supervisor_set, officer_suspend

    with time_machine.travel(T0, tick=False):
        cast = ClockCast()
        freeze = cast.freeze(20)
        supervisor = approved_officer()
        officer_supervisor_set(officer=supervisor, is_supervisor=True, actor=Actor(user=cast.lead), now=timezone.now())
        further = submit_case(supervisor, request_type="freeze", freeze_duration_days=10, data_requested="",
                              has_non_disclosure_instruction=None, documents=order("freeze_order"),
                              extends_case_reference=freeze.case.reference)
        officer_suspend(officer=cast.officer, note="Forged order sent from a hijacked mailbox.", referred_to="",
                        actor=Actor(user=cast.lead), now=timezone.now())
        assert Case.objects.get(pk=freeze.case_id).on_hold_at is not None
        assert Case.objects.get(pk=further.pk).on_hold_at is None  # the supervisor's own request
        cast.decide(further)
        with pytest.raises(ActionRefused, match="continues is on a case on hold"):
            cast.activate(further)
    assert Freeze.objects.get(pk=freeze.pk).extension_count == 0


@pytest.mark.django_db
def test_r8_a_further_order_cannot_add_a_subject_its_freeze_does_not_cover() -> None:
    """The exchange is told what the freeze covers; a further order extends it, so a wallet the freeze
    does not cover is refused, naming its row, rather than taken and never frozen."""
    with time_machine.travel(T0, tick=False):
        cast = ClockCast()
        freeze = cast.freeze(20)
        new_wallet = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
        with pytest.raises(ValidationError) as refused:
            cast.freeze_request(10, further_order_of=freeze.case, identifiers=[
                IdentifierInput(kind="wallet", value=WALLET), IdentifierInput(kind="wallet", value=new_wallet)])
        assert refused.value.message_dict["identifiers"] == [
            f"Subject 2: “{new_wallet}” is not covered by {freeze.case.reference}, whose freeze this further order "
            "continues; a further order extends a freeze and cannot add to it. Send a new freeze request for this "
            "subject."]
        # The same subject, written another way, is the same subject.
        further = cast.freeze_request(10, further_order_of=freeze.case,
                                      identifiers=[IdentifierInput(kind="wallet", value=WALLET.lower())])
        assert further.extends_case_id == freeze.case_id
        # The same before the freeze it names has started: at activation it would extend it all the same.
        pending = cast.freeze_request(10)
        with pytest.raises(ValidationError, match="cannot add to it"):
            cast.freeze_request(10, further_order_of=pending,
                                identifiers=[IdentifierInput(kind="wallet", value=new_wallet)])
        # A freeze request of its own may name any subject.
        assert cast.freeze_request(10, identifiers=[IdentifierInput(kind="wallet", value=new_wallet)]).pk


@pytest.mark.django_db
def test_r8_an_accepted_further_order_of_a_further_order_keeps_the_freeze_in_force_until_its_activation() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        freeze, second = _extended_once(cast)  # the freeze now ends at T0 + 30 days
        traveller.move_to(T0 + 25 * DAY)
        third = cast.freeze_request(10, further_order_of=second)  # names the further order, accepted in time
        # Recorded as the officer named it, and as continuing the freeze itself.
        assert (third.extends_case_id, third.continues_freeze_of_id) == (second.pk, freeze.case_id)
        cast.decide(third)
        traveller.move_to(T0 + 30 * DAY + 2 * HOUR)  # past the end, the activation not yet approved
        assert Freeze.objects.get(pk=freeze.pk).is_in_force(timezone.now())
        assert sweep().freezes_lifted == 0
        traveller.move_to(T0 + 31 * DAY)
        extended = cast.activate(third)
    assert (extended.pk, extended.status, Freeze.objects.count()) == (freeze.pk, Freeze.Status.ACTIVE, 1)
    assert extended.expires_at == T0 + (20 + 10 + 10) * DAY  # from the end, without a gap
    assert audit_actions(freeze.case, "freeze.") == ["freeze.activated", "freeze.extended", "freeze.extended"]


@pytest.mark.django_db
@pytest.mark.parametrize(("stated", "held_days"), [(10, 10), (45, 30)], ids=["stated", "capped"])
def test_r8_an_accepted_further_order_never_activated_keeps_the_freeze_no_longer_than_its_own_period(
        stated: int, held_days: int) -> None:
    """A further order accepted in time keeps the freeze past its end while it awaits activation — but not
    for ever: no longer than the period it orders itself (capped: a longer one is confirmed only at
    activation). Then nothing orders the restriction, and it is lifted."""
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        freeze = cast.freeze(20)
        end = freeze.expires_at
        traveller.move_to(T0 + 15 * DAY)
        further = cast.freeze_request(stated, further_order_of=freeze.case)
        cast.decide(further)
        held_until = end + held_days * DAY

        traveller.move_to(end + SECOND)
        assert sweep().freezes_lifted == 0
        freeze.refresh_from_db()
        assert freeze.is_in_force(timezone.now()) and freeze.held_until(timezone.now()) == held_until
        assert feed_ids("freeze") == [freeze.pk]
        traveller.move_to(held_until - SECOND)
        assert sweep().freezes_lifted == 0
        assert feed_ids("freeze") == [freeze.pk]

        traveller.move_to(held_until + SECOND)
        assert not freeze.is_in_force(timezone.now()) and freeze.held_until(timezone.now()) is None
        assert feed_ids("freeze") == []
        assert sweep().freezes_lifted == 1
        freeze.refresh_from_db()
        assert (freeze.status, freeze.lift_reason, freeze.expires_at) == (Freeze.Status.LIFTED,
                                                                          Freeze.LiftReason.EXPIRED, end)

        # Activated after all, it was carried out by keeping the freeze for the period granted: the account is not
        # frozen a second time for the same order (R8). The order is fulfilled.
        traveller.move_to(held_until + DAY)
        served = cast.activate(further)
    assert served.pk == freeze.pk and Freeze.objects.count() == 1
    assert Case.objects.get(pk=further.pk).status == Case.Status.FULFILLED
    assert audit_actions(further, "freeze.") == ["freeze.order_served"]
    assert audit_actions(freeze.case, "freeze.") == ["freeze.activated", "freeze.lifted"]
    assert AuditEvent.objects.get(action="freeze.order_served").changes["kept_until"] == held_until.isoformat(" ")


@pytest.mark.django_db
def test_r8_a_further_order_activated_late_with_a_longer_period_confirmed_freezes_only_what_is_left_of_it() -> None:
    """A 90-day order kept the freeze for the capped 30 days past its end while awaiting activation. Activated later,
    with the longer period the order explicitly states confirmed, only the 60 days left of it run, from then."""
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        freeze = cast.freeze(20)
        end = freeze.expires_at
        further = cast.freeze_request(90, further_order_of=freeze.case)
        cast.decide(further)
        traveller.move_to(end + 30 * DAY + DAY)
        assert sweep().freezes_lifted == 1  # lifted at the bound of the period kept (capped)
        second = cast.activate(further, confirm_longer=True, longer_passage=PASSAGE)
    assert second.pk != freeze.pk and (second.granted_days, second.activated_at) == (90, end + 31 * DAY)
    assert second.expires_at == end + 31 * DAY + 60 * DAY


@pytest.mark.django_db
def test_r8_a_further_order_activated_within_its_period_past_the_freezes_end_still_extends_it() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast, freeze, further, end = _awaiting_activation()
        traveller.move_to(end + 10 * DAY - SECOND)  # the last second the order keeps it
        extended = cast.activate(further)
    assert (extended.pk, extended.expires_at, extended.extension_count) == (freeze.pk, end + 10 * DAY, 1)


@pytest.mark.django_db
def test_r8_the_pages_say_until_when_an_accepted_further_order_keeps_a_freeze_past_its_end() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast, freeze, further, end = _awaiting_activation()
        traveller.move_to(end + 3 * DAY)
        held_until = timezone.localtime(end + 10 * DAY)

        staff = signed_in_client(cast.reviewer)
        staff_html = staff.get(reverse("admin:cases_case_change", args=[freeze.case.pk])).content.decode()
        assert re.search(r'id="freeze-in-force">Yes<', staff_html)
        assert (f'kept in force while a further order accepted before then awaits activation, until '
                f'<time id="freeze-held-until" datetime="{held_until.isoformat()}">') in staff_html
        activate_html = staff.get(reverse("admin:cases_case_activate", args=[further.pk])).content.decode()
        assert (f"until {held_until:%Y-%m-%d %H:%M %Z} at the latest, when the period it states would end. Approved "
                "before then, the activation moves the freeze&#x27;s end later") in activate_html

        officer_html = signed_in_client(cast.officer.user).get(
            reverse("cases:detail", args=[freeze.case.reference])).content.decode()
        assert '<span class="good">In force</span>' in officer_html
        held = re.search(r'<dd id="freeze-held-until">(.*?)</dd>', officer_html, re.S)
        assert held is not None and f'datetime="{held_until.isoformat()}"' in held.group(1)
        assert "lifts by itself at its end" not in officer_html

        traveller.move_to(end + 10 * DAY + SECOND)  # the order's own period is over too
        officer_html = signed_in_client(cast.officer.user).get(
            reverse("cases:detail", args=[freeze.case.reference])).content.decode()
    assert 'id="freeze-held-until"' not in officer_html and '<span class="bad">Ended</span>' in officer_html


@pytest.mark.django_db
def test_r8_the_reviewer_of_a_further_order_awaiting_activation_gets_the_freezes_reminders() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast, freeze, further, end = _awaiting_activation()
        other_reviewer = make_reviewer()
        pending = cast.freeze_request(10, further_order_of=freeze.case)  # not yet accepted: not reminded
        review.case_assign(case=pending, reviewer=other_reviewer, actor=Actor(user=cast.lead), now=timezone.now())
        traveller.move_to(end - 5 * DAY)
        assert sweep().reminders_sent == 1
        reviewer_emails = emails(cast.reviewer.email, f"clock-staff:{further.pk}:further-order-freeze-reminder-5-")
        assert len(reviewer_emails) == 1 and reviewer_emails[0].payload["reference"] == further.reference
        assert emails(other_reviewer.email, "further-order") == []
        assert len(emails(cast.officer.user.email, "freeze-reminder-5-")) == 1

        cast.activate(further)  # activated: the freeze's next reminders are for its new end
        traveller.move_to(end - DAY)
        assert sweep().reminders_sent == 0
    assert len(emails(cast.reviewer.email, "further-order")) == 1


@pytest.mark.django_db
def test_r8_when_its_reviewer_has_left_the_legal_leads_get_the_reminders_of_a_further_order_awaiting_activation(
) -> None:
    """The reviewer of an accepted further order leaves the team (the account is closed): the reminder to activate
    it goes to every active legal lead (who assign the work), never to a closed account, so never to no one."""
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        second_lead, former_lead = make_lead(), make_lead()
        User.objects.filter(pk=former_lead.pk).update(is_active=False)
        freeze = cast.freeze(20)
        end = freeze.expires_at
        further = cast.freeze_request(10, further_order_of=freeze.case)
        cast.decide(further)
        User.objects.filter(pk=cast.reviewer.pk).update(is_active=False)

        traveller.move_to(end - 5 * DAY)
        assert sweep().reminders_sent == 1
        key = f"clock-staff:{further.pk}:further-order-freeze-reminder-5-"
        reminded = [lead for lead in (cast.lead, second_lead) if len(emails(lead.email, key)) == 1]
        assert reminded == [cast.lead, second_lead]
        assert emails(cast.lead.email, key)[0].payload["reference"] == further.reference
        assert emails(former_lead.email, "further-order") == emails(cast.reviewer.email, "further-order") == []
        assert sweep().reminders_sent == 0
    assert len(emails(cast.lead.email, "further-order")) == 1


@pytest.mark.django_db
def test_r8_a_further_order_past_its_own_period_while_another_keeps_the_freeze_is_carried_out_not_served_again() -> None:
    """Two further orders accepted in time: B (10 days) and C (20 days). Past B's own period C still keeps the
    freeze; B, activated then, neither moves the freeze's end to a moment already past nor freezes the account a
    second time: its ten days, counted from the freeze's end, were kept."""
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        freeze = cast.freeze(20)
        end = freeze.expires_at
        b = cast.freeze_request(10, further_order_of=freeze.case)
        c = cast.freeze_request(20, further_order_of=freeze.case)
        cast.decide(b)
        cast.decide(c)
        traveller.move_to(end + 15 * DAY)
        freeze.refresh_from_db()
        assert freeze.held_until(timezone.now()) == end + 20 * DAY  # kept by C
        assert freeze.held_until(timezone.now(), by=b) is None and not freeze.is_in_force(timezone.now(), by=b)
        assert freeze.is_in_force(timezone.now(), by=c)

        staff = signed_in_client(cast.reviewer)
        page = staff.get(reverse("admin:cases_case_activate", args=[b.pk])).content.decode()
        assert "this further order kept its freeze in force past its end" in page
        assert "if nothing is left, the activation records the order as carried out" in page
        served = cast.activate(b)
    # B's ten days, counted from the freeze's end, passed while the freeze was in force: carried out, no new freeze.
    assert served.pk == freeze.pk and Freeze.objects.count() == 1
    assert Case.objects.get(pk=b.pk).status == Case.Status.FULFILLED
    freeze.refresh_from_db()
    assert (freeze.status, freeze.expires_at, freeze.extension_count) == (Freeze.Status.ACTIVE, end, 0)
    assert not AuditEvent.objects.filter(action="freeze.extended").exists()


@pytest.mark.django_db
def test_r8_a_freeze_kept_past_its_end_reminds_before_it_lifts_at_the_further_orders_bound() -> None:
    """Past its end, a freeze kept by a further order awaiting activation lifts at that order's bound: the
    officer and the order's reviewer are reminded before then (5 and 1 days), once each."""
    with time_machine.travel(T0, tick=False) as traveller:
        cast, freeze, _further, end = _awaiting_activation()
        traveller.move_to(end - DAY)
        assert sweep().reminders_sent == 1  # the 5- and 1-day reminders of the end, at once
        lifts_at = end + 10 * DAY

        traveller.move_to(lifts_at - 5 * DAY - SECOND)
        assert sweep().reminders_sent == 0
        traveller.move_to(lifts_at - 5 * DAY)
        assert sweep().reminders_sent == 1
        assert sweep().reminders_sent == 0
        traveller.move_to(lifts_at - DAY)
        assert sweep().reminders_sent == 1
        traveller.move_to(lifts_at - SECOND)
        assert sweep().reminders_sent == 0 and sweep().freezes_lifted == 0
        traveller.move_to(lifts_at + SECOND)
        assert sweep().freezes_lifted == 1
    assert sorted(Reminder.objects.filter(freeze=freeze).values_list("clock_ends_at", "days_before")) == [
        (end, 1), (end, 5), (lifts_at, 1), (lifts_at, 5)]
    assert len(emails(cast.officer.user.email, f"freeze-reminder-5-{lifts_at.isoformat()}")) == 1
    assert len(emails(cast.officer.user.email, f"freeze-reminder-1-{lifts_at.isoformat()}")) == 1
    assert len(emails(cast.reviewer.email, f"further-order-freeze-reminder-1-{lifts_at.isoformat()}")) == 1


def _lifted_event(freeze: Freeze) -> dict[str, Any]:
    """The data of the exchange's `freeze.lifted` event of `freeze`."""
    return webhook_data(f"freeze:{freeze.pk}:lifted")


@pytest.mark.django_db
def test_r8_a_freeze_kept_past_its_end_ended_when_the_further_orders_period_ended_as_the_exchange_and_pages_say(
        exchange_webhook: None) -> None:
    """Kept past its end by a further order never activated, the freeze restricted the account until that order's
    own period ended, not until its own end: the exchange, the officer and the legal team are told that moment —
    even when the sweep lifts it hours late (downtime)."""
    with time_machine.travel(T0, tick=False) as traveller:
        cast, freeze, _further, end = _awaiting_activation()
        bound = end + 10 * DAY
        traveller.move_to(bound + 3 * HOUR)  # the sweep was down for three hours
        assert sweep().freezes_lifted == 1
        freeze.refresh_from_db()
        assert (freeze.lifted_at, freeze.ended_at, freeze.ended) == (bound + 3 * HOUR, bound, bound)
        assert (_lifted_event(freeze)["ends_at"], _lifted_event(freeze)["reason"]) == (bound.isoformat(), "expired")

        officer_html = signed_in_client(cast.officer.user).get(
            reverse("cases:detail", args=[freeze.case.reference])).content.decode()
        shown_end = re.search(r'<dd id="freeze-end"><time datetime="([^"]+)"', officer_html)
        assert shown_end is not None and shown_end.group(1) == timezone.localtime(bound).isoformat()
        kept = re.search(r'<dd id="freeze-kept">(.*?)</dd>', officer_html, re.S)
        assert kept is not None and f'datetime="{timezone.localtime(end).isoformat()}"' in kept.group(1)
        staff_html = signed_in_client(cast.reviewer).get(
            reverse("admin:cases_case_change", args=[freeze.case.pk])).content.decode()
        assert re.search(rf'id="freeze-ended"><time datetime="{re.escape(timezone.localtime(bound).isoformat())}">'
                         r'[^<]*</time> \(past its end: a further order', staff_html)


@pytest.mark.django_db
def test_r8_a_freeze_that_ran_out_ended_at_its_end_and_one_lifted_early_when_it_was_lifted(
        exchange_webhook: None) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        ran_out, lifted_early = cast.freeze(10), cast.freeze(20)
        end = ran_out.expires_at
        traveller.move_to(end + 2 * DAY)  # lifted two days late (downtime): it still ended at its end
        assert sweep().freezes_lifted == 1
        clocks.freeze_lift(freeze=lifted_early, reason=Freeze.LiftReason.COURT_DECISION, note=COURT_NOTE,
                           actor=Actor(user=cast.reviewer), now=timezone.now())
        officer_html = signed_in_client(cast.officer.user).get(
            reverse("cases:detail", args=[ran_out.case.reference])).content.decode()
    ran_out.refresh_from_db()
    lifted_early.refresh_from_db()
    assert (ran_out.ended_at, _lifted_event(ran_out)["ends_at"]) == (end, end.isoformat())
    assert (lifted_early.ended_at, _lifted_event(lifted_early)["ends_at"]) == (end + 2 * DAY, (end + 2 * DAY).isoformat())
    assert 'id="freeze-kept"' not in officer_html
    shown_end = re.search(r'<dd id="freeze-end"><time datetime="([^"]+)"', officer_html)
    assert shown_end is not None and shown_end.group(1) == timezone.localtime(end).isoformat()

    # A freeze lifted before the moment was recorded: the earlier of its end and its lift.
    Freeze.objects.filter(pk=ran_out.pk).update(ended_at=None)
    ran_out.refresh_from_db()
    assert ran_out.ended == end


@pytest.mark.django_db
def test_r8_the_queue_lists_a_kept_freeze_as_ending_soon_only_when_its_further_order_lets_it_go_within_a_week(
) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast, freeze, _further, end = _awaiting_activation()

        def ending_soon() -> set[str]:
            response = signed_in_client(cast.lead).get(reverse("admin:cases_case_changelist"), {"clock": "ending_soon"})
            assert response.status_code == 200
            return {case.reference for case in response.context["cl"].result_list}

        traveller.move_to(end - 3 * DAY)  # its end is near, but an accepted further order will keep it ten days more
        assert ending_soon() == set()
        traveller.move_to(end + DAY)  # kept until end + 10 days: not within the week
        assert ending_soon() == set()
        traveller.move_to(end + 4 * DAY)  # let go at end + 10 days: within the week
        assert ending_soon() == {freeze.case.reference}


@pytest.mark.django_db
def test_r8_a_freeze_lifted_early_while_a_further_order_keeps_it_ended_at_the_lift(exchange_webhook: None) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast, freeze, _further, end = _awaiting_activation()
        traveller.move_to(end + 2 * DAY)  # kept by the further order until end + 10 days
        clocks.freeze_lift(freeze=freeze, reason=Freeze.LiftReason.COURT_DECISION, note=COURT_NOTE,
                           actor=Actor(user=cast.reviewer), now=timezone.now())
        staff_html = signed_in_client(cast.reviewer).get(
            reverse("admin:cases_case_change", args=[freeze.case.pk])).content.decode()
    freeze.refresh_from_db()
    assert (freeze.ended, _lifted_event(freeze)["ends_at"]) == (end + 2 * DAY, (end + 2 * DAY).isoformat())
    ended = re.search(r'<td id="freeze-ended">(.*?)</td>', staff_html, re.S)
    assert ended is not None and "kept in force by a further order" in ended.group(1)
    assert "unactivated" not in ended.group(1)


@pytest.mark.django_db
@pytest.mark.parametrize("kept", [False, True])
def test_r8_a_freeze_lifted_early_after_it_ended_unswept_ended_at_its_end_or_its_orders_bound(
        kept: bool, exchange_webhook: None) -> None:
    """The sweep was down: a freeze past its end (or past the bound of the order that kept it) was still active
    when the team lifted it. It stopped restricting the account at that end, not at the lift."""
    with time_machine.travel(T0, tick=False) as traveller:
        cast, freeze, further, end = _awaiting_activation()
        if not kept:  # the order no longer awaits activation (its decision replaced, as a declined one reads)
            further.status = Case.Status.DECLINED
            further.save(update_fields=["status"])
        stopped = end + 10 * DAY if kept else end
        traveller.move_to(stopped + 3 * HOUR)
        clocks.freeze_lift(freeze=freeze, reason=Freeze.LiftReason.COURT_DECISION, note=COURT_NOTE,
                           actor=Actor(user=cast.reviewer), now=timezone.now())
    freeze.refresh_from_db()
    assert (freeze.ended, _lifted_event(freeze)["ends_at"]) == (stopped, stopped.isoformat())


@pytest.mark.django_db
def test_r8_a_further_order_activated_past_its_bound_before_the_sweep_lifts_the_kept_freeze_at_that_bound_first(
        exchange_webhook: None) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast, freeze, further, end = _awaiting_activation()
        bound = end + 10 * DAY
        traveller.move_to(bound + HOUR)  # no sweep since: the first freeze is still active
        served = cast.activate(further)
        assert sweep().freezes_lifted == 0
    freeze.refresh_from_db()
    assert (freeze.status, freeze.lift_reason, freeze.ended) == (Freeze.Status.LIFTED, Freeze.LiftReason.EXPIRED, bound)
    assert _lifted_event(freeze)["ends_at"] == bound.isoformat()
    assert served.pk == freeze.pk and Freeze.objects.count() == 1  # its period was kept: nothing starts again
    webhooks = OutboxMessage.objects.filter(channel=OutboxMessage.Channel.WEBHOOK).order_by("id")
    assert [w.key for w in webhooks][-1:] == [f"webhook:freeze:{freeze.pk}:lifted"]


@pytest.mark.django_db(transaction=True)
def test_r8_a_sweep_running_while_a_further_order_is_accepted_before_the_end_leaves_the_freeze_to_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The reviewer accepts a further order a second before the freeze's end; the minute's sweep runs past the end
    while that acceptance is being recorded. It skips the freeze the acceptance holds, and the next sweep sees the
    order: the freeze is kept, and the account does not go free between its end and the order's activation."""
    from cases.services import review

    monkeypatch.setattr(outbox, "schedule_delivery", lambda message_ids: None)  # no broker needed
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        freeze = cast.freeze(20)
        end = freeze.expires_at
        further = cast.freeze_request(10, further_order_of=freeze.case)
        cast.assign(further)
        review.case_checklist_update(case=further, data=FULL_CHECKLIST, actor=cast.staff, now=timezone.now())
        traveller.move_to(end - SECOND)
        tell, swept = review._tell_officer, []

        def sweep_while_deciding(case: Case, **kwargs: Any) -> None:
            swept.append(sweep_meanwhile(end + SECOND, waits="the sweep waited for the acceptance instead of "
                                                              "skipping the freeze"))
            tell(case, **kwargs)

        monkeypatch.setattr(review, "_tell_officer", sweep_while_deciding)
        review.case_decide(case=further, decision=Case.Decision.ACCEPT, reasons=ACCEPT_REASONS, actor=cast.staff,
                           now=timezone.now())
        assert isinstance(swept[0], clocks.SweepResult) and swept[0].freezes_lifted == 0, swept
        traveller.move_to(end + MINUTE)
        assert sweep().freezes_lifted == 0
        freeze.refresh_from_db()
        assert freeze.status == Freeze.Status.ACTIVE and freeze.held_until(timezone.now()) == end + 10 * DAY


@pytest.mark.django_db(transaction=True)
def test_r8_accepting_a_further_order_while_another_of_the_same_freeze_is_activated_deadlocks_neither(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The acceptance holds its case, then the freeze it continues, then takes the audit trail's lock; the approval of
    another order's activation takes the same locks in the same order (the grant's own event comes after them)."""
    from cases.services import approvals, review

    monkeypatch.setattr(outbox, "schedule_delivery", lambda message_ids: None)  # no broker needed
    cast = ClockCast()
    freeze = cast.freeze(20)
    activated = cast.freeze_request(10, further_order_of=freeze.case)
    cast.decide(activated)
    confirm_out_of_band(activated, actor=cast.staff, now=timezone.now())
    asked = clocks.freeze_activation_request(case=activated, activation=clocks.FreezeActivation(), actor=cast.staff,
                                             now=timezone.now())
    approver = make_lead()
    accepted = cast.freeze_request(10, further_order_of=freeze.case)
    cast.assign(accepted)
    review.case_checklist_update(case=accepted, data=FULL_CHECKLIST, actor=cast.staff, now=timezone.now())
    results: dict[str, Any] = {}

    def grant() -> None:
        try:
            results["grant"] = approvals.approval_grant(approval=asked, actor=Actor(user=approver),
                                                        now=timezone.now()).outcome
        except Exception as error:  # surfaced by the assertions below
            results["grant"] = error
        finally:
            connection.close()  # this thread's own connection

    transition = review.case_transition

    def transition_while_the_grant_runs(*args: Any, **kwargs: Any) -> Any:
        results["thread"] = thread = threading.Thread(target=grant)  # the freeze is held by the acceptance now
        thread.start()
        thread.join(1.0)  # the grant gets as far as it can
        return transition(*args, **kwargs)

    monkeypatch.setattr(review, "case_transition", transition_while_the_grant_runs)
    decided = review.case_decide(case=accepted, decision=Case.Decision.ACCEPT, reasons=ACCEPT_REASONS,
                                 actor=cast.staff, now=timezone.now())
    results["thread"].join(30)
    assert decided.status == Case.Status.ACCEPTED
    assert isinstance(results["grant"], Freeze) and results["grant"].pk == freeze.pk, results
    assert Freeze.objects.get(pk=freeze.pk).extension_count == 1


@pytest.mark.django_db
def test_r8_approving_the_activation_of_an_order_that_kept_its_freeze_for_its_whole_period_says_nothing_started() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast, _freeze, further, end = _awaiting_activation()
        traveller.move_to(end + 10 * DAY + HOUR)  # past the order's own period: the freeze is lifted at its bound
        confirm_out_of_band(further, actor=cast.staff, now=timezone.now())
        approval = clocks.freeze_activation_request(case=further, activation=clocks.FreezeActivation(),
                                                    actor=cast.staff, now=timezone.now())
        page = signed_in_client(make_lead()).post(reverse("admin:cases_case_approvals", args=[further.pk]),
                                                  {"approval": approval.pk, "decision": "approve"}, follow=True)
    html = page.content.decode()
    assert f"{further.reference} is recorded as carried out" in html and "no new freeze was started" in html
    assert Freeze.objects.count() == 1
