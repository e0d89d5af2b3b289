"""R3 and R12 at service level: suspension for suspected impersonation puts the officer's live cases on
hold for a legal lead; only a lead lifts a hold; the list of staff who may contact agencies.

The cast (tests/cases/clock_cast.py): the officer, a legal lead, the reviewer the cases are assigned to;
plus another officer, an auditor and people who are not (or no longer) on the legal team.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cases.models import Case
from cases.services import correspondence, productions, review, suspension
from leors.access import selectors, services
from leors.access.models import AccessApplication, ImpersonationReferral, Officer, User
from leors.core.audit import Actor
from leors.core.errors import ActionRefused
from leors.core.models import AuditEvent
from leors.core.outbox import outbox_deliver_due
from tests.cases.clock_cast import ClockCast, fresh
from tests.conftest import signed_in_client
from tests.factories import (
    PASSWORD,
    accept_case,
    approved_officer,
    complete_checklist,
    four_eyes_release,
    make_auditor,
    make_lead,
    make_reviewer,
    make_user,
    submit_application,
    submit_case,
    verification_token,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOTE = "Forged court order sent from a hijacked police mailbox."
RELEASE_NOTE = "Called the force's switchboard: the officer and this request are genuine."


@pytest.fixture(autouse=True)
def _clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def officer_cases(cast: ClockCast) -> dict[str, Case]:
    """One case of the officer in every state a case can be in."""
    cases: dict[str, Case] = {"submitted": cast.preservation()}
    for name in ("in_review", "information_requested", "accepted", "partly_accepted", "declined", "withdrawn",
                 "closed"):
        cases[name] = cast.freeze_request(10)
    cast.assign(cases["in_review"])
    cast.assign(cases["information_requested"])
    review.case_request_information(case=cases["information_requested"], actor=cast.staff, now=timezone.now(),
                                    question="Send the order with the court's seal visible, please.")
    cast.decide(cases["accepted"])
    cast.decide(cases["partly_accepted"], Case.Decision.PARTLY_ACCEPT)
    cast.decide(cases["declined"], Case.Decision.DECLINE)
    cast.withdraw(cases["withdrawn"])
    cast.decide(cases["closed"], Case.Decision.DECLINE)
    review.case_close(case=cases["closed"], actor=cast.staff, now=timezone.now())
    cases["fulfilled"] = cast.freeze(5).case
    for name, case in cases.items():
        case.refresh_from_db()
        assert case.status == name, (case.status, name)
    return cases


def suspend(officer: Officer, actor: Actor, note: str = NOTE) -> ImpersonationReferral:
    return services.officer_suspend(officer=officer, note=note, referred_to="National Crime Agency", actor=actor,
                                    now=timezone.now())


# --- R3: suspension puts the officer's live cases on hold ------------------------------------------------

@pytest.mark.django_db
def test_r3_suspension_puts_open_and_accepted_cases_on_hold_but_not_finished_ones() -> None:
    cast = ClockCast()
    cases = officer_cases(cast)
    other_officer_case = submit_case(approved_officer(), now=timezone.now())

    with pytest.raises(ActionRefused):  # an auditor changes nothing
        suspend(cast.officer, Actor(user=make_auditor()))
    with pytest.raises(ValidationError) as refused:
        suspend(cast.officer, cast.staff, note="odd")
    assert "note" in refused.value.message_dict
    assert not Case.objects.filter(on_hold_at__isnull=False).exists()

    referral = suspend(cast.officer, cast.staff)
    assert (referral.note, referral.referred_to, referral.created_by) == (NOTE, "National Crime Agency", cast.reviewer)
    # Fulfilled and closed ones too: a freeze may still be in force, a production still downloadable (staff may close
    # a case within its productions' download window).
    live = {"submitted", "in_review", "information_requested", "accepted", "partly_accepted", "fulfilled", "closed"}
    for name, case in cases.items():
        case.refresh_from_db()
        if name in live:
            assert case.on_hold_at == T0, name
            assert case.on_hold_reason == f"Officer suspended on suspicion of impersonation: {NOTE}", name
        else:
            assert (case.on_hold_at, case.on_hold_reason) == (None, ""), name
        assert case.status == name  # held, not changed
    other_officer_case.refresh_from_db()
    assert other_officer_case.on_hold_at is None

    # Listed for the legal lead, and recorded in the suspension's audit event.
    assert {c.reference for c in Case.objects.filter(on_hold_at__isnull=False)} == {cases[n].reference for n in live}
    event = AuditEvent.objects.get(action="officer.suspended", object_id=str(cast.officer.pk))
    assert sorted(event.changes["cases_on_hold"]) == sorted(cases[n].reference for n in live)
    assert (event.changes["referral"], event.changes["note"]) == (referral.pk, NOTE)
    assert AuditEvent.objects.filter(action="case.put_on_hold").count() == len(live)
    # Suspended once.
    with pytest.raises(ActionRefused, match="already suspended"):
        suspend(cast.officer, Actor(user=fresh(cast.lead)))
    assert ImpersonationReferral.objects.filter(officer=cast.officer).count() == 1


@pytest.mark.django_db
def test_r3_a_case_on_hold_is_not_accepted_until_a_legal_lead_lifts_the_hold_once() -> None:
    cast = ClockCast()
    case = cast.freeze_request(10)
    cast.assign(case)
    suspend(cast.officer, Actor(user=fresh(cast.lead)))
    case.refresh_from_db()
    with pytest.raises(ActionRefused, match="on hold"):
        cast.decide(case)

    # Not the reviewer of the case, not another reviewer, not an auditor, not the officer.
    for someone in (cast.reviewer, make_reviewer(), make_auditor(), cast.officer.user):
        with pytest.raises(ActionRefused):
            suspension.case_hold_release(case=case, note=RELEASE_NOTE, actor=Actor(user=fresh(someone)),
                                         now=timezone.now())
    with pytest.raises(ValidationError) as refused:
        suspension.case_hold_release(case=case, note="  ok  ", actor=Actor(user=fresh(cast.lead)), now=timezone.now())
    assert "note" in refused.value.message_dict
    case.refresh_from_db()
    assert case.on_hold_at == T0

    released = suspension.case_hold_release(case=case, note=RELEASE_NOTE, actor=Actor(user=fresh(cast.lead)),
                                            now=timezone.now())
    assert (released.on_hold_at, released.on_hold_reason) == (None, "")
    with pytest.raises(ActionRefused, match="not on hold"):
        suspension.case_hold_release(case=case, note=RELEASE_NOTE, actor=Actor(user=fresh(make_lead())),
                                     now=timezone.now())
    events = AuditEvent.objects.filter(action="case.hold_released", object_id=str(case.pk))
    assert [e.changes["note"] for e in events] == [RELEASE_NOTE]
    assert cast.decide(case).status == Case.Status.ACCEPTED


@pytest.mark.django_db
def test_r3_a_case_on_hold_is_frozen_from_the_officers_view_until_a_lead_lifts_the_hold() -> None:
    """Colleagues it was shared with and the agency's supervisors neither see nor move a case on hold:
    a forged request must not go on through an accomplice's account while the legal team checks it."""
    cast = ClockCast()
    supervisor, colleague = approved_officer(), approved_officer()
    services.officer_supervisor_set(officer=supervisor, is_supervisor=True, actor=Actor(user=fresh(cast.lead)),
                                    now=timezone.now())
    case = submit_case(cast.officer)
    correspondence.case_share(case=case, colleague_email=colleague.user.email, actor=cast.as_officer,
                              now=timezone.now())
    cast.assign(case)
    review.case_request_information(case=case, question="Please send the signed warrant again.", actor=cast.staff,
                                    now=timezone.now())
    document = case.documents.first()
    assert document is not None
    supervisor_client, colleague_client = signed_in_client(fresh(supervisor.user)), signed_in_client(fresh(colleague.user))
    detail, download = reverse("cases:detail", args=[case.reference]), reverse("cases:document", args=[document.pk])
    assert supervisor_client.get(detail).status_code == 200  # before: the agency's supervisor sees it

    suspend(cast.officer, Actor(user=fresh(cast.lead)))
    for client in (supervisor_client, colleague_client):
        assert case.reference not in client.get(reverse("cases:list")).content.decode()
        assert client.get(detail).status_code == 404
        assert client.get(download).status_code == 404
    answer = colleague_client.post(reverse("cases:message", args=[case.reference]),
                                   {"body": "Here is the warrant again, as asked."})
    assert answer.status_code == 404
    case.refresh_from_db()
    assert case.status == Case.Status.INFORMATION_REQUESTED and not case.messages.filter(is_question=False).exists()
    assert AuditEvent.objects.filter(action="access.denied", object_id=str(case.pk)).exists()
    # The legal team goes on seeing it.
    assert signed_in_client(fresh(cast.lead)).get(f"/admin/cases/case/{case.pk}/change/").status_code == 200

    suspension.case_hold_release(case=case, note=RELEASE_NOTE, actor=Actor(user=fresh(cast.lead)), now=timezone.now())
    assert supervisor_client.get(detail).status_code == 200
    assert colleague_client.get(download).status_code == 200


