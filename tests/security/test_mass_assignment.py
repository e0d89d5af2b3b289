"""Mass assignment and the immediacy of permission changes.

An officer or applicant who posts fields they may not set (status, dates, reviewer, decider,
agency, owner…) changes nothing of them; and a permission taken away is gone on the very next
request: a suspended or lapsed officer, a colleague whose share went with a reassignment, a
reviewer the case was reassigned away from.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cases.models import Case
from cases.services import review
from leors import policy
from leors.access import services as access_services
from leors.access.models import AccessApplication, Officer, User
from leors.core.audit import Actor
from tests.conftest import signed_in_client
from tests.documents import ENGLISH_REQUEST, ENGLISH_WARRANT, pdf_with_text
from tests.factories import (
    PASSWORD,
    approved_officer,
    enrol_totp,
    make_lead,
    make_reviewer,
    pdf_upload,
    submit_case,
    verified_application,
)
from tests.security.world import outsider_overrides

WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"
LONG_AGO = "2001-01-01T00:00:00Z"


def forged_case_fields(*, reviewer: User, outsider: Officer) -> dict[str, Any]:
    """Fields of a case that only the system or the legal team set."""
    return {
        "status": Case.Status.FULFILLED, "submitted_at": LONG_AGO, "decided_at": LONG_AGO,
        "assigned_to": reviewer.pk, "assigned_to_id": reviewer.pk, "decided_by": reviewer.pk,
        "decided_by_id": reviewer.pk, "on_hold_at": LONG_AGO, "agency": outsider.agency_id,
        "agency_id": outsider.agency_id, "officer": outsider.pk, "officer_id": outsider.pk,
        "reference": "LEORS-FORGED-1", "decision": "accepted", "decision_reasons": "forged",
    }


def new_case_post(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "submission_key": uuid.uuid4().hex, "request_type": "user_information",
        "title": "Account behind a romance-scam wallet", "case_reference": "OP-KESTREL-42",
        "request_text": ENGLISH_REQUEST,
        "subjects-TOTAL_FORMS": "1", "subjects-INITIAL_FORMS": "0", "subjects-MIN_NUM_FORMS": "0",
        "subjects-MAX_NUM_FORMS": "50", "subjects-0-kind": "wallet", "subjects-0-value": WALLET,
        "subjects-0-chain": "",
        "documents-TOTAL_FORMS": "1", "documents-INITIAL_FORMS": "0", "documents-MIN_NUM_FORMS": "0",
        "documents-MAX_NUM_FORMS": "10",
        "documents-0-file": pdf_upload("warrant.pdf", pdf_with_text(ENGLISH_WARRANT)),
        "documents-0-document_type": "warrant", "documents-0-issuing_authority": "Crown Court at Southwark",
        "documents-0-issued_on": "2026-05-20", "documents-0-document_reference": "T20267781",
        "data_requested": "KYC data, login IP addresses, deposits and withdrawals",
        "has_non_disclosure_instruction": "no",
    }
    data.update(extra)
    return data


def case_state(case: Case) -> dict[str, Any]:
    fresh = Case.objects.get(pk=case.pk)
    return {name: getattr(fresh, name) for name in (
        "status", "submitted_at", "decided_at", "assigned_to_id", "decided_by_id", "on_hold_at", "agency_id",
        "officer_id", "reference")}


@pytest.mark.django_db
def test_r1_r10_new_request_ignores_status_dates_reviewer_agency_and_owner() -> None:
    officer, outsider, reviewer = approved_officer(), approved_officer(**outsider_overrides()), make_reviewer()
    before = timezone.now()
    response = signed_in_client(officer.user).post(
        reverse("cases:new"), new_case_post(**forged_case_fields(reviewer=reviewer, outsider=outsider)))
    assert response.status_code == 302, getattr(response, "context", {}) and response.context.get("error_summary")
    case = Case.objects.get()
    assert case.status == Case.Status.SUBMITTED
    assert case.submitted_at >= before
    assert (case.officer_id, case.agency_id) == (officer.pk, officer.agency_id)
    assert (case.assigned_to_id, case.decided_by_id, case.decided_at, case.on_hold_at) == (None, None, None, None)
    assert case.reference != "LEORS-FORGED-1"
    assert response["Location"] == reverse("cases:detail", args=[case.reference])


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "extra"), [
    ("message", {"body": "Any news on this request?"}),
    ("withdraw", {}),
    ("share", {}),  # the colleague's address is added in the test
    ("recovery_acknowledge", {}),
])
def test_r10_officer_posts_change_no_field_they_may_not_set(name: str, extra: dict[str, Any]) -> None:
    officer, colleague = approved_officer(), approved_officer()
    outsider, reviewer, lead = approved_officer(**outsider_overrides()), make_reviewer(), make_lead()
    case = submit_case(officer)
    review.case_assign(case=case, reviewer=reviewer, actor=Actor(user=lead), now=timezone.now())
    before = case_state(case)
    data = {**forged_case_fields(reviewer=lead, outsider=outsider), **extra}
    if name == "share":
        data["colleague_email"] = colleague.user.email
    signed_in_client(officer.user).post(reverse(f"cases:{name}", args=[case.reference]), data)
    after = case_state(case)
    if name == "withdraw":
        # The one change the officer may make is the withdrawal itself, by the service.
        assert after.pop("status") == Case.Status.WITHDRAWN
        before.pop("status")
    assert after == before


@pytest.mark.django_db
def test_r1_r2_application_form_ignores_status_decider_and_review_dates() -> None:
    lead = make_lead()
    payload = {
        "applying_as": "police", "body_name": "Zephyr Constabulary", "country": "GB",
        "jurisdiction": "Northern Quillshire", "applicant_name": "Ingrid Vantablack", "rank_title": "Detective Inspector",
        "official_email": "ingrid.vantablack@zephyr.police.example.uk", "phone": "+44 20 7946 0018",
        "supervisor_name": "Oswin Harrowgate", "supervisor_email": "oswin.harrowgate@zephyr.police.example.uk",
        "undertaking_version": policy.CURRENT_UNDERTAKING_VERSION, "accept_undertaking": "on",
        "documents": [pdf_upload()],
        # forged
        "status": AccessApplication.Status.APPROVED,
        "decided_by": lead.pk, "decided_by_id": lead.pk, "decided_at": LONG_AGO, "review_due_at": LONG_AGO,
        "review_window_opens_at": LONG_AGO, "submitted_at": LONG_AGO, "assigned_to": lead.pk,
        "email_verified_at": LONG_AGO, "agency": 1, "applicant": lead.pk,
    }
    response = Client().post(reverse("portal:apply"), payload)
    assert response.status_code == 302
    application = AccessApplication.objects.get(official_email=payload["official_email"])
    assert application.status != payload["status"]
    assert (application.decided_by_id, application.decided_at, application.assigned_to_id) == (None, None, None)
    assert application.email_verified_at is None
    assert application.applicant_id != lead.pk
    assert application.review_due_at is None or application.review_due_at > timezone.now()


@pytest.mark.django_db
def test_r2_application_answer_ignores_status_decider_and_review_due_at() -> None:
    lead = make_lead()
    application = verified_application()
    access_services.application_request_information(application=application, question="Which unit do you serve in?",
                                                    actor=Actor(user=lead), now=timezone.now())
    application = AccessApplication.objects.get(pk=application.pk)
    applicant = User.objects.get(pk=application.applicant_id)
    enrol_totp(applicant)
    due = application.review_due_at
    response = signed_in_client(applicant).post(
        reverse("portal:application_answer", args=[application.reference]),
        {"answer": "The Economic Crime Unit.", "status": "approved", "decided_by": lead.pk, "decided_at": LONG_AGO,
         "review_due_at": LONG_AGO, "assigned_to": lead.pk})
    assert response.status_code == 302
    fresh = AccessApplication.objects.get(pk=application.pk)
    assert fresh.status != "approved"
    assert (fresh.decided_by_id, fresh.decided_at, fresh.assigned_to_id) == (None, None, None)
    assert fresh.review_due_at == due
    assert not Officer.objects.filter(user=applicant).exists()


# --- Permission changes take effect at once -----------------------------------------------------------

def _detail(client: Client, case: Case) -> int:
    return client.get(reverse("cases:detail", args=[case.reference])).status_code


@pytest.mark.django_db
def test_r3_suspended_officer_loses_access_on_the_next_request() -> None:
    officer, lead = approved_officer(), make_lead()
    case = submit_case(officer)
    client = signed_in_client(officer.user)
    assert _detail(client, case) == 200
    access_services.officer_suspend(officer=officer, note="Calls from a number not the agency's.",
                                    referred_to="National Crime Agency", actor=Actor(user=lead), now=timezone.now())
    response = client.get(reverse("cases:detail", args=[case.reference]))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    document = case.documents.first()
    assert document is not None
    assert client.get(reverse("cases:document", args=[document.pk])).status_code == 302
    # And signing in again is refused.
    assert not Client().login(email=officer.user.email, password=PASSWORD)


@pytest.mark.django_db
def test_r1_officer_whose_access_lapsed_loses_access_on_the_next_request() -> None:
    officer = approved_officer()
    case = submit_case(officer)
    client = signed_in_client(officer.user)
    assert _detail(client, case) == 200
    Officer.objects.filter(pk=officer.pk).update(access_expires_at=timezone.now() - timedelta(seconds=1))
    assert _detail(client, case) == 403
    assert client.get(reverse("cases:new")).status_code == 403


@pytest.mark.django_db
def test_supervisor_status_ended_takes_the_agency_cases_away_at_once() -> None:
    owner, supervisor, lead = approved_officer(), approved_officer(), make_lead()
    case = submit_case(owner)
    client = signed_in_client(supervisor.user)
    assert _detail(client, case) == 404
    access_services.officer_supervisor_set(officer=supervisor, is_supervisor=True, actor=Actor(user=lead),
                                           now=timezone.now())
    assert _detail(client, case) == 200
    access_services.officer_supervisor_set(officer=supervisor, is_supervisor=False, actor=Actor(user=lead),
                                           now=timezone.now())
    assert _detail(client, case) == 404


@pytest.mark.django_db
def test_r10_reviewer_reassigned_away_gets_404_immediately() -> None:
    officer, lead, first, second = approved_officer(), make_lead(), make_reviewer(), make_reviewer()
    case = submit_case(officer)
    review.case_assign(case=case, reviewer=first, actor=Actor(user=lead), now=timezone.now())
    first_client, second_client = signed_in_client(first), signed_in_client(second)
    change = reverse("admin:cases_case_change", args=[case.pk])
    checklist = reverse("admin:cases_case_checklist", args=[case.pk])
    assert first_client.get(change).status_code == 200
    assert first_client.get(checklist).status_code == 200
    assert second_client.get(change).status_code == 404
    review.case_assign(case=Case.objects.get(pk=case.pk), reviewer=second, actor=Actor(user=lead), now=timezone.now())
    assert first_client.get(change).status_code == 404
    assert first_client.get(checklist).status_code == 404
    assert first_client.post(checklist, {}).status_code == 404
    assert second_client.get(change).status_code == 200


@pytest.mark.django_db
def test_r3_shared_colleague_suspended_loses_the_shared_case_at_once() -> None:
    owner, colleague, lead = approved_officer(), approved_officer(), make_lead()
    case = submit_case(owner)
    owner_client, colleague_client = signed_in_client(owner.user), signed_in_client(colleague.user)
    assert _detail(colleague_client, case) == 404
    assert owner_client.post(reverse("cases:share", args=[case.reference]),
                             {"colleague_email": colleague.user.email}).status_code == 302
    assert _detail(colleague_client, case) == 200
    access_services.officer_suspend(officer=colleague, note="Calls from a number not the agency's.",
                                    referred_to="National Crime Agency", actor=Actor(user=lead), now=timezone.now())
    assert colleague_client.get(reverse("cases:detail", args=[case.reference])).status_code == 302
    assert colleague_client.post(reverse("cases:message", args=[case.reference]),
                                 {"body": "Still there?"}).status_code == 302
    assert not Case.objects.get(pk=case.pk).messages.filter(author=colleague.user).exists()
