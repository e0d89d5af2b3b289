"""The staff workspace for cases (Django admin): a read-only queue and case page, and workflow
pages that call the review, correspondence and production services (R4, R5, R6, R10)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from cases import selectors
from cases.admin import CaseAdmin
from cases.models import Case, CaseDocument, CaseMessage, Production
from cases.services import correspondence, review
from cases.services.intake import IdentifierInput
from leors.access.models import Officer, User
from leors.core.audit import Actor
from leors.core.models import AuditEvent, OutboxMessage
from tests.conftest import signed_in_client
from tests.documents import ENGLISH_WARRANT, GERMAN_ORDER, pdf_with_text, scanned_pdf
from tests.factories import (
    approved_officer,
    document_input,
    enrol_totp,
    make_auditor,
    make_lead,
    make_reviewer,
    submit_case,
)

CHANGELIST = reverse("admin:cases_case_changelist")
CASE_WORKFLOWS = (
    "assign", "checklist", "ask", "message", "verify", "language", "decide", "notification", "upload", "release",
    "fulfil", "close", "confirm", "approvals", "release_hold", "official_add", "official_check", "official_confirm",
    "instructions", "return",
)
REVIEW_REASONS = "The warrant of the Crown Court covers the account and the period requested."
CHECKLIST_ALL = {
    "check_issuing_authority": "on", "check_jurisdiction": "on", "check_signature_or_seal": "on",
    "check_dates": "on", "check_subject_identifiers": "on", "check_scope": "on",
}


def change_url(case: Case) -> str:
    return reverse("admin:cases_case_change", args=[case.pk])


def workflow_url(case: Case, name: str) -> str:
    return reverse(f"admin:cases_case_{name}", args=[case.pk])


def officer_url(officer: Officer, name: str) -> str:
    return reverse(f"admin:access_officer_{name}", args=[officer.pk])


def assign(case: Case, *, reviewer: User, by: User) -> Case:
    return review.case_assign(case=case, reviewer=reviewer, actor=Actor(user=by), now=timezone.now())


def listed(client: Client, query: dict[str, str] | None = None) -> list[str]:
    response = client.get(CHANGELIST, query or {})
    assert response.status_code == 200
    return [case.reference for case in response.context["cl"].result_list]


# The queue's language column (R4), as the admin's sort parameter names it: its place in list_display.
LANGUAGE_COLUMN = str(CaseAdmin.list_display.index("language_check"))


def language_column(client: Client, query: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """The queue's rows in order, each with what its language column shows."""
    response = client.get(CHANGELIST, query or {})
    assert response.status_code == 200
    model_admin = response.context["cl"].model_admin
    return [(case.reference, model_admin.language_check(case)) for case in response.context["cl"].result_list]


def country_choices(client: Client) -> list[str]:
    """What the queue's country filter offers this user."""
    response = client.get(CHANGELIST)
    changelist = response.context["cl"]
    country_filter = next(spec for spec in changelist.filter_specs if "country" in str(spec.title).lower())
    return [str(choice["display"]) for choice in country_filter.choices(changelist)]


def case_actions(case: Case) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_type="cases.case", object_id=str(case.pk))
        .order_by("id").values_list("action", flat=True)
    )


def action_names(response: Any) -> list[str]:
    return [action["name"] for action in response.context["workflow_actions"]]