# --- R12: who may contact agencies ------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("closed", [False, True], ids=["fulfilled", "closed"])
def test_r3_a_production_of_a_suspended_officers_case_reaches_no_colleague_or_supervisor(closed: bool) -> None:
    officer, colleague, supervisor, lead = approved_officer(), approved_officer(), approved_officer(), make_lead()
    assert officer.agency == colleague.agency == supervisor.agency
    services.officer_supervisor_set(officer=supervisor, is_supervisor=True, actor=Actor(user=lead), now=timezone.now())
    case = submit_case(officer)
    correspondence.case_share(case=case, colleague_email=colleague.user.email, actor=Actor(user=fresh(officer.user)),
                              now=timezone.now())
    accept_case(case, lead)
    production = productions.production_upload(case=case, upload=SimpleUploadedFile("kyc.csv", b"uid,name\nU-1,A\n"),
                                               description="KYC", actor=Actor(user=lead), now=timezone.now())
    production = four_eyes_release(production=production, actor=Actor(user=lead), now=timezone.now())
    review.case_fulfil(case=case, actor=Actor(user=lead), now=timezone.now())
    if closed:  # staff may close it at once; the production stays downloadable for its window
        review.case_close(case=case, actor=Actor(user=lead), now=timezone.now())
    for reader in (colleague, supervisor):
        assert signed_in_client(fresh(reader.user)).get(reverse("cases:production", args=[production.pk])).status_code == 200

    services.officer_suspend(officer=officer, note=NOTE, referred_to="", actor=Actor(user=lead), now=timezone.now())
    for reader in (colleague, supervisor):
        client = signed_in_client(fresh(reader.user))
        assert client.get(reverse("cases:production", args=[production.pk])).status_code == 404
        assert client.get(reverse("cases:detail", args=[case.reference])).status_code == 404


