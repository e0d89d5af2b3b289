"""Uploads (issue 6, "Input, files, headers"): what a hostile file does to every door that takes one.

Each door is driven through its real form or service: the public application form at /apply/, the
case intake (case_submit), message attachments (case_message_post) and the legal team's productions
(production_upload). Malware is caught by a real clamd (Debian's clamav-daemon) that this module
starts with the EICAR signatures shipped in tests/security/clamav/; no signature download is
possible here, and none is needed. Every refusal must leave the private storage exactly as it was.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from string import Template
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from cases.models import Case, CaseDocument, CaseMessage, Production
from cases.services import correspondence, productions
from leors import policy
from leors.access.models import AccessApplication, User
from leors.core import antivirus
from leors.core.audit import Actor
from tests.documents import ENGLISH_WARRANT, docx_with_text, pdf_with_text
from tests.factories import PDF_BYTES, accept_case, approved_officer, document_input, make_lead, submit_case
from tests.processes import stop

pytestmark = pytest.mark.django_db

CLAMAV_DIR = Path(__file__).parent / "clamav"
# The standard 68-byte EICAR anti-virus test file (harmless; every scanner must report it).
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_NAME = "Eicar-Test-Signature"
UNAVAILABLE = "the virus scanner is unavailable; try again shortly"


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("invoice.exe", b"MZ" + b"\x00" * 200)
    return buffer.getvalue()


HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 240 + b"PE\x00\x00"
ZIP = _zip_bytes()

# (name, content, what the refusal must say besides the name)
DISGUISED = [
    pytest.param("court-order.pdf", HTML, "is not a file type we accept", id="html-renamed-pdf"),
    pytest.param("warrant.pdf", EXE, "is not a file type we accept", id="exe-renamed-pdf"),
    pytest.param("scans.pdf", ZIP, "is not a file type we accept", id="zip-renamed-pdf"),
    pytest.param("order.pdf", EICAR, f"contains malware ({EICAR_NAME}", id="eicar-renamed-pdf"),
    pytest.param("statement.txt", EICAR, f"contains malware ({EICAR_NAME}", id="eicar-txt"),
]


# --- A real clamd for the session ---------------------------------------------------------------

def _clamd_binary() -> str:
    found = shutil.which("clamd") or next((path for path in ("/usr/sbin/clamd", "/usr/local/sbin/clamd")
                                           if os.access(path, os.X_OK)), None)
    if found is None:
        pytest.fail("The upload tests need clamd, from Debian's clamav-daemon package: "
                    "apt-get install clamav-daemon clamav (bin/test installs it when run as root).", pytrace=False)
    return found


def _ping(socket_path: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(socket_path)
            sock.sendall(b"zPING\0")
            return sock.recv(16).startswith(b"PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def clamd_address() -> Iterator[str]:
    """Start clamd on a unix socket in a fresh directory with only the shipped signatures; stop it after."""
    binary = _clamd_binary()
    workdir = Path(tempfile.mkdtemp(prefix="leors-clamd-"))  # short: a unix socket path has ~100 bytes
    socket_path = workdir / "clamd.sock"
    process: subprocess.Popen[bytes] | None = None
    try:
        config = workdir / "clamd.conf"
        config.write_text(Template((CLAMAV_DIR / "clamd.conf.template").read_text()).substitute(
            socket=socket_path, database=CLAMAV_DIR, pidfile=workdir / "clamd.pid", tmpdir=workdir,
            logfile=workdir / "clamd.log"))
        with (workdir / "clamd.out").open("wb") as output:
            process = subprocess.Popen([binary, f"--config-file={config}"], stdout=output,  # noqa: S603
                                       stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not _ping(str(socket_path)):
            if process.poll() is not None or time.monotonic() > deadline:
                log = "".join(path.read_text(errors="replace") for path in (workdir / "clamd.out", workdir / "clamd.log")
                              if path.exists())
                pytest.fail(f"clamd did not start (exit status {process.poll()}):\n{log[-3000:]}", pytrace=False)
            time.sleep(0.1)
        yield f"unix://{socket_path}"
    finally:
        if process is not None:
            stop(process, timeout=15)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(autouse=True)
def _scanner(settings: Any, clamd_address: str) -> None:
    settings.LEORS_CLAMD = clamd_address


def private_tree() -> dict[str, bytes]:
    """Every file in the private storage (relative path → content)."""
    root = Path(storages["private"].location)  # type: ignore[attr-defined]
    if not root.exists():
        return {}
    return {str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()}


def errors_of(refused: pytest.ExceptionInfo[ValidationError], field: str) -> list[str]:
    return refused.value.message_dict[field]


# --- The scanner itself -----------------------------------------------------------------------

def test_real_clamd_finds_eicar_and_passes_a_clean_file(clamd_address: str) -> None:
    assert EICAR_NAME in (antivirus.scan(io.BytesIO(EICAR)) or "")
    assert EICAR_NAME in (antivirus.scan(io.BytesIO(EICAR + b"\r\n")) or "")  # the standard allows trailing space
    assert antivirus.scan(io.BytesIO(pdf_with_text(ENGLISH_WARRANT))) is None
    # Streamed in several INSTREAM chunks: the verdict does not depend on the chunking.
    assert EICAR_NAME in (antivirus.scan(io.BytesIO(EICAR + b" " * (3 * antivirus.CHUNK_BYTES))) or "")
    assert antivirus.scan(io.BytesIO(b"A" * (3 * antivirus.CHUNK_BYTES + 7))) is None


def test_a_malformed_clamd_address_is_refused_at_start_up() -> None:
    assert antivirus.address_problem("unix:///run/clamav/clamd.ctl") is None
    assert antivirus.address_problem("tcp://10.0.0.5:3310") is None
    for bad in ("/run/clamav/clamd.ctl", "tcp://10.0.0.5", "http://scanner:3310", "unix://host/path"):
        assert "LEORS_CLAMD" in (antivirus.address_problem(bad) or ""), bad


# --- The public application form (/apply/) -----------------------------------------------------

def apply_payload(documents: list[SimpleUploadedFile]) -> dict[str, Any]:
    return {
        "applying_as": "police", "body_name": "Zephyr Constabulary", "country": "GB",
        "jurisdiction": "Northern Quillshire", "applicant_name": "Ingrid Vantablack",
        "rank_title": "Detective Inspector", "official_email": "ingrid.vantablack@zephyr.police.example.uk",
        "phone": "+44 20 7946 0018", "supervisor_name": "Oswin Harrowgate",
        "supervisor_email": "oswin.harrowgate@zephyr.police.example.uk",
        "undertaking_version": policy.CURRENT_UNDERTAKING_VERSION, "accept_undertaking": "on",
        "documents": documents,
    }


@pytest.mark.parametrize(("name", "content", "reason"), DISGUISED)
def test_apply_form_refuses_a_disguised_or_infected_file_naming_it_and_stores_nothing(
        name: str, content: bytes, reason: str) -> None:
    before = private_tree()
    response = Client().post(reverse("portal:apply"), apply_payload(
        [SimpleUploadedFile("warrant-card.pdf", PDF_BYTES), SimpleUploadedFile(name, content)]))

    assert response.status_code == 400
    errors = response.context["form"].errors["documents"]
    assert len(errors) == 1, errors
    assert f"“{name}”" in errors[0] and reason in errors[0], errors
    assert escape(errors[0]) in response.content.decode()
    assert not AccessApplication.objects.exists()
    assert private_tree() == before


def _multipart(fields: dict[str, str], files: list[tuple[str, bytes]], boundary: str) -> bytes:
    """A multipart body written by hand: the test client would strip the path from a file name itself."""
    parts: list[bytes] = []
    for key, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    for filename, content in files:
        header = (f'--{boundary}\r\nContent-Disposition: form-data; name="documents"; filename="{filename}"\r\n'
                  "Content-Type: application/pdf\r\n\r\n")
        parts.append(header.encode() + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


def test_apply_form_stores_hostile_file_names_under_generated_names_inside_the_private_root() -> None:
    fields = {key: value for key, value in apply_payload([]).items() if key != "documents"}
    hostile = ["../../x.pdf", "..\\..\\evil.pdf", "warrant\u202efdp.exe", "/etc/passwd.pdf"]
    boundary = "leorsBoundary7MA4YWxkTrZu0gW"
    response = Client().generic("POST", reverse("portal:apply"),
                                _multipart(fields, [(name, PDF_BYTES) for name in hostile], boundary),
                                content_type=f"multipart/form-data; boundary={boundary}")

    assert response.status_code == 302, response.content.decode()[:2000]
    application = AccessApplication.objects.get()
    root = Path(storages["private"].location).resolve()  # type: ignore[attr-defined]
    names = set()
    for document in application.documents.all():
        stored = Path(document.file.path).resolve()
        assert stored.is_relative_to(root / "applications" / str(application.pk))
        assert len(stored.stem) == 32 and stored.suffix == ".pdf"  # uuid4 hex + the type sniffed from content
        assert stored.read_bytes() == PDF_BYTES
        assert not any(ch in document.original_name for ch in "/\\\u202e")
        names.add(document.original_name)
    assert names == {"x.pdf", "evil.pdf", "warrantfdp.exe", "passwd.pdf"}
    assert len(private_tree()) == 4


# --- Case intake ------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "content", "reason"), DISGUISED)
def test_intake_refuses_a_disguised_or_infected_document_naming_it_and_stores_nothing(
        name: str, content: bytes, reason: str) -> None:
    officer = approved_officer()
    before = private_tree()
    with pytest.raises(ValidationError) as refused:
        submit_case(officer, documents=[document_input(pdf_with_text(ENGLISH_WARRANT)),
                                        document_input(content, name=name, document_type="court_order")])

    errors = errors_of(refused, "documents")
    assert any(f"“{name}”" in error and reason in error for error in errors), errors
    assert not Case.objects.exists()
    assert private_tree() == before


def test_intake_refuses_an_empty_document_and_one_byte_over_the_limit_but_takes_one_at_the_limit(
        settings: Any) -> None:
    officer = approved_officer()
    warrant = pdf_with_text(ENGLISH_WARRANT)
    before = private_tree()

    with pytest.raises(ValidationError) as refused:
        submit_case(officer, documents=[document_input(warrant), document_input(b"", name="blank-scan.pdf")])
    assert any("“blank-scan.pdf” is empty" in error for error in errors_of(refused, "documents"))

    settings.LEORS_UPLOAD_MAX_BYTES = len(warrant) - 1
    with pytest.raises(ValidationError) as refused:
        submit_case(officer, documents=[document_input(warrant, name="one-byte-over.pdf")])
    assert any("“one-byte-over.pdf” is" in error and "the limit is" in error for error in errors_of(refused, "documents"))
    assert not Case.objects.exists()
    assert private_tree() == before

    settings.LEORS_UPLOAD_MAX_BYTES = len(warrant)
    case = submit_case(officer, documents=[document_input(warrant, name="exactly-at-the-limit.pdf")])
    document = case.documents.get()
    assert document.size == len(warrant) and document.original_name == "exactly-at-the-limit.pdf"
    after = private_tree()
    assert [after[path] for path in set(after) - set(before)] == [warrant]


def test_intake_cleans_hostile_names_and_stores_under_generated_names() -> None:
    officer = approved_officer()
    warrant = pdf_with_text(ENGLISH_WARRANT)
    upload = document_input(warrant, name="warrant.pdf")
    upload.upload.name = "..\\..\\evil\u202efdp.exe"  # a Windows path and a right-to-left override
    case = submit_case(officer, documents=[upload])

    document = case.documents.get()
    assert document.original_name == "evilfdp.exe"
    root = Path(storages["private"].location).resolve()  # type: ignore[attr-defined]
    stored = Path(document.file.path).resolve()
    assert stored.is_relative_to(root / "cases" / str(case.pk))
    assert len(stored.stem) == 32 and stored.suffix == ".pdf"


def test_a_refusal_among_several_documents_leaves_no_file_behind() -> None:
    officer = approved_officer()
    warrant = pdf_with_text(ENGLISH_WARRANT)
    before = private_tree()
    with pytest.raises(ValidationError) as refused:
        submit_case(officer, documents=[
            document_input(warrant, name="warrant.pdf"),
            document_input(warrant, name="annex-a.pdf", document_type="court_order"),
            document_input(EICAR, name="annex-b.pdf", document_type="court_order"),
        ])
    errors = errors_of(refused, "documents")
    assert [error for error in errors if "annex-b.pdf" in error] == [
        f"“annex-b.pdf” contains malware ({antivirus.scan(io.BytesIO(EICAR))}) and was refused."]
    assert not any("warrant.pdf" in error or "annex-a.pdf" in error for error in errors)
    assert not Case.objects.exists() and not CaseDocument.objects.exists()
    assert private_tree() == before


def _docx_declaring(unpacked: int) -> bytes:
    """An English DOCX with one more member whose directory entry claims `unpacked` bytes: a zip bomb as
    LEORS sees it before unpacking anything (the claim is all a bomb shows; its bytes stay small)."""
    source = zipfile.ZipFile(io.BytesIO(docx_with_text(ENGLISH_WARRANT)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in source.infolist():
            archive.writestr(member, source.read(member))
        archive.writestr("word/media/image1.png", b"\x00" * 64)
    content = bytearray(buffer.getvalue())
    entry = content.rindex(b"PK\x01\x02")  # the last member's central-directory entry
    assert content[entry + 46:entry + 46 + 21] == b"word/media/image1.png"
    content[entry + 24:entry + 28] = unpacked.to_bytes(4, "little")  # its declared uncompressed size
    return bytes(content)


def test_intake_refuses_a_docx_zip_bomb_naming_it_and_stores_nothing(settings: Any) -> None:
    # R4 reads every DOCX for its language at intake; one declaring gigabytes is refused before it is parsed.
    officer = approved_officer()
    bomb = _docx_declaring(4_000_000_000)
    assert len(bomb) < 64 * 1024
    before = private_tree()
    with pytest.raises(ValidationError) as refused:
        submit_case(officer, documents=[document_input(pdf_with_text(ENGLISH_WARRANT), name="warrant.pdf"),
                                        document_input(bomb, name="order.docx", document_type="court_order")])
    assert errors_of(refused, "documents") == [
        "“order.docx” would unpack to 3.7\xa0GB, more than the 100.0\xa0MB a Word document may hold. Save it again "
        "from the word processor, or send it as a PDF."]
    assert not Case.objects.exists()
    assert private_tree() == before

    # The bound is LEORS_DOCX_MAX_UNPACKED_BYTES (default five times the upload limit); at the bound a DOCX is taken.
    assert policy.docx_max_unpacked_bytes() == 5 * policy.upload_max_bytes()
    plain = docx_with_text(ENGLISH_WARRANT)
    unpacked = sum(member.file_size for member in zipfile.ZipFile(io.BytesIO(plain)).infolist())
    settings.LEORS_DOCX_MAX_UNPACKED_BYTES = unpacked - 1
    with pytest.raises(ValidationError) as refused:
        submit_case(officer, documents=[document_input(plain, name="warrant.docx")])
    assert "“warrant.docx” would unpack to" in errors_of(refused, "documents")[0]
    settings.LEORS_DOCX_MAX_UNPACKED_BYTES = unpacked
    document = submit_case(officer, documents=[document_input(plain, name="warrant.docx")]).documents.get()
    assert (document.original_name, document.language_status) == ("warrant.docx", CaseDocument.LanguageStatus.ENGLISH)


# --- Message attachments ----------------------------------------------------------------------

@pytest.mark.parametrize(("name", "content", "reason"), DISGUISED)
def test_message_attachment_that_is_disguised_or_infected_is_refused_and_nothing_is_kept(
        name: str, content: bytes, reason: str) -> None:
    officer = approved_officer()
    case = submit_case(officer)
    before = private_tree()
    with pytest.raises(ValidationError) as refused:
        correspondence.case_message_post(
            case=case, body="The signed original and its annex are attached.", is_internal=False,
            attachments=[SimpleUploadedFile("original.pdf", pdf_with_text(ENGLISH_WARRANT)),
                         SimpleUploadedFile(name, content)],
            actor=Actor(user=officer.user), now=timezone.now())

    errors = errors_of(refused, "attachments")
    assert any(f"“{name}”" in error and reason in error for error in errors), errors
    assert not CaseMessage.objects.filter(case=case).exists()
    assert private_tree() == before


# --- Productions --------------------------------------------------------------------------------

def accepted_case() -> tuple[Case, User]:
    lead = make_lead()
    case = accept_case(submit_case(approved_officer()), lead)
    return Case.objects.get(pk=case.pk), lead


@pytest.mark.parametrize(("name", "content", "reason"), [
    pytest.param("kyc.pdf", HTML, "is not a file type we accept", id="html-renamed-pdf"),
    pytest.param("kyc.xlsx", EXE, "is not a file type we accept", id="exe-renamed-xlsx"),
    pytest.param("kyc.csv", EICAR, f"contains malware ({EICAR_NAME}", id="eicar-csv"),
    pytest.param("kyc.zip", EICAR, f"contains malware ({EICAR_NAME}", id="eicar-zip"),
])
def test_production_upload_refuses_a_disguised_or_infected_file(name: str, content: bytes, reason: str) -> None:
    case, lead = accepted_case()
    before = private_tree()
    with pytest.raises(ValidationError) as refused:
        productions.production_upload(case=case, upload=SimpleUploadedFile(name, content), description="KYC record",
                                      actor=Actor(user=lead), now=timezone.now())
    assert any(f"“{name}”" in message and reason in message for message in refused.value.messages), refused.value
    assert not Production.objects.exists()
    assert private_tree() == before

    # A clean file goes through the same scanner and is stored under a generated name.
    production = productions.production_upload(
        case=case, upload=SimpleUploadedFile("kyc.csv", b"uid,name\nU-1,A. Holder\n"), description="KYC record",
        actor=Actor(user=lead), now=timezone.now())
    assert Path(production.file.name).parent == Path("productions") / str(case.pk)
    assert len(private_tree()) == len(before) + 1


# --- A configured scanner that cannot be reached: fail closed ------------------------------------

def _closed_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("address", ["unix-missing", "tcp-closed"])
def test_uploads_are_refused_while_a_configured_scanner_is_unreachable(
        address: str, settings: Any, tmp_path: Path) -> None:
    officer = approved_officer()  # approved while the scanner was up
    applications = AccessApplication.objects.count()
    settings.LEORS_CLAMD = (f"unix://{tmp_path / 'no-clamd.sock'}" if address == "unix-missing"
                            else f"tcp://127.0.0.1:{_closed_tcp_port()}")
    settings.LEORS_CLAMD_TIMEOUT = 2
    before = private_tree()

    response = Client().post(reverse("portal:apply"), apply_payload([SimpleUploadedFile("warrant-card.pdf", PDF_BYTES)]))
    assert response.status_code == 400
    assert response.context["form"].errors["documents"] == [
        f"“warrant-card.pdf” could not be checked: {UNAVAILABLE}."]
    assert AccessApplication.objects.count() == applications

    with pytest.raises(ValidationError) as refused:
        submit_case(officer, documents=[document_input(pdf_with_text(ENGLISH_WARRANT), name="warrant.pdf")])
    assert errors_of(refused, "documents") == [f"“warrant.pdf” could not be checked: {UNAVAILABLE}."]
    assert not Case.objects.exists()
    assert private_tree() == before


def test_scanning_is_off_when_no_scanner_is_configured(settings: Any) -> None:
    """The local demo's default: LEORS_CLAMD empty, uploads are only type- and size-checked."""
    settings.LEORS_CLAMD = ""
    case = submit_case(approved_officer())
    assert case.documents.count() == 1


@pytest.mark.django_db
def test_a_failed_transaction_leaves_no_stored_file_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that fails after the files were stored (here: the audit write) removes them again."""
    from django.core.files.storage import storages

    from tests.factories import approved_officer, submit_case

    officer = approved_officer()
    root = Path(storages["private"].location)  # type: ignore[attr-defined]
    before = sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []

    def failing_audit(**kwargs: object) -> None:
        raise RuntimeError("the audit write failed")

    monkeypatch.setattr("cases.services.intake.audit_record", failing_audit)
    with pytest.raises(RuntimeError):
        submit_case(officer)
    after = sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
    assert after == before
