"""R4: the language of a text and of a document's text layer (PDF, DOCX, plain text), with lingua.

A document with no text (a scan, an image, a damaged file) has no language: it is flagged for the
manual check, never an exception at intake.
"""

from __future__ import annotations

import io
from typing import Any

import pytest

from cases.language import detect_document, detect_text, extract_text
from tests.documents import (
    ENGLISH_REQUEST,
    ENGLISH_WARRANT,
    FRENCH_REQUEST,
    FRENCH_WARRANT,
    GERMAN_ORDER,
    docx_laid_out,
    docx_with_text,
    pdf_with_text,
    scanned_pdf,
)

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
TXT = "text/plain"


@pytest.mark.parametrize(
    ("text", "language"),
    [(ENGLISH_REQUEST, "en"), (ENGLISH_WARRANT, "en"), (FRENCH_REQUEST, "fr"), (FRENCH_WARRANT, "fr"),
     (GERMAN_ORDER, "de")],
)
def test_r4_detect_text_names_the_language_with_a_confidence(text: str, language: str) -> None:
    result = detect_text(text)
    assert (result.language, result.has_text) == (language, True)
    assert result.confidence is not None
    assert 0.5 <= result.confidence <= 1.0
    assert result.is_english is (language == "en")


@pytest.mark.parametrize("text", ["", "   \n\t ", "12/03/2026 — 4711-0815 — §§ 1, 2", "Warrant"])
def test_r4_too_little_text_has_no_language(text: str) -> None:
    result = detect_text(text)
    assert result.has_text is False
    assert (result.language, result.confidence) == ("", None)
    assert result.is_english is False


@pytest.mark.parametrize(
    ("content", "content_type", "expected_start", "language"),
    [
        (pdf_with_text(ENGLISH_WARRANT), PDF, "SEARCH WARRANT. The Crown Court", "en"),
        (pdf_with_text(FRENCH_WARRANT), PDF, "RÉQUISITION JUDICIAIRE. Le juge", "fr"),
        (pdf_with_text(GERMAN_ORDER), PDF, "BESCHLUSS. Das Amtsgericht", "de"),
        (docx_with_text(GERMAN_ORDER), DOCX, "BESCHLUSS. Das Amtsgericht", "de"),
        (docx_with_text(ENGLISH_WARRANT), DOCX, "SEARCH WARRANT. The Crown Court", "en"),
        (FRENCH_WARRANT.encode(), TXT, "RÉQUISITION JUDICIAIRE. Le juge", "fr"),
        (ENGLISH_WARRANT.encode(), TXT, "SEARCH WARRANT. The Crown Court", "en"),
    ],
)
def test_r4_text_is_extracted_from_pdf_docx_and_plain_text_and_its_language_detected(
        content: bytes, content_type: str, expected_start: str, language: str) -> None:
    stream = io.BytesIO(content)
    assert " ".join(extract_text(stream, content_type).split()).startswith(expected_start)
    assert stream.tell() == 0  # left rewound for the next reader (hashing, storage)
    result = detect_document(stream, content_type)
    assert (result.language, result.has_text) == (language, True)
    assert stream.tell() == 0


def test_r4_a_scan_has_no_text_and_so_no_language() -> None:
    stream = io.BytesIO(scanned_pdf())
    assert extract_text(stream, PDF).strip() == ""
    result = detect_document(stream, PDF)
    assert (result.has_text, result.language, result.confidence) == (False, "", None)


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"%PDF-1.4\n\x00\x01\x02 this is not really a PDF", PDF),
        (pdf_with_text(ENGLISH_WARRANT)[:200], PDF),  # truncated in transit
        (b"PK\x03\x04 not a real archive", DOCX),
        (b"", TXT),
    ],
)
def test_r4_a_damaged_document_has_no_text_rather_than_an_error(content: bytes, content_type: str) -> None:
    stream = io.BytesIO(content)
    assert extract_text(stream, content_type) == ""
    result = detect_document(stream, content_type)
    assert result.has_text is False
    assert stream.tell() == 0


def test_r4_images_and_unknown_types_are_not_read() -> None:
    # An image has no text layer we read: it goes to the manual check.
    result = detect_document(io.BytesIO(ENGLISH_WARRANT.encode()), "image/png")
    assert result.has_text is False
    assert extract_text(io.BytesIO(ENGLISH_WARRANT.encode()), "application/zip") == ""


def test_r4_invalid_utf8_in_plain_text_does_not_raise() -> None:
    content = ENGLISH_WARRANT.encode() + b"\xff\xfe\xfd"
    assert extract_text(io.BytesIO(content), TXT).startswith("SEARCH WARRANT")
    assert detect_document(io.BytesIO(content), TXT).language == "en"


COVER = "Court order attached; please see the details below."


@pytest.mark.parametrize("where", ["table", "text_box", "header", "footer"])
def test_r4_all_of_a_docx_is_read_not_only_its_body_paragraphs(where: str) -> None:
    # One English line in the body, the German order where courts often put it: nothing of it may be skipped.
    stream = io.BytesIO(docx_laid_out(COVER, **{where: GERMAN_ORDER}))
    text = " ".join(extract_text(stream, DOCX).split())
    assert text.startswith(COVER)
    assert text.count("Das Amtsgericht Berlin-Tiergarten") == 1  # a text box's fallback copy is not read twice
    result = detect_document(stream, DOCX)
    assert (result.language, result.is_english) == ("de", False)


def test_r4_a_docx_is_read_in_order_body_then_header_and_footer() -> None:
    stream = io.BytesIO(docx_laid_out("Body first.", table="Then the table.", text_box="A box.",
                                      header="The header.", footer="The footer."))
    assert extract_text(stream, DOCX).split() == [
        "Body", "first.", "Then", "the", "table.", "A", "box.", "The", "header.", "The", "footer."]


def test_r4_a_docx_declaring_more_than_the_bound_once_unpacked_is_not_read(settings: Any) -> None:
    # Intake refuses such a file (tests/security/test_uploads.py); any other reader gets "no text", unparsed.
    content = docx_with_text(ENGLISH_WARRANT)
    settings.LEORS_DOCX_MAX_UNPACKED_BYTES = 1024
    assert extract_text(io.BytesIO(content), DOCX) == ""
    assert detect_document(io.BytesIO(content), DOCX).has_text is False
