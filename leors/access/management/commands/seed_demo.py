"""A small realistic world for the demo, built through the real services. Idempotent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand
from django.utils import timezone

from leors import policy
from leors.access import services
from leors.access.models import AccessApplication, User
from leors.core.audit import Actor

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
        self._print_logins()

    def _staff(self, email: str, name: str, role: str) -> User:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email=email, password=DEMO_PASSWORD, full_name=name, is_staff=True)
            user.groups.add(Group.objects.get(name=role))
        return user

    def _applicant(self, email: str, name: str, rank: str, body: dict[str, str], state: str, *,
                   lead: Actor, reviewer: User, now: Any) -> None:
        data = services.ApplicationData(applicant_name=name, rank_title=rank, official_email=email,
                                         undertaking_version=policy.CURRENT_UNDERTAKING_VERSION, **body)
        submitted_at = now - timedelta(days=24 if state == "submitted" else 10)
        application = services.application_submit(
            data=data, password=DEMO_PASSWORD,
            documents=[SimpleUploadedFile("letter-of-appointment.pdf", _PDF, content_type="application/pdf")],
            actor=Actor(user=None, ip="127.0.0.1", user_agent="seed_demo"), now=submitted_at,
        )
        if application is None:  # the address already had an account: nothing more to build
            return
        if state == "email_unverified":
            return
        token = services.application_verification_token(application)
        services.application_verify_email(token=token, actor=Actor(user=None, ip="127.0.0.1"), now=submitted_at)
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

    def _print_logins(self) -> None:
        self.stdout.write(self.style.SUCCESS("\nLEORS demo is ready at http://localhost:8000/"))
        self.stdout.write(f"Every demo account's password: {DEMO_PASSWORD}")
        self.stdout.write("At first sign-in each account enrols a second factor (scan the QR code with any TOTP app).\n")
        self.stdout.write("Staff workspace (http://localhost:8000/admin/):")
        for email, _name, role in STAFF:
            self.stdout.write(f"  {email:34} {role}")
        self.stdout.write("Officer portal (http://localhost:8000/):")
        for email, _name, _rank, _body, _state in APPLICANTS:
            application = AccessApplication.objects.filter(official_email=email).order_by("-pk").first()
            user = User.objects.filter(email=email).first()
            officer = getattr(user, "officer", None) if user else None
            status = officer.get_status_display().lower() + " officer" if officer else (
                application.get_status_display().lower() if application else "?")
            self.stdout.write(f"  {email:34} {status}")
        self.stdout.write("E-mails (verification links included) are printed by the worker's console.")
