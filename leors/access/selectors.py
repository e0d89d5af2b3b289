"""Reads for access applications and officers. Access is one call: missing and forbidden look alike."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Exists, F, OuterRef, QuerySet, Value
from django.db.models.functions import Lower, StrIndex, Substr
from django.http import Http404

from leors.access.models import AccessApplication, AgencyDomain, ApplicationDocument, Officer, User
from leors.core.permissions import objects_for


def user_may(user: Any, perm: str, obj: Any) -> bool:
    """A role-wide (global) permission, or the same permission on this one object."""
    return bool(user.is_active and (user.has_perm(perm) or user.has_perm(perm, obj)))


def _annotated(queryset: QuerySet[AccessApplication]) -> QuerySet[AccessApplication]:
    # Whether the e-mail domain is already confirmed for the named agency: flagged to the vetter when not.
    return queryset.select_related("agency", "assigned_to", "applicant").annotate(
        is_domain_known=Exists(
            AgencyDomain.objects.filter(agency_id=OuterRef("agency_id"), domain=OuterRef("email_domain_value"))
        )
    )


def application_list_for(*, user: Any) -> QuerySet[AccessApplication]:
    """Every application for leads and auditors; otherwise those the user holds view permission on."""
    base = AccessApplication.objects.annotate(
        email_domain_value=Lower(Substr(F("official_email"), StrIndex(F("official_email"), Value("@")) + 1))
    )
    if user.is_active and user.is_staff and user.has_perm("access.view_all_accessapplications"):
        visible = base
    else:
        visible = objects_for(user, "access.view_accessapplication", base)
    return _annotated(visible)


def application_get_for(*, user: Any, reference: str | None = None, pk: int | None = None, perm: str | None = None) -> AccessApplication:
    """The application, if the user may see it (and, when `perm` is given, may do that to it); else 404."""
    queryset = application_list_for(user=user)
    lookup = {"reference": reference} if reference is not None else {"pk": pk}
    application = queryset.filter(**lookup).first()
    if application is None or (perm is not None and not user_may(user, perm, application)):
        raise Http404("No such application.")
    return application


def application_document_get_for(*, user: Any, document_id: int) -> ApplicationDocument:
    document = ApplicationDocument.objects.select_related("application").filter(pk=document_id).first()
    if document is None:
        raise Http404("No such document.")
    application_get_for(user=user, pk=document.application_id)  # 404 unless the application is visible
    return document


def application_queue_for(*, user: Any) -> QuerySet[AccessApplication]:
    """R2: open applications, the most urgent (earliest due) first."""
    return application_list_for(user=user).filter(status__in=AccessApplication.OPEN_STATUSES).order_by("review_due_at", "pk")


def applications_of_applicant(*, user: Any) -> QuerySet[AccessApplication]:
    return objects_for(user, "access.respond_accessapplication", AccessApplication.objects.all()).order_by("-created_at")


def officer_for(*, user: Any) -> Officer | None:
    if not user.is_authenticated:
        return None
    return Officer.objects.select_related("agency").filter(user=user).first()


def officer_has_current_access(*, user: Any, now: datetime) -> bool:
    officer = officer_for(user=user)
    return officer is not None and user.is_active and officer.is_access_current(now)


def staff_contact_named(*, name: str) -> User | None:
    """R12: the member of the legal team of that exact name who may contact agencies, or None."""
    cleaned = " ".join(name.split())
    if not cleaned:
        return None
    return User.objects.filter(is_staff=True, is_active=True, may_contact_agencies=True,
                               full_name__iexact=cleaned).first()
