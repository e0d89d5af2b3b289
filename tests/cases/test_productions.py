"""Productions: prepared only on accepted cases, typed from their content, released for a set window,
each download audited; and R12: no e-mail of the whole flow carries case content.

The cast: the officer who sent the case, a colleague of the same agency, an outsider of another
agency, the assigned reviewer and a legal lead.
"""

from __future__ import annotations

import hashlib
import io
import re
import uuid
import zipfile
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from cases import selectors
from cases.models import Case, Production
from cases.services import correspondence, productions, review
from cases.services.intake import IdentifierInput
from leors.access.models import User
from leors.core.audit import Actor
from leors.core.errors import ActionRefused
from leors.core.models import AuditEvent, OutboxMessage
from leors.core.outbox import outbox_deliver_due, reference_check
from tests.documents import ENGLISH_WARRANT, pdf_with_text
from tests.factories import approved_officer, four_eyes_release, make_lead, make_reviewer, submit_case

FULL_CHECKLIST = review.ReviewChecklist(True, True, True, True, True, True)
ACCEPT_REASONS = "The warrant was verified with the issuing court and covers the account named."
WAIVER = "The account holder is the reporting victim; notifying them serves no purpose."


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


def xlsx_bytes() -> bytes:
    """The smallest workbook layout a spreadsheet program writes: content types, relationships, xl/."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships/>')
        archive.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook/>')
    return buffer.getvalue()


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("logins.csv", "ip,at\n203.0.113.9,2026-03-01T10:00:00Z\n")
    return buffer.getvalue()


class Flow:
    def __init__(self, **case_overrides: Any) -> None:
        self.now = timezone.now()
        self.officer = approved_officer()
        self.lead = make_lead()
        self.reviewer = make_reviewer()
        self.case: Case = submit_case(self.officer, **case_overrides)
        review.case_assign(case=self.case, reviewer=self.reviewer, actor=Actor(user=self.lead), now=self.now)

    @property
    def staff(self) -> Actor:
        return Actor(user=fresh(self.reviewer))

    def accept(self, *, notification: bool = True) -> Flow:
        review.case_checklist_update(case=self.case, data=FULL_CHECKLIST, actor=self.staff, now=self.now)
        review.case_document_verify(document=self.case.documents.get(), actor=self.staff, now=self.now)
        review.case_decide(case=self.case, decision="accepted", reasons=ACCEPT_REASONS, actor=self.staff, now=self.now)
        if notification:
            review.case_notification_record(case=self.case, decision="waived", notified_at=None, waiver_reason=WAIVER,
                                            actor=self.staff, now=self.now)
        return self

    def upload(self, name: str = "kyc.csv", content: bytes = b"uid,name\nU-1,A. Person\n",
               description: str = "KYC extract") -> Production:
        return productions.production_upload(case=self.case, upload=SimpleUploadedFile(name, content),
                                             description=description, actor=self.staff, now=self.now)

    def release(self, production: Production) -> Production:
        return four_eyes_release(production=production, actor=self.staff, now=self.now)


@pytest.mark.django_db
def test_productions_are_uploaded_only_on_accepted_cases() -> None:
    flow = Flow()
    with pytest.raises(ActionRefused, match=r"only for an accepted case \(R10\)"):
        flow.upload()
    review.case_decide(case=flow.case, decision="declined", actor=flow.staff, now=flow.now,
                       reasons="The warrant names another exchange; send one addressed to us.")
    with pytest.raises(ActionRefused, match="only for an accepted case"):
        flow.upload()
    assert not Production.objects.exists()

    accepted = Flow().accept(notification=False)
    production = accepted.upload()
    assert (production.case, production.uploaded_by, production.released_at) == (accepted.case, accepted.reviewer, None)
    event = AuditEvent.objects.get(action="case.production_uploaded")
    assert event.changes["sha256"] == production.sha256


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("kyc.csv", b"uid,name,email\nU-1,A. Person,a@example.com\n", "text/csv"),
        ("transactions.xlsx", xlsx_bytes(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("cover-letter.pdf", pdf_with_text(ENGLISH_WARRANT), "application/pdf"),
        ("logins.zip", zip_bytes(), "application/zip"),
    ],
)
def test_production_types_are_taken_from_their_content_with_their_sha256(
        name: str, content: bytes, content_type: str) -> None:
    flow = Flow().accept()
    production = flow.upload(name=name, content=content)
    assert (production.original_name, production.content_type, production.size) == (name, content_type, len(content))
    assert production.sha256 == hashlib.sha256(content).hexdigest()
    with production.file.open("rb") as stored:
        assert stored.read() == content  # stored as received


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("records.csv", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200),  # a Windows program
        ("report.pdf", b"<!DOCTYPE html><html><body><script>document.cookie</script></body></html>"),
        ("nothing.csv", b""),
    ],
)
def test_a_production_that_is_not_an_accepted_type_is_refused_naming_it(name: str, content: bytes) -> None:
    flow = Flow().accept()
    with pytest.raises(ValidationError) as refused:
        flow.upload(name=name, content=content)
    assert f"“{name}”" in refused.value.messages[0]
    assert not Production.objects.exists()


@pytest.mark.django_db
def test_release_opens_the_download_window_set_in_settings(settings: Any) -> None:
    settings.LEORS_PRODUCTION_AVAILABLE_DAYS = 7
    flow = Flow().accept()
    production = flow.release(flow.upload())
    # Released by the second pair of eyes (a lead), not by the reviewer who asked for it.
    assert production.released_at == flow.now and production.released_by not in (None, flow.reviewer)
    assert production.available_until == flow.now + timedelta(days=7)
    assert AuditEvent.objects.get(action="case.production_released").changes["available_until"]


@pytest.mark.django_db
def test_downloads_are_audited_and_refused_to_the_officer_after_the_window() -> None:
    flow = Flow().accept()
    production = flow.release(flow.upload())
    officer = Actor(user=fresh(flow.officer.user))
    assert production.available_until is not None

    with time_machine.travel(production.available_until - timedelta(seconds=1), tick=False):
        productions.production_download_record(production=production, actor=officer, now=timezone.now())
        productions.production_download_record(production=production, actor=officer, now=timezone.now())
    with time_machine.travel(production.available_until + timedelta(seconds=1), tick=False):
        with pytest.raises(ActionRefused, match="expired"):
            productions.production_download_record(production=production, actor=officer, now=timezone.now())
        # The legal team keeps access to what it produced (chain of custody), and that is audited too.
        productions.production_download_record(production=production, actor=flow.staff, now=timezone.now())
    # Nobody signed in downloads nothing, whatever the window.
    with pytest.raises(ActionRefused):
        productions.production_download_record(production=production, actor=Actor(user=None), now=flow.now)

    downloads = AuditEvent.objects.filter(action="production.downloaded", object_id=str(production.pk))
    assert [e.actor_id for e in downloads] == [flow.officer.user_id, flow.officer.user_id, flow.reviewer.pk]
    assert {e.changes["sha256"] for e in downloads} == {production.sha256}
    assert {e.changes["case"] for e in downloads} == {flow.case.reference}


@pytest.mark.django_db
def test_an_unreleased_production_is_not_found_by_the_officer() -> None:
    flow = Flow().accept()
    production = flow.upload()
    outsider = approved_officer(body_name="Polizei Hamburg", country="DE", jurisdiction="Hamburg",
                                official_email=f"k.{uuid.uuid4().hex[:6]}@polizei.example.de")
    officer = fresh(flow.officer.user)
    with pytest.raises(Http404):
        selectors.production_get_for(user=officer, production_id=production.pk)
    with pytest.raises(ActionRefused):
        productions.production_download_record(production=production, actor=Actor(user=officer), now=flow.now)
    assert list(selectors.productions_for(user=officer, case=flow.case)) == []
    assert selectors.production_get_for(user=fresh(flow.reviewer), production_id=production.pk) == production

    flow.release(production)
    assert selectors.production_get_for(user=officer, production_id=production.pk) == production
    assert list(selectors.productions_for(user=officer, case=flow.case)) == [production]
    # Another agency's officer: the same 404 as a production that does not exist.
    for production_id in (production.pk, production.pk + 1000):
        with pytest.raises(Http404):
            selectors.production_get_for(user=fresh(outsider.user), production_id=production_id)


# --- R12: e-mails carry no case content ------------------------------------------------------------

@pytest.mark.django_db
def test_r12_no_email_of_the_whole_flow_carries_case_content() -> None:
    secrets_of_the_case = {
        "title": "Operation Nightjar: mixer laundering",
        "request": "Nightjar syndicate laundered proceeds through a mixing service and the wallets listed below. "
                   "We need the identity of the account holder, the login addresses and every transfer made, "
                   "as ordered by the attached warrant of the Crown Court.",
        "data": "Full KYC file of the Nightjar account",
        "case_reference": "OP-NIGHTJAR-7",
        "wallet": "0x52908400098527886E0F7030069857D2E4169EE7",
        "email": "nightjar.suspect@example.com",
        "phone": "+44 20 7946 0018",
    }
    flow = Flow(
        title=secrets_of_the_case["title"], request_text=secrets_of_the_case["request"],
        data_requested=secrets_of_the_case["data"], case_reference=secrets_of_the_case["case_reference"],
        identifiers=[IdentifierInput(kind="wallet", value=secrets_of_the_case["wallet"]),
                     IdentifierInput(kind="email", value=secrets_of_the_case["email"]),
                     IdentifierInput(kind="phone", value=secrets_of_the_case["phone"])],
    )
    colleague = approved_officer()
    officer = Actor(user=fresh(flow.officer.user))
    question = "Which Nightjar wallet received the first transfer?"
    answer = "The Nightjar wallet ending 9EE7 received it on 3 March."
    review.case_request_information(case=flow.case, question=question, actor=flow.staff, now=flow.now)
    correspondence.case_message_post(case=flow.case, body=answer, attachments=[], is_internal=False, actor=officer,
                                     now=flow.now)
    correspondence.case_message_post(case=flow.case, body="Internal: Nightjar matches an earlier case.",
                                     attachments=[], is_internal=True, actor=flow.staff, now=flow.now)
    flow.accept()
    production = flow.release(flow.upload(name="nightjar-kyc.csv", description="Nightjar KYC file"))
    productions.production_download_record(production=production, actor=officer, now=flow.now)
    correspondence.case_share(case=flow.case, colleague_email=colleague.user.email, actor=officer, now=flow.now)

    assert outbox_deliver_due(now=flow.now + timedelta(minutes=1), batch_size=1000) > 0
    assert not OutboxMessage.objects.exclude(status=OutboxMessage.Status.SENT).exists()  # every one was read below
    forbidden = [*secrets_of_the_case.values(), "0x52908400098527886e0f7030069857d2e4169ee7", "+442079460018",
                 flow.officer.agency.name, question, answer, "Nightjar", "nightjar", ACCEPT_REASONS, WAIVER]
    officer_link = f"{django_settings.LEORS_SITE_URL}{reverse('cases:detail', kwargs={'reference': flow.case.reference})}"
    about_the_case: dict[str, list[Any]] = {}
    for message in mail.outbox:
        text = f"{message.subject}\n{message.body}"
        for secret in forbidden:
            assert secret not in text, (secret, message.to, message.subject)
        reference = re.search(r"^Reference: (\S+)$", message.body, re.MULTILINE)
        code = re.search(r"^Verification code: (\S+)$", message.body, re.MULTILINE)
        link = re.search(r"^Portal: (https?://\S+)$", message.body, re.MULTILINE)
        assert reference and code and link, message.body
        assert reference.group(1) in message.subject
        assert reference_check(reference=reference.group(1), code=code.group(1), recipient=message.to[0],
                               now=timezone.now()) is not None
        if reference.group(1) == flow.case.reference:
            about_the_case.setdefault(message.to[0], []).append(link.group(1))

    # Everyone concerned heard of the case, each through a link to their own side of the portal.
    assert len(about_the_case[flow.officer.user.email]) >= 4  # received, question, decision, release
    assert set(about_the_case[flow.officer.user.email]) == {officer_link}
    assert set(about_the_case[colleague.user.email]) == {officer_link}
    staff_link = f"{django_settings.LEORS_SITE_URL}{reverse('admin:cases_case_change', args=[flow.case.pk])}"
    assert len(about_the_case[flow.reviewer.email]) == 2  # assigned, the officer's answer
    assert set(about_the_case[flow.reviewer.email]) == {staff_link}
    assert set(about_the_case[flow.lead.email]) == {staff_link}  # a new request in the queue
