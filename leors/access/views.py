"""Officer portal views: parse, check access, call one service, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_ratelimit.core import is_ratelimited

from leors import policy
from leors.access import selectors, services
from leors.access.forms import AnswerForm, ApplicationForm, VerifyEmailForm
from leors.core.audit import Actor, audit_record
from leors.core.errors import ActionRefused, form_errors_from_service


@never_cache
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return render(request, "portal/landing.html")
    if request.user.is_staff:
        return redirect("admin:index")
    now = timezone.now()
    officer = selectors.officer_for(user=request.user)
    return render(
        request,
        "portal/home.html",
        {
            "officer": officer,
            "access_current": officer is not None and officer.is_access_current(now),
            "applications": selectors.applications_of_applicant(user=request.user),
            "now": now,
        },
    )


@never_cache
def apply(request: HttpRequest) -> HttpResponse:
    """R1 + R3: the public application form."""
    if request.method == "POST":
        # Bounded: an address can send a handful of applications an hour. Checked before the body
        # (and its files) is parsed.
        if is_ratelimited(request, group="apply", key="ip", rate=policy.APPLY_RATE, method="POST", increment=True):
            context = {**_apply_context(ApplicationForm()),
                       "refusal": "Too many applications from your network. Wait an hour and try again."}
            return render(request, "portal/apply.html", context, status=429)
        form = ApplicationForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                services.application_submit(
                    data=form.to_data(),
                    documents=form.cleaned_data["documents"],
                    actor=Actor.from_request(request),
                    now=timezone.now(),
                )
            except ValidationError as error:
                form_errors_from_service(form, error)
            else:
                # The same page whether or not the address already had an account (no enumeration).
                return redirect("portal:apply_sent")
    else:
        form = ApplicationForm()
    return render(request, "portal/apply.html", _apply_context(form), status=400 if request.method == "POST" else 200)


def _apply_context(form: ApplicationForm) -> dict[str, object]:
    return {
        "form": form,
        "undertaking": policy.UNDERTAKINGS[policy.CURRENT_UNDERTAKING_VERSION],
        "undertaking_version": policy.CURRENT_UNDERTAKING_VERSION,
    }


def apply_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/apply_sent.html")


@never_cache
def application_verify_email(request: HttpRequest, token: str) -> HttpResponse:
    """The link's owner sees what was applied for in their name and chooses the password.

    Only the POST verifies, so mail scanners that follow links change nothing.
    """
    try:
        application = services.application_for_token(token=token)
    except ActionRefused as refusal:
        return render(request, "portal/verify_email.html", {"error": refusal.message}, status=400)
    form = VerifyEmailForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            verified = services.application_verify_email(
                token=token, password=form.cleaned_data["password1"], actor=Actor.from_request(request),
                now=timezone.now())
        except ValidationError as error:
            form_errors_from_service(form, error)
        except ActionRefused as refusal:
            return render(request, "portal/verify_email.html", {"error": refusal.message}, status=400)
        else:
            return render(request, "portal/verify_email.html", {"verified": verified})
    status = 400 if request.method == "POST" else 200
    return render(request, "portal/verify_email.html", {"application": application, "form": form}, status=status)


@login_required
@never_cache
def application_detail(request: HttpRequest, reference: str) -> HttpResponse:
    application = selectors.application_get_for(user=request.user, reference=reference, perm="access.respond_accessapplication")
    return render(
        request,
        "portal/application_detail.html",
        {
            "application": application,
            "messages_list": application.messages.all(),
            "answer_form": AnswerForm(),
            "now": timezone.now(),
        },
    )


@login_required
@require_POST
def application_answer(request: HttpRequest, reference: str) -> HttpResponse:
    application = selectors.application_get_for(user=request.user, reference=reference, perm="access.respond_accessapplication")
    form = AnswerForm(request.POST)
    if form.is_valid():
        try:
            services.application_answer(application=application, answer=form.cleaned_data["answer"],
                                        actor=Actor.from_request(request), now=timezone.now())
        except ValidationError as error:
            form_errors_from_service(form, error)
        except ActionRefused as refusal:
            form.add_error(None, refusal.message)
        else:
            messages.success(request, "Your answer was sent. Your application is back in the review queue.")
            return redirect("portal:application_detail", reference=application.reference)
    return render(
        request,
        "portal/application_detail.html",
        {"application": application, "messages_list": application.messages.all(), "answer_form": form, "now": timezone.now()},
        status=400,
    )


@login_required
@require_POST
def application_withdraw(request: HttpRequest, reference: str) -> HttpResponse:
    application = selectors.application_get_for(user=request.user, reference=reference, perm="access.respond_accessapplication")
    try:
        services.application_withdraw(application=application, actor=Actor.from_request(request), now=timezone.now())
    except ActionRefused as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, "Your application was withdrawn.")
    return redirect("portal:application_detail", reference=application.reference)


@login_required
def application_document_download(request: HttpRequest, document_id: int) -> FileResponse:
    """Permission-checked and audited; served as an attachment, never rendered inline."""
    document = selectors.application_document_get_for(user=request.user, document_id=document_id)
    with transaction.atomic():
        audit_record(actor=Actor.from_request(request), action="document.downloaded", obj=document,
                     changes={"application": document.application.reference, "sha256": document.sha256})
    response = FileResponse(document.file.open("rb"), as_attachment=True, filename=document.original_name,
                            content_type=document.content_type)
    response["Cache-Control"] = "no-store"
    return response


@never_cache
def sign_in_report(request: HttpRequest, token: str) -> HttpResponse:
    """The link in a "new sign-in" e-mail. GET explains; only the POST suspends (link scanners)."""
    try:
        device = services.sign_in_report_device(token=token)
    except ActionRefused as refusal:
        return render(request, "portal/sign_in_report.html", {"error": refusal.message}, status=400)
    if request.method == "POST":
        services.sign_in_report(token=token, actor=Actor.from_request(request), now=timezone.now())
        return render(request, "portal/sign_in_report.html", {"reported": True})
    return render(request, "portal/sign_in_report.html", {"device": device})
