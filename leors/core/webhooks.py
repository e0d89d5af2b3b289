"""Signed webhooks to the exchange platform, delivered through the outbox.

Each delivery is a POST of a JSON body with three headers:

    X-LEORS-Timestamp: <unix seconds at sending>
    X-LEORS-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>" with the shared secret>
    X-LEORS-Idempotency-Key: <the event's unique key; the same on every retry>

The receiver recomputes the signature over the raw body, refuses a timestamp outside its replay
window, and ignores an idempotency key it has already processed (`webhook_signature_check` below
is the reference implementation; README.md shows it in use).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction

from leors.core.models import OutboxMessage

SIGNATURE_VERSION = "v1"


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={mac}"


def webhook_signature_check(*, secret: str, timestamp: str, body: bytes, signature: str, now: float,
                            window_seconds: int) -> bool:
    """What a receiver does: a fresh timestamp and a matching signature, compared in constant time."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(now - sent) > window_seconds:
        return False
    # As bytes: a forged header may hold any character, and compare_digest refuses non-ASCII text.
    return hmac.compare_digest(webhook_signature(secret=secret, timestamp=sent, body=body).encode(),
                               signature.encode("utf-8", "replace"))


@dataclass(frozen=True)
class WebhookEvent:
    event: str
    key: str
    data: dict[str, Any]


def webhook_enqueue(*, event: str, key: str, data: dict[str, Any], now: datetime) -> OutboxMessage | None:
    """Queue one event for the exchange in the caller's transaction (idempotent by key)."""
    queued = webhooks_enqueue([WebhookEvent(event=event, key=key, data=data)], now=now)
    return queued[0] if queued else None


def webhooks_enqueue(events: Sequence[WebhookEvent], *, now: datetime) -> list[OutboxMessage]:
    """Queue events for the exchange in the caller's transaction, in one COPY (a sweep's batch).

    Idempotent by key: an event queued before is not queued again. Nothing is queued (and an empty
    list returned) when no exchange endpoint is configured. The events of one restriction share an
    ordering key (`webhook_ordering_key`): the outbox sends them in the order they were queued (R7, R8).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("webhook_enqueue must run inside the transaction of the change that causes it")
    if not settings.LEORS_EXCHANGE_WEBHOOK_URL:
        return []
    from leors.core.outbox import outbox_write

    keys = [f"webhook:{event.key}" for event in events]
    return outbox_write([OutboxMessage(
        key=key, channel=OutboxMessage.Channel.WEBHOOK, recipient=settings.LEORS_EXCHANGE_WEBHOOK_URL,
        subject=event.event, created_at=now, next_attempt_at=now, ordering_key=webhook_ordering_key(event.data),
        payload={"event": event.event, "idempotency_key": key, "occurred_at": now.isoformat(), "data": event.data},
    ) for key, event in zip(keys, events, strict=True)])


def webhook_ordering_key(data: dict[str, Any]) -> str:
    """R7, R8: "freeze:<id>" or "hold:<id>" for an event of a restriction, whose events must reach the exchange
    in the order they happened (a lift before the activation it ends would leave the account frozen for good);
    "" for any other event. Each such event is queued under the restriction's row lock, so the order in which
    they are queued (their ids) is the order in which they happened."""
    restriction = data.get("restriction")
    if not isinstance(restriction, dict):
        return ""
    kind = {"freeze": "freeze", "preservation": "hold"}.get(restriction.get("type", ""), restriction.get("type", ""))
    return f"{kind}:{restriction['id']}"


def webhook_send(message: OutboxMessage) -> None:
    """POST the event; anything but a 2xx answer raises, and the outbox retries with backoff."""
    body = json.dumps(message.payload, sort_keys=True, separators=(",", ":")).encode()
    timestamp = int(time.time())
    request = urllib.request.Request(  # noqa: S310  (the URL is the operator's own https endpoint)
        message.recipient,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "LEORS-webhooks/1",
            "X-LEORS-Timestamp": str(timestamp),
            "X-LEORS-Signature": webhook_signature(secret=settings.LEORS_EXCHANGE_WEBHOOK_SECRET,
                                                   timestamp=timestamp, body=body),
            "X-LEORS-Idempotency-Key": message.payload.get("idempotency_key", message.key),
        },
    )
    with _OPENER.open(request, timeout=settings.LEORS_WEBHOOK_TIMEOUT_SECONDS) as response:
        if not 200 <= response.status < 300:
            raise RuntimeError(f"The endpoint answered {response.status}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is not a delivery: urllib would follow it as a GET without the body."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)