def csv_upload(name: str = "kyc-export.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"uid,name,country\n81723,A. Holder,GB\n", content_type="text/csv")


def plausible_post(name: str, case: Case, reviewer: User) -> dict[str, Any]:
    """Data that would be accepted if the user were allowed, so a 404 proves the access check."""
    document = case.documents.first()
    production = case.productions.first()
    return {
        "assign": {"reviewer": reviewer.pk},
        "checklist": CHECKLIST_ALL,
        "ask": {"question": "Please send the signed original of the warrant."},
        "message": {"audience": "internal", "body": "Checked with the court registry by telephone."},
        "verify": {"document": document.pk if document else 0},
        "language": {"document": document.pk if document else 0, "language_status": "english",
                     "reason": "Read by the reviewer: the text is English."},
        "decide": {"decision": "declined", "reasons": "The warrant names an account that is not on our platform."},
        "notification": {"decision": "waived", "waiver_reason": "The account holder is deceased; the court knows."},
        "upload": {"file": csv_upload(), "description": "KYC export"},
        "release": {"production": production.pk if production else 0},
        "fulfil": {},
        "close": {},
        "confirm": {"confirmed_with": "Duty officer", "method": "phone", "contact_source": "Official website",
                    "confirmed_at": timezone.now().strftime("%Y-%m-%dT%H:%M")},
        "approvals": {"approval": 0, "decision": "approve"},
        "release_hold": {"note": "Checked the request with the agency by telephone."},
        "official_add": {"name": "Insp. A. Moreau", "title": "Inspector", "organisation": "OCRGDF",
                         "id_document": SimpleUploadedFile("id.pdf", b"%PDF-1.4\n%%EOF\n")},
        "official_check": {"official": 0},
        "official_confirm": {"official": 0, "confirmed_with": "Duty officer", "method": "phone",
                             "contact_source": "Official website"},
        "instructions": {},
        "return": {"asset": "BTC", "amount": "0.5", "destination_address": "bc1qexample", "tx_hash": "00"},
    }[name]


def superuser() -> User:
    user = User.objects.create_superuser(email="root@exchange.example", password="correct horse battery staple 42")
    enrol_totp(user)
    return User.objects.get(pk=user.pk)


def irish_officer(lead: User) -> Officer:
    return approved_officer(lead=lead, body_name="An Garda Síochána", country="IE",
                            official_email="ana.garda@garda.example.ie")


# --- Who sees what -------------------------------------------------------------------------------

@pytest.mark.django_db
def test_r10_queue_lists_open_cases_first_the_oldest_first() -> None:
    now = timezone.now()
    lead = make_lead()
    officer = approved_officer(lead=lead, now=now - timedelta(days=60))
    # Created in the opposite order of the queue, so ordering by id (or the model's newest-first
    # default) would fail this.
    newer = submit_case(officer, now=now - timedelta(days=1))
    older = submit_case(officer, now=now - timedelta(days=10))
    declined = submit_case(officer, now=now - timedelta(days=20))
    assign(declined, reviewer=lead, by=lead)
    review.case_decide(case=declined, decision="declined", reasons="The warrant names another account entirely.",
                       actor=Actor(user=lead), now=now)

    client = signed_in_client(lead)
    assert listed(client) == [older.reference, newer.reference, declined.reference]
    response = client.get(CHANGELIST)
    model_admin = response.context["cl"].model_admin
    ages = {row.reference: model_admin.age_days(row) for row in response.context["cl"].result_list}
    assert ages == {older.reference: "10", newer.reference: "1", declined.reference: "—"}
    assert listed(client, {"status": "declined"}) == [declined.reference]
    assert listed(client, {"request_type": "freeze"}) == []


@pytest.mark.django_db
def test_r10_reviewer_sees_only_the_assigned_case_colleague_and_officer_get_nothing() -> None:
    lead = make_lead()
    reviewer, colleague = make_reviewer(), make_reviewer()
    officer = approved_officer(lead=lead)
    other_officer = irish_officer(lead)
    mine = assign(submit_case(officer), reviewer=reviewer, by=lead)
    theirs = assign(submit_case(other_officer), reviewer=colleague, by=lead)
    reviewer_client = signed_in_client(User.objects.get(pk=reviewer.pk))
    colleague_client = signed_in_client(User.objects.get(pk=colleague.pk))

    assert listed(reviewer_client) == [mine.reference]
    assert listed(colleague_client) == [theirs.reference]
    # The country filter offers only the countries of cases the reviewer can see.
    offered = country_choices(reviewer_client)
    assert "Ireland" not in offered
    assert "United Kingdom" in offered
    # A lead sees every case: offered the country of every agency, one without cases yet too.
    approved_officer(lead=lead, body_name="Polícia Judiciária", country="PT", official_email="p.j@pj.example.pt")
    assert "Portugal" not in country_choices(reviewer_client)
    assert {"Ireland", "United Kingdom", "Portugal"} <= set(country_choices(signed_in_client(lead)))
    # Searching does not reach beyond the assigned case either.
    assert listed(reviewer_client, {"q": theirs.reference}) == []

    assert reviewer_client.get(change_url(mine)).status_code == 200
    assert colleague_client.get(change_url(mine)).status_code == 404
    assert colleague_client.get(reverse("admin:cases_case_history", args=[mine.pk])).status_code == 404
    assert colleague_client.get(reverse("admin:cases_case_change", args=["not-a-number"])).status_code == 404
    officer_client = signed_in_client(officer.user)  # signing in is audited: before counting events
    events, mails = AuditEvent.objects.exclude(action="access.denied").count(), OutboxMessage.objects.count()
    for name in CASE_WORKFLOWS:
        assert colleague_client.get(workflow_url(mine, name)).status_code == 404, name
        response = colleague_client.post(workflow_url(mine, name), plausible_post(name, mine, colleague))
        assert response.status_code == 404, name
    # A missing case answers exactly as a forbidden one.
    assert reviewer_client.get(reverse("admin:cases_case_change", args=[theirs.pk + 1000])).status_code == 404
    assert reviewer_client.get(workflow_url(Case(pk=theirs.pk + 1000), "checklist")).status_code == 404

    # The reviewer reviews their case; assigning belongs to leads, even on the reviewer's own case.
    page = reviewer_client.get(change_url(mine))
    assert action_names(page) == ["checklist", "ask", "message", "verify", "language", "decide", "confirm"]
    for name in ("checklist", "ask", "message", "verify", "language", "decide"):
        assert reviewer_client.get(workflow_url(mine, name)).status_code == 200, name
    assert reviewer_client.get(workflow_url(mine, "assign")).status_code == 404

    # The officer never enters the staff workspace: it sends them to the admin login.
    for url in (CHANGELIST, change_url(mine), *(workflow_url(mine, name) for name in CASE_WORKFLOWS)):
        response = officer_client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url
    assert officer_client.post(workflow_url(mine, "decide"), plausible_post("decide", mine, reviewer)).status_code == 302

    mine.refresh_from_db()
    assert mine.status == Case.Status.IN_REVIEW
    assert not mine.is_checklist_complete
    assert not CaseMessage.objects.filter(case=mine).exists()
    assert (AuditEvent.objects.exclude(action="access.denied").count(), OutboxMessage.objects.count()) == (events, mails)


@pytest.mark.django_db
def test_r10_reassignment_moves_access_from_one_reviewer_to_the_other() -> None:
    lead = make_lead()
    first, second = make_reviewer(), make_reviewer()
    case = assign(submit_case(approved_officer(lead=lead)), reviewer=first, by=lead)
    lead_client = signed_in_client(lead)

    response = lead_client.post(workflow_url(case, "assign"), {"reviewer": second.pk})

    assert response.status_code == 302
    assert response["Location"] == change_url(case)
    case.refresh_from_db()
    assert case.assigned_to == second
    assert signed_in_client(User.objects.get(pk=first.pk)).get(change_url(case)).status_code == 404
    assert signed_in_client(User.objects.get(pk=second.pk)).get(change_url(case)).status_code == 200
    # Only active legal reviewers and leads are offered; anyone else is not a valid choice.
    auditor = make_auditor()
    response = lead_client.post(workflow_url(case, "assign"), {"reviewer": auditor.pk})
    assert response.status_code == 400
    assert "reviewer" in response.context["form"].errors
    case.refresh_from_db()
    assert case.assigned_to == second


@pytest.mark.django_db
def test_r10_auditor_reads_everything_but_every_workflow_url_answers_404() -> None:
    lead, reviewer, auditor = make_lead(), make_reviewer(), make_auditor()
    case = assign(submit_case(approved_officer(lead=lead)), reviewer=reviewer, by=lead)
    correspondence.case_message_post(case=case, body="The court registry confirmed the warrant by telephone.",
                                     attachments=[], is_internal=True, actor=Actor(user=reviewer), now=timezone.now())
    client = signed_in_client(auditor)

    assert listed(client) == [case.reference]
    page = client.get(change_url(case))
    assert page.status_code == 200
    assert page.context["workflow_actions"] == []
    content = page.content.decode()
    assert "workflow-decide" not in content
    assert "The court registry confirmed the warrant by telephone." in content
    assert "case.assigned" in content  # the audit history is readable

    events, mails = AuditEvent.objects.exclude(action="access.denied").count(), OutboxMessage.objects.count()
    for name in CASE_WORKFLOWS:
        assert client.get(workflow_url(case, name)).status_code == 404, name
        assert client.post(workflow_url(case, name), plausible_post(name, case, reviewer)).status_code == 404, name
    # The read-only change page refuses a POST outright.
    assert client.post(change_url(case), {"status": "accepted"}).status_code == 403

    case.refresh_from_db()
    assert case.status == Case.Status.IN_REVIEW
    assert case.assigned_to == reviewer
    assert (AuditEvent.objects.exclude(action="access.denied").count(), OutboxMessage.objects.count()) == (events, mails)


@pytest.mark.django_db
def test_r10_case_admin_offers_no_add_change_delete_or_bulk_action_even_to_a_superuser() -> None:
    root = superuser()
    request = RequestFactory().get("/admin/")
    request.user = root
    registered = {model: model_admin for model, model_admin in admin.site._registry.items()
                  if model._meta.app_label == "cases"}
    assert list(registered) == [Case]  # documents, messages and productions live on the case page
    model_admin = registered[Case]
    assert model_admin.get_actions(request) == {}
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)

    case = submit_case(approved_officer())
    client = signed_in_client(root)
    assert client.get(change_url(case)).status_code == 200
    assert client.get(reverse("admin:cases_case_add")).status_code == 403
    assert client.post(change_url(case), {"title": "Changed"}).status_code == 403
    assert client.post(reverse("admin:cases_case_delete", args=[case.pk]), {"post": "yes"}).status_code == 403
    assert 'name="action"' not in client.get(CHANGELIST).content.decode()
    case.refresh_from_db()
    assert case.title != "Changed"


