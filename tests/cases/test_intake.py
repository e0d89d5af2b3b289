"""Intake of legal requests: R1 (who may send), R4 (English only), R5 (legal process), R6 (the
non-disclosure instruction), R8 (a freeze states its duration), idempotent submission, subject
identifiers and related cases, and who sees a case once it is in.

Data is built through the services (tests.factories); every refusal is checked for the field or
the document it names, and for having written nothing.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import Http404
from django.utils import timezone

from cases import selectors
from cases.language import detect_text
from cases.models import Case, CaseDocument, RequestType, SubjectIdentifier
from cases.services import correspondence
from cases.services.intake import IdentifierInput, case_submit
from leors.access import services as access_services
from leors.access.models import Officer, User
from leors.core import outbox
from leors.core.audit import Actor
from leors.core.errors import ActionRefused
from leors.core.models import AuditEvent
from tests.documents import (
    ENGLISH_WARRANT,
    FRENCH_REQUEST,
    FRENCH_WARRANT,
    FRENCH_WARRANT_TRANSLATION,
    GERMAN_ORDER,
    docx_laid_out,
    docx_with_text,
    pdf_with_text,
    scanned_pdf,
)
from tests.factories import (
    approved_officer,
    case_input,
    document_input,
    make_lead,
    submit_case,
)

CERTIFICATION = "I, Marie Dupont, sworn translator at the Paris Court of Appeal, certify this translation accurate."
EVM_WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"


def other_agency_officer(**overrides: Any) -> Officer:
    """An officer of another body (the factories' default body is the Metropolitan Police Service)."""
    n = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "body_name": "Bundeskriminalamt", "country": "DE", "jurisdiction": "Federal Republic of Germany",
        "official_email": f"ermittler.{n}@bka.example.de", "supervisor_email": "leitung@bka.example.de",
    }
    values.update(overrides)
    return approved_officer(**values)


def refusal(officer: Officer, **overrides: Any) -> dict[str, list[str]]:
    """Submit and expect a refusal; return the errors by field. Nothing may have been written."""
    cases_before = Case.objects.count()
    with pytest.raises(ValidationError) as refused:
        submit_case(officer, **overrides)
    assert Case.objects.count() == cases_before
    return refused.value.message_dict


def fresh(user: User) -> User:
    # Guardian and Django cache permissions on the user object: re-fetch after a grant.
    return User.objects.get(pk=user.pk)


# --- R4: English only ------------------------------------------------------------------------------

@pytest.mark.django_db
def test_r4_a_french_warrant_with_its_certified_translation_is_accepted_and_linked() -> None:
    officer = approved_officer()
    case = submit_case(officer, documents=[
        document_input(pdf_with_text(FRENCH_WARRANT), name="requisition-paris.pdf",
                       issuing_authority="Tribunal judiciaire de Paris"),
        document_input(pdf_with_text(FRENCH_WARRANT_TRANSLATION), name="requisition-paris-EN.pdf",
                       translation_of=0, translator_certification=CERTIFICATION),
    ])

    original = case.documents.get(original_name="requisition-paris.pdf")
    translation = case.documents.get(original_name="requisition-paris-EN.pdf")
    assert (original.role, original.language_status, original.language) == (
        CaseDocument.Role.LEGAL_PROCESS, CaseDocument.LanguageStatus.NOT_ENGLISH, "fr")
    assert original.language_confidence is not None and original.language_confidence > 0.5
    assert original.issuing_authority == "Tribunal judiciaire de Paris"
    assert (translation.role, translation.language_status, translation.language) == (
        CaseDocument.Role.TRANSLATION, CaseDocument.LanguageStatus.ENGLISH, "en")
    assert translation.language_confidence is not None and translation.language_confidence > 0.5
    assert translation.translation_of == original
    assert translation.translator_certification == CERTIFICATION
    assert list(original.translations.all()) == [translation]
    assert not original.needs_manual_language_check and not translation.needs_manual_language_check
    # Stored as received: type from content, size and SHA-256 recorded.
    assert original.content_type == "application/pdf"
    assert len(original.sha256) == 64 and original.size > 0
    assert (case.text_language, case.status) == ("en", Case.Status.SUBMITTED)
    submitted = AuditEvent.objects.get(action="case.submitted", object_id=str(case.pk))
    assert [d["language"] for d in submitted.changes["documents"]] == ["fr", "en"]


