"""Reads for access applications and officers. Access is one call: missing and forbidden look alike.

The `*_get_for` selectors raise the same 404 for both; a refusal of something that exists is also
written to the audit trail ("access.denied", through `leors.core.permissions.access_denied`).
List selectors filter silently: not being shown a thing in a list is not a refusal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Exists, F, OuterRef, QuerySet, Value
from django.db.models.functions import Lower, StrIndex, Substr
from django.http import Http404

from leors.access.models import AccessApplication, AgencyDomain, ApplicationDocument, Officer, User
from leors.core.permissions import access_denied, objects_for, user_may

PERM_VIEW_APPLICATION = "access.view_accessapplication"


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
        visible = objects_for(user, PERM_VIEW_APPLICATION, base)
    return _annotated(visible)


def application_get_for(*, user: Any, reference: str | None = None, pk: int | None = None, perm: str | None = None) -> AccessApplication:
    """The application, if the user may see it (and, when `perm` is given, may do that to it); else 404.

    An application that exists but is refused is audited (once) before the 404; a missing one is not.
    """
    lookup: dict[str, Any] = {"reference": reference} if reference is not None else {"pk": pk}
    application = application_list_for(user=user).filter(**lookup).first()
    if application is not None and (perm is None or user_may(user, perm, application)):
        return application
    # The 404 path: a second query tells "forbidden" from "missing", for the trail only.
    existing = application or AccessApplication.objects.filter(**lookup).first()
    if existing is not None:
        access_denied(user=user, obj=existing, perm=perm or PERM_VIEW_APPLICATION)
    raise Http404("No such application.")


def application_document_get_for(*, user: Any, document_id: int) -> ApplicationDocument:
    """The document, if the user may see its application; else 404 (a refusal is audited on the document)."""
    document = ApplicationDocument.objects.select_related("application").filter(pk=document_id).first()
    if document is None:
        raise Http404("No such document.")
    if not application_list_for(user=user).filter(pk=document.application_id).exists():
        access_denied(user=user, obj=document, perm=PERM_VIEW_APPLICATION)
        raise Http404("No such document.")
    return document


def application_queue_for(*, user: Any) -> QuerySet[AccessApplication]:
    """R2: open applications, the most urgent (earliest due) first."""
    return application_list_for(user=user).filter(status__in=AccessApplication.OPEN_STATUSES).order_by("review_due_at", "pk")


def applications_of_applicant(*, user: Any) -> QuerySet[AccessApplication]:
    return objects_for(user, "access.respond_accessapplication", AccessApplication.objects.all()).order_by("-created_at")


def officer_for(*, user: Any) -> Officer | None:
    """The user's officer record, read once per user object — that is, once per request, where
    `request.user` is a new object each time (the access guard, the page and its gates all ask).
    The signed-in user of a request comes with it, read in the same query (the sign-in backend's
    `get_user`); another user object reads it here. A change to the record takes effect from the next
    request."""
    if not user.is_authenticated:
        return None
    cache = user.__dict__
    if "_leors_officer" not in cache:
        if "officer" in user._state.fields_cache:  # joined: None when the user has no officer record
            cache["_leors_officer"] = user._state.fields_cache["officer"]
        else:
            cache["_leors_officer"] = Officer.objects.select_related("agency").filter(user=user).first()
    return cache["_leors_officer"]


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
