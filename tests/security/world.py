"""A small world for the access-control tests: one agency with an owner, colleagues, a supervisor,
a suspended and a lapsed officer; an officer of another agency; the legal team; an applicant; a
case with a document and a released production; a machine token.

Built through the real services (STYLE.md rule 10). Each role has a signed-in test client.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.http import HttpResponseBase
from django.test import Client
from django.utils import timezone

from cases.models import Case, CaseDocument, Production
from cases.services import correspondence, productions, review
from leors.access import services as access_services
from leors.access.models import AccessApplication, ApplicationDocument, ImpersonationReferral, Officer, User
from leors.core.audit import Actor
from leors.core.models import AuditEvent, OutboxMessage
from leors.core.tokens import api_token_create
from tests.conftest import signed_in_client
from tests.factories import (
    approved_officer,
    enrol_totp,
    four_eyes_release,
    make_auditor,
    make_lead,
    make_reviewer,
    submit_application,
    submit_case,
    verification_token,
    verified_application,
)

FULL_CHECKLIST = review.ReviewChecklist(True, True, True, True, True, True)
ACCEPT_REASONS = "The warrant was verified with the issuing court and covers the account named."
WAIVER = "The account holder is the reporting victim; notifying them serves no purpose."

# Every role of the matrix, in the order of its columns.
ROLES = (
    "anon",        # not signed in
    "machine",     # no session, `Authorization: Bearer <valid token>`
    "unenrolled",  # a verified applicant who has not enrolled a second factor yet
    "applicant",   # a verified applicant (enrolled), application not decided
    "owner",       # the officer who made the case
    "colleague",   # same agency, case not shared with them
    "shared",      # same agency, the case was shared with them
    "supervisor",  # same agency, agency supervisor
    "outsider",    # an officer of another agency
    "lapsed",      # same agency, case shared, but access past its re-verification date
    "suspended",   # same agency, case shared, signed in, then suspended (R3)
    "reviewer",    # legal reviewer, nothing assigned
    "assigned",    # legal reviewer the case and the application are assigned to
    "lead",        # legal lead
    "auditor",     # auditor
)


def outsider_overrides() -> dict[str, str]:
    n = uuid.uuid4().hex[:8]
    return {"body_name": "Police judiciaire de Paris", "country": "FR", "jurisdiction": "Paris",
            "official_email": f"enqueteur.{n}@interieur.gouv.fr", "supervisor_email": "chef.brigade@interieur.gouv.fr"}


def accept_case(case: Case, *, reviewer: User) -> Case:
    staff = Actor(user=User.objects.get(pk=reviewer.pk))
    now = timezone.now()
    review.case_checklist_update(case=case, data=FULL_CHECKLIST, actor=staff, now=now)
    review.case_document_verify(document=case.documents.get(role=CaseDocument.Role.LEGAL_PROCESS), actor=staff,
                                now=now)
    review.case_decide(case=case, decision="accepted", reasons=ACCEPT_REASONS, actor=staff, now=now)
    review.case_notification_record(case=case, decision="waived", notified_at=None, waiver_reason=WAIVER,
                                    actor=staff, now=now)
    return Case.objects.get(pk=case.pk)


def release_production(case: Case, *, reviewer: User) -> Production:
    staff = Actor(user=User.objects.get(pk=reviewer.pk))
    production = productions.production_upload(
        case=case, upload=SimpleUploadedFile("kyc.csv", b"uid,name\nU-1,A. Holder\n"), description="KYC record",
        actor=staff, now=timezone.now())
    return four_eyes_release(production=production, actor=staff, now=timezone.now())


@dataclass
class World:
    users: dict[str, User | None]
    clients: dict[str, Client]
    officers: dict[str, Officer]
    case: Case
    document: CaseDocument
    production: Production
    application: AccessApplication
    application_document: ApplicationDocument
    pending_token: str
    token: str
    values: dict[str, Any] = field(default_factory=dict)

    def request(self, role: str, method: str, url: str, data: dict[str, Any] | None = None) -> HttpResponseBase:
        """One request as `role`, its database effects rolled back so that the world stays as built."""
        client = self.clients[role]
        with transaction.atomic():
            response = getattr(client, method)(url, data or {})
            if getattr(response, "streaming", False):
                # Read to the end: the test client then closes the file (without closing the
                # database connection, as a bare response.close() would inside a test transaction).
                b"".join(response.streaming_content)  # type: ignore[attr-defined]
            transaction.set_rollback(True)
        return response


def build_world() -> World:
    now = timezone.now()
    lead, reviewer, assigned, auditor = make_lead(), make_reviewer(), make_reviewer(), make_auditor()
    lead_actor = Actor(user=lead)
    officers = {name: approved_officer(lead=lead) for name in ("owner", "colleague", "shared", "supervisor",
                                                              "lapsed", "suspended")}
    officers["outsider"] = approved_officer(lead=lead, **outsider_overrides())
    assert len({officer.agency_id for name, officer in officers.items() if name != "outsider"}) == 1
    access_services.officer_supervisor_set(officer=officers["supervisor"], is_supervisor=True, actor=lead_actor,
                                           now=now)

    case = submit_case(officers["owner"])
    owner_actor = Actor(user=officers["owner"].user)
    for name in ("shared", "lapsed", "suspended"):
        correspondence.case_share(case=case, colleague_email=officers[name].user.email, actor=owner_actor, now=now)
    review.case_assign(case=case, reviewer=assigned, actor=lead_actor, now=now)
    case = accept_case(case, reviewer=assigned)
    production = release_production(case, reviewer=assigned)
    document = case.documents.get(role=CaseDocument.Role.LEGAL_PROCESS)

    application = verified_application()
    applicant = application.applicant
    enrol_totp(applicant)
    access_services.application_assign(application=application, reviewer=assigned, actor=lead_actor, now=now)
    unenrolled = verified_application().applicant
    pending = submit_application()

    token = api_token_create(name="exchange", actor=lead_actor, now=now)
    users: dict[str, User | None] = {
        "anon": None, "machine": None, "unenrolled": unenrolled, "applicant": applicant,
        **{name: officer.user for name, officer in officers.items()},
        "reviewer": reviewer, "assigned": assigned, "lead": lead, "auditor": auditor,
    }
    clients = {name: signed_in_client(User.objects.get(pk=user.pk)) if user is not None else Client()
               for name, user in users.items()}
    clients["machine"] = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    # Access lapses at its re-verification date; suspension comes after the officer signed in (R3).
    Officer.objects.filter(pk=officers["lapsed"].pk).update(access_expires_at=now - timedelta(days=1))
    access_services.officer_suspend(officer=officers["suspended"], note="Calls from a number not the agency's.",
                                    referred_to="National Crime Agency", actor=lead_actor, now=now)

    world = World(
        users=users, clients=clients, officers=officers, case=case, document=document, production=production,
        application=application, application_document=application.documents.first(),  # type: ignore[arg-type]
        pending_token=verification_token(pending), token=token,
    )
    world.values = {
        "case_ref": case.reference, "case_pk": case.pk, "document_id": document.pk, "production_id": production.pk,
        "app_ref": application.reference, "app_pk": application.pk,
        "app_document_id": world.application_document.pk, "pending_token": world.pending_token,
        "officer_pk": officers["owner"].pk, "agency_pk": officers["owner"].agency_id,
        "user_pk": officers["owner"].user_id, "staff_user_pk": reviewer.pk,
        "referral_pk": ImpersonationReferral.objects.get().pk,
        "audit_pk": AuditEvent.objects.order_by("pk").first().pk,  # type: ignore[union-attr]
        "outbox_pk": OutboxMessage.objects.order_by("pk").first().pk,  # type: ignore[union-attr]
        "case_ct": ContentType.objects.get_for_model(Case).pk,
    }
    return world