# --- The full review through the admin ----------------------------------------------------------

@pytest.mark.django_db
def test_r10_full_review_through_the_admin_writes_an_audit_event_for_every_step() -> None:
    lead, reviewer = make_lead(), make_reviewer()
    officer = approved_officer(lead=lead)
    case = submit_case(officer)
    warrant = case.documents.get()
    lead_client = signed_in_client(lead)

    response = lead_client.post(workflow_url(case, "assign"), {"reviewer": reviewer.pk})
    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.status, case.assigned_to) == (Case.Status.IN_REVIEW, reviewer)

    client = signed_in_client(User.objects.get(pk=reviewer.pk))
    response = client.post(workflow_url(case, "ask"), {"question": "Please send the signed original of the warrant."})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == Case.Status.INFORMATION_REQUESTED
    assert action_names(client.get(change_url(case))) == ["checklist", "message", "verify", "language", "confirm"]
    correspondence.case_message_post(case=case, body="The signed original is attached to my letter of today.",
                                     attachments=[], is_internal=False, actor=Actor(user=officer.user),
                                     now=timezone.now())

    assert client.post(workflow_url(case, "checklist"), {**CHECKLIST_ALL, "checklist_notes": "Seal checked."}
                       ).status_code == 302
    assert client.post(workflow_url(case, "verify"), {"document": warrant.pk}).status_code == 302
    warrant.refresh_from_db()
    assert warrant.verified_by == reviewer
    assert client.post(workflow_url(case, "decide"), {"decision": "accepted", "reasons": REVIEW_REASONS}
                       ).status_code == 302
    case.refresh_from_db()
    assert (case.status, case.decided_by, case.decision_reasons) == (Case.Status.ACCEPTED, reviewer, REVIEW_REASONS)

    response = client.post(workflow_url(case, "notification"), {
        "decision": "waived", "waiver_reason": "The account holder is deceased; the estate is told by the court.",
    })
    assert response.status_code == 302
    response = client.post(workflow_url(case, "upload"), {"file": csv_upload(), "description": "KYC export"})
    assert response.status_code == 302
    production = Production.objects.get(case=case)
    assert (production.released_at, production.uploaded_by) == (None, reviewer)
    page = client.get(change_url(case))
    assert action_names(page) == ["message", "notification", "upload", "release", "confirm", "fulfil"]
    assert reverse("cases:production", args=[production.pk]) in page.content.decode()
    assert production.sha256 in page.content.decode()

    # Four-eyes: the reviewer asks for the release, the lead approves it (which releases it).
    assert client.post(workflow_url(case, "release"), {"production": production.pk}).status_code == 302
    production.refresh_from_db()
    assert production.released_at is None
    assert action_names(client.get(change_url(case))) == ["message", "notification", "upload", "confirm", "approvals",
                                                          "fulfil"]
    approval = case.approvals.get()
    assert lead_client.post(workflow_url(case, "approvals"), {"approval": approval.pk, "decision": "approve"}
                            ).status_code == 302
    production.refresh_from_db()
    assert production.released_by == lead
    assert production.available_until is not None and production.available_until > timezone.now()
    assert client.post(workflow_url(case, "fulfil"), {}).status_code == 302
    assert client.post(workflow_url(case, "close"), {}).status_code == 302
    case.refresh_from_db()
    assert case.status == Case.Status.CLOSED
    # Only the approvals page remains, to read who asked and who approved the release.
    assert action_names(client.get(change_url(case))) == ["approvals"]

    assert case_actions(case) == [
        "case.submitted",
        "case.assigned",
        "case.information_requested",
        "case.answered",
        "case.checklist_updated",
        "case.document_verified",
        "case.decided",
        "case.notification_recorded",
        "case.production_uploaded",
        "approval.requested",
        "approval.granted",
        "case.production_released",
        "case.fulfilled",
        "case.closed",
    ]
    actors = dict(AuditEvent.objects.filter(object_type="cases.case", object_id=str(case.pk))
                  .values_list("action", "actor_label"))
    assert actors["case.assigned"] == lead.email
    assert {actors[action] for action in (
        "case.checklist_updated", "case.document_verified", "case.decided", "case.notification_recorded",
        "approval.requested", "case.closed")} == {reviewer.email}
    assert actors["approval.granted"] == actors["case.production_released"] == lead.email


