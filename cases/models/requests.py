"""Legal requests ("cases"), their documents, subjects, messages and productions (R4-R6, R10, R11)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from django.db import models
from django.db.models import Case as SqlCase
from django.db.models import F, Q, Value, When
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from leors.access.models import Agency, Officer, User
from leors.core.files import private_storage


class RequestType(models.TextChoices):
    USER_INFORMATION = "user_information", "User information"
    PRESERVATION = "preservation", "Preservation of data"
    PRESERVATION_EXTENSION = "preservation_extension", "Extension of a preservation"
    FREEZE = "freeze", "Freeze of an account"
    ASSET_RECOVERY = "asset_recovery", "Return of assets"


class Case(models.Model):
    """One legal request, from submission to closure."""

    class Status(models.TextChoices):
        SUBMITTED = "submitted", "Submitted"
        IN_REVIEW = "in_review", "In review"
        INFORMATION_REQUESTED = "information_requested", "More information requested"
        ACCEPTED = "accepted", "Accepted"
        PARTLY_ACCEPTED = "partly_accepted", "Partly accepted"
        DECLINED = "declined", "Declined"
        FULFILLED = "fulfilled", "Fulfilled"
        CLOSED = "closed", "Closed"
        WITHDRAWN = "withdrawn", "Withdrawn"

    OPEN_STATUSES = (Status.SUBMITTED, Status.IN_REVIEW, Status.INFORMATION_REQUESTED)
    DECIDED_STATUSES = (Status.ACCEPTED, Status.PARTLY_ACCEPTED, Status.DECLINED)
    ACCEPTED_STATUSES = (Status.ACCEPTED, Status.PARTLY_ACCEPTED)
    WITHDRAWABLE_STATUSES = (Status.SUBMITTED, Status.IN_REVIEW, Status.INFORMATION_REQUESTED)

    class Decision(models.TextChoices):
        ACCEPT = "accepted", "Accept"
        PARTLY_ACCEPT = "partly_accepted", "Accept in part"
        DECLINE = "declined", "Decline"

    class NotificationDecision(models.TextChoices):
        """R6: what happens about telling the user before disclosure."""

        NOTIFIED = "notified", "The user was notified"
        WITHHELD = "withheld", "Withheld under the non-disclosure instruction"
        WAIVED = "waived", "Notification waived"

    reference = models.CharField(max_length=40, unique=True)
    request_type = models.CharField(max_length=30, choices=RequestType.choices)
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.SUBMITTED)
    officer = models.ForeignKey(Officer, on_delete=models.PROTECT, related_name="cases")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="cases")
    submitted_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="submitted_cases")
    submission_key = models.CharField(max_length=64, help_text="Makes a repeated post create one case.")
    assigned_to = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField(db_index=True)

    # The request itself (R4: its language is checked at intake).
    title = models.CharField(max_length=200)
    request_text = models.TextField()
    text_language = models.CharField(max_length=12, blank=True)
    text_language_confidence = models.FloatField(null=True, blank=True)
    case_reference = models.CharField("your reference", max_length=120, blank=True,
                                      help_text="Your agency's own case or investigation number.")

    # User information (R5, R6).
    data_requested = models.TextField(blank=True)
    period_from = models.DateField(null=True, blank=True)
    period_to = models.DateField(null=True, blank=True)
    has_non_disclosure_instruction = models.BooleanField(null=True, blank=True)
    non_disclosure_until = models.DateField(null=True, blank=True)
    # Preservation extension: the preservation case it extends. Freeze (a further order) and asset
    # recovery: the freeze request the officer named.
    extends_case = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="extensions")
    # Further order (R8): the freeze request whose freeze it continues — the one named, or, when that is a
    # further order with no freeze of its own, the one that continues (cases.services.clocks.
    # freeze_case_continued). Kept up to date by the services, read by `pending_further_order`; never shown
    # to officers, who see what they named. Indexed (partial) by case_continues_freeze_idx.
    continues_freeze_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT,
                                            related_name="+", db_index=False)
    # Freeze (R8): the duration the order states, required at intake.
    freeze_duration_days = models.PositiveIntegerField(null=True, blank=True)
    # Asset recovery (R9): what is to be returned.
    assets_description = models.TextField(blank=True)

    # Review (R10): checklist, decision, reasons the officer reads.
    check_issuing_authority = models.BooleanField(default=False)
    check_jurisdiction = models.BooleanField(default=False)
    check_signature_or_seal = models.BooleanField(default=False)
    check_dates = models.BooleanField(default=False)
    check_subject_identifiers = models.BooleanField(default=False)
    check_scope = models.BooleanField(default=False)
    checklist_notes = models.TextField(blank=True)
    checklist_updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    checklist_updated_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reasons = models.TextField(blank=True)

    # R6: the notification decision, recorded before any production is released.
    notification_decision = models.CharField(max_length=10, choices=NotificationDecision.choices, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    notification_waiver_reason = models.TextField(blank=True)
    notification_decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    notification_decided_at = models.DateTimeField(null=True, blank=True)

    closed_at = models.DateTimeField(null=True, blank=True)

    # R3: while on hold (its officer was suspended on suspicion of impersonation) nothing is
    # accepted, frozen, released or returned; a legal lead reviews it and lifts the hold.
    on_hold_at = models.DateTimeField(null=True, blank=True, db_index=True)
    on_hold_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        permissions = [
            ("respond_case", "Can answer, message and withdraw a case as its officer"),
            ("share_case", "Can share a case with a colleague of the same agency"),
            ("review_case", "Can review an assigned case"),
            ("assign_case", "Can assign cases to reviewers"),
            ("view_all_cases", "Can see every case"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["submitted_by", "submission_key"], name="case_submission_once"),
        ]
        indexes = [
            models.Index(fields=["status", "submitted_at"], name="case_queue_idx"),
            models.Index(fields=["agency", "submitted_at"], name="case_agency_idx"),
            models.Index(fields=["continues_freeze_of"], name="case_continues_freeze_idx",
                         condition=Q(continues_freeze_of__isnull=False)),
            # The staff queue's order (open cases first, oldest first), matching its annotation
            # exactly so that PostgreSQL reads it from the index instead of sorting every case.
            models.Index(
                SqlCase(When(status__in=["submitted", "in_review", "information_requested"], then=Value(0)),
                        default=Value(1), output_field=models.IntegerField()),
                F("submitted_at"), F("id"), name="case_staff_queue_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @property
    def is_checklist_complete(self) -> bool:
        return all(getattr(self, field) for field in CHECKLIST_FIELDS)

    def is_non_disclosure_in_force(self, now: datetime) -> bool:
        """Through the instruction's last day, until that day has ended everywhere (`non_disclosure_in_force`)."""
        return bool(self.has_non_disclosure_instruction) and non_disclosure_in_force(self.non_disclosure_until, now)


