"""Intake of legal requests (R1, R4, R5, R6, R8, R11): one case per submission, English only.

`case_submit` checks everything before it writes anything, and reports every problem at once,
naming the field or the document, so the officer can fix them in one go. A repeated post with the
same submission key returns the case the first post made.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from guardian.shortcuts import assign_perm

from cases.identifiers import NormalizedIdentifier, identifier_normalize
from cases.language import LanguageResult, detect_document, detect_text
from cases.models import Case, CaseDocument, RequestType, SubjectIdentifier
from cases.models.requests import non_disclosure_in_force
from cases.services import clocks
from cases.services.common import officer_case_path, staff_case_path
from leors import policy
from leors.access.models import Officer, User
from leors.access.services import agency_supervisors_group, legal_leads
from leors.core.audit import Actor, audit_record
from leors.core.errors import ActionRefused
from leors.core.files import (
    LEGAL_DOCUMENT_TYPES,
    InspectedFile,
    display_name,
    file_inspect,
    file_store,
    files_kept_only_if_committed,
)
from leors.core.outbox import email_enqueue

LanguageStatus = CaseDocument.LanguageStatus

OFFICER_CASE_PERMISSIONS = ("view_case", "respond_case", "share_case")


@dataclass(frozen=True)
class IdentifierInput:
    kind: str
    value: str
    chain: str = ""


@dataclass(frozen=True)
class DocumentInput:
    upload: UploadedFile
    document_type: str
    issuing_authority: str = ""
    issued_on: date | None = None
    document_reference: str = ""
    # A certified translation names the row (0-based) of the document it translates.
    translation_of: int | None = None
    translator_certification: str = ""


@dataclass(frozen=True)
class CaseInput:
    request_type: str
    title: str
    request_text: str
    submission_key: str
    case_reference: str = ""
    identifiers: list[IdentifierInput] = field(default_factory=list)
    documents: list[DocumentInput] = field(default_factory=list)
    data_requested: str = ""
    period_from: date | None = None
    period_to: date | None = None
    has_non_disclosure_instruction: bool | None = None
    non_disclosure_until: date | None = None
    extends_case_reference: str = ""
    freeze_duration_days: int | None = None
    assets_description: str = ""


def language_name(code: str) -> str:
    from lingua import IsoCode639_1, Language

    try:
        return Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())).name.title()
    except (AttributeError, ValueError):
        return code or "an unknown language"


def language_status_of(result: LanguageResult) -> str:
    """R4: English, not English, or for a person to decide (no text, or the detector is unsure)."""
    if not result.has_text:
        return LanguageStatus.NO_TEXT
    if (result.confidence or 0) < policy.language_min_confidence():
        return LanguageStatus.UNCERTAIN
    return LanguageStatus.ENGLISH if result.is_english else LanguageStatus.NOT_ENGLISH


@dataclass
class _CheckedDocument:
    position: int
    source: DocumentInput
    inspected: InspectedFile
    language: LanguageResult
    status: str


def _check_type_fields(data: CaseInput, *, officer: Officer, now: datetime, errors: dict[str, list[str]]) -> Case | None:
    """Each request type asks only for what it needs; returns the preservation case an extension refers to."""
    def add(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    def named_freeze(what: str) -> Case | None:
        """The officer's own freeze that the (optional) reference names; `what` it is to this request."""
        reference = data.extends_case_reference.strip().upper()
        if not reference:
            return None
        freeze = _own_earlier_case(officer, reference, RequestType.FREEZE)
        if freeze is None:
            add("extends_case_reference", f"“{reference}” is not a freeze request of yours. Give the LEORS "
                                          f"reference of {what}, or leave it empty.")
        return freeze

    extends = None
    if data.request_type == RequestType.USER_INFORMATION:
        if not data.data_requested.strip():
            add("data_requested", "Say which information you need (e.g. KYC data, login IPs, transactions).")
        if data.period_from and data.period_to and data.period_from > data.period_to:
            add("period_to", "The end of the period is before its start.")
        if data.has_non_disclosure_instruction is None:
            add("has_non_disclosure_instruction",
                "Say whether the legal process instructs us not to notify the user (R6).")
        elif data.has_non_disclosure_instruction and data.non_disclosure_until is None:
            add("non_disclosure_until", "Give the date until which the user must not be notified, as the order states.")
        elif (data.has_non_disclosure_instruction and data.non_disclosure_until
              and not non_disclosure_in_force(data.non_disclosure_until, now)):
            add("non_disclosure_until", "This date has passed everywhere; the instruction is no longer in force.")
    elif data.request_type == RequestType.FREEZE:
        # R8: an order must state how long the restriction lasts.
        if not data.freeze_duration_days or data.freeze_duration_days < 1:
            add("freeze_duration_days", "State the duration of the freeze in days, as the order states it. "
                                        "An order without a duration cannot be taken (R8).")
        # A further order for a freeze already in place: it must be one of the officer's own.
        extends = named_freeze("the freeze this further order continues")
    elif data.request_type == RequestType.PRESERVATION_EXTENSION:
        reference = data.extends_case_reference.strip().upper()
        extends = _own_earlier_case(officer, reference, RequestType.PRESERVATION)
        if extends is None:
            add("extends_case_reference", f"“{reference or '(empty)'}” is not a preservation request of yours. "
                                          "Give the LEORS reference of the preservation to extend.")
        elif extends.status in (Case.Status.WITHDRAWN, Case.Status.DECLINED, Case.Status.CLOSED):
            add("extends_case_reference", f"{extends.reference} was {extends.get_status_display().lower()}; there is "
                                          "no preservation to extend. Send a new preservation request instead.")
        else:
            from cases.services.clocks import hold_extension_problem

            problem = hold_extension_problem(preservation=extends, now=now)
            if problem:
                add("extends_case_reference", problem)
    elif data.request_type == RequestType.ASSET_RECOVERY:
        if not data.assets_description.strip():
            add("assets_description", "Describe the assets to be returned (asset, amount, account or address).")
        # The freeze that holds the assets: lifted when the return is recorded.
        extends = named_freeze("the freeze holding the assets")
    elif data.request_type != RequestType.PRESERVATION:
        add("request_type", "Choose the kind of request.")
    return extends


