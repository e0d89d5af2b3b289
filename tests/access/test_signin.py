"""R12: staff never ask for passwords or codes; users can check that a message is genuine.

Also the sign-in itself: a second factor for everyone, a cool-off after failed passwords, and a
password reset that neither reveals who has an account nor skips the second factor.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import time_machine
from allauth.core.internal.ratelimit import parse_rates
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import decrypt
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from leors import policy
from leors.access import services
from leors.access.models import AccessApplication, User
from leors.core.audit import Actor
from leors.core.outbox import outbox_deliver_due
from tests.conftest import signed_in_client
from tests.factories import (
    PASSWORD,
    approved_officer,
    complete_checklist,
    enrol_totp,
    make_lead,
    make_reviewer,
    make_user,
    pdf_upload,
    submit_application,
    totp_code,
    verification_token,
)

T0 = datetime(2026, 6, 3, 9, 0, 30, tzinfo=UTC)  # mid-minute, so per-minute rate windows do not roll over
NEW_PASSWORD = "a different long passphrase 77"
PASSWORD_INPUT = re.compile(r"<input[^>]*type=[\"']?password", re.IGNORECASE)


def totp_secret_of(user: User) -> str:
    # make_user() returns a fresh instance, which no longer carries the `totp_secret` set at enrolment.
    return decrypt(Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP).data["secret"])


def current_code(user: User) -> str:
    return totp_code(totp_secret_of(user))


def sign_in(client: Client, email: str, password: str = PASSWORD) -> Any:
    return client.post(reverse("account_login"), {"login": email, "password": password})


def is_signed_in(client: Client) -> bool:
    return bool(client.get(reverse("portal:home")).wsgi_request.user.is_authenticated)


# --- The second factor ------------------------------------------------------------------------

@pytest.mark.django_db
def test_r12_signed_in_user_without_second_factor_is_sent_to_enrolment() -> None:
    applicant = make_user(with_totp=False)
    staff = make_lead(with_totp=False)
    for user in (applicant, staff):
        client = signed_in_client(user)
        for path in (reverse("portal:home"), "/admin/", "/admin/access/"):
            response = client.get(path)
            assert response.status_code == 302, (user, path)
            assert response["Location"] == reverse("mfa_activate_totp"), (user, path)
        assert client.get(reverse("verify")).status_code == 200  # public pages stay open

    # Through the real sign-in (no second factor yet, so the password alone signs in): straight to enrolment.
    # allauth asks for the password again before enrolment; the guard lets that page through (no loop).
    client = Client()
    response = sign_in(client, applicant.email)
    assert response.status_code == 302
    response = client.get(response["Location"])
    assert (response.status_code, response["Location"]) == (302, reverse("mfa_activate_totp"))
    response = client.get(reverse("mfa_activate_totp"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_reauthenticate"))
    response = client.post(response["Location"], {"password": PASSWORD})
    assert (response.status_code, response["Location"]) == (302, reverse("mfa_activate_totp"))
    enrolment = client.get(reverse("mfa_activate_totp"))
    assert enrolment.status_code == 200
    assert 'name="code"' in enrolment.content.decode()

    # Once enrolled, a signed-in session reaches the portal.
    enrol_totp(applicant)
    client = signed_in_client(User.objects.get(pk=applicant.pk))
    assert client.get(reverse("portal:home")).status_code == 200


@pytest.mark.django_db
@time_machine.travel(T0, tick=False)  # the code shown must not roll over between reading and typing it
def test_r12_password_leads_to_the_second_factor_stage_not_the_portal() -> None:
    user = make_user()
    client = Client()
    response = sign_in(client, user.email)
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_authenticate")
    # Half-way: not signed in, the portal shows the public landing page.
    assert not is_signed_in(client)

    right = current_code(user)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    response = client.post(reverse("mfa_authenticate"), {"code": wrong})
    assert response.status_code == 200
    assert not is_signed_in(client)

    response = client.post(reverse("mfa_authenticate"), {"code": current_code(user)})
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")
    assert is_signed_in(client)
    assert client.get(reverse("portal:home")).wsgi_request.user == user


@pytest.mark.django_db
def test_r12_second_factor_stage_cannot_be_skipped() -> None:
    user = make_user()
    client = Client()
    sign_in(client, user.email)
    # Going elsewhere instead of answering the second-factor prompt signs nobody in.
    for path in (reverse("portal:home"), "/admin/", reverse("mfa_index")):
        assert not client.get(path).wsgi_request.user.is_authenticated


@pytest.mark.django_db
def test_r12_failed_passwords_meet_a_cool_off_then_sign_in_works_again(settings: Any) -> None:
    per_minute = min((rate for rate in parse_rates(settings.ACCOUNT_RATE_LIMITS["login_failed"]) if rate.per == "ip"),
                     key=lambda rate: rate.duration)
    assert per_minute.amount <= 10 and per_minute.duration >= 60  # a cool-off worth the name
    user = make_user()
    with time_machine.travel(T0, tick=False) as traveller:
        client = Client(REMOTE_ADDR="203.0.113.9")
        for _ in range(per_minute.amount):
            response = sign_in(client, user.email, "not the password at all")
            assert response.status_code == 200
        # Even the right password is refused from that address during the cool-off.
        response = sign_in(client, user.email)
        assert response.status_code == 200
        assert "Too many failed login attempts" in response.content.decode()
        assert not is_signed_in(client)

        # The attack never locks the officer out: from their own network they sign in at once.
        response = sign_in(Client(REMOTE_ADDR="198.51.100.20"), user.email)
        assert response.status_code == 302 and response["Location"] == reverse("mfa_authenticate")

        traveller.shift(timedelta(seconds=per_minute.duration - 1))
        assert sign_in(Client(REMOTE_ADDR="203.0.113.9"), user.email).status_code == 200  # still cooling off
        traveller.shift(timedelta(seconds=2))
        response = sign_in(Client(REMOTE_ADDR="203.0.113.9"), user.email)
        assert response.status_code == 302
        assert response["Location"] == reverse("mfa_authenticate")


@pytest.mark.django_db
@time_machine.travel(T0, tick=False)
def test_r12_password_reset_does_not_reveal_accounts_and_never_signs_in() -> None:
    user = make_user(email="known.officer@zephyr.police.example.uk")
    unknown = Client().post(reverse("account_reset_password"), {"email": "nobody@zephyr.police.example.uk"})
    known = Client().post(reverse("account_reset_password"), {"email": user.email})
    assert (unknown.status_code, unknown["Location"]) == (known.status_code, known["Location"])
    assert Client().get(unknown["Location"]).content == Client().get(known["Location"]).content

    outbox_deliver_due(now=timezone.now())
    (reset_mail,) = [message for message in mail.outbox if user.email in message.to]
    link = re.search(r"https?://\S+/accounts/password/reset/key/\S+", reset_mail.body)
    assert link, reset_mail.body
    client = Client()
    response = client.get(urlsplit(link.group(0)).path, follow=True)
    assert response.status_code == 200
    form_path = response.redirect_chain[-1][0] if response.redirect_chain else urlsplit(link.group(0)).path
    response = client.post(form_path, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302
    assert User.objects.get(pk=user.pk).check_password(NEW_PASSWORD)
    # The reset does not sign in ...
    assert not is_signed_in(client)
    # ... and signing in with the new password still asks for the second factor.
    response = sign_in(client, user.email, NEW_PASSWORD)
    assert response["Location"] == reverse("mfa_authenticate")
    assert not is_signed_in(client)
    response = client.post(reverse("mfa_authenticate"), {"code": current_code(user)})
    assert response["Location"] == reverse("portal:home")
    assert is_signed_in(client)


@pytest.mark.django_db
def test_r12_account_e_mails_carry_the_never_ask_notice_and_no_case_content() -> None:
    officer = approved_officer(body_name="Zephyr Constabulary", jurisdiction="Northern Quillshire",
                               applicant_name="Ingrid Vantablack",
                               official_email="ingrid.vantablack@zephyr.police.example.uk")
    mail.outbox.clear()
    Client().post(reverse("account_reset_password"), {"email": officer.user.email})
    Client().post(reverse("account_reset_password"), {"email": "nobody@zephyr.police.example.uk"})
    outbox_deliver_due(now=timezone.now())
    account_mails = [message for message in mail.outbox if message.subject.startswith("[LEORS]")]
    assert len(account_mails) == 2
    for message in account_mails:
        text = f"{message.subject}\n{message.body}"
        assert policy.NEVER_ASK_NOTICE in message.body
        for secret in ("Zephyr Constabulary", "Northern Quillshire", "Ingrid Vantablack"):
            assert secret not in text
        assert not PASSWORD_INPUT.search(text)
        assert "/accounts/signup/" not in text  # there is no self-service sign-up to offer


@pytest.mark.django_db
def test_r12_account_e_mails_carry_a_reference_and_verification_code() -> None:
    user = make_user()
    Client().post(reverse("account_reset_password"), {"email": user.email})
    outbox_deliver_due(now=timezone.now())
    (message,) = mail.outbox
    reference = re.search(r"^Reference: (\S+)$", message.body, re.MULTILINE)
    code = re.search(r"^Verification code: ([A-Z2-9]{4}-[A-Z2-9]{4})$", message.body, re.MULTILINE)
    assert reference and code
    # ... and the public verification page confirms the pair, to the address it was sent to.
    response = Client().post(reverse("verify"), {"reference": reference.group(1), "code": code.group(1),
                                                 "email": user.email})
    assert b"Genuine." in response.content


def _pair_in(message: Any) -> tuple[str, str]:
    reference = re.search(r"^Reference: (\S+)$", message.body, re.MULTILINE)
    code = re.search(r"^Verification code: (\S+)$", message.body, re.MULTILINE)
    assert reference and code, message.body
    return reference.group(1), code.group(1)


@pytest.mark.django_db
def test_r12_a_pair_sent_to_a_stranger_does_not_vouch_for_a_forged_message_to_an_officer() -> None:
    victim = approved_officer()
    # The fraudster needs no account: a password reset asked for a mailbox of their own, which LEORS does not
    # know, sends them a LEORS e-mail with a genuine reference and code.
    Client().post(reverse("account_reset_password"), {"email": "fraudster@mailbox.example"})
    outbox_deliver_due(now=timezone.now())
    (harvested,) = [message for message in mail.outbox if message.to == ["fraudster@mailbox.example"]]
    reference, code = _pair_in(harvested)
    # They paste the pair into a forged "LEORS" e-mail to an officer. The officer checks it, as every LEORS
    # e-mail tells them to, with their own address: LEORS never sent the pair there.
    forged = Client().post(reverse("verify"), {"reference": reference, "code": code, "email": victim.user.email})
    assert "Not confirmed by LEORS." in forged.content.decode() and "Genuine." not in forged.content.decode()
    # To the address it was sent to (typed in capitals), the same pair is confirmed.
    genuine = Client().post(reverse("verify"), {"reference": reference, "code": code,
                                                "email": " Fraudster@Mailbox.Example "})
    assert "Genuine." in genuine.content.decode()


@pytest.mark.django_db
def test_r12_a_reference_and_code_are_confirmed_for_their_validity_only(settings: Any) -> None:
    settings.LEORS_VERIFICATION_CODE_DAYS = 90
    user = make_user()
    with time_machine.travel(T0, tick=False):
        Client().post(reverse("account_reset_password"), {"email": user.email})
        outbox_deliver_due(now=timezone.now())
    reference, code = _pair_in(mail.outbox[0])
    asked = {"reference": reference, "code": code, "email": user.email}
    with time_machine.travel(T0 + timedelta(days=90), tick=False):
        assert "Genuine." in Client().post(reverse("verify"), asked).content.decode()
    with time_machine.travel(T0 + timedelta(days=90, seconds=1), tick=False):
        page = Client().post(reverse("verify"), asked).content.decode()
    assert "Not confirmed by LEORS." in page and "in the last 90 days" in page


@pytest.mark.django_db
def test_r12_verify_page_asks_for_the_address_and_keeps_what_was_typed() -> None:
    response = Client().post(reverse("verify"), {"check": "message", "reference": "LEORS-APP-2026-000001",
                                                 "code": "ABCD-EFGH", "email": "not an address"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Enter a valid email address." in page
    assert 'value="LEORS-APP-2026-000001"' in page and 'value="ABCD-EFGH"' in page and 'value="not an address"' in page


# --- What e-mails carry, and checking that a message is genuine ---------------------------------------

CASE_CONTENT = {
    "body_name": "Zephyr Constabulary",
    "jurisdiction": "Northern Quillshire",
    "applicant_name": "Ingrid Vantablack",
    "rank_title": "Chief Superintendent",
    "supervisor_name": "Oswin Harrowgate",
}


def _apply_through_the_portal(**overrides: Any) -> Any:
    payload = {
        "applying_as": "police", "country": "GB", "phone": "+44 20 7946 0018",
        "official_email": "ingrid.vantablack@zephyr.police.example.uk",
        "supervisor_email": "oswin.harrowgate@zephyr.police.example.uk",
        "accept_undertaking": "on",
        "undertaking_version": policy.CURRENT_UNDERTAKING_VERSION, "documents": [pdf_upload()],
        **CASE_CONTENT, **overrides,
    }
    return Client().post(reverse("portal:apply"), payload)


@pytest.fixture
def every_application_e_mail(db: Any) -> list[Any]:
    """Drive an application through every step that sends mail; return every message sent."""
    lead, reviewer = make_lead(), make_reviewer()
    with time_machine.travel(T0, tick=False) as traveller:
        assert _apply_through_the_portal().status_code == 302
        application = AccessApplication.objects.get()
        outbox_deliver_due(now=timezone.now())
        verify_link = next(m for m in mail.outbox if "verify your official e-mail" in m.subject)
        path = re.search(r"^Portal: (\S+)$", verify_link.body, re.MULTILINE).group(1)  # type: ignore[union-attr]
        assert Client().post(urlsplit(path).path, {"password1": PASSWORD, "password2": PASSWORD}).status_code == 200
        # A second attempt with the same address: the "account exists" notice.
        assert _apply_through_the_portal(applicant_name="Mallory Impostor").status_code == 302
        outbox_deliver_due(now=timezone.now())

        traveller.shift(timedelta(days=2))
        now = timezone.now()
        application.refresh_from_db()
        services.application_assign(application=application, reviewer=reviewer, actor=Actor(user=lead), now=now)
        services.application_request_information(application=application, question="Which unit?",
                                                 actor=Actor(user=lead), now=now)
        services.application_answer(application=application, answer="Economic crime unit.",
                                    actor=Actor(user=application.applicant), now=now)
        complete_checklist(application, by=lead, now=now)
        services.application_approve(application=application, actor=Actor(user=lead), now=now)
        outbox_deliver_due(now=now)
    assert len(mail.outbox) >= 7
    return list(mail.outbox)


@pytest.mark.django_db
def test_r12_e_mails_carry_only_a_reference_a_portal_link_and_a_verification_code(
    every_application_e_mail: list[Any], settings: Any
) -> None:
    application = AccessApplication.objects.get()
    subjects = {message.subject for message in every_application_e_mail}
    assert any("verify your official e-mail" in subject for subject in subjects)
    assert any("application received" in subject for subject in subjects)
    assert any("update on" in subject for subject in subjects)
    assert any("an application was started with your address" in subject for subject in subjects)
    assert any("assigned to you" in subject for subject in subjects)
    assert any("the applicant answered" in subject for subject in subjects)

    for message in every_application_e_mail:
        text = f"{message.subject}\n{message.body}"
        for field, value in CASE_CONTENT.items():
            assert value not in text, (field, message.subject)
        assert "Mallory Impostor" not in text
        assert re.search(r"^Reference: (LEORS-APP-\d{4}-\d{6}|LEORS-ACCOUNT)$", message.body, re.MULTILINE)
        assert re.search(r"^Verification code: [A-Z2-9]{4}-[A-Z2-9]{4}$", message.body, re.MULTILINE)
        assert re.search(rf"^Portal: {re.escape(settings.LEORS_SITE_URL)}/\S*$", message.body, re.MULTILINE)
        assert policy.NEVER_ASK_NOTICE in message.body
        assert not PASSWORD_INPUT.search(text)
        # One link to the portal and one to the verification page; nothing else to click.
        links = set(re.findall(r"https?://\S+", message.body))
        assert all(link.startswith(settings.LEORS_SITE_URL) for link in links)
    assert application.reference in {re.search(r"^Reference: (\S+)$", m.body, re.MULTILINE).group(1)  # type: ignore[union-attr]
                                     for m in every_application_e_mail}


@pytest.mark.django_db
def test_r12_verify_page_confirms_a_genuine_reference_and_refuses_a_wrong_code(
    every_application_e_mail: list[Any],
) -> None:
    message = every_application_e_mail[-1]
    reference, code = _pair_in(message)

    page = Client().get(reverse("verify"))
    assert page.status_code == 200
    assert not PASSWORD_INPUT.search(page.content.decode())

    address = message.to[0]
    with time_machine.travel(T0 + timedelta(days=10), tick=False):  # within the codes' validity
        genuine = Client().post(reverse("verify"), {"reference": reference, "code": code, "email": address})
        assert genuine.status_code == 200
        assert "Genuine." in genuine.content.decode()
        # Typed by hand: lower case and without the dash still match.
        typed = Client().post(reverse("verify"), {"reference": reference.lower(),
                                                  "code": code.replace("-", "").lower(), "email": address.upper()})
        assert "Genuine." in typed.content.decode()

        wrong_code = "ABCD-EFGH" if code != "ABCD-EFGH" else "HGFE-DCBA"
        for reference_tried, code_tried, address_tried in (
                (reference, wrong_code, address), ("LEORS-APP-2026-999999", code, address),
                (reference, code, "someone.else@zephyr.police.example.uk")):
            refused = Client(REMOTE_ADDR="198.51.100.30").post(
                reverse("verify"), {"reference": reference_tried, "code": code_tried, "email": address_tried})
            assert refused.status_code == 200
            body = refused.content.decode()
            assert "Not confirmed by LEORS." in body and "Genuine." not in body
            assert not PASSWORD_INPUT.search(body)


@pytest.mark.django_db
def test_r12_verify_page_rate_limits_guessing() -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        client = Client()
        for attempt in range(10):
            response = client.post(reverse("verify"), {"reference": "LEORS-APP-2026-000001", "code": f"AAAA-AAA{attempt}",
                                                            "email": "a@b.example"})
            assert response.status_code == 200, attempt
        response = client.post(reverse("verify"), {"reference": "LEORS-APP-2026-000001", "code": "AAAA-BBBB",
                                                        "email": "a@b.example"})
        assert response.status_code == 429
        assert "Too many checks" in response.content.decode()
        assert "Not confirmed by LEORS" not in response.content.decode()  # no answer while limited
        # Another address is not affected; the same one may try again a minute later.
        assert Client(REMOTE_ADDR="198.51.100.20").post(
            reverse("verify"), {"reference": "LEORS-APP-2026-000001", "code": "AAAA-CCCC",
                                 "email": "a@b.example"}).status_code == 200
        traveller.shift(timedelta(minutes=1))
        assert client.post(reverse("verify"), {"reference": "X", "code": "AAAA-DDDD", "email": "a@b.example"}).status_code == 200


@pytest.mark.django_db
def test_r12_no_page_but_the_sign_in_asks_for_a_password_or_code(every_application_e_mail: list[Any]) -> None:
    application = AccessApplication.objects.get()
    owner = User.objects.get(pk=application.applicant_id)
    enrol_totp(owner)
    client = signed_in_client(User.objects.get(pk=owner.pk))
    pages = {
        "landing": Client().get(reverse("portal:home")),
        "verify": Client().get(reverse("verify")),
        "apply sent": Client().get(reverse("portal:apply_sent")),
        "portal home": client.get(reverse("portal:home")),
        "application": client.get(reverse("portal:application_detail", args=[application.reference])),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        body = response.content.decode()
        assert not PASSWORD_INPUT.search(body), name
        assert policy.NEVER_ASK_NOTICE in body, name
    # The e-mail verification page is where the owner of the mailbox *chooses* the password of
    # the new account: new-password fields only, never the current password or a code.
    pending = submit_application()
    page = Client().get(reverse("portal:application_verify_email", args=[verification_token(pending)])).content.decode()
    fields = re.findall(r"<input[^>]*type=\"password\"[^>]*>", page)
    assert len(fields) == 2 and all('autocomplete="new-password"' in field for field in fields)
    assert 'name="code"' not in page
    # The sign-in page is the place that asks, and says so.
    login_page = Client().get(reverse("account_login")).content.decode()
    assert PASSWORD_INPUT.search(login_page)
    assert policy.NEVER_ASK_NOTICE in login_page


@pytest.mark.django_db
def test_r12_verify_page_confirms_only_listed_legal_team_members() -> None:
    lead = make_lead(full_name="Lena Lead")
    services.staff_contact_set(user=lead, may_contact=True, actor=Actor(user=lead), now=timezone.now())
    unlisted = make_lead(full_name="Una Listed")

    def check(name: str) -> str:
        return Client().post(reverse("verify"), {"check": "staff", "name": name}).content.decode()

    assert "<strong>Listed.</strong>" in check("  lena   LEAD ")
    assert "<strong>Not listed.</strong>" in check("Una Listed")  # staff, but not listed as a contact
    assert "<strong>Not listed.</strong>" in check("Lena Leed")
    type(lead).objects.filter(pk=lead.pk).update(is_active=False)
    assert "<strong>Not listed.</strong>" in check("Lena Lead")  # a former member is not vouched for
    assert unlisted.may_contact_agencies is False
