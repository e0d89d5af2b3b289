"""R7/R8 at volume: the sweeps work in set-based batches (benchmarks P2), and stay exactly-once.

A batch is claimed under row locks, changed with one UPDATE, and its audit events, webhooks and
e-mails are written with one COPY each; so the number of queries grows with the batches, not
with the clocks. The chain of the audit trail is the same as if each event had been written alone.
"""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.models import Case, Freeze, PreservationHold, SubjectIdentifier
from cases.services import clocks
from leors.core import outbox
from leors.core.audit import audit_chain_verify
from leors.core.models import AuditEvent, IssuedReference, OutboxMessage
from leors.core.outbox import outbox_deliver, reference_check
from tests.cases.clock_cast import T0, ClockCast
from tests.processes import settings_in_child

DAY = timedelta(days=1)


def lifted_with_queries(now: Any) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        lifted = clocks.freezes_lift_due(now=now)
    return lifted, len(captured.captured_queries)


@pytest.mark.django_db
def test_r8_a_backlog_of_freezes_is_lifted_with_queries_per_batch_not_per_freeze(settings: Any) -> None:
    settings.LEORS_EXCHANGE_WEBHOOK_URL = "https://exchange.example.org/leors"
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        few = [cast.freeze(5) for _ in range(2)]
        many = [cast.freeze(10) for _ in range(8)]
        for number, freeze in enumerate(few + many):  # each case a subject of its own, beside the shared one
            SubjectIdentifier.objects.create(case=freeze.case, kind="uid", value=f"UID{number}", normalized=f"UID{number}")
        traveller.move_to(T0 + 6 * DAY)
        lifted_few, queries_few = lifted_with_queries(timezone.now())
        traveller.move_to(T0 + 11 * DAY)
        lifted_many, queries_many = lifted_with_queries(timezone.now())

    assert (lifted_few, lifted_many) == (2, 8)
    assert queries_many == queries_few  # 4× the freezes, the same queries: one batch each
    for freeze in few + many:
        freeze.refresh_from_db()
        assert freeze.status == Freeze.Status.LIFTED and freeze.lift_reason == Freeze.LiftReason.EXPIRED
        events = AuditEvent.objects.filter(object_type="cases.case", object_id=str(freeze.case_id),
                                           action="freeze.lifted")
        assert [event.changes["freeze"] for event in events] == [freeze.pk]
        # The batch reads its rows as values; each event names its case as one recorded with the case would.
        assert [(event.object_repr, event.actor_label) for event in events] == [(str(freeze.case), "system:clocks")]
        webhook = OutboxMessage.objects.get(key=f"webhook:freeze:{freeze.pk}:lifted")
        assert webhook.payload["data"]["case"] == freeze.case.reference
        # The batch reads every case's subjects at once; each webhook carries its own case's.
        assert webhook.payload["data"]["subjects"] == [
            {"kind": subject.kind, "value": subject.normalized, "chain": subject.chain}
            for subject in freeze.case.subjects.order_by("pk")]
        assert len(webhook.payload["data"]["subjects"]) == 2
        officer_mail = OutboxMessage.objects.get(key__startswith=f"clock:{freeze.case_id}:freeze-lifted")
        assert officer_mail.recipient == cast.officer.user.email
        assert OutboxMessage.objects.filter(key__startswith=f"clock-staff:{freeze.case_id}:freeze-lifted",
                                            recipient=cast.reviewer.email).count() == 1
        # Each e-mail carries its own code, issued when it is delivered, and /verify/ knows it (R12).
        assert outbox_deliver(message_id=officer_mail.pk, now=timezone.now())
        officer_mail.refresh_from_db()
        code = officer_mail.body.split("Verification code: ")[1].split()[0]
        assert reference_check(reference=freeze.case.reference, code=code, recipient=officer_mail.recipient,
                               now=timezone.now()) is not None
    assert audit_chain_verify() is None  # the batch's events link one to the next
    codes = IssuedReference.objects.filter(purpose="case_update").values_list("code_digest", flat=True)
    assert len(codes) == len(set(codes))


@pytest.mark.django_db
def test_r7_r8_with_nothing_due_a_sweep_reads_once_and_opens_no_transaction() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        cast.freeze(5)
        cast.preservation()
        traveller.move_to(T0 + DAY)
        for sweep_of in (clocks.freezes_lift_due, clocks.holds_lapse_due):
            with CaptureQueriesContext(connection) as captured:
                assert sweep_of(now=timezone.now()) == 0
            assert [query["sql"].split()[0] for query in captured.captured_queries] == ["SELECT"]
            assert "FOR UPDATE" not in captured.captured_queries[0]["sql"]


@pytest.mark.django_db
def test_r8_a_freeze_whose_case_has_no_reviewer_is_lifted_and_its_officer_alone_told() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        freeze, other = cast.freeze(5), cast.freeze(5)
        Case.objects.filter(pk=freeze.case_id).update(assigned_to=None)  # e.g. its reviewer was unassigned
        traveller.move_to(T0 + 6 * DAY)
        assert clocks.freezes_lift_due(now=timezone.now()) == 2
    assert [Freeze.objects.get(pk=f.pk).status for f in (freeze, other)] == ["lifted", "lifted"]
    assert OutboxMessage.objects.filter(key__startswith=f"clock:{freeze.case_id}:freeze-lifted").count() == 1
    assert not OutboxMessage.objects.filter(key__startswith=f"clock-staff:{freeze.case_id}:").exists()
    assert OutboxMessage.objects.filter(key__startswith=f"clock-staff:{other.case_id}:freeze-lifted",
                                        recipient=cast.reviewer.email).count() == 1