def _own_earlier_case(officer: Officer, reference: str, request_type: str) -> Case | None:
    """The earlier request of this type that a new one continues, if this officer may see it and it is
    their agency's. Another agency's reference, or a colleague's that was not shared, gets the same
    answer as one that does not exist."""
    from cases.selectors import case_list_for

    return case_list_for(user=officer.user).filter(reference=reference, agency=officer.agency,
                                                   request_type=request_type).first()


def _check_documents(data: CaseInput, errors: dict[str, list[str]]) -> list[_CheckedDocument]:
    """R4 + R5: inspect each file and its language; a non-English document needs its translation."""
    problems: list[str] = []
    if len(data.documents) > policy.upload_max_files():
        problems.append(f"Attach at most {policy.upload_max_files()} documents.")
    checked: list[_CheckedDocument] = []
    for index, document in enumerate(data.documents):
        try:
            inspected = file_inspect(document.upload, allowed=LEGAL_DOCUMENT_TYPES)
        except ValidationError as error:
            problems.extend(error.messages)
            continue
        if document.document_type not in CaseDocument.DocumentType.values:
            problems.append(f"“{inspected.original_name}”: choose the type of the document.")
        if document.translation_of is not None:
            if (not 0 <= document.translation_of < len(data.documents) or document.translation_of == index
                    or data.documents[document.translation_of].translation_of is not None):
                problems.append(f"“{inspected.original_name}” is marked as a translation of a document that is not "
                                "attached (or is itself a translation).")
            if not document.translator_certification.strip():
                problems.append(f"“{inspected.original_name}”: a certified translation needs the translator's "
                                "certification (name, qualification, statement that it is accurate).")
        language = detect_document(document.upload, inspected.content_type)
        checked.append(_CheckedDocument(index, document, inspected, language, language_status_of(language)))
    if not any(item.source.translation_of is None for item in checked) and not problems:
        problems.append("Attach the legal process (warrant, order, letter) on which the request rests.")
    translated = {item.source.translation_of for item in checked if item.source.translation_of is not None}
    for item in checked:
        if item.status != LanguageStatus.NOT_ENGLISH:
            continue
        name = item.inspected.original_name
        if item.source.translation_of is not None:
            problems.append(f"“{name}” is marked as the English translation but reads as "
                            f"{language_name(item.language.language)}. Attach the English translation.")
        elif item.position not in translated:
            problems.append(f"“{name}” is in {language_name(item.language.language)} and has no certified English "
                            "translation attached. Attach the translation and mark it as the translation of this "
                            "document (R4).")
    if problems:
        errors.setdefault("documents", []).extend(problems)
    return checked