# --- R5: legal process ---------------------------------------------------------------------------

@pytest.mark.django_db
def test_r5_accept_is_refused_with_the_blockers_until_checklist_and_warrant_are_verified() -> None:
    lead, reviewer = make_lead(), make_reviewer()
    case = assign(submit_case(approved_officer(lead=lead)), reviewer=reviewer, by=lead)
    client = signed_in_client(User.objects.get(pk=reviewer.pk))
    accept = {"decision": "accepted", "reasons": REVIEW_REASONS}

    page = client.get(change_url(case)).content.decode()
    assert "What blocks acceptance" in page
    assert "Complete the review checklist" in page
    response = client.post(workflow_url(case, "decide"), accept)
    assert response.status_code == 400
    content = response.content.decode()
    assert "Complete the review checklist" in content
    assert "verified by the reviewer (R5)" in content
    assert f"{REVIEW_REASONS}</textarea>" in content  # what was typed is kept

    assert client.post(workflow_url(case, "checklist"), CHECKLIST_ALL).status_code == 302
    response = client.post(workflow_url(case, "decide"), accept)
    assert response.status_code == 400
    assert "Complete the review checklist" not in response.content.decode()
    assert "verified by the reviewer (R5)" in response.content.decode()
    case.refresh_from_db()
    assert case.status == Case.Status.IN_REVIEW
    assert "case.decided" not in case_actions(case)

    assert client.post(workflow_url(case, "verify"), {"document": case.documents.get().pk}).status_code == 302
    assert "Nothing: the case can be accepted." in client.get(change_url(case)).content.decode()
    assert client.post(workflow_url(case, "decide"), accept).status_code == 302
    case.refresh_from_db()
    assert case.status == Case.Status.ACCEPTED


@pytest.mark.django_db
def test_r5_a_verified_subpoena_does_not_allow_disclosure_but_a_decline_is_possible() -> None:
    lead = make_lead()
    case = submit_case(approved_officer(lead=lead),
                       documents=[document_input(pdf_with_text(ENGLISH_WARRANT), name="subpoena.pdf",
                                                 document_type="subpoena")])
    assign(case, reviewer=lead, by=lead)
    client = signed_in_client(lead)
    assert client.post(workflow_url(case, "checklist"), CHECKLIST_ALL).status_code == 302
    assert client.post(workflow_url(case, "verify"), {"document": case.documents.get().pk}).status_code == 302

    response = client.post(workflow_url(case, "decide"), {"decision": "partly_accepted", "reasons": REVIEW_REASONS})

    assert response.status_code == 400
    assert "warrant, court order or local equivalent" in response.content.decode()
    response = client.post(workflow_url(case, "decide"), {
        "decision": "declined", "reasons": "A subpoena cannot compel disclosure here; send a court order (R5).",
    })
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == Case.Status.DECLINED


# --- R4: language --------------------------------------------------------------------------------