@pytest.mark.django_db
def test_r4_a_german_document_without_translation_is_refused_naming_it() -> None:
    officer = approved_officer()
    errors = refusal(officer, documents=[
        document_input(pdf_with_text(ENGLISH_WARRANT), name="warrant.pdf"),
        document_input(pdf_with_text(GERMAN_ORDER), name="beschluss-tiergarten.pdf", document_type="court_order"),
    ])
    assert list(errors) == ["documents"]
    [message] = errors["documents"]
    assert "“beschluss-tiergarten.pdf” is in German" in message
    assert "certified English translation" in message
    assert "warrant.pdf”" not in message


@pytest.mark.django_db
def test_r4_a_translation_without_the_translators_certification_is_refused() -> None:
    officer = approved_officer()
    errors = refusal(officer, documents=[
        document_input(pdf_with_text(FRENCH_WARRANT), name="requisition.pdf"),
        document_input(pdf_with_text(FRENCH_WARRANT_TRANSLATION), name="requisition-EN.pdf", translation_of=0,
                       translator_certification="   "),
    ])
    assert any("“requisition-EN.pdf”" in m and "translator's certification" in m for m in errors["documents"])


@pytest.mark.django_db
def test_r4_a_translation_that_is_not_english_is_refused() -> None:
    officer = approved_officer()
    errors = refusal(officer, documents=[
        document_input(pdf_with_text(FRENCH_WARRANT), name="requisition.pdf"),
        document_input(pdf_with_text(GERMAN_ORDER), name="uebersetzung.pdf", translation_of=0,
                       translator_certification=CERTIFICATION),
    ])
    [message] = errors["documents"]
    assert "“uebersetzung.pdf” is marked as the English translation but reads as German" in message


@pytest.mark.django_db
def test_r4_a_translation_must_point_at_an_attached_original() -> None:
    officer = approved_officer()
    errors = refusal(officer, documents=[
        document_input(pdf_with_text(ENGLISH_WARRANT), name="warrant.pdf"),
        document_input(pdf_with_text(FRENCH_WARRANT_TRANSLATION), name="orphan-EN.pdf", translation_of=5,
                       translator_certification=CERTIFICATION),
    ])
    assert any("“orphan-EN.pdf” is marked as a translation of a document that is not attached" in m
               for m in errors["documents"])


@pytest.mark.django_db
def test_r4_a_scan_is_accepted_and_marked_for_the_manual_language_check() -> None:
    officer = approved_officer()
    case = submit_case(officer, documents=[document_input(scanned_pdf(), name="scanned-order.pdf")])
    document = case.documents.get()
    assert document.language_status == CaseDocument.LanguageStatus.NO_TEXT
    assert (document.language, document.language_confidence) == ("", None)
    assert document.needs_manual_language_check is True


@pytest.mark.django_db
def test_r4_docx_and_plain_text_documents_are_read_for_their_language() -> None:
    officer = approved_officer()
    case = submit_case(officer, documents=[
        document_input(docx_with_text(ENGLISH_WARRANT), name="warrant.docx"),
        document_input(ENGLISH_WARRANT.encode(), name="warrant-transcript.txt", document_type="other"),
    ])
    docx, text = case.documents.order_by("id")
    assert (docx.content_type, docx.language, docx.language_status) == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "en", CaseDocument.LanguageStatus.ENGLISH)
    assert (text.content_type, text.language, text.language_status) == (
        "text/plain", "en", CaseDocument.LanguageStatus.ENGLISH)

    errors = refusal(officer, documents=[
        document_input(docx_with_text(GERMAN_ORDER), name="beschluss.docx", document_type="court_order"),
        document_input(FRENCH_WARRANT.encode(), name="requisition.txt"),
    ])
    assert any("“beschluss.docx” is in German" in m for m in errors["documents"])
    assert any("“requisition.txt” is in French" in m for m in errors["documents"])