@pytest.mark.django_db
def test_r12_only_active_staff_with_a_full_name_are_listed_as_contacts() -> None:
    lead = Actor(user=make_lead())
    reviewer = make_reviewer(full_name="Jane Doe")
    listed = services.staff_contact_set(user=reviewer, may_contact=True, actor=lead, now=timezone.now())
    assert listed.may_contact_agencies

    nameless = make_reviewer()
    former = make_reviewer(full_name="Former Colleague", is_active=False)
    officer = approved_officer().user
    User.objects.filter(pk=officer.pk).update(full_name="Alex Officer")
    for user in (nameless, former, User.objects.get(pk=officer.pk)):
        with pytest.raises(ActionRefused, match="Only an active member of the legal team with a full name"):
            services.staff_contact_set(user=user, may_contact=True, actor=lead, now=timezone.now())
        user.refresh_from_db()
        assert not user.may_contact_agencies
    # Listing is a lead's decision: a reviewer or an auditor cannot list anyone (themselves included).
    for someone in (reviewer, make_auditor(full_name="Audit Person")):
        with pytest.raises(ActionRefused):
            services.staff_contact_set(user=someone, may_contact=False, actor=Actor(user=fresh(someone)),
                                       now=timezone.now())
    reviewer.refresh_from_db()
    assert reviewer.may_contact_agencies

    unlisted = services.staff_contact_set(user=reviewer, may_contact=False, actor=lead, now=timezone.now())
    assert not unlisted.may_contact_agencies
    events = AuditEvent.objects.filter(action="staff.contact_listing_set", object_id=str(reviewer.pk))
    assert [e.changes["may_contact_agencies"] for e in events.order_by("id")] == [True, False]


