"""The outbox (DESIGN.md, architecture) and the references printed in every e-mail (R12).

`email_enqueue` writes the message in the caller's transaction and asks for delivery on commit;
if the broker is down, the minute sweep `outbox_deliver_due` delivers it later. Delivery locks the
row, so concurrent workers never send one message twice, and renders a queued e-mail on its first
attempt, with its verification code, in a transaction committed before the send (R12).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.template.loader import get_template

from leors import policy
from leors.core.audit import Actor, AuditEntry, audit_record_many
from leors.core.bulk import rows_insert
from leors.core.models import IssuedReference, OutboxMessage

logger = logging.getLogger(__name__)

# No 0/O, 1/I/L: codes are read aloud on the phone and typed by hand.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def _keyed_digest(text: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), text.encode(), hashlib.sha256).hexdigest()


def _code_digest(code: str) -> str:
    return _keyed_digest(code.strip().upper().replace("-", "").replace(" ", ""))


def _recipient_digest(address: str) -> str:
    # Prefixed: an address and a code are never digested to the same value.
    return _keyed_digest(f"recipient:{address.strip().lower()}")


def reference_issue(*, reference: str, purpose: str, recipient: str, now: datetime) -> str:
    """Record a fresh verification code for `reference` in a message to `recipient`; return it
    formatted as XXXX-XXXX."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
    IssuedReference.objects.create(reference=reference, code_digest=_code_digest(raw),
                                   recipient_digest=_recipient_digest(recipient), purpose=purpose, issued_at=now)
    return f"{raw[:4]}-{raw[4:]}"


def reference_check(*, reference: str, code: str, recipient: str, now: datetime) -> IssuedReference | None:
    """R12: the record of this reference and code, issued in a message to `recipient` within the
    codes' validity (`policy.verification_code_valid_for`); None otherwise.

    All three must match: a genuine pair sent to anyone else, and an old one, confirm nothing."""
    return (
        IssuedReference.objects.filter(reference=reference.strip().upper(), code_digest=_code_digest(code),
                                       recipient_digest=_recipient_digest(recipient),
                                       issued_at__gte=now - policy.verification_code_valid_for())
        .order_by("-issued_at")
        .first()
    )


def portal_url(path: str) -> str:
    return f"{settings.LEORS_SITE_URL}{path}"


@dataclass(frozen=True)
class Email:
    """An e-mail to queue: only a reference, a portal link and a verification code (R12).

    `template` names `templates/emails/<template>_subject.txt` and `<template>.txt`; they receive
    no case or application content. `key` makes the enqueue idempotent for its cause.
    """

    key: str
    to: str
    template: str
    reference: str
    link_path: str


def email_enqueue(
    *,
    key: str,
    to: str,
    template: str,
    reference: str,
    link_path: str,
    now: datetime,
) -> OutboxMessage:
    """Queue one e-mail in the caller's transaction (see `Email`)."""
    return emails_enqueue([Email(key=key, to=to, template=template, reference=reference, link_path=link_path)],
                          now=now)[0]


def emails_enqueue(emails: Sequence[Email], *, now: datetime) -> list[OutboxMessage]:
    """Queue e-mails in the caller's transaction, in a few queries however many (a sweep's batch).

    Only what the e-mail is (template, reference, link) is stored; it is rendered, with a fresh
    verification code, when it is first delivered (`_email_render`), so that a sweep lifting
    thousands of freezes writes rows and nothing more. Returns the message of each e-mail, in
    order; an e-mail whose key was queued before is not queued again (its earlier message is returned).
    """
    _require_transaction("email_enqueue")
    return outbox_write([OutboxMessage(
        key=email.key, channel=OutboxMessage.Channel.EMAIL, recipient=email.to, created_at=now, next_attempt_at=now,
        payload={"template": email.template, "reference": email.reference, "link_path": email.link_path},
    ) for email in emails])


