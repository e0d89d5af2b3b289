"""Uploaded documents: size bounded, scanned for malware, type sniffed from content, SHA-256 recorded, stored privately.

Files are saved under a generated name in the private storage (outside the web root); the name
the sender gave is kept only as data. Nothing in the application alters or deletes a stored file.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import filetype
from django.core.exceptions import ValidationError
from django.core.files.storage import Storage, storages
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat

from leors import policy
from leors.core import antivirus

logger = logging.getLogger(__name__)

PDF_OR_IMAGE = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Legal documents and message attachments: what a court or police office sends.
LEGAL_DOCUMENT_TYPES = {**PDF_OR_IMAGE, DOCX: ".docx", "text/plain": ".txt"}
# Productions: what the legal team hands over.
PRODUCTION_TYPES = {**LEGAL_DOCUMENT_TYPES, XLSX: ".xlsx", "text/csv": ".csv", "application/zip": ".zip"}


# Markup is text too, but not a document we take: an HTML page (or SVG, XML) renamed .pdf or .txt
# would otherwise pass as plain text and could be rendered by a browser that second-guesses the type.
_MARKUP_START = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<(?:!doctype|html|head|body|\?xml|svg|script|iframe|!--)", re.IGNORECASE)
_ACTIVE_MARKUP = re.compile(rb"<(?:script|iframe|object|embed)\b", re.IGNORECASE)


def _sniff_text(head: bytes, name: str, allowed: dict[str, str]) -> str | None:
    """Plain text has no magic number: accept valid UTF-8 without NUL bytes where text is allowed."""
    if b"\x00" in head:
        return None
    if _MARKUP_START.match(head) or _ACTIVE_MARKUP.search(head):
        return "text/html"  # never in an allowed set: refused, and named as what it is
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 4:  # a multi-byte character cut at the end of the sample is fine
            return None
    if name.lower().endswith(".csv") and "text/csv" in allowed:
        return "text/csv"
    return "text/plain" if "text/plain" in allowed else None


def private_storage() -> Storage:
    return storages["private"]


@dataclass(frozen=True)
class InspectedFile:
    original_name: str
    content_type: str
    extension: str
    size: int
    sha256: str


def display_name(name: str) -> str:
    """A file name safe to show: no path, no control or bidirectional-override characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    return cleaned[:200] or "unnamed"


def _scan(upload: UploadedFile, *, name: str) -> None:
    """Refuse an infected file, and every file while a configured scanner cannot give a verdict.

    Scanned before the type is sniffed, so that malware is named as such whatever it pretends to be.
    Fail closed: once LEORS_CLAMD is set, nothing is stored unscanned.
    """
    if not antivirus.is_configured():
        return
    upload.seek(0)
    try:
        signature = antivirus.scan(upload)
    except antivirus.ScannerUnavailable as error:
        logger.error("Upload %r refused, the virus scanner is unavailable: %s", name, error)
        raise ValidationError(
            f"“{name}” could not be checked: the virus scanner is unavailable; try again shortly."
        ) from None
    finally:
        upload.seek(0)
    if signature is not None:
        logger.warning("Upload %r refused: clamd found %s", name, signature)
        raise ValidationError(f"“{name}” contains malware ({signature}) and was refused.")


def archive_unpacked_size(archive: zipfile.ZipFile) -> int:
    """What a zip archive's members declare they unpack to, together, read from its directory alone.

    Nothing is unpacked to know it, and it bounds what unpacking can cost: zipfile never gives more
    of a member than its declared size (a member that lies fails its CRC check instead).
    """
    return sum(member.file_size for member in archive.infolist())


def _refuse_a_zip_bomb(upload: UploadedFile, *, name: str) -> None:
    """A DOCX is read at intake for its language (R4): refuse one that would unpack to far more than a
    word processor ever writes, before anything parses it. A DOCX that is not a readable archive is
    left alone: it has no text, and a person checks its language."""
    limit = policy.docx_max_unpacked_bytes()
    upload.seek(0)
    try:
        with zipfile.ZipFile(upload) as archive:
            size = archive_unpacked_size(archive)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError):
        return
    finally:
        upload.seek(0)
    if size > limit:
        logger.warning("Upload %r refused: it declares %d bytes unpacked", name, size)
        raise ValidationError(
            f"“{name}” would unpack to {filesizeformat(size)}, more than the {filesizeformat(limit)} a Word document "
            "may hold. Save it again from the word processor, or send it as a PDF."
        )


def file_inspect(upload: UploadedFile, *, allowed: dict[str, str] = PDF_OR_IMAGE) -> InspectedFile:
    """Check one upload; raise ValidationError naming the file and what is wrong with it.

    Steps: not empty, within LEORS_UPLOAD_MAX_BYTES, clean by clamd (when LEORS_CLAMD is set), of an
    allowed type judged by its content (never its name or the browser's claim), a DOCX within
    LEORS_DOCX_MAX_UNPACKED_BYTES once unpacked; then hash it. Nothing is written anywhere: callers
    inspect every file before they store any (file_store).
    """
    name = display_name(upload.name or "")
    limit = policy.upload_max_bytes()
    if upload.size is None or upload.size == 0:
        raise ValidationError(f"“{name}” is empty. Choose the file again.")
    if upload.size > limit:
        raise ValidationError(
            f"“{name}” is {filesizeformat(upload.size)}; the limit is {filesizeformat(limit)}. "
            "Send a smaller scan or split the document."
        )
    _scan(upload, name=name)
    upload.seek(0)
    head = upload.read(8192)
    kind = filetype.guess(head)
    content_type = kind.mime if kind else (_sniff_text(head, name, allowed) or "unknown")
    if content_type not in allowed:
        accepted = ", ".join(sorted({ext.lstrip('.').upper() for ext in allowed.values()}))
        raise ValidationError(
            f"“{name}” is not a file type we accept (its content is {content_type}, whatever its name). "
            f"Accepted: {accepted}."
        )
    if content_type == DOCX:
        _refuse_a_zip_bomb(upload, name=name)
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return InspectedFile(
        original_name=name,
        content_type=content_type,
        extension=allowed[content_type],
        size=upload.size,
        sha256=digest.hexdigest(),
    )


_stored_in_transaction: ContextVar[list[str] | None] = ContextVar("stored_in_transaction", default=None)


def file_store(upload: UploadedFile, *, inspected: InspectedFile, folder: str) -> str:
    """Save under a generated name; return the storage name."""
    upload.seek(0)
    name = private_storage().save(f"{folder}/{uuid.uuid4().hex}{inspected.extension}", upload)
    stored = _stored_in_transaction.get()
    if stored is not None:
        stored.append(name)
    return name


@contextmanager
def files_kept_only_if_committed() -> Iterator[None]:
    """Wrap the transaction that stores files: if it fails, the files it stored are removed again.

    A file belongs to LEORS only once the row that records it is committed; until then it is an
    orphan of a failed write, not a document (documents themselves are never deleted).
    """
    token = _stored_in_transaction.set([])
    try:
        yield
    except BaseException:
        for name in _stored_in_transaction.get() or []:
            private_storage().delete(name)
        raise
    finally:
        _stored_in_transaction.reset(token)
