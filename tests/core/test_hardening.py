"""Findings of the foundation review, each pinned by a test."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from leors.access import services
from leors.core.audit import Actor, client_ip
from leors.core.errors import ActionRefused
from leors.core.models import AuditEvent
from leors.core.outbox import outbox_deliver_due
from tests.conftest import signed_in_client
from tests.factories import (
    PASSWORD,
    approved_officer,
    complete_checklist,
    make_auditor,
    make_lead,
    make_reviewer,
    make_user,
    verified_application,
)


@pytest.mark.django_db
def test_r1_an_officer_cannot_change_the_vetted_official_e_mail() -> None:
    officer = approved_officer()
    client = signed_in_client(officer.user)
    assert client.get("/accounts/email/").status_code == 404
    assert client.post("/accounts/email/", {"email": "me@gmail.com", "action_add": ""}).status_code == 404


@pytest.mark.django_db
def test_r12_before_enrolment_no_account_page_but_enrolment_is_reachable() -> None:
    client = signed_in_client(make_user(with_totp=False))
    for path in ("/accounts/password/change/", "/accounts/sessions/", "/accounts/2fa/"):
        assert client.get(path)["Location"] == reverse("mfa_activate_totp"), path


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["auditor", "reviewer"])
def test_r2_only_a_legal_lead_decides_even_when_calling_the_service_directly(role: str) -> None:
    lead = make_lead()
    application = verified_application()
    complete_checklist(application, by=lead)
    other = make_auditor() if role == "auditor" else make_reviewer()
    with pytest.raises(ActionRefused):
        services.application_approve(application=application, actor=Actor(user=other), now=timezone.now())
    with pytest.raises(ActionRefused):
        services.application_reject(application=application, reason="Not a real police force at all.",
                                    actor=Actor(user=other), now=timezone.now())
    application.refresh_from_db()
    assert application.status == application.Status.SUBMITTED


@pytest.mark.django_db
def test_r3_an_auditor_cannot_suspend_through_the_service() -> None:
    officer = approved_officer()
    with pytest.raises(ActionRefused):
        services.officer_suspend(officer=officer, note="Looks suspicious to the auditor.", referred_to="",
                                 actor=Actor(user=make_auditor()), now=timezone.now())
    officer.refresh_from_db()
    assert officer.status == officer.Status.ACTIVE


def test_r12_client_address_behind_trusted_proxies(settings: Any) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7")
    settings.LEORS_TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "10.0.0.2"  # no proxy trusted: the header is the client's to forge
    settings.LEORS_TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "198.51.100.7"  # the hop our proxy appended, not the forged one


@pytest.mark.django_db
def test_r12_reset_links_use_the_site_address_not_the_host_header(settings: Any) -> None:
    settings.LEORS_SITE_URL = "https://leors.example.org"
    settings.ALLOWED_HOSTS = ["leors.example.org", "evil.example"]
    user = make_user()
    Client().post(reverse("account_reset_password"), {"email": user.email}, HTTP_HOST="evil.example")
    outbox_deliver_due(now=timezone.now())
    (message,) = mail.outbox
    assert "evil.example" not in message.body
    assert re.search(r"https://leors\.example\.org/accounts/password/reset/key/\S+", message.body)


@pytest.mark.django_db
def test_r12_changing_the_password_is_audited() -> None:
    user = make_user()
    client = Client()
    client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    from tests.factories import totp_code

    client.post(reverse("mfa_authenticate"), {"code": totp_code(user.totp_secret)})
    new = "a brand new passphrase 2026"
    response = client.post(reverse("account_change_password"),
                           {"oldpassword": PASSWORD, "password1": new, "password2": new})
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="auth.password_changed", object_id=str(user.pk)).count() == 1


@pytest.mark.django_db
def test_r3_suspension_ends_the_supervisor_role_too() -> None:
    from cases.models import Case  # noqa: F401  (the agency group grants cases)

    lead = make_lead()
    supervisor = approved_officer()
    services.officer_supervisor_set(officer=supervisor, is_supervisor=True, actor=Actor(user=lead), now=timezone.now())
    services.officer_suspend(officer=supervisor, note="Account used from an unknown network to freeze funds.",
                             referred_to="", actor=Actor(user=lead), now=timezone.now())
    supervisor.refresh_from_db()
    assert supervisor.is_supervisor is False
    assert not supervisor.user.groups.filter(name__startswith="agency:").exists()


@pytest.mark.django_db
def test_r10_the_officer_finds_a_case_by_a_subject_typed_another_way() -> None:
    from cases.selectors import case_search_for
    from cases.services.intake import IdentifierInput
    from tests.factories import submit_case

    officer = approved_officer()
    case = submit_case(officer, identifiers=[IdentifierInput(kind="phone", value="+44 20 7946 0018")])
    assert list(case_search_for(user=officer.user, query="+442079460018")) == [case]
    assert list(case_search_for(user=officer.user, query="+44 (20) 7946-0018")) == [case]