def case_submit(*, user: User, data: CaseInput, actor: Actor, now: datetime) -> Case:
    """R1, R4, R8: take one legal request from an approved officer with current access.

    Steps: return the existing case if this submission key was already used; check the officer;
    check the type's fields, the identifiers, the language of the text and of every document
    (a non-English document needs its certified translation; a scan is flagged for a manual check);
    then, in one transaction, create the case, subjects and documents, grant the officer and the
    agency's supervisors their permissions, audit, and queue the e-mails.
    """
    existing = Case.objects.filter(submitted_by=user, submission_key=data.submission_key).first()
    if existing is not None:
        return existing
    officer = Officer.objects.select_related("agency").filter(user=user).first()
    if officer is None or not user.is_active or not officer.is_access_current(now):
        raise ActionRefused("Only an approved officer with current access can send requests (R1).")
    if data.request_type not in RequestType.values:
        raise ValidationError({"request_type": "Choose the kind of request."})

    errors: dict[str, list[str]] = {}
    if not data.title.strip():
        errors["title"] = ["Give the request a short title."]
    for name, limit in (("title", 200), ("case_reference", 120)):
        if len(getattr(data, name).strip()) > limit:
            errors.setdefault(name, []).append(f"At most {limit} characters, please.")
    for document in data.documents:
        if len(document.issuing_authority.strip()) > 200 or len(document.document_reference.strip()) > 120:
            errors.setdefault("documents", []).append(
                f"“{display_name(document.upload.name or '')}”: the issuing authority has at most 200 characters and "
                "the reference 120.")
    extends = _check_type_fields(data, officer=officer, now=now, errors=errors)
    text_language = detect_text(data.request_text)
    if not text_language.has_text:
        errors.setdefault("request_text", []).append(
            "Describe the request in English in at least a few sentences: the facts, the legal basis, what you need.")
    elif language_status_of(text_language) == LanguageStatus.NOT_ENGLISH:
        errors.setdefault("request_text", []).append(
            f"The request must be written in English (R4); this text reads as {language_name(text_language.language)}.")

    # Each subject keeps what the officer wrote (shown back to them) beside its normalized form (for matching).
    subjects: list[tuple[str, NormalizedIdentifier]] = []
    if not data.identifiers:
        errors.setdefault("identifiers", []).append("Give at least one subject: a UID, e-mail, phone, wallet or transaction.")
    # R8: a further order extends the freeze it continues: it keeps what that freeze covers, and the exchange
    # is told of nothing else, so it cannot name a subject the order it names does not (whether that freeze
    # has started, is in force or has ended when the further order comes: that is known only at activation).
    further_order_of = extends if data.request_type == RequestType.FREEZE else None
    frozen = set(further_order_of.subjects.values_list("kind", "normalized")) if further_order_of else set()
    for row, identifier in enumerate(data.identifiers, start=1):
        try:
            subject = identifier_normalize(kind=identifier.kind, value=identifier.value, chain=identifier.chain)
        except ValidationError as error:
            errors.setdefault("identifiers", []).append(f"Subject {row}: {' '.join(error.messages)}")
            continue
        if further_order_of is not None and (subject.kind, subject.normalized) not in frozen:
            errors.setdefault("identifiers", []).append(
                f"Subject {row}: “{identifier.value.strip()}” is not covered by {further_order_of.reference}, "
                "whose freeze this further order continues; a further order extends a freeze and cannot add to it. "
                "Send a new freeze request for this subject.")
            continue
        subjects.append((identifier.value.strip(), subject))
    checked = _check_documents(data, errors)
    if errors:
        raise ValidationError(errors)

    try:
        with files_kept_only_if_committed(), transaction.atomic():
            case = _case_create(user=user, officer=officer, data=data, extends=extends, text_language=text_language,
                                subjects=subjects, checked=checked, actor=actor, now=now)
    except IntegrityError:
        # The same submission raced in from a second click: the first one made the case.
        existing = Case.objects.filter(submitted_by=user, submission_key=data.submission_key).first()
        if existing is None:
            raise
        return existing
    return case


def _hold_locked_for_extension(preservation: Case, *, now: datetime) -> None:
    """R7: the hold an extension keeps is checked again under its lock, in the transaction that files the extension.

    The check before the documents were read is seconds old: the minute's sweep may have lapsed the hold since.
    Locked, the hold is skipped by the sweep (`SKIP LOCKED`) until the extension is committed, and the next sweep
    sees it pending: the hold stays in force. If the sweep lapsed it first, the officer is told, not answered with a
    case that keeps nothing."""
    clocks.case_clock_lock(preservation)
    problem = clocks.hold_extension_problem(preservation=preservation, now=now)
    if problem:
        raise ValidationError({"extends_case_reference": [problem]})


