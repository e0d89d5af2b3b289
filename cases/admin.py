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
the page is right even when no sweep has run. A freeze is lifted early only through the `lift`
workflow page, which calls `services.clocks`.

Four-eyes: activating a freeze, releasing a production and recording a return (R9) are only ASKED on
their pages (`activate`, `release`, `return`); a second, different member of the legal team approves
on the `approvals` page, and `services.approvals.approval_grant` carries the action out. The services
refuse the same person twice; the pages show that refusal as a form error (400).

Forged-request resistance: the out-of-band confirmation of a request (`confirm`), the risk panel
(`cases.risk`), the hold of a suspended officer's cases (R3, `release-hold`, leads only), and the
asset-recovery steps (R9) in their order, each a page calling one service. The official's ID
document is served only through the audited `official-id` view.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case as SqlCase
from django.db.models import (
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
    prefetch_related_objects,
)
from django.db.models.lookups import IsNull
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from cases import risk, selectors
from cases.admin_forms import (
    ApprovalDecideForm,
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
    HoldReleaseForm,
    OutOfBandConfirmForm,
    ProductionReleaseForm,
    ProductionUploadForm,
    RecoveryOfficialAddForm,
    RecoveryOfficialCheckForm,
    RecoveryOfficialConfirmForm,
    ReturnRequestForm,
)
from cases.models import (
    CHECKLIST_FIELDS,
    Approval,
    AssetReturn,
    Case,
    CaseDocument,
    Freeze,
    OutOfBandConfirmation,
    PreservationHold,
    Production,
    RecoveryInstructions,
    RecoveryOfficial,
    Reminder,
    RequestType,
)
from cases.services import approvals, clocks, correspondence, productions, recovery, review, suspension
from cases.services.intake import language_name
from leors import policy
from leors.access.admin import ReviewerLeftFilter, VisibleCountryFilter, WorkflowPagesMixin
from leors.core.admin import EstimatedCountPaginator, ReadOnlyModelAdmin
from leors.core.audit import Actor, audit_history_for, audit_record
from leors.core.errors import ActionRefused
from leors.core.models import AuditEvent

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec

PERM_ASSIGN = "cases.assign_case"
PERM_REVIEW = "cases.review_case"

WORKFLOW_TEMPLATE = "admin/workflow_form.html"
APPROVALS_TEMPLATE = "admin/cases/case/approvals.html"

Status = Case.Status
# The checklist, like the language of a document, can change only while the case is under review.
REVIEWABLE_STATUSES = Case.OPEN_STATUSES
# The queue's "ending soon" filter: a working week's notice for the reviewer (a view of the queue,
# not a rule's number: the officers' reminders use policy.*_reminder_days()).
CLOCK_ENDING_SOON = timedelta(days=7)


def _with_safeguards(case: Case) -> Case:
    """The case with its approvals and out-of-band confirmations read once, with the people they name: the
    safeguard panels, the risk signals and the buttons of a page each read them (`.all()`)."""
    prefetch_related_objects(
        [case],
        Prefetch("approvals", queryset=Approval.objects.select_related("requested_by", "decided_by")),
        Prefetch("out_of_band_confirmations", queryset=OutOfBandConfirmation.objects.select_related("recorded_by")))
    return case


def _case_pk(object_id: Any) -> int:
    # The admin passes the id from the URL as text; anything but a number is simply not there.
    try:
        return int(object_id)
    except (TypeError, ValueError):
        raise Http404("No such case.") from None


def _language_check_documents() -> QuerySet[CaseDocument]:
    """R4: the case's scans (no text layer) and unsure detections whose language no reviewer has recorded yet."""
    return CaseDocument.objects.filter(
        case=OuterRef("pk"), language_status__in=CaseDocument.MANUAL_CHECK_STATUSES, language_cleared_at__isnull=True,
    )


def _needs_language_check() -> Exists:
    """R4: the case waits on a manual language check (a filter: a semi-join on the partial index)."""
    return Exists(_language_check_documents())


def _needs_language_check_column() -> IsNull:
    """The same question as a column of the queue's rows: a first matching document, or none.

    Not `Exists` in the select list: PostgreSQL turns that into a hash of every unchecked document
    of every case (40,000 rows at a million cases, 6 ms) before it reads the page's 50 rows; a
    subquery with a LIMIT is asked only for the rows of the page (0.2 ms; benchmarks, P1).
    """
    return IsNull(Subquery(_language_check_documents().values("pk")[:1]), False)


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
    """R7: the case's hold is in force (PreservationHold.objects.in_force is the one definition)."""
    return Q(pk__in=PreservationHold.objects.in_force(now).values("case_id"))


def _local(moment: datetime) -> str:
    """A moment as the workflow pages' facts show it: in the viewer's time zone, to the minute."""
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M %Z}"


