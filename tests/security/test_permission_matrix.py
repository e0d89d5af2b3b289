"""The permission matrix: every URL pattern of the project × every role → the expected answer.

Each URL pattern (walked recursively from the root resolver) has one row: a concrete URL that
resolves to it, the method its view documents (GET for pages, POST for POST-only views, posted
empty so that no form is valid), and the answer of each role. A pattern without a row fails
`test_every_url_pattern_has_a_row_in_the_matrix`, naming it: a new URL must be added here.

Answers are classes: "200", "400", "401", "403", "404", "405", "410"; "login" (302 to the
sign-in page), "admin_login" (302 to the staff sign-in), "enrol" (302 to second-factor
enrolment), "302" (any other redirect).

The world (tests/security/world.py) is built once; every request runs in a savepoint that is
rolled back, so a POST that succeeds (a withdrawal) does not change what the next role sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.http import HttpResponseBase
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from tests.security.world import ROLES, build_world

# --- Walking the URL configuration -------------------------------------------------------------------


def _join(prefix: str, route: str) -> str:
    # As Django joins routes in ResolverMatch.route: a regex's leading "^" is dropped.
    return prefix + (route[1:] if route.startswith("^") else route)


def url_routes(patterns: list[Any] | None = None, prefix: str = "") -> Iterator[str]:
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = _join(prefix, str(pattern.pattern))
        if isinstance(pattern, URLResolver):
            yield from url_routes(pattern.url_patterns, route)
        else:
            assert isinstance(pattern, URLPattern)
            yield route


def outcome(response: HttpResponseBase) -> str:
    if response.status_code in (301, 302):
        location = response["Location"]
        for prefix, name in (("/accounts/login/", "login"), ("/admin/login/", "admin_login"),
                             ("/accounts/2fa/totp/activate/", "enrol")):
            if location.startswith(prefix):
                return name
        return "302"
    return str(response.status_code)


# --- The URLs, one per pattern ------------------------------------------------------------------------
# route → (method, URL template filled from World.values, data posted)

G, P = "get", "post"
ADMIN_MODELS = {
    "core/auditevent": "audit_pk",
    "core/outboxmessage": "outbox_pk",
    "access/accessapplication": "app_pk",
    "access/officer": "officer_pk",
    "access/agency": "agency_pk",
    "access/impersonationreferral": "referral_pk",
    "access/user": "user_pk",
    "cases/case": "case_pk",
}
APPLICATION_PAGES = ("assign", "checklist", "ask", "approve", "reject")
OFFICER_PAGES = ("suspend", "renew", "make-supervisor", "end-supervisor")
USER_PAGES = ("list-contact", "unlist-contact")
CASE_PAGES = (
    "assign", "checklist", "ask", "message", "verify", "language", "decide", "notification", "upload", "release",
    "fulfil", "close", "activate", "lift", "approvals", "confirm", "official-add", "official-check",
    "official-confirm", "instructions", "return", "release-hold",
)

URLS: dict[str, tuple[str, str, dict[str, Any]]] = {
    # Public
    "healthz": (G, "/healthz", {}),
    "healthz/clocks": (G, "/healthz/clocks", {}),
    "verify/": (G, "/verify/", {}),
    "": (G, "/", {}),
    "apply/": (G, "/apply/", {}),
    "apply/sent/": (G, "/apply/sent/", {}),
    "apply/verify/<str:token>/": (G, "/apply/verify/{pending_token}/", {}),
    "sign-in-report/<str:token>/": (G, "/sign-in-report/not-a-token/", {}),
    # Machine API
    "api/v1/restrictions/": (G, "/api/v1/restrictions/", {}),
    "api/v1/openapi.json": (G, "/api/v1/openapi.json", {}),
    # Applications (portal)
    "applications/<str:reference>/": (G, "/applications/{app_ref}/", {}),
    "applications/<str:reference>/answer/": (P, "/applications/{app_ref}/answer/", {}),
    "applications/<str:reference>/withdraw/": (P, "/applications/{app_ref}/withdraw/", {}),
    "documents/application/<int:document_id>/": (G, "/documents/application/{app_document_id}/", {}),
    # Cases (portal)
    "cases/": (G, "/cases/", {}),
    "cases/new/": (G, "/cases/new/", {}),
    "cases/new/subject-row/": (G, "/cases/new/subject-row/?subjects-TOTAL_FORMS=1", {}),
    "cases/new/document-row/": (G, "/cases/new/document-row/?documents-TOTAL_FORMS=1", {}),
    "cases/documents/<int:document_id>/": (G, "/cases/documents/{document_id}/", {}),
    "cases/productions/<int:production_id>/": (G, "/cases/productions/{production_id}/", {}),
    "cases/<str:reference>/": (G, "/cases/{case_ref}/", {}),
    "cases/<str:reference>/messages/": (P, "/cases/{case_ref}/messages/", {}),
    "cases/<str:reference>/withdraw/": (P, "/cases/{case_ref}/withdraw/", {}),
    "cases/<str:reference>/share/": (P, "/cases/{case_ref}/share/", {}),
    "cases/<str:reference>/recovery/acknowledge/": (P, "/cases/{case_ref}/recovery/acknowledge/", {}),
    # Accounts (allauth); the e-mail page is replaced by a 404 (the official e-mail never changes)
    "accounts/email/": (G, "/accounts/email/", {}),
    "accounts/login/": (G, "/accounts/login/", {}),
    "accounts/logout/": (G, "/accounts/logout/", {}),
    "accounts/inactive/": (G, "/accounts/inactive/", {}),
    "accounts/signup/": (G, "/accounts/signup/", {}),
    "accounts/reauthenticate/": (G, "/accounts/reauthenticate/", {}),
    "accounts/confirm-email/": (G, "/accounts/confirm-email/", {}),
    "accounts/password/change/": (G, "/accounts/password/change/", {}),
    "accounts/password/set/": (G, "/accounts/password/set/", {}),
    "accounts/password/reset/": (G, "/accounts/password/reset/", {}),
    "accounts/login/code/confirm/": (G, "/accounts/login/code/confirm/", {}),
    "accounts/confirm-email/(?P<key>[-:\\w]+)/$": (G, "/accounts/confirm-email/not-a-key/", {}),
    "accounts/password/reset/key/done/": (G, "/accounts/password/reset/key/done/", {}),
    "accounts/password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$":
        (G, "/accounts/password/reset/key/1-not-a-key/", {}),
    "accounts/password/reset/done/": (G, "/accounts/password/reset/done/", {}),
    "accounts/2fa/": (G, "/accounts/2fa/", {}),
    "accounts/2fa/authenticate/": (G, "/accounts/2fa/authenticate/", {}),
    "accounts/2fa/reauthenticate/": (G, "/accounts/2fa/reauthenticate/", {}),
    "accounts/2fa/totp/activate/": (G, "/accounts/2fa/totp/activate/", {}),
    "accounts/2fa/totp/deactivate/": (G, "/accounts/2fa/totp/deactivate/", {}),
    "accounts/2fa/recovery-codes/": (G, "/accounts/2fa/recovery-codes/", {}),
    "accounts/2fa/recovery-codes/generate/": (G, "/accounts/2fa/recovery-codes/generate/", {}),
    "accounts/2fa/recovery-codes/download/": (G, "/accounts/2fa/recovery-codes/download/", {}),
    "accounts/2fa/webauthn/": (G, "/accounts/2fa/webauthn/", {}),
    "accounts/2fa/webauthn/add/": (G, "/accounts/2fa/webauthn/add/", {}),
    "accounts/2fa/webauthn/reauthenticate/": (G, "/accounts/2fa/webauthn/reauthenticate/", {}),
    "accounts/2fa/webauthn/keys/<int:pk>/remove/": (G, "/accounts/2fa/webauthn/keys/999999/remove/", {}),
    "accounts/2fa/webauthn/keys/<int:pk>/edit/": (G, "/accounts/2fa/webauthn/keys/999999/edit/", {}),
    "accounts/sessions/": (G, "/accounts/sessions/", {}),
    # Staff workspace: the site
    "admin/": (G, "/admin/", {}),
    "admin/login/": (G, "/admin/login/", {}),
    "admin/logout/": (G, "/admin/logout/", {}),
    "admin/password_change/": (G, "/admin/password_change/", {}),
    "admin/password_change/done/": (G, "/admin/password_change/done/", {}),
    "admin/autocomplete/": (G, "/admin/autocomplete/", {}),
    "admin/jsi18n/": (G, "/admin/jsi18n/", {}),
    "admin/r/<path:content_type_id>/<path:object_id>/": (G, "/admin/r/{case_ct}/{case_pk}/", {}),
    "admin/(?P<app_label>core|access|cases)/$": (G, "/admin/cases/", {}),
    "admin/(?P<url>.*)$": (G, "/admin/no-such-page/", {}),
    # Staff workspace: the official's ID document (R9); no official exists in this world
    "admin/cases/case/official-id/<int:official_pk>/": (G, "/admin/cases/case/official-id/999999/", {}),
}
for _model, _key in ADMIN_MODELS.items():
    _base = f"admin/{_model}/"
    URLS[_base] = (G, f"/{_base}", {})
    URLS[f"{_base}add/"] = (G, f"/{_base}add/", {})
    for _page in ("history", "delete", "change"):
        URLS[f"{_base}<path:object_id>/{_page}/"] = (G, f"/{_base}{{{_key}}}/{_page}/", {})
    URLS[f"{_base}<path:object_id>/"] = (G, f"/{_base}{{{_key}}}/", {})
for _model, _pages, _key in (("access/accessapplication", APPLICATION_PAGES, "app_pk"),
                             ("access/officer", OFFICER_PAGES, "officer_pk"),
                             ("access/user", USER_PAGES, "staff_user_pk"),
                             ("cases/case", CASE_PAGES, "case_pk")):
    for _page in _pages:
        URLS[f"admin/{_model}/<int:pk>/{_page}/"] = (G, f"/admin/{_model}/{{{_key}}}/{_page}/", {})


# --- The answers --------------------------------------------------------------------------------------
# Groups of roles that answer alike. A suspended officer's session ended at suspension (R3), so
# they answer as someone not signed in; a bearer token opens no session either.
OUT = ("anon", "machine", "suspended")
OFFICERS = ("applicant", "owner", "colleague", "shared", "supervisor", "outsider", "lapsed")
STAFF = ("reviewer", "assigned", "lead", "auditor")


def answers(default: str, *, out: str | None = None, officers: str | None = None, staff: str | None = None,
            unenrolled: str = "enrol", **roles: str) -> dict[str, str]:
    """One row: `default` for every role, then the groups, then single roles. A signed-in user
    without a second factor is sent to enrol everywhere but the open paths (middleware)."""
    row = dict.fromkeys(ROLES, default)
    for group, value in ((OUT, out), (OFFICERS, officers), (STAFF, staff)):
        if value is not None:
            row.update(dict.fromkeys(group, value))
    row["unenrolled"] = unenrolled
    unknown = set(roles) - set(ROLES)
    assert not unknown, f"unknown roles {unknown}"
    row.update(roles)
    return row


def staff_only(reviewer: str, assigned: str, lead: str, auditor: str) -> dict[str, str]:
    """A page of the staff workspace: everyone else is sent to the staff sign-in."""
    return answers("admin_login", reviewer=reviewer, assigned=assigned, lead=lead, auditor=auditor)


EVERYONE = answers("200", unenrolled="200")
SIGNED_IN = answers("200", out="login")  # an account page: any signed-in, enrolled user
SIGNED_IN_REDIRECT = answers("302", out="login")  # an account step that does not apply (redirects)

# The case of `owner`: shared with `shared` (and with `lapsed`, `suspended` before they lost access),
# visible to the agency supervisor, assigned to `assigned`; leads and auditors see every case.
CASE_READ = answers("404", out="login", owner="200", shared="200", supervisor="200", lapsed="403",
                    assigned="200", lead="200", auditor="200")
# The officer's answers (message, withdraw, acknowledge): those who may respond reach the form,
# which refuses the empty post (400); a supervisor sees but does not answer for a colleague.
CASE_RESPOND = answers("404", out="login", owner="400", shared="400", lapsed="403")
CASE_SHARE = answers("404", out="login", owner="400", lapsed="403")  # only the officer who made it
# A new request (R1): approved officers with current access only; everyone else gets a 404.
CASE_NEW = answers("404", out="login", owner="200", colleague="200", shared="200", supervisor="200",
                   outsider="200", lapsed="403")
CASE_NEW_ROW = {**CASE_NEW, **{role: "200" for role, value in CASE_NEW.items() if value == "200"}}

EXPECTED: dict[str, dict[str, str]] = {
    "healthz": EVERYONE,
    "healthz/clocks": answers("503", unenrolled="503"),  # public; in this world no sweep has run
    "verify/": EVERYONE,
    "": answers("200", staff="302"),  # staff are sent to their workspace
    "apply/": EVERYONE,
    "apply/sent/": EVERYONE,
    "apply/verify/<str:token>/": EVERYONE,  # whoever holds the link (only its POST verifies)
    "sign-in-report/<str:token>/": answers("400", unenrolled="400"),  # a bad token, for everyone alike
    # Machine API: the token, and nothing else (a session does not open it)
    "api/v1/restrictions/": answers("401", machine="200", unenrolled="401"),  # a token API: no session counts
    "api/v1/openapi.json": answers("200", unenrolled="200"),  # the description of the API is public
    # The applicant's application: theirs only (staff work on it in the workspace)
    "applications/<str:reference>/": answers("404", out="login", applicant="200"),
    "applications/<str:reference>/answer/": answers("404", out="login", applicant="400"),
    "applications/<str:reference>/withdraw/": answers("404", out="login", applicant="302"),
    "documents/application/<int:document_id>/": answers("404", out="login", applicant="200", assigned="200",
                                                         lead="200", auditor="200"),
    # Cases
    "cases/": answers("200", out="login", lapsed="403", staff="302"),
    "cases/new/": CASE_NEW,
    "cases/new/subject-row/": CASE_NEW_ROW,
    "cases/new/document-row/": CASE_NEW_ROW,
    "cases/documents/<int:document_id>/": CASE_READ,
    "cases/productions/<int:production_id>/": CASE_READ,
    "cases/<str:reference>/": {**CASE_READ, "assigned": "302", "lead": "302", "auditor": "302"},  # staff → workspace
    "cases/<str:reference>/messages/": CASE_RESPOND,
    "cases/<str:reference>/withdraw/": CASE_RESPOND,
    "cases/<str:reference>/share/": CASE_SHARE,
    "cases/<str:reference>/recovery/acknowledge/": CASE_RESPOND,
    # Accounts
    "accounts/email/": answers("404"),
    "accounts/login/": answers("302", out="200", unenrolled="302"),
    "accounts/logout/": answers("200", out="login", unenrolled="200"),
    "accounts/inactive/": answers("200"),
    "accounts/signup/": answers("302", out="200"),  # closed: the page says so; officers apply at /apply/
    "accounts/reauthenticate/": answers("200", out="login", unenrolled="200"),
    "accounts/confirm-email/": answers("200"),
    "accounts/password/change/": SIGNED_IN,
    "accounts/password/set/": SIGNED_IN_REDIRECT,
    "accounts/password/reset/": EVERYONE,
    "accounts/login/code/confirm/": answers("302", out="login", unenrolled="302"),
    "accounts/confirm-email/(?P<key>[-:\\w]+)/$": answers("200"),
    "accounts/password/reset/key/done/": EVERYONE,
    "accounts/password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$": EVERYONE,
    "accounts/password/reset/done/": EVERYONE,
    "accounts/2fa/": SIGNED_IN,
    "accounts/2fa/authenticate/": SIGNED_IN_REDIRECT,
    "accounts/2fa/reauthenticate/": answers("200", out="login", unenrolled="302"),
    "accounts/2fa/totp/activate/": answers("302", out="login", unenrolled="302"),  # already enrolled
    "accounts/2fa/totp/deactivate/": SIGNED_IN_REDIRECT,
    "accounts/2fa/recovery-codes/": answers("404", out="login", unenrolled="404"),
    "accounts/2fa/recovery-codes/generate/": answers("302", out="login", unenrolled="302"),
    "accounts/2fa/recovery-codes/download/": answers("404", out="login", unenrolled="404"),
    "accounts/2fa/webauthn/": SIGNED_IN,
    "accounts/2fa/webauthn/add/": answers("302", out="login", unenrolled="302"),
    "accounts/2fa/webauthn/reauthenticate/": answers("302", out="login", unenrolled="302"),
    "accounts/2fa/webauthn/keys/<int:pk>/remove/": SIGNED_IN_REDIRECT,
    "accounts/2fa/webauthn/keys/<int:pk>/edit/": SIGNED_IN_REDIRECT,
    "accounts/sessions/": SIGNED_IN,
    # Staff workspace: the site
    "admin/": staff_only("200", "200", "200", "200"),
    # Staff sign in through allauth: the bare admin form refuses a signed-in officer, sends staff on
    "admin/login/": answers("403", out="login", staff="302"),
    "admin/logout/": answers("302", staff="405"),  # sign-out is a POST
    # A password changes only through allauth's page (audited): the admin's own pages send staff there
    "admin/password_change/": staff_only("302", "302", "302", "302"),
    "admin/password_change/done/": staff_only("302", "302", "302", "302"),
    "admin/autocomplete/": staff_only("403", "403", "403", "403"),  # no model named
    "admin/jsi18n/": staff_only("200", "200", "200", "200"),
    "admin/r/<path:content_type_id>/<path:object_id>/": staff_only("404", "404", "404", "404"),
    "admin/(?P<app_label>core|access|cases)/$": staff_only("200", "200", "200", "200"),
    "admin/(?P<url>.*)$": staff_only("404", "404", "404", "404"),
    # Not through admin_view: an officer gets the 404 of a missing file (no official in this world)
    "admin/cases/case/official-id/<int:official_pk>/": answers("404", out="admin_login", unenrolled="enrol"),
}

# The model pages, per model: (changelist, add, history, delete, change) for
# (reviewer, assigned, lead, auditor). Nobody adds or deletes anything; the audit trail, the
# outbox and the referrals are for leads and auditors; a reviewer sees only the applications and
# cases assigned to them; leads see staff accounts only, so an officer's account is a 404; auditors
# read every account.
# "<pk>/" alone is Django's redirect to the change page.
NO = ("403", "403", "403", "403")
ALL = ("200", "200", "200", "200")
LEADS_AUDITORS = ("403", "403", "200", "200")
ADMIN_MODEL_ANSWERS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "core/auditevent": (LEADS_AUDITORS, NO, LEADS_AUDITORS, NO, LEADS_AUDITORS),
    "core/outboxmessage": (LEADS_AUDITORS, NO, LEADS_AUDITORS, NO, LEADS_AUDITORS),
    "access/accessapplication": (ALL, NO, ("404", "302", "302", "302"), NO, ("404", "200", "200", "200")),
    "access/officer": (ALL, NO, ("302", "302", "302", "302"), NO, ALL),
    "access/agency": (ALL, NO, ALL, NO, ALL),
    "access/impersonationreferral": (LEADS_AUDITORS, NO, LEADS_AUDITORS, NO, LEADS_AUDITORS),
    "access/user": (LEADS_AUDITORS, NO, ("403", "403", "302", "200"), NO, ("404", "404", "404", "200")),
    "cases/case": (ALL, NO, ("404", "302", "302", "302"), NO, ("404", "200", "200", "200")),
}
for _model, (_list, _add, _history, _delete, _change) in ADMIN_MODEL_ANSWERS.items():
    _base = f"admin/{_model}/"
    EXPECTED[_base] = staff_only(*_list)
    EXPECTED[f"{_base}add/"] = staff_only(*_add)
    EXPECTED[f"{_base}<path:object_id>/history/"] = staff_only(*_history)
    EXPECTED[f"{_base}<path:object_id>/delete/"] = staff_only(*_delete)
    EXPECTED[f"{_base}<path:object_id>/change/"] = staff_only(*_change)
    EXPECTED[f"{_base}<path:object_id>/"] = staff_only("302", "302", "302", "302")

# Workflow pages (GET shows the form; the POST runs the service). Role-wide powers of leads:
# assigning, deciding applications, renewing officers, supervisors, the contact list, releasing a
# hold. Reviewing: the assigned reviewer and leads. Flagging impersonation (R3): any reviewer or
# lead. Auditors change nothing.
LEAD = ("404", "404", "200", "404")
REVIEW = ("404", "200", "200", "404")
WORKFLOW_ANSWERS = {
    "access/accessapplication": {"assign": LEAD, "checklist": REVIEW, "ask": REVIEW, "approve": LEAD,
                                 "reject": LEAD},
    "access/officer": {"suspend": ("200", "200", "200", "404"), "renew": LEAD, "make-supervisor": LEAD,
                       "end-supervisor": LEAD},
    "access/user": {"list-contact": LEAD, "unlist-contact": LEAD},
    "cases/case": {page: LEAD if page in ("assign", "release-hold") else REVIEW for page in CASE_PAGES},
}
for _model, _pages_answers in WORKFLOW_ANSWERS.items():
    for _page, _answer in _pages_answers.items():
        EXPECTED[f"admin/{_model}/<int:pk>/{_page}/"] = staff_only(*_answer)


# --- The tests ----------------------------------------------------------------------------------------

def test_every_url_pattern_has_a_row_in_the_matrix() -> None:
    routes = set(url_routes())
    missing = sorted(routes - set(URLS)) + sorted(routes - set(EXPECTED))
    assert not missing, (
        "URL patterns without a row in the permission matrix (add them to URLS and EXPECTED in "
        f"{__name__}): {missing}")
    stale = sorted((set(URLS) | set(EXPECTED)) - routes)
    assert not stale, f"rows for URL patterns that no longer exist: {stale}"


def test_matrix_rows_name_every_role() -> None:
    incomplete = {route: sorted(set(ROLES) - set(row)) for route, row in EXPECTED.items() if set(row) != set(ROLES)}
    assert not incomplete


@pytest.mark.django_db
def test_r1_r3_r12_permission_matrix_every_url_every_role() -> None:
    world = build_world()
    mismatches: list[str] = []
    for route, (method, template, data) in URLS.items():
        url = template.format(**world.values)
        assert resolve(url.split("?")[0]).route == route, f"{url} does not resolve to the pattern {route!r}"
        for role in ROLES:
            got = outcome(world.request(role, method, url, data))
            if got != EXPECTED[route][role]:
                mismatches.append(f"{method.upper()} {url} ({route!r}) as {role}: expected "
                                  f"{EXPECTED[route][role]}, got {got}")
        if method == P:
            # A POST-only view refuses other methods (405) even to those who may post.
            allowed = next(role for role in ("applicant", "owner") if EXPECTED[route][role] != "404")
            got = outcome(world.request(allowed, G, url))
            if got != "405":
                mismatches.append(f"GET {url} as {allowed}: expected 405, got {got}")
    assert outcome(world.request("machine", P, "/api/v1/restrictions/")) == "405"
    assert not mismatches, f"{len(mismatches)} answers differ from the matrix:\n" + "\n".join(mismatches)
