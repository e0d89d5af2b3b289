"""The outbox (DESIGN.md, architecture) and the references printed in every e-mail (R12).

`email_enqueue` writes the message in the caller's transaction and asks for delivery on commit;
if the broker is down, the minute sweep `outbox_deliver_due` delivers it later. Delivery locks the
row, so concurrent workers never send one message twice.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string

from leors import policy
from leors.core.models import IssuedReference, OutboxMessage

logger = logging.getLogger(__name__)

# No 0/O, 1/I/L: codes are read aloud on the phone and typed by hand.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def _code_digest(code: str) -> str:
    normalized = code.strip().upper().replace("-", "").replace(" ", "")
    return hmac.new(settings.SECRET_KEY.encode(), normalized.encode(), hashlib.sha256).hexdigest()


def reference_issue(*, reference: str, purpose: str, now: datetime) -> str:
    """Record a fresh verification code for `reference`; return it formatted as XXXX-XXXX."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
    IssuedReference.objects.create(
        reference=reference, code_digest=_code_digest(raw), purpose=purpose, issued_at=now
    )
    return f"{raw[:4]}-{raw[4:]}"


def reference_check(*, reference: str, code: str) -> IssuedReference | None:
    """R12: the issued record for this reference and code, or None if LEORS never issued them."""
    return (
        IssuedReference.objects.filter(reference=reference.strip().upper(), code_digest=_code_digest(code))
        .order_by("-issued_at")
        .first()
    )


def portal_url(path: str) -> str:
    return f"{settings.LEORS_SITE_URL}{path}"


def email_enqueue(
    *,
    key: str,
    to: str,
    template: str,
    reference: str,
    link_path: str,
    now: datetime,
) -> OutboxMessage:
    """Queue an e-mail that carries only a reference, a portal link and a verification code (R12).

    `template` names `templates/emails/<template>_subject.txt` and `<template>.txt`; they receive
    no case or application content. `key` makes the enqueue idempotent for its cause.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("email_enqueue must run inside the transaction of the change that causes it")
    existing = OutboxMessage.objects.filter(key=key).first()
    if existing is not None:
        return existing
    code = reference_issue(reference=reference, purpose=template, now=now)
    context = {
        "reference": reference,
        "link": portal_url(link_path),
        "code": code,
        "verify_link": portal_url("/verify/"),
        "never_ask_notice": policy.NEVER_ASK_NOTICE,
    }
    subject = render_to_string(f"emails/{template}_subject.txt", context).strip()
    body = render_to_string(f"emails/{template}.txt", context)
    return outbox_email_write(key=key, to=to, subject=subject, body=body, now=now)


def outbox_email_write(*, key: str, to: str, subject: str, body: str, now: datetime) -> OutboxMessage:
    """Write an already rendered e-mail to the outbox (idempotent by key); deliver after commit."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("outbox_email_write must run inside the transaction of the change that causes it")
    message, created = OutboxMessage.objects.get_or_create(
        key=key,
        defaults={
            "channel": OutboxMessage.Channel.EMAIL,
            "recipient": to,
            "subject": " ".join(subject.split())[:200],
            "body": body,
            "created_at": now,
            "next_attempt_at": now,
        },
    )
    if created:
        transaction.on_commit(lambda: schedule_delivery(message.pk))
    return message


def schedule_delivery(message_id: int) -> None:
    from leors.core.tasks import outbox_deliver

    try:
        outbox_deliver.delay(message_id)
    except Exception:  # broker down: the minute sweep delivers it; nothing is lost
        logger.warning("Broker unavailable; outbox message %s left for the sweep", message_id, exc_info=True)


def _send(message: OutboxMessage) -> None:
    if message.channel == OutboxMessage.Channel.EMAIL:
        EmailMessage(
            subject=message.subject,
            body=message.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[message.recipient],
            # A stable Message-ID: if a crash makes us send a message again, mail systems see a duplicate.
            headers={"X-LEORS-Outbox-Key": message.key,
                     "Message-ID": f"<{hashlib.sha256(message.key.encode()).hexdigest()[:40]}@leors.outbox>"},
        ).send(fail_silently=False)
    else:
        from leors.core.webhooks import webhook_send

        webhook_send(message)


def outbox_deliver(*, message_id: int, now: datetime) -> bool:
    """Send one due message. Returns True when it was sent by this call.

    The row is locked (`skip_locked`) for the duration of the send: a second worker skips it
    rather than sending it again. A failure is recorded and retried later with backoff.
    """
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(pk=message_id, status=OutboxMessage.Status.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if message is None:
            return False
        message.attempts += 1
        try:
            _send(message)
        except Exception as error:
            message.last_error = f"{type(error).__name__}: {error}"[:2000]
            if message.attempts >= policy.outbox_max_attempts():
                message.status = OutboxMessage.Status.FAILED
            message.next_attempt_at = now + policy.outbox_retry_delay(message.attempts)
            message.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
            logger.warning("Outbox message %s failed (attempt %s): %s", message.pk, message.attempts, error)
            return False
        message.status = OutboxMessage.Status.SENT
        message.sent_at = now
        message.last_error = ""
        message.save(update_fields=["attempts", "status", "sent_at", "last_error"])
        return True


def outbox_deliver_due(*, now: datetime, batch_size: int = 200) -> int:
    """The sweep: deliver every pending message whose time has come. Safe to run concurrently."""
    sent = 0
    due_ids = list(
        OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    for message_id in due_ids:
        sent += outbox_deliver(message_id=message_id, now=now)
    return sent