@pytest.mark.django_db
def test_r4_a_german_order_laid_out_in_a_docx_table_is_not_taken_as_english() -> None:
    # A court's DOCX as many are made: a one-line English cover paragraph, the order itself in a table.
    officer = approved_officer()
    order = docx_laid_out("Court order attached; please see the details in the table below.", table=GERMAN_ORDER)
    errors = refusal(officer, documents=[
        document_input(pdf_with_text(ENGLISH_WARRANT), name="warrant.pdf"),
        document_input(order, name="beschluss-tiergarten.docx", document_type="court_order"),
    ])
    [message] = errors["documents"]
    assert "“beschluss-tiergarten.docx” is in German" in message
    assert "certified English translation" in message


@pytest.mark.django_db
def test_r4_a_request_text_not_in_english_is_refused_naming_the_language() -> None:
    officer = approved_officer()
    errors = refusal(officer, request_text=FRENCH_REQUEST)
    assert list(errors) == ["request_text"]
    assert "must be written in English" in errors["request_text"][0]
    assert "French" in errors["request_text"][0]
    # Too short to tell is refused too, asking for a real description.
    assert "in English in at least a few sentences" in refusal(officer, request_text="Urgent!")["request_text"][0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("warrant.pdf", b"<!DOCTYPE html><html><body><h1>Warrant</h1><script>alert(1)</script></body></html>",
         "is not a file type we accept"),
        ("order.pdf", b"<html><head><title>Court order</title></head><body>Signed by the court.</body></html>",
         "is not a file type we accept"),
        ("empty-warrant.pdf", b"", "is empty"),
        ("tool.pdf", b"MZ\x90\x00\x03" + b"\x00" * 300, "is not a file type we accept"),
    ],
)
def test_r4_files_whose_content_is_not_an_accepted_document_are_refused_naming_them(
        name: str, content: bytes, expected: str) -> None:
    officer = approved_officer()
    errors = refusal(officer, documents=[document_input(pdf_with_text(ENGLISH_WARRANT), name="signed-warrant.pdf"),
                                         document_input(content, name=name)])
    assert len(errors["documents"]) == 1, errors
    assert any(f"“{name}”" in m and expected in m for m in errors["documents"]), errors


@pytest.mark.django_db
def test_r4_an_oversize_file_is_refused_naming_it_and_the_limit(settings: Any) -> None:
    officer = approved_officer()
    warrant = pdf_with_text(ENGLISH_WARRANT)
    settings.LEORS_UPLOAD_MAX_BYTES = len(warrant) + 10
    errors = refusal(officer, documents=[document_input(warrant), document_input(warrant + b" " * 20, name="big.pdf")])
    [message] = errors["documents"]
    assert "“big.pdf” is" in message and "the limit is" in message
    # Exactly at the limit is fine.
    assert submit_case(officer, documents=[document_input(warrant + b" " * 10)]).documents.count() == 1


# --- R5 and R6 at intake ---------------------------------------------------------------------------

@pytest.mark.django_db
def test_r5_a_user_information_request_without_legal_process_is_refused() -> None:
    officer = approved_officer()
    errors = refusal(officer, documents=[])
    assert list(errors) == ["documents"]
    assert "Attach the legal process" in errors["documents"][0]
    # A translation alone is not legal process either.
    errors = refusal(officer, documents=[document_input(pdf_with_text(FRENCH_WARRANT_TRANSLATION), translation_of=0,
                                                        translator_certification=CERTIFICATION)])
    assert errors["documents"]


@pytest.mark.django_db
def test_r6_a_user_information_request_records_the_non_disclosure_instruction_or_its_absence() -> None:
    officer = approved_officer()
    today = timezone.now().date()
    errors = refusal(officer, has_non_disclosure_instruction=None)
    assert list(errors) == ["has_non_disclosure_instruction"]
    assert "(R6)" in errors["has_non_disclosure_instruction"][0]
    assert list(refusal(officer, has_non_disclosure_instruction=True, non_disclosure_until=None)) == [
        "non_disclosure_until"]
    past = refusal(officer, has_non_disclosure_instruction=True, non_disclosure_until=today - timedelta(days=2))
    assert "has passed everywhere" in past["non_disclosure_until"][0]

    with_instruction = submit_case(officer, has_non_disclosure_instruction=True,
                                   non_disclosure_until=today + timedelta(days=90))
    assert (with_instruction.has_non_disclosure_instruction, with_instruction.non_disclosure_until) == (
        True, today + timedelta(days=90))
    without = submit_case(officer, has_non_disclosure_instruction=False, non_disclosure_until=today + timedelta(days=9))
    assert (without.has_non_disclosure_instruction, without.non_disclosure_until) == (False, None)


