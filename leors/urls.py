from __future__ import annotations

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import include, path

from cases.api import restriction_feed
from cases.openapi import openapi_schema
from leors.core import views as core_views

# Staff sign in through allauth (with the second factor), never through the bare admin form.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]


def _password_change_through_allauth(request: HttpRequest, extra_context: dict[str, object] | None = None
                                     ) -> HttpResponseRedirect:
    return redirect("account_change_password")


# A password changes only through allauth's page: it asks for the current password, is rate-limited
# and sends the signal the audit trail hangs on (leors/core/signals.py). The admin's own form does
# none of these, so its two pages only point there (templates/admin/base_site.html links there too).
admin.site.password_change = _password_change_through_allauth  # type: ignore[method-assign,assignment]
admin.site.password_change_done = _password_change_through_allauth  # type: ignore[method-assign,assignment]
admin.site.site_header = "LEORS staff workspace"
admin.site.site_title = "LEORS staff"
admin.site.index_title = "Work queues"

# JSON for the machine API, LEORS's own pages for the rest (leors/core/error_pages.py).
handler400 = "leors.core.error_pages.bad_request"
handler403 = "leors.core.error_pages.permission_denied"
handler404 = "leors.core.error_pages.page_not_found"
handler500 = "leors.core.error_pages.server_error"


def _not_offered(request: HttpRequest) -> HttpResponse:
    raise Http404


urlpatterns = [
    # The official e-mail is the vetted identity of an officer: it is never changed by its user.
    path("accounts/email/", _not_offered),
    path("healthz", core_views.healthz, name="healthz"),
    path("healthz/clocks", core_views.healthz_clocks, name="healthz_clocks"),
    path("api/v1/restrictions/", restriction_feed, name="restriction_feed"),
    path("api/v1/openapi.json", openapi_schema, name="openapi_schema"),
    path("verify/", core_views.verify, name="verify"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("cases/", include("cases.urls")),
    path("", include("leors.access.urls")),
]
