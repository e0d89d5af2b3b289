"""Test data, built through the real services wherever a service exists (STYLE.md rule 10)."""

from __future__ import annotations

import itertools
import time
from datetime import datetime
from typing import Any

import factory
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from leors.access import services
from leors.access.models import AccessApplication, Agency, Officer, User
from leors.core.audit import Actor

_sequence = itertools.count(1)

PDF_BYTES = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
PASSWORD = "correct horse battery staple 42"
TOTP_PERIOD = mfa_settings.TOTP_PERIOD


def pdf_upload(name: str = "warrant-card.pdf", content: bytes = PDF_BYTES) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def totp_code(secret: str, *, margin: float = 5.0) -> str:
    """The current TOTP code for `secret` (what an authenticator app would show).

    A code read in the last `margin` seconds of its 30-second window may have expired by the time
    the server checks it (a browser test types it and submits a page): a person would wait for the
    next code, and so does this, unless the clock is frozen (time-machine with tick=False)."""
    now = time.time()
    left = TOTP_PERIOD - now % TOTP_PERIOD
    if left < margin:
        time.sleep(0.001)
        if time.time() != now:  # the clock runs
            time.sleep(left)
    return format_hotp_value(hotp_value(secret, int(time.time()) // TOTP_PERIOD))


def enrol_totp(user: User) -> str:
    """Give `user` a TOTP authenticator, as enrolment at first sign-in does; return the secret."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    user.totp_secret = secret  # type: ignore[attr-defined]
    return secret


def make_user(*, email: str | None = None, password: str = PASSWORD, staff_role: str | None = None,
              with_totp: bool = True, **extra: Any) -> User:
    email = email or f"user{next(_sequence)}@example.gov"
    user = User.objects.create_user(email=email, password=password, is_staff=staff_role is not None, **extra)
    if staff_role is not None:
        user.groups.add(Group.objects.get(name=staff_role))
    secret = enrol_totp(user) if with_totp else None
    fresh = User.objects.get(pk=user.pk)  # fresh: no cached permissions
    fresh.totp_secret = secret  # type: ignore[attr-defined]
    return fresh


def make_lead(**kwargs: Any) -> User:
    return make_user(staff_role=services.GROUP_LEGAL_LEAD, **kwargs)


def make_reviewer(**kwargs: Any) -> User:
    return make_user(staff_role=services.GROUP_LEGAL_REVIEWER, **kwargs)


def make_auditor(**kwargs: Any) -> User:
    return make_user(staff_role=services.GROUP_AUDITOR, **kwargs)


def application_data(**overrides: Any) -> services.ApplicationData:
    n = next(_sequence)
    values: dict[str, Any] = {
        "body_name": "Metropolitan Police Service",
        "body_kind": "police",
        "country": "GB",
        "jurisdiction": "Greater London",
        "applicant_name": f"Alex Officer {n}",
        "rank_title": "Detective Sergeant",
        "official_email": f"alex.officer{n}@met.police.example.uk",
        "phone": "+44 20 7230 1212",
        "supervisor_name": "Sam Supervisor",
        "supervisor_email": "sam.supervisor@met.police.example.uk",
        "undertaking_version": services.policy.CURRENT_UNDERTAKING_VERSION,
    }
    values.update(overrides)
    return services.ApplicationData(**values)


def submit_application(*, now: datetime | None = None, documents: list[SimpleUploadedFile] | None = None,
                       **overrides: Any) -> AccessApplication:
    application = services.application_submit(
        data=application_data(**overrides),
        documents=documents if documents is not None else [pdf_upload()],
        actor=Actor(user=None, ip="198.51.100.7", user_agent="pytest"),
        now=now or timezone.now(),
    )
    assert application is not None
    return application


def verification_token(application: AccessApplication) -> str:
    return services.application_verification_token(application)


def verified_application(*, now: datetime | None = None, **overrides: Any) -> AccessApplication:
    now = now or timezone.now()
    application = submit_application(now=now, **overrides)
    return services.application_verify_email(token=verification_token(application), password=PASSWORD,
                                             actor=Actor(user=None), now=now)


def complete_checklist(application: AccessApplication, *, by: User, now: datetime | None = None) -> AccessApplication:
    now = now or timezone.now()
    return services.application_checklist_update(
        application=application,
        data=services.ChecklistData(
            check_body_exists=True,
            check_domain_belongs=True,
            supervisor_confirmed_with="Chief Inspector R. Hale",
            supervisor_confirmation_method="phone",
            supervisor_contact_source="Switchboard number on the force's official website",
            supervisor_confirmed_at=now,
        ),
        actor=Actor(user=by),
        now=now,
    )


def approved_officer(*, lead: User | None = None, now: datetime | None = None, with_totp: bool = True,
                     **overrides: Any) -> Officer:
    now = now or timezone.now()
    lead = lead or make_lead()
    application = verified_application(now=now, **overrides)
    complete_checklist(application, by=lead, now=now)
    officer = services.application_approve(application=application, actor=Actor(user=lead), now=now)
    secret = enrol_totp(officer.user) if with_totp else None
    fresh = Officer.objects.select_related("user", "agency").get(pk=officer.pk)
    fresh.user.totp_secret = secret  # type: ignore[attr-defined]
    return fresh


class AgencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agency
        django_get_or_create = ("country", "name")

    name = factory.Sequence(lambda n: f"Regional Police {n}")
    kind = "police"
    country = "DE"
    jurisdiction = "Land Berlin"
    created_at = factory.LazyFunction(timezone.now)


def in_transaction(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with transaction.atomic():
        return fn(*args, **kwargs)


# --- Cases ----------------------------------------------------------------------------------------

def document_input(content: bytes, name: str = "warrant.pdf", document_type: str = "warrant", **extra: Any) -> Any:
    from cases.services.intake import DocumentInput

    return DocumentInput(upload=SimpleUploadedFile(name, content), document_type=document_type,
                         issuing_authority=extra.pop("issuing_authority", "Crown Court at Southwark"),
                         document_reference=extra.pop("document_reference", "T20267781"), **extra)


def case_input(**overrides: Any) -> Any:
    """A valid user-information request with an English warrant; override any field."""
    import uuid

    from cases.services.intake import CaseInput, IdentifierInput
    from tests.documents import ENGLISH_REQUEST, ENGLISH_WARRANT, pdf_with_text

    values: dict[str, Any] = {
        "request_type": "user_information",
        "title": "Account behind a romance-scam wallet",
        "request_text": ENGLISH_REQUEST,
        "submission_key": uuid.uuid4().hex,
        "case_reference": "OP-KESTREL-42",
        "identifiers": [IdentifierInput(kind="wallet", value="0x52908400098527886E0F7030069857D2E4169EE7")],
        "documents": [document_input(pdf_with_text(ENGLISH_WARRANT))],
        "data_requested": "KYC data, login IP addresses, deposits and withdrawals",
        "has_non_disclosure_instruction": False,
    }
    values.update(overrides)
    return CaseInput(**values)


def submit_case(officer: Officer, *, now: datetime | None = None, **overrides: Any) -> Any:
    from cases.services.intake import case_submit

    return case_submit(user=officer.user, data=case_input(**overrides), actor=Actor(user=officer.user),
                       now=now or timezone.now())


def accept_case(case: Any, lead: User) -> Any:
    """A user-information request taken through review by `lead`, through the services: assigned,
    checklist complete, its (first) legal process verified, accepted, and the user's notification waived (R6)."""
    from cases.models import CaseDocument
    from cases.services import review

    staff, now = Actor(user=lead), timezone.now()
    review.case_assign(case=case, reviewer=lead, actor=staff, now=now)
    review.case_checklist_update(case=case, data=review.ReviewChecklist(True, True, True, True, True, True),
                                 actor=staff, now=now)
    review.case_document_verify(document=case.documents.filter(role=CaseDocument.Role.LEGAL_PROCESS).first(),
                                actor=staff, now=now)
    review.case_decide(case=case, decision="accepted", reasons="The warrant is valid and covers the account named.",
                       actor=staff, now=now)
    review.case_notification_record(case=case, decision="waived", notified_at=None,
                                    waiver_reason="The court ordered disclosure without notice to the user.",
                                    actor=staff, now=now)
    return case


# --- Four-eyes and out-of-band steps, as two members of the legal team take them ------------------

def confirm_out_of_band(case: Any, *, actor: Actor, now: datetime | None = None) -> Any:
    from cases.services.recovery import Confirmation, case_out_of_band_confirm

    now = now or timezone.now()
    return case_out_of_band_confirm(case=case, actor=actor, now=now, data=Confirmation(
        confirmed_with="Duty officer, operations desk", method="phone",
        contact_source="Switchboard number on the agency's official website", confirmed_at=now))


def four_eyes_activate(*, case: Any, activation: Any = None, actor: Actor, now: datetime,
                       approver: User | None = None) -> Any:
    """Activate a freeze as the product requires: confirmed out of band, asked by one member of the
    legal team (`actor`), approved by another (a fresh legal lead unless `approver` is given)."""
    from cases.services import approvals, clocks

    if (case.is_open or case.status in case.ACCEPTED_STATUSES) and not case.out_of_band_confirmations.exists():
        confirm_out_of_band(case, actor=actor, now=now)
    approval = clocks.freeze_activation_request(case=case, activation=activation or clocks.FreezeActivation(),
                                                actor=actor, now=now)
    return approvals.approval_grant(approval=approval, actor=Actor(user=approver or make_lead()), now=now).outcome


def four_eyes_release(*, production: Any, actor: Actor, now: datetime, approver: User | None = None) -> Any:
    from cases.services import approvals, productions

    approval = productions.production_release_request(production=production, actor=actor, now=now)
    return approvals.approval_grant(approval=approval, actor=Actor(user=approver or make_lead()), now=now).outcome
