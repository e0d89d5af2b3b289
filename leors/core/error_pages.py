"""The project's error pages: the machine API answers in JSON, everything else with LEORS's own pages.

Django answers a request it cannot read (more than DATA_UPLOAD_MAX_NUMBER_FIELDS parameters, a
malformed body, a host it does not serve) with 400, and an unknown address with 404, before or
outside any view: the exchange's client, which reads every answer of /api/ as JSON, would get an
HTML page. Each answer says what happened and nothing of the request itself.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.log import log_response
from django.views import csrf, defaults

API_PREFIX = "/api/"

API_ERRORS = {
    400: "The request could not be read: check its parameters (each at most once, and no more than the "
         "API documents) and send it again.",
    403: "This request is not allowed.",
    404: "There is nothing at this address. The API's addresses are in /api/v1/openapi.json.",
    405: "This address answers GET only.",
    500: "LEORS could not answer this request. The error has been recorded; send it again in a few minutes.",
}


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)  # as routed: without the deployment's SCRIPT_NAME


def _api_error(status: int) -> JsonResponse:
    response = JsonResponse({"error": API_ERRORS[status]}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def api_get_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Django's `require_GET` for the API: another method is refused with 405 and `Allow: GET`, as there,
    and with a JSON body like every other error of the API (Django's is empty)."""

    @wraps(view)
    def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "GET":
            response = _api_error(405)
            response["Allow"] = "GET"
            log_response("Method Not Allowed (%s): %s", request.method, request.path, response=response,
                         request=request)
            return response
        return view(request, *args, **kwargs)

    return inner


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _api_error(400) if _is_api(request) else defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _api_error(403) if _is_api(request) else defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _api_error(404) if _is_api(request) else defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    return _api_error(500) if _is_api(request) else defaults.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a POST without a valid anti-forgery token. The API's views take bearer tokens
    and are exempt, but one that is not would answer in JSON; a page renders 403_csrf.html (Django's
    view), which says nothing of the reason (Django logs it)."""
    return _api_error(403) if _is_api(request) else csrf.csrf_failure(request, reason)
