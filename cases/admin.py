"""The staff workspace for cases (R4, R5, R6, R7, R8, R10).

As for access applications (leors.access.admin), the case admin is read-only: no model field is
ever edited through a Django form. The review is done on workflow pages (extra admin URLs), each of
which fetches the case through `selectors.case_get_for` (404 for "missing" and "forbidden" alike),
parses one form, calls one service and goes back to the case. The services check the state, write
the audit event and queue the e-mails; the officer portal calls the same services.

Who may do what: leads and auditors see every case, reviewers only those assigned to them (object
permissions granted at assignment). Assigning takes "cases.assign_case" (leads); every other step
takes "cases.review_case", which leads hold for every case and a reviewer for the assigned ones.
Auditors hold neither: they read everything and change nothing.

The clocks (R7 preservation holds, R8 freezes) are shown on the case page as the services stored
them, with "in force" derived from the stored end at the moment of asking (`is_in_force(now)`), so
the page is right even when no sweep has run. A freeze is started and lifted early only through the
`activate` and `lift` workflow pages, which call `services.clocks`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import ValidationError
from django.db.models import Case as SqlCase
from django.db.models import Exists, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from cases import selectors
from cases.admin_forms import (
    CaseAssignForm,
    CaseChecklistForm,
    CaseDecideForm,
    CaseDocumentLanguageForm,
    CaseDocumentVerifyForm,
    CaseMessageForm,
    CaseNotificationForm,
    CaseQuestionForm,
    ConfirmForm,
    FreezeActivateForm,
    FreezeLiftForm,
    ProductionReleaseForm,
    ProductionUploadForm,
)
from cases.identifiers import identifier_normalize
from cases.models import (
    CHECKLIST_FIELDS,
    Case,
    CaseDocument,
    Freeze,
    PreservationHold,
    Reminder,
    RequestType,
    SubjectIdentifier,
)
from cases.services import clocks, correspondence, productions, review
from cases.services.intake import language_name
from leors import policy
from leors.access.admin import VisibleCountryFilter, WorkflowPagesMixin
from leors.core.admin import ReadOnlyModelAdmin
from leors.core.audit import Actor, audit_history_for
from leors.core.errors import ActionRefused
from leors.core.models import AuditEvent

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec

PERM_ASSIGN = "cases.assign_case"
PERM_REVIEW = "cases.review_case"

WORKFLOW_TEMPLATE = "admin/cases/workflow_form.html"

Status = Case.Status
# The checklist, like the language of a document, can change only while the case is under review.
REVIEWABLE_STATUSES = Case.OPEN_STATUSES
CLOSABLE_STATUSES = (Status.FULFILLED, Status.DECLINED, Status.WITHDRAWN)
# The queue's "ending soon" filter: a working week's notice for the reviewer (a view of the queue,
# not a rule's number: the officers' reminders use policy.*_reminder_days()).
CLOCK_ENDING_SOON = timedelta(days=7)


def _case_pk(object_id: Any) -> int:
    # The admin passes the id from the URL as text; anything but a number is simply not there.
    try:
        return int(object_id)
    except (TypeError, ValueError):
        raise Http404("No such case.") from None


def _needs_language_check() -> Exists:
    """R4: the case holds a scan (no text layer) whose language no reviewer has recorded yet."""
    return Exists(CaseDocument.objects.filter(
        case=OuterRef("pk"), language_status=CaseDocument.LanguageStatus.NO_TEXT, language_cleared_at__isnull=True,
    ))


class LanguageCheckFilter(admin.SimpleListFilter):
    title = "manual language check (R4)"
    parameter_name = "language_check"

    NEEDED = "needed"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(self.NEEDED, "Needs a manual language check")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == self.NEEDED:
            return queryset.filter(_needs_language_check())
        return queryset


def _hold_in_force(now: datetime) -> Q:
    """R7, as PreservationHold.is_in_force: active and before its end, or past it with an extension filed
    before that end still awaiting review (such a hold does not lapse)."""
    pending_extension = Case.objects.filter(
        extends_case_id=OuterRef("pk"), status__in=Case.OPEN_STATUSES,
        submitted_at__lt=OuterRef("hold__expires_at"),
    )
    return Q(hold__status=PreservationHold.Status.ACTIVE) & (Q(hold__expires_at__gt=now) | Q(Exists(pending_extension)))


def _freeze_in_force(now: datetime) -> Q:
    """R8, as Freeze.is_in_force: a freeze past its end is never in force, swept or not."""
    return Q(freeze__status=Freeze.Status.ACTIVE, freeze__expires_at__gt=now)


class ClockFilter(admin.SimpleListFilter):
    """R7, R8: the restrictions in force, and those that end soon, from the stored end times."""

    title = "clock (R7, R8)"
    parameter_name = "clock"

    FREEZE_IN_FORCE = "freeze_in_force"
    HOLD_IN_FORCE = "hold_in_force"
    ENDING_SOON = "ending_soon"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        days = CLOCK_ENDING_SOON.days
        return [(self.FREEZE_IN_FORCE, "Freeze in force"), (self.HOLD_IN_FORCE, "Preservation hold in force"),
                (self.ENDING_SOON, f"Freeze or hold ending within {days} days")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        now = timezone.now()
        if value == self.FREEZE_IN_FORCE:
            return queryset.filter(_freeze_in_force(now))
        if value == self.HOLD_IN_FORCE:
            return queryset.filter(_hold_in_force(now))
        if value == self.ENDING_SOON:
            soon = now + CLOCK_ENDING_SOON
            return queryset.filter(
                (_freeze_in_force(now) & Q(freeze__expires_at__lte=soon))
                | (Q(hold__status=PreservationHold.Status.ACTIVE, hold__expires_at__gt=now,
                     hold__expires_at__lte=soon))
            )
        return queryset.none()


class CaseWorkflowPagesMixin(WorkflowPagesMixin):
    """The access workspace's workflow pages, rendered with the case template: it accepts files
    (productions, attachments) and lists what blocks the step, straight from the services."""

    def _workflow_page(
        self,
        request: HttpRequest,
        *,
        obj: Any,
        form: forms.Form,
        title: str,
        submit_label: str,
        perform: Callable[[], str],
        intro: str = "",
        facts: list[tuple[str, Any]] | None = None,
        blockers: list[str] | None = None,
        blockers_title: str = "",
    ) -> HttpResponse:
        response = super()._workflow_page(
            request, obj=obj, form=form, title=title, submit_label=submit_label, perform=perform, intro=intro,
            facts=facts,
        )
        if isinstance(response, TemplateResponse):  # not yet rendered: the template can still change
            response.template_name = WORKFLOW_TEMPLATE
            response.context_data = {
                **(response.context_data or {}), "blockers": blockers or [], "blockers_title": blockers_title,
            }
        return response

    @staticmethod
    def _files_data(request: HttpRequest) -> Any:
        return request.FILES if request.method == "POST" else None


@admin.register(Case)
class CaseAdmin(CaseWorkflowPagesMixin, ReadOnlyModelAdmin):
    change_form_template = "admin/cases/case/change_form.html"
    list_display = (
        "reference", "request_type", "status", "agency", "submitted_at", "age_days", "assigned_to",
        "language_check",
    )
    list_filter = (
        "status", "request_type", ("agency__country", VisibleCountryFilter), LanguageCheckFilter, ClockFilter,
    )
    search_fields = ("reference", "title", "case_reference", "subjects__normalized")
    search_help_text = "A LEORS reference, a title, the agency's own reference, or a subject (UID, e-mail, "\
                       "phone, wallet, transaction)."

    def get_queryset(self, request: HttpRequest) -> QuerySet[Case]:
        # Leads and auditors see every case; reviewers only those assigned to them (object permissions).
        return selectors.case_list_for(user=request.user).annotate(
            queue_rank=SqlCase(When(status__in=Case.OPEN_STATUSES, then=Value(0)), default=Value(1),
                             output_field=IntegerField()),
            needs_language_check=_needs_language_check(),
        )

    def get_ordering(self, request: HttpRequest) -> tuple[str, ...]:
        # The queue: open cases first, the oldest of them first (R10: nothing waits unseen). Not
        # `ordering`: it names an annotation of get_queryset, which the admin's checks reject there.
        return ("queue_rank", "submitted_at", "pk")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Case], search_term: str
    ) -> tuple[QuerySet[Case], bool]:
        """Also find a subject written differently from how it is stored (a phone number with
        dashes or brackets, as on a letterhead): the whole term is normalized as intake does it."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term:
            return results, may_have_duplicates
        match = Q()
        for kind in SubjectIdentifier.Kind.values:
            try:
                normalized = identifier_normalize(kind=kind, value=term)
            except ValidationError:
                continue
            match |= Q(kind=kind, normalized=normalized.normalized)
        if not match:
            return results, may_have_duplicates
        subjects = SubjectIdentifier.objects.filter(match, case=OuterRef("pk"))
        return results | queryset.filter(Exists(subjects)), may_have_duplicates

    # -- columns and read-only fields

    @admin.display(description="age (days)", ordering="-submitted_at")
    def age_days(self, obj: Case) -> str:
        # The age of the request while it waits on the legal team or the officer; a decided case
        # is no longer in the queue.
        if not obj.is_open:
            return "—"
        return str((timezone.now() - obj.submitted_at).days)

    @admin.display(description="language (R4)", ordering="-needs_language_check")
    def language_check(self, obj: Case) -> str:
        # Annotated by get_queryset; shown only when a check is needed, so the column reads as a flag.
        return "manual check needed" if getattr(obj, "needs_language_check", False) else ""

    @admin.display(description="agency's own reference")
    def agency_reference(self, obj: Case) -> str:
        return obj.case_reference or "—"

    @admin.display(description="officer")
    def officer_display(self, obj: Case) -> str:
        return f"{obj.officer.user.full_name or obj.officer.user.email} <{obj.officer.user.email}>"

    @admin.display(description="language of the request text")
    def text_language_display(self, obj: Case) -> str:
        return _language_label(obj.text_language, obj.text_language_confidence)

    @admin.display(description="period")
    def period(self, obj: Case) -> str:
        if not obj.period_from and not obj.period_to:
            return "not stated"
        return f"{obj.period_from or '…'} – {obj.period_to or '…'}"

    @admin.display(description="non-disclosure instruction (R6)")
    def non_disclosure(self, obj: Case) -> str:
        if obj.has_non_disclosure_instruction is None:
            return "not stated"
        if not obj.has_non_disclosure_instruction:
            return "none: the user may be notified before disclosure"
        until = f"until {obj.non_disclosure_until}" if obj.non_disclosure_until else "without an end date"
        in_force = "in force" if obj.is_non_disclosure_in_force(timezone.now()) else "ended"
        return f"do not notify the user, {until} ({in_force})"

    @admin.display(description="extends the preservation")
    def extends_case_link(self, obj: Case) -> str:
        if obj.extends_case is None:
            return "—"
        url = reverse("admin:cases_case_change", args=[obj.extends_case.pk])
        return format_html('<a href="{}">{}</a>', url, obj.extends_case.reference)

    @admin.display(description="further order for the freeze")
    def further_order_of(self, obj: Case) -> str:
        if obj.extends_case is None:
            return "— (a new freeze order)"
        url = reverse("admin:cases_case_change", args=[obj.extends_case.pk])
        return format_html('<a href="{}">{}</a>', url, obj.extends_case.reference)

    @admin.display(description="checklist complete", boolean=True)
    def checklist_complete(self, obj: Case) -> bool:
        return obj.is_checklist_complete

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> _FieldsetSpec:
        """The facts of the request, and only those its type asks for."""
        fieldsets: list[Any] = [
            ("Request", {"fields": (
                "reference", "status", "request_type", "title", "agency_reference", "officer_display", "agency",
                "submitted_at", "age_days", "assigned_to", "request_text", "text_language_display", "closed_at",
            )}),
        ]
        request_type = obj.request_type if obj is not None else None
        type_fields: dict[str, tuple[str, tuple[str, ...]]] = {
            RequestType.USER_INFORMATION: ("User information (R5, R6)", ("data_requested", "period", "non_disclosure")),
            RequestType.PRESERVATION_EXTENSION: ("Extension", ("extends_case_link",)),
            RequestType.FREEZE: ("Freeze (R8)", ("freeze_duration_days", "further_order_of")),
            RequestType.ASSET_RECOVERY: ("Return of assets (R9)", ("assets_description",)),
        }
        if request_type in type_fields:
            title, names = type_fields[request_type]
            fieldsets.append((title, {"fields": names}))
        fieldsets.append(("Review checklist (R10)", {"fields": (
            "checklist_complete", *CHECKLIST_FIELDS, "checklist_notes", "checklist_updated_by", "checklist_updated_at",
        )}))
        fieldsets.append(("Decision (R10)", {"fields": ("decided_by", "decided_at", "decision_reasons")}))
        if request_type == RequestType.USER_INFORMATION:
            fieldsets.append(("Notification decision (R6)", {"fields": (
                "notification_decision", "notified_at", "notification_waiver_reason", "notification_decided_by",
                "notification_decided_at",
            )}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return flatten_fieldsets(self.get_fieldsets(request, obj))

    # -- the change page

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # The admin would redirect to the index for a case outside the queryset; a 404 says the
        # same for "missing" and "not yours" (STYLE.md rule 5).
        case = selectors.case_get_for(user=request.user, pk=_case_pk(object_id))
        context = {**(extra_context or {}), **self._case_context(request, case, timezone.now())}
        return super().change_view(request, object_id, form_url, extra_context=context)

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # Django's history lists admin edits, which never happen here; the audit trail is on the change page.
        case = selectors.case_get_for(user=request.user, pk=_case_pk(object_id))
        return HttpResponseRedirect(self._change_url(case) + "#audit-history")

    def _case_context(self, request: HttpRequest, case: Case, now: datetime) -> dict[str, Any]:
        user = request.user
        may_review = selectors.user_may(user, PERM_REVIEW, case)
        subjects = list(case.subjects.order_by("kind", "normalized"))
        keys = {(subject.kind, subject.normalized) for subject in subjects}
        related = [
            (other, [s for s in other.subjects.all() if (s.kind, s.normalized) in keys])
            for other in selectors.related_cases_for(case=case).prefetch_related("subjects")
        ]
        documents = list(
            case.documents.select_related("translation_of", "verified_by", "language_cleared_by", "uploaded_by",
                                          "message")
            .prefetch_related("translations")
            .order_by("uploaded_at", "pk")
        )
        case_productions = list(selectors.productions_for(user=user, case=case).select_related("uploaded_by",
                                                                                               "released_by"))
        is_open = case.status in REVIEWABLE_STATUSES
        freeze = Freeze.objects.select_related("activated_by", "lifted_by").filter(case=case).first()
        return {
            **self._clock_context(case, freeze=freeze, now=now),
            "case": case,
            "subjects": subjects,
            "related_cases": related,
            "document_rows": [
                {"document": document, "language": _language_label(document.language, document.language_confidence)}
                for document in documents
            ],
            "thread": selectors.case_messages_for(user=user, case=case),
            "production_rows": [
                {"production": production, "is_available": production.is_available(now)}
                for production in case_productions
            ],
            # What the services would refuse, in their own words (nothing here decides anything).
            "acceptance_blockers": review.case_acceptance_blockers(case) if is_open else None,
            "release_blockers": (
                productions.production_release_blockers(case, now)
                if is_open or case.status in Case.ACCEPTED_STATUSES else None
            ),
            "audit_events": self._audit_events(case, documents=documents, case_productions=case_productions),
            "workflow_actions": self._workflow_actions(request, case, documents=documents,
                                                       case_productions=case_productions, freeze=freeze, now=now),
            # Per-row shortcuts to the same workflow pages (they check access and state again).
            "language_url": self._workflow_url(case, "language") if may_review and is_open else "",
            "verify_url": self._workflow_url(case, "verify") if may_review and is_open else "",
            "release_url": (
                self._workflow_url(case, "release") if may_review and case.status in Case.ACCEPTED_STATUSES else ""
            ),
        }

    @staticmethod
    def _clock_context(case: Case, *, freeze: Freeze | None, now: datetime) -> dict[str, Any]:
        """R7, R8: the clocks of this case as stored, each "in force" derived from its end at `now`."""
        context: dict[str, Any] = {"now": now, "reminders": list(
            Reminder.objects.filter(Q(hold__case=case) | Q(freeze__case=case)).order_by("sent_at", "pk"))}
        if case.request_type == RequestType.PRESERVATION:
            hold = PreservationHold.objects.filter(case=case).first()
            context["hold"] = hold
            if hold is not None:
                context["hold_in_force"] = hold.is_in_force(now)
                context["hold_has_pending_extension"] = hold.has_pending_extension()
            context["hold_extension_rows"] = [
                {"case": extension, "filed_in_time": _filed_before_hold_end(extension, hold)}
                for extension in case.extensions.order_by("submitted_at", "pk")
            ]
        elif case.request_type == RequestType.PRESERVATION_EXTENSION and case.extends_case is not None:
            extended_hold = PreservationHold.objects.filter(case=case.extends_case).first()
            context["extended_case"] = case.extends_case
            context["extended_hold"] = extended_hold
            if extended_hold is not None:
                context["extended_hold_in_force"] = extended_hold.is_in_force(now)
            context["filed_in_time"] = _filed_before_hold_end(case, extended_hold)
        elif case.request_type == RequestType.FREEZE:
            context["freeze"] = freeze
            context["freeze_in_force"] = freeze.is_in_force(now) if freeze is not None else False
            if case.extends_case is not None:
                continued = Freeze.objects.filter(case=case.extends_case).first()
                context["continued_case"] = case.extends_case
                context["continued_freeze"] = continued
                context["continued_freeze_in_force"] = continued.is_in_force(now) if continued is not None else False
            context["further_orders"] = list(case.extensions.filter(request_type=RequestType.FREEZE)
                                             .order_by("submitted_at", "pk"))
        return context

    @staticmethod
    def _audit_events(case: Case, *, documents: list[CaseDocument], case_productions: list[Any]) -> list[AuditEvent]:
        """The case's own events, with the downloads of its documents and productions (chain of custody)."""
        related = AuditEvent.objects.filter(
            Q(object_type="cases.casedocument", object_id__in=[str(d.pk) for d in documents])
            | Q(object_type="cases.production", object_id__in=[str(p.pk) for p in case_productions])
        )
        return sorted([*audit_history_for(case), *related], key=lambda event: event.pk)

    def _workflow_actions(
        self, request: HttpRequest, case: Case, *, documents: list[CaseDocument], case_productions: list[Any],
        freeze: Freeze | None = None, now: datetime | None = None,
    ) -> list[dict[str, str]]:
        """The buttons this user may use on this case in its current state (the pages check again,
        and the services have the last word)."""
        now = now or timezone.now()
        status = case.status
        is_open = status in REVIEWABLE_STATUSES
        is_accepted = status in Case.ACCEPTED_STATUSES
        is_user_information = case.request_type == RequestType.USER_INFORMATION
        is_freeze = case.request_type == RequestType.FREEZE
        candidates = [
            (PERM_ASSIGN, "assign", "Assign", is_open),
            (PERM_REVIEW, "checklist", "Checklist", is_open),
            (PERM_REVIEW, "ask", "Ask the officer", status in (Status.SUBMITTED, Status.IN_REVIEW)),
            (PERM_REVIEW, "message", "Message or internal note", status not in (Status.CLOSED, Status.WITHDRAWN)),
            (PERM_REVIEW, "verify", "Verify legal process", is_open and any(
                d.role == CaseDocument.Role.LEGAL_PROCESS and d.verified_at is None for d in documents)),
            (PERM_REVIEW, "language", "Record a document's language", is_open and bool(documents)),
            (PERM_REVIEW, "decide", "Decide", status == Status.IN_REVIEW),
            # R8: an accepted freeze is activated (which fulfils it); it is never "marked fulfilled" without one.
            (PERM_REVIEW, "activate", "Activate the freeze", is_freeze and is_accepted and freeze is None),
            (PERM_REVIEW, "lift", "Lift the freeze early", freeze is not None and freeze.is_in_force(now)),
            (PERM_REVIEW, "notification", "Notification decision", is_user_information and is_accepted and not any(
                p.released_at is not None for p in case_productions)),
            (PERM_REVIEW, "upload", "Upload a production", is_accepted),
            (PERM_REVIEW, "release", "Release a production", is_accepted and any(
                p.released_at is None for p in case_productions)),
            (PERM_REVIEW, "fulfil", "Mark fulfilled", is_accepted and not is_freeze),
            # Closing ends the officer's right to withdraw the order, so not while its freeze is in force.
            (PERM_REVIEW, "close", "Close", status in CLOSABLE_STATUSES and not (
                freeze is not None and freeze.is_in_force(now))),
        ]
        user = request.user
        return [
            {"name": name, "label": label, "url": self._workflow_url(case, name)}
            for perm, name, label, state_allows in candidates
            if state_allows and selectors.user_may(user, perm, case)
        ]

    # -- workflow pages

    def get_urls(self) -> list[URLPattern]:
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        pages = {
            "assign": self.assign_view,
            "checklist": self.checklist_view,
            "ask": self.ask_view,
            "message": self.message_view,
            "verify": self.verify_view,
            "language": self.language_view,
            "decide": self.decide_view,
            "notification": self.notification_view,
            "upload": self.upload_view,
            "release": self.release_view,
            "fulfil": self.fulfil_view,
            "close": self.close_view,
            "activate": self.activate_view,
            "lift": self.lift_view,
        }
        return [
            *(path(f"<int:pk>/{name}/", wrap(view), name=f"{info}_{name}") for name, view in pages.items()),
            *super().get_urls(),
        ]

    def _case_facts(self, case: Case) -> list[tuple[str, Any]]:
        return [
            ("Reference", case.reference),
            ("Request", f"{case.get_request_type_display()}: {case.title}"),
            ("Agency", case.agency),
            ("Status", case.get_status_display()),
            ("Assigned to", case.assigned_to or "nobody"),
        ]

    @staticmethod
    def _actor_now(request: HttpRequest) -> dict[str, Any]:
        return {"actor": Actor.from_request(request), "now": timezone.now()}

    def assign_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = selectors.case_get_for(user=request.user, pk=pk, perm=PERM_ASSIGN)
        form = CaseAssignForm(self._form_data(request), initial={"reviewer": case.assigned_to_id})

        def perform() -> str:
            reviewer = form.cleaned_data["reviewer"]
            review.case_assign(case=case, reviewer=reviewer, **self._actor_now(request))
            return f"{case.reference} is assigned to {reviewer}."

        return self._workflow_page(
            request, obj=case, form=form, title=f"Assign {case.reference}", submit_label="Assign", perform=perform,
            facts=self._case_facts(case),
            intro="The reviewer gets access to this case only; a previous assignee loses it.",
        )

    def checklist_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = selectors.case_get_for(user=request.user, pk=pk, perm=PERM_REVIEW)
        form = CaseChecklistForm(self._form_data(request), initial=CaseChecklistForm.initial_for(case))

        def perform() -> str:
            review.case_checklist_update(case=case, data=form.to_data(), **self._actor_now(request))
            return f"The checklist of {case.reference} is saved."

        return self._workflow_page(
            request, obj=case, form=form, title=f"Checklist of {case.reference}", submit_label="Save the checklist",
            perform=perform, facts=self._case_facts(case),
            intro="R10: every request is reviewed independently. Tick only what you checked yourself.",
        )

    def ask_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = selectors.case_get_for(user=request.user, pk=pk, perm=PERM_REVIEW)
        form = CaseQuestionForm(self._form_data(request))

        def perform() -> str:
            review.case_request_information(case=case, question=form.cleaned_data["question"],
                                            **self._actor_now(request))
            return f"The question was sent; {case.reference} now waits for the officer's answer."

        return self._workflow_page(
            request, obj=case, form=form, title=f"Ask the officer of {case.reference}",
            submit_label="Send the question", perform=perform, facts=self._case_facts(case),
        )

    def message_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = selectors.case_get_for(user=request.user, pk=pk, perm=PERM_REVIEW)
        form = CaseMessageForm(self._form_data(request), self._files_data(request))

        def perform() -> str:
            correspondence.case_message_post(
                case=case, body=form.cleaned_data["body"], attachments=form.cleaned_data["attachments"],
                is_internal=form.is_internal, **self._actor_now(request),
            )
            if form.is_internal:
                return f"The internal note is added to {case.reference}."
            return f"The message is sent to the officer of {case.reference}."

        return self._workflow_page(
            request, obj=case, form=form, title=f"Write on {case.reference}", submit_label="Post",
            perform=perform, facts=self._case_facts(case),
        )

    def verify_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = selectors.case_get_for(user=request.user, pk=pk, perm=PERM_REVIEW)
        form = CaseDocumentVerifyForm(self._form_data(request), case=case,
                                      initial={"document": request.GET.get("document")})

        def perform() -> str:
            document = review.case_document_verify(document=form.cleaned_data["document"], **self._actor_now(request))
            return f"“{document.original_name}” is recorded as verified."

        return self._workflow_page(
            request, obj=case, form=form, title=f"Verify legal process of {case.reference}",
            submit_label="Record as verified", perform=perform, facts=self._case_facts(case),
            intro="R5: record that you checked this document yourself: the issuing authority, the signature or "
                  "seal, and that it is in force. Only a verified warrant, court order or local equivalent allows "
                  "disclosure of user information.",
        )

    def language_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = selectors.case_get_for(user=request.user, pk=pk, perm=PERM_REVIEW)
        form = CaseDocumentLanguageForm(self._form_data(request), case=case,
                                        initial={"document": request.GET.get("document")})

        def perform() -> str:
            document = review.case_document_language_clear(
                document=form.cleaned_data["document"], language_status=form.cleaned_data["language_status"],
                reason=form.cleaned_data["reason"], **self._actor_now(request),
            )
            return f"The language of “{document.original_name}” is recorded."

        return self._workflow_page(
            request, obj=case, form=form, title=f"Record the language of a document of {case.reference}",
            submit_label="Record", perform=perform, facts=self._case_facts(case),
            intro="R4: read a scan and record its language (the manual check), or override the detector with a "
                  "reason. A non-English legal process needs its certified English translation.",
        )

    def decide_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = selectors.case_get_for(user=request.user, pk=pk, perm=PERM_REVIEW)
        form = CaseDecideForm(self._form_data(request))

        def perform() -> str:
            decided = review.case_decide(case=case, decision=form.cleaned_data["decision"],
                                         reasons=form.cleaned_data["reasons"], **self._actor_now(request))
            return f"{case.reference} is {decided.get_status_display().lower()}; the officer is told."

        return self._workflow_page(
            request, obj=case, form=form, title=f"Decide {case.reference}", submit_label="Record the decision",
            perform=perform, facts=self._case_facts(case),
            intro="A decline is always possible and needs only reasons. Acceptance needs everything below cleared.",
            blockers=review.case_acceptance_blockers(case), blockers_title="What blocks acceptance",
        )

    def notification_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = selectors.case_get_for(user=request.user, pk=pk, perm=PERM_REVIEW)
        form = CaseNotificationForm(self._form_data(request), initial={
            "decision": case.notification_decision or None, "notified_at": case.notified_at,
            "waiver_reason": case.notification_waiver_reason,
        })

        def perform() -> str:
            review.case_notification_record(
                case=case, decision=form.cleaned_data["decision"], notified_at=form.cleaned_data["notified_at"],
                waiver_reason=form.cleaned_data["waiver_reason"], **self._actor_now(request),
            )
            return f"The notification decision of {case.reference} is recorded."

        return self._workflow_page(
            request, obj=case, form=form, title=f"Notification decision of {case.reference}",
            submit_label="Record", perform=perform,
            facts=[*self._case_facts(case), ("Non-disclosure instruction", self.non_disclosure(case))],
            intro="R6: unless the legal request says otherwise, the user may be notified before disclosure. "
                  "Nothing is released until this is recorded.",
        )

    def upload_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = selectors.case_get_for(user=request.user, pk=pk, perm=PERM_REVIEW)
        form = ProductionUploadForm(self._form_data(request), self._files_data(request))

        def perform() -> str:
            try:
                production = productions.production_upload(
                    case=case, upload=form.cleaned_data["file"], description=form.cleaned_data["description"],
                    **self._actor_now(request),
                )
            except ValidationError as error:
                # The file check names the file and what is wrong with it: show it on the file field.
                if hasattr(error, "error_dict"):
                    raise
                raise ValidationError({"file": error.messages}) from error
            return f"“{production.original_name}” is uploaded (SHA-256 {production.sha256}); it is not released yet."

        return self._workflow_page(
            request, obj=case, form=form, title=f"Upload a production for {case.reference}", submit_label="Upload",
            perform=perform, facts=self._case_facts(case),
            intro="The officer sees nothing until the production is released.",
        )

    def release_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = selectors.case_get_for(user=request.user, pk=pk, perm=PERM_REVIEW)
        form = ProductionReleaseForm(self._form_data(request), case=case,
                                     initial={"production": request.GET.get("production")})
        now = timezone.now()

        def perform() -> str:
            production = productions.production_release(production=form.cleaned_data["production"],
                                                        actor=Actor.from_request(request), now=timezone.now())
            if production.available_until is None:  # release always sets it; never show "None"
                return f"“{production.original_name}” is released."
            until = timezone.localtime(production.available_until)
            return f"“{production.original_name}” is released; the officer can download it until {until:%Y-%m-%d %H:%M}."

        return self._workflow_page(
            request, obj=case, form=form, title=f"Release a production of {case.reference}", submit_label="Release",
            perform=perform,
            facts=[*self._case_facts(case),
                   ("Notification decision", case.get_notification_decision_display() or "not recorded")],
            intro="The officer is told by an e-mail without content and can download the file for a limited time.",
            blockers=productions.production_release_blockers(case, now), blockers_title="What blocks release",
        )

    def fulfil_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = selectors.case_get_for(user=request.user, pk=pk, perm=PERM_REVIEW)
        form = ConfirmForm(self._form_data(request))

        def perform() -> str:
            review.case_fulfil(case=case, **self._actor_now(request))
            return f"{case.reference} is fulfilled; the officer is told."

        return self._workflow_page(
            request, obj=case, form=form, title=f"Mark {case.reference} fulfilled", submit_label="Mark fulfilled",
            perform=perform, facts=self._case_facts(case),
            intro="The exchange has done what it accepted to do.",
        )

    def activate_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """R8: start the freeze of an accepted freeze request, for the stated duration capped unless the
        order itself explicitly orders longer (confirmed, with the passage cited)."""
        case = selectors.case_get_for(user=request.user, pk=pk, perm=PERM_REVIEW)
        now = timezone.now()
        stated = case.freeze_duration_days or 0
        cap = policy.freeze_max_days()
        form = FreezeActivateForm(self._form_data(request), stated_days=stated, max_days=cap)

        def perform() -> str:
            freeze = clocks.freeze_activate(case=case, activation=form.to_activation(), **self._actor_now(request))
            until = timezone.localtime(freeze.expires_at)
            if freeze.case_id != case.pk:
                return (f"The further order {case.reference} extends the freeze of {freeze.case.reference}: it now "
                        f"ends on {until:%Y-%m-%d %H:%M %Z}. The officer and the exchange are told.")
            return (f"The freeze of {case.reference} is active for {freeze.granted_days} days, until "
                    f"{until:%Y-%m-%d %H:%M %Z}. The officer and the exchange are told.")

        facts = [
            *self._case_facts(case),
            ("Duration stated in the order", f"{stated} days" if stated else "none stated (it cannot be activated)"),
            ("Cap (R8)", f"{cap} days, unless the order itself explicitly orders a longer period"),
            ("Would be granted", self._granted_preview(stated, cap)),
        ]
        if case.extends_case is not None:
            continued = Freeze.objects.filter(case=case.extends_case).first()
            if continued is not None and continued.is_in_force(now):
                state = (f"its freeze is in force until {timezone.localtime(continued.expires_at):%Y-%m-%d %H:%M %Z}; "
                         "activating this further order moves that end later by the days granted")
            else:
                state = "its freeze is not in force: activating this further order starts a new freeze from now"
            facts.append(("Further order for", f"{case.extends_case.reference} — {state}"))
        return self._workflow_page(
            request, obj=case, form=form, title=f"Activate the freeze of {case.reference}",
            submit_label="Activate the freeze", perform=perform, facts=facts,
            intro="R8: the freeze runs from the moment you activate it, for the stated duration, capped unless the "
                  "order itself explicitly orders longer. It lifts itself at its end unless a further order is "
                  "accepted before then. The exchange is told at once; the case is then fulfilled.",
        )

    @staticmethod
    def _granted_preview(stated: int, cap: int) -> str:
        if not stated:
            return "nothing: the request states no duration"
        capped = clocks.freeze_granted_days(stated_days=stated, activation=clocks.FreezeActivation())
        if capped == stated:
            return f"{stated} days, as stated"
        return (f"{capped} days (the cap); {stated} days only if you confirm below that the order itself explicitly "
                "orders the longer period, quoting the passage")

    def lift_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """R8: lift a freeze early, on withdrawal of the order, a court decision or another recorded reason."""
        case = selectors.case_get_for(user=request.user, pk=pk, perm=PERM_REVIEW)
        freeze = Freeze.objects.filter(case=case).first()
        form = FreezeLiftForm(self._form_data(request))

        def perform() -> str:
            if freeze is None:
                raise ActionRefused("This case has no freeze to lift.")
            lifted = clocks.freeze_lift(freeze=freeze, reason=form.cleaned_data["reason"],
                                        note=form.cleaned_data["note"], **self._actor_now(request))
            return (f"The freeze of {case.reference} is lifted ({lifted.get_lift_reason_display().lower()}). "
                    "The officer and the exchange are told.")

        facts = self._case_facts(case)
        if freeze is not None:
            facts += [
                ("Freeze", freeze.get_status_display()),
                ("Activated", f"{timezone.localtime(freeze.activated_at):%Y-%m-%d %H:%M %Z} by {freeze.activated_by}"),
                ("Ends", f"{timezone.localtime(freeze.expires_at):%Y-%m-%d %H:%M %Z}"),
            ]
        else:
            facts.append(("Freeze", "none: this case has no freeze"))
        return self._workflow_page(
            request, obj=case, form=form, title=f"Lift the freeze of {case.reference} early",
            submit_label="Lift the freeze", perform=perform, facts=facts,
            intro="R8: with no explicit instruction, a restriction is lifted. Record why it ends before its granted "
                  "period; at the end of that period it lifts by itself and needs nothing from you.",
        )

    def close_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = selectors.case_get_for(user=request.user, pk=pk, perm=PERM_REVIEW)
        form = ConfirmForm(self._form_data(request))

        def perform() -> str:
            review.case_close(case=case, **self._actor_now(request))
            return f"{case.reference} is closed."

        return self._workflow_page(
            request, obj=case, form=form, title=f"Close {case.reference}", submit_label="Close the case",
            perform=perform, facts=self._case_facts(case),
            intro="A closed case takes no more messages.",
        )


def _filed_before_hold_end(extension: Case, hold: PreservationHold | None) -> bool:
    """R7: was the extension filed before the hold ended? A hold's end only moves later while it runs,
    so an extension filed before the end it had then was also filed before its end now; a hold that
    ended (lapsed, or ended early) ended at `lapsed_at`."""
    if hold is None:
        return False
    ended = min(hold.lapsed_at, hold.expires_at) if hold.lapsed_at else hold.expires_at
    return extension.submitted_at < ended


def _language_label(code: str, confidence: float | None) -> str:
    if not code:
        return "not detected"
    certainty = f" ({confidence:.0%} confidence)" if confidence is not None else ""
    return f"{language_name(code)}{certainty}"
