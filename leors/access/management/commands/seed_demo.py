"""A small realistic world for the demo, built through the real services. Idempotent."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand
from django.utils import timezone

from leors import policy
from leors.access import services
from leors.access.models import AccessApplication, User
from leors.core.audit import Actor

DEMO_DOCUMENTS = Path(__file__).resolve().parents[4] / "demo" / "documents"
DEMO_PASSWORD = "leors-demo-2026!"  # noqa: S105  (demo accounts on a developer's machine only)
_PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"

STAFF = [
    ("lead@leors.example", "Lena Lead", services.GROUP_LEGAL_LEAD),
    ("reviewer@leors.example", "Ravi Reviewer", services.GROUP_LEGAL_REVIEWER),
    ("auditor@leors.example", "Ada Auditor", services.GROUP_AUDITOR),
]

GB = {"body_name": "Metropolitan Police Service", "body_kind": "police", "country": "GB", "jurisdiction": "Greater London",
      "phone": "+44 20 7230 1212", "supervisor_name": "DCI Rowan Hale", "supervisor_email": "rowan.hale@met.police.example.uk"}
DE = {"body_name": "Bundeskriminalamt", "body_kind": "police", "country": "DE", "jurisdiction": "Federal Republic of Germany",
      "phone": "+49 611 55 0", "supervisor_name": "KHK Jana Vogel", "supervisor_email": "jana.vogel@bka.example.de"}

APPLICANTS = [
    # (e-mail, name, rank, body, final state)
    ("dc.jones@met.police.example.uk", "Dana Jones", "Detective Constable", GB, "approved"),
    ("ds.patel@met.police.example.uk", "Sam Patel", "Detective Sergeant", GB, "approved_supervisor"),
    ("k.schmidt@bka.example.de", "Kai Schmidt", "Kriminalkommissar", DE, "approved"),
    ("m.weber@bka.example.de", "Mia Weber", "Kriminaloberkommissarin", DE, "suspended"),
    ("pc.brown@met.police.example.uk", "Pat Brown", "Police Constable", GB, "submitted"),
    ("l.fischer@bka.example.de", "Lukas Fischer", "Kriminalhauptkommissar", DE, "information_requested"),
    ("t.klein@bka.example.de", "Tom Klein", "Kriminalkommissar", DE, "email_unverified"),
]


class Command(BaseCommand):
    help = "Create the demo world (agencies, officers in several states, staff). Safe to run again."

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        staff = {role: self._staff(email, name, role) for email, name, role in STAFF}
        lead = Actor(user=staff[services.GROUP_LEGAL_LEAD], label_override="seed_demo")
        for email, name, rank, body, state in APPLICANTS:
            if User.objects.filter(email=email).exists():
                continue
            self._applicant(email, name, rank, body, state, lead=lead, reviewer=staff[services.GROUP_LEGAL_REVIEWER], now=now)
        self._cases(lead=lead, reviewer=staff[services.GROUP_LEGAL_REVIEWER], now=now)
        self._print_logins()

    def _staff(self, email: str, name: str, role: str) -> User:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email=email, password=DEMO_PASSWORD, full_name=name, is_staff=True,
                                            may_contact_agencies=role != services.GROUP_AUDITOR)
            user.groups.add(Group.objects.get(name=role))
        return user

    def _applicant(self, email: str, name: str, rank: str, body: dict[str, str], state: str, *,
                   lead: Actor, reviewer: User, now: Any) -> None:
        data = services.ApplicationData(applicant_name=name, rank_title=rank, official_email=email,
                                         undertaking_version=policy.CURRENT_UNDERTAKING_VERSION, **body)
        submitted_at = now - timedelta(days=24 if state == "submitted" else 10)
        application = services.application_submit(
            data=data,
            documents=[SimpleUploadedFile("letter-of-appointment.pdf", _PDF, content_type="application/pdf")],
            actor=Actor(user=None, ip="127.0.0.1", user_agent="seed_demo"), now=submitted_at,
        )
        if application is None:  # the address already had an account: nothing more to build
            return
        if state == "email_unverified":
            return
        token = services.application_verification_token(application)
        services.application_verify_email(token=token, password=DEMO_PASSWORD, actor=Actor(user=None, ip="127.0.0.1"),
                                          now=submitted_at)
        services.application_assign(application=application, reviewer=reviewer, actor=lead, now=submitted_at)
        if state == "submitted":
            return
        reviewer_actor = Actor(user=reviewer, label_override="seed_demo")
        if state == "information_requested":
            services.application_request_information(
                application=application, actor=reviewer_actor, now=now,
                question="Please upload your letter of appointment signed by your head of unit.")
            return
        services.application_checklist_update(
            application=application, actor=reviewer_actor, now=submitted_at,
            data=services.ChecklistData(
                check_body_exists=True, check_domain_belongs=True,
                supervisor_confirmed_with=body["supervisor_name"], supervisor_confirmation_method="phone",
                supervisor_contact_source="Switchboard number on the body's official website",
                supervisor_confirmed_at=submitted_at,
            ))
        officer = services.application_approve(application=application, actor=lead, now=submitted_at)
        if state == "approved_supervisor":
            services.officer_supervisor_set(officer=officer, is_supervisor=True, actor=lead, now=submitted_at)
        if state == "suspended":
            services.officer_suspend(officer=officer, actor=lead, now=now, referred_to="Landeskriminalamt Berlin",
                                     note="Sign-in from an unknown network followed by a freeze request for an unrelated case.")

    def _cases(self, *, lead: Actor, reviewer: User, now: Any) -> None:
        """A few requests in several states; submission keys make this idempotent."""
        from cases.models import Case
        from cases.services import review
        from cases.services.intake import CaseInput, DocumentInput, IdentifierInput, case_submit

        def document(name: str, document_type: str, **extra: Any) -> DocumentInput:
            content = (DEMO_DOCUMENTS / name).read_bytes()
            return DocumentInput(upload=SimpleUploadedFile(name, content), document_type=document_type, **extra)

        shared_wallet = IdentifierInput(kind="wallet", value="bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq")
        requests = [
            ("dc.jones@met.police.example.uk", CaseInput(
                request_type="user_information", submission_key="demo-user-information",
                title="Holder of a wallet used in an investment fraud", case_reference="OP-KESTREL-42",
                request_text=("Victims of an investment fraud sent bitcoin to the wallet below. Under the attached order "
                              "of the Paris investigating judge, relayed through our liaison, we request the identity "
                              "of the account holder, login IP addresses and the transaction history."),
                identifiers=[shared_wallet, IdentifierInput(kind="email", value="k.marlow@example.net")],
                documents=[
                    document("french-warrant.pdf", "court_order", issuing_authority="Tribunal judiciaire de Paris",
                             document_reference="JI-2026-0412"),
                    document("french-warrant-certified-translation.pdf", "court_order", translation_of=0,
                             issuing_authority="Tribunal judiciaire de Paris", document_reference="JI-2026-0412",
                             translator_certification="Claire Martin, sworn translator at the Paris Court of Appeal, "
                                                      "certifies this translation as true and accurate."),
                ],
                data_requested="KYC data, login IP addresses, deposits and withdrawals since 1 January 2026",
                has_non_disclosure_instruction=True, non_disclosure_until=(now + timedelta(days=90)).date(),
            ), "assign"),
            ("k.schmidt@bka.example.de", CaseInput(
                request_type="freeze", submission_key="demo-freeze", title="Freeze of the receiving account",
                request_text=("The account below received proceeds of a ransomware attack on a hospital. The attached "
                              "order of the Amtsgericht freezes it for thirty days while the investigation proceeds."),
                identifiers=[shared_wallet], freeze_duration_days=30,
                documents=[document("scanned-freeze-order.pdf", "freeze_order", issuing_authority="Amtsgericht Berlin")],
            ), "activate"),
            ("ds.patel@met.police.example.uk", CaseInput(
                request_type="preservation", submission_key="demo-preservation",
                title="Preserve records of a suspect's account",
                request_text=("Please preserve all records of the account below pending a production order; the "
                              "suspect is under investigation for fraud by false representation."),
                identifiers=[IdentifierInput(kind="uid", value="88412377")],
                documents=[document("english-warrant.pdf", "preservation_letter",
                                    issuing_authority="Metropolitan Police Service")],
            ), None),
        ]
        for email, data, step in requests:
            user = User.objects.get(email=email)
            case = case_submit(user=user, data=data, actor=Actor(user=user, label_override="seed_demo"), now=now)
            if step == "assign" and case.status == Case.Status.SUBMITTED:
                review.case_assign(case=case, reviewer=reviewer, actor=lead, now=now)
            if step == "activate" and case.status == Case.Status.SUBMITTED:
                self._freeze_activate(case, lead=lead, reviewer=reviewer, now=now)

    def _freeze_activate(self, case: Any, *, lead: Actor, reviewer: User, now: Any) -> None:
        """A freeze in force for the demo: reviewed by the reviewer (the scan's language recorded, the
        request confirmed with the agency), accepted, activation asked by the reviewer and approved by
        the lead (four-eyes)."""
        from cases.services import approvals, clocks, review
        from cases.services.recovery import Confirmation, case_out_of_band_confirm

        staff = Actor(user=reviewer, label_override="seed_demo")
        review.case_assign(case=case, reviewer=reviewer, actor=lead, now=now)
        for document in case.documents.all():
            if document.needs_manual_language_check:
                review.case_document_language_clear(document=document, language_status="english", reason="",
                                                    actor=staff, now=now)
        review.case_checklist_update(case=case, actor=staff, now=now, data=review.ReviewChecklist(
            True, True, True, True, True, True, checklist_notes="Order confirmed with the court registry by phone."))
        review.case_decide(case=case, decision="accepted", actor=staff, now=now,
                           reasons="The order of the Amtsgericht is signed and sealed and names the account.")
        case_out_of_band_confirm(case=case, actor=staff, now=now, data=Confirmation(
            confirmed_with="KHK Jana Vogel, BKA duty desk", method="phone",
            contact_source="BKA switchboard number on bka.de", confirmed_at=now))
        approval = clocks.freeze_activation_request(case=case, activation=clocks.FreezeActivation(), actor=staff,
                                                    now=now)
        approvals.approval_grant(approval=approval, actor=lead, now=now)

    def _print_logins(self) -> None:
        site = settings.LEORS_SITE_URL
        self.stdout.write(self.style.SUCCESS(f"\nLEORS demo is ready at {site}/"))
        self.stdout.write(f"Every demo account's password: {DEMO_PASSWORD}")
        self.stdout.write("At first sign-in each account enrols a second factor (scan the QR code with any TOTP app).\n")
        self.stdout.write(f"Staff workspace ({site}/admin/):")
        for email, _name, role in STAFF:
            self.stdout.write(f"  {email:34} {role}")
        self.stdout.write(f"Officer portal ({site}/):")
        for email, _name, _rank, _body, _state in APPLICANTS:
            application = AccessApplication.objects.filter(official_email=email).order_by("-pk").first()
            user = User.objects.filter(email=email).first()
            officer = getattr(user, "officer", None) if user else None
            status = officer.get_status_display().lower() + " officer" if officer else (
                application.get_status_display().lower() if application else "?")
            self.stdout.write(f"  {email:34} {status}")
        self.stdout.write("E-mails (verification links included) are printed by the worker's console.")
        self.stdout.write(f"Sample documents to upload (French warrant and its translation, a scan …): {DEMO_DOCUMENTS}")
        self.stdout.write("Restriction feed: python manage.py api_token create exchange-demo, then "
                          f"curl -H 'Authorization: Bearer <token>' {site}/api/v1/restrictions/")
