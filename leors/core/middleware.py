"""Request-wide guards: the second factor for everyone (R12), session timeouts (R12), no caching of
personal pages, and the viewer's time zone."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.http import urlencode
from django_htmx.http import HttpResponseClientRedirect

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
    "/api/",  # machine clients authenticate with their bearer token, never with a session
)
# Of those, the pages that change a second factor. Staff who must use a security key and have one change them only
# in a session that used it: a password and an app code (what a phishing kit captures) must not register a key of
# their own, or new recovery codes. Before their first key, staff register it in the session they have.
_SECOND_FACTOR_CHANGES = (
    "/accounts/2fa/totp/activate/",
    "/accounts/2fa/webauthn/add/",
    "/accounts/2fa/recovery-codes/",
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
        if not user.is_authenticated:
            return self.get_response(request)
        key_required = user.is_staff and settings.LEORS_STAFF_REQUIRE_WEBAUTHN
        if not request.path.startswith(_OPEN_PREFIXES):
            if not is_mfa_enabled(user):
                return redirect("mfa_activate_totp")
            if key_required:
                if not is_mfa_enabled(user, ["webauthn"]):
                    return redirect("mfa_add_webauthn")
                if not _used_security_key(request):
                    # Staff signed in with an app code or a recovery code: the key is required too.
                    return _confirm_with_security_key(request)
        elif (key_required and request.path.startswith(_SECOND_FACTOR_CHANGES)
              and is_mfa_enabled(user, ["webauthn"]) and not _used_security_key(request)):
            return _confirm_with_security_key(request)
        return self.get_response(request)


def _confirm_with_security_key(request: HttpRequest) -> HttpResponse:
    return redirect(f"{reverse('mfa_reauthenticate_webauthn')}?{urlencode({'next': request.get_full_path()})}")


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


# Session keys of SessionTimeoutMiddleware (POSIX seconds, UTC).
SESSION_AUTHENTICATED_AT = "leors_authenticated_at"
SESSION_LAST_ACTIVITY_AT = "leors_last_activity_at"
SESSION_ACTIVITY_RESOLUTION_SECONDS = 30
SESSION_TIMED_OUT_MESSAGE = "Your session has ended after a period of inactivity or because it was open too long. Please sign in again."


class SessionTimeoutMiddleware:
    """R12: a session ends after LEORS_SESSION_IDLE_MINUTES without a request and, whatever the
    activity, LEORS_SESSION_ABSOLUTE_HOURS after sign-in.

    Steps: on each request of a signed-in user, compare now with the times kept in the session; when
    either limit is passed, sign out (which also flushes the session) and send the browser to the
    sign-in page with a message. After the view, record the activity — and the sign-in time when the
    session has none yet, which is the request that signed in (`login()` replaces `request.user`).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        now = timezone.now().timestamp()
        if request.user.is_authenticated and _session_has_expired(request, now=now):
            return _end_expired_session(request)
        response = self.get_response(request)
        if request.user.is_authenticated:
            # Only set when missing: a sign-in with another account flushes the session first
            # (django.contrib.auth.login), and an expired one is flushed above, so no stale time survives.
            request.session.setdefault(SESSION_AUTHENTICATED_AT, now)
            # Written at most every SESSION_ACTIVITY_RESOLUTION_SECONDS: the idle limit is minutes
            # long, and a session row updated on every request is a write per page view.
            last = request.session.get(SESSION_LAST_ACTIVITY_AT)
            if last is None or now - last >= SESSION_ACTIVITY_RESOLUTION_SECONDS:
                request.session[SESSION_LAST_ACTIVITY_AT] = now
        return response


def _session_has_expired(request: HttpRequest, *, now: float) -> bool:
    # A signed-in session without times (signed in before this guard existed, or by force_login in
    # tests) gets them after this request; it is not ended for lacking them.
    authenticated_at = request.session.get(SESSION_AUTHENTICATED_AT)
    last_activity_at = request.session.get(SESSION_LAST_ACTIVITY_AT)
    idle_limit = settings.LEORS_SESSION_IDLE_MINUTES * 60
    absolute_limit = settings.LEORS_SESSION_ABSOLUTE_HOURS * 3600
    return ((last_activity_at is not None and now - last_activity_at > idle_limit)
            or (authenticated_at is not None and now - authenticated_at > absolute_limit))


def _end_expired_session(request: HttpRequest) -> HttpResponse:
    next_path = request.get_full_path() if request.method == "GET" else ""
    logout(request)
    messages.info(request, SESSION_TIMED_OUT_MESSAGE)
    url = reverse(settings.LOGIN_URL)
    if next_path:
        url = f"{url}?{urlencode({'next': next_path})}"
    if request.headers.get("HX-Request"):
        # An htmx request would otherwise swap the sign-in page into part of the current page.
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _cache_control(response: HttpResponse) -> str:
    return response.get("Cache-Control", "").lower()


class PersonalDataNoStoreMiddleware:
    """Pages with personal data are never kept by the browser or a shared cache.

    `Cache-Control: no-store, private` on every response to a signed-in user, to a request carrying a
    session (such as a sign-in half-way, after the password and before the second factor), and on
    every view marked `never_cache` (the token pages that show personal data without a session).
    A response that already says `no-store` is left as it is: nothing may keep it anyway.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        cache_control = _cache_control(response)
        if "no-store" in cache_control and "public" not in cache_control:
            return response  # already never stored (file downloads say exactly "no-store")
        user = getattr(request, "user", None)
        session = getattr(request, "session", None)
        if ((user is not None and user.is_authenticated)
                or (session is not None and not session.is_empty())
                or "no-cache" in cache_control):
            patch_cache_control(response, no_store=True, private=True)
        return response