@pytest.mark.django_db
def test_r6_an_officer_west_of_utc_can_give_today_as_the_last_day_of_non_disclosure_in_their_evening() -> None:
    """21:00 in New York on 2 June is 01:00 UTC on 3 June: the order's last day, 2 June, has not ended where it was
    issued, and it is taken; 1 June has ended everywhere (at 12:00 UTC on 2 June), and it is refused."""
    officer = approved_officer()
    with time_machine.travel(datetime(2026, 6, 3, 1, 0, tzinfo=UTC), tick=False):
        case = submit_case(officer, has_non_disclosure_instruction=True, non_disclosure_until=date(2026, 6, 2))
        assert case.is_non_disclosure_in_force(timezone.now())
        past = refusal(officer, has_non_disclosure_instruction=True, non_disclosure_until=date(2026, 6, 1))
    assert "has passed everywhere" in past["non_disclosure_until"][0]


# --- R8 at intake and what each type asks for -----------------------------------------------------

def freeze_order(**extra: Any) -> Any:
    return document_input(pdf_with_text(ENGLISH_WARRANT), name="freeze-order.pdf", document_type="freeze_order", **extra)


@pytest.mark.django_db
def test_r8_freeze_without_duration_is_refused() -> None:
    officer = approved_officer()
    for duration in (None, 0):
        errors = refusal(officer, request_type=RequestType.FREEZE, freeze_duration_days=duration,
                         data_requested="", has_non_disclosure_instruction=None, documents=[freeze_order()])
        assert list(errors) == ["freeze_duration_days"]
        assert "(R8)" in errors["freeze_duration_days"][0]
    case = submit_case(officer, request_type=RequestType.FREEZE, freeze_duration_days=30, data_requested="",
                       has_non_disclosure_instruction=None, documents=[freeze_order()])
    assert case.freeze_duration_days == 30


@pytest.mark.django_db
def test_each_request_type_asks_only_for_what_it_needs() -> None:
    officer = approved_officer()
    # Neither a freeze nor a preservation needs the user-information fields; what is sent anyway is not kept.
    freeze = submit_case(officer, request_type=RequestType.FREEZE, freeze_duration_days=14,
                         data_requested="Everything", has_non_disclosure_instruction=True,
                         non_disclosure_until=timezone.now().date() + timedelta(days=5), documents=[freeze_order()])
    assert (freeze.data_requested, freeze.has_non_disclosure_instruction, freeze.non_disclosure_until) == ("", None, None)
    preservation = submit_case(officer, request_type=RequestType.PRESERVATION, data_requested="",
                               has_non_disclosure_instruction=None, freeze_duration_days=99,
                               documents=[document_input(pdf_with_text(ENGLISH_WARRANT),
                                                         document_type="preservation_letter")])
    assert (preservation.freeze_duration_days, preservation.data_requested) == (None, "")
    # A user-information request says what it needs; an asset recovery describes the assets.
    assert list(refusal(officer, data_requested="  ")) == ["data_requested"]
    errors = refusal(officer, request_type=RequestType.ASSET_RECOVERY, data_requested="",
                     has_non_disclosure_instruction=None)
    assert list(errors) == ["assets_description"]
    recovery = submit_case(officer, request_type=RequestType.ASSET_RECOVERY, data_requested="",
                           has_non_disclosure_instruction=None, assets_description="2.5 BTC held on account U-1")
    assert recovery.assets_description == "2.5 BTC held on account U-1"
    with pytest.raises(ValidationError) as refused:
        submit_case(officer, request_type="wiretap")
    assert "request_type" in refused.value.message_dict


