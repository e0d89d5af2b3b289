"""Sign-in, sign-out and failed sign-in are audited (every one, success and failure).

A failed sign-in is one of three things, each one event:
- a wrong password or an unknown address: Django's `user_login_failed` ("auth.sign_in_failed");
- a wrong second-factor code: allauth's mfa `authentication_failed` ("auth.second_factor_failed");
- an attempt refused by the cool-off before any password is checked ("auth.sign_in_refused"):
  allauth refuses it in the account adapter's `pre_authenticate`, before Django authenticates, so
  no signal is sent. The adapter records it with `sign_in_refused_record`
  (leors/access/adapters.py; tested in tests/security/test_audit_completeness.py).
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpRequest

from leors.core.audit import Actor, audit_record, client_ip


@receiver(user_logged_in, dispatch_uid="leors.audit.signed_in")
def _signed_in(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    from django.utils import timezone

    from leors.access.services import signin_device_record

    actor = Actor.from_request_for(request, user)
    with transaction.atomic():
        audit_record(actor=actor, action="auth.signed_in", obj=user)
    # An unseen browser or network is told to the account holder, with a link to report it. A
    # failure here must not turn a completed sign-in into an error page.
    try:
        signin_device_record(user=user, ip=actor.ip, user_agent=actor.user_agent, now=timezone.now())
    except Exception:
        logging.getLogger(__name__).exception("Could not record the sign-in device of user %s", user.pk)


@receiver(user_logged_out, dispatch_uid="leors.audit.signed_out")
def _signed_out(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    if user is None:
        return
    with transaction.atomic():
        audit_record(actor=Actor.from_request_for(request, user), action="auth.signed_out", obj=user)


def _unauthenticated_actor(request: HttpRequest | None, tried: str) -> Actor:
    return Actor(user=None, ip=client_ip(request) if request is not None else None,
                 user_agent=request.META.get("HTTP_USER_AGENT", "")[:512] if request is not None else "",
                 label_override=f"unauthenticated:{tried}")


def _address_tried(credentials: dict[str, Any]) -> str:
    # The password is never recorded; the address tried is.
    return str(credentials.get("email") or credentials.get("username") or credentials.get("login") or "")[:254]


@receiver(user_login_failed, dispatch_uid="leors.audit.sign_in_failed")
def _sign_in_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    tried = _address_tried(credentials)
    with transaction.atomic():
        audit_record(actor=_unauthenticated_actor(request, tried), action="auth.sign_in_failed",
                     object_type="access.user", object_id="", object_repr=tried)


def sign_in_refused_record(*, request: HttpRequest | None, credentials: dict[str, Any]) -> None:
    """An attempt refused by the cool-off (the rate limit on failed sign-ins), recorded once.

    For the account adapter's `pre_authenticate`: allauth refuses such an attempt before Django
    authenticates, so `user_login_failed` is never sent for it.
    """
    tried = _address_tried(credentials)
    with transaction.atomic():
        audit_record(actor=_unauthenticated_actor(request, tried), action="auth.sign_in_refused",
                     object_type="access.user", object_id="", object_repr=tried,
                     changes={"reason": "cool_off"})


def _second_factor_failed(sender: Any, request: HttpRequest | None = None, user: Any = None, **kwargs: Any) -> None:
    """A wrong code at the second step of a sign-in (or of a re-authentication), recorded once.

    The password was right, so the account is named; the person is not signed in, so the actor is
    labelled as unauthenticated. The code typed is never recorded.
    """
    if user is None:
        return
    authenticator = kwargs.get("authenticator")
    changes = {"type": authenticator.type if authenticator is not None else "",
               "reauthentication": bool(kwargs.get("reauthentication"))}
    actor = _unauthenticated_actor(request, user.email)
    if changes["reauthentication"]:
        actor = Actor.from_request_for(request, user) if request is not None else Actor(user=user)
    with transaction.atomic():
        audit_record(actor=actor, action="auth.second_factor_failed", obj=user, changes=changes)


# Changes to a person's credentials are state changes of their account: audited, every one.
def _credential_event(action: str) -> Any:
    def receiver_(sender: Any, request: HttpRequest | None = None, user: Any = None, **kwargs: Any) -> None:
        if user is None:
            return
        authenticator = kwargs.get("authenticator")
        changes = {"type": authenticator.type} if authenticator is not None else {}
        with transaction.atomic():
            actor = Actor.from_request_for(request, user) if request is not None else Actor(user=user)
            audit_record(actor=actor, action=action, obj=user, changes=changes)

    return receiver_


def _connect_credential_audit() -> None:
    from allauth.account import signals as account_signals
    from allauth.mfa import signals as mfa_signals

    for signal, action in (
        (account_signals.password_changed, "auth.password_changed"),
        (account_signals.password_reset, "auth.password_reset"),
        (account_signals.password_set, "auth.password_set"),
        (mfa_signals.authenticator_added, "auth.second_factor_added"),
        (mfa_signals.authenticator_removed, "auth.second_factor_removed"),
        (mfa_signals.authenticator_reset, "auth.second_factor_reset"),
    ):
        signal.connect(_credential_event(action), weak=False, dispatch_uid=f"leors.audit.{action}")
    mfa_signals.authentication_failed.connect(_second_factor_failed, weak=False,
                                              dispatch_uid="leors.audit.auth.second_factor_failed")


_connect_credential_audit()