@pytest.mark.django_db
def test_r4_a_scan_blocks_acceptance_until_its_language_is_recorded_in_the_admin() -> None:
    lead, reviewer = make_lead(), make_reviewer()
    officer = approved_officer(lead=lead)
    plain = submit_case(officer)
    scanned = assign(submit_case(officer, documents=[document_input(scanned_pdf(), name="order-scan.pdf")]),
                     reviewer=reviewer, by=lead)
    scan = scanned.documents.get()
    assert scan.language_status == CaseDocument.LanguageStatus.NO_TEXT

    assert listed(signed_in_client(lead), {"language_check": "needed"}) == [scanned.reference]
    assert plain.reference in listed(signed_in_client(lead))
    # The queue's language column flags the scan's case only, and sorting by it puts that case first
    # (the queue's own order puts the older, plain case first).
    assert language_column(signed_in_client(lead)) == [(plain.reference, ""), (scanned.reference, "manual check needed")]
    assert language_column(signed_in_client(lead), {"o": LANGUAGE_COLUMN}) == [
        (scanned.reference, "manual check needed"), (plain.reference, "")]
    client = signed_in_client(User.objects.get(pk=reviewer.pk))
    page = client.get(change_url(scanned)).content.decode()
    assert "Manual check needed" in page
    assert f"{workflow_url(scanned, 'language')}?document={scan.pk}" in page
    assert client.post(workflow_url(scanned, "checklist"), CHECKLIST_ALL).status_code == 302
    assert client.post(workflow_url(scanned, "verify"), {"document": scan.pk}).status_code == 302

    accept = {"decision": "accepted", "reasons": REVIEW_REASONS}
    response = client.post(workflow_url(scanned, "decide"), accept)
    assert response.status_code == 400
    assert "“order-scan.pdf” needs a manual language check (no text layer): record its language first (R4)." in response.content.decode()

    response = client.post(workflow_url(scanned, "language"), {"document": scan.pk, "language_status": "english"})
    assert response.status_code == 302
    scan.refresh_from_db()
    assert (scan.language_cleared_by, scan.language_cleared_as) == (reviewer, CaseDocument.LanguageStatus.ENGLISH)
    assert not scan.needs_manual_language_check
    assert listed(signed_in_client(lead), {"language_check": "needed"}) == []
    assert language_column(signed_in_client(lead)) == [(plain.reference, ""), (scanned.reference, "")]
    assert client.post(workflow_url(scanned, "decide"), accept).status_code == 302
    scanned.refresh_from_db()
    assert scanned.status == Case.Status.ACCEPTED
    assert "case.document_language_recorded" in case_actions(scanned)


@pytest.mark.django_db
def test_r4_overriding_a_detection_needs_a_reason_and_then_blocks_acceptance() -> None:
    lead = make_lead()
    case = assign(submit_case(approved_officer(lead=lead)), reviewer=lead, by=lead)
    warrant = case.documents.get()
    client = signed_in_client(lead)

    response = client.post(workflow_url(case, "language"), {"document": warrant.pk, "language_status": "not_english"})
    assert response.status_code == 400
    assert "Record why" in response.context["form"].errors["reason"][0]
    warrant.refresh_from_db()
    assert warrant.language_cleared_at is None

    response = client.post(workflow_url(case, "language"), {
        "document": warrant.pk, "language_status": "not_english",
        "reason": "Only the heading is English; the operative part is in Welsh.",
    })
    assert response.status_code == 302
    assert client.post(workflow_url(case, "checklist"), CHECKLIST_ALL).status_code == 302
    assert client.post(workflow_url(case, "verify"), {"document": warrant.pk}).status_code == 302
    response = client.post(workflow_url(case, "decide"), {"decision": "accepted", "reasons": REVIEW_REASONS})
    assert response.status_code == 400
    assert "is not in English and has no English translation (R4)" in response.content.decode()
    event = AuditEvent.objects.get(action="case.document_language_recorded", object_id=str(case.pk))
    assert event.changes["override"] is True
    assert event.actor_label == lead.email


@pytest.mark.django_db
def test_r4_a_german_attachment_is_refused_naming_it_and_nothing_is_posted() -> None:
    lead = make_lead()
    case = assign(submit_case(approved_officer(lead=lead)), reviewer=lead, by=lead)

    response = signed_in_client(lead).post(workflow_url(case, "message"), {
        "audience": "officer",
        "body": "Please find the order of the local court attached.",
        "attachments": [SimpleUploadedFile("beschluss.pdf", pdf_with_text(GERMAN_ORDER))],
    })

    assert response.status_code == 400
    assert "“beschluss.pdf” is in German" in response.context["form"].errors["attachments"][0]
    assert "Please find the order of the local court attached.</textarea>" in response.content.decode()
    assert not CaseMessage.objects.filter(case=case).exists()
    assert not case.documents.filter(role=CaseDocument.Role.ATTACHMENT).exists()


# --- R6: notification before release ---------------------------------------------------------------

def accepted_case(*, lead: User, **overrides: Any) -> Case:
    case = assign(submit_case(approved_officer(lead=lead), **overrides), reviewer=lead, by=lead)
    staff, now = Actor(user=lead), timezone.now()
    review.case_checklist_update(case=case, data=review.ReviewChecklist(True, True, True, True, True, True),
                                 actor=staff, now=now)
    review.case_document_verify(document=case.documents.get(), actor=staff, now=now)
    return review.case_decide(case=case, decision="accepted", reasons=REVIEW_REASONS, actor=staff, now=now)


@pytest.mark.django_db
def test_r6_release_is_refused_until_the_notification_decision_is_recorded() -> None:
    lead = make_lead()
    case = accepted_case(lead=lead)
    client = signed_in_client(lead)
    assert client.post(workflow_url(case, "upload"), {"file": csv_upload(), "description": "KYC"}).status_code == 302
    production = case.productions.get()

    page = client.get(change_url(case)).content.decode()
    assert "What blocks release" in page
    assert "Record the notification decision first" in page
    response = client.post(workflow_url(case, "release"), {"production": production.pk})
    assert response.status_code == 400
    assert "Record the notification decision first" in response.content.decode()
    production.refresh_from_db()
    assert production.released_at is None
    assert "case.production_released" not in case_actions(case)

    # Each choice asks for what it needs, on its own field.
    response = client.post(workflow_url(case, "notification"), {"decision": "notified"})
    assert response.status_code == 400
    assert "Give when the user was notified" in response.context["form"].errors["notified_at"][0]
    response = client.post(workflow_url(case, "notification"), {"decision": "withheld"})
    assert response.status_code == 400
    assert "only under a non-disclosure instruction" in response.context["form"].errors["decision"][0]
    notified_at = timezone.now() - timedelta(hours=3)
    response = client.post(workflow_url(case, "notification"), {
        "decision": "notified", "notified_at": notified_at.strftime("%Y-%m-%dT%H:%M"),  # the lead's zone is UTC
    })
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.notified_at == notified_at.replace(second=0, microsecond=0)

    assert client.post(workflow_url(case, "release"), {"production": production.pk}).status_code == 302
    second = signed_in_client(make_lead())
    assert second.post(workflow_url(case, "approvals"), {"approval": case.approvals.get().pk, "decision": "approve"}
                       ).status_code == 302
    production.refresh_from_db()
    assert production.released_at is not None
    # Once released, the decision can no longer change, and no button offers it.
    page = client.get(change_url(case))
    assert "notification" not in action_names(page)
    assert client.post(workflow_url(case, "notification"), plausible_post("notification", case, lead)).status_code == 400


