"""Agencies, accounts, access applications and officers (R1-R3)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django_countries.fields import CountryField
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from leors.core.files import private_storage


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An e-mail address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password) if password else user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)


class User(AbstractUser):
    """Every person who signs in: applicants, officers and staff. The e-mail is the login."""

    username = None  # type: ignore[assignment]
    email = models.EmailField("e-mail address", unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", help_text="Times are shown in this zone.")
    may_contact_agencies = models.BooleanField(
        default=False, help_text="R12: a member of the legal team whose name /verify/ confirms to agencies.")

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []  # type: ignore[misc]

    objects = UserManager()  # type: ignore[misc,assignment]

    def __str__(self) -> str:
        return self.full_name or self.email


class BodyKind(models.TextChoices):
    """R1: the kinds of body that may apply. Private parties are not among them."""

    POLICE = "police", "Police or law-enforcement agency"
    PROSECUTOR = "prosecutor", "Prosecutor's office"
    COURT = "court", "Court or judicial body"
    REGULATOR = "regulator", "Regulator or supervisory authority"
    OTHER_GOVERNMENTAL = "other_governmental", "Other governmental body"


class Agency(models.Model):
    """A governmental or judicial body whose officers use LEORS."""

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=30, choices=BodyKind.choices)
    country = CountryField()
    jurisdiction = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "agencies"
        # One agency per name and country, whatever the case ("Metropolitan Police" and "METROPOLITAN
        # POLICE" are one body): the comparison services.agency_named looks an agency up by.
        constraints = [models.UniqueConstraint(Lower("name"), "country", name="agency_unique_name_per_country")]

    def __str__(self) -> str:
        return f"{self.name} ({self.country})"


class AgencyDomain(models.Model):
    """An e-mail domain confirmed by a vetter as belonging to an agency."""

    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="domains")
    domain = models.CharField(max_length=253)
    confirmed_at = models.DateTimeField()
    confirmed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agency", "domain"], name="agency_domain_unique")]
        indexes = [models.Index(fields=["domain"], name="agency_domain_idx")]

    def __str__(self) -> str:
        return self.domain


class AccessApplication(models.Model):
    """An application for access to LEORS, from submission to decision (R1, R2, R3)."""

    class Status(models.TextChoices):
        EMAIL_UNVERIFIED = "email_unverified", "Awaiting e-mail verification"
        SUBMITTED = "submitted", "Awaiting review"
        INFORMATION_REQUESTED = "information_requested", "More information requested"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"

    OPEN_STATUSES = (Status.SUBMITTED, Status.INFORMATION_REQUESTED)
    WITHDRAWABLE_STATUSES = (Status.EMAIL_UNVERIFIED, Status.SUBMITTED, Status.INFORMATION_REQUESTED)

    class ConfirmationMethod(models.TextChoices):
        PHONE = "phone", "Telephone call"
        EMAIL = "email", "E-mail to an independently found address"
        VIDEO = "video", "Video call"
        IN_PERSON = "in_person", "In person"
        LETTER = "letter", "Official letter"

    reference = models.CharField(max_length=40, unique=True)
    applicant = models.ForeignKey(User, on_delete=models.PROTECT, related_name="applications")
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.EMAIL_UNVERIFIED)

    body_name = models.CharField("name of the body", max_length=200)
    body_kind = models.CharField("kind of body", max_length=30, choices=BodyKind.choices)
    country = CountryField()
    jurisdiction = models.CharField(max_length=200)
    applicant_name = models.CharField("your full name", max_length=200)
    rank_title = models.CharField("rank or title", max_length=120)
    official_email = models.EmailField("official e-mail")
    phone = models.CharField(max_length=40)
    supervisor_name = models.CharField("supervisor's name", max_length=200)
    supervisor_email = models.EmailField("supervisor's e-mail")
    agency = models.ForeignKey(
        Agency, null=True, blank=True, on_delete=models.PROTECT, related_name="applications",
        help_text="The known agency this application names, matched by country and name.",
    )

    # R3: the undertaking as accepted.
    undertaking_version = models.CharField(max_length=20)
    undertaking_accepted_at = models.DateTimeField()
    undertaking_ip = models.GenericIPAddressField(null=True, blank=True)

    created_at = models.DateTimeField()
    email_verified_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True, help_text="When it reached the review queue.")
    # R2: the review window, the 15th to the 20th business day after submission.
    review_window_opens_at = models.DateTimeField(null=True, blank=True, db_index=True)
    review_due_at = models.DateTimeField(null=True, blank=True, db_index=True)

    assigned_to = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    # The vetting checklist.
    check_body_exists = models.BooleanField(default=False)
    check_domain_belongs = models.BooleanField(default=False)
    supervisor_confirmed_with = models.CharField(
        "supervisor confirmed with (who)", max_length=200, blank=True
    )
    supervisor_confirmation_method = models.CharField(
        "how", max_length=20, choices=ConfirmationMethod.choices, blank=True
    )
    supervisor_contact_source = models.CharField(
        "where the contact was found", max_length=300, blank=True,
        help_text="The independent source of the contact (never one the applicant supplied).",
    )
    supervisor_confirmed_at = models.DateTimeField("when", null=True, blank=True)
    checklist_updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    checklist_updated_at = models.DateTimeField(null=True, blank=True)

    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decision_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["review_due_at", "id"]
        permissions = [
            ("vet_accessapplication", "Can vet an access application"),
            ("decide_accessapplication", "Can approve or reject an access application"),
            ("assign_accessapplication", "Can assign an access application to a vetter"),
            ("respond_accessapplication", "Can answer and withdraw an own access application"),
            ("view_all_accessapplications", "Can see every access application"),
        ]
        indexes = [models.Index(fields=["status", "review_due_at"], name="application_queue_idx")]

    def __str__(self) -> str:
        return self.reference

    @property
    def email_domain(self) -> str:
        return self.official_email.rsplit("@", 1)[-1].lower()

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    def is_due_soon(self, now: datetime) -> bool:
        """R2: inside the review window (from the 15th business day) and not yet overdue."""
        return (
            self.is_open
            and self.review_window_opens_at is not None
            and self.review_due_at is not None
            and self.review_window_opens_at <= now < self.review_due_at
        )

    def is_overdue(self, now: datetime) -> bool:
        """R2: still open after the end of the 20th business day."""
        return self.is_open and self.review_due_at is not None and now >= self.review_due_at

    @property
    def review_window_first_day(self) -> date | None:
        """The 15th business day, on the operator's calendar."""
        from leors.core.business_days import business_date

        return business_date(self.review_window_opens_at) if self.review_window_opens_at else None

    @property
    def review_window_last_day(self) -> date | None:
        """The 20th business day itself (review_due_at is the first moment after it)."""
        from leors.core.business_days import business_date

        return business_date(self.review_due_at - timedelta(microseconds=1)) if self.review_due_at else None

    @property
    def is_checklist_complete(self) -> bool:
        return bool(
            self.check_body_exists
            and self.check_domain_belongs
            and self.supervisor_confirmed_with
            and self.supervisor_confirmation_method
            and self.supervisor_contact_source
            and self.supervisor_confirmed_at
        )


class AccessApplicationUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(AccessApplication, on_delete=models.CASCADE)


class AccessApplicationGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(AccessApplication, on_delete=models.CASCADE)


def _application_document_path(instance: ApplicationDocument, filename: str) -> str:
    return filename  # the service chooses a generated name; see leors.core.files.file_store


class ApplicationDocument(models.Model):
    """Proof of authority attached to an application. Never altered or deleted."""

    application = models.ForeignKey(AccessApplication, on_delete=models.PROTECT, related_name="documents")
    file = models.FileField(storage=private_storage, upload_to=_application_document_path, max_length=200)
    original_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.original_name


class ApplicationMessage(models.Model):
    """A question from the vetter or an answer from the applicant."""

    class Kind(models.TextChoices):
        QUESTION = "question", "Question from LEORS"
        ANSWER = "answer", "Answer from the applicant"

    application = models.ForeignKey(AccessApplication, on_delete=models.PROTECT, related_name="messages")
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    body = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.application_id}"


class Officer(models.Model):
    """An approved applicant: a person in an agency who may use the officer portal."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"

    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="officer")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="officers")
    application = models.ForeignKey(AccessApplication, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    rank_title = models.CharField(max_length=120, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    is_supervisor = models.BooleanField(default=False)
    approved_at = models.DateTimeField()
    access_expires_at = models.DateTimeField(db_index=True)
    suspended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [
            ("suspend_officer", "Can suspend an officer for suspected impersonation"),
            ("renew_officer", "Can renew an officer's access after re-verification"),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.agency}"

    def is_access_current(self, now: datetime) -> bool:
        """Active and not past the re-verification date (derived, so right without any sweep)."""
        return self.status == self.Status.ACTIVE and now < self.access_expires_at


class ImpersonationReferral(models.Model):
    """R3: a record that an account was suspended on suspicion of impersonation and referred."""

    officer = models.ForeignKey(Officer, on_delete=models.PROTECT, related_name="referrals")
    note = models.TextField()
    referred_to = models.CharField(max_length=200, blank=True, help_text="The enforcement agency it was referred to, if any.")
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    def __str__(self) -> str:
        return f"Referral of {self.officer} on {self.created_at:%Y-%m-%d}"


class KnownDevice(models.Model):
    """A browser and network a person has signed in from. A sign-in from an unseen one is told to
    them by e-mail, with a link to report it (which suspends the account at once)."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="known_devices")
    fingerprint = models.CharField(max_length=64)
    network = models.CharField(max_length=64, help_text="The /24 (IPv4) or /48 (IPv6) network signed in from.")
    user_agent = models.CharField(max_length=300, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "fingerprint"], name="known_device_once")]

    def __str__(self) -> str:
        return f"{self.user} from {self.network}"