def _email_render(message: OutboxMessage, *, now: datetime) -> bool:
    """Render a queued e-mail on its first delivery attempt: a verification code is issued for its
    reference (R12) and the subject and body are kept on the row, so that a retry sends the same.
    Returns whether it was rendered now (its caller must then commit before sending it)."""
    if message.channel != OutboxMessage.Channel.EMAIL or message.body or "template" not in message.payload:
        return False  # a webhook, or rendered before (or written rendered)
    template, reference = message.payload["template"], message.payload["reference"]
    context = {
        "reference": reference,
        "link": portal_url(message.payload["link_path"]),
        "code": reference_issue(reference=reference, purpose=template, recipient=message.recipient, now=now),
        "verify_link": portal_url("/verify/"),
        "never_ask_notice": policy.NEVER_ASK_NOTICE,
    }
    subject, body = (get_template(f"emails/{template}{suffix}.txt").render(context) for suffix in ("_subject", ""))
    message.subject, message.body = _subject_line(subject), body
    message.save(update_fields=["subject", "body"])
    return True


def outbox_email_write(*, key: str, to: str, subject: str, body: str, now: datetime) -> OutboxMessage:
    """Write an already rendered e-mail to the outbox (idempotent by key); deliver after commit."""
    _require_transaction("outbox_email_write")
    return outbox_write([OutboxMessage(key=key, channel=OutboxMessage.Channel.EMAIL, recipient=to,
                                       subject=_subject_line(subject), body=body, created_at=now,
                                       next_attempt_at=now)])[0]


def _subject_line(subject: str) -> str:
    return " ".join(subject.split())[:200]


def _require_transaction(what: str) -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(f"{what} must run inside the transaction of the change that causes it")


def outbox_write(messages: Sequence[OutboxMessage]) -> list[OutboxMessage]:
    """Queue the messages whose keys were not queued before, in one COPY; deliver them after commit.

    Returns each message as stored, in order: a key queued before, or given twice, is one message
    (the one stored, which is delivered), never a second.
    """
    stored = _outbox_insert(list({message.key: message for message in messages}.values()))
    return [stored[message.key] for message in messages]


def _outbox_insert(messages: Sequence[OutboxMessage]) -> dict[str, OutboxMessage]:
    """Insert the messages whose keys are new (each key given once); return each key's message as stored.

    A batch (a sweep's) goes in one COPY at once: its keys name causes that happen once. A single
    message is looked up first, since some callers repeat a key by design (`account-exists:…`,
    `application-decided:…`). A key queued before, or by another transaction meanwhile, returns that
    message (which is delivered) instead of a second one.
    """
    stored = _stored(messages) if len(messages) == 1 else {}
    fresh = [message for message in messages if message.key not in stored]
    if not _copied(fresh):  # a key was queued before: the others still go in one COPY
        stored |= _stored(fresh)
        fresh = [message for message in fresh if message.key not in stored]
        if not _copied(fresh):  # one was queued by another transaction meanwhile: one at a time
            fresh = [message for message in fresh if _saved(message, stored)]
    ids = [message.pk for message in fresh]
    if ids:
        transaction.on_commit(lambda: schedule_delivery(ids))
    return {message.key: stored.get(message.key, message) for message in messages}


def _stored(messages: Sequence[OutboxMessage]) -> dict[str, OutboxMessage]:
    keys = [message.key for message in messages]
    return {message.key: message for message in OutboxMessage.objects.filter(key__in=keys)} if keys else {}


def _copied(messages: Sequence[OutboxMessage]) -> bool:
    """Insert every message in one COPY, in a savepoint; if a key is taken, insert none and say so."""
    if not messages:
        return True
    try:
        with transaction.atomic():
            rows_insert(OutboxMessage, messages)
    except IntegrityError:
        return False
    return True


def _saved(message: OutboxMessage, stored: dict[str, OutboxMessage]) -> bool:
    """Insert one message, in a savepoint; if its key was taken meanwhile, add the stored one to `stored`."""
    try:
        with transaction.atomic():
            message.save(force_insert=True)
    except IntegrityError:
        stored[message.key] = OutboxMessage.objects.get(key=message.key)
        return False
    return True


