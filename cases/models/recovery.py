"""Asset recovery (R9), four-eyes approvals, and out-of-band confirmations of single requests."""

from __future__ import annotations

from django.db import models

from leors.access.models import User
from leors.core.files import private_storage


class ConfirmationMethod(models.TextChoices):
    PHONE = "phone", "Telephone call to an independently found number"
    EMAIL = "email", "E-mail to an independently found address"
    VIDEO = "video", "Video call"
    IN_PERSON = "in_person", "In person"
    LETTER = "letter", "Official letter"


class OutOfBandConfirmation(models.Model):
    """A request confirmed with the agency through a contact the reviewer found independently
    (never one the request itself supplied): who, how, when, and where the contact came from."""

    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="out_of_band_confirmations")
    confirmed_with = models.CharField("confirmed with (who)", max_length=200)
    method = models.CharField(max_length=12, choices=ConfirmationMethod.choices)
    contact_source = models.CharField("where the contact was found", max_length=300)
    confirmed_at = models.DateTimeField("when")
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["confirmed_at", "id"]

    def __str__(self) -> str:
        return f"Confirmed with {self.confirmed_with}"


class Approval(models.Model):
    """Four-eyes: one member of the legal team asks, a different one approves, and only then is the
    action carried out. Approving is a claimed transition: fifty approvals at once make one."""

    class Action(models.TextChoices):
        FREEZE_ACTIVATE = "freeze_activate", "Activate the freeze"
        PRODUCTION_RELEASE = "production_release", "Release a production"
        RETURN_RECORD = "return_record", "Record the return of assets"

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting a second approval"
        APPROVED = "approved", "Approved and carried out"
        CANCELLED = "cancelled", "Cancelled"

    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="approvals")
    action = models.CharField(max_length=30, choices=Action.choices)
    target_id = models.PositiveBigIntegerField(null=True, blank=True, help_text="The production, for a release.")
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "action", "target_id"], name="one_pending_approval",
                                    condition=models.Q(status="pending"), nulls_distinct=False),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} on {self.case_id} ({self.status})"


class RecoveryOfficial(models.Model):
    """R9: an official who will handle the return; identity proved by an official ID document and an
    out-of-band confirmation through a contact the reviewer found independently."""

    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="recovery_officials")
    name = models.CharField(max_length=200)
    title = models.CharField(max_length=200)
    organisation = models.CharField(max_length=200)
    id_file = models.FileField(storage=private_storage, max_length=200)
    id_original_name = models.CharField(max_length=200)
    id_content_type = models.CharField(max_length=100)
    id_size = models.PositiveBigIntegerField()
    id_sha256 = models.CharField(max_length=64)
    added_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField()
    id_checked_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    id_checked_at = models.DateTimeField(null=True, blank=True)
    confirmed_with = models.CharField(max_length=200, blank=True)
    confirmation_method = models.CharField(max_length=12, choices=ConfirmationMethod.choices, blank=True)
    contact_source = models.CharField(max_length=300, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmation_recorded_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT,
                                                 related_name="+")

    class Meta:
        ordering = ["added_at", "id"]

    def __str__(self) -> str:
        return f"{self.name}, {self.title}"

    @property
    def is_verified(self) -> bool:
        return self.id_checked_at is not None and self.confirmed_at is not None


class RecoveryInstructions(models.Model):
    """R9: the written instructions given to the officer before any return, and their acknowledgement."""

    case = models.OneToOneField("cases.Case", on_delete=models.PROTECT, related_name="recovery_instructions")
    text = models.TextField()
    issued_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    issued_at = models.DateTimeField()
    acknowledged_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Instructions for {self.case_id}"


class AssetReturn(models.Model):
    """R9: the return itself, recorded after every step and approved by a second person."""

    case = models.OneToOneField("cases.Case", on_delete=models.PROTECT, related_name="asset_return")
    asset = models.CharField(max_length=20)
    amount = models.DecimalField(max_digits=38, decimal_places=18)
    destination_address = models.CharField(max_length=200)
    destination_chain = models.CharField(max_length=12)
    tx_hash = models.CharField(max_length=200)
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.amount} {self.asset} returned on {self.case_id}"