def _freeze_in_force(now: datetime) -> Q:
    """R8: the case's freeze is in force (Freeze.objects.in_force is the one definition)."""
    return Q(pk__in=Freeze.objects.in_force(now).values("case_id"))


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
            # In force now and not at `soon` (ClockQuerySet.ending_by): a freeze kept past its end by a further
            # order ends at that order's bound, and a hold whose extension awaits review does not end.
            soon = now + CLOCK_ENDING_SOON
            return queryset.filter(Q(pk__in=Freeze.objects.ending_by(now, soon).values("case_id"))
                                   | Q(pk__in=PreservationHold.objects.ending_by(now, soon).values("case_id")))
        return queryset.none()


class AwaitingApprovalFilter(admin.SimpleListFilter):
    """Four-eyes: cases where an action was asked and waits for a second, different member of the team."""

    title = "four-eyes approval"
    parameter_name = "approval"

    AWAITING = "awaiting"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(self.AWAITING, "Awaiting a second approval")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == self.AWAITING:
            return queryset.filter(Exists(Approval.objects.filter(case=OuterRef("pk"),
                                                                  status=Approval.Status.PENDING)))
        return queryset


class OnHoldFilter(admin.SimpleListFilter):
    """R3: the cases of an officer suspended for suspected impersonation, for the legal lead to review."""

    title = "on hold (R3)"
    parameter_name = "on_hold"

    ON_HOLD = "yes"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(self.ON_HOLD, "On hold")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == self.ON_HOLD:
            return queryset.filter(on_hold_at__isnull=False)
        return queryset


class CaseReviewerLeftFilter(ReviewerLeftFilter):
    statuses_with_work = Case.OPEN_STATUSES + Case.ACCEPTED_STATUSES  # review, or an activation, production, return


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
        template: str = WORKFLOW_TEMPLATE,
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response = super()._workflow_page(
            request, obj=obj, form=form, title=title, submit_label=submit_label, perform=perform, intro=intro,
            facts=facts,
        )
        if isinstance(response, TemplateResponse):  # not yet rendered: the template can still change
            response.template_name = template
            response.context_data = {
                **(response.context_data or {}), "blockers": blockers or [], "blockers_title": blockers_title,
                **(extra_context or {}),
            }
        return response

    @staticmethod
    def _files_data(request: HttpRequest) -> Any:
        return request.FILES if request.method == "POST" else None