def schedule_delivery(message_ids: list[int]) -> None:
    """Ask a worker to deliver these messages now: one task for one message, one task for a batch."""
    from leors.core.tasks import outbox_deliver, outbox_deliver_many

    try:
        if len(message_ids) == 1:
            outbox_deliver.delay(message_ids[0])
        else:
            outbox_deliver_many.delay(message_ids)
    except Exception:  # broker down: the minute sweep delivers them; nothing is lost
        logger.warning("Broker unavailable; outbox messages %s left for the sweep", message_ids[:20], exc_info=True)


def _send(message: OutboxMessage, *, now: datetime) -> None:
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

    R7, R8: a message with an ordering key (the events of one restriction) waits while an earlier one
    of its key is pending, and is sent right after it (`_deliver_in_order`).

    R12: an e-mail not yet rendered is rendered, and its verification code issued, in a transaction
    of its own that commits before the send. Were the code issued in the transaction of the send, a
    worker that died (or lost the database) after the relay accepted the e-mail would roll the code's
    record back: the officer would hold a genuine e-mail whose code /verify/ denies, and the retry,
    with a new code under the same Message-ID, would be dropped as a duplicate by mail systems.
    """
    return _deliver_in_order(message_id, now=now) > 0


def _deliver_in_order(message_id: int, *, now: datetime) -> int:
    """Send the message, then each message of its ordering key that waited for it; return how many were sent.

    The one that waited is sent here, right after, rather than at the sweep: were it left to the sweep, the
    exchange would be a minute behind. Were this worker to die in between, the sweep sends it: it waited
    until the earlier one's next attempt (`_waits_for_earlier`), which has come.
    """
    sent = _deliver(message_id, now=now)
    count = 0
    while sent is not None:
        count += 1
        following = (OutboxMessage.objects.filter(ordering_key=sent.ordering_key, status=OutboxMessage.Status.PENDING,
                                                  pk__gt=sent.pk).order_by("pk").values_list("pk", flat=True).first()
                     if sent.ordering_key else None)
        sent = _deliver(following, now=now) if following is not None else None
    return count


def _deliver(message_id: int, *, now: datetime) -> OutboxMessage | None:
    """Send one due message (see `outbox_deliver`); return it if this call sent it."""
    with transaction.atomic():
        message = _due_locked(message_id, now=now)
        if message is None or _waits_for_earlier(message):
            return None
        try:
            rendered_now = _email_render(message, now=now)
        except Exception as error:  # a template that fails to render: an attempt that failed
            message.attempts += 1
            _attempt_failed(message, error, now=now)
            return None
        if not rendered_now:
            return message if _send_and_record(message, now=now) else None
    # The code's record is committed; the lock was let go with it, so another worker may have sent
    # the message meanwhile: it is taken again, and sent only if it is still pending.
    with transaction.atomic():
        message = _due_locked(message_id, now=now)
        return message if message is not None and _send_and_record(message, now=now) else None


def _waits_for_earlier(message: OutboxMessage) -> bool:
    """R7, R8: whether an earlier message of the same ordering key is still pending. If so, this one waits
    (it is not attempted) until that one's next attempt, after which it is sent right after it: the exchange
    never gets a restriction's lift before the activation it ends, however the retries of each fall.

    Waiting until the earlier one's next attempt, not due every minute, keeps a restriction's later events
    out of the sweep's batches while the exchange is down: they would fill them and hold up all else.
    A worker sending the earlier one meanwhile holds its lock, and it reads as pending here until its
    commit: this one then waits until the sweep, a minute at most.
    """
    if not message.ordering_key:
        return False
    earlier = (OutboxMessage.objects.filter(ordering_key=message.ordering_key, status=OutboxMessage.Status.PENDING,
                                            pk__lt=message.pk).order_by("pk").values_list("next_attempt_at", flat=True)
               .first())
    if earlier is None:
        return False
    if earlier > message.next_attempt_at:
        message.next_attempt_at = earlier
        message.save(update_fields=["next_attempt_at"])
    return True


def _due_locked(message_id: int, *, now: datetime) -> OutboxMessage | None:
    """The message, locked, if it is pending and due and no other worker holds it."""
    return (
        OutboxMessage.objects.select_for_update(skip_locked=True)
        .filter(pk=message_id, status=OutboxMessage.Status.PENDING, next_attempt_at__lte=now)
        .first()
    )


def _send_and_record(message: OutboxMessage, *, now: datetime) -> bool:
    """Send the locked message and record the attempt; True when it was sent."""
    message.attempts += 1
    try:
        _send(message, now=now)
    except Exception as error:
        _attempt_failed(message, error, now=now)
        return False
    message.status = OutboxMessage.Status.SENT
    message.sent_at = now
    message.last_error = ""
    message.save(update_fields=["attempts", "status", "sent_at", "last_error"])
    return True


def _attempt_failed(message: OutboxMessage, error: Exception, *, now: datetime) -> None:
    """Record a failed attempt (already counted in `attempts`) and when to try again.

    An e-mail is given up (FAILED) after `policy.outbox_max_attempts()`; staff can re-queue it
    (`outbox_requeue`). A webhook never is: it tells the exchange of a restriction's start or end (R7,
    R8), which no outage of the exchange may lose, and the later events of its restriction wait for it.
    It is retried every `LEORS_OUTBOX_MAX_RETRY_DELAY_MINUTES` for as long as it takes, and reported as
    an error on each attempt past the e-mails' limit (the outbox admin lists it as failing)."""
    message.last_error = f"{type(error).__name__}: {error}"[:2000]
    past_limit = message.attempts >= policy.outbox_max_attempts()
    if past_limit and message.channel == OutboxMessage.Channel.EMAIL:
        message.status = OutboxMessage.Status.FAILED
    message.next_attempt_at = now + policy.outbox_retry_delay(message.attempts)
    message.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
    if past_limit and message.channel == OutboxMessage.Channel.WEBHOOK:
        logger.error("Webhook %s (%s) still failing after %s attempts since %s; retrying at %s: %s", message.pk,
                     message.key, message.attempts, message.created_at.isoformat(),
                     message.next_attempt_at.isoformat(), error)
    else:
        logger.warning("Outbox message %s failed (attempt %s): %s", message.pk, message.attempts, error)


