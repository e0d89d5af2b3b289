"""Request-wide guards: the second factor for everyone (R12) and the viewer's time zone."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

# Paths a signed-in user without a second factor may still reach: enrolment itself (and the
# password confirmation it asks for), sign-out, and public pages. Everything else — the portal,
# the staff workspace and the rest of the account pages — waits for enrolment.
_OPEN_PREFIXES = (
    "/accounts/login/",
    "/accounts/logout/",
    "/accounts/reauthenticate/",
    "/accounts/2fa/totp/activate/",
    "/accounts/2fa/webauthn/add/",
    "/accounts/2fa/webauthn/reauthenticate/",
    "/accounts/2fa/reauthenticate/",
    "/accounts/2fa/recovery-codes/",
    "/accounts/password/reset/",
    "/static/",
    "/healthz",
    "/verify/",
    "/apply/",
    "/sign-in-report/",
)


class SecondFactorRequiredMiddleware:
    """Every account must enrol a second factor before it reaches anything else.

    allauth asks an enrolled user for the second factor at every sign-in, so a session of an
    enrolled user has passed it; a user who has not enrolled is sent to enrol (TOTP), and staff,
    where security keys are required, to register one.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated and not request.path.startswith(_OPEN_PREFIXES):
            if not is_mfa_enabled(user):
                return redirect("mfa_activate_totp")
            if user.is_staff and settings.LEORS_STAFF_REQUIRE_WEBAUTHN:
                if not is_mfa_enabled(user, ["webauthn"]):
                    return redirect("mfa_add_webauthn")
                if not _used_security_key(request):
                    # Staff signed in with an app code or a recovery code: the key is required too.
                    return redirect(f"{reverse('mfa_reauthenticate_webauthn')}?next={request.get_full_path()}")
        return self.get_response(request)


def _used_security_key(request: HttpRequest) -> bool:
    """Whether this session's sign-in (or a later confirmation) used a WebAuthn security key."""
    from allauth.account.internal.flows.login import get_authentication_records

    return any(record.get("method") == "mfa" and record.get("type") == "webauthn"
               for record in get_authentication_records(request, request.user))


class UserTimeZoneMiddleware:
    """Times are stored in UTC and shown in the viewer's zone."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = getattr(request.user, "time_zone", "") if request.user.is_authenticated else ""
        try:
            timezone.activate(zoneinfo.ZoneInfo(zone)) if zone else timezone.deactivate()
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        return self.get_response(request)
