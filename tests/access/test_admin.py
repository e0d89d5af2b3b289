"""The staff workspace (Django admin): read-only pages, workflow pages that call the services (R1-R3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib import admin
from django.core import mail
from django.db import transaction
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from leors.access import services
from leors.access.models import AccessApplication, ImpersonationReferral, Officer, User
from leors.core.audit import Actor
from leors.core.models import AuditEvent, OutboxMessage
from leors.core.outbox import email_enqueue, outbox_deliver, outbox_deliver_due
from leors.core.webhooks import webhook_enqueue
from tests.conftest import signed_in_client
from tests.factories import (
    PASSWORD,
    approved_officer,
    complete_checklist,
    enrol_totp,
    make_auditor,
    make_lead,
    make_reviewer,
    verified_application,
)

CHANGELIST = reverse("admin:access_accessapplication_changelist")
APPLICATION_WORKFLOWS = ("assign", "checklist", "ask", "approve", "reject")
OFFICER_WORKFLOWS = ("suspend", "renew")


def change_url(application: AccessApplication) -> str:
    return reverse("admin:access_accessapplication_change", args=[application.pk])


def workflow_url(application: AccessApplication, name: str) -> str:
    return reverse(f"admin:access_accessapplication_{name}", args=[application.pk])


def officer_url(officer: Officer, name: str) -> str:
    return reverse(f"admin:access_officer_{name}", args=[officer.pk])


def assign(application: AccessApplication, *, reviewer: User, by: User) -> AccessApplication:
    return services.application_assign(application=application, reviewer=reviewer, actor=Actor(user=by),
                                       now=timezone.now())


def listed(client: Client, query: str = "") -> list[str]:
    response = client.get(CHANGELIST + query)
    assert response.status_code == 200
    return [application.reference for application in response.context["cl"].result_list]


def application_actions(application: AccessApplication) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_type="access.accessapplication", object_id=str(application.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )


def plausible_post(name: str, reviewer: User) -> dict[str, Any]:
    """Data that would succeed if the user were allowed, so a 404 proves the access check."""
    return {
        "assign": {"reviewer": reviewer.pk},
        "checklist": {"check_body_exists": "on", "supervisor_confirmed_with": "Chief Inspector R. Hale"},
        "ask": {"question": "Please send a copy of your warrant card."},
        "approve": {},
        "reject": {"reason": "The body named in the application does not exist."},
        "suspend": {"note": "The domain was registered last week by a private person.", "referred_to": "NCA"},
        "renew": {"note": "Confirmed by telephone with the force's switchboard."},
    }[name]


def superuser() -> User:
    user = User.objects.create_superuser(email="root@exchange.example", password="correct horse battery staple 42")
    enrol_totp(user)
    return User.objects.get(pk=user.pk)


# --- Who sees what -------------------------------------------------------------------------------

@pytest.mark.django_db
def test_r2_lead_sees_every_application_most_urgent_first() -> None:
    lead = make_lead()
    reviewer = make_reviewer()
    submitted_yesterday = verified_application(now=timezone.now() - timedelta(days=1))
    submitted_two_weeks_ago = verified_application(now=timezone.now() - timedelta(days=14))
    assign(submitted_yesterday, reviewer=reviewer, by=lead)

    # Created in the opposite order of urgency, so ordering by id would fail this.
    assert listed(signed_in_client(lead)) == [submitted_two_weeks_ago.reference, submitted_yesterday.reference]


@pytest.mark.django_db
def test_r1_reviewer_sees_only_the_application_assigned_to_them() -> None:
    lead = make_lead()
    reviewer, colleague = make_reviewer(), make_reviewer()
    outsider = approved_officer(lead=lead).user  # an officer, not staff
    mine = assign(verified_application(), reviewer=reviewer, by=lead)
    theirs = assign(
        verified_application(body_name="An Garda Síochána", country="IE", official_email="ana.garda@garda.example.ie"),
        reviewer=colleague, by=lead,
    )
    reviewer_client = signed_in_client(User.objects.get(pk=reviewer.pk))
    colleague_client = signed_in_client(User.objects.get(pk=colleague.pk))

    assert listed(reviewer_client) == [mine.reference]
    assert listed(colleague_client) == [theirs.reference]
    # The country filter offers only the countries of applications the reviewer can see.
    response = reviewer_client.get(CHANGELIST)
    country_filter = next(spec for spec in response.context["cl"].filter_specs if str(spec.title).lower() == "country")
    offered = [choice["display"] for choice in country_filter.choices(response.context["cl"])]
    assert "Ireland" not in offered
    assert "United Kingdom" in offered

    assert reviewer_client.get(change_url(mine)).status_code == 200
    assert reviewer_client.get(change_url(theirs)).status_code == 404
    assert colleague_client.get(change_url(mine)).status_code == 404
    assert reviewer_client.get(reverse("admin:access_accessapplication_history", args=[theirs.pk])).status_code == 404
    for name in APPLICATION_WORKFLOWS:
        assert reviewer_client.get(workflow_url(theirs, name)).status_code == 404, name
        assert reviewer_client.post(workflow_url(theirs, name), plausible_post(name, reviewer)).status_code == 404, name
    # A reviewer vets; assigning and deciding belong to leads, even on the reviewer's own application.
    assert reviewer_client.get(workflow_url(mine, "checklist")).status_code == 200
    assert reviewer_client.get(workflow_url(mine, "ask")).status_code == 200
    for name in ("assign", "approve", "reject"):
        assert reviewer_client.get(workflow_url(mine, name)).status_code == 404, name

    # The outsider never enters the staff workspace at all: it sends them to the admin login.
    outsider_client = signed_in_client(outsider)
    for url in (CHANGELIST, change_url(mine), *(workflow_url(mine, name) for name in APPLICATION_WORKFLOWS)):
        response = outsider_client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url
    response = outsider_client.post(workflow_url(mine, "approve"), {})
    assert response.status_code == 302

    theirs.refresh_from_db()
    mine.refresh_from_db()
    assert (mine.status, theirs.status) == (AccessApplication.Status.SUBMITTED, AccessApplication.Status.SUBMITTED)
    assert "application.information_requested" not in application_actions(theirs)


@pytest.mark.django_db
def test_r1_auditor_reads_everything_but_every_workflow_url_answers_404() -> None:
    lead, reviewer, auditor = make_lead(), make_reviewer(), make_auditor()
    officer = approved_officer(lead=lead)
    application = assign(verified_application(), reviewer=reviewer, by=lead)
    complete_checklist(application, by=reviewer)
    client = signed_in_client(auditor)

    assert set(listed(client)) == {application.reference, officer.application.reference}
    page = client.get(change_url(application))
    assert page.status_code == 200
    assert page.context["workflow_actions"] == []
    assert "workflow-approve" not in page.content.decode()
    assert "application.checklist_updated" in page.content.decode()  # the audit history is readable
    assert client.get(reverse("admin:access_officer_change", args=[officer.pk])).status_code == 200
    assert client.get(reverse("admin:core_auditevent_changelist")).status_code == 200
    # Every account too, officers' and staff's alike (the audit trail names them), and nothing secret.
    users = client.get(reverse("admin:access_user_changelist"))
    assert {officer.user.email, reviewer.email, lead.email} <= {u.email for u in users.context["cl"].result_list}
    account = client.get(reverse("admin:access_user_change", args=[officer.user_id]))
    assert account.status_code == 200 and account.context["workflow_actions"] == []
    assert officer.user.password not in account.content.decode()
    assert {p.split(".")[1].split("_")[0] for p in auditor.get_all_permissions()} == {"view"}  # reads, never acts

    events, mails = AuditEvent.objects.exclude(action="access.denied").count(), OutboxMessage.objects.count()
    for name in APPLICATION_WORKFLOWS:
        assert client.get(workflow_url(application, name)).status_code == 404, name
        assert client.post(workflow_url(application, name), plausible_post(name, reviewer)).status_code == 404, name
    for name in OFFICER_WORKFLOWS:
        assert client.get(officer_url(officer, name)).status_code == 404, name
        assert client.post(officer_url(officer, name), plausible_post(name, reviewer)).status_code == 404, name
    # The read-only change page refuses a POST outright.
    assert client.post(change_url(application), {"status": "approved"}).status_code == 403

    application.refresh_from_db()
    officer.refresh_from_db()
    assert application.status == AccessApplication.Status.SUBMITTED
    assert officer.status == Officer.Status.ACTIVE
    assert (AuditEvent.objects.exclude(action="access.denied").count(), OutboxMessage.objects.count()) == (events, mails)


@pytest.mark.django_db
def test_r1_change_page_shows_documents_thread_checklist_and_only_the_allowed_buttons() -> None:
    lead, reviewer = make_lead(), make_reviewer()
    application = assign(verified_application(), reviewer=reviewer, by=lead)
    services.application_request_information(
        application=application, question="Which unit do you serve in?", actor=Actor(user=reviewer), now=timezone.now()
    )
    document = application.documents.get()

    page = signed_in_client(lead).get(change_url(application))
    content = page.content.decode()
    download = reverse("portal:application_document", args=[document.pk])
    assert download in content
    assert document.sha256 in content
    assert "Which unit do you serve in?" in content
    assert "application.information_requested" in content
    assert [action["name"] for action in page.context["workflow_actions"]] == list(APPLICATION_WORKFLOWS)

    reviewer_page = signed_in_client(User.objects.get(pk=reviewer.pk)).get(change_url(application))
    assert [action["name"] for action in reviewer_page.context["workflow_actions"]] == ["checklist", "ask"]

    # The link leads to the existing audited download view.
    lead_client = signed_in_client(lead)
    assert lead_client.get(download).status_code == 200
    assert AuditEvent.objects.filter(action="document.downloaded", object_id=str(document.pk)).count() == 1


@pytest.mark.django_db
def test_r1_domain_column_flags_a_domain_not_yet_confirmed_for_the_agency() -> None:
    lead = make_lead()
    approved_officer(lead=lead)  # confirms met.police.example.uk for the Metropolitan Police Service
    known = verified_application()
    new = verified_application(official_email="someone@met-police-service.example.com")

    response = signed_in_client(lead).get(CHANGELIST)
    model_admin = response.context["cl"].model_admin
    shown = {row.reference: model_admin.domain_known(row) for row in response.context["cl"].result_list}
    assert shown[known.reference] == "known"
    assert shown[new.reference] == "NEW – check"
    assert "NEW – check" in response.content.decode()


# --- The workflow pages ----------------------------------------------------------------------------

@pytest.mark.django_db
def test_r1_assign_checklist_ask_answer_approve_through_the_admin() -> None:
    lead, reviewer = make_lead(), make_reviewer()
    application = verified_application(now=timezone.now() - timedelta(hours=3))  # before the supervisor was called
    lead_client = signed_in_client(lead)

    response = lead_client.post(workflow_url(application, "assign"), {"reviewer": reviewer.pk})
    assert response.status_code == 302
    assert response["Location"] == change_url(application)
    application.refresh_from_db()
    assert application.assigned_to == reviewer

    reviewer_client = signed_in_client(User.objects.get(pk=reviewer.pk))
    confirmed_at = timezone.now() - timedelta(hours=2)
    response = reviewer_client.post(workflow_url(application, "checklist"), {
        "check_body_exists": "on",
        "check_domain_belongs": "on",
        "supervisor_confirmed_with": "Chief Inspector R. Hale",
        "supervisor_confirmation_method": AccessApplication.ConfirmationMethod.PHONE,
        "supervisor_contact_source": "Switchboard number on the force's official website",
        "supervisor_confirmed_at": confirmed_at.strftime("%Y-%m-%dT%H:%M"),  # the reviewer's zone is UTC
    })
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.is_checklist_complete
    assert application.checklist_updated_by == reviewer
    assert application.supervisor_confirmed_at == confirmed_at.replace(second=0, microsecond=0)

    response = reviewer_client.post(workflow_url(application, "ask"), {"question": "Please send your warrant card."})
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == AccessApplication.Status.INFORMATION_REQUESTED

    services.application_answer(application=application, answer="Attached to my e-mail of today.",
                                actor=Actor(user=application.applicant), now=timezone.now())

    response = lead_client.post(workflow_url(application, "approve"), {})
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == AccessApplication.Status.APPROVED
    assert application.decided_by == lead
    assert Officer.objects.get(user=application.applicant).agency.name == application.body_name

    assert application_actions(application) == [
        "application.submitted",
        "application.email_verified",
        "application.assigned",
        "application.checklist_updated",
        "application.information_requested",
        "application.answered",
        "application.approved",
    ]
    actors = dict(
        AuditEvent.objects.filter(object_id=str(application.pk), object_type="access.accessapplication")
        .values_list("action", "actor_label")
    )
    assert actors["application.assigned"] == lead.email
    assert actors["application.checklist_updated"] == reviewer.email
    assert actors["application.approved"] == lead.email
    # Once decided, no workflow button is offered any more.
    assert lead_client.get(change_url(application)).context["workflow_actions"] == []


@pytest.mark.django_db
def test_r1_approve_is_refused_with_a_clear_message_when_the_checklist_is_incomplete() -> None:
    lead = make_lead()
    application = verified_application()
    client = signed_in_client(lead)

    assert client.get(workflow_url(application, "approve")).status_code == 200
    response = client.post(workflow_url(application, "approve"), {})

    assert response.status_code == 400
    assert "Complete the checklist first" in response.content.decode()
    application.refresh_from_db()
    assert application.status == AccessApplication.Status.SUBMITTED
    assert not Officer.objects.filter(user=application.applicant).exists()
    assert "application.approved" not in application_actions(application)


@pytest.mark.django_db
def test_r1_reject_without_a_reason_rerenders_with_the_error_and_keeps_the_input() -> None:
    lead = make_lead()
    application = verified_application()
    client = signed_in_client(lead)

    response = client.post(workflow_url(application, "reject"), {"reason": ""})
    assert response.status_code == 400
    assert "Give the applicant a reason" in response.context["form"].errors["reason"][0]

    response = client.post(workflow_url(application, "reject"), {"reason": "Too vague"})
    assert response.status_code == 400
    assert "Too vague</textarea>" in response.content.decode()
    application.refresh_from_db()
    assert application.status == AccessApplication.Status.SUBMITTED
    assert application.decision_reason == ""

    response = client.post(workflow_url(application, "reject"), {"reason": "The body named does not exist."})
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == AccessApplication.Status.REJECTED
    assert application.decision_reason == "The body named does not exist."


@pytest.mark.django_db
def test_r1_checklist_in_the_future_is_refused_on_its_field_and_keeps_the_rest() -> None:
    lead = make_lead()
    application = verified_application()
    future = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")

    response = signed_in_client(lead).post(workflow_url(application, "checklist"), {
        "check_body_exists": "on",
        "supervisor_confirmed_with": "Chief Inspector R. Hale",
        "supervisor_confirmed_at": future,
    })

    assert response.status_code == 400
    assert "cannot be in the future" in response.context["form"].errors["supervisor_confirmed_at"][0]
    content = response.content.decode()
    assert 'value="Chief Inspector R. Hale"' in content
    assert f'value="{future}"' in content
    application.refresh_from_db()
    assert not application.check_body_exists
    assert "application.checklist_updated" not in application_actions(application)


@pytest.mark.django_db
def test_r1_a_supervisor_confirmation_cannot_predate_the_application_and_the_refusal_shows_the_viewer_s_time() -> None:
    lead = make_lead(time_zone="Asia/Tokyo")
    with time_machine.travel(datetime(2026, 6, 3, 9, 0, 30, tzinfo=UTC), tick=False):
        application = verified_application()  # made at 18:00:30 in Tokyo
        client = signed_in_client(lead)
        checklist = {"check_body_exists": "on", "check_domain_belongs": "on",
                     "supervisor_confirmed_with": "Chief Inspector R. Hale", "supervisor_confirmation_method": "phone",
                     "supervisor_contact_source": "Switchboard on the official website"}

        response = client.post(workflow_url(application, "checklist"),
                               {**checklist, "supervisor_confirmed_at": "2026-06-02T18:00"})

        assert response.status_code == 400
        assert response.context["form"].errors["supervisor_confirmed_at"] == [
            "The confirmation cannot be before the application was made (3 June 2026 at 18:00 (JST)): check the date."]
        assert 'value="2026-06-02T18:00"' in response.content.decode()
        application.refresh_from_db()
        assert application.supervisor_confirmed_at is None
        # Typed to the minute, the minute the application was made in is not before it.
        response = client.post(workflow_url(application, "checklist"),
                               {**checklist, "supervisor_confirmed_at": "2026-06-03T18:00"})
        assert response.status_code == 302
        application.refresh_from_db()
        assert application.supervisor_confirmed_at == datetime(2026, 6, 3, 9, 0, tzinfo=UTC)


@pytest.mark.django_db
@pytest.mark.parametrize(("zone", "typed", "refusal"), [
    # East of UTC, year 1 becomes a moment before year 1 in UTC: stored, but never readable again.
    ("Asia/Tokyo", "0001-01-01T00:00", "The time of the supervisor's confirmation cannot be before 1 January 2000"),
    # West of UTC, year 9999 overflows the conversion to UTC.
    ("America/Los_Angeles", "9999-12-31T23:59", "The time of the supervisor's confirmation cannot be after"),
])
def test_r1_an_out_of_range_checklist_time_is_refused_on_its_field_and_the_application_still_opens(
        zone: str, typed: str, refusal: str) -> None:
    lead = make_lead(time_zone=zone)
    application = verified_application()
    client = signed_in_client(lead)

    response = client.post(workflow_url(application, "checklist"), {
        "check_body_exists": "on", "check_domain_belongs": "on",
        "supervisor_confirmed_with": "Chief Inspector R. Hale", "supervisor_confirmation_method": "phone",
        "supervisor_contact_source": "Switchboard on the official website", "supervisor_confirmed_at": typed,
    })

    assert response.status_code == 400
    assert refusal in response.context["form"].errors["supervisor_confirmed_at"][0]
    assert f'value="{typed}"' in response.content.decode()
    application.refresh_from_db()
    assert application.supervisor_confirmed_at is None and not application.check_body_exists
    assert client.get(change_url(application)).status_code == 200


@pytest.mark.django_db
def test_r1_a_refused_transition_answers_400_not_500() -> None:
    lead = make_lead()
    reviewer = make_reviewer()
    application = verified_application()
    services.application_reject(application=application, reason="The body named does not exist.",
                                actor=Actor(user=lead), now=timezone.now())
    client = signed_in_client(lead)

    response = client.post(workflow_url(application, "assign"), {"reviewer": reviewer.pk})
    assert response.status_code == 400
    assert "Only an application awaiting review can be assigned." in response.content.decode()
    response = client.post(workflow_url(application, "ask"), {"question": "Anything?"})
    assert response.status_code == 400
    assert "Questions can only be asked while the application awaits review." in response.content.decode()


# --- Officers (R3) -----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_r3_suspend_through_the_admin_ends_the_officers_session_and_records_a_referral() -> None:
    lead, reviewer = make_lead(), make_reviewer()
    officer = approved_officer(lead=lead)
    officer_client = signed_in_client(officer.user)
    assert officer_client.get(reverse("portal:home")).wsgi_request.user.pk == officer.user.pk

    staff_client = signed_in_client(reviewer)  # reviewers may suspend, as leads may
    response = staff_client.post(officer_url(officer, "suspend"), {
        "note": "The domain was registered last week by a private person.",
        "referred_to": "National Crime Agency",
    })

    assert response.status_code == 302
    officer.refresh_from_db()
    assert officer.status == Officer.Status.SUSPENDED
    referral = ImpersonationReferral.objects.get(officer=officer)
    assert (referral.created_by, referral.referred_to) == (reviewer, "National Crime Agency")
    assert AuditEvent.objects.filter(action="officer.suspended", object_id=str(officer.pk)).count() == 1

    # The officer's open session is over: anonymous at once, and sent to sign in.
    assert officer_client.get(reverse("portal:home")).wsgi_request.user.is_anonymous
    detail = officer_client.get(reverse("portal:application_detail", args=[officer.application.reference]))
    assert detail.status_code == 302
    assert detail["Location"].startswith(reverse("account_login"))

    page = staff_client.get(reverse("admin:access_officer_change", args=[officer.pk]))
    assert "The domain was registered last week by a private person." in page.content.decode()
    assert "officer.suspended" in page.content.decode()
    assert page.context["workflow_actions"] == []


@pytest.mark.django_db
def test_r3_suspend_without_a_note_is_refused_and_changes_nothing() -> None:
    lead = make_lead()
    officer = approved_officer(lead=lead)

    response = signed_in_client(lead).post(officer_url(officer, "suspend"), {"note": "", "referred_to": "NCA"})

    assert response.status_code == 400
    assert "Say why the account is suspected" in response.context["form"].errors["note"][0]
    assert 'value="NCA"' in response.content.decode()
    officer.refresh_from_db()
    assert officer.status == Officer.Status.ACTIVE
    assert not ImpersonationReferral.objects.filter(officer=officer).exists()


@pytest.mark.django_db
def test_r3_only_a_lead_renews_an_officers_access() -> None:
    lead, reviewer = make_lead(), make_reviewer()
    now = timezone.now()
    officer = approved_officer(lead=lead, now=now - timedelta(days=300))
    before = officer.access_expires_at

    reviewer_client = signed_in_client(reviewer)
    assert reviewer_client.get(officer_url(officer, "renew")).status_code == 404
    actions = reviewer_client.get(reverse("admin:access_officer_change", args=[officer.pk])).context["workflow_actions"]
    assert [action["name"] for action in actions] == ["suspend"]

    response = signed_in_client(lead).post(officer_url(officer, "renew"), plausible_post("renew", reviewer))
    assert response.status_code == 302
    officer.refresh_from_db()
    assert officer.access_expires_at > before + timedelta(days=299)
    assert AuditEvent.objects.filter(action="officer.access_renewed", object_id=str(officer.pk)).count() == 1


# --- R2: the review clock --------------------------------------------------------------------------

@pytest.mark.django_db
def test_r2_review_clock_filter_moves_an_application_from_not_yet_due_to_due_soon_to_overdue() -> None:
    submitted = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    with time_machine.travel(submitted, tick=False):
        lead = make_lead()
        application = verified_application()
        closed = verified_application()
        services.application_reject(application=closed, reason="The body named does not exist.",
                                    actor=Actor(user=lead), now=timezone.now())
    assert application.review_window_opens_at is not None and application.review_due_at is not None

    def clock() -> dict[str, list[str]]:
        client = signed_in_client(lead)  # signed in at the travelled time, so the session is fresh
        return {bucket: listed(client, f"?review_clock={bucket}") for bucket in ("not_yet_due", "due_soon", "overdue")}

    with time_machine.travel(application.review_window_opens_at - timedelta(seconds=1), tick=False):
        assert clock() == {"not_yet_due": [application.reference], "due_soon": [], "overdue": []}
    with time_machine.travel(application.review_window_opens_at, tick=False):
        assert clock() == {"not_yet_due": [], "due_soon": [application.reference], "overdue": []}
        assert "Due soon" in signed_in_client(lead).get(CHANGELIST).content.decode()
    with time_machine.travel(application.review_due_at, tick=False):
        # The rejected application is long past its due time too, but it is closed.
        assert clock() == {"not_yet_due": [], "due_soon": [], "overdue": [application.reference]}
        page = signed_in_client(lead).get(CHANGELIST).content.decode()
        assert '<td class="field-review_clock">Overdue</td>' in page


# --- Read-only everywhere ------------------------------------------------------------------------------

@pytest.mark.django_db
def test_admins_offer_no_add_change_delete_or_bulk_action_even_to_a_superuser() -> None:
    root = superuser()
    request = RequestFactory().get("/admin/")
    request.user = root
    mine = ("access", "core")
    registered = [model_admin for model, model_admin in admin.site._registry.items() if model._meta.app_label in mine]
    assert len(registered) == 7
    for model_admin in registered:
        name = type(model_admin).__name__
        # The one bulk action: the outbox's re-queue of failed e-mails, through its audited service.
        expected = {"requeue_failed_emails"} if model_admin.model is OutboxMessage else set()
        assert set(model_admin.get_actions(request)) == expected, name
        assert not model_admin.has_add_permission(request), name
        assert not model_admin.has_change_permission(request), name
        assert not model_admin.has_delete_permission(request), name

    lead = make_lead()
    application = verified_application()
    event = AuditEvent.objects.filter(object_id=str(application.pk)).first()
    assert event is not None
    client = signed_in_client(root)
    assert client.get(reverse("admin:access_accessapplication_add")).status_code == 403
    assert client.post(reverse("admin:access_accessapplication_delete", args=[application.pk]), {"post": "yes"}
                       ).status_code == 403
    assert 'name="action"' not in client.get(CHANGELIST).content.decode()
    assert client.post(reverse("admin:core_auditevent_change", args=[event.pk]), {"action": "x"}).status_code == 403
    assert client.post(reverse("admin:core_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    assert AccessApplication.objects.filter(pk=application.pk).exists()
    assert AuditEvent.objects.get(pk=event.pk).action == event.action
    assert signed_in_client(lead).get(reverse("admin:access_accessapplication_add")).status_code == 403


@pytest.mark.django_db
def test_r12_outbox_admin_never_shows_an_email_body() -> None:
    auditor = make_auditor()
    verified_application()
    outbox_deliver_due(now=timezone.now())  # e-mails are rendered, with their code, when delivered
    message = OutboxMessage.objects.filter(body__contains="Verification code:").first()
    assert message is not None
    code_line = next(line for line in message.body.splitlines() if "Verification code:" in line)

    client = signed_in_client(auditor)
    listing = client.get(reverse("admin:core_outboxmessage_changelist"))
    page = client.get(reverse("admin:core_outboxmessage_change", args=[message.pk]))

    assert listing.status_code == page.status_code == 200
    assert message.recipient in page.content.decode()
    assert code_line not in listing.content.decode()
    assert code_line not in page.content.decode()


class _RefusingRelay:
    """A mail relay that refuses every connection (an e-mail backend, named in settings)."""

    def __init__(self, **_: Any) -> None:
        pass

    def send_messages(self, email_messages: Any) -> int:
        raise ConnectionRefusedError("mail relay refused the connection")


@pytest.mark.django_db
def test_a_lead_queues_a_failed_email_again_audited_and_an_auditor_cannot(settings: Any) -> None:
    """E-mails given up as failed are listed for staff and can be queued again, each re-queue audited; failing
    webhooks (never given up) are listed too. The auditor reads the lists and is offered no action."""
    lead, auditor, reviewer = make_lead(), make_auditor(), make_reviewer()
    settings.LEORS_OUTBOX_MAX_ATTEMPTS = 1
    settings.EMAIL_BACKEND = f"{__name__}._RefusingRelay"
    settings.LEORS_EXCHANGE_WEBHOOK_URL = "http://127.0.0.1:9/unreachable"
    settings.LEORS_EXCHANGE_WEBHOOK_SECRET = "w" * 40
    now = timezone.now()
    with transaction.atomic():
        email = email_enqueue(key="requeue:1", to="officer@zephyr.police.example.uk", template="application_update",
                              reference="LEORS-APP-2026-000001", link_path="/applications/", now=now)
        webhook = webhook_enqueue(event="freeze.lifted", key="requeue:2", data={}, now=now)
    assert webhook is not None
    outbox_deliver(message_id=email.pk, now=now)
    outbox_deliver(message_id=webhook.pk, now=now)
    email.refresh_from_db()
    webhook.refresh_from_db()
    assert (email.status, webhook.status, webhook.attempts) == ("failed", "pending", 1)  # a webhook never gives up
    rendered = email.body
    listing = reverse("admin:core_outboxmessage_changelist")

    auditor_client = signed_in_client(auditor)
    given_up = auditor_client.get(f"{listing}?delivery=given_up").content.decode()
    failing = auditor_client.get(f"{listing}?delivery=failing").content.decode()
    assert "requeue:1" not in failing and "officer@zephyr.police.example.uk" in given_up
    assert "127.0.0.1:9/unreachable" in failing and "127.0.0.1:9/unreachable" not in given_up
    assert "ConnectionRefusedError" in given_up  # the last error, for staff to act on
    assert 'name="action"' not in given_up  # nothing to do for an auditor
    action = {"action": "requeue_failed_emails", "_selected_action": [email.pk, webhook.pk]}
    auditor_client.post(listing, action)
    assert OutboxMessage.objects.get(pk=email.pk).status == "failed"
    assert signed_in_client(reviewer).post(listing, action).status_code in (302, 403)
    assert OutboxMessage.objects.get(pk=email.pk).status == "failed"
    assert not AuditEvent.objects.filter(action="outbox.requeued").exists()

    lead_client = signed_in_client(lead)
    assert "requeue_failed_emails" in lead_client.get(f"{listing}?delivery=given_up").content.decode()
    assert "delete_selected" not in lead_client.get(listing).content.decode()
    assert lead_client.post(listing, action).status_code == 302
    email.refresh_from_db()
    webhook.refresh_from_db()
    assert (email.status, email.attempts, email.body) == ("pending", 0, rendered)  # the same e-mail, the same code
    assert (webhook.status, webhook.attempts) == ("pending", 1)  # untouched: it is retried anyway
    [event] = AuditEvent.objects.filter(action="outbox.requeued")
    assert (event.actor_id, event.object_id) == (lead.pk, str(email.pk))
    assert event.changes["attempts"] == 1 and "ConnectionRefusedError" in event.changes["last_error"]
    assert lead_client.post(listing, action).status_code == 302  # again: nothing left to re-queue
    assert AuditEvent.objects.filter(action="outbox.requeued").count() == 1

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert outbox_deliver(message_id=email.pk, now=timezone.now())
    assert mail.outbox[-1].body == rendered


@pytest.mark.django_db
def test_user_admin_is_a_read_only_list_without_password_hashes() -> None:
    root = superuser()
    lead = make_lead()
    client = signed_in_client(root)

    listing = client.get(reverse("admin:access_user_changelist"))
    page = client.get(reverse("admin:access_user_change", args=[lead.pk]))

    assert listing.status_code == page.status_code == 200
    assert lead.email in listing.content.decode()
    assert services.GROUP_LEGAL_LEAD in listing.content.decode()
    assert lead.password not in page.content.decode()
    assert client.post(reverse("admin:access_user_change", args=[lead.pk]), {"is_staff": ""}).status_code == 403
    assert User.objects.get(pk=lead.pk).is_staff


@pytest.mark.django_db
def test_r12_staff_password_changes_only_through_allauth_and_every_change_is_audited() -> None:
    """Django's admin password form asks for no re-authentication, has no rate limit and sends no
    allauth signal, so it would change a staff password with no audit event. Its pages only point to
    allauth's; the header links there."""
    lead = make_lead()
    client = signed_in_client(lead)
    new = "an entirely new passphrase 77"
    allauth_page = reverse("account_change_password")

    for url in (reverse("admin:password_change"), reverse("admin:password_change_done")):
        response = client.post(url, {"old_password": PASSWORD, "new_password1": new, "new_password2": new})
        assert (response.status_code, response["Location"]) == (302, allauth_page), url
        assert client.get(url)["Location"] == allauth_page, url
    lead.refresh_from_db()
    assert lead.check_password(PASSWORD) and not lead.check_password(new)
    assert not AuditEvent.objects.filter(object_id=str(lead.pk), action__startswith="auth.password").exists()

    header = client.get(reverse("admin:index")).content.decode()
    assert f'href="{allauth_page}"' in header
    assert f'href="{reverse("admin:password_change")}"' not in header

    # The page the header links to changes the password, and the change is audited.
    response = client.post(allauth_page, {"oldpassword": PASSWORD, "password1": new, "password2": new})
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.check_password(new)
    assert AuditEvent.objects.filter(object_type="access.user", object_id=str(lead.pk),
                                     action="auth.password_changed").count() == 1
