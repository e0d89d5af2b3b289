"""The whole access path in a real browser (Debian chromium driven by Playwright):
apply → verify the official e-mail → a legal lead asks a question → the applicant answers →
checklist and approval → the officer signs in with TOTP and reaches the portal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone

from leors.access.models import AccessApplication, Officer
from leors.core.audit import audit_chain_verify
from leors.core.outbox import outbox_deliver_due
from tests.factories import PASSWORD, PDF_BYTES, make_lead, totp_code

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _sign_in(page, base: str, email: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click("main form button[type=submit]")


def _latest_mail_to(address: str) -> str:
    outbox_deliver_due(now=timezone.now())
    bodies = [message.body for message in mail.outbox if address in message.to]
    assert bodies, f"no e-mail to {address}"
    return bodies[-1]


def test_r1_r12_apply_verify_question_answer_approve_and_sign_in_with_totp(browser, live_server, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings.LEORS_SITE_URL = live_server.url
    base = live_server.url
    lead = make_lead(email="lead@leors.example")
    email = "d.jones@met.police.example.uk"
    proof = tmp_path / "warrant-card.pdf"
    proof.write_bytes(PDF_BYTES)

    applicant = browser.new_context()
    page = applicant.new_page()

    # 1. The public application form.
    page.goto(f"{base}/apply/")
    page.select_option("select[name=applying_as]", "police")
    page.fill("input[name=body_name]", "Metropolitan Police Service")
    page.select_option("select[name=country]", "GB")
    page.fill("input[name=jurisdiction]", "Greater London")
    page.fill("input[name=applicant_name]", "Dana Jones")
    page.fill("input[name=rank_title]", "Detective Constable")
    page.fill("input[name=official_email]", email)
    page.fill("input[name=phone]", "+44 20 7230 1212")
    page.fill("input[name=supervisor_name]", "DCI Rowan Hale")
    page.fill("input[name=supervisor_email]", "rowan.hale@met.police.example.uk")
    page.set_input_files("input[name=documents]", str(proof))
    page.check("input[name=accept_undertaking]")
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{base}/apply/sent/")
    application = AccessApplication.objects.get(official_email=email)
    assert application.status == AccessApplication.Status.EMAIL_UNVERIFIED

    # 2. The verification link from the e-mail (which carries no application content, R12); the owner
    #    of the mailbox sees what was applied for and chooses the password.
    body = _latest_mail_to(email)
    assert "Metropolitan" not in body and "Dana Jones" not in body
    link = re.search(r"(http://\S+/apply/verify/\S+/)", body)
    assert link is not None
    page.goto(link.group(1))
    page.get_by_text("Metropolitan Police Service").wait_for()  # what was applied for in this name
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("main form button[type=submit]")
    page.get_by_text("Your e-mail is verified").wait_for()
    application.refresh_from_db()
    assert application.status == AccessApplication.Status.SUBMITTED

    # 3. The legal lead signs in with the second factor and asks a question.
    staff = browser.new_context()
    staff_page = staff.new_page()
    _sign_in(staff_page, base, lead.email, PASSWORD)
    staff_page.fill("input[name=code]", totp_code(lead.totp_secret))
    staff_page.click("main form button[type=submit]")
    staff_page.wait_for_url(f"{base}/admin/")
    staff_page.goto(f"{base}/admin/access/accessapplication/")
    staff_page.click(f"text={application.reference}")
    staff_page.click("a.workflow-ask")
    staff_page.fill("textarea[name=question]", "Please confirm the unit you serve in and your warrant number.")
    staff_page.click("input[type=submit]")
    application.refresh_from_db()
    assert application.status == AccessApplication.Status.INFORMATION_REQUESTED

    # 4. The applicant signs in for the first time: enrols TOTP (after confirming the password), answers.
    _sign_in(page, base, email, PASSWORD)
    page.wait_for_url(re.compile(r".*/accounts/reauthenticate/.*"))
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{base}/accounts/2fa/totp/activate/")
    secret = page.input_value("#authenticator_secret")
    page.fill("input[name=code]", totp_code(secret))
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r".*/accounts/2fa/.*"))
    page.goto(f"{base}/applications/{application.reference}/")
    page.get_by_text("Please confirm the unit you serve in").wait_for()
    page.fill("textarea[name=answer]", "Economic Crime Command, warrant number 123456.")
    page.click("form[action$='/answer/'] button[type=submit]")
    page.get_by_text("Your answer was sent").wait_for()
    application.refresh_from_db()
    assert application.status == AccessApplication.Status.SUBMITTED

    # 5. The lead records the checklist and approves.
    staff_page.goto(f"{base}/admin/access/accessapplication/{application.pk}/checklist/")
    staff_page.check("input[name=check_body_exists]")
    staff_page.check("input[name=check_domain_belongs]")
    staff_page.fill("input[name=supervisor_confirmed_with]", "DCI Rowan Hale")
    staff_page.select_option("select[name=supervisor_confirmation_method]", "phone")
    staff_page.fill("input[name=supervisor_contact_source]", "Switchboard number on the force's official website")
    confirmed = timezone.now().strftime("%Y-%m-%dT%H:%M")  # not before the application was made
    staff_page.fill("input[name=supervisor_confirmed_at]", confirmed)
    staff_page.click("input[type=submit]")
    staff_page.goto(f"{base}/admin/access/accessapplication/{application.pk}/approve/")
    staff_page.click("input[type=submit]")
    application.refresh_from_db()
    assert application.status == AccessApplication.Status.APPROVED
    officer = Officer.objects.get(user__email=email)
    assert officer.agency.name == "Metropolitan Police Service"

    # 6. The officer signs out and in again: password, then a TOTP code, then the portal.
    page.goto(f"{base}/")
    page.click("header form button")
    _sign_in(page, base, email, PASSWORD)
    page.wait_for_url(f"{base}/accounts/2fa/authenticate/")
    page.fill("input[name=code]", totp_code(secret))
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{base}/")
    page.get_by_text("Your access is active").wait_for()
    assert "Metropolitan Police Service" in page.content()

    applicant.close()
    staff.close()
    assert audit_chain_verify() is None
