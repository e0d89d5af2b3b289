"""The officer portal for cases: the request form per type, refusals that keep what was entered,
idempotent submission, the case page, sharing, supervisors, downloads and their window.

Permission tests use three officers: the owner, a colleague of the same agency and an outsider of
another agency (STYLE.md rule 10).
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cases.models import Case, CaseDocument, CaseMessage, Production
from cases.services import correspondence, productions, review
from leors import policy
from leors.access import services as access_services
from leors.access.models import Officer
from leors.core.audit import Actor
from leors.core.models import AuditEvent
from tests.conftest import signed_in_client
from tests.documents import (
    ENGLISH_REQUEST,
    ENGLISH_WARRANT,
    FRENCH_WARRANT,
    FRENCH_WARRANT_TRANSLATION,
    GERMAN_ORDER,
    pdf_with_text,
)
from tests.factories import accept_case, approved_officer, four_eyes_release, make_lead, make_user, submit_case

pytestmark = pytest.mark.django_db

WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"
PASSWORD_INPUT = re.compile(r"<input[^>]*type=[\"']?password", re.IGNORECASE)
TYPE_SPECIFIC = {
    "user_information": {"data_requested", "period_from", "period_to", "has_non_disclosure_instruction",
                         "non_disclosure_until"},
    "preservation": set(),
    "preservation_extension": {"extends_case_reference"},
    "freeze": {"freeze_duration_days", "extends_case_reference"},
    "asset_recovery": {"assets_description", "extends_case_reference"},
}
ALL_TYPE_SPECIFIC = set().union(*TYPE_SPECIFIC.values())


# --- helpers ------------------------------------------------------------------------------------

def outsider_officer() -> Officer:
    n = uuid.uuid4().hex[:8]
    return approved_officer(body_name="Police judiciaire de Paris", country="FR", jurisdiction="Paris",
                            official_email=f"enqueteur.{n}@interieur.gouv.fr",
                            supervisor_email="chef.brigade@interieur.gouv.fr")


def pdf(name: str, text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, pdf_with_text(text), content_type="application/pdf")


def form_data(request_type: str = "user_information", *, key: str | None = None, **overrides: Any) -> dict[str, Any]:
    """What the browser posts for a complete request with an English warrant in row 0."""
    data: dict[str, Any] = {
        "submission_key": key or uuid.uuid4().hex,
        "request_type": request_type,
        "title": "Account behind a romance-scam wallet",
        "case_reference": "OP-KESTREL-42",
        "request_text": ENGLISH_REQUEST,
        "subjects-TOTAL_FORMS": "3", "subjects-INITIAL_FORMS": "0",
        "subjects-MIN_NUM_FORMS": "0", "subjects-MAX_NUM_FORMS": "50",
        "subjects-0-kind": "wallet", "subjects-0-value": WALLET, "subjects-0-chain": "",
        "documents-TOTAL_FORMS": "3", "documents-INITIAL_FORMS": "0",
        "documents-MIN_NUM_FORMS": "0", "documents-MAX_NUM_FORMS": "10",
        "documents-0-file": pdf("warrant.pdf", ENGLISH_WARRANT),
        "documents-0-document_type": "warrant",
        "documents-0-issuing_authority": "Crown Court at Southwark",
        "documents-0-issued_on": "2026-05-20",
        "documents-0-document_reference": "T20267781",
    }
    if request_type == "user_information":
        data["data_requested"] = "KYC data, login IP addresses, deposits and withdrawals"
        data["has_non_disclosure_instruction"] = "no"
    data.update(overrides)
    return data


def post_new(client: Client, data: dict[str, Any]) -> Any:
    return client.post(reverse("cases:new"), data)


def upload_production(case: Case, lead: Any, *, release: bool) -> Production:
    staff = Actor(user=lead)
    production = productions.production_upload(
        case=case, upload=SimpleUploadedFile("kyc.csv", b"uid,name\n1,A. Holder\n"), description="KYC record",
        actor=staff, now=timezone.now())
    if release:
        production = four_eyes_release(production=production, actor=staff, now=timezone.now())
    return production


def case_urls(case: Case, production: Production) -> list[tuple[str, str, dict[str, Any]]]:
    reference = case.reference
    return [
        ("get", reverse("cases:detail", args=[reference]), {}),
        ("post", reverse("cases:message", args=[reference]), {"body": "Any news on this request?"}),
        ("post", reverse("cases:withdraw", args=[reference]), {}),
        ("post", reverse("cases:share", args=[reference]), {"colleague_email": "someone@met.police.example.uk"}),
        ("get", reverse("cases:document", args=[case.documents.first().pk]), {}),  # type: ignore[union-attr]
        ("get", reverse("cases:production", args=[production.pk]), {}),
    ]


# --- the form -------------------------------------------------------------------------------------

@pytest.mark.parametrize("request_type", sorted(TYPE_SPECIFIC))
def test_new_request_form_asks_only_for_the_fields_of_its_type(request_type: str) -> None:
    client = signed_in_client(approved_officer().user)
    response = client.get(reverse("cases:new"), {"type": request_type})
    assert response.status_code == 200
    html = response.content.decode()
    names = set(re.findall(r'name="([a-z_]+)"', html))
    assert {"title", "request_text", "case_reference", "submission_key"} <= names
    assert names & ALL_TYPE_SPECIFIC == TYPE_SPECIFIC[request_type]
    assert 'name="subjects-2-value"' in html and 'name="documents-2-file"' in html  # blank rows without JavaScript
    assert re.search(rf'<input type="radio" name="type" value="{request_type}"[^>]* checked', html)


def test_new_request_starts_by_choosing_the_kind_of_request() -> None:
    client = signed_in_client(approved_officer().user)
    html = client.get(reverse("cases:new")).content.decode()
    assert 'name="type"' in html
    assert 'name="title"' not in html


def test_r4_a_french_warrant_with_its_certified_translation_makes_one_case() -> None:
    officer = approved_officer()
    client = signed_in_client(officer.user)
    data = form_data(**{
        "documents-0-file": pdf("requisition-paris.pdf", FRENCH_WARRANT),
        "documents-0-issuing_authority": "Tribunal judiciaire de Paris",
        # Row 1 left blank: the translation in row 2 names its original by row number.
        "documents-2-file": pdf("requisition-paris-en.pdf", FRENCH_WARRANT_TRANSLATION),
        "documents-2-document_type": "warrant",
        "documents-2-translation_of": "0",
        "documents-2-translator_certification": "I, Marie Dupont, sworn translator at the Paris Court of Appeal, "
                                               "certify this translation is accurate and complete.",
    })
    response = post_new(client, data)
    case = Case.objects.get(submitted_by=officer.user)
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:detail", args=[case.reference])
    original = case.documents.get(original_name="requisition-paris.pdf")
    translation = case.documents.get(original_name="requisition-paris-en.pdf")
    assert original.language == "fr" and original.role == CaseDocument.Role.LEGAL_PROCESS
    assert translation.translation_of == original and translation.role == CaseDocument.Role.TRANSLATION
    assert case.subjects.get().normalized == WALLET.lower()
    assert case.has_non_disclosure_instruction is False
    assert case.case_reference == "OP-KESTREL-42"


def test_r10_the_same_form_posted_twice_makes_one_case() -> None:
    officer = approved_officer()
    client = signed_in_client(officer.user)
    key = uuid.uuid4().hex
    first = post_new(client, form_data(key=key))
    second = post_new(client, form_data(key=key))
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Case.objects.filter(submitted_by=officer.user).count() == 1


def test_r4_a_german_document_without_translation_is_refused_keeping_everything_else() -> None:
    officer = approved_officer()
    client = signed_in_client(officer.user)
    key = uuid.uuid4().hex
    response = post_new(client, form_data(key=key, **{
        "documents-0-file": pdf("beschluss-tiergarten.pdf", GERMAN_ORDER),
        "documents-0-document_type": "court_order",
        "documents-0-issuing_authority": "Amtsgericht Berlin-Tiergarten",
        "subjects-1-kind": "email", "subjects-1-value": "holder@example.com",
    }))
    assert response.status_code == 400
    assert not Case.objects.filter(submitted_by=officer.user).exists()
    html = response.content.decode()
    # The error names the file, next to its row, and says what is missing.
    row_errors = " ".join(response.context["documents"].forms[0].non_field_errors())
    assert "“beschluss-tiergarten.pdf” is in German" in row_errors
    assert "certified English" in row_errors
    assert "beschluss-tiergarten.pdf” is in German" in html
    # Everything else the officer entered is kept; files cannot be, and the page says so.
    for kept in (f'value="{key}"', 'value="Account behind a romance-scam wallet"', ENGLISH_REQUEST, 'value="OP-KESTREL-42"',
                 f'value="{WALLET}"', 'value="holder@example.com"', "KYC data, login IP addresses",
                 'value="Amtsgericht Berlin-Tiergarten"', '<option value="court_order" selected>',
                 'value="2026-05-20"', 'value="no" id="id_has_non_disclosure_instruction_0" checked'):
        assert kept in html, kept
    assert "choose the files again" in html
    assert "You had chosen “beschluss-tiergarten.pdf” here" in html


def test_r8_a_freeze_without_its_duration_is_refused() -> None:
    officer = approved_officer()
    client = signed_in_client(officer.user)
    response = post_new(client, form_data("freeze", **{"documents-0-document_type": "freeze_order"}))
    assert response.status_code == 400
    assert "State the duration of the freeze" in " ".join(response.context["form"].errors["freeze_duration_days"])
    assert not Case.objects.filter(submitted_by=officer.user).exists()
    ok = post_new(client, form_data("freeze", freeze_duration_days="14", **{"documents-0-document_type": "freeze_order"}))
    assert ok.status_code == 302
    assert Case.objects.get(submitted_by=officer.user).freeze_duration_days == 14


def test_r6_a_user_information_request_must_say_whether_the_user_may_be_notified() -> None:
    officer = approved_officer()
    client = signed_in_client(officer.user)
    response = post_new(client, form_data(has_non_disclosure_instruction=""))
    assert response.status_code == 400
    assert "not to notify the user" in " ".join(response.context["form"].errors["has_non_disclosure_instruction"])
    response = post_new(client, form_data(has_non_disclosure_instruction="yes"))
    assert response.status_code == 400
    assert "until which the user must not be notified" in " ".join(response.context["form"].errors["non_disclosure_until"])
    until = (timezone.now() + timedelta(days=90)).date()
    assert post_new(client, form_data(has_non_disclosure_instruction="yes", non_disclosure_until=until.isoformat())).status_code == 302
    case = Case.objects.get(submitted_by=officer.user)
    assert case.has_non_disclosure_instruction is True and case.non_disclosure_until == until


def test_an_invalid_wallet_is_refused_naming_its_row() -> None:
    officer = approved_officer()
    client = signed_in_client(officer.user)
    # Row 2 is blank, so the service's "Subject 2" is the officer's row 3.
    response = post_new(client, form_data(**{
        "subjects-0-kind": "uid", "subjects-0-value": "UID-884213",
        "subjects-1-kind": "", "subjects-1-value": "",
        "subjects-2-kind": "wallet", "subjects-2-value": "0x1234NOTAWALLET",
    }))
    assert response.status_code == 400
    subjects = response.context["subjects"]
    assert not subjects.forms[0].errors
    row_error = " ".join(subjects.forms[2].errors["value"])
    assert row_error.startswith("Subject 3: “0x1234NOTAWALLET” is not a valid")
    assert "Subject 3: “0x1234NOTAWALLET”" in response.content.decode()
    assert not Case.objects.filter(submitted_by=officer.user).exists()


def test_a_mistyped_mixed_case_evm_wallet_is_refused_by_its_eip55_checksum_and_kept_in_the_form() -> None:
    officer = approved_officer()
    client = signed_in_client(officer.user)
    mistyped = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAee"  # the EIP's example with its last digit changed
    response = post_new(client, form_data(**{"subjects-0-kind": "wallet", "subjects-0-value": mistyped}))
    assert response.status_code == 400
    error = " ".join(response.context["subjects"].forms[0].errors["value"])
    assert error.startswith(f"Subject 1: “{mistyped}” is an EVM address in mixed case") and "EIP-55" in error
    page = response.content.decode()
    assert f'value="{mistyped}"' in page  # what the officer entered is still there, to correct
    assert not Case.objects.filter(submitted_by=officer.user).exists()
    # Copied right, it goes through.
    fixed = post_new(client, form_data(**{"subjects-0-kind": "wallet",
                                          "subjects-0-value": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}))
    assert fixed.status_code == 302


def test_r11_the_confirmation_and_every_case_page_say_acceptance_waives_no_objection() -> None:
    officer = approved_officer()
    client = signed_in_client(officer.user)
    response = client.post(reverse("cases:new"), form_data(), follow=True)
    assert response.status_code == 200
    confirmation = re.search(r'<li[^>]*id="submission-confirmation"[^>]*>(.*?)</li>', response.content.decode(), re.S)
    assert confirmation is not None
    case = Case.objects.get(submitted_by=officer.user)
    assert case.reference in confirmation.group(1)
    assert policy.NO_WAIVER_NOTICE in confirmation.group(1)
    # Every case page says it too, not only the confirmation.
    page = client.get(reverse("cases:detail", args=[case.reference])).content.decode()
    assert "submission-confirmation" not in page
    assert re.search(r'id="no-waiver">\s*' + re.escape(policy.NO_WAIVER_NOTICE), page)


# --- who sees what --------------------------------------------------------------------------------

def test_an_outsider_and_an_unshared_colleague_get_404_on_every_case_url() -> None:
    owner, colleague, outsider = approved_officer(), approved_officer(), outsider_officer()
    assert colleague.agency_id == owner.agency_id != outsider.agency_id
    lead = make_lead()
    case = accept_case(submit_case(owner), lead)
    production = upload_production(case, lead, release=True)
    urls = case_urls(case, production)
    owner_client = signed_in_client(owner.user)
    assert owner_client.get(urls[0][1]).status_code == 200
    assert owner_client.get(urls[4][1]).status_code == 200
    assert owner_client.get(urls[5][1]).status_code == 200
    for intruder in (colleague, outsider):
        client = signed_in_client(intruder.user)
        for method, url, data in urls:
            assert getattr(client, method)(url, data).status_code == 404, (intruder.user.email, url)
    case.refresh_from_db()
    assert case.status == Case.Status.ACCEPTED
    assert not CaseMessage.objects.filter(case=case, author__in=[colleague.user, outsider.user]).exists()
    assert not AuditEvent.objects.filter(action__in=["case.shared", "document.downloaded", "production.downloaded"],
                                         actor__in=[colleague.user, outsider.user]).exists()


def test_a_case_shared_with_a_colleague_is_theirs_to_see_and_answer() -> None:
    owner, colleague, outsider = approved_officer(), approved_officer(), outsider_officer()
    case = submit_case(owner)
    client = signed_in_client(owner.user)
    refused = client.post(reverse("cases:share", args=[case.reference]), {"colleague_email": outsider.user.email})
    assert refused.status_code == 400
    assert "No officer of your agency" in " ".join(refused.context["share_form"].errors["colleague_email"])
    assert signed_in_client(outsider.user).get(reverse("cases:detail", args=[case.reference])).status_code == 404

    response = client.post(reverse("cases:share", args=[case.reference]), {"colleague_email": colleague.user.email})
    assert response.status_code == 302
    colleague_client = signed_in_client(colleague.user)
    assert colleague_client.get(reverse("cases:detail", args=[case.reference])).status_code == 200
    assert case.reference in colleague_client.get(reverse("cases:list")).content.decode()
    answer = colleague_client.post(reverse("cases:message", args=[case.reference]), {"body": "I am the second officer."})
    assert answer.status_code == 302
    assert CaseMessage.objects.filter(case=case, author=colleague.user).exists()


def test_an_agency_supervisor_sees_every_case_of_the_agency_in_the_list() -> None:
    supervisor, officer, outsider = approved_officer(), approved_officer(), outsider_officer()
    lead = make_lead()
    access_services.officer_supervisor_set(officer=supervisor, is_supervisor=True, actor=Actor(user=lead),
                                           now=timezone.now())
    agency_case = submit_case(officer, title="Agency case of a colleague")
    foreign_case = submit_case(outsider, title="Case of another agency")
    client = signed_in_client(supervisor.user)
    html = client.get(reverse("cases:list")).content.decode()
    assert agency_case.reference in html
    assert foreign_case.reference not in html
    page = client.get(reverse("cases:detail", args=[agency_case.reference]))
    assert page.status_code == 200
    # Seeing is not answering: the supervisor was not given the case to respond to, share or withdraw.
    assert 'id="reply"' not in page.content.decode()
    for name, data in (("cases:message", {"body": "Supervisor note."}), ("cases:withdraw", {}),
                       ("cases:share", {"colleague_email": supervisor.user.email})):
        assert client.post(reverse(name, args=[agency_case.reference]), data).status_code == 404, name
    # Without the supervisor role, the same officer's list does not show it.
    assert agency_case.reference not in signed_in_client(approved_officer().user).get(reverse("cases:list")).content.decode()


def test_the_list_filters_and_searches_by_subject_and_type() -> None:
    officer = approved_officer()
    wallet_case = submit_case(officer, title="Wallet case")
    from cases.services.intake import IdentifierInput

    email_case = submit_case(officer, title="E-mail case", request_type="preservation", data_requested="",
                             identifiers=[IdentifierInput(kind="email", value="Holder@Example.com")])
    client = signed_in_client(officer.user)
    by_subject = client.get(reverse("cases:list"), {"q": "holder@example.com"}).content.decode()
    assert email_case.reference in by_subject and wallet_case.reference not in by_subject
    by_type = client.get(reverse("cases:list"), {"type": "user_information"}).content.decode()
    assert wallet_case.reference in by_type and email_case.reference not in by_type
    by_status = client.get(reverse("cases:list"), {"status": "withdrawn"}).content.decode()
    assert wallet_case.reference not in by_status
    # htmx swaps only the results, not the page.
    partial = client.get(reverse("cases:list"), {"q": "Wallet"}, HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content and b'id="case-results"' in partial.content
    assert wallet_case.reference.encode() in partial.content and email_case.reference.encode() not in partial.content


def test_the_list_counts_and_pages_a_list_longer_than_a_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cases.views.CASES_PER_PAGE", 2)
    officer = approved_officer()
    newest_first = [submit_case(officer, title=f"Case {n}").reference for n in range(3)][::-1]
    client = signed_in_client(officer.user)

    def shown(params: dict[str, str]) -> tuple[list[str], str]:
        html = client.get(reverse("cases:list"), params).content.decode()
        return [ref for ref in newest_first if ref in html], html

    first, html = shown({})
    assert first == newest_first[:2] and "3 requests" in html and "Page 1 of 2" in html
    second, html = shown({"page": "2"})
    assert second == newest_first[2:] and "3 requests" in html and "Page 2 of 2" in html
    # A short list (one page) is counted from its rows; a page past the end shows the last one.
    only, html = shown({"q": "Case 1"})
    assert only == [newest_first[1]] and "1 request found" in html and "Page 1 of" not in html
    assert shown({"page": "9"})[0] == newest_first[2:]
    assert shown({"page": "not-a-page"})[0] == newest_first[:2]


def test_staff_are_sent_to_their_workspace() -> None:
    response = signed_in_client(make_lead()).get(reverse("cases:list"))
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")


def test_r10_internal_notes_never_appear_on_the_officer_page() -> None:
    officer, lead = approved_officer(), make_lead()
    case = submit_case(officer)
    staff = Actor(user=lead)
    correspondence.case_message_post(case=case, body="INTERNAL: check the seal with the court registry.",
                                     attachments=[], is_internal=True, actor=staff, now=timezone.now())
    correspondence.case_message_post(case=case, body="We have received your request and are reviewing it.",
                                     attachments=[], is_internal=False, actor=staff, now=timezone.now())
    html = signed_in_client(officer.user).get(reverse("cases:detail", args=[case.reference])).content.decode()
    assert "We have received your request and are reviewing it." in html
    assert "INTERNAL: check the seal" not in html


def test_r10_the_officer_answers_a_question_and_the_case_returns_to_review() -> None:
    officer, lead = approved_officer(), make_lead()
    case = submit_case(officer)
    staff = Actor(user=lead)
    review.case_assign(case=case, reviewer=lead, actor=staff, now=timezone.now())
    review.case_request_information(case=case, question="Please send the signed page of the warrant.",
                                    actor=staff, now=timezone.now())
    client = signed_in_client(officer.user)
    page = client.get(reverse("cases:detail", args=[case.reference])).content.decode()
    assert "Answer the legal team's question" in page and "Please send the signed page" in page
    # A refused answer (a German attachment) keeps the text the officer wrote.
    refused = client.post(reverse("cases:message", args=[case.reference]), {
        "body": "Attached is the signed page you asked for.", "attachments": [pdf("seite.pdf", GERMAN_ORDER)]})
    assert refused.status_code == 400
    assert "Attached is the signed page you asked for." in refused.content.decode()
    assert "“seite.pdf” is in German" in refused.content.decode()
    case.refresh_from_db()
    assert case.status == Case.Status.INFORMATION_REQUESTED
    answered = client.post(reverse("cases:message", args=[case.reference]), {
        "body": "Attached is the signed page you asked for.", "attachments": [pdf("signed.pdf", ENGLISH_WARRANT)]})
    assert answered.status_code == 302
    case.refresh_from_db()
    assert case.status == Case.Status.IN_REVIEW
    assert case.documents.filter(role=CaseDocument.Role.ATTACHMENT, original_name="signed.pdf").exists()


def test_the_officer_withdraws_while_the_case_is_open_only() -> None:
    officer = approved_officer()
    case = submit_case(officer)
    client = signed_in_client(officer.user)
    assert 'action="{}"'.format(reverse("cases:withdraw", args=[case.reference])) in client.get(
        reverse("cases:detail", args=[case.reference])).content.decode()
    assert client.post(reverse("cases:withdraw", args=[case.reference])).status_code == 302
    case.refresh_from_db()
    assert case.status == Case.Status.WITHDRAWN
    again = client.post(reverse("cases:withdraw", args=[case.reference]))
    assert again.status_code == 400
    assert "can no longer be withdrawn" in again.content.decode()


# --- files ----------------------------------------------------------------------------------------

def test_a_document_downloads_as_an_audited_attachment() -> None:
    officer = approved_officer()
    case = submit_case(officer)
    document = case.documents.get()
    response = signed_in_client(officer.user).get(reverse("cases:document", args=[document.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Cache-Control"] == "no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == pdf_with_text(ENGLISH_WARRANT)  # type: ignore[attr-defined]
    assert AuditEvent.objects.filter(action="document.downloaded", object_id=str(document.pk),
                                     actor=officer.user).count() == 1


def test_r10_a_released_production_downloads_audited_until_its_window_ends() -> None:
    officer, lead = approved_officer(), make_lead()
    case = accept_case(submit_case(officer), lead)
    production = upload_production(case, lead, release=True)
    url = reverse("cases:production", args=[production.pk])
    client = signed_in_client(officer.user)
    page = client.get(reverse("cases:detail", args=[case.reference])).content.decode()
    assert production.sha256 in page and url in page
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Cache-Control"] == "no-store"
    assert b"".join(response.streaming_content) == b"uid,name\n1,A. Holder\n"  # type: ignore[attr-defined]
    downloads = AuditEvent.objects.filter(action="production.downloaded", object_id=str(production.pk))
    assert downloads.filter(actor=officer.user).count() == 1
    assert production.available_until == production.released_at + timedelta(  # type: ignore[operator]
        days=policy.production_available_for().days)
    with time_machine.travel(production.available_until + timedelta(minutes=1), tick=False):  # type: ignore[operator]
        late = signed_in_client(officer.user).get(url)
    assert late.status_code == 410
    assert "expired" in late.content.decode()
    assert downloads.count() == 1


def test_an_unreleased_production_is_404_for_the_officer() -> None:
    officer, lead = approved_officer(), make_lead()
    case = accept_case(submit_case(officer), lead)
    production = upload_production(case, lead, release=False)
    client = signed_in_client(officer.user)
    assert client.get(reverse("cases:production", args=[production.pk])).status_code == 404
    assert production.original_name not in client.get(reverse("cases:detail", args=[case.reference])).content.decode()
    assert signed_in_client(lead).get(reverse("cases:production", args=[production.pk])).status_code == 200


# --- who may make a request -------------------------------------------------------------------------

def test_r1_the_officer_is_read_once_per_request_and_an_expiry_counts_from_the_next_request(
        django_assert_num_queries: Any) -> None:
    officer = approved_officer()
    client = signed_in_client(officer.user)
    client.get(reverse("cases:list"))  # the session's first use writes it
    # Session, the user with their officer record (read with the user, once, for the guard and the page),
    # second factor, the list.
    with django_assert_num_queries(4):
        page = client.get(reverse("cases:list"))
    assert page.status_code == 200 and "Make a new request" in page.content.decode()
    Officer.objects.filter(pk=officer.pk).update(access_expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(reverse("cases:list"))
    assert response.status_code == 403 and "Your access expired" in response.content.decode()


def test_r1_an_officer_whose_access_expired_cannot_open_the_new_request_form() -> None:
    long_ago = timezone.now() - policy.access_validity() - timedelta(days=1)
    officer = approved_officer(now=long_ago)
    client = signed_in_client(officer.user)
    response = client.get(reverse("cases:new"), {"type": "user_information"})
    assert response.status_code == 403
    assert "Your access expired" in response.content.decode()
    assert 'name="title"' not in response.content.decode()
    assert post_new(client, form_data()).status_code == 403
    assert not Case.objects.filter(submitted_by=officer.user).exists()
    assert signed_in_client(approved_officer().user).get(reverse("cases:new")).status_code == 200


def test_r1_someone_who_is_not_an_officer_gets_404_for_the_new_request_form() -> None:
    for user in (make_user(), make_lead()):
        assert signed_in_client(user).get(reverse("cases:new"), {"type": "freeze"}).status_code == 404


def test_r12_no_case_page_asks_for_a_password_or_a_code() -> None:
    officer = approved_officer()
    case = submit_case(officer)
    client = signed_in_client(officer.user)
    for url in (reverse("cases:list"), reverse("cases:new"), reverse("cases:new") + "?type=user_information",
                reverse("cases:detail", args=[case.reference])):
        html = client.get(url).content.decode()
        assert not PASSWORD_INPUT.search(html), url
        assert not re.search(r'name="[^"]*(password|otp|code)[^"]*"', html, re.IGNORECASE), url


def test_htmx_adds_a_blank_subject_row_and_counts_it() -> None:
    client = signed_in_client(approved_officer().user)
    response = client.get(reverse("cases:new_subject_row"), {"subjects-TOTAL_FORMS": "3"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert 'name="subjects-3-value"' in html and "Subject 4" in html
    assert re.search(r'name="subjects-TOTAL_FORMS" value="4"[^>]*hx-swap-oob="true"', html)


def test_htmx_adds_a_blank_document_row_up_to_the_limit_and_says_so_at_it() -> None:
    client = signed_in_client(approved_officer().user)
    limit = policy.upload_max_files()
    last = client.get(reverse("cases:new_document_row"), {"documents-TOTAL_FORMS": str(limit - 1)},
                      HTTP_HX_REQUEST="true").content.decode()
    assert f'name="documents-{limit - 1}-file"' in last and f"Document {limit}" in last
    assert re.search(rf'name="documents-TOTAL_FORMS" value="{limit}"[^>]*hx-swap-oob="true"', last)
    assert '<p id="add-document-row" class="help" hx-swap-oob="true">That is the most documents' in last
    assert client.get(reverse("cases:new_document_row"), {"documents-TOTAL_FORMS": str(limit)},
                      HTTP_HX_REQUEST="true").status_code == 204


def test_the_new_request_form_offers_one_more_subject_and_one_more_document_through_htmx() -> None:
    html = signed_in_client(approved_officer().user).get(reverse("cases:new"), {"type": "freeze"}).content.decode()
    for kind, formset in (("subject", "subjects"), ("document", "documents")):
        assert f'<fieldset id="{formset}">' in html and f'<div id="{kind}-rows">' in html
        assert f'hx-get="{reverse(f"cases:new_{kind}_row")}" hx-include="#id_{formset}-TOTAL_FORMS"' in html
        assert f'hx-target="#{kind}-rows"' in html and f'name="{formset}-0-' in html
    assert 'id="files-not-kept"' in html and "Give at least one; leave unused rows empty." in html


def test_dates_outside_sane_bounds_are_refused_on_their_fields_keeping_what_was_typed() -> None:
    """Year 1 or 9999 is a typing error, and year 9999 overflows the first date arithmetic done with it."""
    officer = approved_officer()
    client = signed_in_client(officer.user)
    the_day_after_tomorrow = (timezone.now() + timedelta(days=2)).date().isoformat()
    typed = {"period_from": "0001-01-01", "period_to": "9999-12-31", "has_non_disclosure_instruction": "yes",
             "non_disclosure_until": "9999-12-31", "documents-0-issued_on": the_day_after_tomorrow}

    response = post_new(client, form_data(**typed))

    assert response.status_code == 400
    assert not Case.objects.filter(submitted_by=officer.user).exists()
    errors = response.context["form"].errors
    assert "The start of the period cannot be before 1 January 1900" in errors["period_from"][0]
    assert "The end of the period cannot be after 31 December" in errors["period_to"][0]
    assert "The end of the non-disclosure instruction cannot be after" in errors["non_disclosure_until"][0]
    assert "The date of issue cannot be after" in response.context["documents"].forms[0].errors["issued_on"][0]
    html = response.content.decode()
    for value in ('value="0001-01-01"', 'value="9999-12-31"', f'value="{the_day_after_tomorrow}"',
                  'value="Account behind a romance-scam wallet"'):
        assert value in html, value

    response = post_new(client, form_data(**{"documents-0-issued_on": "1899-12-31"}))
    assert "The date of issue cannot be before 1 January 1900" in (
        response.context["documents"].forms[0].errors["issued_on"][0])
    # A century-old document and a long instruction are dates a legal process can carry.
    until = (timezone.now() + timedelta(days=365 * 50)).date()
    assert post_new(client, form_data(**{"documents-0-issued_on": "1900-01-01", "period_from": "2009-01-03",
                                         "has_non_disclosure_instruction": "yes",
                                         "non_disclosure_until": until.isoformat()})).status_code == 302
    case = Case.objects.get(submitted_by=officer.user)
    assert (case.period_from.isoformat(), case.non_disclosure_until) == ("2009-01-03", until)  # type: ignore[union-attr]
    assert client.get(reverse("cases:detail", args=[case.reference])).status_code == 200
