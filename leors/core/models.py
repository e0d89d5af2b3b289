"""Cross-cutting records: the audit chain, the outbox and the references LEORS has issued."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """One audited action. Append-only: never updated or deleted (a PostgreSQL trigger refuses both).

    `hash` chains each event to the one before it (`prev_hash`), so removing or editing a row is
    detected by `manage.py audit_verify`, which names the first broken link.
    """

    created_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=254, help_text="Who acted, as they were known then.")
    action = models.CharField(max_length=80)
    object_type = models.CharField(max_length=80)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    changes = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["object_type", "object_id", "id"], name="audit_object_idx"),
            # The staff's audit list filtered by action or object type, newest first, and its choices.
            models.Index(fields=["action", "id"], name="audit_action_idx"),
            models.Index(fields=["object_type", "id"], name="audit_object_type_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.object_repr}"


class IssuedReference(models.Model):
    """R12: a reference and verification code LEORS put into a message it sent.

    The public /verify/ page looks a pair up here, with the address the message was sent to: a pair
    LEORS sent to someone else (a stranger can make LEORS send one to a mailbox of their own, with a
    password reset) must not vouch for a message to an officer. Only keyed digests of the code and of
    the address are stored.
    """

    reference = models.CharField(max_length=40, db_index=True)
    code_digest = models.CharField(max_length=64)
    # db_default: the release before this column, still issuing codes during a rolling deploy, names only its own
    # columns. A pair issued before it has no address, and is confirmed to no one.
    recipient_digest = models.CharField(max_length=64, blank=True, default="", db_default="")
    purpose = models.CharField(max_length=60)
    issued_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["reference", "code_digest"], name="issued_reference_unique")
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.purpose})"


class OutboxMessage(models.Model):
    """Something to send outside (e-mail now, webhooks later), written in the transaction that causes it.

    `key` is unique: the same cause can never queue the same message twice. Delivery is done by a
    task that locks the row, so two workers never send one message twice. Messages that share an
    `ordering_key` (the events of one restriction, "freeze:<id>" or "hold:<id>") are sent in the order
    they were queued: one waits while an earlier one is pending, and goes right after it (R7, R8).
    """

    class Channel(models.TextChoices):
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Webhook"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (gave up; e-mails only)"

    key = models.CharField(max_length=200, unique=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    recipient = models.CharField(max_length=500)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # db_default: the release before this column, still writing during a rolling deploy, names only its own columns.
    ordering_key = models.CharField(max_length=100, blank=True, default="", db_default="",
                                    help_text="Messages with the same key are sent in the order queued.")

    class Meta:
        # Not a partial index on the pending rows: see cases.models.clocks (generic plans).
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbox_status_due_idx"),
            # The pending messages of one ordering key, in the order queued: the one a message waits for,
            # and the one that goes right after it.
            models.Index(fields=["ordering_key", "status", "id"], name="outbox_ordering_idx"),
        ]
        permissions = [("requeue_outboxmessage", "Can queue again an e-mail given up as failed")]

    def __str__(self) -> str:
        return f"{self.channel} to {self.recipient} ({self.status})"


class SweepHeartbeat(models.Model):
    """When a scheduled sweep last finished (one row per sweep, overwritten each run): what
    /healthz/clocks reads to tell that the worker and beat, or the cron job, still run."""

    name = models.CharField(max_length=50, primary_key=True)
    finished_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} finished at {self.finished_at.isoformat()}"


class ApiToken(models.Model):
    """A machine's bearer token (the exchange platform reading its restriction feed).

    Only a SHA-256 digest is stored; the token itself is shown once, when it is created.
    """

    name = models.CharField(max_length=100, unique=True)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name