class QueueChangeList(ChangeList):
    """The queue's rows join what its columns show (the agency, the reviewer), not the officer and
    their user, which only the case's own page shows (benchmarks, P1)."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Any]:
        queryset = super().get_queryset(request, exclude_parameters)
        return queryset.select_related(None).select_related("agency", "assigned_to")


@admin.register(Case)
class CaseAdmin(CaseWorkflowPagesMixin, ReadOnlyModelAdmin):
    change_form_template = "admin/cases/case/change_form.html"
    list_display = (
        "reference", "request_type", "status", "agency", "submitted_at", "age_days", "assigned_to",
        "language_check",
    )
    list_filter = (
        "status", "request_type", ("agency__country", VisibleCountryFilter), LanguageCheckFilter, ClockFilter,
        AwaitingApprovalFilter, OnHoldFilter, CaseReviewerLeftFilter,
    )
    search_fields = ("reference", "title", "case_reference", "subjects__normalized")
    show_full_result_count = False  # a second COUNT over every case on each page (benchmarks, P1)
    paginator = EstimatedCountPaginator
    list_per_page = 50  # the rows a reviewer works through; rendering grows with them (benchmarks, P1)
    search_help_text = "A LEORS reference, a title, the agency's own reference, or a subject (UID, e-mail, "\
                       "phone, wallet, transaction)."

    def get_queryset(self, request: HttpRequest) -> QuerySet[Case]:
        # Leads and auditors see every case; reviewers only those assigned to them (object permissions).
        return selectors.case_list_for(user=request.user).annotate(
            queue_rank=SqlCase(When(status__in=Case.OPEN_STATUSES, then=Value(0)), default=Value(1),
                             output_field=IntegerField()),
            needs_language_check=_needs_language_check_column(),
        )

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return QueueChangeList

    def get_ordering(self, request: HttpRequest) -> tuple[str, ...]:
        # The queue: open cases first, the oldest of them first (R10: nothing waits unseen). Not
        # `ordering`: it names an annotation of get_queryset, which the admin's checks reject there.
        return ("queue_rank", "submitted_at", "pk")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Case], search_term: str
    ) -> tuple[QuerySet[Case], bool]:
        """The cases `selectors.case_keys_matching` finds, among those the user may see: by their keys,
        so no row is repeated and none needs de-duplicating. (`search_fields` still shows the search box.)"""
        keys = selectors.case_keys_matching(term=search_term)
        if keys is None:
            return queryset, False
        return queryset.filter(pk__in=keys), False

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

    @admin.display(description="withdrawn or closed")
    def ended_display(self, obj: Case) -> datetime | None:
        # `closed_at`: when the request ended for the officer, withdrawn or closed. A withdrawn case closed later keeps
        # the moment it was withdrawn; its close is in the audit trail.
        return obj.closed_at

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
                "submitted_at", "age_days", "assigned_to", "request_text", "text_language_display", "ended_display",
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
        request.leors_case = case  # type: ignore[attr-defined]  # read and checked: see get_object
        context = {**(extra_context or {}), **self._case_context(request, case, timezone.now())}
        return super().change_view(request, object_id, form_url, extra_context=context)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Case | None:
        # The change page read and checked its case (change_view, case_get_for): the admin's form shows that one,
        # rather than reading it again through the queue's queryset and its annotations.
        case = getattr(request, "leors_case", None)
        if case is not None and from_field is None and str(case.pk) == str(object_id):
            return case
        return super().get_object(request, object_id, from_field)

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # Django's history lists admin edits, which never happen here; the audit trail is on the change page.
        case = selectors.case_get_for(user=request.user, pk=_case_pk(object_id))
        return HttpResponseRedirect(self._change_url(case) + "#audit-history")

    def _case_context(self, request: HttpRequest, case: Case, now: datetime) -> dict[str, Any]:
        user = request.user
        may_review = selectors.user_may(user, PERM_REVIEW, case)
        _with_safeguards(case)  # the panels, the risk signals and the buttons all read them
        subjects = list(case.subjects.order_by("kind", "normalized"))
        keys = {(subject.kind, subject.normalized) for subject in subjects}
        related = [
            (other, [s for s in other.subjects.all() if (s.kind, s.normalized) in keys])
            for other in selectors.related_cases_for(case=case, subjects=keys).prefetch_related("subjects")
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
            **self._safeguard_context(request, case, now=now, may_review=may_review,
                                      related=[other for other, _shared in related], documents=documents),
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

    def _safeguard_context(self, request: HttpRequest, case: Case, *, now: datetime, may_review: bool,
                           related: list[Case], documents: list[CaseDocument]) -> dict[str, Any]:
        """Forged-request resistance, four-eyes, R3 hold and R9 steps, as stored; what blocks is in
        the services' own words (nothing here decides anything). `related`, `documents`: as the page read them."""
        user = request.user
        confirmations = list(case.out_of_band_confirmations.all())
        needs_confirmation = case.request_type in (RequestType.FREEZE, RequestType.ASSET_RECOVERY)
        approval_rows = self._approval_rows(request, case)
        context: dict[str, Any] = {
            "risk_signals": risk.case_risk_signals(case=case, now=now, related=related, documents=documents),
            "confirmations": confirmations,
            "confirmation_required_for": (
                ("activation" if case.request_type == RequestType.FREEZE else "return") if needs_confirmation else ""
            ),
            "approval_rows": approval_rows,
            "pending_approval_rows": [row for row in approval_rows
                                      if row["approval"].status == Approval.Status.PENDING],
            "approvals_url": self._workflow_url(case, "approvals"),
            "may_release_hold": case.on_hold_at is not None and selectors.user_may(user, PERM_ASSIGN, case),
            "release_hold_url": self._workflow_url(case, "release_hold"),
        }
        if case.request_type == RequestType.ASSET_RECOVERY:
            context.update(self._recovery_context(case, may_review=may_review, documents=documents))
        return context

    def _approval_rows(self, request: HttpRequest, case: Case) -> list[dict[str, Any]]:
        user = request.user
        may_review = selectors.user_may(user, PERM_REVIEW, case)
        rows = []
        approvals = list(case.approvals.all())  # with their people (`_with_safeguards`)
        # The productions the releases name, read once for all of them.
        productions = ({production.pk: production for production in case.productions.all()}
                       if any(a.action == Approval.Action.PRODUCTION_RELEASE for a in approvals) else {})
        for approval in approvals:
            is_pending = approval.status == Approval.Status.PENDING
            is_own = approval.requested_by_id == user.pk
            requester_left = not approval.requested_by.is_active
            rows.append({
                "approval": approval,
                "details": _approval_details(case, approval, productions),
                "is_own": is_own,
                "requester_left": is_pending and requester_left,
                "may_approve": is_pending and may_review and not is_own and not requester_left,
                "may_cancel": is_pending and may_review,
            })
        return rows

    def _recovery_context(self, case: Case, *, may_review: bool, documents: list[CaseDocument]) -> dict[str, Any]:
        """R9: the steps in their order, each with its state."""
        court_orders = [d for d in documents
                        if d.role == CaseDocument.Role.LEGAL_PROCESS
                        and d.document_type == CaseDocument.DocumentType.COURT_ORDER]
        verified_orders = [d for d in court_orders if d.verified_at is not None]
        officials = list(case.recovery_officials.select_related("added_by", "id_checked_by",
                                                                "confirmation_recorded_by"))
        instructions = RecoveryInstructions.objects.select_related("issued_by", "acknowledged_by").filter(
            case=case).first()
        asset_return = AssetReturn.objects.select_related("requested_by", "approved_by").filter(case=case).first()
        is_working = self._recovery_is_working(case, asset_return)
        officials_done = bool(officials) and all(o.is_verified for o in officials)
        acknowledged = instructions is not None and instructions.acknowledged_at is not None
        steps = [
            ("Court order verified by a reviewer", bool(verified_orders),
             "; ".join(f"“{d.original_name}” verified by {d.verified_by}, {timezone.localtime(d.verified_at):%Y-%m-%d}"
                       for d in verified_orders if d.verified_at) or "not yet: verify the court order"),
            ("Officials named, ID checked and identity confirmed out of band", officials_done,
             f"{sum(o.is_verified for o in officials)} of {len(officials)} verified" if officials else "none named yet"),
            ("Written instructions issued and acknowledged by the officer", acknowledged,
             "not issued" if instructions is None else (
                 f"acknowledged by {instructions.acknowledged_by}, {timezone.localtime(instructions.acknowledged_at):%Y-%m-%d %H:%M}"
                 if instructions.acknowledged_at else "issued, not yet acknowledged")),
            ("Request confirmed with the agency out of band", case.out_of_band_confirmations.exists(),
             "recorded" if case.out_of_band_confirmations.exists() else "not yet"),
            ("Return recorded (with a second approval)", asset_return is not None,
             "recorded" if asset_return else "not yet"),
        ]
        return {
            "recovery_steps": [{"number": n, "title": t, "is_done": done, "state": state}
                               for n, (t, done, state) in enumerate(steps, start=1)],
            "recovery_officials": [
                {"official": o,
                 "id_url": reverse("admin:cases_case_official_id", args=[o.pk]),
                 "check_url": (f"{self._workflow_url(case, 'official_check')}?official={o.pk}"
                               if may_review and is_working and o.id_checked_at is None else ""),
                 "confirm_url": (f"{self._workflow_url(case, 'official_confirm')}?official={o.pk}"
                                 if may_review and is_working and o.id_checked_at is not None
                                 and o.confirmed_at is None else "")}
                for o in officials
            ],
            "recovery_instructions": instructions,
            "asset_return": asset_return,
            "return_blockers": recovery.return_blockers(case),
        }

    @staticmethod
    def _recovery_is_working(case: Case, asset_return: AssetReturn | None) -> bool:
        # The services refuse every step on a case not accepted, on hold, or already returned.
        return (case.request_type == RequestType.ASSET_RECOVERY and case.status in Case.ACCEPTED_STATUSES
                and case.on_hold_at is None and asset_return is None)

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
                context["hold_ended"] = ended = clocks.hold_ended(hold, now=now)
                context["hold_kept_past_end"] = hold.kept_past(ended)
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
                if case.is_open and extended_hold.status == PreservationHold.Status.ACTIVE:
                    # A review that outlasts the further period makes an acceptance extend the hold to a
                    # moment already past: the hold would lapse at the next sweep. The reviewer is told before.
                    context["extension_would_end"] = would_end = clocks.hold_extended_end(extended_hold)
                    context["extension_would_end_passed"] = would_end <= now
            context["filed_in_time"] = _filed_before_hold_end(case, extended_hold)
        elif case.request_type == RequestType.FREEZE:
            context["freeze"] = freeze
            context["freeze_in_force"] = freeze.is_in_force(now) if freeze is not None else False
            # Past its end, kept by a further order awaiting activation (R8): until when at the latest.
            context["freeze_held_until"] = freeze.held_until(now) if freeze is not None else None
            if case.extends_case is not None:
                continued = clocks.freeze_continued(case)  # through the chain of further orders
                context["continued_case"] = case.extends_case
                context["continued_freeze"] = continued
                context["continued_freeze_in_force"] = continued.is_in_force(now) if continued is not None else False
                context["continued_freeze_held_until"] = continued.held_until(now) if continued is not None else None
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
        case_approvals = list(case.approvals.all())
        pending = [a for a in case_approvals if a.status == Approval.Status.PENDING]
        pending_releases = {a.target_id for a in pending if a.action == Approval.Action.PRODUCTION_RELEASE}
        recovery_state = self._recovery_actions(case)
        candidates = [
            (PERM_ASSIGN, "assign", "Assign", is_open or is_accepted),
            (PERM_REVIEW, "checklist", "Checklist", is_open),
            (PERM_REVIEW, "ask", "Ask the officer", status in (Status.SUBMITTED, Status.IN_REVIEW)),
            (PERM_REVIEW, "message", "Message or internal note", status not in (Status.CLOSED, Status.WITHDRAWN)),
            (PERM_REVIEW, "verify", "Verify legal process", is_open and any(
                d.role == CaseDocument.Role.LEGAL_PROCESS and d.verified_at is None for d in documents)),
            (PERM_REVIEW, "language", "Record a document's language", is_open and bool(documents)),
            (PERM_REVIEW, "decide", "Decide", status == Status.IN_REVIEW),
            # R8: an accepted freeze is activated (which fulfils it); it is never "marked fulfilled" without one.
            # Four-eyes: asked here, approved by someone else on the approvals page.
            (PERM_REVIEW, "activate", "Ask to activate the freeze", is_freeze and is_accepted and freeze is None
             and not any(a.action == Approval.Action.FREEZE_ACTIVATE for a in pending)),
            (PERM_REVIEW, "lift", "Lift the freeze early", freeze is not None and freeze.is_in_force(now)),
            (PERM_REVIEW, "notification", "Notification decision", is_user_information and is_accepted and not any(
                p.released_at is not None for p in case_productions)),
            (PERM_REVIEW, "upload", "Upload a production", is_accepted),
            (PERM_REVIEW, "release", "Ask to release a production", is_accepted and any(
                p.released_at is None and p.pk not in pending_releases for p in case_productions)),
            *recovery_state,
            (PERM_REVIEW, "confirm", "Record an out-of-band confirmation", is_open or is_accepted),
            (PERM_REVIEW, "approvals", f"Approvals ({len(pending)} pending)" if pending else "Approvals",
             bool(case_approvals)),
            (PERM_ASSIGN, "release_hold", "Release the hold", case.on_hold_at is not None),
            (PERM_REVIEW, "fulfil", "Mark fulfilled",
             is_accepted and case.request_type not in review.FULFILLED_BY_OWN_STEPS),
            # Not while a freeze or preservation hold is in force (the officer may still withdraw or extend).
            (PERM_REVIEW, "close", "Close", status in review.CLOSABLE_STATUSES and not review.case_close_blocker(case, now)),
        ]
        user = request.user
        return [
            {"name": name, "label": label, "url": self._workflow_url(case, name)}
            for perm, name, label, state_allows in candidates
            if state_allows and selectors.user_may(user, perm, case)
        ]

    def _recovery_actions(self, case: Case) -> list[tuple[str, str, str, bool]]:
        """R9: each step is offered only once the one before it is done (the services refuse anyway)."""
        if case.request_type != RequestType.ASSET_RECOVERY:
            return []
        asset_return = AssetReturn.objects.filter(case=case).first()
        is_working = self._recovery_is_working(case, asset_return)
        officials = list(case.recovery_officials.all())
        has_instructions = RecoveryInstructions.objects.filter(case=case).exists()
        return_pending = case.approvals.filter(action=Approval.Action.RETURN_RECORD,
                                               status=Approval.Status.PENDING).exists()
        return [
            (PERM_REVIEW, "official_add", "Add an official", is_working and not has_instructions),
            (PERM_REVIEW, "official_check", "Check an official's ID",
             is_working and any(o.id_checked_at is None for o in officials)),
            (PERM_REVIEW, "official_confirm", "Confirm an official's identity", is_working and any(
                o.id_checked_at is not None and o.confirmed_at is None for o in officials)),
            (PERM_REVIEW, "instructions", "Issue the instructions", is_working and not has_instructions
             and bool(officials) and all(o.is_verified for o in officials)),
            (PERM_REVIEW, "return", "Ask to record the return",
             is_working and not return_pending and not recovery.return_blockers(case)),
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
            "approvals": self.approvals_view,
            "confirm": self.confirm_view,
            "official_add": self.official_add_view,
            "official_check": self.official_check_view,
            "official_confirm": self.official_confirm_view,
            "instructions": self.instructions_view,
            "return": self.return_view,
            "release_hold": self.release_hold_view,
        }
        return [
            *(path(f"<int:pk>/{name.replace('_', '-')}/", wrap(view), name=f"{info}_{name}")
              for name, view in pages.items()),
            # Not through admin_view: an officer (not staff) gets the same 404 as for a missing file,
            # rather than the staff sign-in page; anyone not signed in is sent to it. Not never_cache
            # either: it would add to the response's "Cache-Control: no-store".
            path("official-id/<int:official_pk>/", self.official_id_view, name=f"{info}_official_id"),
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
            production = form.cleaned_data["production"]
            productions.production_release_request(production=production, **self._actor_now(request))
            return (f"Release of “{production.original_name}” asked; a second, different member of the legal team "
                    "must approve it.")

        return self._workflow_page(
            request, obj=case, form=form, title=f"Ask to release a production of {case.reference}",
            submit_label="Ask for the release", perform=perform,
            facts=[*self._case_facts(case),
                   ("Notification decision", case.get_notification_decision_display() or "not recorded")],
            intro="Four-eyes: you ask; a second, different member of the legal team approves on the approvals page, "
                  "and only then is the production released. The officer is told by an e-mail without content and "
                  "can download the file for a limited time.",
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
            clocks.freeze_activation_request(case=case, activation=form.to_activation(), **self._actor_now(request))
            return "Activation asked; a second, different member of the legal team must approve it."

        facts = [
            *self._case_facts(case),
            ("Duration stated in the order", f"{stated} days" if stated else "none stated (it cannot be activated)"),
            ("Cap (R8)", f"{cap} days, unless the order itself explicitly orders a longer period"),
            ("Would be granted", self._granted_preview(stated, cap)),
        ]
        if case.extends_case is not None:
            continued = clocks.freeze_continued(case)
            held_until = continued.held_until(now, by=case) if continued is not None else None
            if continued is not None and held_until is not None:
                state = (f"its freeze reached its end at {_local(continued.expires_at)} and is kept in force while "
                         f"this further order, accepted before then, awaits activation: until {_local(held_until)} at "
                         "the latest, when the period it states would end. Approved before then, the activation moves "
                         "the freeze's end later by the days granted, from that end; approved later, only what is left "
                         "of the period granted, counted from that end, runs as a new freeze from the approval")
            elif continued is not None and continued.is_in_force(now, by=case):
                state = (f"its freeze is in force until {_local(continued.expires_at)}; "
                         "activating this further order moves that end later by the days granted")
            elif continued is not None and (kept := clocks.further_order_kept(continued, order=case, now=now)):
                # R8: the order's period runs from the freeze's end; what it kept of it is not served twice.
                state = (f"this further order kept its freeze in force past its end, from {_local(continued.expires_at)} "
                         f"until {_local(continued.expires_at + kept)}. Only what is left of the period granted, "
                         "counted from that end, runs as a new freeze from the approval; if nothing is left, the "
                         "activation records the order as carried out and freezes nothing more")
            elif continued is not None and continued.status == Freeze.Status.ACTIVE:
                state = ("this further order no longer keeps its freeze (accepted after its end): activating it starts "
                         "a new freeze from now. Check with the agency that the order still stands")
            else:
                state = "its freeze is not in force: activating this further order starts a new freeze from now"
            facts.append(("Further order for", f"{case.extends_case.reference} — {state}"))
        return self._workflow_page(
            request, obj=case, form=form, title=f"Ask to activate the freeze of {case.reference}",
            submit_label="Ask for the activation", perform=perform, facts=facts,
            intro="R8: the freeze runs from the moment it is activated, for the stated duration, capped unless the "
                  "order itself explicitly orders longer. It lifts itself at its end unless a further order is "
                  "accepted before then. Four-eyes: you ask; a second, different member of the legal team approves "
                  "on the approvals page, which activates it. The exchange is told at once; the case is then "
                  "fulfilled.",
            blockers=clocks.freeze_activation_blockers(case), blockers_title="What blocks activation",
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
                ("Activated", f"{_local(freeze.activated_at)} by {freeze.activated_by}"),
                ("Ends", _local(freeze.expires_at)),
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


    # -- four-eyes, out-of-band confirmation, R3 hold, R9 recovery

    def approvals_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Four-eyes: every approval of the case; a pending one is approved (carried out) or cancelled."""
        case = selectors.case_get_for(user=request.user, pk=pk, perm=PERM_REVIEW)
        form = ApprovalDecideForm(self._form_data(request), case=case)

        def perform() -> str:
            approval = form.cleaned_data["approval"]
            label = approval.get_action_display().lower()
            if form.cleaned_data["decision"] == ApprovalDecideForm.CANCEL:
                approvals.approval_cancel(approval=approval, **self._actor_now(request))
                return f"The request to {label} on {case.reference} is cancelled."
            outcome = approvals.approval_grant(approval=approval, **self._actor_now(request)).outcome  # type: ignore[attr-defined]
            if isinstance(outcome, Freeze) and outcome.case_id != case.pk and outcome.status != Freeze.Status.ACTIVE:
                # R8: the further order had kept that freeze for its whole period; nothing was frozen again.
                return (f"Approved: {case.reference} is recorded as carried out. It kept the freeze of "
                        f"{outcome.case.reference} in force for its whole period, and no new freeze was started.")
            return f"Approved: {label} on {case.reference} is carried out."

        return self._workflow_page(
            request, obj=case, form=form, title=f"Approvals of {case.reference}", submit_label="", perform=perform,
            facts=self._case_facts(case), template=APPROVALS_TEMPLATE,
            intro="Four-eyes: activating a freeze, releasing a production and recording a return are asked by one "
                  "member of the legal team and approved by a second, different one. Approving carries the action "
                  "out at once.",
            extra_context={"approval_rows": self._approval_rows(request, _with_safeguards(case)),
                           "requester_left": approvals.REQUESTER_LEFT},
        )

    def confirm_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Forged-request resistance: the request confirmed with the agency through an independent contact."""
        case = selectors.case_get_for(user=request.user, pk=pk, perm=PERM_REVIEW)
        form = OutOfBandConfirmForm(self._form_data(request))

        def perform() -> str:
            confirmation = recovery.case_out_of_band_confirm(case=case, data=form.to_confirmation(),
                                                             **self._actor_now(request))
            return f"The confirmation by {confirmation.confirmed_with} is recorded on {case.reference}."

        return self._workflow_page(
            request, obj=case, form=form, title=f"Record an out-of-band confirmation of {case.reference}",
            submit_label="Record the confirmation", perform=perform, facts=self._case_facts(case),
            intro="Forged requests come from hacked official mailboxes. Call or write to the agency through a contact "
                  "you found yourself (an official directory or website — never one the request gives) and record "
                  "who confirmed this very request, how and when. Freezes and asset recoveries need it first.",
        )

    def release_hold_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """R3: a legal lead, having checked a case of a suspended officer, lets work on it continue."""
        case = selectors.case_get_for(user=request.user, pk=pk, perm=PERM_ASSIGN)
        form = HoldReleaseForm(self._form_data(request))

        def perform() -> str:
            suspension.case_hold_release(case=case, note=form.cleaned_data["note"], **self._actor_now(request))
            return f"The hold of {case.reference} is lifted; work on it can continue."

        facts = [*self._case_facts(case),
                 ("On hold", f"since {_local(case.on_hold_at)}: {case.on_hold_reason}"
                  if case.on_hold_at else "no")]
        return self._workflow_page(
            request, obj=case, form=form, title=f"Release the hold of {case.reference}", submit_label="Release the hold",
            perform=perform, facts=facts,
            intro="R3: the officer who submitted this case was suspended on suspicion of impersonation. Lift the hold "
                  "only after checking the request independently; otherwise decline it.",
        )

    def _recovery_facts(self, case: Case) -> list[tuple[str, Any]]:
        officials = list(case.recovery_officials.all())
        return [*self._case_facts(case), ("Assets", case.assets_description or "—"),
                ("Officials", "; ".join(f"{o} ({'verified' if o.is_verified else 'not verified'})"
                                        for o in officials) or "none named")]

    def official_add_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = selectors.case_get_for(user=request.user, pk=pk, perm=PERM_REVIEW)
        form = RecoveryOfficialAddForm(self._form_data(request), self._files_data(request))

        def perform() -> str:
            try:
                official = recovery.recovery_official_add(
                    case=case, name=form.cleaned_data["name"], title=form.cleaned_data["title"],
                    organisation=form.cleaned_data["organisation"], id_document=form.cleaned_data["id_document"],
                    **self._actor_now(request))
            except ValidationError as error:
                # The file check names the file and what is wrong with it: show it on the file field.
                if hasattr(error, "error_dict"):
                    raise
                raise ValidationError({"id_document": error.messages}) from error
            return f"{official.name} is named; check their ID document next."

        return self._workflow_page(
            request, obj=case, form=form, title=f"Name an official for the return of {case.reference}",
            submit_label="Add the official", perform=perform, facts=self._recovery_facts(case),
            intro="R9, step 2: each official who will handle the return is named with their official ID document, "
                  "then the document is checked and their identity confirmed out of band.",
        )

    def official_check_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = selectors.case_get_for(user=request.user, pk=pk, perm=PERM_REVIEW)
        form = RecoveryOfficialCheckForm(self._form_data(request), case=case,
                                         initial={"official": request.GET.get("official")})

        def perform() -> str:
            official = recovery.recovery_official_id_check(official=form.cleaned_data["official"],
                                                           **self._actor_now(request))
            return f"The ID document of {official.name} is recorded as checked."

        return self._workflow_page(
            request, obj=case, form=form, title=f"Check an official's ID for {case.reference}",
            submit_label="Record as checked", perform=perform, facts=self._recovery_facts(case),
            intro="R9: open the ID document from the case page (the download is audited) and check it yourself: "
                  "the name, the photograph, the issuing body and that it is in force.",
        )

    def official_confirm_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = selectors.case_get_for(user=request.user, pk=pk, perm=PERM_REVIEW)
        form = RecoveryOfficialConfirmForm(self._form_data(request), case=case,
                                           initial={"official": request.GET.get("official")})

        def perform() -> str:
            official = recovery.recovery_official_confirm(official=form.cleaned_data["official"],
                                                          data=form.to_confirmation(), **self._actor_now(request))
            return f"The identity of {official.name} is confirmed out of band."

        return self._workflow_page(
            request, obj=case, form=form, title=f"Confirm an official's identity for {case.reference}",
            submit_label="Record the confirmation", perform=perform, facts=self._recovery_facts(case),
            intro="R9: confirm that this official holds the office named, through a contact you found independently "
                  "(never one the request gives): who confirmed, how, where the contact came from, when.",
        )

    def instructions_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = selectors.case_get_for(user=request.user, pk=pk, perm=PERM_REVIEW)
        form = ConfirmForm(self._form_data(request))

        def perform() -> str:
            recovery.recovery_instructions_issue(case=case, **self._actor_now(request))
            return f"The instructions are issued to the officer of {case.reference}; they acknowledge them in the portal."

        return self._workflow_page(
            request, obj=case, form=form, title=f"Issue the return instructions of {case.reference}",
            submit_label="Issue the instructions", perform=perform, facts=self._recovery_facts(case),
            intro="R9, step 3: written instructions from the template are given to the officer before any return; "
                  "the officer acknowledges them in the portal.",
        )

    def return_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = selectors.case_get_for(user=request.user, pk=pk, perm=PERM_REVIEW)
        form = ReturnRequestForm(self._form_data(request))

        def perform() -> str:
            recovery.return_request(
                case=case, asset=form.cleaned_data["asset"], amount=form.cleaned_data["amount"],
                destination_address=form.cleaned_data["destination_address"], tx_hash=form.cleaned_data["tx_hash"],
                **self._actor_now(request))
            return "The return is asked; a second, different member of the legal team must approve it."

        return self._workflow_page(
            request, obj=case, form=form, title=f"Ask to record the return of {case.reference}",
            submit_label="Ask for the return", perform=perform, facts=self._recovery_facts(case),
            intro="R9, step 5: what was returned, where, and the transaction that did it. Four-eyes: a second, "
                  "different member of the legal team approves on the approvals page, which records the return and "
                  "lifts the related freeze.",
            blockers=recovery.return_blockers(case), blockers_title="What blocks the return",
        )

    def official_id_view(self, request: HttpRequest, official_pk: int) -> HttpResponseBase:
        """R9: an official's ID document, to staff who may see its case only; every download audited."""
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if not (request.user.is_active and request.user.is_staff):
            raise Http404("No such document.")
        official = RecoveryOfficial.objects.filter(pk=official_pk).first()
        if official is None:
            raise Http404("No such document.")
        # The same 404 for a case the user may not see as for a missing document.
        case = selectors.case_get_for(user=request.user, pk=official.case_id)
        with transaction.atomic():
            audit_record(actor=Actor.from_request(request), action="document.downloaded", obj=official,
                         changes={"case": case.reference, "sha256": official.id_sha256, "kind": "official_id"},
                         now=timezone.now())
        response = FileResponse(official.id_file.open("rb"), as_attachment=True, filename=official.id_original_name,
                                content_type=official.id_content_type)
        response["Cache-Control"] = "no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response


def _approval_details(case: Case, approval: Approval, productions: dict[int, Production]) -> list[tuple[str, str]]:
    """What exactly an approval carries out, as the second pair of eyes must read it (`productions`: the
    case's, by key)."""
    params = approval.params or {}
    if approval.action == Approval.Action.FREEZE_ACTIVATE:
        stated = case.freeze_duration_days or 0
        activation = clocks.FreezeActivation(confirm_longer=bool(params.get("confirm_longer")),
                                             longer_passage=str(params.get("longer_passage", "")))
        try:
            granted = f"{clocks.freeze_granted_days(stated_days=stated, activation=activation)} days"
        except ValidationError:
            granted = "not computable (the passage is missing)"
        details = [("Granted", f"{granted} (stated in the order: {stated} days)")]
        if activation.confirm_longer:
            details.append(("Longer than the cap, on the passage", activation.longer_passage))
        return details
    if approval.action == Approval.Action.PRODUCTION_RELEASE:
        production = productions.get(approval.target_id) if approval.target_id is not None else None
        if production is None:
            return [("Production", "missing")]
        return [("Production", production.original_name), ("SHA-256", production.sha256)]
    if approval.action == Approval.Action.RETURN_RECORD:
        return [
            ("Asset", str(params.get("asset", ""))), ("Amount", str(params.get("amount", ""))),
            ("Destination address", f"{params.get('destination_address', '')} ({params.get('destination_chain', '')})"),
            ("Transaction hash", str(params.get("tx_hash", ""))),
        ]
    return []


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
