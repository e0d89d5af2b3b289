"""Bearer tokens for machines (the exchange platform): created once, stored as a digest."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from django.db import transaction
from django.http import HttpRequest

from leors.core.audit import Actor, audit_record
from leors.core.models import ApiToken

TOKEN_PREFIX = "leors_"  # noqa: S105  (a public prefix, not a secret)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(*, name: str, actor: Actor, now: datetime) -> str:
    """Create a token and return it; it is never shown again (only its digest is kept)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        record = ApiToken.objects.create(name=name, digest=_digest(token), created_at=now)
        audit_record(actor=actor, action="api_token.created", obj=record, now=now, changes={"name": name})
    return token


def api_token_revoke(*, name: str, actor: Actor, now: datetime) -> None:
    with transaction.atomic():
        record = ApiToken.objects.select_for_update().get(name=name)
        ApiToken.objects.filter(pk=record.pk).update(revoked_at=now)
        audit_record(actor=actor, action="api_token.revoked", obj=record, now=now, changes={"name": name})


def api_token_for(request: HttpRequest, *, now: datetime) -> ApiToken | None:
    """The valid token presented as `Authorization: Bearer <token>`, or None."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX):
        return None
    record = ApiToken.objects.filter(digest=_digest(token.strip()), revoked_at__isnull=True).first()
    if record is not None and (record.last_used_at is None or (now - record.last_used_at).total_seconds() > 60):
        ApiToken.objects.filter(pk=record.pk).update(last_used_at=now)  # at most once a minute
    return record
