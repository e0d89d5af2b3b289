"""Pieces shared by the case services: the claimed transition and who may act."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from cases.models import Case
from leors.access.models import User
from leors.core.audit import Actor
from leors.core.errors import ActionRefused


def case_transition(case: Case, *, allowed_from: tuple[str, ...], to: str, refusal: str, **fields: Any) -> Case:
    """Claim a status change with a conditional UPDATE; refuse if another actor moved the case first."""
    updated = Case.objects.filter(pk=case.pk, status__in=allowed_from).update(status=to, **fields)
    if updated != 1:
        current = Case.objects.get(pk=case.pk)
        raise ActionRefused(f"{refusal} The case is now: {current.get_status_display().lower()}.")
    case.refresh_from_db()
    return case


PERM_REVIEW = "cases.review_case"
PERM_ASSIGN = "cases.assign_case"


def require_staff(actor: Actor, case: Case, perm: str = PERM_REVIEW) -> User:
    """R10: every review step names the member of the legal team who took it, holding the right
    for it on this case (assigned reviewer) or on every case (legal lead). Checked here, so no
    caller — admin, task or shell — can skip it; an auditor can never act."""
    user = actor.user
    if user is None or not user.is_staff or not user.is_active:
        raise ActionRefused("Only a member of the legal team can do this.")
    if not (user.has_perm(perm) or user.has_perm(perm, case)):
        raise ActionRefused("You are not the reviewer of this case.")
    return user


def officer_case_path(case: Case) -> str:
    return reverse("cases:detail", kwargs={"reference": case.reference})


def staff_case_path(case: Case) -> str:
    return reverse("admin:cases_case_change", args=[case.pk])