# The last time zone in which a day ends (anywhere on Earth, UTC-12).
LAST_ZONE = timezone(timedelta(hours=-12))


def non_disclosure_in_force(until: date | None, now: datetime) -> bool:
    """R6: a non-disclosure instruction with no end date is in force; one with a last day is in force until that day
    has ended everywhere. The order's day is its own, in a zone LEORS does not know: counted in UTC, an order of the
    Americas would allow notifying the user hours before its last day ended where it was issued."""
    if until is None or until >= date.max:
        return True
    return now < datetime.combine(until + timedelta(days=1), time(0), tzinfo=LAST_ZONE)


CHECKLIST_FIELDS = (
    "check_issuing_authority",
    "check_jurisdiction",
    "check_signature_or_seal",
    "check_dates",
    "check_subject_identifiers",
    "check_scope",
)


class CaseUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Case, on_delete=models.CASCADE)


class CaseGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Case, on_delete=models.CASCADE)


class SubjectIdentifier(models.Model):
    """Someone or something the request is about, normalized to find related cases."""

    class Kind(models.TextChoices):
        UID = "uid", "Exchange UID"
        EMAIL = "email", "E-mail address"
        PHONE = "phone", "Phone number"
        WALLET = "wallet", "Wallet address"
        TX_HASH = "tx_hash", "Transaction hash"

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="subjects")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    chain = models.CharField(max_length=12, blank=True)
    value = models.CharField(max_length=200, help_text="As the officer entered it.")
    normalized = models.CharField(max_length=200)

    class Meta:
        indexes = [models.Index(fields=["kind", "normalized"], name="subject_lookup_idx")]
        constraints = [models.UniqueConstraint(fields=["case", "kind", "normalized"], name="subject_once_per_case")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.value}"


