from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import signed_in_client
from tests.factories import PASSWORD, approved_officer, make_lead, make_user


@pytest.mark.django_db
def test_r12_staff_without_security_key_must_register_one_where_required(settings) -> None:  # type: ignore[no-untyped-def]
    settings.LEORS_STAFF_REQUIRE_WEBAUTHN = True
    lead = make_lead()  # enrolled in TOTP only
    response = signed_in_client(lead).get("/admin/")
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_add_webauthn")


@pytest.mark.django_db
def test_r12_officers_need_no_security_key_when_staff_must_have_one(settings) -> None:  # type: ignore[no-untyped-def]
    settings.LEORS_STAFF_REQUIRE_WEBAUTHN = True
    officer = approved_officer()
    response = signed_in_client(officer.user).get(reverse("portal:home"))
    assert response.status_code == 200


@pytest.mark.django_db
def test_r12_without_webauthn_requirement_staff_with_totp_reach_the_workspace(settings) -> None:  # type: ignore[no-untyped-def]
    settings.LEORS_STAFF_REQUIRE_WEBAUTHN = False
    response = signed_in_client(make_lead()).get("/admin/")
    assert response.status_code == 200


@pytest.mark.django_db
def test_r12_enrolment_pages_stay_reachable_before_enrolment() -> None:
    user = make_user(with_totp=False)
    client = Client()
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD}, follow=True)
    # Straight after the password the only place to go is enrolment, which (like every change of
    # a second factor) first confirms the password once more.
    activate = reverse("mfa_activate_totp")
    assert [url for url, _ in response.redirect_chain][-2:] == [activate, f"{reverse('account_reauthenticate')}?next=%2Faccounts%2F2fa%2Ftotp%2Factivate%2F"]
    response = client.post(response.redirect_chain[-1][0], {"password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == activate
    assert b"authenticator_secret" in response.content
    assert client.get(reverse("portal:home"))["Location"] == reverse("mfa_activate_totp")
    assert client.get("/admin/")["Location"] == reverse("mfa_activate_totp")


@pytest.mark.django_db
def test_r12_staff_must_use_their_security_key_not_only_register_it(settings) -> None:  # type: ignore[no-untyped-def]
    from allauth.account.internal.flows.login import (
        _AUTHENTICATION_METHODS_USER_SESSION_KEY,
        AUTHENTICATION_METHODS_SESSION_KEY,
    )
    from allauth.mfa.models import Authenticator

    settings.LEORS_STAFF_REQUIRE_WEBAUTHN = True
    lead = make_lead()
    key = Authenticator.objects.create(user=lead, type=Authenticator.Type.WEBAUTHN, data={"name": "YubiKey"})
    client = signed_in_client(lead)
    session = client.session
    session[_AUTHENTICATION_METHODS_USER_SESSION_KEY] = str(lead.pk)
    session[AUTHENTICATION_METHODS_SESSION_KEY] = [
        {"method": "password", "at": 0, "email": lead.email},
        {"method": "mfa", "at": 0, "id": 1, "type": "totp"},
    ]
    session.save()
    # Signed in with password + app code: the workspace asks for the key first.
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_reauthenticate_webauthn"))
    session = client.session
    session[AUTHENTICATION_METHODS_SESSION_KEY] = [
        *session[AUTHENTICATION_METHODS_SESSION_KEY],
        {"method": "mfa", "at": 0, "id": key.pk, "type": "webauthn", "reauthenticated": True},
    ]
    session.save()
    assert client.get("/admin/").status_code == 200


def _signed_in_with(client: Client, user: object, *methods: dict[str, object]) -> None:
    """The sign-in records of the client's session: how this session proved who it is."""
    from allauth.account.internal.flows.login import (
        _AUTHENTICATION_METHODS_USER_SESSION_KEY,
        AUTHENTICATION_METHODS_SESSION_KEY,
    )

    session = client.session
    session[_AUTHENTICATION_METHODS_USER_SESSION_KEY] = str(user.pk)  # type: ignore[attr-defined]
    session[AUTHENTICATION_METHODS_SESSION_KEY] = list(methods)
    session.save()


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", ["mfa_add_webauthn", "mfa_generate_recovery_codes", "mfa_view_recovery_codes"])
def test_r12_staff_with_a_security_key_change_their_second_factor_only_in_a_session_that_used_it(
        settings, url_name: str) -> None:  # type: ignore[no-untyped-def]
    """A password and an app code (what a phishing kit captures) must not let anyone register a key of their own, or
    read or renew the recovery codes, and so pass the key the workspace requires. The key is asked for first."""
    from allauth.mfa.models import Authenticator

    settings.LEORS_STAFF_REQUIRE_WEBAUTHN = True
    lead = make_lead()
    key = Authenticator.objects.create(user=lead, type=Authenticator.Type.WEBAUTHN, data={"name": "YubiKey"})
    client = signed_in_client(lead)
    password_and_app = ({"method": "password", "at": 0, "email": lead.email},
                        {"method": "mfa", "at": 0, "id": 1, "type": "totp"})
    _signed_in_with(client, lead, *password_and_app)
    url = reverse(url_name)
    for method in (client.get, client.post):
        response = method(url)
        assert response.status_code == 302, (method, response.status_code)
        assert response["Location"] == f"{reverse('mfa_reauthenticate_webauthn')}?next={url.replace('/', '%2F')}"
    assert Authenticator.objects.filter(user=lead, type=Authenticator.Type.WEBAUTHN).count() == 1

    # Confirmed with the key, the same session reaches the page (allauth then asks what it asks of everyone).
    _signed_in_with(client, lead, *password_and_app,
                    {"method": "mfa", "at": 0, "id": key.pk, "type": "webauthn", "reauthenticated": True})
    response = client.get(url)
    assert not response.get("Location", "").startswith(reverse("mfa_reauthenticate_webauthn"))


@pytest.mark.django_db
def test_r12_staff_register_their_first_security_key_in_the_session_they_have(settings) -> None:  # type: ignore[no-untyped-def]
    settings.LEORS_STAFF_REQUIRE_WEBAUTHN = True
    lead = make_lead()  # TOTP only: the workspace sends them to register a key, and that page lets them
    client = signed_in_client(lead)
    assert client.get("/admin/")["Location"] == reverse("mfa_add_webauthn")
    response = client.get(reverse("mfa_add_webauthn"))
    assert not response.get("Location", "").startswith(reverse("mfa_reauthenticate_webauthn"))