@pytest.mark.django_db
def test_r12_a_contact_s_name_is_found_only_among_listed_active_staff() -> None:
    lead = Actor(user=make_lead())
    jane = make_reviewer(full_name="Jane Doe")
    services.staff_contact_set(user=jane, may_contact=True, actor=lead, now=timezone.now())
    make_reviewer(full_name="John Roe")  # staff, but not listed
    impostor = make_user(full_name="Mark Smith", may_contact_agencies=True)  # not staff, whatever the flag says

    for spelling in ("Jane Doe", "  jane   DOE ", "JANE\tdoe"):
        assert selectors.staff_contact_named(name=spelling) == jane, spelling
    for name in ("Jane", "Jane Doe Smith", "John Roe", impostor.full_name, "", "   "):
        assert selectors.staff_contact_named(name=name) is None, name

    # Leaving the team ends it at once, listed or not.
    User.objects.filter(pk=jane.pk).update(is_active=False)
    assert selectors.staff_contact_named(name="Jane Doe") is None


# --- R3: a suspended account is never reopened by an unused verification link ------------------------------

ATTACKER_PASSWORD = "attacker chosen passphrase 991"
MAILBOX = "dana.detective@met.police.example.uk"


def second_link_left_unused(second: AccessApplication) -> None:
    """Verifying an application now withdraws the account's others awaiting verification; put one back as
    verification left it before (its link unused), to show that a suspension still closes such a link."""
    second.refresh_from_db()
    assert second.status == AccessApplication.Status.WITHDRAWN
    AccessApplication.objects.filter(pk=second.pk).update(status=AccessApplication.Status.EMAIL_UNVERIFIED,
                                                          decided_at=None)


def officer_with_a_second_unused_link(lead: User) -> tuple[Officer, AccessApplication]:
    """Two applications from one never-verified address (the first link was lost, say): each has its own
    link. The first is used, vetted and approved; the second link is still unused."""
    first = submit_application(official_email=MAILBOX)
    second = submit_application(official_email=MAILBOX)
    services.application_verify_email(token=verification_token(first), password=PASSWORD, actor=Actor(user=None),
                                      now=timezone.now())
    second_link_left_unused(second)
    first.refresh_from_db()
    complete_checklist(first, by=lead)
    officer = services.application_approve(application=first, actor=Actor(user=lead), now=timezone.now())
    second.refresh_from_db()
    assert second.status == AccessApplication.Status.EMAIL_UNVERIFIED
    return officer, second


def assert_account_stays_shut(officer: Officer, application: AccessApplication) -> None:
    account = User.objects.get(pk=officer.user_id)
    assert not account.is_active and not account.has_usable_password()
    assert not account.check_password(ATTACKER_PASSWORD)
    assert not AuditEvent.objects.filter(action="application.email_verified", object_id=str(application.pk)).exists()


@pytest.mark.django_db
def test_r3_suspension_withdraws_the_accounts_unused_verification_links() -> None:
    lead = make_lead()
    officer, pending = officer_with_a_second_unused_link(lead)

    suspend(officer, Actor(user=lead))

    pending.refresh_from_db()
    assert pending.status == AccessApplication.Status.WITHDRAWN and pending.decided_at == T0
    # The last withdrawal on its trail (the first was verification's, undone by second_link_left_unused).
    event = AuditEvent.objects.filter(action="application.withdrawn", object_id=str(pending.pk)).last()
    assert event is not None and event.actor == lead and "suspended" in event.changes["reason"]
    suspended = AuditEvent.objects.get(action="officer.suspended", object_id=str(officer.pk))
    assert suspended.changes["applications_withdrawn"] == [pending.reference]
    # Whoever holds the mailbox now (the impersonator) opens the link: refused, the account stays shut.
    link = reverse("portal:application_verify_email", args=[verification_token(pending)])
    response = Client().post(link, {"password1": ATTACKER_PASSWORD, "password2": ATTACKER_PASSWORD})
    assert response.status_code == 400 and "can no longer be used" in response.content.decode()
    assert_account_stays_shut(officer, pending)


