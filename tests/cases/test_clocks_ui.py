"""The clocks in the staff workspace and the officer portal (R7 preservation holds, R8 freezes):
activating and lifting a freeze through the workflow pages, the case pages showing each clock as
stored (with "in force" derived from its end), the extension link and form, further orders, and
withdrawal of a freeze in force.

Permission tests use the assigned reviewer, an unassigned reviewer and an auditor on the staff side,
and the owner, a colleague and an outsider on the officer side (STYLE.md rule 10).
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import dateformat, timezone

from cases.models import Case, Freeze, PreservationHold, Reminder
from cases.services import clocks, correspondence, review
from leors import policy
from leors.access.models import Officer, User
from leors.core.audit import Actor
from leors.core.models import AuditEvent
from tests.conftest import signed_in_client
from tests.documents import ENGLISH_REQUEST, ENGLISH_WARRANT, pdf_with_text
from tests.factories import (
    approved_officer,
    confirm_out_of_band,
    document_input,
    four_eyes_activate,
    make_auditor,
    make_lead,
    make_reviewer,
    submit_case,
)

pytestmark = pytest.mark.django_db

WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"
PASSAGE = "Paragraph 4: the account shall remain frozen for ninety (90) days from service of this order."
LIFT_NOTE = "Order of the Crown Court at Southwark of 3 June, ref. T20267781/2, discharging the freeze."
PASSAGE_MISSING = "Quote the passage of the order that explicitly orders the longer period."


# --- helpers ------------------------------------------------------------------------------------

def change_url(case: Case) -> str:
    return reverse("admin:cases_case_change", args=[case.pk])


def workflow_url(case: Case, name: str) -> str:
    return reverse(f"admin:cases_case_{name}", args=[case.pk])


def detail_url(case: Case) -> str:
    return reverse("cases:detail", args=[case.reference])


def action_names(response: Any) -> list[str]:
    return [action["name"] for action in response.context["workflow_actions"]]


def freeze_request(officer: Officer, *, days: int = 45, **overrides: Any) -> Case:
    return submit_case(officer, request_type="freeze", freeze_duration_days=days, data_requested="",
                       has_non_disclosure_instruction=None,
                       documents=[document_input(pdf_with_text(ENGLISH_WARRANT), document_type="freeze_order")],
                       **overrides)


def preservation_request(officer: Officer, **overrides: Any) -> Case:
    return submit_case(officer, request_type="preservation", data_requested="", has_non_disclosure_instruction=None,
                       **overrides)


def accepted(case: Case, *, reviewer: User, lead: User) -> Case:
    """Assigned to `reviewer` by `lead`, reviewed and accepted by the reviewer, through the services."""
    now = timezone.now()
    review.case_assign(case=case, reviewer=reviewer, actor=Actor(user=lead), now=now)
    reviewer = User.objects.get(pk=reviewer.pk)  # guardian caches permissions: re-fetch after the grant
    staff = Actor(user=reviewer)
    review.case_checklist_update(case=case, data=review.ReviewChecklist(True, True, True, True, True, True),
                                 actor=staff, now=now)
    review.case_decide(case=case, decision="accepted", reasons="The freeze order is valid and names the account.",
                       actor=staff, now=now)
    case.refresh_from_db()
    return case


def activated(case: Case, *, reviewer: User) -> Freeze:
    return four_eyes_activate(case=case, activation=clocks.FreezeActivation(),
                              actor=Actor(user=User.objects.get(pk=reviewer.pk)), now=timezone.now())


def confirmed(case: Case, *, by: User) -> Case:
    """The request confirmed with the agency out of band, as freezes need before activation."""
    confirm_out_of_band(case, actor=Actor(user=User.objects.get(pk=by.pk)))
    return case


def approve(case: Case, *, by: User) -> None:
    """Four-eyes: a second member of the legal team approves the pending request on the approvals page."""
    approval = case.approvals.get(status="pending")
    response = staff_client(by).post(workflow_url(case, "approvals"), {"approval": approval.pk, "decision": "approve"})
    assert response.status_code == 302, response.content.decode()


def staff_client(user: User) -> Client:
    return signed_in_client(User.objects.get(pk=user.pk))


def in_zone(moment: Any, zone: str) -> str:
    """How the portal prints a moment for a viewer in `zone` ("j M Y, H:i T")."""
    return dateformat.format(moment.astimezone(ZoneInfo(zone)), "j M Y, H:i T")


def portal_form(request_type: str, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "submission_key": uuid.uuid4().hex,
        "request_type": request_type,
        "title": "Account behind a romance-scam wallet",
        "case_reference": "OP-KESTREL-42",
        "request_text": ENGLISH_REQUEST,
        "subjects-TOTAL_FORMS": "1", "subjects-INITIAL_FORMS": "0",
        "subjects-MIN_NUM_FORMS": "0", "subjects-MAX_NUM_FORMS": "50",
        "subjects-0-kind": "wallet", "subjects-0-value": WALLET, "subjects-0-chain": "",
        "documents-TOTAL_FORMS": "1", "documents-INITIAL_FORMS": "0",
        "documents-MIN_NUM_FORMS": "0", "documents-MAX_NUM_FORMS": "10",
        "documents-0-file": SimpleUploadedFile("order.pdf", pdf_with_text(ENGLISH_WARRANT),
                                               content_type="application/pdf"),
        "documents-0-document_type": "freeze_order" if request_type == "freeze" else "warrant",
        "documents-0-issuing_authority": "Crown Court at Southwark",
        "documents-0-document_reference": "T20267781",
    }
    data.update(overrides)
    return data


def input_value(html: str, name: str) -> str | None:
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    if tag is None:
        return None
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return value.group(1) if value else ""


# --- R8: activation through the staff workspace ------------------------------------------------------

def test_r8_activation_through_the_admin_grants_the_capped_period_unless_the_order_is_quoted() -> None:
    lead, reviewer = make_lead(), make_reviewer()
    officer = approved_officer(lead=lead)
    capped_case = accepted(freeze_request(officer, days=45), reviewer=reviewer, lead=lead)
    longer_case = accepted(freeze_request(officer, days=45), reviewer=reviewer, lead=lead)
    client = staff_client(reviewer)
    cap = policy.freeze_max_days()
    assert cap == 30

    page = client.get(change_url(capped_case))
    # Activation is what fulfils a freeze: there is no "mark fulfilled" that would skip it.
    assert "activate" in action_names(page) and "fulfil" not in action_names(page)
    assert "lift" not in action_names(page)
    form_page = client.get(workflow_url(capped_case, "activate"))
    assert form_page.status_code == 200
    facts = dict(form_page.context["facts"])
    assert facts["Duration stated in the order"] == "45 days"
    assert facts["Cap (R8)"].startswith("30 days")
    assert facts["Would be granted"].startswith("30 days (the cap); 45 days only if you confirm")

    # Confirming without citing the passage is refused with the service's words, and nothing starts.
    refused = client.post(workflow_url(capped_case, "activate"), {"confirm_longer": "on", "longer_passage": " "})
    assert refused.status_code == 400
    assert PASSAGE_MISSING in refused.content.decode()
    # A passage without the confirmation would be ignored silently: the form asks which was meant.
    ambiguous = client.post(workflow_url(capped_case, "activate"), {"longer_passage": PASSAGE})
    assert ambiguous.status_code == 400
    assert "did not confirm" in ambiguous.content.decode()
    # The request itself must be confirmed with the agency out of band first: a blocker, then a refusal.
    assert "Confirm this request with the agency" in form_page.content.decode()
    unconfirmed = client.post(workflow_url(capped_case, "activate"), {})
    assert unconfirmed.status_code == 400
    assert "Confirm this request with the agency" in unconfirmed.content.decode()
    assert not Freeze.objects.exists() and not capped_case.approvals.exists()

    confirmed(capped_case, by=reviewer)
    before = timezone.now()
    done = client.post(workflow_url(capped_case, "activate"), {})
    assert done.status_code == 302 and done["Location"] == change_url(capped_case)
    assert not Freeze.objects.exists()  # asked, not yet approved
    approve(capped_case, by=lead)
    freeze = Freeze.objects.get(case=capped_case)
    assert (freeze.stated_days, freeze.granted_days, freeze.longer_confirmed) == (45, 30, False)
    assert before <= freeze.activated_at <= timezone.now()
    assert freeze.expires_at == freeze.activated_at + timedelta(days=30)
    assert freeze.activated_by == lead  # the second pair of eyes carried it out
    capped_case.refresh_from_db()
    assert capped_case.status == Case.Status.FULFILLED

    confirmed(longer_case, by=reviewer)
    longer = client.post(workflow_url(longer_case, "activate"), {"confirm_longer": "on", "longer_passage": PASSAGE})
    assert longer.status_code == 302
    approve(longer_case, by=lead)
    longer_freeze = Freeze.objects.get(case=longer_case)
    assert (longer_freeze.granted_days, longer_freeze.longer_confirmed, longer_freeze.longer_passage) == (45, True,
                                                                                                         PASSAGE)
    assert longer_freeze.expires_at == longer_freeze.activated_at + timedelta(days=45)

    # The case page shows the freeze as stored; activation is no longer offered, an early lift is.
    page = client.get(change_url(longer_case))
    html = page.content.decode()
    assert page.context["freeze_in_force"] is True
    assert "activate" not in action_names(page) and "lift" in action_names(page)
    assert "close" not in action_names(page)  # closing would take the officer's withdrawal away
    assert re.search(r'id="freeze-granted">45 days<', html)
    assert re.search(r'id="freeze-longer">Yes: the order itself explicitly orders it\.<br><small>Passage: ' + re.escape(PASSAGE), html)
    assert re.search(r'id="freeze-in-force">Yes<', html)
    # Activating again is refused by the service (the button is gone, the page still answers).
    again = client.post(workflow_url(longer_case, "activate"), {"confirm_longer": "on", "longer_passage": PASSAGE})
    assert again.status_code == 400
    assert Freeze.objects.filter(case=longer_case).count() == 1


def test_r8_a_freeze_within_the_cap_runs_as_stated_with_nothing_to_confirm() -> None:
    lead, reviewer = make_lead(), make_reviewer()
    case = accepted(freeze_request(approved_officer(lead=lead), days=21), reviewer=reviewer, lead=lead)
    client = staff_client(reviewer)
    page = client.get(workflow_url(case, "activate"))
    assert "confirm_longer" not in page.context["form"].fields
    assert dict(page.context["facts"])["Would be granted"] == "21 days, as stated"
    confirmed(case, by=reviewer)
    assert client.post(workflow_url(case, "activate"), {}).status_code == 302
    approve(case, by=lead)
    assert Freeze.objects.get(case=case).granted_days == 21


def test_r8_an_unassigned_reviewer_and_an_auditor_get_404_on_activate_and_lift() -> None:
    lead, reviewer, colleague, auditor = make_lead(), make_reviewer(), make_reviewer(), make_auditor()
    officer = approved_officer(lead=lead)
    case = accepted(freeze_request(officer), reviewer=reviewer, lead=lead)
    colleague_client, auditor_client = staff_client(colleague), staff_client(auditor)
    officer_client = signed_in_client(officer.user)
    events = AuditEvent.objects.exclude(action="access.denied").count()

    posts = {"activate": {"confirm_longer": "on", "longer_passage": PASSAGE},
             "lift": {"reason": "court_decision", "note": LIFT_NOTE}}
    for name, data in posts.items():
        for client in (colleague_client, auditor_client):
            assert client.get(workflow_url(case, name)).status_code == 404, name
            assert client.post(workflow_url(case, name), data).status_code == 404, name
        # The officer never enters the staff workspace.
        assert officer_client.post(workflow_url(case, name), data).status_code == 302
    assert not Freeze.objects.exists()
    assert AuditEvent.objects.exclude(action="access.denied").count() == events

    # The assigned reviewer asks, a lead approves; the auditor reads the freeze but is offered nothing.
    confirmed(case, by=reviewer)
    assert staff_client(reviewer).post(workflow_url(case, "activate"), {}).status_code == 302
    approval = case.approvals.get()
    for client in (colleague_client, auditor_client):
        assert client.get(workflow_url(case, "approvals")).status_code == 404
        assert client.post(workflow_url(case, "approvals"), {"approval": approval.pk, "decision": "approve"}
                           ).status_code == 404
    assert not Freeze.objects.exists()
    approve(case, by=lead)
    page = auditor_client.get(change_url(case))
    assert page.status_code == 200 and page.context["freeze"].granted_days == 30
    assert "lift" not in action_names(page)
    for client in (colleague_client, auditor_client):
        assert client.get(workflow_url(case, "lift")).status_code == 404
        assert client.post(workflow_url(case, "lift"), posts["lift"]).status_code == 404
    assert Freeze.objects.get(case=case).status == Freeze.Status.ACTIVE
    assert not AuditEvent.objects.filter(action="freeze.lifted").exists()


# --- R8: early lift through the staff workspace ---------------------------------------------------------

def test_r8_an_early_lift_through_the_admin_records_its_reason_and_the_case_page_shows_it() -> None:
    lead, reviewer = make_lead(), make_reviewer()
    officer = approved_officer(lead=lead)
    case = accepted(freeze_request(officer), reviewer=reviewer, lead=lead)
    freeze = activated(case, reviewer=reviewer)
    client = staff_client(reviewer)

    page = client.get(workflow_url(case, "lift"))
    assert page.status_code == 200
    offered = [value for value, _ in page.context["form"].fields["reason"].choices]
    assert offered == ["withdrawn", "court_decision", "other"]  # "expired" belongs to the sweep

    short = client.post(workflow_url(case, "lift"), {"reason": "court_decision", "note": "court"})
    assert short.status_code == 400
    assert "Record what the lift rests on" in short.content.decode()
    assert Freeze.objects.get(pk=freeze.pk).status == Freeze.Status.ACTIVE

    before = timezone.now()
    done = client.post(workflow_url(case, "lift"), {"reason": "court_decision", "note": LIFT_NOTE})
    assert done.status_code == 302
    freeze.refresh_from_db()
    assert freeze.status == Freeze.Status.LIFTED
    assert (freeze.lift_reason, freeze.lift_note, freeze.lifted_by) == ("court_decision", LIFT_NOTE, reviewer)
    assert freeze.lifted_at is not None and freeze.lifted_at >= before
    event = AuditEvent.objects.get(action="freeze.lifted")
    assert event.changes["reason"] == "court_decision"

    page = client.get(change_url(case))
    html = page.content.decode()
    assert re.search(r'id="freeze-status">Lifted<', html)
    assert re.search(r'id="freeze-in-force">No<', html)
    assert re.search(r'id="freeze-lift-reason">A court decision lifted it<', html)
    assert f'id="freeze-lift-note">Note: {LIFT_NOTE}<' in html
    assert "lift" not in action_names(page) and "close" in action_names(page)
    # Lifting twice is refused by the service: the freeze is no longer active.
    again = client.post(workflow_url(case, "lift"), {"reason": "other", "note": LIFT_NOTE})
    assert again.status_code == 400
    assert "no longer active" in again.content.decode()
    assert AuditEvent.objects.filter(action="freeze.lifted").count() == 1

    # The officer reads that the freeze was lifted early, and when.
    officer_html = signed_in_client(officer.user).get(detail_url(case)).content.decode()
    assert "Lifted early" in officer_html
    assert in_zone(freeze.lifted_at, "UTC") in officer_html


# --- R7: the hold on the officer's case page ----------------------------------------------------------

def test_r7_the_officer_page_shows_the_hold_end_and_the_extension_link_while_in_force_only() -> None:
    lead = make_lead()
    officer = approved_officer(lead=lead)
    officer.user.time_zone = "Asia/Tokyo"
    officer.user.save(update_fields=["time_zone"])
    preservation = preservation_request(officer)
    hold = PreservationHold.objects.get(case=preservation)
    link = (f'href="{reverse("cases:new")}?type=preservation_extension&amp;extends={preservation.reference}"')

    # Signed in at each moment: a session lasts hours, not the 60 days of a hold.
    with time_machine.travel(hold.expires_at - timedelta(seconds=1), tick=False):
        html = signed_in_client(officer.user).get(detail_url(preservation)).content.decode()
        assert 'id="deadlines"' in html
        assert in_zone(hold.expires_at, "Asia/Tokyo") in html  # the viewer's time zone
        assert "JST" in in_zone(hold.expires_at, "Asia/Tokyo")
        assert re.search(r'id="hold-state"><span class="good">In force<', html)
        assert link in html

    with time_machine.travel(hold.expires_at + timedelta(seconds=1), tick=False):
        # No sweep has run: the page derives "ended" from the stored end.
        assert PreservationHold.objects.get(pk=hold.pk).status == PreservationHold.Status.ACTIVE
        html = signed_in_client(officer.user).get(detail_url(preservation)).content.decode()
        assert re.search(r'id="hold-state"><span class="bad">Ended<', html)
        assert in_zone(hold.expires_at, "Asia/Tokyo") in html
        assert link not in html and "File an extension" not in html


def test_r7_an_extension_prefilled_from_the_link_is_filed_and_a_late_one_is_refused_naming_the_date() -> None:
    lead, reviewer = make_lead(), make_reviewer()
    officer = approved_officer(lead=lead)
    preservation = preservation_request(officer)
    late_preservation = preservation_request(officer)
    client = signed_in_client(officer.user)

    form_page = client.get(reverse("cases:new"),
                           {"type": "preservation_extension", "extends": preservation.reference})
    assert form_page.status_code == 200
    assert input_value(form_page.content.decode(), "extends_case_reference") == preservation.reference

    filed = client.post(reverse("cases:new"), portal_form("preservation_extension",
                                                          extends_case_reference=preservation.reference))
    assert filed.status_code == 302
    extension = Case.objects.get(request_type="preservation_extension")
    assert extension.extends_case == preservation
    hold = PreservationHold.objects.get(case=preservation)
    assert hold.has_pending_extension()

    # Staff see the extension on the preservation's page, filed before the hold's end.
    review.case_assign(case=preservation, reviewer=reviewer, actor=Actor(user=lead), now=timezone.now())
    staff_page = staff_client(reviewer).get(change_url(preservation))
    assert staff_page.context["hold"] == hold and staff_page.context["hold_has_pending_extension"] is True
    assert [(row["case"], row["filed_in_time"]) for row in staff_page.context["hold_extension_rows"]] == [
        (extension, True)]
    assert re.search(r'id="hold-in-force">Yes<', staff_page.content.decode())

    # Past its end, the extension filed in time holds the hold open until it is reviewed; no second one.
    with time_machine.travel(hold.expires_at + timedelta(seconds=1), tick=False):
        html = signed_in_client(officer.user).get(detail_url(preservation)).content.decode()
        assert 'id="hold-extension-pending"' in html
        assert re.search(r'id="hold-state"><span class="good">In force<', html)
        assert "File an extension" not in html

    late_hold = PreservationHold.objects.get(case=late_preservation)
    with time_machine.travel(late_hold.expires_at + timedelta(minutes=1), tick=False):
        refused = signed_in_client(officer.user).post(reverse("cases:new"), portal_form("preservation_extension",
                                                                extends_case_reference=late_preservation.reference))
        assert refused.status_code == 400
        html = refused.content.decode()
        ended = late_hold.expires_at.astimezone(ZoneInfo("UTC"))
        assert f"ended on {ended:%d %B %Y at %H:%M} UTC" in html
        assert "must be filed before the hold expires" in html
    assert Case.objects.filter(extends_case=late_preservation).count() == 0


# --- R8: further orders and withdrawal from the portal ---------------------------------------------------

def test_r8_the_freeze_form_posts_a_further_order_that_extends_the_freeze_in_force() -> None:
    lead, reviewer = make_lead(), make_reviewer()
    officer = approved_officer(lead=lead)
    outsider = approved_officer(lead=lead, body_name="Police judiciaire de Paris", country="FR",
                                jurisdiction="Paris", official_email="enqueteur.clocks@interieur.gouv.fr")
    first = accepted(freeze_request(officer, days=20), reviewer=reviewer, lead=lead)
    first_freeze = activated(first, reviewer=reviewer)
    original_end = first_freeze.expires_at
    foreign = freeze_request(outsider)
    client = signed_in_client(officer.user)

    form_page = client.get(reverse("cases:new"), {"type": "freeze"})
    html = form_page.content.decode()
    assert "This is a further order for freeze (LEORS reference)" in html
    assert input_value(html, "extends_case_reference") == ""
    # Optional for a freeze (a new order names no earlier one), unlike for a preservation extension.
    assert not re.search(r'<input[^>]*name="extends_case_reference"[^>]*aria-required', html)
    assert not re.search(r'for="id_extends_case_reference">[^<]*<span class="required">', html)

    not_ours = client.post(reverse("cases:new"), portal_form("freeze", freeze_duration_days="20",
                                                             extends_case_reference=foreign.reference))
    assert not_ours.status_code == 400
    assert f"“{foreign.reference}” is not a freeze request of yours" in not_ours.content.decode()

    posted = client.post(reverse("cases:new"), portal_form("freeze", freeze_duration_days="20",
                                                           extends_case_reference=first.reference.lower()))
    assert posted.status_code == 302
    further = Case.objects.get(extends_case=first)
    assert (further.request_type, further.freeze_duration_days) == ("freeze", 20)
    assert first.reference in client.get(detail_url(further)).content.decode()

    # Accepted and activated while the first freeze is in force, it moves that freeze's end.
    accepted(further, reviewer=reviewer, lead=lead)
    staff = staff_client(reviewer)
    activate_page = staff.get(workflow_url(further, "activate"))
    assert "moves that end later" in dict(activate_page.context["facts"])["Further order for"]
    confirmed(further, by=reviewer)
    assert staff.post(workflow_url(further, "activate"), {}).status_code == 302
    approve(further, by=lead)
    first_freeze.refresh_from_db()
    assert first_freeze.expires_at == original_end + timedelta(days=20)
    assert first_freeze.extension_count == 1
    assert not Freeze.objects.filter(case=further).exists()
    staff_page = staff.get(change_url(further))
    assert staff_page.context["continued_freeze"] == first_freeze
    assert "extended the freeze of" in staff_page.content.decode()
    assert further.reference in staff.get(change_url(first)).content.decode()  # listed as a further order
    officer_html = client.get(detail_url(further)).content.decode()
    assert "This further order extended the freeze of" in officer_html
    assert in_zone(first_freeze.expires_at, "UTC") in officer_html

    # A further order naming that further order: the pages show the freeze it continues, the first one,
    # and the officer reads the reference they named.
    client.post(reverse("cases:new"), portal_form("freeze", freeze_duration_days="10",
                                                  extends_case_reference=further.reference))
    second = Case.objects.get(extends_case=further)
    accepted(second, reviewer=reviewer, lead=lead)
    assert "moves that end later" in dict(staff.get(workflow_url(second, "activate")).context["facts"])[
        "Further order for"]
    confirmed(second, by=reviewer)
    assert staff.post(workflow_url(second, "activate"), {}).status_code == 302
    approve(second, by=lead)
    first_freeze.refresh_from_db()
    assert (first_freeze.expires_at, first_freeze.extension_count) == (original_end + timedelta(days=30), 2)
    assert staff.get(change_url(second)).context["continued_freeze"] == first_freeze
    officer_html = client.get(detail_url(second)).content.decode()
    assert f'This further order extended the freeze continued by <a href="{detail_url(further)}">' in officer_html
    assert in_zone(first_freeze.expires_at, "UTC") in officer_html


def test_r8_withdrawing_a_freeze_in_force_from_the_portal_asks_the_legal_team_to_lift_it() -> None:
    lead, reviewer = make_lead(), make_reviewer()
    officer = approved_officer(lead=lead)
    colleague = approved_officer(lead=lead, official_email="colleague.clocks@met.police.example.uk")
    outsider = approved_officer(lead=lead, body_name="Police judiciaire de Paris", country="FR",
                                jurisdiction="Paris", official_email="enqueteur.withdraw@interieur.gouv.fr")
    case = accepted(freeze_request(officer), reviewer=reviewer, lead=lead)
    client = signed_in_client(officer.user)
    withdraw_url = reverse("cases:withdraw", args=[case.reference])

    # Accepted, not yet activated: the freeze has not started and the request cannot be withdrawn.
    html = client.get(detail_url(case)).content.decode()
    assert "Not active yet — it starts when the legal team activates it after review" in html
    assert withdraw_url not in html

    freeze = activated(case, reviewer=reviewer)
    html = client.get(detail_url(case)).content.decode()
    assert "Withdraw the freeze order (the legal team then lifts the freeze)" in html
    assert re.search(r'id="freeze-state">\s*<span class="good">In force<', html)
    assert in_zone(freeze.expires_at, "UTC") in html
    for other in (colleague, outsider):
        assert signed_in_client(other.user).post(withdraw_url).status_code == 404
    assert Freeze.objects.get(pk=freeze.pk).status == Freeze.Status.ACTIVE

    withdrawn = client.post(withdraw_url, follow=True)
    assert withdrawn.redirect_chain == [(detail_url(case), 302)]
    assert "The legal team lifts the freeze once they have confirmed the withdrawal" in withdrawn.content.decode()
    freeze.refresh_from_db()
    case.refresh_from_db()
    assert case.status == Case.Status.WITHDRAWN
    # The officer's account alone releases nothing: the freeze holds until the legal team lifts it.
    assert freeze.status == Freeze.Status.ACTIVE
    assert AuditEvent.objects.filter(action="freeze.lift_requested", object_id=str(case.pk)).count() == 1
    clocks.freeze_lift(freeze=freeze, reason=Freeze.LiftReason.WITHDRAWN, actor=Actor(user=reviewer),
                       note="Withdrawal confirmed with the agency's duty desk.", now=timezone.now())
    freeze.refresh_from_db()
    assert (freeze.status, freeze.lift_reason) == (Freeze.Status.LIFTED, Freeze.LiftReason.WITHDRAWN)
    event = AuditEvent.objects.get(action="freeze.lifted", object_type="cases.case", object_id=str(case.pk))
    assert event.changes["reason"] == "withdrawn"
    html = client.get(detail_url(case)).content.decode()
    assert "Lifted early" in html and "The request was withdrawn" in html
    assert "Withdraw the freeze order" not in html


def test_r8_a_freeze_past_its_end_offers_neither_withdrawal_nor_lift() -> None:
    lead, reviewer = make_lead(), make_reviewer()
    officer = approved_officer(lead=lead)
    case = accepted(freeze_request(officer), reviewer=reviewer, lead=lead)
    freeze = activated(case, reviewer=reviewer)
    with time_machine.travel(freeze.expires_at + timedelta(seconds=1), tick=False):
        html = signed_in_client(officer.user).get(detail_url(case)).content.decode()
        assert "Withdraw the freeze order" not in html
        assert re.search(r'id="freeze-state">\s*<span class="bad">Ended<', html)
        page = staff_client(reviewer).get(change_url(case))
        assert page.context["freeze_in_force"] is False and "lift" not in action_names(page)


# --- The queue and the reminders ---------------------------------------------------------------------

def test_r7_r8_the_queue_filters_by_clock_and_the_case_page_lists_reminders() -> None:
    lead = make_lead()
    officer = approved_officer(lead=lead)
    preservation = preservation_request(officer)
    hold = PreservationHold.objects.get(case=preservation)
    frozen = accepted(freeze_request(officer, days=5), reviewer=lead, lead=lead)
    freeze = activated(frozen, reviewer=lead)
    long_frozen = accepted(freeze_request(officer, days=30), reviewer=lead, lead=lead)
    activated(long_frozen, reviewer=lead)
    pending = freeze_request(officer)

    def listed(value: str) -> set[str]:
        response = staff_client(lead).get(reverse("admin:cases_case_changelist"), {"clock": value})
        assert response.status_code == 200
        return {case.reference for case in response.context["cl"].result_list}

    assert listed("freeze_in_force") == {frozen.reference, long_frozen.reference}
    assert listed("hold_in_force") == {preservation.reference}
    assert listed("ending_soon") == {frozen.reference}  # 5 days left; the other freeze has 30, the hold 60
    assert pending.reference not in listed("ending_soon")
    with time_machine.travel(hold.expires_at - timedelta(days=3), tick=False):
        assert listed("ending_soon") == {preservation.reference}
        assert listed("freeze_in_force") == set()  # ended, though no sweep lifted it
        clocks.reminders_send_due(now=timezone.now())
        page = staff_client(lead).get(change_url(preservation))
        assert [(r.kind, r.days_before) for r in page.context["reminders"]] == [
            (Reminder.Kind.HOLD_EXPIRY, 14), (Reminder.Kind.HOLD_EXPIRY, 7)]
        assert "Preservation hold expires" in page.content.decode()
    assert freeze.status == Freeze.Status.ACTIVE


def test_r8_a_freeze_request_without_a_freeze_says_whether_one_may_still_start() -> None:
    officer = approved_officer()
    case = freeze_request(officer)
    client = signed_in_client(officer.user)
    assert "Not active yet — it starts when the legal team activates it after review" in \
        client.get(detail_url(case)).content.decode()  # submitted: it may be accepted, then activated
    correspondence.case_withdraw(case=case, actor=Actor(user=officer.user), now=timezone.now())
    html = client.get(detail_url(case)).content.decode()
    assert "No freeze was activated for this request." in html and "Not active yet" not in html
