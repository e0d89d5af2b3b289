"""Pieces shared by the case services: the claimed transition and who may act."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from cases.models import Case
from leors.access.models import User
from leors.core.audit import Actor
from leors.core.errors import ActionRefused
from leors.core.permissions import user_may
from leors.core.transitions import status_claim


def case_transition(case: Case, *, allowed_from: tuple[str, ...], to: str, refusal: str, **fields: Any) -> Case:
    """Claim a status change with a conditional UPDATE; refuse if another actor moved the case first."""
    return status_claim(case, allowed_from=allowed_from, to=to, refusal=f"{refusal} The case is now:", **fields)


PERM_REVIEW = "cases.review_case"
PERM_ASSIGN = "cases.assign_case"


def require_staff(actor: Actor, case: Case, perm: str = PERM_REVIEW) -> User:
    """R10: every review step names the member of the legal team who took it, holding the right
    for it on this case (assigned reviewer) or on every case (legal lead). Checked here, so no
    caller — admin, task or shell — can skip it; an auditor can never act."""
    user = actor.user
    if user is None or not user.is_staff or not user.is_active:
        raise ActionRefused("Only a member of the legal team can do this.")
    if not user_may(user, perm, case):
        raise ActionRefused("You are not the reviewer of this case.")
    return user


def officer_case_path(case: Case) -> str:
    return reverse("cases:detail", kwargs={"reference": case.reference})


def staff_case_path(case: Case) -> str:
    return reverse("admin:cases_case_change", args=[case.pk])
