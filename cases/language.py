"""R4: what language a request and its documents are written in.

Text is taken from the PDF text layer, a DOCX body or a plain-text file and given to lingua (a
maintained, offline detector). Lingua runs in low-accuracy mode, which needs about 100 MB instead
of more than a gigabyte and is accurate on the paragraphs legal documents are made of; it loads
lazily, once per process. Too little text (a scan) means a person must check the language.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import IO

from leors import policy

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
            import docx

            document = docx.Document(io.BytesIO(stream.read()))
            return "\n".join(paragraph.text for paragraph in document.paragraphs)[: MAX_TEXT_CHARS * 2]
        if content_type == "text/plain":
            return stream.read(MAX_TEXT_CHARS * 4).decode("utf-8", errors="replace")
    except Exception:  # a damaged file has no readable text; the manual check catches it
        logger.info("Could not extract text from a %s document", content_type, exc_info=True)
    finally:
        stream.seek(0)
    return ""


def detect_document(stream: IO[bytes], content_type: str) -> LanguageResult:
    if content_type not in TEXT_TYPES:
        return LanguageResult(language="", confidence=None, has_text=False)
    return detect_text(extract_text(stream, content_type))
