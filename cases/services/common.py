"""Pieces shared by the case services: the claimed transition and who may act."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote

from django.urls import get_script_prefix, get_urlconf, reverse

from cases.models import Case
from leors.access.models import User
from leors.access.services import staff_require
from leors.core.audit import Actor
from leors.core.outbox import Email
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
    return staff_require(actor, perm, case, refused="You are not the reviewer of this case.")


class HasEmail(Protocol):
    @property
    def email(self) -> str: ...


class CaseFacts(Protocol):
    """What an e-mail about a case needs of it: a Case, or a sweep's row read as values."""

    @property
    def pk(self) -> Any: ...
    @property
    def reference(self) -> str: ...
    @property
    def submitted_by(self) -> HasEmail: ...


def officer_update_email(case: CaseFacts, *, cause: str, what: str, now: datetime) -> Email:
    """The e-mail telling the officer who sent `case` that it changed (reference, link and code only,
    R12); `cause:case:what:now` keys it, so one change is told once."""
    return Email(key=f"{cause}:{case.pk}:{what}:{now.isoformat()}", to=case.submitted_by.email,
                 template="case_update", reference=case.reference, link_path=officer_case_path(case))


def officer_case_path(case: CaseFacts) -> str:
    return _path_with("cases:detail", case.reference)


def staff_case_path(case: CaseFacts) -> str:
    return _path_with("admin:cases_case_change", case.pk)


_SLOT = "LEORSPATHSLOT"


def _path_with(name: str, value: object) -> str:
    """`reverse(name, args=[value])`, with the resolver walked once per URL name (a sweep builds the
    links of thousands of e-mails; `reverse` costs ~0.1 ms a call)."""
    return _path_pattern(name, get_urlconf(), get_script_prefix()).replace(_SLOT, quote(str(value), safe="-_.~"))


@functools.lru_cache(maxsize=64)
def _path_pattern(name: str, urlconf: str | None, script_prefix: str) -> str:
    return reverse(name, args=[_SLOT], urlconf=urlconf)