@pytest.mark.django_db
def test_a_preservation_extension_names_a_preservation_of_the_same_agency() -> None:
    officer = approved_officer()
    colleague = approved_officer()
    outsider = other_agency_officer()
    letter = {"documents": [document_input(pdf_with_text(ENGLISH_WARRANT), document_type="preservation_letter")],
              "data_requested": "", "has_non_disclosure_instruction": None}
    preservation = submit_case(officer, request_type=RequestType.PRESERVATION, **letter)
    user_information = submit_case(officer)

    # A colleague of the same agency cannot extend a preservation they were not given: the same words
    # as for a reference that does not exist. Once it is shared with them, they may, even writing the
    # reference in lower case.
    unshared = refusal(colleague, request_type=RequestType.PRESERVATION_EXTENSION,
                       extends_case_reference=preservation.reference, **letter)["extends_case_reference"]
    assert unshared == [m.replace("LEORS-2026-999999", preservation.reference) for m in refusal(
        colleague, request_type=RequestType.PRESERVATION_EXTENSION, extends_case_reference="LEORS-2026-999999",
        **letter)["extends_case_reference"]]
    correspondence.case_share(case=preservation, colleague_email=colleague.user.email, actor=Actor(user=officer.user),
               now=timezone.now())
    extension = submit_case(colleague, request_type=RequestType.PRESERVATION_EXTENSION,
                            extends_case_reference=f"  {preservation.reference.lower()} ", **letter)
    assert extension.extends_case == preservation

    # Another agency's preservation is refused with the same words as a reference that does not exist.
    missing = "LEORS-2026-999999"
    other_agency = refusal(outsider, request_type=RequestType.PRESERVATION_EXTENSION,
                           extends_case_reference=preservation.reference, **letter)["extends_case_reference"]
    no_such = refusal(outsider, request_type=RequestType.PRESERVATION_EXTENSION,
                      extends_case_reference=missing, **letter)["extends_case_reference"]
    assert [m.replace(preservation.reference, "REF") for m in other_agency] == [
        m.replace(missing, "REF") for m in no_such]
    # A case that is not a preservation cannot be extended, nor can nothing.
    assert refusal(officer, request_type=RequestType.PRESERVATION_EXTENSION,
                   extends_case_reference=user_information.reference, **letter)["extends_case_reference"]
    assert refusal(officer, request_type=RequestType.PRESERVATION_EXTENSION, extends_case_reference="",
                   **letter)["extends_case_reference"]


# --- R1: who may submit ----------------------------------------------------------------------------

@pytest.mark.django_db
def test_r1_an_officer_whose_access_expired_cannot_submit() -> None:
    officer = approved_officer()
    with time_machine.travel(officer.access_expires_at - timedelta(seconds=1), tick=False):
        assert submit_case(officer).pk
    with time_machine.travel(officer.access_expires_at + timedelta(seconds=1), tick=False), \
            pytest.raises(ActionRefused, match="current access"):
        submit_case(officer)
    assert Case.objects.count() == 1


@pytest.mark.django_db
def test_r1_a_suspended_officer_cannot_submit() -> None:
    officer = approved_officer()
    lead = make_lead()
    access_services.officer_suspend(officer=officer, note="Domain spoofing reported by the force's IT team.",
                                    referred_to="Action Fraud", actor=Actor(user=lead), now=timezone.now())
    officer = Officer.objects.select_related("user", "agency").get(pk=officer.pk)
    with pytest.raises(ActionRefused, match="current access"):
        submit_case(officer)
    assert not Case.objects.exists()


@pytest.mark.django_db
def test_r1_staff_and_applicants_without_an_officer_account_cannot_submit() -> None:
    lead = make_lead()
    with pytest.raises(ActionRefused, match="approved officer"):
        case_submit(user=lead, data=case_input(), actor=Actor(user=lead), now=timezone.now())
    assert not Case.objects.exists()


# --- Idempotent submission -------------------------------------------------------------------------

@pytest.mark.django_db
def test_submitting_twice_with_the_same_key_makes_one_case() -> None:
    officer = approved_officer()
    key = uuid.uuid4().hex
    first = submit_case(officer, submission_key=key)
    second = submit_case(officer, submission_key=key)
    assert first.pk == second.pk
    assert Case.objects.count() == 1
    assert first.reference == f"LEORS-{first.submitted_at.year}-{first.pk:06d}"
    assert AuditEvent.objects.filter(action="case.submitted").count() == 1


