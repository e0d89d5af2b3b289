"""The audit trail: every service writes its event here, inside its own transaction.

Each event's hash covers its content and the previous event's hash. On PostgreSQL the chain is
extended under a transaction-scoped advisory lock, so two concurrent writers cannot both link to
the same predecessor (which would fork the chain); the lock is released at commit or rollback.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model
from django.http import HttpRequest
from django.utils import timezone

from leors.core.bulk import rows_insert
from leors.core.models import AuditEvent

if TYPE_CHECKING:
    from leors.access.models import User

GENESIS_HASH = "0" * 64
_AUDIT_CHAIN_LOCK_ID = 0x1E0A5A0D17  # any constant shared by every writer


@dataclass(frozen=True)
class Actor:
    """Who is acting and from where; passed to every service that writes."""

    user: User | None
    ip: str | None = None
    user_agent: str = ""
    label_override: str = ""

    @property
    def label(self) -> str:
        if self.label_override:
            return self.label_override
        if self.user is not None:
            return self.user.email
        return "anonymous"

    @classmethod
    def from_request(cls, request: HttpRequest) -> Actor:
        user = request.user if request.user.is_authenticated else None
        return cls(
            user=user,  # type: ignore[arg-type]
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:512],
        )

    @classmethod
    def from_request_for(cls, request: HttpRequest, user: User | None) -> Actor:
        """The request's context, acting as `user` (e.g. in sign-in signals, before request.user is set)."""
        return cls(user=user, ip=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")[:512])

    @classmethod
    def system(cls, label: str = "system:scheduler") -> Actor:
        return cls(user=None, label_override=label)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, for the audit trail and every rate limit.

    Behind LEORS_TRUSTED_PROXY_COUNT proxies the address is read from X-Forwarded-For, counting
    that many hops from the right (the entries the trusted proxies appended); anything further left
    was written by the client and is ignored. With no trusted proxy, REMOTE_ADDR is the client.
    """
    trusted = settings.LEORS_TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if trusted > 0 and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= trusted:
            return hops[-trusted]
    return request.META.get("REMOTE_ADDR") or None


def _event_digest(*, prev_hash: str, fields: dict[str, Any]) -> str:
    canonical = json.dumps({"prev": prev_hash, **fields}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _hashed_fields(event: AuditEvent) -> dict[str, Any]:
    return {
        "created_at": event.created_at.astimezone(UTC).isoformat(),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object_repr": event.object_repr,
        "changes": event.changes,
        "ip": event.ip,
        "user_agent": event.user_agent,
    }


@dataclass(frozen=True)
class AuditEntry:
    """One event to append: what was done, to which object, with which changes."""

    action: str
    obj: Model | None = None
    object_type: str = ""
    object_id: str = ""
    object_repr: str = ""
    changes: dict[str, Any] | None = None


def audit_record(
    *,
    actor: Actor,
    action: str,
    obj: Model | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    changes: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """Append one event to the chain. Must run inside the transaction of the change it records."""
    entry = AuditEntry(action=action, obj=obj, object_type=object_type, object_id=object_id,
                       object_repr=object_repr, changes=changes)
    return audit_record_many(actor=actor, entries=[entry], now=now)[0]


def audit_record_many(*, actor: Actor, entries: Sequence[AuditEntry], now: datetime | None = None) -> list[AuditEvent]:
    """Append events in order, under one lock of the chain and in one COPY (a sweep's batch).

    Must run inside the transaction of the changes they record. The chain is the same as if each
    event had been appended alone: each links to the one before it, and their ids follow the chain
    (see `rows_insert`).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must be called inside the transaction of the change it records")
    if not entries:
        return []
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_AUDIT_CHAIN_LOCK_ID])
    prev_hash = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first() or GENESIS_HASH
    created_at = now or timezone.now()
    events = []
    for entry in entries:
        obj = entry.obj
        event = AuditEvent(
            created_at=created_at,
            actor=actor.user,
            actor_label=actor.label[:254],
            action=entry.action,
            object_type=entry.object_type or (obj._meta.label_lower if obj is not None else ""),
            object_id=entry.object_id or (str(obj.pk) if obj is not None else ""),
            object_repr=(entry.object_repr or (str(obj) if obj is not None else ""))[:200],
            changes=json.loads(json.dumps(entry.changes or {}, default=str)),
            ip=actor.ip,
            user_agent=actor.user_agent[:512],
            prev_hash=prev_hash,
        )
        event.hash = prev_hash = _event_digest(prev_hash=event.prev_hash, fields=_hashed_fields(event))
        events.append(event)
    # One COPY, its ids taken from the sequence in this order, the chain's order. Taken under the lock,
    # as every event's id is (a single event's too, by the column's default), so a later link never
    # has a smaller id.
    rows_insert(AuditEvent, events)
    return events


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    reason: str


def audit_chain_verify() -> ChainBreak | None:
    """Walk the chain in order; return the first broken link, or None when the chain is intact."""
    expected_prev = GENESIS_HASH
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.prev_hash != expected_prev:
            return ChainBreak(event.id, "its link to the previous event does not match (an event was removed or reordered)")
        if _event_digest(prev_hash=event.prev_hash, fields=_hashed_fields(event)) != event.hash:
            return ChainBreak(event.id, "its content does not match its hash (the event was altered)")
        expected_prev = event.hash
    return None


def audit_history_for(obj: Model) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk)).order_by("id")
    )
