"""A user-information request end to end in a real browser (Debian chromium, Playwright):
the officer sends it with a French court order and its certified translation; a reviewer asks a
question; the officer answers; the reviewer checks, verifies, accepts, records the notification
decision, uploads and releases a production; the officer downloads it."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from cases.models import Case
from cases.services import review
from leors.core.audit import Actor, audit_chain_verify
from leors.core.models import AuditEvent
from tests.documents import FRENCH_WARRANT, FRENCH_WARRANT_TRANSLATION, pdf_with_text
from tests.factories import PASSWORD, approved_officer, make_lead, make_reviewer, totp_code

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _sign_in(page, base: str, email: str, secret: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{base}/accounts/2fa/authenticate/")
    page.fill("input[name=code]", totp_code(secret))
    page.click("main form button[type=submit]")


def test_r4_r5_r6_r10_r11_french_order_question_answer_acceptance_and_download(browser, live_server, settings,  # type: ignore[no-untyped-def]
                                                                              tmp_path: Path) -> None:
    settings.LEORS_SITE_URL = live_server.url
    base = live_server.url
    officer = approved_officer(official_email="d.jones@met.police.example.uk")
    lead, reviewer = make_lead(), make_reviewer(email="reviewer@leors.example")
    original = tmp_path / "requisition-judiciaire.pdf"
    original.write_bytes(pdf_with_text(FRENCH_WARRANT))
    translation = tmp_path / "requisition-judiciaire-EN.pdf"
    translation.write_bytes(pdf_with_text(FRENCH_WARRANT_TRANSLATION))
    produced = tmp_path / "kyc-export.csv"
    produced.write_bytes(b"uid,name,registered\n88412377,K. Marlow,2025-03-02\n")

    officer_page = browser.new_context(accept_downloads=True).new_page()
    _sign_in(officer_page, base, officer.user.email, officer.user.totp_secret)
    officer_page.wait_for_url(f"{base}/")

    # 1. The request, with the French order and its certified translation linked to it (R4).
    officer_page.goto(f"{base}/cases/new/?type=user_information")
    officer_page.fill("input[name=title]", "Holder of a wallet used in an investment fraud")
    officer_page.fill("textarea[name=request_text]",
                      "Victims of an investment fraud sent bitcoin to the wallet below. Under the attached order of "
                      "the Paris investigating judge we request the identity of the account holder.")
    officer_page.fill("textarea[name=data_requested]", "KYC data and login IP addresses")
    officer_page.check("input[name=has_non_disclosure_instruction][value=no]")
    officer_page.select_option("select[name=subjects-0-kind]", "wallet")
    officer_page.fill("input[name=subjects-0-value]", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq")
    officer_page.set_input_files("input[name=documents-0-file]", str(original))
    officer_page.select_option("select[name=documents-0-document_type]", "court_order")
    officer_page.fill("input[name=documents-0-issuing_authority]", "Tribunal judiciaire de Paris")
    officer_page.set_input_files("input[name=documents-1-file]", str(translation))
    officer_page.select_option("select[name=documents-1-document_type]", "court_order")
    officer_page.click("#document-row-2 details.translation summary")
    officer_page.select_option("select[name=documents-1-translation_of]", "0")
    officer_page.fill("textarea[name=documents-1-translator_certification]",
                      "Claire Martin, sworn translator at the Paris Court of Appeal, certifies this translation.")
    officer_page.click("form button:has-text('Send the request')")
    officer_page.wait_for_url(re.compile(r".*/cases/LEORS-\d{4}-\d{6}/$"))
    officer_page.get_by_text("does not waive any objection").first.wait_for()  # R11
    case = Case.objects.get(submitted_by=officer.user)
    languages = {d.original_name: (d.language, d.translation_of_id is not None) for d in case.documents.all()}
    assert languages == {"requisition-judiciaire.pdf": ("fr", False), "requisition-judiciaire-EN.pdf": ("en", True)}
    review.case_assign(case=case, reviewer=reviewer, actor=Actor(user=lead), now=timezone.now())

    # 2. The reviewer asks a question (R10).
    staff_page = browser.new_context().new_page()
    _sign_in(staff_page, base, reviewer.email, reviewer.totp_secret)
    staff_page.wait_for_url(f"{base}/admin/")
    admin_case = f"{base}/admin/cases/case/{case.pk}"
    staff_page.goto(f"{admin_case}/ask/")
    staff_page.fill("textarea[name=question]", "Please confirm the order's date of issue and the court's seal number.")
    staff_page.click("input[type=submit]")
    case.refresh_from_db()
    assert case.status == Case.Status.INFORMATION_REQUESTED

    # 3. The officer answers through the portal.
    officer_page.goto(f"{base}/cases/{case.reference}/")
    officer_page.get_by_text("Please confirm the order's date of issue").wait_for()
    officer_page.fill("#reply textarea[name=body]", "Issued on 2 November 2026, seal number 75-0412.")
    officer_page.click("#reply button[type=submit]")
    officer_page.get_by_text("Issued on 2 November 2026").first.wait_for()
    case.refresh_from_db()
    assert case.status == Case.Status.IN_REVIEW

    # 4. Checklist, verification of the order (R5), acceptance, notification decision (R6).
    staff_page.goto(f"{admin_case}/checklist/")
    for name in ("issuing_authority", "jurisdiction", "signature_or_seal", "dates", "subject_identifiers", "scope"):
        staff_page.check(f"input[name=check_{name}]")
    staff_page.click("input[type=submit]")
    staff_page.goto(f"{admin_case}/verify/")
    staff_page.select_option("select[name=document]", index=1)
    staff_page.click("input[type=submit]")
    staff_page.goto(f"{admin_case}/decide/")
    staff_page.check("input[name=decision][value=accepted]")
    staff_page.fill("textarea[name=reasons]", "The order of the Paris investigating judge is valid and covers the wallet.")
    staff_page.click("input[type=submit]")
    case.refresh_from_db()
    assert case.status == Case.Status.ACCEPTED, case.status
    staff_page.goto(f"{admin_case}/notification/")
    staff_page.check("input[name=decision][value=notified]")
    staff_page.fill("input[name=notified_at]", (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    staff_page.click("input[type=submit]")
    case.refresh_from_db()
    assert case.notification_decision == Case.NotificationDecision.NOTIFIED

    # 5. The production: uploaded, its release asked by the reviewer and approved by the lead.
    staff_page.goto(f"{admin_case}/upload/")
    staff_page.set_input_files("input[name=file]", str(produced))
    staff_page.fill("input[name=description]", "KYC record of the account holder")
    staff_page.click("input[type=submit]")
    staff_page.goto(f"{admin_case}/release/")
    staff_page.select_option("select[name=production]", index=1)
    staff_page.click("input[type=submit]")
    production = case.productions.get()
    assert production.released_at is None  # asked, not done: a second person must approve (four-eyes)
    lead_page = browser.new_context().new_page()
    _sign_in(lead_page, base, lead.email, lead.totp_secret)
    lead_page.wait_for_url(f"{base}/admin/")
    lead_page.goto(f"{admin_case}/approvals/")
    lead_page.click("input[name=_approve]")
    production.refresh_from_db()
    assert production.released_at is not None

    # 6. The officer downloads it; its SHA-256 is shown for the chain of custody; the download is audited.
    officer_page.goto(f"{base}/cases/{case.reference}/")
    officer_page.get_by_text(production.sha256).wait_for()
    with officer_page.expect_download() as download_info:
        officer_page.click(f"a[href='/cases/productions/{production.pk}/']")
    downloaded = Path(download_info.value.path())
    assert hashlib.sha256(downloaded.read_bytes()).hexdigest() == production.sha256
    assert AuditEvent.objects.filter(action="production.downloaded", object_id=str(production.pk)).count() == 1
    assert audit_chain_verify() is None