@pytest.mark.django_db
def test_a_submission_key_is_per_officer_and_may_be_as_long_as_its_field() -> None:
    officer = approved_officer()
    other = approved_officer()
    key = "k" * Case._meta.get_field("submission_key").max_length
    mine = submit_case(officer, submission_key=key)
    theirs = submit_case(other, submission_key=key)
    assert mine.pk != theirs.pk
    assert {mine.submitted_by_id, theirs.submitted_by_id} == {officer.user_id, other.user_id}
    assert submit_case(officer, submission_key=key).pk == mine.pk


@pytest.mark.django_db(transaction=True)
def test_two_racing_posts_with_the_same_key_make_one_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox, "schedule_delivery", lambda message_ids: None)  # no broker needed
    officer = approved_officer()
    detect_text("Warm the language detector up before the race, so both threads start together.")
    key = uuid.uuid4().hex
    start = threading.Barrier(2)
    results: list[Any] = []

    def post() -> None:
        try:
            data = case_input(submission_key=key)  # each post carries its own uploaded files
            start.wait(10)
            results.append(case_submit(user=officer.user, data=data, actor=Actor(user=officer.user),
                                        now=timezone.now()))
        except Exception as error:  # surfaced by the assertions below
            results.append(error)
        finally:
            connection.close()  # each thread has its own connection; leave none open

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(isinstance(result, Case) for result in results), results
    assert len(results) == 2
    assert results[0].pk == results[1].pk
    assert Case.objects.filter(submitted_by=officer.user).count() == 1
    assert AuditEvent.objects.filter(action="case.submitted").count() == 1


# --- Subject identifiers and related cases ---------------------------------------------------------

