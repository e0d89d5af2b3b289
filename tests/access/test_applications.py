"""R1, R2 and R3: applying for access, verifying the official e-mail, vetting, approval, suspension.

Service-level tests build their data through the services (tests.factories); portal-level tests drive
the real views with Django's test client: anonymous for the public form, signed in (with a second
factor) for the applicant portal. Time is frozen with time-machine wherever a boundary matters.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import AnonymousUser
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command, get_commands
from django.http import Http404
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from leors import policy
from leors.access import selectors, services
from leors.access.forms import PRIVATE_PARTY_EXPLANATION
from leors.access.models import (
    AccessApplication,
    Agency,
    AgencyDomain,
    ApplicationDocument,
    ApplicationMessage,
    ImpersonationReferral,
    Officer,
    User,
)
from leors.core.audit import Actor
from leors.core.errors import ActionRefused
from leors.core.models import AuditEvent, OutboxMessage
from leors.core.outbox import outbox_deliver_due
from tests.conftest import signed_in_client
from tests.factories import (
    PASSWORD,
    PDF_BYTES,
    PNG_BYTES,
    application_data,
    approved_officer,
    complete_checklist,
    enrol_totp,
    make_lead,
    make_reviewer,
    pdf_upload,
    submit_application,
    verification_token,
    verified_application,
)

Status = AccessApplication.Status
T0 = datetime(2026, 6, 3, 9, 0, tzinfo=UTC)  # a Wednesday


def form_payload(**overrides: Any) -> dict[str, Any]:
    """Everything the public application form asks for, valid unless overridden."""
    payload: dict[str, Any] = {
        "applying_as": "police",
        "body_name": "Zephyr Constabulary",
        "country": "GB",
        "jurisdiction": "Northern Quillshire",
        "applicant_name": "Ingrid Vantablack",
        "rank_title": "Detective Inspector",
        "official_email": "ingrid.vantablack@zephyr.police.example.uk",
        "phone": "+44 20 7946 0018",
        "supervisor_name": "Oswin Harrowgate",
        "supervisor_email": "oswin.harrowgate@zephyr.police.example.uk",
        "undertaking_version": policy.CURRENT_UNDERTAKING_VERSION,
        "accept_undertaking": "on",
        "documents": [pdf_upload()],
    }
    payload.update(overrides)
    return payload


PASSWORDS = {"password1": PASSWORD, "password2": PASSWORD}


def post_application(client: Client | None = None, **overrides: Any) -> Any:
    return (client or Client()).post(reverse("portal:apply"), form_payload(**overrides))


def html(response: Any) -> str:
    return response.content.decode()


def mail_to(address: str) -> list[Any]:
    return [message for message in mail.outbox if address in message.to]


def portal_path_in(message: Any) -> str:
    """The path of the portal link printed in an e-mail (R12: the only link it carries)."""
    match = re.search(r"^Portal: (\S+)$", message.body, re.MULTILINE)
    assert match, message.body
    return urlsplit(match.group(1)).path


def stored_file_count() -> int:
    return ApplicationDocument.objects.count()


# --- R1: the public form ------------------------------------------------------------------------

@pytest.mark.django_db
def test_r1_public_form_creates_application_awaiting_email_verification_with_documents() -> None:
    png_named_as_jpeg = SimpleUploadedFile("letter of appointment.jpeg", PNG_BYTES, content_type="image/jpeg")
    with time_machine.travel(T0, tick=False):
        response = post_application(documents=[pdf_upload("warrant-card.pdf"), png_named_as_jpeg])

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:apply_sent")
    application = AccessApplication.objects.get()
    assert application.status == Status.EMAIL_UNVERIFIED
    assert application.reference == f"LEORS-APP-2026-{application.pk:06d}"
    assert application.body_name == "Zephyr Constabulary"
    assert application.body_kind == "police"
    assert application.country.code == "GB"
    assert application.official_email == "ingrid.vantablack@zephyr.police.example.uk"
    assert application.created_at == T0
    assert application.submitted_at is None and application.review_due_at is None
    # The account exists but cannot sign in before the official e-mail is verified.
    applicant = application.applicant
    assert applicant.email == application.official_email
    assert not applicant.is_active
    # ... and has no password yet: only the owner of the mailbox chooses it, through the link.
    assert not applicant.has_usable_password()

    documents = {document.original_name: document for document in application.documents.all()}
    assert set(documents) == {"warrant-card.pdf", "letter of appointment.jpeg"}
    pdf, png = documents["warrant-card.pdf"], documents["letter of appointment.jpeg"]
    assert (pdf.content_type, pdf.size, pdf.sha256) == ("application/pdf", len(PDF_BYTES), hashlib.sha256(PDF_BYTES).hexdigest())
    # The type comes from the content, not from the name or the browser's claim.
    assert (png.content_type, png.sha256) == ("image/png", hashlib.sha256(PNG_BYTES).hexdigest())
    assert png.file.name.endswith(".png") and "letter" not in png.file.name
    with pdf.file.open("rb") as stored:
        assert stored.read() == PDF_BYTES

    # The only message sent is the verification link, to the official address.
    message = OutboxMessage.objects.get()
    assert message.key == f"application-verify:{application.pk}"
    assert message.recipient == application.official_email


@pytest.mark.django_db
@pytest.mark.parametrize("applying_as", ["private_lawyer", "victim", "company"])
def test_r1_private_parties_are_refused_with_an_explanation_keeping_every_field(applying_as: str) -> None:
    response = post_application(applying_as=applying_as)

    assert response.status_code == 400
    page = html(response)
    assert escape(PRIVATE_PARTY_EXPLANATION) in page
    assert response.context["form"].errors["applying_as"] == [PRIVATE_PARTY_EXPLANATION]
    # Everything else the person entered is shown again (passwords and files excepted, by design).
    assert f'<option value="{applying_as}" selected>' in page
    assert '<option value="GB" selected>' in page
    for field in ("body_name", "jurisdiction", "applicant_name", "rank_title", "official_email", "phone",
                  "supervisor_name", "supervisor_email"):
        assert f'value="{escape(form_payload()[field])}"' in page, field
    assert re.search(r'<input type="checkbox" name="accept_undertaking"[^>]*\bchecked>', page)
    assert not AccessApplication.objects.exists()
    assert not User.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("domain", ["gmail.com", "outlook.com", "proton.me"])
def test_r1_free_mail_addresses_are_refused(domain: str) -> None:
    response = post_application(official_email=f"ingrid.vantablack@{domain}")

    assert response.status_code == 400
    errors = response.context["form"].errors["official_email"]
    assert len(errors) == 1 and f"{domain} is a free e-mail service" in errors[0]
    assert escape(errors[0]) in html(response)
    assert 'value="Zephyr Constabulary"' in html(response)
    assert not AccessApplication.objects.exists()
    # The service holds the same rule for any other caller.
    with pytest.raises(ValidationError) as refused:
        submit_application(official_email=f"someone@{domain}")
    assert "official_email" in refused.value.error_dict


@pytest.mark.django_db
def test_r1_html_renamed_pdf_is_refused_naming_the_file() -> None:
    disguised = SimpleUploadedFile("court-order.pdf", b"<!DOCTYPE html><html><body>hello</body></html>",
                                   content_type="application/pdf")
    response = post_application(documents=[pdf_upload("genuine.pdf"), disguised])

    assert response.status_code == 400
    errors = response.context["form"].errors["documents"]
    assert len(errors) == 1
    assert "“court-order.pdf” is not a file type we accept" in errors[0]
    assert "genuine.pdf" not in errors[0]
    assert escape(errors[0]) in html(response)
    assert 'value="Ingrid Vantablack"' in html(response)
    assert not AccessApplication.objects.exists()
    assert stored_file_count() == 0


@pytest.mark.django_db
def test_r1_empty_file_is_refused_naming_the_file() -> None:
    response = post_application(documents=[pdf_upload("genuine.pdf"), pdf_upload("blank-scan.pdf", b"")])

    assert response.status_code == 400
    errors = response.context["form"].errors["documents"]
    assert any("blank-scan.pdf" in error and "empty" in error for error in errors), errors
    assert 'value="Ingrid Vantablack"' in html(response)
    assert not AccessApplication.objects.exists()
    assert stored_file_count() == 0


@pytest.mark.django_db
def test_r1_file_over_the_size_limit_is_refused_naming_the_file(settings: Any) -> None:
    settings.LEORS_UPLOAD_MAX_BYTES = 1024
    response = post_application(documents=[pdf_upload("huge-scan.pdf", PDF_BYTES + b"0" * 2000)])

    assert response.status_code == 400
    errors = response.context["form"].errors["documents"]
    assert len(errors) == 1 and "“huge-scan.pdf”" in errors[0] and "the limit is 1.0\xa0KB" in errors[0]
    assert not AccessApplication.objects.exists()

    # At the limit itself the file is accepted.
    response = post_application(documents=[pdf_upload("fits.pdf", PDF_BYTES + b"0" * (1024 - len(PDF_BYTES)))])
    assert response.status_code == 302
    assert AccessApplication.objects.get().documents.get().size == 1024


@pytest.mark.django_db
def test_r1_missing_document_is_refused() -> None:
    response = post_application(documents=[])
    assert response.status_code == 400
    assert "documents" in response.context["form"].errors
    assert not AccessApplication.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["official_email", "supervisor_email"])
def test_r1_an_e_mail_longer_than_its_column_is_refused_on_its_field_keeping_the_rest(field: str) -> None:
    # 255 to 320 characters pass a bare forms.EmailField but not the 254-character columns: a 500 before.
    too_long = ("a" * 250) + "@zephyr.police.example.uk"
    client = Client(raise_request_exception=False)
    response = post_application(client, **{field: too_long})

    assert response.status_code == 400
    (error,) = response.context["form"].errors[field]
    assert "at most 254 characters" in error and escape(error) in html(response)
    # What was typed is shown again, the long address too, for the person to correct.
    page = html(response)
    assert f'value="{too_long}"' in page
    for other in ("body_name", "jurisdiction", "applicant_name", "rank_title", "phone", "supervisor_name"):
        assert f'value="{escape(form_payload()[other])}"' in page, other
    assert not AccessApplication.objects.exists()
    assert not User.objects.exists()


# --- R1: verifying the official e-mail -------------------------------------------------------------

@pytest.mark.django_db
def test_r1_email_link_get_changes_nothing_and_post_verifies_then_application_reaches_queue() -> None:
    lead = make_lead()
    with time_machine.travel(T0, tick=False) as traveller:
        post_application()
        application = AccessApplication.objects.get()
        assert outbox_deliver_due(now=timezone.now()) == 1
        (message,) = mail_to(application.official_email)
        link = portal_path_in(message)
        assert link.startswith("/apply/verify/")
        assert not selectors.application_queue_for(user=lead).filter(pk=application.pk).exists()

        traveller.shift(timedelta(hours=3))
        # A mail scanner following the link changes nothing.
        response = Client().get(link)
        assert response.status_code == 200
        assert 'method="post"' in html(response)
        application.refresh_from_db()
        assert application.status == Status.EMAIL_UNVERIFIED
        assert not application.applicant.is_active
        assert not AuditEvent.objects.filter(action="application.email_verified").exists()
        assert not selectors.application_queue_for(user=lead).filter(pk=application.pk).exists()

        # The page shows what was applied for in the owner's name before anything happens.
        assert "Zephyr Constabulary" in html(response)
        # Without a password nothing is verified.
        response = Client().post(link, {"password1": "", "password2": ""})
        assert response.status_code == 400
        application.refresh_from_db()
        assert application.status == Status.EMAIL_UNVERIFIED
        response = Client().post(link, {"password1": PASSWORD, "password2": PASSWORD})
        assert response.status_code == 200
        assert "Your e-mail is verified" in html(response)
        application.refresh_from_db()
        assert application.status == Status.SUBMITTED
        assert User.objects.get(pk=application.applicant_id).check_password(PASSWORD)
        assert application.email_verified_at == application.submitted_at == T0 + timedelta(hours=3)
        assert application.review_due_at is not None
        assert User.objects.get(pk=application.applicant_id).is_active
        assert list(selectors.application_queue_for(user=lead)) == [application]
        assert AuditEvent.objects.filter(action="application.email_verified", object_id=str(application.pk)).count() == 1

        # The link works once.
        response = Client().post(link, {"password1": "another long password 77", "password2": "another long password 77"})
        assert response.status_code == 400
        assert "already verified" in html(response)


@pytest.mark.django_db
def test_r1_expired_or_tampered_verification_link_is_refused_and_changes_nothing(settings: Any) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        in_time = submit_application(now=timezone.now())
        too_late = submit_application(now=timezone.now())
        tampered = submit_application(now=timezone.now())
        # The links as sent at submission (signing stamps the time of signing).
        tokens = {application.pk: verification_token(application) for application in (in_time, too_late, tampered)}
        hours = settings.LEORS_EMAIL_VERIFICATION_HOURS

        traveller.shift(timedelta(hours=hours) - timedelta(seconds=1))
        response = Client().post(reverse("portal:application_verify_email", args=[tokens[in_time.pk]]), PASSWORDS)
        assert response.status_code == 200

        traveller.shift(timedelta(seconds=2))  # one second past the limit
        response = Client().post(reverse("portal:application_verify_email", args=[tokens[too_late.pk]]), PASSWORDS)
        assert response.status_code == 400
        assert "This verification link has expired." in html(response)

        token = tokens[tampered.pk]
        forged = token[:-1] + ("A" if token[-1] != "A" else "B")
        response = Client().post(reverse("portal:application_verify_email", args=[forged]), PASSWORDS)
        assert response.status_code == 400
        assert "This verification link is not valid." in html(response)

    statuses = dict(AccessApplication.objects.values_list("pk", "status"))
    assert statuses == {in_time.pk: Status.SUBMITTED, too_late.pk: Status.EMAIL_UNVERIFIED,
                        tampered.pk: Status.EMAIL_UNVERIFIED}
    for refused in (too_late, tampered):
        refused.refresh_from_db()
        assert refused.submitted_at is None and refused.review_due_at is None
        assert not refused.applicant.is_active
    assert AuditEvent.objects.filter(action="application.email_verified").count() == 1


@pytest.mark.django_db
def test_r1_existing_address_gets_the_same_redirect_and_no_second_account() -> None:
    first = post_application()
    services.application_verify_email(token=verification_token(AccessApplication.objects.get()), password=PASSWORD,
                                      actor=Actor(user=None), now=timezone.now())
    second = post_application(official_email="INGRID.Vantablack@zephyr.police.example.uk",
                              applicant_name="Somebody Else")

    # Same answer whether or not the address has an account: nothing to enumerate.
    assert (first.status_code, first["Location"]) == (second.status_code, second["Location"])
    assert Client().get(first["Location"]).content == Client().get(second["Location"]).content
    assert User.objects.filter(email__iexact="ingrid.vantablack@zephyr.police.example.uk").count() == 1
    assert AccessApplication.objects.count() == 1
    account = User.objects.get()
    assert account.full_name == "Ingrid Vantablack"
    assert account.check_password(PASSWORD)
    # The holder of the address is told, by e-mail only.
    keys = sorted(OutboxMessage.objects.values_list("key", flat=True))
    assert [key.split(":")[0] for key in keys] == ["account-exists", "application-received", "application-verify"]


# --- R1: vetting, approval and what an officer is --------------------------------------------------

@pytest.mark.django_db
def test_r1_unknown_domain_is_flagged_and_known_after_one_approval_for_the_same_body() -> None:
    lead = make_lead()
    body = {"body_name": "Zephyr Constabulary", "country": "GB"}
    first = verified_application(official_email="a.one@zephyr.police.example.uk", **body)

    def is_known(application: AccessApplication) -> bool:
        return selectors.application_list_for(user=lead).get(pk=application.pk).is_domain_known

    assert is_known(first) is False
    complete_checklist(first, by=lead)
    officer = services.application_approve(application=first, actor=Actor(user=lead), now=timezone.now())
    assert AgencyDomain.objects.filter(agency=officer.agency, domain="zephyr.police.example.uk").exists()

    same_body_same_domain = verified_application(official_email="b.two@Zephyr.Police.example.uk",
                                                 body_name="zephyr constabulary", country="GB")
    same_body_other_domain = verified_application(official_email="c.three@zephyr-police.example.net", **body)
    other_body_same_domain = verified_application(official_email="d.four@zephyr.police.example.uk",
                                                  body_name="Quillshire Fire Service", country="GB")
    same_name_other_country = verified_application(official_email="e.five@zephyr.police.example.uk",
                                                   body_name="Zephyr Constabulary", country="IE")

    assert same_body_same_domain.agency == officer.agency
    assert is_known(same_body_same_domain) is True
    assert is_known(same_body_other_domain) is False
    assert is_known(other_body_same_domain) is False
    assert is_known(same_name_other_country) is False

    # A reviewer sees the same flag on the applications assigned to them (object permissions), and only those.
    reviewer = make_reviewer()
    for application in (same_body_same_domain, same_body_other_domain):
        services.application_assign(application=application, reviewer=reviewer, actor=Actor(user=lead),
                                    now=timezone.now())
    reviewer = User.objects.get(pk=reviewer.pk)
    seen = {a.pk: a.is_domain_known for a in selectors.application_list_for(user=reviewer)}
    assert seen == {same_body_same_domain.pk: True, same_body_other_domain.pk: False}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("second_spelling", ["Newforce Police", "NEWFORCE POLICE"])
def test_r1_two_leads_approving_two_applications_of_one_new_body_at_once_share_one_agency(
        monkeypatch: pytest.MonkeyPatch, second_spelling: str) -> None:
    """Two officers of a body LEORS does not know yet, approved by two leads at the same moment: the second
    approval waits for the agency the first is making, then joins it (it failed on the unique index: a 500)."""
    import threading

    from django.db import connection

    from leors.core import outbox

    monkeypatch.setattr(outbox, "schedule_delivery", lambda message_ids: None)  # no broker needed
    lead_a, lead_b = make_lead(), make_lead()
    now = timezone.now()
    first = verified_application(official_email="one@newforce.police.example.uk", body_name="Newforce Police")
    second = verified_application(official_email="two@newforce.police.example.uk", body_name=second_spelling)
    for application in (first, second):
        complete_checklist(application, by=lead_a, now=now)
    agency_made, release = threading.Event(), threading.Event()
    audit_record = services.audit_record

    def audit_then_wait(**kwargs: Any) -> Any:
        result = audit_record(**kwargs)
        if kwargs.get("action") == "agency.created" and threading.current_thread().name == "A":
            agency_made.set()
            release.wait(10)
        return result

    monkeypatch.setattr(services, "audit_record", audit_then_wait)
    outcome: dict[str, Any] = {}

    def approve(name: str, application: AccessApplication, lead: User) -> None:
        try:
            outcome[name] = services.application_approve(application=application, actor=Actor(user=lead), now=now)
        except Exception as error:  # surfaced by the assertions below
            outcome[name] = error
        finally:
            connection.close()  # this thread's own connection

    a = threading.Thread(target=approve, args=("A", first, lead_a), name="A")
    a.start()
    assert agency_made.wait(10)
    b = threading.Thread(target=approve, args=("B", second, lead_b), name="B")
    b.start()
    b.join(1.5)  # B now waits on the unique index for the agency A inserted
    release.set()
    a.join(10)
    b.join(10)

    assert isinstance(outcome["A"], Officer) and isinstance(outcome["B"], Officer), outcome
    (agency,) = Agency.objects.all()
    assert agency.name == "Newforce Police"
    assert outcome["A"].agency == outcome["B"].agency == agency
    assert AuditEvent.objects.filter(action="agency.created").count() == 1
    assert AuditEvent.objects.filter(action="application.approved").count() == 2
    assert list(AgencyDomain.objects.values_list("agency", "domain")) == [(agency.pk, "newforce.police.example.uk")]


@pytest.mark.django_db(transaction=True)
def test_r1_an_agency_name_is_unique_per_country_whatever_the_case_and_existing_clashes_are_renamed() -> None:
    """access.0004 compares names as the approval's look-up does (case aside); agencies that clash so are kept,
    renamed (the oldest keeps its name) rather than merged or lost."""
    from django.db import IntegrityError, connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("access", "0003_knowndevice")], [("access", "0004_agency_name_unique_whatever_the_case")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    OldAgency = executor.loader.project_state(before).apps.get_model("access", "Agency")
    made = [OldAgency.objects.create(name=name, kind="police", country=country, jurisdiction="Somewhere",
                                     created_at=timezone.now()).pk
            for name, country in [("Newforce Police", "GB"), ("NEWFORCE POLICE", "GB"), ("newforce police", "GB"),
                                  ("Newforce Police", "IE"), ("Oldforce Police", "GB")]]
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)

    assert [Agency.objects.get(pk=pk).name for pk in made] == [
        "Newforce Police", f"NEWFORCE POLICE (agency #{made[1]})", f"newforce police (agency #{made[2]})",
        "Newforce Police", "Oldforce Police"]
    assert services.agency_named(country="GB", name="NEWFORCE police") == Agency.objects.get(pk=made[0])
    with pytest.raises(IntegrityError):
        Agency.objects.create(name="OLDFORCE POLICE", kind="police", country="GB", jurisdiction="England")
    # A run stopped after its index took the constraint's name (not yet recorded) is simply run again.
    from django.apps import apps

    migration = importlib.import_module("leors.access.migrations.0004_agency_name_unique_whatever_the_case")
    with connection.schema_editor(atomic=False) as editor:
        migration.constraint_made_case_blind(apps, editor)
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'access_agency' AND indexdef ILIKE "
                       "'%%lower(%%'")
        assert [row[0] for row in cursor.fetchall()] == ["agency_unique_name_per_country"]


@pytest.mark.django_db
def test_r1_approval_places_the_officer_in_the_agency_and_grants_nothing_elsewhere() -> None:
    lead = make_lead()
    officer = approved_officer(lead=lead, body_name="Zephyr Constabulary", body_kind="police", country="GB",
                               jurisdiction="Northern Quillshire", official_email="owner@zephyr.police.example.uk")
    colleague_application = verified_application(body_name="Zephyr Constabulary", country="GB",
                                                 official_email="colleague@zephyr.police.example.uk")
    other_agency_application = verified_application(body_name="Policia Judiciaria", country="PT",
                                                    official_email="outsider@pj.example.pt")
    other_officer = approved_officer(lead=lead, body_name="Policia Judiciaria", country="PT",
                                     official_email="outsider2@pj.example.pt")

    agency = officer.agency
    assert (agency.name, agency.kind, agency.country.code, agency.jurisdiction) == (
        "Zephyr Constabulary", "police", "GB", "Northern Quillshire")
    assert officer.status == Officer.Status.ACTIVE
    assert other_officer.agency != agency
    assert officer.application.status == Status.APPROVED
    assert officer.application.agency == agency

    user = User.objects.get(pk=officer.user_id)  # fresh: no cached permissions
    assert list(selectors.application_list_for(user=user)) == [officer.application]
    for foreign in (other_agency_application, other_officer.application, colleague_application):
        assert not user.has_perm("access.view_accessapplication", foreign)
        assert not user.has_perm("access.respond_accessapplication", foreign)
        with pytest.raises(Http404):
            selectors.application_get_for(user=user, reference=foreign.reference)
    # Approval gives no role-wide permission either.
    assert not user.is_staff
    assert user.get_all_permissions() == set()


@pytest.mark.django_db
def test_r1_only_an_approved_officer_with_current_access_counts_as_an_officer() -> None:
    lead = make_lead()
    with time_machine.travel(T0, tick=False):
        officer = approved_officer(lead=lead, now=T0)
        suspended = approved_officer(lead=lead, now=T0)
        services.officer_suspend(officer=suspended, note="Supervisor says this person left the force.",
                                 referred_to="", actor=Actor(user=lead), now=T0)
        waiting = verified_application(now=T0)
        unverified = submit_application(now=T0)
        rejected = verified_application(now=T0)
        services.application_reject(application=rejected, reason="The body named could not be found.",
                                    actor=Actor(user=lead), now=T0)

    def counts(user: Any, now: datetime) -> bool:
        if user.is_authenticated:
            user = User.objects.get(pk=user.pk)
        return selectors.officer_has_current_access(user=user, now=now)

    expires = officer.access_expires_at
    assert expires == T0 + policy.access_validity()
    assert counts(officer.user, T0) is True
    assert counts(officer.user, expires - timedelta(seconds=1)) is True
    assert counts(officer.user, expires) is False
    assert counts(suspended.user, T0) is False
    for not_an_officer in (waiting.applicant, unverified.applicant, rejected.applicant, lead, AnonymousUser()):
        assert counts(not_an_officer, T0) is False


@pytest.mark.django_db
def test_r1_approval_needs_a_complete_checklist_and_an_open_application() -> None:
    lead = make_lead()
    application = verified_application()
    with pytest.raises(ActionRefused, match="Complete the checklist first"):
        services.application_approve(application=application, actor=Actor(user=lead), now=timezone.now())
    unverified = submit_application()
    with pytest.raises(ActionRefused):
        services.application_checklist_update(
            application=unverified,
            data=services.ChecklistData(True, True, "x", "phone", "y", timezone.now()),
            actor=Actor(user=lead), now=timezone.now(),
        )
    assert not Officer.objects.exists()


# --- R2: the review window and no automatic approval ---------------------------------------------------

@pytest.mark.django_db
def test_r2_review_window_counts_business_days_skipping_weekends_and_seychelles_holidays(settings: Any) -> None:
    settings.LEORS_BUSINESS_CALENDAR = "SC"
    # Verified Wednesday 3 June 2026. Not counted: weekends, Corpus Christi (Thu 4 June), Constitution
    # Day (Thu 18 June) and National Day (Mon 29 June). Business day 15 is Fri 26 June, 20 is Mon 6 July.
    verified_at = datetime(2026, 6, 3, 16, 45, tzinfo=UTC)
    application = verified_application(now=verified_at)

    assert application.submitted_at == verified_at
    assert application.review_window_opens_at == datetime(2026, 6, 26, tzinfo=UTC)
    assert application.review_due_at == datetime(2026, 7, 7, tzinfo=UTC)
    assert application.review_window_last_day == date(2026, 7, 6)


@pytest.mark.django_db
def test_r2_review_window_uses_the_configured_calendar_across_the_year_end(settings: Any) -> None:
    settings.LEORS_BUSINESS_CALENDAR = "GB"
    # Verified Thursday 10 December 2026. Not counted: weekends, Christmas (Fri 25), Boxing Day observed
    # (Mon 28) and New Year's Day 2027 (Fri 1 Jan). Business day 15 is Tue 5 Jan, 20 is Tue 12 Jan 2027.
    application = verified_application(now=datetime(2026, 12, 10, 10, 0, tzinfo=UTC))

    assert application.review_window_opens_at == datetime(2027, 1, 5, tzinfo=UTC)
    assert application.review_due_at == datetime(2027, 1, 13, tzinfo=UTC)
    assert application.review_window_last_day == date(2027, 1, 12)


@pytest.mark.django_db
def test_r2_due_soon_and_overdue_switch_exactly_at_the_window_boundaries(settings: Any) -> None:
    settings.LEORS_BUSINESS_CALENDAR = "SC"
    application = verified_application(now=datetime(2026, 6, 3, 16, 45, tzinfo=UTC))
    opens, due = application.review_window_opens_at, application.review_due_at
    assert (opens, due) == (datetime(2026, 6, 26, tzinfo=UTC), datetime(2026, 7, 7, tzinfo=UTC))
    one_second = timedelta(seconds=1)

    expected = [
        (opens - one_second, False, False),
        (opens, True, False),
        (opens + one_second, True, False),
        (due - one_second, True, False),
        (due, False, True),
        (due + one_second, False, True),
    ]
    for instant, due_soon, overdue in expected:
        with time_machine.travel(instant, tick=False):
            now = timezone.now()
            application.refresh_from_db()
            assert (application.is_due_soon(now), application.is_overdue(now)) == (due_soon, overdue), instant

    # A question to the applicant keeps the clock; a decided application is never late.
    lead = make_lead()
    services.application_request_information(application=application, question="Which unit are you in?",
                                             actor=Actor(user=lead), now=due + one_second)
    assert application.is_overdue(due + one_second)
    services.application_reject(application=application, reason="The applicant did not answer in time.",
                                actor=Actor(user=lead), now=due + one_second)
    assert not application.is_overdue(due + one_second) and not application.is_due_soon(due + one_second)


@pytest.mark.django_db
def test_r2_nothing_approves_an_application_automatically() -> None:
    lead = make_lead()
    application = verified_application()
    complete_checklist(application, by=lead)
    applicant = User.objects.get(pk=application.applicant_id)

    for actor in (Actor(user=None), Actor.system(), Actor(user=applicant)):
        with pytest.raises(ActionRefused, match="Only a member of the legal team"):
            services.application_approve(application=application, actor=actor, now=timezone.now())

    # Years later, after every scheduled sweep (Celery beat and the cron command) has run, it still waits.
    from leors.celery import app

    with time_machine.travel(timezone.now() + timedelta(days=3 * 365), tick=False):
        ran = 0
        for entry in app.conf.beat_schedule.values():
            module_name, task_name = entry["task"].rsplit(".", 1)
            getattr(importlib.import_module(module_name), task_name)()
            ran += 1
        assert ran >= 1
        if "run_sweeps" in get_commands():
            call_command("run_sweeps")
        application.refresh_from_db()
        assert application.is_overdue(timezone.now())

    assert application.status == Status.SUBMITTED
    assert application.decided_at is None and application.decided_by is None
    assert not Officer.objects.exists()
    assert not AuditEvent.objects.filter(action="application.approved").exists()


# --- R3: the undertaking and suspension ----------------------------------------------------------------

@pytest.mark.django_db
def test_r3_undertaking_version_time_and_ip_are_stored() -> None:
    with time_machine.travel(T0, tick=False):
        response = Client(REMOTE_ADDR="203.0.113.9").post(reverse("portal:apply"), form_payload())
    assert response.status_code == 302
    application = AccessApplication.objects.get()
    assert application.undertaking_version == policy.CURRENT_UNDERTAKING_VERSION
    assert application.undertaking_accepted_at == T0
    assert application.undertaking_ip == "203.0.113.9"
    event = AuditEvent.objects.get(action="application.submitted")
    assert event.ip == "203.0.113.9"
    assert event.changes["undertaking_version"] == policy.CURRENT_UNDERTAKING_VERSION

    # The page shows the text of the version it asks the applicant to accept.
    page = html(Client().get(reverse("portal:apply")))
    assert escape(policy.UNDERTAKINGS[policy.CURRENT_UNDERTAKING_VERSION]) in page


@pytest.mark.django_db
def test_r3_outdated_or_unaccepted_undertaking_is_refused() -> None:
    response = post_application(undertaking_version="2020-01-01")
    assert response.status_code == 400
    assert "The undertaking has changed" in html(response)
    assert 'value="Zephyr Constabulary"' in html(response)

    response = post_application(accept_undertaking="")
    assert response.status_code == 400
    assert "You must accept the undertaking" in html(response)

    assert not AccessApplication.objects.exists()
    assert not User.objects.exists()
    with pytest.raises(ValidationError):
        submit_application(undertaking_version="2020-01-01")


@pytest.mark.django_db
def test_r3_suspension_ends_sessions_refuses_sign_in_and_records_a_referral() -> None:
    reviewer = make_reviewer()
    officer = approved_officer(official_email="suspect@zephyr.police.example.uk", body_name="Zephyr Constabulary")
    colleague = approved_officer(official_email="colleague@zephyr.police.example.uk", body_name="Zephyr Constabulary")
    officer_client = signed_in_client(officer.user)
    colleague_client = signed_in_client(colleague.user)
    own_page = reverse("portal:application_detail", args=[officer.application.reference])
    assert officer_client.get(own_page).status_code == 200

    now = timezone.now()
    referral = services.officer_suspend(officer=officer, note="The supervisor named has never heard of them.",
                                        referred_to="National Crime Agency", actor=Actor(user=reviewer), now=now)

    # The open session ends at once: the next request is anonymous.
    response = officer_client.get(own_page)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert not response.wsgi_request.user.is_authenticated
    assert "Your applications" not in html(officer_client.get(reverse("portal:home")))
    # The colleague's session is untouched.
    assert colleague_client.get(reverse("portal:application_detail",
                                        args=[colleague.application.reference])).status_code == 200

    # Sign-in with the password that worked before is refused.
    response = Client().post(reverse("account_login"), {"login": officer.user.email, "password": PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in response.wsgi_request.session
    assert not response.wsgi_request.user.is_authenticated

    officer.refresh_from_db()
    assert officer.status == Officer.Status.SUSPENDED and officer.suspended_at == now
    assert referral == ImpersonationReferral.objects.get(officer=officer)
    assert (referral.referred_to, referral.created_by, referral.created_at) == ("National Crime Agency", reviewer, now)
    event = AuditEvent.objects.get(action="officer.suspended")
    assert (event.object_id, event.actor, event.changes["referral"]) == (str(officer.pk), reviewer, referral.pk)
    assert not selectors.officer_has_current_access(user=User.objects.get(pk=officer.user_id), now=now)

    with pytest.raises(ActionRefused, match="already suspended"):
        services.officer_suspend(officer=officer, note="Suspending a second time, by mistake.", referred_to="",
                                 actor=Actor(user=reviewer), now=now)
    assert ImpersonationReferral.objects.count() == 1
    assert AuditEvent.objects.filter(action="officer.suspended").count() == 1


@pytest.mark.django_db
def test_r3_only_staff_can_suspend_and_only_with_a_reason() -> None:
    officer = approved_officer()
    colleague = approved_officer()
    with pytest.raises(ActionRefused):
        services.officer_suspend(officer=officer, note="I think they are an impostor.", referred_to="",
                                 actor=Actor(user=colleague.user), now=timezone.now())
    with pytest.raises(ValidationError):
        services.officer_suspend(officer=officer, note="bad", referred_to="",
                                 actor=Actor(user=make_reviewer()), now=timezone.now())
    officer.refresh_from_db()
    assert officer.status == Officer.Status.ACTIVE
    assert not ImpersonationReferral.objects.exists()


# --- The applicant portal: owner, colleague and outsider -------------------------------------------------

@pytest.fixture
def three_applicants(db: Any) -> dict[str, Any]:
    """The owner, a colleague applying from the same body and domain, and an outsider from another body."""
    owner_application = verified_application(body_name="Zephyr Constabulary", country="GB",
                                             official_email="owner@zephyr.police.example.uk")
    colleague_application = verified_application(body_name="Zephyr Constabulary", country="GB",
                                                 official_email="colleague@zephyr.police.example.uk")
    outsider_application = verified_application(body_name="Policia Judiciaria", country="PT",
                                                official_email="outsider@pj.example.pt")
    people = {}
    for role, application in (("owner", owner_application), ("colleague", colleague_application),
                              ("outsider", outsider_application)):
        user = User.objects.get(pk=application.applicant_id)
        enrol_totp(user)
        people[role] = User.objects.get(pk=user.pk)  # fresh after the permissions granted at submission
    return {"application": owner_application, "lead": make_lead(), **people}


@pytest.mark.django_db
def test_applicant_answers_a_question_and_the_application_returns_to_the_queue(three_applicants: dict[str, Any]) -> None:
    application, lead = three_applicants["application"], three_applicants["lead"]
    services.application_request_information(application=application, question="Send your warrant card number.",
                                             actor=Actor(user=lead), now=timezone.now())
    client = signed_in_client(three_applicants["owner"])
    page = client.get(reverse("portal:application_detail", args=[application.reference]))
    assert page.status_code == 200
    assert "Send your warrant card number." in html(page)

    response = client.post(reverse("portal:application_answer", args=[application.reference]),
                           {"answer": "Warrant card 4471-B, issued 2019."})
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == Status.SUBMITTED
    answer = application.messages.get(kind=ApplicationMessage.Kind.ANSWER)
    assert (answer.body, answer.author) == ("Warrant card 4471-B, issued 2019.", three_applicants["owner"])
    assert AuditEvent.objects.filter(action="application.answered", object_id=str(application.pk)).count() == 1

    # With no open question, a second answer is refused and nothing is stored.
    response = client.post(reverse("portal:application_answer", args=[application.reference]), {"answer": "More."})
    assert response.status_code == 400
    assert "There is no open question" in html(response)
    assert application.messages.filter(kind=ApplicationMessage.Kind.ANSWER).count() == 1


@pytest.mark.django_db
def test_applicant_withdraws_the_application(three_applicants: dict[str, Any]) -> None:
    application = three_applicants["application"]
    client = signed_in_client(three_applicants["owner"])
    response = client.post(reverse("portal:application_withdraw", args=[application.reference]))
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == Status.WITHDRAWN
    assert AuditEvent.objects.filter(action="application.withdrawn", object_id=str(application.pk)).count() == 1
    # Withdrawn is final: withdrawing again is refused and recorded nowhere.
    client.post(reverse("portal:application_withdraw", args=[application.reference]))
    assert AuditEvent.objects.filter(action="application.withdrawn").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("intruder", ["colleague", "outsider"])
def test_applicant_pages_of_another_applicant_are_404(three_applicants: dict[str, Any], intruder: str) -> None:
    application, lead = three_applicants["application"], three_applicants["lead"]
    services.application_request_information(application=application, question="Which unit are you in?",
                                             actor=Actor(user=lead), now=timezone.now())
    client = signed_in_client(three_applicants[intruder])
    reference = application.reference

    assert client.get(reverse("portal:application_detail", args=[reference])).status_code == 404
    assert client.post(reverse("portal:application_answer", args=[reference]), {"answer": "Hijack"}).status_code == 404
    assert client.post(reverse("portal:application_withdraw", args=[reference])).status_code == 404
    # A reference that does not exist looks exactly the same.
    assert client.get(reverse("portal:application_detail", args=["LEORS-APP-2026-999999"])).status_code == 404

    application.refresh_from_db()
    assert application.status == Status.INFORMATION_REQUESTED
    assert not application.messages.filter(kind=ApplicationMessage.Kind.ANSWER).exists()
    # The owner still sees it.
    owner_client = signed_in_client(three_applicants["owner"])
    assert owner_client.get(reverse("portal:application_detail", args=[reference])).status_code == 200


@pytest.mark.django_db
def test_document_download_is_audited_for_the_applicant_and_404_for_others(three_applicants: dict[str, Any]) -> None:
    document = three_applicants["application"].documents.get()
    url = reverse("portal:application_document", args=[document.pk])

    for intruder in ("colleague", "outsider"):
        assert signed_in_client(three_applicants[intruder]).get(url).status_code == 404
    assert Client().get(url).status_code == 302  # anonymous: to the sign-in page
    assert not AuditEvent.objects.filter(action="document.downloaded").exists()

    response = signed_in_client(three_applicants["owner"]).get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF_BYTES
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Cache-Control"] == "no-store"
    event = AuditEvent.objects.get(action="document.downloaded")
    assert (event.object_id, event.actor) == (str(document.pk), three_applicants["owner"])
    assert event.changes["sha256"] == document.sha256


# --- Applying again -------------------------------------------------------------------------------

@pytest.mark.django_db
def test_r1_applying_again_after_an_unused_link_gets_a_new_link_and_changes_nothing_else() -> None:
    first = submit_application(official_email="late.reader@met.police.example.uk")
    first_link = verification_token(first)  # as sent: the signature carries the time of sending
    with time_machine.travel(timezone.now() + policy.email_verification_max_age() + timedelta(hours=1)):
        second = submit_application(official_email="late.reader@met.police.example.uk", applicant_name="Somebody")
        first.refresh_from_db()
        # Whoever filled in the form again took nothing over: the first application is untouched,
        # the account still has no password and is still inactive.
        assert first.status == AccessApplication.Status.EMAIL_UNVERIFIED
        assert second.applicant_id == first.applicant_id
        account = User.objects.get(pk=first.applicant_id)
        assert not account.has_usable_password() and not account.is_active
        # The first link has expired; the new one verifies, and its owner chooses the password.
        with pytest.raises(ActionRefused):
            services.application_verify_email(token=first_link, password=PASSWORD,
                                              actor=Actor(user=None), now=timezone.now())
        verified = services.application_verify_email(token=verification_token(second), password=PASSWORD,
                                                     actor=Actor(user=None), now=timezone.now())
        assert verified.status == AccessApplication.Status.SUBMITTED
        assert User.objects.get(pk=first.applicant_id).check_password(PASSWORD)


@pytest.mark.django_db
def test_r1_verifying_one_of_an_accounts_applications_withdraws_the_others_awaiting_verification() -> None:
    email = "twice@met.police.example.uk"
    first = submit_application(official_email=email)
    second = submit_application(official_email=email)  # the first link not used yet: a second link is sent

    services.application_verify_email(token=verification_token(second), password=PASSWORD, actor=Actor(user=None),
                                      now=timezone.now())

    first.refresh_from_db()
    assert first.status == Status.WITHDRAWN and first.email_verified_at is None
    (event,) = AuditEvent.objects.filter(action="application.withdrawn", object_id=str(first.pk))
    assert event.actor_id == first.applicant_id and event.changes["status"] == ["email_unverified", "withdrawn"]
    assert second.reference in event.changes["reason"]
    verified = AuditEvent.objects.get(action="application.email_verified", object_id=str(second.pk))
    assert verified.changes["applications_withdrawn"] == [first.reference]
    # The other link no longer verifies: one application of the account is in the queue, and nothing else changes.
    with pytest.raises(ActionRefused, match="can no longer be used"):
        services.application_verify_email(token=verification_token(first), password="another password 12345",
                                          actor=Actor(user=None), now=timezone.now())
    assert list(AccessApplication.objects.filter(applicant__email=email, status__in=AccessApplication.OPEN_STATUSES)
                ) == [second]
    assert User.objects.get(email=email).check_password(PASSWORD)


@pytest.mark.django_db
def test_r1_an_account_already_an_officer_is_not_approved_again_and_the_page_says_why() -> None:
    """As two verified applications of one account (possible before verifying one withdrew the others) left it."""
    email = "twice@met.police.example.uk"
    first = submit_application(official_email=email)
    second = submit_application(official_email=email)
    now = timezone.now()
    services.application_verify_email(token=verification_token(first), password=PASSWORD, actor=Actor(user=None),
                                      now=now)
    AccessApplication.objects.filter(pk=second.pk).update(status=Status.SUBMITTED, email_verified_at=now,
                                                          submitted_at=now, decided_at=None)
    lead = make_lead()
    complete_checklist(first, by=lead, now=now)
    complete_checklist(second, by=lead, now=now)
    officer = services.application_approve(application=first, actor=Actor(user=lead), now=now)
    client = signed_in_client(lead)
    client.raise_request_exception = False

    response = client.post(reverse("admin:access_accessapplication_approve", args=[second.pk]), {})

    assert response.status_code == 400
    page = html(response)
    assert f"{email} is already an officer of {escape(str(officer.agency))}, approved through {first.reference}" in page
    assert "Reject this application with a reason" in page
    with pytest.raises(ActionRefused, match="already an officer"):
        services.application_approve(application=second, actor=Actor(user=lead), now=now)
    second.refresh_from_db()
    assert second.status == Status.SUBMITTED
    assert list(Officer.objects.filter(user__email=email)) == [officer]
    assert not AuditEvent.objects.filter(action="application.approved", object_id=str(second.pk)).exists()


@pytest.mark.django_db
def test_r3_a_suspended_officer_cannot_reapply_to_take_the_account_back() -> None:
    officer = approved_officer()
    services.officer_suspend(officer=officer, note="Forged warrant submitted from this account.", referred_to="",
                             actor=Actor(user=make_reviewer()), now=timezone.now())
    password_before = type(officer.user).objects.get(pk=officer.user_id).password
    result = services.application_submit(
        data=application_data(official_email=officer.user.email),
        documents=[pdf_upload()], actor=Actor(user=None), now=timezone.now(),
    )
    assert result is None
    account = type(officer.user).objects.get(pk=officer.user_id)
    assert account.password == password_before
    assert not account.is_active
    assert AccessApplication.objects.filter(applicant=account).count() == 1


@pytest.mark.django_db
def test_r2_business_days_are_counted_on_the_operators_calendar_day(settings: Any) -> None:
    # 21:00 UTC on Wednesday 3 June 2026 is already Thursday 4 June in the Seychelles (UTC+4).
    settings.LEORS_BUSINESS_TIME_ZONE = "Indian/Mahe"
    settings.LEORS_BUSINESS_CALENDAR = "SC"
    late_evening = datetime(2026, 6, 3, 21, 0, tzinfo=UTC)
    opens, due = services.review_window_for(late_evening)
    on_the_operators_thursday = services.review_window_for(datetime(2026, 6, 4, 10, 0, tzinfo=UTC))
    assert (opens, due) == on_the_operators_thursday
    # The window starts and ends at the operator's midnight.
    assert opens.astimezone(ZoneInfo("Indian/Mahe")).time() == datetime.min.time()
    application = verified_application(now=late_evening)
    assert application.review_window_first_day == opens.astimezone(ZoneInfo("Indian/Mahe")).date()
    assert application.review_window_last_day == (due - timedelta(days=1)).astimezone(ZoneInfo("Indian/Mahe")).date()
