"""The audit trail: one event per service call, in the service's transaction; a hash chain that names
the first altered or missing event; a table PostgreSQL itself keeps append-only; sign-ins recorded."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse

from leors.access import services
from leors.access.models import AccessApplication, Officer
from leors.core.audit import (
    GENESIS_HASH,
    Actor,
    ChainBreak,
    _event_digest,
    _hashed_fields,
    audit_chain_verify,
    audit_record,
)
from leors.core.models import AuditEvent, OutboxMessage
from tests.factories import (
    PASSWORD,
    application_data,
    approved_officer,
    complete_checklist,
    make_lead,
    make_reviewer,
    make_user,
    pdf_upload,
    submit_application,
    totp_code,
    verification_token,
    verified_application,
)

NOW = datetime(2026, 6, 3, 9, 0, tzinfo=UTC)
pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the suite runs on PostgreSQL")


@dataclass
class ServiceCall:
    """A service, the data it needs (built beforehand) and the action its audit event must carry."""

    action: str
    prepare: Callable[[], dict[str, Any]]
    call: Callable[[dict[str, Any]], Any]


def _lead_and(application_factory: Callable[[], AccessApplication]) -> Callable[[], dict[str, Any]]:
    def prepare() -> dict[str, Any]:
        return {"lead": make_lead(), "application": application_factory()}
    return prepare


def _questioned() -> dict[str, Any]:
    lead = make_lead()
    application = verified_application(now=NOW)
    services.application_request_information(application=application, question="Which unit?",
                                             actor=Actor(user=lead), now=NOW)
    return {"lead": lead, "application": application}


def _checked() -> dict[str, Any]:
    lead = make_lead()
    application = verified_application(now=NOW)
    complete_checklist(application, by=lead, now=NOW)
    return {"lead": lead, "application": application}


SERVICES: dict[str, ServiceCall] = {
    "application_submit": ServiceCall(
        "application.submitted", dict,
        lambda d: services.application_submit(data=application_data(), documents=[pdf_upload()],
                                              actor=Actor(user=None, ip="198.51.100.7"), now=NOW),
    ),
    "application_submit (address taken)": ServiceCall(
        "application.duplicate_refused",
        lambda: {"taken": verified_application(now=NOW).official_email},
        lambda d: services.application_submit(data=application_data(official_email=d["taken"]),
                                              documents=[pdf_upload()], actor=Actor(user=None), now=NOW),
    ),
    "application_verify_email": ServiceCall(
        "application.email_verified",
        lambda: {"token": verification_token(submit_application(now=NOW))},
        lambda d: services.application_verify_email(token=d["token"], password=PASSWORD, actor=Actor(user=None), now=NOW),
    ),
    "application_assign": ServiceCall(
        "application.assigned",
        lambda: {"lead": make_lead(), "reviewer": make_reviewer(), "application": verified_application(now=NOW)},
        lambda d: services.application_assign(application=d["application"], reviewer=d["reviewer"],
                                              actor=Actor(user=d["lead"]), now=NOW),
    ),
    "application_checklist_update": ServiceCall(
        "application.checklist_updated",
        _lead_and(lambda: verified_application(now=NOW)),
        lambda d: complete_checklist(d["application"], by=d["lead"], now=NOW),
    ),
    "application_request_information": ServiceCall(
        "application.information_requested",
        _lead_and(lambda: verified_application(now=NOW)),
        lambda d: services.application_request_information(application=d["application"], question="Which unit?",
                                                           actor=Actor(user=d["lead"]), now=NOW),
    ),
    "application_answer": ServiceCall(
        "application.answered",
        _questioned,
        lambda d: services.application_answer(application=d["application"], answer="Economic crime unit.",
                                              actor=Actor(user=d["application"].applicant), now=NOW),
    ),
    "application_withdraw": ServiceCall(
        "application.withdrawn",
        lambda: {"application": verified_application(now=NOW)},
        lambda d: services.application_withdraw(application=d["application"],
                                                actor=Actor(user=d["application"].applicant), now=NOW),
    ),
    "application_approve": ServiceCall(
        "application.approved",
        _checked,
        lambda d: services.application_approve(application=d["application"], actor=Actor(user=d["lead"]), now=NOW),
    ),
    "application_reject": ServiceCall(
        "application.rejected",
        _lead_and(lambda: verified_application(now=NOW)),
        lambda d: services.application_reject(application=d["application"], reason="The body could not be found.",
                                              actor=Actor(user=d["lead"]), now=NOW),
    ),
    "officer_suspend": ServiceCall(
        "officer.suspended",
        lambda: {"lead": make_lead(), "officer": approved_officer(now=NOW)},
        lambda d: services.officer_suspend(officer=d["officer"], note="The supervisor does not know them.",
                                           referred_to="", actor=Actor(user=d["lead"]), now=NOW),
    ),
    "officer_access_renew": ServiceCall(
        "officer.access_renewed",
        lambda: {"lead": make_lead(), "officer": approved_officer(now=NOW)},
        lambda d: services.officer_access_renew(officer=d["officer"], note="Confirmed by the agency's HR desk.",
                                                actor=Actor(user=d["lead"]), now=NOW),
    ),
}


def _snapshot() -> tuple[int, int, list[tuple[int, str]], list[tuple[int, str]]]:
    return (
        AuditEvent.objects.count(),
        OutboxMessage.objects.count(),
        sorted(AccessApplication.objects.values_list("pk", "status")),
        sorted(Officer.objects.values_list("pk", "status")),
    )


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(SERVICES))
def test_every_service_writes_exactly_one_event_of_its_action(name: str) -> None:
    service = SERVICES[name]
    data = service.prepare()
    last_before = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0

    service.call(data)

    new = AuditEvent.objects.filter(id__gt=last_before)
    assert new.filter(action=service.action).count() == 1
    event = new.get(action=service.action)
    assert event.created_at == NOW
    assert event.action == service.action
    assert audit_chain_verify() is None


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(SERVICES))
def test_a_rolled_back_service_leaves_no_event(name: str) -> None:
    service = SERVICES[name]
    data = service.prepare()
    before = _snapshot()

    class CallerFailedAfterwards(Exception):
        pass

    # The caller's transaction fails after the service returned: the change and its event go together.
    with pytest.raises(CallerFailedAfterwards), transaction.atomic():
        service.call(data)
        assert AuditEvent.objects.filter(action=service.action).exists()
        raise CallerFailedAfterwards

    assert _snapshot() == before
    assert audit_chain_verify() is None


@pytest.mark.django_db(transaction=True)
def test_audit_record_refuses_to_run_outside_a_transaction() -> None:
    with pytest.raises(RuntimeError, match="inside the transaction"):
        audit_record(actor=Actor.system(), action="test.outside")
    assert not AuditEvent.objects.exists()


# --- The hash chain ------------------------------------------------------------------------------

def _five_events() -> list[AuditEvent]:
    with transaction.atomic():
        for number in range(5):
            audit_record(actor=Actor.system(), action="test.event", object_type="test", object_id=str(number),
                         changes={"number": number}, now=NOW + timedelta(seconds=number))
    return list(AuditEvent.objects.order_by("id"))


def _with_trigger_disabled(sql: str, params: list[Any]) -> None:
    # What an attacker with the table owner's rights could do: bypass the append-only trigger for
    # this transaction only (SET LOCAL ends with the test's transaction).
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")


@pytest.mark.django_db
def test_intact_chain_verifies() -> None:
    assert audit_chain_verify() is None  # empty
    events = _five_events()
    assert events[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(events))
    assert audit_chain_verify() is None
    call_command("audit_verify")


@pytest.mark.django_db
def test_an_altered_event_breaks_the_chain_at_that_event() -> None:
    events = _five_events()
    target = events[2]
    _with_trigger_disabled("UPDATE core_auditevent SET changes = %s::jsonb WHERE id = %s", ['{"number": 99}', target.id])

    broken = audit_chain_verify()
    assert isinstance(broken, ChainBreak)
    assert broken.event_id == target.id
    assert "altered" in broken.reason
    with pytest.raises(CommandError, match=f"event {target.id}"):
        call_command("audit_verify")


@pytest.mark.django_db
def test_an_altered_event_with_a_recomputed_hash_breaks_the_chain_at_the_next_event() -> None:
    events = _five_events()
    target = events[1]
    # The forger rewrites the event and its own hash consistently; only the next link gives it away.
    forged = AuditEvent.objects.get(pk=target.pk)
    forged.action = "test.innocent"
    forged_hash = _event_digest(prev_hash=forged.prev_hash, fields=_hashed_fields(forged))
    _with_trigger_disabled("UPDATE core_auditevent SET action = %s, hash = %s WHERE id = %s",
                           [forged.action, forged_hash, target.id])

    broken = audit_chain_verify()
    assert broken is not None and broken.event_id == events[2].id
    assert "previous event" in broken.reason


@pytest.mark.django_db
def test_a_deleted_event_breaks_the_chain_at_the_next_event() -> None:
    events = _five_events()
    _with_trigger_disabled("DELETE FROM core_auditevent WHERE id = %s", [events[2].id])

    broken = audit_chain_verify()
    assert broken is not None
    assert broken.event_id == events[3].id
    assert "removed" in broken.reason


@pytest.mark.django_db
def test_postgresql_refuses_update_and_delete_of_audit_events() -> None:
    events = _five_events()
    target = events[2]

    attempts: list[Callable[[], Any]] = [
        lambda: AuditEvent.objects.filter(pk=target.pk).update(action="test.rewritten"),
        lambda: AuditEvent.objects.filter(pk=target.pk).delete(),
        lambda: AuditEvent.objects.get(pk=target.pk).delete(),
        lambda: connection.cursor().execute("UPDATE core_auditevent SET actor_label = 'x' WHERE id = %s", [target.pk]),
        lambda: connection.cursor().execute("DELETE FROM core_auditevent", []),
    ]
    for attempt in attempts:
        # The trigger raises SQLSTATE 42501 (insufficient_privilege), which Django surfaces as
        # ProgrammingError; any DatabaseError is a refusal, the message says which rule refused.
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            attempt()

    assert list(AuditEvent.objects.order_by("id")) == events
    assert AuditEvent.objects.get(pk=target.pk).action == "test.event"
    assert audit_chain_verify() is None


# --- Sign-in -------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_failed_sign_in_writes_one_event_without_the_password() -> None:
    user = make_user(email="someone@zephyr.police.example.uk")
    response = Client(REMOTE_ADDR="203.0.113.50").post(
        reverse("account_login"), {"login": user.email, "password": "Wrong-Password-123"})
    assert response.status_code == 200

    (event,) = AuditEvent.objects.all()
    assert event.action == "auth.sign_in_failed"
    assert event.object_repr == user.email
    assert event.ip == "203.0.113.50"
    assert event.actor is None
    assert "Wrong-Password-123" not in str([getattr(event, f.attname) for f in AuditEvent._meta.concrete_fields])


@pytest.mark.django_db
def test_a_successful_sign_in_writes_one_event_after_the_second_factor() -> None:
    from allauth.mfa.models import Authenticator
    from allauth.mfa.utils import decrypt

    user = make_user()
    secret = decrypt(Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP).data["secret"])
    client = Client()
    with time_machine.travel(NOW, tick=False):
        response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
        assert response["Location"] == reverse("mfa_authenticate")
        assert not AuditEvent.objects.exists()  # the password alone signs nobody in

        response = client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
        assert response["Location"] == reverse("portal:home")

    (event,) = AuditEvent.objects.filter(action__startswith="auth.signed")
    assert (event.action, event.actor, event.object_id) == ("auth.signed_in", user, str(user.pk))