@pytest.mark.django_db
def test_r3_a_verification_link_never_reopens_a_suspended_account() -> None:
    """Checked under the account's lock, whatever the application's state: here one left awaiting
    verification (as a suspension made before such links were withdrawn left it)."""
    lead = make_lead()
    officer, pending = officer_with_a_second_unused_link(lead)
    suspend(officer, Actor(user=lead))
    AccessApplication.objects.filter(pk=pending.pk).update(status=AccessApplication.Status.EMAIL_UNVERIFIED,
                                                           decided_at=None)
    token = verification_token(pending)
    link = reverse("portal:application_verify_email", args=[token])

    page = Client().get(link)
    assert page.status_code == 400
    assert "can no longer be used" in page.content.decode() and 'name="password1"' not in page.content.decode()
    response = Client().post(link, {"password1": ATTACKER_PASSWORD, "password2": ATTACKER_PASSWORD})
    assert response.status_code == 400 and "can no longer be used" in response.content.decode()
    with pytest.raises(ActionRefused, match="can no longer be used"):
        services.application_verify_email(token=token, password=ATTACKER_PASSWORD, actor=Actor(user=None),
                                          now=timezone.now())
    assert_account_stays_shut(officer, pending)
    pending.refresh_from_db()
    assert pending.status == AccessApplication.Status.EMAIL_UNVERIFIED and pending.email_verified_at is None


@pytest.mark.django_db
def test_r3_an_account_suspended_on_its_holders_report_loses_its_unused_links_too() -> None:
    """The applicant (not yet an officer) reports a sign-in that was not theirs."""
    first = submit_application(official_email=MAILBOX)
    second = submit_application(official_email=MAILBOX)
    services.application_verify_email(token=verification_token(first), password=PASSWORD, actor=Actor(user=None),
                                      now=timezone.now())
    second_link_left_unused(second)
    applicant = User.objects.get(pk=first.applicant_id)
    for user_agent in ("Firefox/140", "Chrome/150"):
        services.signin_device_record(user=applicant, ip="203.0.113.5", user_agent=user_agent, now=timezone.now())
    outbox_deliver_due(now=timezone.now())
    (message,) = [m for m in mail.outbox if "new sign-in" in m.subject]
    report = re.search(r"/sign-in-report/(\S+)/$", message.body, re.MULTILINE).group(1)  # type: ignore[union-attr]

    services.sign_in_report(token=report, actor=Actor(user=None), now=timezone.now())

    second.refresh_from_db()
    assert second.status == AccessApplication.Status.WITHDRAWN
    assert AuditEvent.objects.filter(action="application.withdrawn", object_id=str(second.pk)).count() == 2
    report = AuditEvent.objects.get(action="account.suspended_on_report", object_id=str(applicant.pk))
    # The verified one awaiting review goes too: nobody can be approved on a reported account.
    assert report.changes["applications_withdrawn"] == [first.reference, second.reference]
    with pytest.raises(ActionRefused, match="can no longer be used"):
        services.application_verify_email(token=verification_token(second), password=ATTACKER_PASSWORD,
                                          actor=Actor(user=None), now=timezone.now())
    applicant.refresh_from_db()
    assert not applicant.is_active and not applicant.check_password(ATTACKER_PASSWORD)


def applicant_in_the_queue(email: str, lead: User) -> tuple[AccessApplication, User]:
    """An applicant (not an officer yet) whose verified application is vetted, ready for a lead to approve."""
    application = submit_application(official_email=email)
    services.application_verify_email(token=verification_token(application), password=PASSWORD,
                                      actor=Actor(user=None), now=timezone.now())
    complete_checklist(application, by=lead, now=timezone.now())
    application.refresh_from_db()
    return application, User.objects.get(pk=application.applicant_id)


def sign_in_report_token(account: User) -> str:
    """The token of the "this was not me" link in the e-mail about a sign-in from an unseen device."""
    for user_agent in ("Firefox/140", "Chrome/150"):
        services.signin_device_record(user=account, ip="203.0.113.5", user_agent=user_agent, now=timezone.now())
    outbox_deliver_due(now=timezone.now())
    message = [m for m in mail.outbox if "new sign-in" in m.subject and account.email in m.to][-1]
    return re.search(r"/sign-in-report/(\S+)/$", message.body, re.MULTILINE).group(1)  # type: ignore[union-attr]


