"""Officer portal views for cases: parse, check access, call one service, render.

Access is one call to a selector (`case_get_for` and friends): a case the user may not see is the
same 404 as a case that does not exist. Every page that shows case data is never cached; files are
served only as attachments, after the audit event is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cases import selectors
from cases.forms import (
    DOCUMENT_PREFIX,
    MAX_SUBJECT_ROWS,
    NO_FILE_KEPT,
    SUBJECT_PREFIX,
    CaseFilterForm,
    CaseForm,
    DocumentForm,
    DocumentFormSet,
    MessageForm,
    ShareForm,
    SubjectForm,
    SubjectFormSet,
    document_row_limit,
    new_submission_key,
    request_type_options,
    submission_key_or_new,
)
from cases.models import Case, CaseDocument, Freeze, PreservationHold, RequestType
from cases.services import clocks, correspondence, intake, productions, recovery
from cases.services.common import staff_case_path
from leors import policy
from leors.access import selectors as access_selectors
from leors.core.audit import Actor
from leors.core.errors import ActionRefused, form_errors_from_service
from leors.core.pagination import FirstPageCountingPaginator

CASES_PER_PAGE = 25
_SUBJECT_ROW_ERROR = re.compile(r"^Subject (\d+): (.*)$", re.DOTALL)


def _is_htmx_fragment(request: HttpRequest) -> bool:
    """An htmx request that swaps part of the page (a history restore needs the whole page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request  # type: ignore[union-attr]


# --- My cases ---------------------------------------------------------------------------------------

def current_access_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """An officer whose access is past its re-verification date, or suspended, can use nothing of the
    portal until it is renewed: every case page says so (403). Derived from the stored date, so it
    holds from the first second, with no sweep involved."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_staff:
            officer = access_selectors.officer_for(user=request.user)
            if officer is not None and not officer.is_access_current(timezone.now()):
                return render(request, "cases/access_not_current.html", {"officer": officer}, status=403)
        return view(request, *args, **kwargs)

    return guarded


@login_required
@current_access_required
@never_cache
@require_GET
def case_list(request: HttpRequest) -> HttpResponse:
    """The cases the user may see: their own, those shared with them and, for an agency supervisor,
    every case of the agency. Which cases those are is decided by permissions, never here."""
    if request.user.is_staff:
        return redirect("admin:index")
    filters = CaseFilterForm(request.GET)
    cases = selectors.case_search_for(user=request.user, query=filters.value_of("q"),
                                      status=filters.value_of("status"), request_type=filters.value_of("type"))
    page = FirstPageCountingPaginator(cases, CASES_PER_PAGE, rows=selectors.case_list_rows) \
        .get_page(request.GET.get("page"))
    now = timezone.now()
    context = {
        "filters": filters,
        "page": page,
        "is_filtered": any(filters.value_of(name) for name in ("q", "status", "type")),
        "can_submit": access_selectors.officer_has_current_access(user=request.user, now=now),
    }
    template = "cases/_case_results.html" if _is_htmx_fragment(request) else "cases/list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- A new request ----------------------------------------------------------------------------------

def _officer_gate(request: HttpRequest, now: datetime) -> HttpResponse | None:
    """R1: only an officer with current access may send a request. Anyone who is not an officer gets
    the 404 of a page that is not theirs; an officer whose access lapsed is told why (403)."""
    officer = access_selectors.officer_for(user=request.user)
    if officer is None or request.user.is_staff:
        raise Http404("No such page.")
    if not access_selectors.officer_has_current_access(user=request.user, now=now):
        return render(request, "cases/access_not_current.html", {"officer": officer}, status=403)
    return None


def _error_summary(*, form: CaseForm, subjects: Any, documents: Any, subject_errors: list[str],
                   document_errors: list[str]) -> list[tuple[str, str]]:
    """Every problem once, each linked to where it is shown on the page (anchor, text)."""
    items: list[tuple[str, str]] = []
    for name, errors in form.errors.items():
        visible = name in form.fields and not form[name].is_hidden
        items += [(f"#field-{form[name].html_name}" if visible else "", str(text)) for text in errors]
    for prefix, formset, extra in (("subject", subjects, subject_errors), ("document", documents, document_errors)):
        items += [(f"#{prefix}s", str(text)) for text in [*formset.non_form_errors(), *extra]]
        for form_in_row in formset.forms:
            items += [(f"#{prefix}-row-{form_in_row.row_number}", str(text))
                      for errors in form_in_row.errors.values() for text in errors]
    return items


def _new_context(*, form: CaseForm | None, current_type: str = "", subjects: Any = None, documents: Any = None,
                 type_error: str = "", has_errors: bool = False, subject_errors: list[str] | None = None,
                 document_errors: list[str] | None = None) -> dict[str, Any]:
    summary = []
    if has_errors and form is not None:
        summary = _error_summary(form=form, subjects=subjects, documents=documents,
                                 subject_errors=subject_errors or [], document_errors=document_errors or [])
    return {
        "error_summary": summary,
        "form": form,
        "subjects": subjects,
        "documents": documents,
        "type_options": request_type_options(),
        "current_type": current_type,
        "type_error": type_error,
        "has_errors": has_errors,
        "subject_errors": subject_errors or [],
        "document_errors": document_errors or [],
        "no_file_kept": NO_FILE_KEPT,
        "max_documents": document_row_limit(),
        "max_subjects": MAX_SUBJECT_ROWS,
    }


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def case_new(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    refused = _officer_gate(request, now)
    if refused is not None:
        return refused
    if request.method == "POST":
        return _case_new_post(request, now)
    request_type = request.GET.get("type", "")
    if request_type not in RequestType.values:
        # Step one (works without JavaScript): choose the kind of request, then see only its fields.
        return render(request, "cases/new.html", _new_context(form=None))
    initial = {"submission_key": new_submission_key(), "request_type": request_type}
    # "File an extension" on a preservation's page links here with `extends=<reference>` (R7); the
    # service checks the reference when the form is sent, as if the officer had typed it.
    extends = request.GET.get("extends", "").strip()[:40]
    if extends:
        initial["extends_case_reference"] = extends
    form = CaseForm(request_type=request_type, initial=initial)
    return render(request, "cases/new.html", _new_context(
        form=form, current_type=request_type, subjects=SubjectFormSet(prefix=SUBJECT_PREFIX),
        documents=DocumentFormSet(prefix=DOCUMENT_PREFIX)))


def _case_new_post(request: HttpRequest, now: datetime) -> HttpResponse:
    data = request.POST.copy()
    data["submission_key"] = submission_key_or_new(data.get("submission_key"))
    request_type = data.get("request_type", "")
    if request_type not in RequestType.values:
        return render(request, "cases/new.html", _new_context(form=None, type_error="Choose the kind of request."),
                      status=400)
    form = CaseForm(data, request_type=request_type)
    subjects = SubjectFormSet(data, prefix=SUBJECT_PREFIX)
    documents = DocumentFormSet(data, request.FILES, prefix=DOCUMENT_PREFIX)
    subject_errors: list[str] = []
    document_errors: list[str] = []
    # Evaluate all three so that every parse error is shown at once.
    if all([form.is_valid(), subjects.is_valid(), documents.is_valid()]):
        identifiers, identifier_rows = subjects.to_inputs()
        document_inputs, document_rows = documents.to_inputs()
        try:
            case = intake.case_submit(user=request.user,  # type: ignore[arg-type]
                                      data=form.to_input(identifiers=identifiers, documents=document_inputs),
                                      actor=Actor.from_request(request), now=now)
        except ValidationError as error:
            subject_errors, document_errors = _attach_intake_errors(
                error, form=form, subjects=subjects, identifier_rows=identifier_rows, documents=documents,
                document_rows=document_rows)
        except ActionRefused as refusal:
            form.add_error(None, refusal.message)
        else:
            # A repeated post (double click, retry) returns the case the first post made.
            already = case.submitted_at != now
            messages.success(
                request,
                (f"This form was already sent: it made request {case.reference}. Nothing was sent twice. "
                 if already else
                 f"Your request was received as {case.reference}. Our legal team reviews every request "
                 "independently and may ask you for more information here. ") + policy.NO_WAIVER_NOTICE,
                extra_tags="confirmation",
            )
            return redirect("cases:detail", reference=case.reference)
    return render(request, "cases/new.html", _new_context(
        form=form, current_type=request_type, subjects=subjects, documents=documents, has_errors=True,
        subject_errors=subject_errors, document_errors=document_errors), status=400)


def _attach_intake_errors(error: ValidationError, *, form: CaseForm, subjects: Any, identifier_rows: list[int],
                          documents: Any, document_rows: list[int]) -> tuple[list[str], list[str]]:
    """Put each problem the service found next to its field, its subject row or its document row.

    The service numbers subjects among those it was given ("Subject 2: …") and names documents by
    file name; blank rows were left out, so both are mapped back to the rows the officer sees.
    """
    subject_errors: list[str] = []
    document_errors: list[str] = []
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return subject_errors, document_errors
    for field, field_errors in error.error_dict.items():
        texts = [text for item in field_errors for text in item.messages]
        if field == "identifiers":
            for text in texts:
                match = _SUBJECT_ROW_ERROR.match(text)
                number = int(match.group(1)) if match else 0
                if match and 1 <= number <= len(identifier_rows):
                    row = identifier_rows[number - 1]
                    subjects.forms[row].add_error("value", f"Subject {row + 1}: {match.group(2)}")
                else:
                    subject_errors.append(text)
        elif field == "documents":
            names = {row: documents.forms[row].chosen_file_name for row in document_rows}
            for text in texts:
                rows = [row for row, name in names.items() if name and f"“{name}”" in text]
                if len(rows) == 1 and list(names.values()).count(names[rows[0]]) == 1:
                    documents.forms[rows[0]].add_error(None, text)
                else:
                    document_errors.append(text)
        else:
            form.add_error(field if field in form.fields else None, texts)
    return subject_errors, document_errors


def _row_index(request: HttpRequest, prefix: str) -> int | None:
    try:
        return int(request.GET.get(f"{prefix}-TOTAL_FORMS", ""))
    except ValueError:
        return None


@login_required
@never_cache
@require_GET
def case_new_subject_row(request: HttpRequest) -> HttpResponse:
    """htmx: one more blank subject row (without JavaScript the form shows a few blank rows)."""
    return _blank_row(request, prefix=SUBJECT_PREFIX, limit=MAX_SUBJECT_ROWS, name="subject", focus="kind",
                      build=lambda index: SubjectForm(prefix=f"{SUBJECT_PREFIX}-{index}", row_index=index))


@login_required
@never_cache
@require_GET
def case_new_document_row(request: HttpRequest) -> HttpResponse:
    """htmx: one more blank document row, up to the number of files a request may carry."""
    return _blank_row(request, prefix=DOCUMENT_PREFIX, limit=document_row_limit(), name="document", focus="file",
                      build=lambda index: DocumentForm(prefix=f"{DOCUMENT_PREFIX}-{index}", row_index=index,
                                                       row_count=index + 1))


def _blank_row(request: HttpRequest, *, prefix: str, limit: int, name: str, focus: str,
               build: Callable[[int], Any]) -> HttpResponse:
    """The next blank row of a formset (`cases/_new_row.html`, with `cases/_<name>_row.html`), or 204 past the limit."""
    refused = _officer_gate(request, timezone.now())
    if refused is not None:
        return refused
    index = _row_index(request, prefix)
    if index is None or not 0 <= index < limit:
        return HttpResponse(status=204)
    row = build(index)
    row.fields[focus].widget.attrs["autofocus"] = True  # htmx focuses the new row after the swap
    return render(request, "cases/_new_row.html", {
        "row": row, "kind": name, "prefix": prefix, "total": index + 1, "at_limit": index + 1 >= limit})


# --- One case ---------------------------------------------------------------------------------------

def _deadlines(case: Case, now: datetime) -> dict[str, Any]:
    """R7, R8: the clock of the case as the officer reads it. "In force" is derived from the stored
    end at `now` (is_in_force), so the page is right even when no sweep has run yet."""
    if case.request_type == RequestType.PRESERVATION:
        hold = PreservationHold.objects.filter(case=case).first()
        if hold is None:
            return {}
        in_force = hold.is_in_force(now)
        ended = None if in_force else clocks.hold_ended(hold, now=now)
        return {
            "hold": hold,
            "hold_in_force": in_force,
            # Past its end, a hold held open by an extension under review cannot be extended again
            # (the service refuses an extension filed after the end), so the link is not offered.
            "can_extend": in_force and now < hold.expires_at,
            "hold_awaits_extension": in_force and now >= hold.expires_at,
            # Ended early (withdrawn, declined), at its end, or past it when an extension under review kept it; the
            # same before a sweep records the lapse.
            "hold_ended_at": ended,
            # An extension filed in time kept it past its end (before the sweep records the lapse too).
            "hold_kept_past_end": hold.kept_past(ended),
        }
    if case.request_type == RequestType.FREEZE:
        freeze = Freeze.objects.filter(case=case).first()
        continued = None
        if freeze is None and case.extends_case_id is not None and case.status == Case.Status.FULFILLED:
            # An accepted further order for a freeze still in force extends that freeze (R8), which may be
            # the freeze of the order it names or, through further orders, of an earlier one.
            continued = clocks.freeze_continued(case)
        shown = freeze or continued
        # Past its end, kept by a further order accepted in time and awaiting activation: until when at the latest.
        held_until = shown.held_until(now) if shown is not None else None
        return {
            "freeze": freeze,
            "continued_freeze": continued,
            "freeze_in_force": shown.is_in_force(now) if shown is not None else False,
            "freeze_held_until": held_until,
            # Lifted: when it stopped restricting the account (past its end, if a further order kept it).
            "freeze_end": (shown.ended or shown.expires_at) if shown is not None else None,
            # No freeze yet: still open to review, or accepted and awaiting its activation (R8, R10).
            "freeze_may_start": case.status in (*Case.OPEN_STATUSES, *Case.ACCEPTED_STATUSES),
        }
    return {}


def _detail_context(request: HttpRequest, case: Case, **forms: Any) -> dict[str, Any]:
    user = request.user
    now = timezone.now()
    can_respond = selectors.user_may(user, "cases.respond_case", case)
    is_open_for_messages = case.status not in (Case.Status.CLOSED, Case.Status.WITHDRAWN)
    case_messages = list(selectors.case_messages_for(user=user, case=case))
    open_question = None
    if case.status == Case.Status.INFORMATION_REQUESTED:
        open_question = next((message for message in reversed(case_messages) if message.is_question), None)
    deadlines = _deadlines(case, now)
    productions = list(selectors.productions_for(user=user, case=case))
    is_recovery = case.request_type == RequestType.ASSET_RECOVERY
    freeze = deadlines.get("freeze")
    # R8: withdrawing the order of a freeze in force asks the legal team to lift it (they do, after
    # checking with the agency); which statuses allow a withdrawal is the service's rule.
    own_freeze_in_force = freeze is not None and deadlines["freeze_in_force"]
    withdraws_freeze = own_freeze_in_force and case.status == Case.Status.FULFILLED
    return {
        **deadlines,
        "case": case,
        "now": now,
        "subjects": case.subjects.all(),
        # Message attachments are listed with their (non-internal) message, not here.
        "documents": case.documents.exclude(role=CaseDocument.Role.ATTACHMENT).select_related("translation_of"),
        "timeline": selectors.case_timeline_for_officer(case=case, released=productions),
        "case_messages": case_messages,
        "open_question": open_question,
        "productions": productions,
        "is_decided": case.decided_at is not None,
        "can_message": can_respond and is_open_for_messages,
        "can_withdraw": can_respond and case.status in correspondence.case_withdrawable_from(
            freeze_in_force=own_freeze_in_force),
        "withdraws_freeze": withdraws_freeze,
        "can_share": selectors.user_may(user, "cases.share_case", case),
        "message_form": forms.get("message_form") or MessageForm(),
        "share_form": forms.get("share_form") or ShareForm(),
        "withdraw_error": forms.get("withdraw_error", ""),
        # R9: what the officer sees of a recovery: the verified officials, the instructions to
        # acknowledge, and the recorded return.
        "recovery_officials": [o for o in case.recovery_officials.all() if o.is_verified] if is_recovery else [],
        "recovery_instructions": getattr(case, "recovery_instructions", None) if is_recovery else None,
        "asset_return": getattr(case, "asset_return", None) if is_recovery else None,
        "can_acknowledge": can_respond,
        "acknowledge_error": forms.get("acknowledge_error", ""),
    }


@login_required
@current_access_required
@never_cache
@require_GET
def case_detail(request: HttpRequest, reference: str) -> HttpResponse:
    case = selectors.case_get_for(user=request.user, reference=reference)
    if request.user.is_staff:
        return redirect(staff_case_path(case))
    return render(request, "cases/detail.html", _detail_context(request, case))


@login_required
@current_access_required
@never_cache
@require_POST
def case_message(request: HttpRequest, reference: str) -> HttpResponse:
    """A message to the legal team; while the case awaits more information, it is the answer (R10)."""
    case = selectors.case_get_for(user=request.user, reference=reference, perm="cases.respond_case")
    form = MessageForm(request.POST, request.FILES)
    was_waiting = case.status == Case.Status.INFORMATION_REQUESTED
    if form.is_valid():
        try:
            correspondence.case_message_post(case=case, body=form.cleaned_data["body"],
                                             attachments=form.cleaned_data["attachments"], is_internal=False,
                                             actor=Actor.from_request(request), now=timezone.now())
        except ValidationError as error:
            form_errors_from_service(form, error)
        except ActionRefused as refusal:
            form.add_error(None, refusal.message)
        else:
            messages.success(request, "Your answer was sent. The request is back in review." if was_waiting
                             else "Your message was sent to the legal team.")
            return redirect("cases:detail", reference=case.reference)
    return render(request, "cases/detail.html", _detail_context(request, case, message_form=form), status=400)


@login_required
@current_access_required
@never_cache
@require_POST
def case_withdraw(request: HttpRequest, reference: str) -> HttpResponse:
    case = selectors.case_get_for(user=request.user, reference=reference, perm="cases.respond_case")
    try:
        withdrawal = correspondence.case_withdraw(case=case, actor=Actor.from_request(request), now=timezone.now())
    except ActionRefused as refusal:
        case.refresh_from_db()
        return render(request, "cases/detail.html", _detail_context(request, case, withdraw_error=refusal.message),
                      status=400)
    messages.success(request, f"Request {case.reference} was withdrawn." + (
        " The legal team lifts the freeze once they have confirmed the withdrawal with your agency."
        if withdrawal.freeze_lift_requested else ""))
    return redirect("cases:detail", reference=case.reference)


@login_required
@current_access_required
@never_cache
@require_POST
def case_share(request: HttpRequest, reference: str) -> HttpResponse:
    case = selectors.case_get_for(user=request.user, reference=reference, perm="cases.share_case")
    form = ShareForm(request.POST)
    if form.is_valid():
        try:
            colleague = correspondence.case_share(case=case, colleague_email=form.cleaned_data["colleague_email"],
                                                  actor=Actor.from_request(request), now=timezone.now())
        except ValidationError as error:
            form_errors_from_service(form, error)
        except ActionRefused as refusal:
            form.add_error(None, refusal.message)
        else:
            messages.success(request, f"{colleague.email} can now see and answer this request.")
            return redirect("cases:detail", reference=case.reference)
    return render(request, "cases/detail.html", _detail_context(request, case, share_form=form), status=400)


# --- Files --------------------------------------------------------------------------------------------

def _attachment(file: FieldFile, *, filename: str, content_type: str) -> FileResponse:
    """Always a download, never rendered by the browser, never kept in a cache."""
    stream: File = file.open("rb")  # type: ignore[assignment]
    response = FileResponse(stream, as_attachment=True, filename=filename, content_type=content_type)
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@current_access_required
@require_GET
def case_document_download(request: HttpRequest, document_id: int) -> FileResponse:
    """Permission-checked (404 like a missing document) and audited; serves staff as well."""
    document = selectors.case_document_get_for(user=request.user, document_id=document_id)
    productions.case_document_download_record(document=document, actor=Actor.from_request(request), now=timezone.now())
    return _attachment(document.file, filename=document.original_name, content_type=document.content_type)


@login_required
@current_access_required
@require_GET
def production_download(request: HttpRequest, production_id: int) -> HttpResponseBase:
    """A released production, within its download window; every download is audited."""
    production = selectors.production_get_for(user=request.user, production_id=production_id)
    try:
        productions.production_download_record(production=production, actor=Actor.from_request(request),
                                               now=timezone.now())
    except ActionRefused as refusal:
        response = render(request, "cases/download_refused.html",
                          {"production": production, "case": production.case, "reason": refusal.message}, status=410)
        response["Cache-Control"] = "no-store"
        return response
    return _attachment(production.file, filename=production.original_name, content_type=production.content_type)


@login_required
@current_access_required
@never_cache
@require_POST
def recovery_acknowledge(request: HttpRequest, reference: str) -> HttpResponse:
    """R9: the officer acknowledges the written instructions before any return."""
    case = selectors.case_get_for(user=request.user, reference=reference, perm="cases.respond_case")
    try:
        recovery.recovery_instructions_acknowledge(case=case, actor=Actor.from_request(request), now=timezone.now())
    except ActionRefused as refusal:
        return render(request, "cases/detail.html", _detail_context(request, case, acknowledge_error=refusal.message),
                      status=400)
    messages.success(request, "You acknowledged the instructions for the return.")
    return redirect("cases:detail", reference=case.reference)
