"""Public endpoints: health and the official-verification page (R12)."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django_ratelimit.core import is_ratelimited

from leors import policy
from leors.access.forms import ReferenceCheckForm, StaffCheckForm
from leors.access.selectors import staff_contact_named
from leors.core.health import clocks_health
from leors.core.outbox import reference_check


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Database and broker reachability, as JSON; 200 when both answer, 503 otherwise."""
    from leors.celery import app

    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as error:
        checks["database"] = f"error: {type(error).__name__}"
    try:
        with app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception as error:
        checks["broker"] = f"error: {type(error).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503)


@never_cache
def healthz_clocks(request: HttpRequest) -> JsonResponse:
    """Whether the scheduled work is done (leors/core/health.py): 200 when the clocks sweep finished
    lately and no outbox message has waited too long, 503 otherwise. For monitoring, not for a load
    balancer: a web process serves well while the worker is down."""
    health = clocks_health(now=timezone.now())
    return JsonResponse(health.report, status=200 if health.healthy else 503)


@never_cache
def verify(request: HttpRequest) -> HttpResponse:
    """R12: anyone can check that a reference and code really came from LEORS, and that a person who
    contacted them is a member of the legal team who may contact agencies."""
    checking_staff = request.method == "POST" and request.POST.get("check") == "staff"
    form = ReferenceCheckForm(request.POST if request.method == "POST" and not checking_staff else None)
    staff_form = StaffCheckForm(request.POST if checking_staff else None)
    active = staff_form if checking_staff else form
    result = staff_result = None
    if request.method == "POST":
        # Bounded guessing: ten checks a minute per address, for both questions together.
        if is_ratelimited(request, group="verify", key="ip", rate=policy.VERIFY_RATE, method="POST", increment=True):
            active.add_error(None, "Too many checks from your address. Wait a minute and try again.")
        elif checking_staff and staff_form.is_valid():
            person = staff_contact_named(name=staff_form.cleaned_data["name"])
            staff_result = {"genuine": person is not None, "name": staff_form.cleaned_data["name"]}
        elif not checking_staff and form.is_valid():
            issued = reference_check(reference=form.cleaned_data["reference"], code=form.cleaned_data["code"],
                                     recipient=form.cleaned_data["email"], now=timezone.now())
            result = {"genuine": issued is not None, "issued": issued}
    status = 429 if active.non_field_errors() else (400 if request.method == "POST" and active.errors else 200)
    return render(request, "core/verify.html",
                  {"form": form, "result": result, "staff_form": staff_form, "staff_result": staff_result,
                   "code_valid_days": policy.verification_code_valid_for().days},
                  status=status)