@pytest.mark.django_db
def test_r3_an_account_suspended_on_its_holders_report_withdraws_its_application_awaiting_review() -> None:
    lead = make_lead()
    application, applicant = applicant_in_the_queue("queued@met.police.example.uk", lead)

    services.sign_in_report(token=sign_in_report_token(applicant), actor=Actor(user=None), now=timezone.now())

    application.refresh_from_db()
    assert application.status == AccessApplication.Status.WITHDRAWN and application.decided_at == T0
    (event,) = AuditEvent.objects.filter(action="application.withdrawn", object_id=str(application.pk))
    assert event.changes["status"] == ["submitted", "withdrawn"]
    assert "suspended" in event.changes["reason"] and "cannot be approved" in event.changes["reason"]
    report = AuditEvent.objects.get(action="account.suspended_on_report", object_id=str(applicant.pk))
    assert report.changes["applications_withdrawn"] == [application.reference]
    with pytest.raises(ActionRefused):
        services.application_approve(application=application, actor=Actor(user=lead), now=timezone.now())
    assert not Officer.objects.filter(user=applicant).exists()


@pytest.mark.django_db
def test_r3_a_suspended_account_is_never_approved_even_with_its_application_still_in_the_queue() -> None:
    """As a report made before suspension withdrew the queue left it: the application awaits review, its
    account is suspended. The lead is refused, told why and what to do instead; nothing changes."""
    lead = make_lead()
    application, applicant = applicant_in_the_queue("left.queued@met.police.example.uk", lead)
    services.sign_in_report(token=sign_in_report_token(applicant), actor=Actor(user=None), now=timezone.now())
    AccessApplication.objects.filter(pk=application.pk).update(status=AccessApplication.Status.SUBMITTED,
                                                               decided_at=None)
    approve_url = reverse("admin:access_accessapplication_approve", args=[application.pk])

    response = signed_in_client(lead).post(approve_url, {})

    assert response.status_code == 400
    page = response.content.decode()
    assert "left.queued@met.police.example.uk) is suspended" in page and "reject the application" in page
    with pytest.raises(ActionRefused, match="is suspended"):
        services.application_approve(application=application, actor=Actor(user=lead), now=timezone.now())
    application.refresh_from_db()
    assert application.status == AccessApplication.Status.SUBMITTED
    assert not Officer.objects.filter(user=applicant).exists()
    assert not AuditEvent.objects.filter(action="application.approved").exists()
    # What the refusal says to do can be done.
    services.application_reject(application=application, reason="The account holder reported it was taken over.",
                                actor=Actor(user=lead), now=timezone.now())


@pytest.mark.django_db(transaction=True)
def test_r3_a_report_arriving_while_the_application_is_approved_suspends_the_new_officer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The holder reports the sign-in at the moment a lead approves: whichever comes first, the account ends
    suspended with no active officer on it. Here the approval has made the officer and not yet committed."""
    import threading

    from django.db import connection

    from leors.core import outbox

    monkeypatch.setattr(outbox, "schedule_delivery", lambda message_ids: None)  # no broker needed
    lead = make_lead()
    application, applicant = applicant_in_the_queue("racing@met.police.example.uk", lead)
    token = sign_in_report_token(applicant)
    officer_made, release = threading.Event(), threading.Event()
    audit_record = services.audit_record

    def audit_then_wait(**kwargs: object) -> object:
        result = audit_record(**kwargs)  # type: ignore[arg-type]
        if kwargs.get("action") == "officer.created":
            officer_made.set()
            release.wait(10)
        return result

    monkeypatch.setattr(services, "audit_record", audit_then_wait)
    outcome: dict[str, object] = {}

    def run(name: str, action: object) -> None:
        try:
            outcome[name] = action()  # type: ignore[operator]
        except Exception as error:  # surfaced by the assertions below
            outcome[name] = error
        finally:
            connection.close()  # this thread's own connection

    approving = threading.Thread(target=run, args=("approve", lambda: services.application_approve(
        application=application, actor=Actor(user=lead), now=timezone.now())))
    reporting = threading.Thread(target=run, args=("report", lambda: services.sign_in_report(
        token=token, actor=Actor(user=None), now=timezone.now())))
    approving.start()
    assert officer_made.wait(10)
    reporting.start()
    reporting.join(1.5)  # the report now waits for the account the approval holds
    release.set()
    approving.join(10)
    reporting.join(10)

    assert isinstance(outcome["approve"], Officer) and isinstance(outcome["report"], User), outcome
    officer = Officer.objects.get(user=applicant)
    assert officer.status == Officer.Status.SUSPENDED
    assert ImpersonationReferral.objects.filter(officer=officer).count() == 1
    assert not User.objects.get(pk=applicant.pk).is_active
