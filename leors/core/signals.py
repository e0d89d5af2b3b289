"""Sign-in, sign-out and failed sign-in are audited (every one, success and failure)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpRequest

from leors.core.audit import Actor, audit_record


@receiver(user_logged_in, dispatch_uid="leors.audit.signed_in")
def _signed_in(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    with transaction.atomic():
        audit_record(actor=Actor(user=user, ip=request.META.get("REMOTE_ADDR"),
                                 user_agent=request.META.get("HTTP_USER_AGENT", "")[:512]),
                     action="auth.signed_in", obj=user)


@receiver(user_logged_out, dispatch_uid="leors.audit.signed_out")
def _signed_out(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    if user is None:
        return
    with transaction.atomic():
        audit_record(actor=Actor(user=user, ip=request.META.get("REMOTE_ADDR"),
                                 user_agent=request.META.get("HTTP_USER_AGENT", "")[:512]),
                     action="auth.signed_out", obj=user)


@receiver(user_login_failed, dispatch_uid="leors.audit.sign_in_failed")
def _sign_in_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    # The password is never recorded; the address tried is.
    tried = str(credentials.get("email") or credentials.get("username") or "")[:254]
    with transaction.atomic():
        audit_record(
            actor=Actor(user=None, ip=request.META.get("REMOTE_ADDR") if request else None,
                        user_agent=request.META.get("HTTP_USER_AGENT", "")[:512] if request else "",
                        label_override=f"unauthenticated:{tried}"),
            action="auth.sign_in_failed", object_type="access.user", object_id="", object_repr=tried,
        )
