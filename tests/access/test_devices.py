"""Forged-request resistance: sign-ins from unseen devices are told; reporting one suspends at once;
a suspended officer's cases go on hold (R3, R12)."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cases.models import Case
from cases.services import review, suspension
from leors.access import services
from leors.access.models import ImpersonationReferral, KnownDevice, Officer
from leors.core.audit import Actor
from leors.core.errors import ActionRefused
from leors.core.outbox import outbox_deliver_due
from tests.factories import PASSWORD, approved_officer, make_lead, submit_case, totp_code

_clock = itertools.count(1)


def _sign_in(client: Client, officer: Officer) -> None:
    # Each sign-in in its own 30-second window: a one-time code works once.
    with time_machine.travel(timezone.now() + timedelta(seconds=31 * next(_clock)), tick=False):
        client.post(reverse("account_login"), {"login": officer.user.email, "password": PASSWORD})
        response = client.post(reverse("mfa_authenticate"), {"code": totp_code(officer.user.totp_secret)})
    assert response.status_code == 302


def _report_link(officer: Officer) -> str:
    outbox_deliver_due(now=timezone.now() + timedelta(hours=1))  # the sign-ins happened "later"
    (message,) = [m for m in mail.outbox if "new sign-in" in m.subject and officer.user.email in m.to]
    return re.search(r"^Portal: \S+?(/sign-in-report/\S+/)$", message.body, re.MULTILINE).group(1)  # type: ignore[union-attr]


@pytest.mark.django_db
def test_r12_a_sign_in_from_an_unseen_device_is_told_by_e_mail_without_content() -> None:
    officer = approved_officer(body_name="Zephyr Constabulary")
    _sign_in(Client(HTTP_USER_AGENT="Firefox/140", REMOTE_ADDR="198.51.100.10"), officer)  # the first: no e-mail
    _sign_in(Client(HTTP_USER_AGENT="Firefox/140", REMOTE_ADDR="198.51.100.77"), officer)  # same browser, same /24
    outbox_deliver_due(now=timezone.now() + timedelta(hours=1))  # the sign-ins happened "later"
    assert not [m for m in mail.outbox if "new sign-in" in m.subject]
    assert KnownDevice.objects.filter(user=officer.user).count() == 1

    _sign_in(Client(HTTP_USER_AGENT="Chrome/150", REMOTE_ADDR="203.0.113.5"), officer)
    link = _report_link(officer)
    body = next(m.body for m in mail.outbox if "new sign-in" in m.subject)
    assert "Zephyr" not in body and "Verification code:" in body
    assert KnownDevice.objects.filter(user=officer.user).count() == 2
    # Opening the link changes nothing (mail scanners follow links).
    assert Client().get(link).status_code == 200
    officer.refresh_from_db()
    assert officer.status == Officer.Status.ACTIVE


@pytest.mark.django_db
def test_r3_reporting_a_sign_in_suspends_at_once_and_puts_open_cases_on_hold() -> None:
    officer, lead = approved_officer(), make_lead()
    case = submit_case(officer)
    review.case_assign(case=case, reviewer=lead, actor=Actor(user=lead), now=timezone.now())
    session = Client(HTTP_USER_AGENT="Firefox/140", REMOTE_ADDR="198.51.100.10")
    _sign_in(session, officer)
    _sign_in(Client(HTTP_USER_AGENT="Chrome/150", REMOTE_ADDR="203.0.113.5"), officer)

    response = Client().post(_report_link(officer))
    assert response.status_code == 200
    officer.refresh_from_db()
    assert officer.status == Officer.Status.SUSPENDED
    assert not officer.user.is_active
    # Every session ended at once.
    assert not session.get(reverse("portal:home")).wsgi_request.user.is_authenticated
    referral = ImpersonationReferral.objects.get(officer=officer)
    assert "reported a sign-in" in referral.note
    # The officer's open case is on hold and cannot be accepted until a lead lifts the hold.
    case.refresh_from_db()
    assert case.on_hold_at is not None
    with pytest.raises(ActionRefused, match="on hold"):
        review.case_decide(case=case, decision="accepted", reasons="Everything checked and in order here.",
                           actor=Actor(user=lead), now=timezone.now())
    assert list(Case.objects.filter(on_hold_at__isnull=False)) == [case]
    suspension.case_hold_release(case=case, note="Called the agency: the request itself is genuine.",
                                 actor=Actor(user=lead), now=timezone.now())
    case.refresh_from_db()
    assert case.on_hold_at is None


@pytest.mark.django_db
def test_r3_suspension_by_staff_also_puts_the_officers_open_cases_on_hold() -> None:
    officer, lead = approved_officer(), make_lead()
    open_case = submit_case(officer)
    withdrawn = submit_case(officer)
    from cases.services.correspondence import case_withdraw

    # No freeze was in force: nothing for the legal team to lift.
    assert case_withdraw(case=withdrawn, actor=Actor(user=officer.user), now=timezone.now()).freeze_lift_requested is False
    services.officer_suspend(officer=officer, note="Forged court order from a hijacked mailbox.", referred_to="",
                             actor=Actor(user=lead), now=timezone.now())
    open_case.refresh_from_db()
    withdrawn.refresh_from_db()
    assert open_case.on_hold_at is not None and "impersonation" in open_case.on_hold_reason
    assert withdrawn.on_hold_at is None


@pytest.mark.django_db
def test_r12_a_forged_or_expired_report_link_changes_nothing() -> None:
    officer = approved_officer()
    response = Client().post(reverse("portal:sign_in_report", args=["forged-token"]))
    assert response.status_code == 400
    officer.refresh_from_db()
    assert officer.status == Officer.Status.ACTIVE