def _case_create(*, user: User, officer: Officer, data: CaseInput, extends: Case | None, text_language: LanguageResult,
                 subjects: list[tuple[str, NormalizedIdentifier]], checked: list[_CheckedDocument], actor: Actor,
                 now: datetime) -> Case:
    if data.request_type == RequestType.PRESERVATION_EXTENSION and extends is not None:
        _hold_locked_for_extension(extends, now=now)
    case = Case.objects.create(
        # A unique placeholder until the primary key gives the reference. Not derived from the submission
        # key: that one is unique per officer only, and may be longer than the reference column.
        reference=f"pending-{uuid.uuid4().hex}",
        request_type=data.request_type,
        officer=officer,
        agency=officer.agency,
        submitted_by=user,
        submission_key=data.submission_key,
        submitted_at=now,
        title=data.title.strip(),
        request_text=data.request_text.strip(),
        text_language=text_language.language,
        text_language_confidence=text_language.confidence,
        case_reference=data.case_reference.strip(),
        data_requested=data.data_requested.strip() if data.request_type == RequestType.USER_INFORMATION else "",
        period_from=data.period_from if data.request_type == RequestType.USER_INFORMATION else None,
        period_to=data.period_to if data.request_type == RequestType.USER_INFORMATION else None,
        has_non_disclosure_instruction=(
            data.has_non_disclosure_instruction if data.request_type == RequestType.USER_INFORMATION else None
        ),
        non_disclosure_until=(
            data.non_disclosure_until
            if data.request_type == RequestType.USER_INFORMATION and data.has_non_disclosure_instruction else None
        ),
        extends_case=extends if data.request_type in (
            RequestType.PRESERVATION_EXTENSION, RequestType.FREEZE, RequestType.ASSET_RECOVERY) else None,
        freeze_duration_days=data.freeze_duration_days if data.request_type == RequestType.FREEZE else None,
        assets_description=data.assets_description.strip() if data.request_type == RequestType.ASSET_RECOVERY else "",
    )
    case.reference = f"LEORS-{now.year}-{case.pk:06d}"
    case.save(update_fields=["reference"])
    for entered, subject in subjects:
        SubjectIdentifier.objects.get_or_create(
            case=case, kind=subject.kind, normalized=subject.normalized,
            defaults={"chain": subject.chain, "value": entered},
        )
    created: dict[int, CaseDocument] = {}
    # Originals first, so that each translation can point at its original.
    for item in sorted(checked, key=lambda entry: entry.source.translation_of is not None):
        original = created.get(item.source.translation_of) if item.source.translation_of is not None else None
        created[item.position] = CaseDocument.objects.create(
            case=case,
            role=CaseDocument.Role.TRANSLATION if original else CaseDocument.Role.LEGAL_PROCESS,
            document_type=item.source.document_type,
            issuing_authority=item.source.issuing_authority.strip(),
            issued_on=item.source.issued_on,
            document_reference=item.source.document_reference.strip(),
            translation_of=original,
            translator_certification=item.source.translator_certification.strip() if original else "",
            file=file_store(item.source.upload, inspected=item.inspected, folder=f"cases/{case.pk}"),
            original_name=item.inspected.original_name,
            content_type=item.inspected.content_type,
            size=item.inspected.size,
            sha256=item.inspected.sha256,
            uploaded_at=now,
            uploaded_by=user,
            language_status=item.status,
            language=item.language.language,
            language_confidence=item.language.confidence,
        )
    if case.request_type == RequestType.PRESERVATION:
        from cases.services.clocks import hold_start

        hold_start(case=case, actor=actor, now=now)  # R7: preservation starts at receipt
    for perm in OFFICER_CASE_PERMISSIONS:
        assign_perm(f"cases.{perm}", user, case)
    # An agency supervisor sees every case of their own agency, through their agency's group.
    assign_perm("cases.view_case", agency_supervisors_group(officer.agency), case)
    audit_record(actor=actor, action="case.submitted", obj=case, now=now, changes={
        "request_type": case.request_type,
        "agency": officer.agency_id,
        "subjects": [f"{s.kind}:{s.normalized}" for _, s in subjects],
        "documents": [{"name": d.original_name, "sha256": d.sha256, "language": d.language,
                       "language_status": d.language_status} for d in created.values()],
        "text_language": case.text_language,
    })
    if case.request_type == RequestType.FREEZE and extends is not None:
        # R8: resolved under the audit trail's lock, which an activation holds until it commits. An activation
        # that starts a freeze of its own has committed before (and is seen here), or re-points this order
        # after its own commit, when this one is on file.
        case.continues_freeze_of = clocks.freeze_case_continued(extends)
        case.save(update_fields=["continues_freeze_of"])
    email_enqueue(key=f"case-received:{case.pk}", to=user.email, template="case_received",
                  reference=case.reference, link_path=officer_case_path(case), now=now)
    for lead in legal_leads():
        email_enqueue(key=f"case-new:{case.pk}:{lead.pk}", to=lead.email, template="staff_case_submitted",
                      reference=case.reference, link_path=staff_case_path(case), now=now)
    return case