@pytest.mark.django_db
def test_r8_one_bad_freeze_in_a_batch_does_not_hold_back_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        freezes = [cast.freeze(5) for _ in range(4)]
        bad = freezes[2]
        real = clocks._restriction_data

        def failing_on_the_bad_one(**kwargs: Any) -> dict[str, Any]:
            if kwargs["restriction_id"] == bad.pk:
                raise RuntimeError("a row the sweep cannot handle")
            return real(**kwargs)

        monkeypatch.setattr(clocks, "_restriction_data", failing_on_the_bad_one)
        traveller.move_to(T0 + 6 * DAY)
        assert clocks.freezes_lift_due(now=timezone.now()) == 3
        assert [Freeze.objects.get(pk=f.pk).status for f in freezes] == ["lifted", "lifted", "active", "lifted"]
        assert not AuditEvent.objects.filter(action="freeze.lifted", object_id=str(bad.case_id)).exists()

        monkeypatch.setattr(clocks, "_restriction_data", real)  # mended: the next run lifts it, once
        traveller.move_to(T0 + 6 * DAY + timedelta(minutes=1))
        assert clocks.freezes_lift_due(now=timezone.now()) == 1
        assert clocks.freezes_lift_due(now=timezone.now()) == 0
    assert AuditEvent.objects.filter(action="freeze.lifted").count() == 4
    assert audit_chain_verify() is None


@pytest.mark.django_db(transaction=True)
def test_r8_a_batch_that_fails_at_its_commit_is_retried_row_by_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """A foreign key is checked at the commit (Django makes them deferrable): a batch that fails there
    is rolled back whole, and its rows are retried one by one, the bad one alone left for the next run."""
    monkeypatch.setattr(outbox, "schedule_delivery", lambda message_ids: None)  # no broker needed
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        freezes = [cast.freeze(5) for _ in range(3)]
        bad = freezes[1]
        real = clocks._lift

        def lift_then_break_a_deferred_key(batch: list[clocks.Claimed], **kwargs: Any) -> None:
            real(batch, **kwargs)
            if any(clock.pk == bad.pk for clock in batch):
                Freeze.objects.filter(pk=bad.pk).update(lifted_by_id=10**9)  # no such user: refused at COMMIT

        monkeypatch.setattr(clocks, "_lift", lift_then_break_a_deferred_key)
        traveller.move_to(T0 + 6 * DAY)
        assert clocks.freezes_lift_due(now=timezone.now()) == 2
        assert [Freeze.objects.get(pk=f.pk).status for f in freezes] == ["lifted", "active", "lifted"]
        monkeypatch.setattr(clocks, "_lift", real)  # mended: the next run lifts it, once
        traveller.move_to(T0 + 6 * DAY + timedelta(minutes=1))
        assert clocks.freezes_lift_due(now=timezone.now()) == 1
    assert AuditEvent.objects.filter(action="freeze.lifted").count() == 3
    assert audit_chain_verify() is None


@pytest.mark.django_db
def test_r7_holds_due_together_lapse_in_one_batch_each_exactly_once() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        holds = [PreservationHold.objects.get(case=cast.preservation()) for _ in range(3)]
        traveller.move_to(max(hold.expires_at for hold in holds) + timedelta(seconds=1))
        now = timezone.now()
        with CaptureQueriesContext(connection) as captured:
            assert clocks.holds_lapse_due(now=now) == 3
        assert clocks.holds_lapse_due(now=now) == 0
    assert len(captured.captured_queries) < 20  # one batch, not three rounds of per-row work
    for hold in holds:
        hold.refresh_from_db()
        assert (hold.status, hold.lapsed_at) == (PreservationHold.Status.LAPSED, now)
        assert AuditEvent.objects.filter(action="hold.lapsed", object_id=str(hold.case_id)).count() == 1
        assert OutboxMessage.objects.filter(key__startswith=f"clock:{hold.case_id}:hold-lapsed").count() == 1
    assert audit_chain_verify() is None


@pytest.mark.django_db
def test_r8_a_backlog_of_due_freezes_asks_other_worker_processes_to_help(settings: Any) -> None:
    settings.LEORS_SWEEP_BATCH_SIZE, settings.LEORS_SWEEP_WORKERS = 2, 3
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        for days in (5, 5, 8):
            cast.freeze(days)
        traveller.move_to(T0 + 4 * DAY)
        assert clocks.freezes_lift_helpers_wanted(now=timezone.now()) == 0  # nothing due
        traveller.move_to(T0 + 6 * DAY)
        assert clocks.freezes_lift_helpers_wanted(now=timezone.now()) == 0  # one batch: one sweep is enough
        traveller.move_to(T0 + 9 * DAY)
        assert clocks.freezes_lift_helpers_wanted(now=timezone.now()) == 2  # more than a batch: the other two help
        settings.LEORS_SWEEP_WORKERS = 1
        assert clocks.freezes_lift_helpers_wanted(now=timezone.now()) == 0  # no other process to ask


def test_r8_a_batch_larger_than_postgresql_can_bind_is_refused_at_start(tmp_path: Path) -> None:
    # Up to two bound parameters per clock in a statement (its e-mails' keys); PostgreSQL takes 65,535.
    assert settings_in_child("s.LEORS_SWEEP_BATCH_SIZE", var_dir=tmp_path, DEBUG="true",
                             LEORS_SWEEP_BATCH_SIZE="10000") == "10000"
    with pytest.raises(subprocess.CalledProcessError) as refused:
        settings_in_child("s.LEORS_SWEEP_BATCH_SIZE", var_dir=tmp_path, DEBUG="true", LEORS_SWEEP_BATCH_SIZE="40000")
    assert "LEORS_SWEEP_BATCH_SIZE=40000 is above the maximum of 10000." in refused.value.stderr