@pytest.mark.django_db
def test_r6_withholding_is_possible_under_an_instruction_in_force() -> None:
    lead = make_lead()
    until = timezone.now().date() + timedelta(days=90)
    case = accepted_case(lead=lead, has_non_disclosure_instruction=True, non_disclosure_until=until)
    client = signed_in_client(lead)

    page = client.get(change_url(case)).content.decode()
    assert f"do not notify the user, until {until} (in force)" in page
    response = client.post(workflow_url(case, "notification"), {"decision": "withheld"})

    assert response.status_code == 302
    case.refresh_from_db()
    assert case.notification_decision == Case.NotificationDecision.WITHHELD
    assert case.notification_decided_by == lead


# --- Dates typed far outside any real one: refused on their field, never a 500 ---------------------

CONFIRMATION = {"confirmed_with": "Duty officer, fraud squad", "method": "phone",
                "contact_source": "Switchboard number on the force's official website"}


@pytest.mark.django_db
@pytest.mark.parametrize(("zone", "typed", "refusal"), [
    # East of UTC, year 1 becomes a moment before year 1 in UTC: stored, but never readable again.
    ("Asia/Tokyo", "0001-01-01T00:00", "The time of the confirmation cannot be before 1 January 2000"),
    # West of UTC, year 9999 overflows the conversion to UTC.
    ("America/Los_Angeles", "9999-12-31T23:59", "The time of the confirmation cannot be after 31 December"),
])
def test_r10_an_out_of_range_confirmation_time_is_refused_on_its_field_and_the_case_page_still_opens(
        zone: str, typed: str, refusal: str) -> None:
    lead = make_lead(time_zone=zone)
    case = assign(submit_case(approved_officer(lead=lead)), reviewer=lead, by=lead)
    client = signed_in_client(lead)

    response = client.post(workflow_url(case, "confirm"), {**CONFIRMATION, "confirmed_at": typed})

    assert response.status_code == 400
    assert refusal in response.context["form"].errors["confirmed_at"][0]
    assert f'value="{typed}"' in response.content.decode()  # what was typed is kept
    assert 'value="Duty officer, fraud squad"' in response.content.decode()
    assert not case.out_of_band_confirmations.exists()
    assert client.get(change_url(case)).status_code == 200


@pytest.mark.django_db
def test_r6_a_year_one_notification_time_typed_east_of_utc_is_refused_and_the_case_page_still_opens() -> None:
    lead = make_lead(time_zone="Pacific/Kiritimati")  # UTC+14
    case = accepted_case(lead=lead)
    client = signed_in_client(lead)

    response = client.post(workflow_url(case, "notification"), {"decision": "notified",
                                                                "notified_at": "0001-01-01T05:00"})

    assert response.status_code == 400
    assert ("The time the user was notified cannot be before 1 January 2000"
            in response.context["form"].errors["notified_at"][0])
    assert 'value="0001-01-01T05:00"' in response.content.decode()
    case.refresh_from_db()
    assert (case.notification_decision, case.notified_at) == ("", None)
    assert client.get(change_url(case)).status_code == 200


# --- Refusals answer 400 with the service's words -------------------------------------------------

@pytest.mark.django_db
def test_r10_decline_without_reasons_is_refused_with_the_message_and_keeps_the_input() -> None:
    lead = make_lead()
    case = assign(submit_case(approved_officer(lead=lead)), reviewer=lead, by=lead)
    client = signed_in_client(lead)

    response = client.post(workflow_url(case, "decide"), {"decision": "declined", "reasons": ""})
    assert response.status_code == 400
    assert "Give reasons the officer can act on" in response.context["form"].errors["reasons"][0]

    response = client.post(workflow_url(case, "decide"), {"decision": "declined", "reasons": "Rejected."})
    assert response.status_code == 400
    assert "Rejected.</textarea>" in response.content.decode()
    case.refresh_from_db()
    assert (case.status, case.decision_reasons) == (Case.Status.IN_REVIEW, "")
    assert "case.decided" not in case_actions(case)

    reasons = "The warrant names an account that is not held on our platform."
    assert client.post(workflow_url(case, "decide"), {"decision": "declined", "reasons": reasons}).status_code == 302
    case.refresh_from_db()
    assert (case.status, case.decision_reasons) == (Case.Status.DECLINED, reasons)
    assert action_names(client.get(change_url(case))) == ["message", "close"]