@pytest.mark.django_db
def test_several_identifiers_per_case_are_normalized_and_kept_as_entered() -> None:
    officer = approved_officer()
    case = submit_case(officer, identifiers=[
        IdentifierInput(kind="wallet", value=EVM_WALLET),
        IdentifierInput(kind="wallet", value="bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", chain="btc"),
        IdentifierInput(kind="email", value="Suspect.Person@Example.com"),
        IdentifierInput(kind="phone", value="+44 20 7946 0018"),
        IdentifierInput(kind="uid", value="u-778812"),
        IdentifierInput(kind="tx_hash", value="0x" + "AB12" * 16),
        IdentifierInput(kind="wallet", value=EVM_WALLET.lower()),  # the same wallet again: one row
    ])
    rows = {(s.kind, s.chain, s.normalized, s.value) for s in case.subjects.all()}
    assert rows == {
        ("wallet", "eth", EVM_WALLET.lower(), EVM_WALLET),
        ("wallet", "btc", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
        ("email", "", "suspect.person@example.com", "Suspect.Person@Example.com"),
        ("phone", "", "+442079460018", "+44 20 7946 0018"),
        ("uid", "", "U-778812", "u-778812"),
        ("tx_hash", "", "ab12" * 16, "0x" + "AB12" * 16),
    }


@pytest.mark.django_db
def test_an_invalid_identifier_is_refused_naming_its_row() -> None:
    officer = approved_officer()
    errors = refusal(officer, identifiers=[
        IdentifierInput(kind="wallet", value=EVM_WALLET),
        IdentifierInput(kind="wallet", value="1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"),
        IdentifierInput(kind="phone", value="+44 20 7946 0018"),
    ])
    [message] = errors["identifiers"]
    assert message.startswith("Subject 2: ")
    assert "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb" in message
    assert list(refusal(officer, identifiers=[])) == ["identifiers"]


@pytest.mark.django_db
def test_related_cases_find_the_same_wallet_in_another_agencys_case_written_differently() -> None:
    officer = approved_officer()
    outsider = other_agency_officer()
    mine = submit_case(officer, identifiers=[IdentifierInput(kind="wallet", value=EVM_WALLET)])
    theirs = submit_case(outsider, identifiers=[
        IdentifierInput(kind="wallet", value=EVM_WALLET.lower()),
        IdentifierInput(kind="email", value="someone@example.com"),
    ])
    unrelated = submit_case(outsider, identifiers=[
        IdentifierInput(kind="wallet", value="0xde709f2102306220921060314715629080e2fb77")])
    assert theirs.agency != mine.agency
    assert list(selectors.related_cases_for(case=mine)) == [theirs]
    assert list(selectors.related_cases_for(case=theirs)) == [mine]
    assert list(selectors.related_cases_for(case=unrelated)) == []
    assert SubjectIdentifier.objects.filter(normalized=EVM_WALLET.lower()).count() == 2


# --- Who sees a case after intake ------------------------------------------------------------------

@pytest.mark.django_db
def test_after_intake_the_officer_has_the_case_and_nobody_else_of_another_agency_does() -> None:
    officer = approved_officer()
    outsider = other_agency_officer()
    case = submit_case(officer)

    owner = fresh(officer.user)
    for perm in ("cases.view_case", "cases.respond_case", "cases.share_case"):
        assert owner.has_perm(perm, case)
    assert not owner.has_perm("cases.review_case", case)
    assert list(selectors.case_list_for(user=owner)) == [case]
    assert selectors.case_get_for(user=owner, reference=case.reference) == case

    stranger = fresh(outsider.user)
    assert not selectors.case_list_for(user=stranger).exists()
    with pytest.raises(Http404):
        selectors.case_get_for(user=stranger, reference=case.reference)
    with pytest.raises(Http404):
        selectors.case_get_for(user=stranger, pk=case.pk)
    with pytest.raises(Http404):
        selectors.case_document_get_for(user=stranger, document_id=case.documents.get().pk)
    # The outsider's own supervisor sees nothing of another agency either.
    boss = other_agency_officer(body_name="Bundeskriminalamt", official_email="chef@bka.example.de")
    access_services.officer_supervisor_set(officer=boss, is_supervisor=True, actor=Actor(user=make_lead()),
                                           now=timezone.now())
    assert not selectors.case_list_for(user=fresh(boss.user)).exists()


@pytest.mark.django_db
def test_a_supervisor_of_the_same_agency_sees_its_cases_and_a_colleague_only_once_shared() -> None:
    officer = approved_officer()
    colleague = approved_officer()
    supervisor = approved_officer()
    outsider = other_agency_officer()
    assert officer.agency == colleague.agency == supervisor.agency
    case = submit_case(officer)
    now = timezone.now()

    # A supervisor named after the case came in sees it too (the agency's group holds the grant).
    access_services.officer_supervisor_set(officer=supervisor, is_supervisor=True, actor=Actor(user=make_lead()),
                                           now=now)
    assert selectors.case_get_for(user=fresh(supervisor.user), reference=case.reference) == case
    assert not fresh(supervisor.user).has_perm("cases.respond_case", case)

    # A colleague does not see it until the officer shares it.
    with pytest.raises(Http404):
        selectors.case_get_for(user=fresh(colleague.user), reference=case.reference)
    # The colleague cannot share it themselves.
    with pytest.raises(ActionRefused):
        correspondence.case_share(case=case, colleague_email=colleague.user.email,
                                  actor=Actor(user=fresh(colleague.user)), now=now)
    shared_with = correspondence.case_share(case=case, colleague_email=f" {colleague.user.email.upper()} ",
                                            actor=Actor(user=fresh(officer.user)), now=now)
    assert shared_with == colleague.user
    member = fresh(colleague.user)
    assert selectors.case_get_for(user=member, reference=case.reference) == case
    assert member.has_perm("cases.respond_case", case)
    assert not member.has_perm("cases.share_case", case)

    # Sharing with another agency's officer fails exactly as an address that does not exist.
    with pytest.raises(ValidationError) as other_agency:
        correspondence.case_share(case=case, colleague_email=outsider.user.email,
                                  actor=Actor(user=fresh(officer.user)), now=now)
    with pytest.raises(ValidationError) as no_such:
        correspondence.case_share(case=case, colleague_email="nobody@met.police.example.uk",
                                  actor=Actor(user=fresh(officer.user)), now=now)
    assert other_agency.value.message_dict == no_such.value.message_dict
    with pytest.raises(Http404):
        selectors.case_get_for(user=fresh(outsider.user), reference=case.reference)