def outbox_requeue(*, message_ids: Sequence[int], actor: Actor, now: datetime) -> int:
    """Queue again the e-mails among `message_ids` that were given up (FAILED), for a member of staff who
    checked why they failed (the relay fixed, the address corrected upstream). Each is delivered as it was
    rendered, with the same verification code (R12) and Message-ID, after a fresh count of attempts. Rows
    are locked, so two staff re-queuing at once re-queue each once; each re-queue is audited with the
    attempts and last error it ends. Returns how many were re-queued."""
    with transaction.atomic():
        messages = list(OutboxMessage.objects.select_for_update().filter(
            pk__in=list(message_ids), status=OutboxMessage.Status.FAILED, channel=OutboxMessage.Channel.EMAIL)
            .order_by("pk"))
        if not messages:
            return 0
        ids = [message.pk for message in messages]
        OutboxMessage.objects.filter(pk__in=ids).update(status=OutboxMessage.Status.PENDING, attempts=0,
                                                       next_attempt_at=now)
        audit_record_many(actor=actor, now=now, entries=[AuditEntry(
            action="outbox.requeued", obj=message,
            changes={"status": [OutboxMessage.Status.FAILED, OutboxMessage.Status.PENDING],
                     "attempts": message.attempts, "last_error": message.last_error}) for message in messages])
        transaction.on_commit(lambda: schedule_delivery(ids))
    return len(ids)


def outbox_deliver_many(*, message_ids: Sequence[int], now: datetime) -> int:
    """Deliver the messages of one batch (each under its own lock, as `outbox_deliver`); return how many were
    sent, those that waited for one of them included."""
    return sum(_deliver_in_order(message_id, now=now) for message_id in message_ids)


def outbox_deliver_due(*, now: datetime, batch_size: int = 200) -> int:
    """The sweep: deliver every pending message whose time has come. Safe to run concurrently."""
    due_ids = list(
        OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    return outbox_deliver_many(message_ids=due_ids, now=now)