@pytest.mark.django_db
def test_r10_a_refused_transition_answers_400_not_500() -> None:
    lead = make_lead()
    case = assign(submit_case(approved_officer(lead=lead)), reviewer=lead, by=lead)
    client = signed_in_client(lead)

    response = client.post(workflow_url(case, "close"), {})
    assert response.status_code == 400
    assert "Only a fulfilled, declined or withdrawn case can be closed." in response.content.decode()
    response = client.post(workflow_url(case, "fulfil"), {})
    assert response.status_code == 400
    assert response.context["form"].non_field_errors()  # the service's refusal, shown as it is
    response = client.post(workflow_url(case, "upload"), {"file": csv_upload()})
    assert response.status_code == 400
    assert "Productions can be prepared only for an accepted case (R10)." in response.content.decode()
    response = client.post(workflow_url(case, "notification"), plausible_post("notification", case, lead))
    assert response.status_code == 400
    assert "after the case is accepted" in response.content.decode()
    response = client.post(workflow_url(case, "release"), {"production": 0})
    assert response.status_code == 400
    case.refresh_from_db()
    assert case.status == Case.Status.IN_REVIEW
    assert not Production.objects.filter(case=case).exists()


@pytest.mark.django_db
def test_r10_a_production_of_the_wrong_type_is_refused_on_its_field() -> None:
    lead = make_lead()
    case = accepted_case(lead=lead)

    response = signed_in_client(lead).post(workflow_url(case, "upload"), {
        "file": SimpleUploadedFile("tool.exe", b"MZ\x90\x00" + b"\x00" * 200), "description": "Export",
    })

    assert response.status_code == 400
    assert "is not a file type we accept" in response.context["form"].errors["file"][0]
    assert not case.productions.exists()


# --- The case page --------------------------------------------------------------------------------

@pytest.mark.django_db
def test_r10_internal_notes_are_shown_marked_in_the_admin_and_never_to_the_officer() -> None:
    lead, reviewer = make_lead(), make_reviewer()
    officer = approved_officer(lead=lead)
    case = assign(submit_case(officer), reviewer=reviewer, by=lead)
    client = signed_in_client(User.objects.get(pk=reviewer.pk))

    # Who reads a message is chosen every time: no default that could leak a note.
    response = client.post(workflow_url(case, "message"), {"body": "The court registry confirmed the seal."})
    assert response.status_code == 400
    assert "audience" in response.context["form"].errors
    assert not CaseMessage.objects.filter(case=case).exists()

    response = client.post(workflow_url(case, "message"), {
        "audience": "internal", "body": "The court registry confirmed the seal.",
        "attachments": [SimpleUploadedFile("registry-call.pdf", pdf_with_text(ENGLISH_WARRANT))],
    })
    assert response.status_code == 302
    response = client.post(workflow_url(case, "message"), {
        "audience": "officer", "body": "We are reviewing your request.",
    })
    assert response.status_code == 302
    note = CaseMessage.objects.get(case=case, is_internal=True)
    attachment = note.attachments.get()

    content = client.get(change_url(case)).content.decode()
    assert "The court registry confirmed the seal." in content
    assert "We are reviewing your request." in content
    assert '<tr class="internal-note">' in content
    assert content.count('class="internal-note"') == 1
    assert reverse("cases:document", args=[attachment.pk]) in content
    assert [m.body for m in selectors.case_messages_for(user=officer.user, case=case)] == [
        "We are reviewing your request."
    ]
    assert case_actions(case)[-2:] == ["case.note_added", "case.message_posted"]
    # Only the message to the officer sends them an e-mail.
    assert OutboxMessage.objects.filter(recipient=officer.user.email, key__startswith="case-message:").count() == 1


@pytest.mark.django_db
def test_r10_case_page_shows_documents_translations_related_cases_and_type_facts() -> None:
    from tests.documents import FRENCH_WARRANT, FRENCH_WARRANT_TRANSLATION

    lead = make_lead()
    wallet = "0x52908400098527886E0F7030069857D2E4169EE7"
    british = approved_officer(lead=lead)
    irish = irish_officer(lead)
    case = submit_case(british, documents=[
        document_input(pdf_with_text(FRENCH_WARRANT), name="requisition.pdf", issuing_authority="Tribunal de Paris",
                       document_reference="RJ-2026-118", issued_on=date(2026, 3, 2)),
        document_input(pdf_with_text(FRENCH_WARRANT_TRANSLATION), name="requisition-en.pdf", translation_of=0,
                       translator_certification="Certified by J. Martin, sworn translator, Paris Court of Appeal."),
    ])
    same_subject = submit_case(irish, identifiers=[IdentifierInput(kind="wallet", value=wallet.lower())])
    unrelated = submit_case(irish, identifiers=[IdentifierInput(kind="email", value="someone@example.org")])
    freeze = submit_case(british, request_type="freeze", freeze_duration_days=21, title="Freeze of the scam wallet",
                         documents=[document_input(pdf_with_text(ENGLISH_WARRANT), document_type="freeze_order")])
    original = case.documents.get(role=CaseDocument.Role.LEGAL_PROCESS)
    translation = case.documents.get(role=CaseDocument.Role.TRANSLATION)

    client = signed_in_client(lead)
    content = client.get(change_url(case)).content.decode()
    assert reverse("cases:document", args=[original.pk]) in content
    assert reverse("cases:document", args=[translation.pk]) in content
    assert "Tribunal de Paris" in content
    assert "RJ-2026-118" in content
    assert "Certified by J. Martin, sworn translator" in content
    assert f'Translated in <a href="#document-{translation.pk}">' in content
    assert f'Translation of <a href="#document-{original.pk}">' in content
    assert "French" in content
    assert original.sha256 in content
    assert "Not verified" in content
    assert "User information (R5, R6)" in content
    assert "KYC data, login IP addresses" in content
    assert "none: the user may be notified before disclosure" in content
    assert reverse("admin:cases_case_change", args=[same_subject.pk]) in content
    assert reverse("admin:cases_case_change", args=[unrelated.pk]) not in content
    assert reverse("admin:cases_case_change", args=[freeze.pk]) in content  # the same wallet, another type

    freeze_page = client.get(change_url(freeze)).content.decode()
    assert "Freeze (R8)" in freeze_page
    assert "User information (R5, R6)" not in freeze_page
    assert "Notification decision (R6)" not in freeze_page


