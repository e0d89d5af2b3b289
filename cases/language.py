"""R4: what language a request and its documents are written in.

Text is taken from the PDF text layer, a DOCX (every w:t of its body with its tables and text boxes,
then of its headers, footers and notes, read as a stream) or a plain-text file and given to lingua
(a maintained, offline detector). Lingua runs in low-accuracy mode, which needs about 100 MB instead
of more than a gigabyte and is accurate on the paragraphs legal documents are made of; it loads
lazily, once per process. Too little text (a scan) means a person must check the language.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import IO

from lxml import etree

from leors import policy
from leors.core.files import archive_unpacked_size

logger = logging.getLogger(__name__)

ENGLISH = "en"
TEXT_TYPES = {"application/pdf", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "text/plain"}
MAX_TEXT_CHARS = 20_000  # enough to know the language; bounds the work on a 500-page document


@dataclass(frozen=True)
class LanguageResult:
    language: str  # ISO 639-1, "" when unknown
    confidence: float | None
    has_text: bool

    @property
    def is_english(self) -> bool:
        return self.has_text and self.language == ENGLISH


@lru_cache(maxsize=1)
def _detector():  # type: ignore[no-untyped-def]
    from lingua import LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()


def detect_text(text: str) -> LanguageResult:
    cleaned = " ".join(text.split())[:MAX_TEXT_CHARS]
    letters = sum(ch.isalpha() for ch in cleaned)
    if letters < policy.language_min_letters():
        return LanguageResult(language="", confidence=None, has_text=False)
    values = _detector().compute_language_confidence_values(cleaned)
    if not values:
        return LanguageResult(language="", confidence=None, has_text=True)
    top = values[0]
    code = top.language.iso_code_639_1.name.lower()
    return LanguageResult(language=code, confidence=round(float(top.value), 4), has_text=True)


def extract_text(stream: IO[bytes], content_type: str) -> str:
    """The document's text, or "" when it has none we can read (a scan, an image)."""
    stream.seek(0)
    try:
        if content_type == "application/pdf":
            from pypdf import PdfReader

            reader = PdfReader(stream)
            parts: list[str] = []
            total = 0
            for page in reader.pages:
                piece = page.extract_text() or ""
                parts.append(piece)
                total += len(piece)
                if total >= MAX_TEXT_CHARS:
                    break
            return "\n".join(parts)
        if content_type == "application/vnd.openxmlformats-officedocument.wordprocessingml.document":
            return _docx_text(stream)[: MAX_TEXT_CHARS * 2]
        if content_type == "text/plain":
            return stream.read(MAX_TEXT_CHARS * 4).decode("utf-8", errors="replace")
    except Exception:  # a damaged file has no readable text; the manual check catches it
        logger.info("Could not extract text from a %s document", content_type, exc_info=True)
    finally:
        stream.seek(0)
    return ""


# A DOCX is a zip archive of XML parts. Its text is in the w:t elements of these parts, in this order: the
# body (paragraphs, tables, text boxes), then the headers, footers, footnotes and endnotes.
_WORD = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_TEXT_PART_TYPES = (
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
     "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml",
     "application/vnd.ms-word.document.macroEnabled.main+xml",
     "application/vnd.ms-word.template.macroEnabledTemplate.main+xml"),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.header+xml",),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.footer+xml",),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml",),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.endnotes+xml",),
)
_T, _P, _TAB, _BR = (f"{{{_WORD}}}{name}" for name in ("t", "p", "tab", "br"))
# A text box is written twice: for Word 2010+ (mc:Choice) and again for older readers (mc:Fallback).
_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_CONTENT_TYPE = "{http://schemas.openxmlformats.org/package/2006/content-types}"


def _xml_events(member: IO[bytes]) -> Iterator[tuple[str, etree._Element]]:
    """Parse as a stream, dropping each element once read: memory stays flat however large the part.

    No entity is expanded and nothing is fetched from the network (a hostile file may try both).
    """
    for event, element in etree.iterparse(member, events=("start", "end"), resolve_entities=False,
                                          no_network=True, load_dtd=False, huge_tree=False):
        yield event, element
        if event == "end":
            element.clear(keep_tail=False)
            while element.getprevious() is not None:
                del element.getparent()[0]  # type: ignore[union-attr]


def _docx_text_parts(archive: zipfile.ZipFile) -> list[str]:
    """The names of the parts that hold text, in reading order, as [Content_Types].xml declares them."""
    declared: dict[str, str] = {}
    with archive.open("[Content_Types].xml") as member:
        for event, element in _xml_events(member):
            if event == "start" and element.tag == f"{_CONTENT_TYPE}Override":
                declared[element.get("PartName", "").lstrip("/")] = element.get("ContentType", "")
    names = set(archive.namelist())
    return [name for types in _TEXT_PART_TYPES for name in sorted(declared) if declared[name] in types
            and name in names]


def _docx_text(stream: IO[bytes]) -> str:
    """Every w:t of the document, body first, until there is enough to know the language."""
    pieces: list[str] = []
    length = 0
    with zipfile.ZipFile(stream) as archive:
        unpacked = archive_unpacked_size(archive)
        if unpacked > policy.docx_max_unpacked_bytes():
            # Refused at intake already (file_inspect); whoever else asks gets "no text", not a zip bomb.
            logger.warning("A DOCX declaring %d bytes unpacked was not read", unpacked)
            return ""
        for name in _docx_text_parts(archive):
            in_fallback = 0
            with archive.open(name) as member:
                for event, element in _xml_events(member):
                    if element.tag == _FALLBACK:
                        in_fallback += 1 if event == "start" else -1
                    if event != "end" or in_fallback:
                        continue
                    if element.tag == _T and element.text:
                        pieces.append(element.text)
                        length += len(element.text)
                    elif element.tag in (_TAB, _BR):
                        pieces.append(" ")
                    elif element.tag == _P:
                        pieces.append("\n")
                    if length >= MAX_TEXT_CHARS * 2:
                        return "".join(pieces)
            pieces.append("\n")
    return "".join(pieces)


def detect_document(stream: IO[bytes], content_type: str) -> LanguageResult:
    if content_type not in TEXT_TYPES:
        return LanguageResult(language="", confidence=None, has_text=False)
    return detect_text(extract_text(stream, content_type))