def _document_path(instance: CaseDocument, filename: str) -> str:
    return filename  # the service picks a generated name (leors.core.files.file_store)


class CaseDocument(models.Model):
    """A document on a case: legal process, a certified translation, or a message attachment.

    Stored privately, never altered or deleted. R4: the language of its text is recorded at intake.
    """

    class Role(models.TextChoices):
        LEGAL_PROCESS = "legal_process", "Legal process"
        TRANSLATION = "translation", "Certified English translation"
        ATTACHMENT = "attachment", "Attachment to a message"

    class DocumentType(models.TextChoices):
        WARRANT = "warrant", "Warrant"
        COURT_ORDER = "court_order", "Court order"
        SUBPOENA = "subpoena", "Subpoena"
        LOCAL_EQUIVALENT = "local_equivalent", "Local equivalent of a warrant or order"
        PRESERVATION_LETTER = "preservation_letter", "Preservation letter"
        FREEZE_ORDER = "freeze_order", "Freeze order"
        OTHER = "other", "Other"

    # R5: the types that can compel disclosure of user information.
    COMPELLING_TYPES = (DocumentType.WARRANT, DocumentType.COURT_ORDER, DocumentType.LOCAL_EQUIVALENT)

    class LanguageStatus(models.TextChoices):
        ENGLISH = "english", "English"
        NOT_ENGLISH = "not_english", "Not English"
        NO_TEXT = "no_text", "No text layer: manual check needed"
        UNCERTAIN = "uncertain", "Language uncertain: manual check needed"

    # R4: a person must look at these: no readable text, or a detector that is not sure.
    MANUAL_CHECK_STATUSES = (LanguageStatus.NO_TEXT, LanguageStatus.UNCERTAIN)

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="documents")
    role = models.CharField(max_length=20, choices=Role.choices)
    document_type = models.CharField(max_length=30, choices=DocumentType.choices, blank=True)
    issuing_authority = models.CharField(max_length=200, blank=True)
    issued_on = models.DateField(null=True, blank=True)
    document_reference = models.CharField(max_length=120, blank=True)
    translation_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="translations")
    translator_certification = models.TextField(blank=True)
    message = models.ForeignKey("CaseMessage", null=True, blank=True, on_delete=models.PROTECT, related_name="attachments")

    file = models.FileField(storage=private_storage, upload_to=_document_path, max_length=200)
    original_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_at = models.DateTimeField()
    uploaded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    language_status = models.CharField(max_length=12, choices=LanguageStatus.choices)
    language = models.CharField(max_length=12, blank=True)
    language_confidence = models.FloatField(null=True, blank=True)
    language_cleared_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    language_cleared_at = models.DateTimeField(null=True, blank=True)
    language_cleared_as = models.CharField(max_length=12, choices=LanguageStatus.choices, blank=True)
    language_override_reason = models.TextField(blank=True)

    verified_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["uploaded_at", "id"]
        indexes = [
            # R4: the few documents awaiting a person's language check, found without a scan.
            models.Index(fields=["case"], name="document_language_check_idx",
                         condition=models.Q(language_status__in=["no_text", "uncertain"],
                                            language_cleared_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return self.original_name

    @property
    def needs_manual_language_check(self) -> bool:
        """R4: a scan (no text) must be checked by a reviewer before the case can be accepted."""
        return self.language_status in self.MANUAL_CHECK_STATUSES and self.language_cleared_at is None

    @property
    def effective_language_status(self) -> str:
        return self.language_cleared_as or self.language_status


class CaseMessage(models.Model):
    """A message on a case. Internal notes are for staff only and never shown to the officer."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="messages")
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    is_internal = models.BooleanField(default=False)
    is_question = models.BooleanField(default=False, help_text="A request for more information that pauses the case.")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Message on {self.case_id} by {self.author_id}"


class Production(models.Model):
    """A file the legal team produces in answer to a case; released to the officer after R6 and R10."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="productions")
    file = models.FileField(storage=private_storage, upload_to=_document_path, max_length=200)
    original_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    description = models.CharField(max_length=300, blank=True)
    uploaded_at = models.DateTimeField()
    uploaded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    available_until = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.original_name

    def is_available(self, now: datetime) -> bool:
        """Released and not past its download window (derived: right even with no sweep)."""
        return self.released_at is not None and self.available_until is not None and now < self.available_until
