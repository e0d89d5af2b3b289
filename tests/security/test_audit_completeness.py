"""Audit completeness: every sign-in (success and failure), access denial, document view or download
and state change writes exactly one audit event, bulk paths too; the chain verifies afterwards; the
application's database connection cannot edit or delete an event.

Each test counts the events of each action before and after the one thing it does and compares the
difference with exactly what that thing must write. After every test the whole chain is verified.

Permission tests name the owner, a colleague and an outsider (STYLE.md rule 10); a refusal must be
the same 404 as for a thing that does not exist, and only the trail tells them apart.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from allauth.core.internal.ratelimit import parse_rates
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import decrypt
from django.db import DatabaseError, connection, transaction
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cases.models import Case, Freeze
from cases.services import clocks
from leors.access.models import AccessApplication, Officer, User
from leors.core.audit import Actor, audit_chain_verify, audit_record
from leors.core.models import AuditEvent
from tests.cases.clock_cast import ClockCast
from tests.cases.recovery_cast import RecoveryCast
from tests.cases.test_admin import CHECKLIST_ALL, REVIEW_REASONS, change_url, workflow_url
from tests.cases.test_portal import form_data, outsider_officer, upload_production
from tests.conftest import signed_in_client
from tests.factories import (
    PASSWORD,
    accept_case,
    approved_officer,
    enrol_totp,
    make_lead,
    make_reviewer,
    make_user,
    submit_case,
    totp_code,
    verified_application,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the suite runs on PostgreSQL"),
]

T0 = datetime(2026, 6, 3, 9, 0, 30, tzinfo=UTC)  # mid-minute, so per-minute rate windows do not roll over
DENIED = "access.denied"


@pytest.fixture(autouse=True)
def _chain_verifies_afterwards() -> Iterator[None]:
    yield
    assert audit_chain_verify() is None


# --- helpers -------------------------------------------------------------------------------------

def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)  # no cached permissions (guardian)


def actions() -> Counter[str]:
    return Counter(AuditEvent.objects.values_list("action", flat=True))


def written_by(thing: Callable[[], Any]) -> tuple[Any, Counter[str]]:
    """What `thing` returned, and the events it wrote, by action."""
    before = actions()
    result = thing()
    return result, actions() - before


def last_event(action: str) -> AuditEvent:
    event = AuditEvent.objects.filter(action=action).order_by("-id").first()
    assert event is not None
    return event


_VARYING = [
    re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"'),
    re.compile(r'nonce="[^"]*"'),
    re.compile(r'"csrfToken":\s*"[^"]*"'),
]


def page_body(response: Any) -> str:
    """The 404 page without what differs on every response (CSRF token, CSP nonce)."""
    body = response.content.decode()
    for pattern in _VARYING:
        body = pattern.sub("", body)
    return body


def assert_refused_like_missing(client: Client, *, url: str, missing_url: str, obj: Model, user: User,
                                perm: str, method: str = "get", data: dict[str, Any] | None = None) -> None:
    """`url` is refused with exactly one "access.denied" on `obj`; `missing_url` (nothing there)
    writes nothing; both are the same 404, status and body."""
    send = getattr(client, method)
    refused, written = written_by(lambda: send(url, data or {}))
    assert refused.status_code == 404
    assert written == Counter({DENIED: 1}), written
    event = last_event(DENIED)
    assert (event.object_type, event.object_id) == (obj._meta.label_lower, str(obj.pk))
    assert (event.actor_id, event.changes) == (user.pk, {"permission": perm})
    assert event.ip == "127.0.0.1"  # the request being served, found through allauth's request context

    missing, written = written_by(lambda: send(missing_url, data or {}))
    assert missing.status_code == 404
    assert written == Counter(), written
    assert page_body(refused) == page_body(missing)


@pytest.fixture
def production_site(settings: Any) -> Any:
    settings.DEBUG = False  # the real 404 page, which is the same for "missing" and "not yours"
    return settings


def totp_secret_of(user: User) -> str:
    return decrypt(Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP).data["secret"])


def sign_in(client: Client, email: str, password: str = PASSWORD) -> Any:
    return client.post(reverse("account_login"), {"login": email, "password": password})


# --- Sign-in: every success and every failure, one event each ---------------------------------------

@time_machine.travel(T0, tick=False)
def test_a_sign_in_with_password_and_code_writes_one_signed_in_event() -> None:
    user = make_user()
    client = Client()
    response, written = written_by(lambda: sign_in(client, user.email))
    assert response["Location"] == reverse("mfa_authenticate")
    assert written == Counter()  # the password alone signs nobody in
    response, written = written_by(lambda: client.post(reverse("mfa_authenticate"),
                                                       {"code": totp_code(totp_secret_of(user))}))
    assert response.status_code == 302
    assert written["auth.signed_in"] == 1
    assert set(written) <= {"auth.signed_in", "auth.new_device"}  # a first sign-in from a browser is new
    assert last_event("auth.signed_in").actor_id == user.pk


def test_a_wrong_password_writes_one_failed_event() -> None:
    user = make_user()
    response, written = written_by(lambda: sign_in(Client(REMOTE_ADDR="203.0.113.50"), user.email, "Wrong-Pass-1"))
    assert response.status_code == 200
    assert written == Counter({"auth.sign_in_failed": 1})
    event = last_event("auth.sign_in_failed")
    assert (event.object_repr, event.ip, event.actor_id) == (user.email, "203.0.113.50", None)
    assert "Wrong-Pass-1" not in str(event.changes) + event.actor_label + event.object_repr


def test_an_unknown_address_writes_one_failed_event() -> None:
    response, written = written_by(lambda: sign_in(Client(), "nobody@nowhere.police.example.uk"))
    assert response.status_code == 200
    assert written == Counter({"auth.sign_in_failed": 1})
    assert last_event("auth.sign_in_failed").object_repr == "nobody@nowhere.police.example.uk"


@time_machine.travel(T0, tick=False)
def test_a_wrong_second_factor_code_writes_one_failed_event() -> None:
    user = make_user()
    client = Client(REMOTE_ADDR="203.0.113.51")
    assert sign_in(client, user.email)["Location"] == reverse("mfa_authenticate")
    right = totp_code(totp_secret_of(user))
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    response, written = written_by(lambda: client.post(reverse("mfa_authenticate"), {"code": wrong}))
    assert response.status_code == 200
    assert written == Counter({"auth.second_factor_failed": 1})
    event = last_event("auth.second_factor_failed")
    assert (event.object_id, event.ip, event.actor_id) == (str(user.pk), "203.0.113.51", None)
    assert event.changes == {"type": "totp", "reauthentication": False}
    assert wrong not in str(event.changes)


def test_a_sign_in_refused_by_the_cool_off_writes_one_event(settings: Any) -> None:
    per_minute = min((rate for rate in parse_rates(settings.ACCOUNT_RATE_LIMITS["login_failed"]) if rate.per == "ip"),
                     key=lambda rate: rate.duration)
    user = make_user()
    with time_machine.travel(T0, tick=False):
        client = Client(REMOTE_ADDR="203.0.113.9")
        _, written = written_by(lambda: [sign_in(client, user.email, "not the password") for _ in
                                         range(per_minute.amount)])
        assert written == Counter({"auth.sign_in_failed": per_minute.amount})
        response, written = written_by(lambda: sign_in(client, user.email))
        assert "Too many failed login attempts" in response.content.decode()
        assert written == Counter({"auth.sign_in_refused": 1})


# --- Access denials: one "access.denied" each, the same 404 as for nothing there ----------------------

def test_an_outsider_officer_on_a_case_page_is_one_denial_and_the_missing_page(production_site: Any) -> None:
    owner, outsider = approved_officer(), outsider_officer()
    colleague = approved_officer()  # same agency, not shared: refused like the outsider
    case = submit_case(owner)
    missing = reverse("cases:detail", args=["LEORS-NO-SUCH-CASE"])
    for stranger in (outsider.user, colleague.user):
        assert_refused_like_missing(signed_in_client(stranger), url=reverse("cases:detail", args=[case.reference]),
                                    missing_url=missing, obj=case, user=stranger, perm="cases.view_case")
    client = signed_in_client(owner.user)  # (signing in is audited itself)
    _, written = written_by(lambda: client.get(reverse("cases:detail", args=[case.reference])))
    assert written == Counter()  # the owner is not refused; viewing the page is not a state change


def test_an_outsider_posting_to_a_case_is_one_denial_naming_the_permission(production_site: Any) -> None:
    owner, outsider = approved_officer(), outsider_officer()
    case = submit_case(owner)
    assert_refused_like_missing(
        signed_in_client(outsider.user), method="post", data={"body": "Any news on this request?"},
        url=reverse("cases:message", args=[case.reference]),
        missing_url=reverse("cases:message", args=["LEORS-NO-SUCH-CASE"]),
        obj=case, user=outsider.user, perm="cases.respond_case")


def test_an_outsider_asking_for_a_case_document_is_one_denial(production_site: Any) -> None:
    owner, outsider = approved_officer(), outsider_officer()
    document = submit_case(owner).documents.get()
    assert_refused_like_missing(signed_in_client(outsider.user), url=reverse("cases:document", args=[document.pk]),
                                missing_url=reverse("cases:document", args=[document.pk + 10_000]),
                                obj=document, user=outsider.user, perm="cases.view_case")


def test_an_outsider_asking_for_a_production_is_one_denial(production_site: Any) -> None:
    owner, outsider, lead = approved_officer(), outsider_officer(), make_lead()
    case = accept_case(submit_case(owner), lead)
    production = upload_production(case, lead, release=True)
    assert_refused_like_missing(signed_in_client(outsider.user),
                                url=reverse("cases:production", args=[production.pk]),
                                missing_url=reverse("cases:production", args=[production.pk + 10_000]),
                                obj=production, user=outsider.user, perm="cases.view_case")


def test_the_owner_asking_for_an_unreleased_production_is_one_denial(production_site: Any) -> None:
    owner, lead = approved_officer(), make_lead()
    case = accept_case(submit_case(owner), lead)
    production = upload_production(case, lead, release=False)
    assert_refused_like_missing(signed_in_client(owner.user), url=reverse("cases:production", args=[production.pk]),
                                missing_url=reverse("cases:production", args=[production.pk + 10_000]),
                                obj=production, user=owner.user, perm="cases.view_production")


def _applicant(application: AccessApplication) -> User:
    user = application.applicant
    assert user is not None
    enrol_totp(user)  # past the second-factor gate, as a real applicant would be
    return fresh(user)


def test_another_applicant_asking_for_an_application_is_one_denial(production_site: Any) -> None:
    application = verified_application()
    stranger = _applicant(verified_application())
    assert_refused_like_missing(
        signed_in_client(stranger), url=reverse("portal:application_detail", args=[application.reference]),
        missing_url=reverse("portal:application_detail", args=["LEORS-APP-NO-SUCH"]),
        obj=application, user=stranger, perm="access.respond_accessapplication")


def test_another_applicant_asking_for_an_application_document_is_one_denial(production_site: Any) -> None:
    document = verified_application().documents.get()
    stranger = _applicant(verified_application())
    assert_refused_like_missing(
        signed_in_client(stranger), url=reverse("portal:application_document", args=[document.pk]),
        missing_url=reverse("portal:application_document", args=[document.pk + 10_000]),
        obj=document, user=stranger, perm="access.view_accessapplication")


def test_a_reviewer_not_assigned_on_the_admin_case_page_is_one_denial(production_site: Any) -> None:
    lead, assigned, other = make_lead(), make_reviewer(), make_reviewer()
    case = submit_case(approved_officer())
    signed_in_client(lead).post(workflow_url(case, "assign"), {"reviewer": assigned.pk})
    assert signed_in_client(fresh(assigned)).get(change_url(case)).status_code == 200
    client = signed_in_client(fresh(other))
    assert_refused_like_missing(client, url=change_url(case),
                                missing_url=reverse("admin:cases_case_change", args=[case.pk + 10_000]),
                                obj=case, user=other, perm="cases.view_case")
    assert_refused_like_missing(client, method="post", data=CHECKLIST_ALL, url=workflow_url(case, "checklist"),
                                missing_url=workflow_url(Case(pk=case.pk + 10_000), "checklist"),
                                obj=case, user=other, perm="cases.review_case")


def test_listing_is_not_a_refusal() -> None:
    owner, outsider = approved_officer(), outsider_officer()
    submit_case(owner)
    client = signed_in_client(outsider.user)
    _, written = written_by(lambda: client.get(reverse("cases:list")))
    assert written[DENIED] == 0


# --- Every document view or download: one event ---------------------------------------------------

def test_an_application_document_download_is_one_event() -> None:
    application = verified_application()
    owner = _applicant(application)
    document = application.documents.get()
    client = signed_in_client(owner)
    response, written = written_by(lambda: client.get(reverse("portal:application_document", args=[document.pk])))
    assert response.status_code == 200
    assert written == Counter({"document.downloaded": 1})
    assert last_event("document.downloaded").object_id == str(document.pk)


def test_a_case_document_download_is_one_event_for_the_officer_and_for_staff() -> None:
    officer, lead = approved_officer(), make_lead()
    document = submit_case(officer).documents.get()
    for user in (officer.user, lead):
        client = signed_in_client(user)
        response, written = written_by(lambda client=client: client.get(reverse("cases:document", args=[document.pk])))
        assert response.status_code == 200
        assert written == Counter({"document.downloaded": 1})
        assert last_event("document.downloaded").actor_id == user.pk


def test_a_production_download_is_one_event() -> None:
    officer, lead = approved_officer(), make_lead()
    production = upload_production(accept_case(submit_case(officer), lead), lead, release=True)
    client = signed_in_client(officer.user)
    response, written = written_by(lambda: client.get(reverse("cases:production", args=[production.pk])))
    assert response.status_code == 200
    assert written == Counter({"production.downloaded": 1})


def test_an_official_id_viewed_in_the_admin_is_one_event_and_a_stranger_one_denial(production_site: Any) -> None:
    cast = RecoveryCast()
    cast.accepted()
    official = cast.add_official()
    url = reverse("admin:cases_case_official_id", args=[official.pk])
    client = signed_in_client(fresh(cast.reviewer))
    response, written = written_by(lambda: client.get(url))
    assert response.status_code == 200
    assert written == Counter({"document.downloaded": 1})
    event = last_event("document.downloaded")
    assert (event.object_type, event.object_id) == ("cases.recoveryofficial", str(official.pk))

    # The official-id view asks for the case (the refusal is recorded on it).
    assert_refused_like_missing(signed_in_client(fresh(cast.other_reviewer)), url=url,
                                missing_url=reverse("admin:cases_case_official_id", args=[official.pk + 10_000]),
                                obj=cast.case, user=cast.other_reviewer, perm="cases.view_case")


# --- State changes through the views: one event of the expected action each ---------------------------

def test_officer_steps_through_the_portal_write_one_event_each() -> None:
    officer, colleague = approved_officer(), approved_officer()
    client = signed_in_client(officer.user)

    response, written = written_by(lambda: client.post(reverse("cases:new"), form_data(key=uuid.uuid4().hex)))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert written == Counter({"case.submitted": 1})
    case = Case.objects.get(submitted_by=officer.user)

    response, written = written_by(lambda: client.post(reverse("cases:message", args=[case.reference]),
                                                       {"body": "Any news on this request?"}))
    assert response.status_code == 302
    assert written == Counter({"case.message_posted": 1})

    response, written = written_by(lambda: client.post(reverse("cases:share", args=[case.reference]),
                                                       {"colleague_email": colleague.user.email}))
    assert response.status_code == 302
    assert written == Counter({"case.shared": 1})

    response, written = written_by(lambda: client.post(reverse("cases:withdraw", args=[case.reference])))
    assert response.status_code == 302
    assert written == Counter({"case.withdrawn": 1})

    # A refused step changes nothing and writes nothing.
    response, written = written_by(lambda: client.post(reverse("cases:withdraw", args=[case.reference])))
    assert response.status_code == 400
    assert written == Counter()


def test_staff_steps_through_the_admin_write_one_event_each() -> None:
    lead, reviewer = make_lead(), make_reviewer()
    case = submit_case(approved_officer())
    lead_client = signed_in_client(lead)

    response, written = written_by(lambda: lead_client.post(workflow_url(case, "assign"), {"reviewer": reviewer.pk}))
    assert response.status_code == 302
    assert written == Counter({"case.assigned": 1})

    client = signed_in_client(fresh(reviewer))
    response, written = written_by(lambda: client.post(workflow_url(case, "checklist"), CHECKLIST_ALL))
    assert response.status_code == 302
    assert written == Counter({"case.checklist_updated": 1})

    response, written = written_by(lambda: client.post(workflow_url(case, "verify"),
                                                       {"document": case.documents.get().pk}))
    assert response.status_code == 302
    assert written == Counter({"case.document_verified": 1})

    response, written = written_by(lambda: client.post(workflow_url(case, "decide"),
                                                       {"decision": "accepted", "reasons": REVIEW_REASONS}))
    assert response.status_code == 302
    assert written == Counter({"case.decided": 1})
    case.refresh_from_db()
    assert case.status == Case.Status.ACCEPTED


# --- Bulk paths: one event per thing changed ----------------------------------------------------------

def test_the_clocks_sweep_reminds_and_lifts_each_of_three_freezes_once() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        cast = ClockCast()
        freezes = [cast.freeze(10) for _ in range(3)]
        end = max(freeze.expires_at for freeze in freezes)

        traveller.move_to(end - timedelta(days=4))  # the 5-day reminder is due for each
        result, written = written_by(lambda: clocks.reminders_send_due(now=timezone.now()))
        assert result == 3
        assert written == Counter({"freeze.reminder_sent": 3})
        _, written = written_by(lambda: clocks.reminders_send_due(now=timezone.now()))
        assert written == Counter()

        traveller.move_to(end + timedelta(seconds=1))
        result, written = written_by(lambda: clocks.clocks_sweep(now=timezone.now()))
        assert result.freezes_lifted == 3
        assert written == Counter({"freeze.lifted": 3})
        _, written = written_by(lambda: clocks.clocks_sweep(now=timezone.now()))
        assert written == Counter()  # a second sweep owes nothing

    for freeze in freezes:
        freeze.refresh_from_db()
        assert freeze.status == Freeze.Status.LIFTED
        assert AuditEvent.objects.filter(action="freeze.lifted", object_id=str(freeze.case_id)).count() == 1


def test_a_suspension_holding_three_cases_writes_one_hold_per_case_and_one_suspension() -> None:
    lead = make_lead()
    officer = approved_officer(lead=lead)
    cases = [submit_case(officer) for _ in range(3)]
    url = reverse("admin:access_officer_suspend", args=[officer.pk])
    client = signed_in_client(fresh(lead))
    response, written = written_by(lambda: client.post(
        url, {"note": "The force says this person left in 2025; letterhead forged.", "referred_to": "NCA"}))
    assert response.status_code == 302
    assert written == Counter({"case.put_on_hold": 3, "officer.suspended": 1})
    for case in cases:
        assert AuditEvent.objects.filter(action="case.put_on_hold", object_id=str(case.pk)).count() == 1
    assert Officer.objects.get(pk=officer.pk).status == Officer.Status.SUSPENDED


# --- The trail itself: append-only on PostgreSQL -------------------------------------------------------

def test_the_application_connection_can_neither_edit_nor_delete_an_event() -> None:
    with transaction.atomic():
        for number in range(3):
            audit_record(actor=Actor.system(), action="test.event", object_type="test", object_id=str(number))
    events = list(AuditEvent.objects.order_by("id"))
    target = events[1]

    def save_changed() -> None:
        event = AuditEvent.objects.get(pk=target.pk)
        event.action = "test.rewritten"
        event.save()

    attempts: list[Callable[[], Any]] = [
        save_changed,
        lambda: AuditEvent.objects.filter(pk=target.pk).update(action="test.rewritten"),
        lambda: AuditEvent.objects.filter(pk=target.pk).delete(),
        lambda: AuditEvent.objects.get(pk=target.pk).delete(),
        lambda: connection.cursor().execute("UPDATE core_auditevent SET object_repr = 'x'", []),
        lambda: connection.cursor().execute("DELETE FROM core_auditevent WHERE id = %s", [target.pk]),
        lambda: connection.cursor().execute("TRUNCATE core_auditevent", []),
    ]
    for attempt in attempts:
        with pytest.raises(DatabaseError), transaction.atomic():
            attempt()
    assert list(AuditEvent.objects.order_by("id")) == events
    assert AuditEvent.objects.get(pk=target.pk).action == "test.event"