@pytest.mark.django_db
def test_r10_search_finds_a_subject_however_it_is_written() -> None:
    lead = make_lead()
    officer = approved_officer(lead=lead)
    phone_case = submit_case(officer, identifiers=[IdentifierInput(kind="phone", value="+44 20 7946 0018")])
    wallet_case = submit_case(officer)
    client = signed_in_client(lead)

    # Written as on a letterhead, the number matches no stored text; normalized, it is the subject.
    assert listed(client, {"q": "+44-20-7946-0018"}) == [phone_case.reference]
    assert listed(client, {"q": "+44 (20) 7946-0018"}) == [phone_case.reference]
    assert listed(client, {"q": "+442079460018"}) == [phone_case.reference]
    assert listed(client, {"q": "0x52908400098527886e0f7030069857d2e4169ee7"}) == [wallet_case.reference]
    assert listed(client, {"q": "OP-KESTREL-42"}) == [phone_case.reference, wallet_case.reference]
    assert listed(client, {"q": "+44 20 7946 0019"}) == []


@pytest.mark.django_db
def test_r10_search_finds_fragments_and_each_word_once_and_only_visible_cases() -> None:
    lead, reviewer = make_lead(), make_reviewer()
    officer = approved_officer(lead=lead)
    kestrel = submit_case(officer, title="Operation Kestrel: a mule account", case_reference="OP-KESTREL-42",
                          identifiers=[IdentifierInput(kind="email", value="mule.one@example.com"),
                                       IdentifierInput(kind="email", value="mule.two@example.com")])
    heron = submit_case(officer, title="Operation Heron: a phishing wallet", case_reference="OP-HERON-7")
    client = signed_in_client(lead)

    assert listed(client, {"q": kestrel.reference[-6:]}) == [kestrel.reference]  # a fragment of the reference
    assert listed(client, {"q": "kestrel"}) == [kestrel.reference]  # of the title, in any case
    assert listed(client, {"q": "heron-7"}) == [heron.reference]  # of the agency's own reference
    assert listed(client, {"q": "MULE."}) == [kestrel.reference]  # of subjects: two match, the case is listed once
    assert listed(client, {"q": "operation"}) == [kestrel.reference, heron.reference]
    # Each word must match, in any of the fields; a quoted phrase is one word.
    assert listed(client, {"q": "operation mule.two"}) == [kestrel.reference]
    assert listed(client, {"q": "heron mule.two"}) == []
    assert listed(client, {"q": "42 kestrel"}) == [kestrel.reference]  # a short word is checked too
    assert listed(client, {"q": "zq kestrel"}) == []
    assert listed(client, {"q": '"a phishing"'}) == [heron.reference]
    assert listed(client, {"q": '"phishing a"'}) == []

    # A reviewer's search finds only the cases assigned to them.
    assign(heron, reviewer=reviewer, by=lead)
    reviewer_client = signed_in_client(User.objects.get(pk=reviewer.pk))
    assert listed(reviewer_client, {"q": "operation"}) == [heron.reference]
    assert listed(reviewer_client, {"q": "mule"}) == []


# --- Agency supervisors (access admin) -------------------------------------------------------------

@pytest.mark.django_db
def test_r10_lead_makes_an_officer_agency_supervisor_and_ends_the_role() -> None:
    lead, reviewer, auditor = make_lead(), make_reviewer(), make_auditor()
    officer = approved_officer(lead=lead)
    colleague = approved_officer(lead=lead)
    assert colleague.agency_id == officer.agency_id
    colleagues_case = submit_case(colleague)

    def visible_to_officer() -> list[str]:
        fresh = User.objects.get(pk=officer.user_id)  # guardian caches permissions per user object
        return list(selectors.case_list_for(user=fresh).values_list("reference", flat=True))

    assert visible_to_officer() == []
    for client in (signed_in_client(reviewer), signed_in_client(auditor)):
        for name in ("make_supervisor", "end_supervisor"):
            assert client.get(officer_url(officer, name)).status_code == 404, name
            assert client.post(officer_url(officer, name), {}).status_code == 404, name
        page = client.get(officer_url(officer, "change"))
        assert not {"make_supervisor", "end_supervisor"} & set(action_names(page))
    officer.refresh_from_db()
    assert not officer.is_supervisor

    lead_client = signed_in_client(lead)
    assert "make_supervisor" in action_names(lead_client.get(officer_url(officer, "change")))
    response = lead_client.post(officer_url(officer, "make_supervisor"), {})
    assert response.status_code == 302
    officer.refresh_from_db()
    assert officer.is_supervisor
    assert visible_to_officer() == [colleagues_case.reference]
    # A second post (a double click) is refused; it does not undo the first.
    response = lead_client.post(officer_url(officer, "make_supervisor"), {})
    assert response.status_code == 400
    assert "Nothing to change." in response.content.decode()
    officer.refresh_from_db()
    assert officer.is_supervisor
    names = action_names(lead_client.get(officer_url(officer, "change")))
    assert "end_supervisor" in names and "make_supervisor" not in names

    assert lead_client.post(officer_url(officer, "end_supervisor"), {}).status_code == 302
    officer.refresh_from_db()
    assert not officer.is_supervisor
    assert visible_to_officer() == []
    events = AuditEvent.objects.filter(action="officer.supervisor_set", object_id=str(officer.pk)).order_by("id")
    assert [(event.actor_label, event.changes["is_supervisor"]) for event in events] == [
        (lead.email, [False, True]), (lead.email, [True, False]),
    ]
