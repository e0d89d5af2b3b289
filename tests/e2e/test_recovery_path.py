"""Asset recovery end to end in a real browser, with two members of the legal team (R9, four-eyes):
court order → review → out-of-band confirmation → official named, ID checked, identity confirmed →
instructions issued and acknowledged by the officer → return asked by the reviewer and approved by
the lead → the officer sees the recorded return."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.utils import timezone

from cases.models import AssetReturn, Case
from cases.services import review
from leors.core.audit import Actor, audit_chain_verify
from tests.documents import ENGLISH_WARRANT, pdf_with_text
from tests.e2e.test_case_path import _sign_in
from tests.factories import PDF_BYTES, approved_officer, make_lead, make_reviewer

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WALLET = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
TX = "ab" * 32


def _confirmation(page, when: str) -> None:  # type: ignore[no-untyped-def]
    page.fill("input[name=confirmed_with]", "DI Rowan Hale, Economic Crime Command")
    page.check("input[name=method][value=phone]")
    page.fill("input[name=contact_source]", "Switchboard number on the force's official website")
    page.fill("input[name=confirmed_at]", when)
    page.click("input[type=submit]")


def test_r9_recovery_on_a_court_order_walked_by_two_staff_members(browser, live_server, settings,  # type: ignore[no-untyped-def]
                                                                   tmp_path: Path) -> None:
    settings.LEORS_SITE_URL = live_server.url
    base = live_server.url
    officer = approved_officer(official_email="d.jones@met.police.example.uk")
    lead, reviewer = make_lead(email="lead@leors.example"), make_reviewer(email="reviewer@leors.example")
    order = tmp_path / "court-order.pdf"
    order.write_bytes(pdf_with_text(ENGLISH_WARRANT))
    warrant_card = tmp_path / "warrant-card.pdf"
    warrant_card.write_bytes(PDF_BYTES)

    # The officer asks for the return, on a court order.
    officer_page = browser.new_context().new_page()
    _sign_in(officer_page, base, officer.user.email, officer.user.totp_secret)
    officer_page.wait_for_url(f"{base}/")
    officer_page.goto(f"{base}/cases/new/?type=asset_recovery")
    officer_page.fill("input[name=title]", "Return of stolen bitcoin to the victims")
    officer_page.fill("textarea[name=request_text]",
                      "The Crown Court ordered the return of the bitcoin stolen from the victims of the fraud, "
                      "now held in the account below, to the receiver appointed by the court.")
    officer_page.fill("textarea[name=assets_description]", "0.5 BTC held in the account below")
    officer_page.select_option("select[name=subjects-0-kind]", "wallet")
    officer_page.fill("input[name=subjects-0-value]", WALLET)
    officer_page.set_input_files("input[name=documents-0-file]", str(order))
    officer_page.select_option("select[name=documents-0-document_type]", "court_order")
    officer_page.fill("input[name=documents-0-issuing_authority]", "Crown Court at Southwark")
    officer_page.click("form button:has-text('Send the request')")
    officer_page.wait_for_url(re.compile(r".*/cases/LEORS-\d{4}-\d{6}/$"))
    case = Case.objects.get(submitted_by=officer.user)
    review.case_assign(case=case, reviewer=reviewer, actor=Actor(user=lead), now=timezone.now())

    # The reviewer: review, verify the court order, accept, confirm the request out of band.
    staff = browser.new_context().new_page()
    _sign_in(staff, base, reviewer.email, reviewer.totp_secret)
    staff.wait_for_url(f"{base}/admin/")
    admin_case = f"{base}/admin/cases/case/{case.pk}"
    staff.goto(f"{admin_case}/checklist/")
    for name in ("issuing_authority", "jurisdiction", "signature_or_seal", "dates", "subject_identifiers", "scope"):
        staff.check(f"input[name=check_{name}]")
    staff.click("input[type=submit]")
    staff.goto(f"{admin_case}/verify/")
    staff.select_option("select[name=document]", index=1)
    staff.click("input[type=submit]")
    staff.goto(f"{admin_case}/decide/")
    staff.check("input[name=decision][value=accepted]")
    staff.fill("textarea[name=reasons]", "The order of the Crown Court is verified and names the account.")
    staff.click("input[type=submit]")
    staff.goto(f"{admin_case}/confirm/")
    _confirmation(staff, timezone.now().strftime("%Y-%m-%dT%H:%M"))  # not before the request arrived
    case.refresh_from_db()
    assert case.status == Case.Status.ACCEPTED and case.out_of_band_confirmations.count() == 1

    # The official who will receive the assets: named with an ID, ID checked, identity confirmed.
    staff.goto(f"{admin_case}/official-add/")
    staff.fill("input[name=name]", "DS Alex Morgan")
    staff.fill("input[name=title]", "Detective Sergeant")
    staff.fill("input[name=organisation]", "Metropolitan Police Service")
    staff.set_input_files("input[name=id_document]", str(warrant_card))
    staff.click("input[type=submit]")
    staff.goto(f"{admin_case}/official-check/")
    staff.select_option("select[name=official]", index=1)
    staff.click("input[type=submit]")
    staff.goto(f"{admin_case}/official-confirm/")
    staff.select_option("select[name=official]", index=1)
    _confirmation(staff, timezone.now().strftime("%Y-%m-%dT%H:%M"))  # not before the request arrived
    staff.goto(f"{admin_case}/instructions/")
    staff.click("input[type=submit]")
    assert case.recovery_officials.get().is_verified

    # The officer acknowledges the instructions in the portal.
    officer_page.goto(f"{base}/cases/{case.reference}/")
    officer_page.get_by_text("INSTRUCTIONS FOR THE RETURN OF ASSETS").wait_for()
    officer_page.click("#recovery button[type=submit]")
    officer_page.get_by_text("You acknowledged the instructions").wait_for()

    # The reviewer asks to record the return; they cannot approve it themselves.
    staff.goto(f"{admin_case}/return/")
    staff.fill("input[name=asset]", "BTC")
    staff.fill("input[name=amount]", "0.5")
    staff.fill("input[name=destination_address]", WALLET)
    staff.fill("input[name=tx_hash]", TX)
    staff.click("input[type=submit]")
    staff.goto(f"{admin_case}/approvals/")
    assert staff.locator("input[name=_approve]").count() == 0
    assert not AssetReturn.objects.exists()

    # The lead approves: the return is recorded and the case fulfilled.
    lead_page = browser.new_context().new_page()
    _sign_in(lead_page, base, lead.email, lead.totp_secret)
    lead_page.wait_for_url(f"{base}/admin/")
    lead_page.goto(f"{admin_case}/approvals/")
    lead_page.click("input[name=_approve]")
    record = AssetReturn.objects.get(case=case)
    assert (record.requested_by, record.approved_by, record.tx_hash) == (reviewer, lead, TX)
    case.refresh_from_db()
    assert case.status == Case.Status.FULFILLED

    officer_page.goto(f"{base}/cases/{case.reference}/")
    officer_page.get_by_text(TX).wait_for()
    assert audit_chain_verify() is None
