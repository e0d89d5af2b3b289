"""The staff workspace for access applications, officers and agencies (R1-R3).

Every admin here is read-only: no model field is ever edited through a Django form. Changes are
made on workflow pages (extra admin URLs) that parse a form, check access through a selector
(404 for "missing" and "forbidden" alike), call one service and render. The services check the
state, write the audit event and queue the e-mails; the same services serve the portal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django_countries.filters import CountryFilter

from leors.access import selectors, services
from leors.access.admin_forms import (
    ApplicationApproveForm,
    ApplicationAssignForm,
    ApplicationChecklistForm,
    ApplicationQuestionForm,
    ApplicationRejectForm,
    OfficerRenewForm,
    OfficerSuspendForm,
)
from leors.access.models import AccessApplication, Agency, AgencyDomain, ImpersonationReferral, Officer, User
from leors.core.admin import ReadOnlyModelAdmin, ReadOnlyTabularInline
from leors.core.audit import Actor, audit_history_for
from leors.core.errors import ActionRefused, form_errors_from_service

PERM_ASSIGN = "access.assign_accessapplication"
PERM_VET = "access.vet_accessapplication"
PERM_DECIDE = "access.decide_accessapplication"
PERM_SUSPEND = "access.suspend_officer"
PERM_RENEW = "access.renew_officer"

WORKFLOW_TEMPLATE = "admin/workflow_form.html"


def _object_pk(object_id: Any) -> int:
    # The admin passes the id from the URL as text; anything but a number is simply not there.
    try:
        return int(object_id)
    except (TypeError, ValueError):
        raise Http404("No such object.") from None


class VisibleCountryFilter(CountryFilter):
    """The country filter, offering only the countries of rows this user may see.

    The stock filter reads every row of the table, which would tell a reviewer which countries
    other (unassigned) applications come from.
    """

    def lookup_choices(self, changelist: ChangeList) -> Iterator[tuple[Any, Any]]:
        visible = changelist.root_queryset.order_by()
        relation, _, field = self.field_path.rpartition("__")
        if relation and "__" not in relation:
            # The country of a related row (a case's agency): ask each agency whether it has a visible
            # row (an index probe each), rather than reading every row of a table of a million cases.
            # Whoever sees every row (an unfiltered list) is offered the countries of every agency.
            related = visible.model._meta.get_field(relation).related_model
            agencies = related._default_manager.all()
            if visible.query.where:
                agencies = agencies.filter(Exists(visible.filter(**{relation: OuterRef("pk")})))
            codes = set(agencies.values_list(field, flat=True).distinct())
        else:
            codes = set(visible.values_list(self.field_path, flat=True).distinct())
        for code, name in self.field.get_choices(include_blank=False):
            if code in codes:
                yield code, name


class ReviewerLeftFilter(admin.SimpleListFilter):
    """What still has work (`statuses_with_work`) and a reviewer whose account is closed (they left the team): the
    lead hands it over. Until then the leads are told of what happens on it (`services.reviewers_to_tell`)."""

    title = "reviewer"
    parameter_name = "reviewer"
    statuses_with_work: tuple[str, ...]

    LEFT = "left"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(self.LEFT, "Has left (account closed)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == self.LEFT:
            return queryset.filter(assigned_to__is_active=False, status__in=self.statuses_with_work)
        return queryset


class ApplicationReviewerLeftFilter(ReviewerLeftFilter):
    statuses_with_work = AccessApplication.OPEN_STATUSES


class ReviewClockFilter(admin.SimpleListFilter):
    """R2: where open applications stand against their review window (15th-20th business day)."""

    title = "review clock"
    parameter_name = "review_clock"

    OVERDUE = "overdue"
    DUE_SOON = "due_soon"
    NOT_YET_DUE = "not_yet_due"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(self.OVERDUE, "Overdue"), (self.DUE_SOON, "Due soon"), (self.NOT_YET_DUE, "Not yet due")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        # The same boundaries as AccessApplication.is_overdue / is_due_soon, as filters on the
        # indexed due-time columns, so the list is right even when no sweep has run.
        value = self.value()
        if value is None:
            return queryset
        now = timezone.now()
        open_applications = queryset.filter(status__in=AccessApplication.OPEN_STATUSES)
        if value == self.OVERDUE:
            return open_applications.filter(review_due_at__lte=now)
        if value == self.DUE_SOON:
            return open_applications.filter(review_window_opens_at__lte=now, review_due_at__gt=now)
        if value == self.NOT_YET_DUE:
            return open_applications.filter(review_window_opens_at__gt=now)
        return queryset.none()


class WorkflowPagesMixin:
    """Renders a workflow page and runs its one service call, turning refusals into form errors."""

    admin_site: admin.AdminSite
    opts: Any

    def _change_url(self, obj: Any) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk])

    def _workflow_url(self, obj: Any, name: str) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}", args=[obj.pk])

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
    ) -> HttpResponse:
        """On a valid POST call `perform` (the one service call, returning the success message)
        and go back to the change page; otherwise show the form, keeping what was entered."""
        is_post = request.method == "POST"
        if is_post and form.is_valid():
            try:
                success_message = perform()
            except ValidationError as error:
                form_errors_from_service(form, error)
            except ActionRefused as refusal:
                form.add_error(None, refusal.message)
            else:
                messages.success(request, success_message)
                return HttpResponseRedirect(self._change_url(obj))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "object": obj,
            "form": form,
            "submit_label": submit_label,
            "intro": intro,
            "facts": facts or [],
            "back_url": self._change_url(obj),
        }
        # A POST that reaches this point was refused: 400, with the bound form re-rendered.
        return TemplateResponse(request, WORKFLOW_TEMPLATE, context, status=400 if is_post else 200)

    @staticmethod
    def _form_data(request: HttpRequest) -> Any:
        # Not `request.POST or None`: a confirmation form posts no fields and must still be bound.
        return request.POST if request.method == "POST" else None

    @staticmethod
    def _actor_now(request: HttpRequest) -> dict[str, Any]:
        """Who does the step and when: the `actor` and `now` every workflow service takes."""
        return {"actor": Actor.from_request(request), "now": timezone.now()}


# --- Access applications -------------------------------------------------------------------------

@admin.register(AccessApplication)
class AccessApplicationAdmin(WorkflowPagesMixin, ReadOnlyModelAdmin):
    change_form_template = "admin/access/accessapplication/change_form.html"
    ordering = ("review_due_at", "pk")  # R2: the most urgent first
    list_display = (
        "reference", "body_name", "country", "body_kind", "status", "submitted_at", "review_due_at",
        "review_clock", "domain_known", "assigned_to",
    )
    list_filter = ("status", ReviewClockFilter, "body_kind", ("country", VisibleCountryFilter),
                   ApplicationReviewerLeftFilter)
    search_fields = ("reference", "body_name", "official_email", "applicant_name")
    list_select_related = ("agency", "assigned_to", "applicant")
    fieldsets = (
        ("Application", {"fields": (
            "reference", "status", "review_clock", "body_name", "body_kind", "country", "jurisdiction", "agency",
            "domain_known", "applicant_name", "rank_title", "official_email", "phone", "supervisor_name",
            "supervisor_email",
        )}),
        ("Undertaking (R3)", {"fields": ("undertaking_version", "undertaking_accepted_at", "undertaking_ip")}),
        ("Review window (R2)", {"fields": (
            "created_at", "email_verified_at", "submitted_at", "review_window_opens_at", "review_due_at", "assigned_to",
        )}),
        ("Checklist", {"fields": (
            "checklist_complete", "check_body_exists", "check_domain_belongs", "supervisor_confirmed_with",
            "supervisor_confirmation_method", "supervisor_contact_source", "supervisor_confirmed_at",
            "checklist_updated_by", "checklist_updated_at",
        )}),
        ("Decision", {"fields": ("decided_at", "decided_by", "decision_reason")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[AccessApplication]:
        # Leads and auditors see every application; reviewers only those assigned to them.
        return selectors.application_list_for(user=request.user)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return flatten_fieldsets(self.fieldsets)

    @admin.display(description="Review")
    def review_clock(self, obj: AccessApplication) -> str:
        now = timezone.now()
        if obj.is_overdue(now):
            return "Overdue"
        if obj.is_due_soon(now):
            return "Due soon"
        return ""

    @admin.display(description="Domain", ordering="is_domain_known")
    def domain_known(self, obj: AccessApplication) -> str:
        # Annotated by the selector: is the e-mail domain already confirmed for the named agency?
        return "known" if getattr(obj, "is_domain_known", False) else "NEW – check"

    @admin.display(description="Checklist complete", boolean=True)
    def checklist_complete(self, obj: AccessApplication) -> bool:
        return obj.is_checklist_complete

    # -- pages

    def get_urls(self) -> list[URLPattern]:
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/assign/", wrap(self.assign_view), name=f"{info}_assign"),
            path("<int:pk>/checklist/", wrap(self.checklist_view), name=f"{info}_checklist"),
            path("<int:pk>/ask/", wrap(self.ask_view), name=f"{info}_ask"),
            path("<int:pk>/approve/", wrap(self.approve_view), name=f"{info}_approve"),
            path("<int:pk>/reject/", wrap(self.reject_view), name=f"{info}_reject"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # The admin would redirect to the index for an object outside the queryset; a 404 says the
        # same for "missing" and "not yours" (STYLE.md rule 5).
        application = selectors.application_get_for(user=request.user, pk=_object_pk(object_id))
        context = {
            **(extra_context or {}),
            "documents": application.documents.order_by("uploaded_at", "pk"),
            "thread": application.messages.select_related("author"),
            "audit_events": audit_history_for(application),
            "workflow_actions": self._workflow_actions(request, application),
        }
        return super().change_view(request, object_id, form_url, extra_context=context)

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # Django's history lists admin edits, which never happen here; the audit trail is on the change page.
        application = selectors.application_get_for(user=request.user, pk=_object_pk(object_id))
        return HttpResponseRedirect(self._change_url(application) + "#audit-history")

    def _workflow_actions(self, request: HttpRequest, application: AccessApplication) -> list[dict[str, str]]:
        """The buttons this user may use on this application (the pages themselves check again)."""
        if not application.is_open:
            return []
        user = request.user
        candidates = [
            (PERM_ASSIGN, "assign", "Assign"),
            (PERM_VET, "checklist", "Checklist"),
            (PERM_VET, "ask", "Ask the applicant"),
            (PERM_DECIDE, "approve", "Approve"),
            (PERM_DECIDE, "reject", "Reject"),
        ]
        return [
            {"name": name, "label": label, "url": self._workflow_url(application, name)}
            for perm, name, label in candidates
            if selectors.user_may(user, perm, application)
        ]

    def _application_facts(self, application: AccessApplication) -> list[tuple[str, Any]]:
        return [
            ("Reference", application.reference),
            ("Body", f"{application.body_name} ({application.get_body_kind_display()}, {application.get_country_display()})"),
            ("Applicant", f"{application.applicant_name}, {application.rank_title} <{application.official_email}>"),
            ("Status", application.get_status_display()),
            ("Assigned to", application.assigned_to or "nobody"),
        ]

    def assign_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        application = selectors.application_get_for(user=request.user, pk=pk, perm=PERM_ASSIGN)
        form = ApplicationAssignForm(self._form_data(request), initial={"reviewer": application.assigned_to_id})

        def perform() -> str:
            reviewer = form.cleaned_data["reviewer"]
            services.application_assign(
                application=application, reviewer=reviewer, **self._actor_now(request)
            )
            return f"{application.reference} is assigned to {reviewer}."

        return self._workflow_page(
            request, obj=application, form=form, title=f"Assign {application.reference}", submit_label="Assign",
            perform=perform, facts=self._application_facts(application),
        )

    def checklist_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        application = selectors.application_get_for(user=request.user, pk=pk, perm=PERM_VET)
        form = ApplicationChecklistForm(
            self._form_data(request), initial=ApplicationChecklistForm.initial_for(application)
        )

        def perform() -> str:
            services.application_checklist_update(
                application=application, data=form.to_data(), **self._actor_now(request)
            )
            return f"The checklist of {application.reference} is saved."

        return self._workflow_page(
            request, obj=application, form=form, title=f"Checklist of {application.reference}",
            submit_label="Save the checklist", perform=perform, facts=self._application_facts(application),
            intro="Confirm the applicant through a supervisor contact you found yourself, never one the applicant gave.",
        )

    def ask_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        application = selectors.application_get_for(user=request.user, pk=pk, perm=PERM_VET)
        form = ApplicationQuestionForm(self._form_data(request))

        def perform() -> str:
            services.application_request_information(
                application=application, question=form.cleaned_data["question"],
                **self._actor_now(request),
            )
            return f"The question was sent; {application.reference} now waits for the applicant's answer."

        return self._workflow_page(
            request, obj=application, form=form, title=f"Ask the applicant of {application.reference}",
            submit_label="Send the question", perform=perform, facts=self._application_facts(application),
        )

    def approve_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        application = selectors.application_get_for(user=request.user, pk=pk, perm=PERM_DECIDE)
        form = ApplicationApproveForm(self._form_data(request))

        def perform() -> str:
            officer = services.application_approve(
                application=application, **self._actor_now(request)
            )
            return f"{application.reference} is approved: {officer.user.email} is now an officer of {officer.agency}."

        facts = [
            *self._application_facts(application),
            ("Checklist complete", "yes" if application.is_checklist_complete else "NO"),
            ("Domain", self.domain_known(application)),
        ]
        return self._workflow_page(
            request, obj=application, form=form, title=f"Approve {application.reference}",
            submit_label="Approve", perform=perform, facts=facts,
            intro="Approving creates an officer account in this body's agency and confirms its e-mail domain.",
        )

    def reject_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        application = selectors.application_get_for(user=request.user, pk=pk, perm=PERM_DECIDE)
        form = ApplicationRejectForm(self._form_data(request))

        def perform() -> str:
            services.application_reject(
                application=application, reason=form.cleaned_data["reason"],
                **self._actor_now(request),
            )
            return f"{application.reference} is rejected."

        return self._workflow_page(
            request, obj=application, form=form, title=f"Reject {application.reference}",
            submit_label="Reject", perform=perform, facts=self._application_facts(application),
        )


# --- Officers ------------------------------------------------------------------------------------

@admin.register(Officer)
class OfficerAdmin(WorkflowPagesMixin, ReadOnlyModelAdmin):
    change_form_template = "admin/access/officer/change_form.html"
    list_display = (
        "user_email", "agency", "status", "is_supervisor", "approved_at", "access_expires_at", "access_current",
    )
    list_filter = ("status", ("agency__country", VisibleCountryFilter), "is_supervisor")
    search_fields = ("user__email", "agency__name")
    list_select_related = ("user", "agency")
    ordering = ("user__email",)
    fields = (
        "user", "agency", "application", "rank_title", "status", "access_current", "is_supervisor", "approved_at",
        "access_expires_at", "suspended_at",
    )
    readonly_fields = fields

    @admin.display(description="e-mail", ordering="user__email")
    def user_email(self, obj: Officer) -> str:
        return obj.user.email

    @admin.display(description="access current?", boolean=True)
    def access_current(self, obj: Officer) -> bool:
        return obj.is_access_current(timezone.now())

    def _officer_get(self, request: HttpRequest, pk: int, *, perm: str | None = None) -> Officer:
        # Missing, not viewable and not permitted all answer 404 (STYLE.md rule 5). Suspension and
        # renewal are role-wide powers: no object permission decides them.
        if not self.has_view_permission(request) or (perm is not None and not request.user.has_perm(perm)):
            raise Http404("No such officer.")
        return get_object_or_404(Officer.objects.select_related("user", "agency"), pk=pk)

    def get_urls(self) -> list[URLPattern]:
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/suspend/", wrap(self.suspend_view), name=f"{info}_suspend"),
            path("<int:pk>/renew/", wrap(self.renew_view), name=f"{info}_renew"),
            path("<int:pk>/make-supervisor/", wrap(self.make_supervisor_view), name=f"{info}_make_supervisor"),
            path("<int:pk>/end-supervisor/", wrap(self.end_supervisor_view), name=f"{info}_end_supervisor"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        officer = self._officer_get(request, _object_pk(object_id))
        actions = []
        if officer.status == Officer.Status.ACTIVE:
            if request.user.has_perm(PERM_SUSPEND):
                actions.append({"name": "suspend", "label": "Suspend (impersonation)",
                                "url": self._workflow_url(officer, "suspend")})
            if request.user.has_perm(PERM_RENEW):
                actions.append({"name": "renew", "label": "Renew access", "url": self._workflow_url(officer, "renew")})
            if request.user.has_perm(PERM_RENEW) and not officer.is_supervisor:
                actions.append({"name": "make_supervisor", "label": "Make supervisor",
                                "url": self._workflow_url(officer, "make_supervisor")})
        # Ending the role is offered whatever the officer's status: a suspended supervisor keeps
        # seeing nothing anyway, but the role should not outlive a decision to end it.
        if officer.is_supervisor and request.user.has_perm(PERM_RENEW):
            actions.append({"name": "end_supervisor", "label": "End supervisor role",
                            "url": self._workflow_url(officer, "end_supervisor")})
        # Imported here: the cases app builds on this one (cases.admin imports this module).
        from cases.risk import officer_risk_signals

        context = {
            **(extra_context or {}),
            # Forged-request resistance: each signal in words, warnings and reassuring facts; no score.
            "risk_signals": officer_risk_signals(officer=officer, now=timezone.now()),
            "referrals": officer.referrals.select_related("created_by").order_by("created_at", "pk"),
            "audit_events": audit_history_for(officer),
            "workflow_actions": actions,
        }
        return super().change_view(request, object_id, form_url, extra_context=context)

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        officer = self._officer_get(request, _object_pk(object_id))
        return HttpResponseRedirect(self._change_url(officer) + "#audit-history")

    def _officer_facts(self, officer: Officer) -> list[tuple[str, Any]]:
        return [
            ("Officer", f"{officer.user.full_name} <{officer.user.email}>"),
            ("Agency", officer.agency),
            ("Status", officer.get_status_display()),
            ("Access until", officer.access_expires_at),
        ]

    def suspend_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        officer = self._officer_get(request, pk, perm=PERM_SUSPEND)
        form = OfficerSuspendForm(self._form_data(request))

        def perform() -> str:
            services.officer_suspend(
                officer=officer, note=form.cleaned_data["note"], referred_to=form.cleaned_data["referred_to"],
                **self._actor_now(request),
            )
            return f"{officer.user.email} is suspended, signed out everywhere, and the referral is recorded."

        return self._workflow_page(
            request, obj=officer, form=form, title=f"Suspend {officer.user.email}", submit_label="Suspend now",
            perform=perform, facts=self._officer_facts(officer),
            intro="R3: suspected impersonation. The account is suspended at once, every session ends, "
                  "and a referral is recorded.",
        )

    def renew_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        officer = self._officer_get(request, pk, perm=PERM_RENEW)
        form = OfficerRenewForm(self._form_data(request))

        def perform() -> str:
            services.officer_access_renew(
                officer=officer, note=form.cleaned_data["note"], **self._actor_now(request)
            )
            return f"Access of {officer.user.email} is renewed until {timezone.localtime(officer.access_expires_at):%Y-%m-%d}."

        return self._workflow_page(
            request, obj=officer, form=form, title=f"Renew access of {officer.user.email}", submit_label="Renew",
            perform=perform, facts=self._officer_facts(officer),
            intro="Renew only after confirming that the officer still holds office.",
        )

    def make_supervisor_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._supervisor_page(request, pk, is_supervisor=True)

    def end_supervisor_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._supervisor_page(request, pk, is_supervisor=False)

    def _supervisor_page(self, request: HttpRequest, pk: int, *, is_supervisor: bool) -> HttpResponse:
        """An agency supervisor sees every case of their own agency. The wanted state is in the URL,
        not toggled from the current one, so a repeated post is refused instead of undoing the first."""
        officer = self._officer_get(request, pk, perm=PERM_RENEW)
        form = forms.Form(self._form_data(request))  # a confirmation: no input

        def perform() -> str:
            services.officer_supervisor_set(
                officer=officer, is_supervisor=is_supervisor, **self._actor_now(request)
            )
            if is_supervisor:
                return f"{officer.user.email} is now a supervisor of {officer.agency} and sees all its cases."
            return f"{officer.user.email} is no longer a supervisor of {officer.agency}."

        if is_supervisor:
            title, label = f"Make {officer.user.email} a supervisor", "Make supervisor"
            intro = (f"The officer will see every case of {officer.agency}, including those of colleagues. "
                     "Confirm first, through a contact you found yourself, that they supervise this agency's requests.")
        else:
            title, label = f"End the supervisor role of {officer.user.email}", "End supervisor role"
            intro = f"The officer will again see only their own cases and those shared with them in {officer.agency}."
        return self._workflow_page(
            request, obj=officer, form=form, title=title, submit_label=label, perform=perform,
            facts=[*self._officer_facts(officer), ("Agency supervisor", "yes" if officer.is_supervisor else "no")],
            intro=intro,
        )


# --- Agencies, referrals, users -----------------------------------------------------------------

class AgencyDomainInline(ReadOnlyTabularInline):
    model = AgencyDomain
    fields = ("domain", "confirmed_at", "confirmed_by")
    readonly_fields = fields


@admin.register(Agency)
class AgencyAdmin(ReadOnlyModelAdmin):
    list_display = ("name", "kind", "country", "jurisdiction", "created_at")
    list_filter = ("kind", ("country", VisibleCountryFilter))
    search_fields = ("name", "jurisdiction", "domains__domain")
    ordering = ("name",)
    fields = ("name", "kind", "country", "jurisdiction", "created_at")
    readonly_fields = fields
    inlines = [AgencyDomainInline]


@admin.register(ImpersonationReferral)
class ImpersonationReferralAdmin(ReadOnlyModelAdmin):
    list_display = ("created_at", "officer", "referred_to", "created_by")
    search_fields = ("officer__user__email", "officer__agency__name", "referred_to")
    list_select_related = ("officer__user", "officer__agency", "created_by")
    ordering = ("-created_at",)
    fields = ("officer", "note", "referred_to", "created_at", "created_by")
    readonly_fields = fields


@admin.register(User)
class UserAdmin(WorkflowPagesMixin, ReadOnlyModelAdmin):
    """Read-only; the one change made here is R12's list of staff who may contact agencies (the names
    /verify/ confirms to an officer), set by legal leads on the `list-contact` / `unlist-contact` pages."""

    change_form_template = "admin/access/user/change_form.html"
    list_display = ("email", "full_name", "is_staff", "is_active", "may_contact_agencies", "group_names")
    list_filter = ("is_staff", "is_active", "may_contact_agencies", "groups")
    search_fields = ("email", "full_name")
    ordering = ("email",)
    # Never the password hash; roles are managed by leors.access.roles, not by hand.
    fields = ("email", "full_name", "time_zone", "is_staff", "is_active", "may_contact_agencies", "groups",
              "last_login", "date_joined")
    readonly_fields = fields

    def _sees_staff_only(self, request: HttpRequest) -> bool:
        # Auditors hold "view user" (as superusers do); legal leads, who decide R12's list, see the
        # members of the legal team only, never the officers' accounts through this page.
        return not super().has_view_permission(request) and request.user.has_perm(PERM_RENEW)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or self._sees_staff_only(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or self._sees_staff_only(request)

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        users = super().get_queryset(request).prefetch_related("groups")
        return users.filter(is_staff=True) if self._sees_staff_only(request) else users

    def _user_get(self, request: HttpRequest, pk: int, *, perm: str | None = None) -> User:
        # Missing, not viewable and not permitted all answer 404 (STYLE.md rule 5). Listing is a
        # role-wide power of legal leads: no object permission decides it.
        if not self.has_view_permission(request) or (perm is not None and not request.user.has_perm(perm)):
            raise Http404("No such user.")
        return get_object_or_404(self.get_queryset(request), pk=pk)

    def get_urls(self) -> list[URLPattern]:
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/list-contact/", wrap(self.list_contact_view), name=f"{info}_list_contact"),
            path("<int:pk>/unlist-contact/", wrap(self.unlist_contact_view), name=f"{info}_unlist_contact"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        user = self._user_get(request, _object_pk(object_id))
        actions = []
        if request.user.has_perm(PERM_RENEW) and user.is_staff:
            if user.may_contact_agencies:
                actions.append({"name": "unlist_contact", "label": "Unlist: may no longer contact agencies",
                                "url": self._workflow_url(user, "unlist_contact")})
            else:
                actions.append({"name": "list_contact", "label": "List: may contact agencies",
                                "url": self._workflow_url(user, "list_contact")})
        context = {**(extra_context or {}), "workflow_actions": actions, "audit_events": audit_history_for(user)}
        return super().change_view(request, object_id, form_url, extra_context=context)

    def list_contact_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._contact_page(request, pk, may_contact=True)

    def unlist_contact_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._contact_page(request, pk, may_contact=False)

    def _contact_page(self, request: HttpRequest, pk: int, *, may_contact: bool) -> HttpResponse:
        """R12: the wanted state is in the URL, not toggled from the current one, so a repeated post
        cannot undo the first."""
        user = self._user_get(request, pk, perm=PERM_RENEW)
        form = forms.Form(self._form_data(request))  # a confirmation: no input

        def perform() -> str:
            services.staff_contact_set(user=user, may_contact=may_contact, actor=Actor.from_request(request),
                                       now=timezone.now())
            if may_contact:
                return f"{user.full_name or user.email} is listed: /verify/ confirms them to agencies."
            return f"{user.full_name or user.email} is unlisted: /verify/ no longer confirms them to agencies."

        name = user.full_name or user.email
        if may_contact:
            title, label = f"List {name} as someone who may contact agencies", "List"
            intro = ("R12: an officer called or written to by this person can check their name on /verify/. List only "
                     "members of the legal team whose work is to contact agencies.")
        else:
            title, label = f"Unlist {name}", "Unlist"
            intro = "R12: /verify/ will no longer confirm this name to agencies."
        return self._workflow_page(
            request, obj=user, form=form, title=title, submit_label=label, perform=perform, intro=intro,
            facts=[("Name", user.full_name or "— (no full name: cannot be listed)"), ("E-mail", user.email),
                   ("Legal team", "yes" if user.is_staff else "no"),
                   ("May contact agencies now", "yes" if user.may_contact_agencies else "no")],
        )

    @admin.display(description="groups")
    def group_names(self, obj: User) -> str:
        return ", ".join(sorted(group.name for group in obj.groups.all()))
