"""Four-eyes, out-of-band confirmation, asset recovery (R9), the risk panel, the hold of a suspended
officer's cases (R3) and the list of staff who may contact agencies (R12), through the staff workspace.

Two members of the legal team in every four-eyes test: the assigned reviewer asks, a legal lead
approves. Each refusal is checked to leave nothing behind (no freeze, no release, no return).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cases.models import Approval, AssetReturn, Case, Freeze, Production, RecoveryOfficial
from cases.services import review
from cases.services.intake import IdentifierInput
from leors.access import services as access_services
from leors.access.models import Officer, User
from leors.core.audit import Actor
from leors.core.models import AuditEvent
from tests.cases.recovery_cast import BTC_ADDRESS, TX_HASH, RecoveryCast
from tests.conftest import signed_in_client
from tests.documents import ENGLISH_WARRANT, pdf_with_text
from tests.factories import (
    approved_officer,
    document_input,
    make_auditor,
    make_lead,
    make_reviewer,
    pdf_upload,
    submit_case,
)

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:cases_case_changelist")
WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"
OWN_APPROVAL_REFUSED = "You asked for this action; a second, different member of the legal team must approve it."
ACCEPT_REASONS = "The order was verified with the issuing authority and names an account we hold."


# --- helpers ------------------------------------------------------------------------------------

def change_url(case: Case) -> str:
    return reverse("admin:cases_case_change", args=[case.pk])


def workflow_url(case: Case, name: str) -> str:
    return reverse(f"admin:cases_case_{name}", args=[case.pk])


def official_id_url(official: RecoveryOfficial) -> str:
    return reverse("admin:cases_case_official_id", args=[official.pk])


def staff_client(user: User) -> Client:
    return signed_in_client(User.objects.get(pk=user.pk))  # fresh: guardian caches permissions


def action_names(response: Any) -> list[str]:
    return [action["name"] for action in response.context["workflow_actions"]]


def listed(client: Client, query: dict[str, str]) -> list[str]:
    response = client.get(CHANGELIST, query)
    assert response.status_code == 200
    return [case.reference for case in response.context["cl"].result_list]


def confirmation_post(**overrides: str) -> dict[str, str]:
    data = {"confirmed_with": "Duty inspector, operations room", "method": "phone",
            "contact_source": "Switchboard number on the force's official website",
            # The staff member's time zone is UTC: the datetime-local value is read in it. Now, to the
            # minute: a confirmation cannot be before the request, which these tests make moments ago.
            "confirmed_at": timezone.now().strftime("%Y-%m-%dT%H:%M")}
    data.update(overrides)
    return data


def accepted(case: Case, *, reviewer: User, lead: User) -> Case:
    """Assigned to `reviewer` by `lead`, reviewed and accepted by the reviewer, through the services."""
    now = timezone.now()
    review.case_assign(case=case, reviewer=reviewer, actor=Actor(user=lead), now=now)
    staff = Actor(user=User.objects.get(pk=reviewer.pk))
    review.case_checklist_update(case=case, data=review.ReviewChecklist(True, True, True, True, True, True),
                                 actor=staff, now=now)
    for document in case.documents.filter(verified_at__isnull=True, role="legal_process"):
        review.case_document_verify(document=document, actor=staff, now=now)
    review.case_decide(case=case, decision="accepted", reasons=ACCEPT_REASONS, actor=staff, now=now)
    case.refresh_from_db()
    return case


def freeze_request(officer: Officer, *, days: int = 21) -> Case:
    return submit_case(officer, request_type="freeze", freeze_duration_days=days, data_requested="",
                       has_non_disclosure_instruction=None,
                       documents=[document_input(pdf_with_text(ENGLISH_WARRANT), document_type="freeze_order")])


def decide_post(approval: Approval, decision: str = "approve") -> dict[str, Any]:
    return {"approval": approval.pk, "decision": decision}


# --- Four-eyes: freeze activation --------------------------------------------------------------------

def test_r9_four_eyes_asking_then_a_second_person_approving_activates_the_freeze() -> None:
    lead, reviewer, auditor = make_lead(), make_reviewer(), make_auditor()
    case = accepted(freeze_request(approved_officer(lead=lead)), reviewer=reviewer, lead=lead)
    asker, approver, auditor_client = staff_client(reviewer), staff_client(lead), staff_client(auditor)

    # Forged-request resistance: the activation is blocked until the request is confirmed out of band.
    html = asker.get(change_url(case)).content.decode()
    assert "Out-of-band confirmation: required before activation." in html
    activate_page = asker.get(workflow_url(case, "activate"))
    assert any("Confirm this request with the agency" in b for b in activate_page.context["blockers"])
    assert asker.post(workflow_url(case, "confirm"), confirmation_post(confirmed_with="")).status_code == 400
    assert asker.post(workflow_url(case, "confirm"), confirmation_post()).status_code == 302
    html = asker.get(change_url(case)).content.decode()
    assert "Out-of-band confirmation: required before activation." not in html
    assert "Duty inspector, operations room" in html
    assert asker.get(workflow_url(case, "activate")).context["blockers"] == []

    response = asker.post(workflow_url(case, "activate"), {}, follow=True)
    assert "Activation asked; a second, different member of the legal team must approve it" in (
        response.content.decode())
    approval = case.approvals.get()
    assert (approval.action, approval.status, approval.requested_by) == (
        Approval.Action.FREEZE_ACTIVATE, Approval.Status.PENDING, reviewer)
    assert not Freeze.objects.exists()
    page = asker.get(change_url(case))
    assert "activate" not in action_names(page) and "approvals" in action_names(page)
    assert 'id="pending-approvals"' in page.content.decode()
    assert listed(approver, {"approval": "awaiting"}) == [case.reference]

    # The one who asked cannot approve: told so on the page, refused by the service (400), nothing done.
    approvals_page = asker.get(workflow_url(case, "approvals"))
    assert approvals_page.status_code == 200
    assert "You asked for this: a second, different member of the legal team must approve it." in (
        approvals_page.content.decode())
    assert "21 days" in approvals_page.content.decode()  # what exactly would be granted
    events = AuditEvent.objects.count()
    refused = asker.post(workflow_url(case, "approvals"), decide_post(approval))
    assert refused.status_code == 400
    assert OWN_APPROVAL_REFUSED in refused.content.decode()
    assert not Freeze.objects.exists()
    assert Approval.objects.get(pk=approval.pk).status == Approval.Status.PENDING
    assert AuditEvent.objects.count() == events

    # An auditor reads but never approves: the page does not exist for them.
    assert auditor_client.get(workflow_url(case, "approvals")).status_code == 404
    assert auditor_client.post(workflow_url(case, "approvals"), decide_post(approval)).status_code == 404
    assert not Freeze.objects.exists()

    assert approver.post(workflow_url(case, "approvals"), decide_post(approval)).status_code == 302
    freeze = Freeze.objects.get(case=case)
    assert (freeze.granted_days, freeze.activated_by) == (21, lead)
    approval.refresh_from_db()
    assert (approval.status, approval.decided_by) == (Approval.Status.APPROVED, lead)
    case.refresh_from_db()
    assert case.status == Case.Status.FULFILLED
    assert listed(approver, {"approval": "awaiting"}) == []
    # Approving twice is refused: the approval was decided.
    again = approver.post(workflow_url(case, "approvals"), decide_post(approval))
    assert again.status_code == 400
    assert Freeze.objects.filter(case=case).count() == 1


# --- Four-eyes: production release --------------------------------------------------------------------

def test_r9_four_eyes_a_release_is_asked_cancelled_asked_again_and_released_by_a_second_person() -> None:
    lead, reviewer = make_lead(), make_reviewer()
    case = accepted(submit_case(approved_officer(lead=lead)), reviewer=reviewer, lead=lead)
    asker, approver = staff_client(reviewer), staff_client(lead)
    assert asker.post(workflow_url(case, "notification"), {
        "decision": "waived", "waiver_reason": "The account holder is deceased; the court knows."}).status_code == 302
    upload = SimpleUploadedFile("kyc.csv", b"uid,name\n81723,A. Holder\n", content_type="text/csv")
    assert asker.post(workflow_url(case, "upload"), {"file": upload, "description": "KYC"}).status_code == 302
    production = Production.objects.get(case=case)

    assert asker.post(workflow_url(case, "release"), {"production": production.pk}).status_code == 302
    first = case.approvals.get()
    page = approver.get(workflow_url(case, "approvals")).content.decode()
    assert production.original_name in page and production.sha256 in page
    # The asker may withdraw their own request.
    assert asker.post(workflow_url(case, "approvals"), decide_post(first, "cancel")).status_code == 302
    first.refresh_from_db()
    assert (first.status, first.decided_by) == (Approval.Status.CANCELLED, reviewer)
    assert approver.post(workflow_url(case, "approvals"), decide_post(first)).status_code == 400
    production.refresh_from_db()
    assert production.released_at is None

    assert asker.post(workflow_url(case, "release"), {"production": production.pk}).status_code == 302
    second = case.approvals.get(status=Approval.Status.PENDING)
    assert asker.post(workflow_url(case, "approvals"), decide_post(second)).status_code == 400
    production.refresh_from_db()
    assert production.released_at is None
    assert approver.post(workflow_url(case, "approvals"), decide_post(second)).status_code == 302
    production.refresh_from_db()
    assert production.released_by == lead and production.released_at is not None
    assert AuditEvent.objects.filter(action="case.production_released").count() == 1


# --- R9: asset recovery, step by step through the admin ---------------------------------------------

def test_r9_the_recovery_steps_are_taken_in_order_through_the_admin_and_a_skipped_step_is_refused() -> None:
    cast = RecoveryCast()
    case = cast.case
    cast.review(verify=False)
    asker, approver = staff_client(cast.reviewer), staff_client(cast.lead)

    # Step 1: the court order verified through the existing verify page; then accepted.
    page = asker.get(change_url(case))
    steps = page.context["recovery_steps"]
    assert [step["is_done"] for step in steps] == [False, False, False, False, False]
    assert asker.post(workflow_url(case, "verify"), {"document": cast.legal_process().pk}).status_code == 302
    cast.decide()
    page = asker.get(change_url(case))
    assert [step["is_done"] for step in page.context["recovery_steps"]] == [True, False, False, False, False]
    assert "Out-of-band confirmation: required before return." in page.content.decode()
    # Only the next step is offered: adding an official.
    assert {"official_add", "official_check", "official_confirm", "instructions", "return"} & set(
        action_names(page)) == {"official_add"}

    # Skipping ahead is refused by the services, with their words, and changes nothing.
    refused = asker.post(workflow_url(case, "instructions"), {})
    assert refused.status_code == 400
    assert "Name the officials who will handle the return first." in refused.content.decode()
    refused = asker.post(workflow_url(case, "return"), {"asset": "BTC", "amount": "0.5",
                                                          "destination_address": BTC_ADDRESS, "tx_hash": TX_HASH})
    assert refused.status_code == 400
    assert "Every official handling the return must be named and verified" in refused.content.decode()
    assert not case.approvals.exists()

    # Step 2: the official named with the ID document, the ID checked, the identity confirmed out of band.
    assert asker.post(workflow_url(case, "official_add"), {
        "name": "Commandant Claire Martin", "title": "Commandant de police", "organisation": "OCRGDF",
        "id_document": pdf_upload("claire-martin-id.pdf")}).status_code == 302
    official = RecoveryOfficial.objects.get(case=case)
    refused = asker.post(workflow_url(case, "instructions"), {})
    assert refused.status_code == 400
    assert "Verify the identity of every official first" in refused.content.decode()
    # The identity is confirmed only after the ID document was checked: not offered before.
    assert asker.post(workflow_url(case, "official_confirm"),
                      {"official": official.pk, **confirmation_post()}).status_code == 400
    page = asker.get(change_url(case))
    assert f"workflow-official_check-{official.pk}" in page.content.decode()
    assert f"workflow-official_confirm-{official.pk}" not in page.content.decode()
    assert asker.get(workflow_url(case, "official_check") + f"?official={official.pk}").status_code == 200
    assert asker.post(workflow_url(case, "official_check"), {"official": official.pk}).status_code == 302
    assert asker.post(workflow_url(case, "official_confirm"),
                      {"official": official.pk, **confirmation_post()}).status_code == 302
    official.refresh_from_db()
    assert official.is_verified and official.id_checked_by == cast.reviewer

    # Step 3: the instructions issued; shown with their acknowledgement state.
    assert asker.post(workflow_url(case, "instructions"), {}).status_code == 302
    html = asker.get(change_url(case)).content.decode()
    assert "not yet acknowledged by the officer" in html
    assert case.reference in html  # the instructions' text names the case
    refused = asker.post(workflow_url(case, "return"), {"asset": "BTC", "amount": "0.5",
                                                          "destination_address": BTC_ADDRESS, "tx_hash": TX_HASH})
    assert refused.status_code == 400
    assert "Written instructions must be issued and acknowledged by the officer." in refused.content.decode()
    cast.acknowledge()
    html = asker.get(change_url(case)).content.decode()
    assert "acknowledged by" in html

    # Step 4: the request confirmed out of band.
    refused = asker.post(workflow_url(case, "return"), {"asset": "BTC", "amount": "0.5",
                                                          "destination_address": BTC_ADDRESS, "tx_hash": TX_HASH})
    assert refused.status_code == 400
    assert "confirmed with the agency through an independently found contact" in refused.content.decode()
    assert asker.post(workflow_url(case, "confirm"), confirmation_post()).status_code == 302

    # Step 5: the return asked (each field checked), then approved by a second person.
    page = asker.get(change_url(case))
    assert "return" in action_names(page)
    assert page.context["return_blockers"] == []
    bad = asker.post(workflow_url(case, "return"), {"asset": "BTC", "amount": "-1", "destination_address": "nope",
                                                    "tx_hash": TX_HASH})
    assert bad.status_code == 400
    assert set(bad.context["form"].errors) >= {"amount", "destination_address"}
    assert asker.post(workflow_url(case, "return"), {"asset": "btc", "amount": "0.5",
                                                     "destination_address": BTC_ADDRESS,
                                                     "tx_hash": TX_HASH}).status_code == 302
    approval = case.approvals.get()
    approvals_html = approver.get(workflow_url(case, "approvals")).content.decode()
    assert BTC_ADDRESS in approvals_html and "BTC" in approvals_html
    refused = asker.post(workflow_url(case, "approvals"), decide_post(approval))
    assert refused.status_code == 400
    assert OWN_APPROVAL_REFUSED in refused.content.decode()
    assert not AssetReturn.objects.exists()

    assert approver.post(workflow_url(case, "approvals"), decide_post(approval)).status_code == 302
    record = AssetReturn.objects.get(case=case)
    assert (record.asset, record.requested_by, record.approved_by) == ("BTC", cast.reviewer, cast.lead)
    case.refresh_from_db()
    assert case.status == Case.Status.FULFILLED
    page = asker.get(change_url(case))
    assert all(step["is_done"] for step in page.context["recovery_steps"])
    assert 'id="asset-return"' in page.content.decode()
    assert not {"official_add", "official_check", "official_confirm", "instructions", "return"} & set(
        action_names(page))


def test_r9_the_official_id_download_is_audited_and_404_for_an_officer_and_an_unassigned_reviewer() -> None:
    cast = RecoveryCast().accepted()
    official = cast.add_official()
    url = official_id_url(official)

    response = staff_client(cast.reviewer).get(url)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Disposition"].startswith("attachment")
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    event = AuditEvent.objects.get(action="document.downloaded", object_type="cases.recoveryofficial")
    assert (event.object_id, event.actor_label) == (str(official.pk), cast.reviewer.email)
    assert event.changes["sha256"] == official.id_sha256

    downloads = AuditEvent.objects.filter(action="document.downloaded").count()
    assert signed_in_client(cast.officer.user).get(url).status_code == 404
    assert staff_client(cast.other_reviewer).get(url).status_code == 404
    assert staff_client(cast.lead).get(official_id_url(RecoveryOfficial(pk=official.pk + 1000))).status_code == 404
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("admin:login"))
    assert AuditEvent.objects.filter(action="document.downloaded").count() == downloads


# --- Risk panel -------------------------------------------------------------------------------------

def test_r3_the_risk_panel_shows_another_agency_s_request_for_the_same_wallet_only_when_there_is_one() -> None:
    lead = make_lead()
    officer = approved_officer(lead=lead)
    case = submit_case(officer, identifiers=[IdentifierInput(kind="wallet", value=WALLET)])
    client = staff_client(lead)

    html = client.get(change_url(case)).content.decode()
    assert 'id="risk-panel"' in html
    assert 'id="risk-other_agency"' not in html
    # Reassuring facts are shown too, marked as such; the new account is a warning. No score.
    assert '<li class="risk-ok" id="risk-domain">OK: The domain' in html
    assert '<li class="risk-warning" id="risk-account_age"><strong>Warning:</strong>' in html
    assert "score" not in html.lower()

    berlin = approved_officer(lead=lead, body_name="Polizei Berlin", country="DE", jurisdiction="Berlin",
                              official_email="m.schulz@polizei.berlin.example.de",
                              supervisor_email="chef@polizei.berlin.example.de")
    berlin_case = submit_case(berlin, identifiers=[IdentifierInput(kind="wallet", value=WALLET)])
    html = client.get(change_url(case)).content.decode()
    assert '<li class="risk-warning" id="risk-other_agency"><strong>Warning:</strong> The same subject' in html
    assert f"{berlin_case.reference} (Polizei Berlin)" in html

    # The officer page has its own panel, from the officer's signals.
    officer_html = client.get(reverse("admin:access_officer_change", args=[officer.pk])).content.decode()
    assert 'id="risk-panel"' in officer_html and 'id="risk-domain"' in officer_html
    assert 'id="risk-other_agency"' not in officer_html


# --- R3: cases on hold --------------------------------------------------------------------------------

def test_r3_a_suspended_officer_s_case_is_on_hold_and_only_a_lead_releases_it_with_a_note() -> None:
    lead, reviewer = make_lead(), make_reviewer()
    officer = approved_officer(lead=lead)
    case = submit_case(officer)
    review.case_assign(case=case, reviewer=reviewer, actor=Actor(user=lead), now=timezone.now())
    other = submit_case(approved_officer(lead=lead, official_email="kim.other@met.police.example.uk"))
    access_services.officer_suspend(officer=officer, note="Letterhead forged; the force denies the request.",
                                    referred_to="Action Fraud", actor=Actor(user=lead), now=timezone.now())
    lead_client, reviewer_client = staff_client(lead), staff_client(reviewer)

    page = lead_client.get(change_url(case))
    html = page.content.decode()
    assert 'id="on-hold"' in html and "Letterhead forged" in html
    assert "release_hold" in action_names(page)
    assert listed(lead_client, {"on_hold": "yes"}) == [case.reference]
    assert other.reference in listed(lead_client, {})

    reviewer_page = reviewer_client.get(change_url(case))
    assert 'id="on-hold"' in reviewer_page.content.decode()
    assert "release_hold" not in action_names(reviewer_page)
    note = {"note": "Called the force's switchboard: the request was confirmed as genuine."}
    assert reviewer_client.get(workflow_url(case, "release_hold")).status_code == 404
    assert reviewer_client.post(workflow_url(case, "release_hold"), note).status_code == 404
    case.refresh_from_db()
    assert case.on_hold_at is not None

    short = lead_client.post(workflow_url(case, "release_hold"), {"note": "ok"})
    assert short.status_code == 400
    assert "Record what was checked before lifting the hold." in short.content.decode()
    assert lead_client.post(workflow_url(case, "release_hold"), note).status_code == 302
    case.refresh_from_db()
    assert (case.on_hold_at, case.on_hold_reason) == (None, "")
    assert AuditEvent.objects.filter(action="case.hold_released", object_id=str(case.pk)).count() == 1
    assert listed(lead_client, {"on_hold": "yes"}) == []
    again = lead_client.post(workflow_url(case, "release_hold"), note)
    assert again.status_code == 400
    assert "This case is not on hold." in again.content.decode()


# --- R12: staff who may contact agencies ----------------------------------------------------------------

def test_r12_a_lead_lists_and_unlists_a_staff_member_who_may_contact_agencies() -> None:
    lead = make_lead()
    reviewer = make_reviewer(full_name="Robin Reviewer")
    nameless = make_reviewer()
    lead_client, reviewer_client = staff_client(lead), staff_client(reviewer)
    list_url = reverse("admin:access_user_list_contact", args=[reviewer.pk])
    unlist_url = reverse("admin:access_user_unlist_contact", args=[reviewer.pk])

    page = lead_client.get(reverse("admin:access_user_change", args=[reviewer.pk]))
    assert page.status_code == 200
    assert action_names(page) == ["list_contact"]
    assert reviewer_client.get(list_url).status_code == 404
    assert reviewer_client.post(list_url, {}).status_code == 404
    assert not User.objects.get(pk=reviewer.pk).may_contact_agencies

    assert lead_client.post(list_url, {}).status_code == 302
    assert User.objects.get(pk=reviewer.pk).may_contact_agencies
    assert AuditEvent.objects.filter(action="staff.contact_listing_set", object_id=str(reviewer.pk)).count() == 1
    assert action_names(lead_client.get(reverse("admin:access_user_change", args=[reviewer.pk]))) == [
        "unlist_contact"]
    # Someone without a full name cannot be listed: /verify/ checks a name.
    refused = lead_client.post(reverse("admin:access_user_list_contact", args=[nameless.pk]), {})
    assert refused.status_code == 400
    assert "with a full name" in refused.content.decode()

    assert lead_client.post(unlist_url, {}).status_code == 302
    assert not User.objects.get(pk=reviewer.pk).may_contact_agencies
