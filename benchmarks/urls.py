"""The project's URLs plus one empty page: the floor the benchmarks measure every page against.

`/bench/empty/` goes through the same middleware as every page (session, authentication, second
factor, time zone, session timeout, CSP, no-store) and the same decorators as the case pages
(login_required, never_cache), then returns a few bytes without a query or a template of its own.
Used only by benchmarks/bench.py (ROOT_URLCONF is overridden there), never by the project.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.cache import never_cache


@login_required
@never_cache
def empty(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("bench/empty/", empty, name="bench_empty"),
    path("", include("leors.urls")),
]
