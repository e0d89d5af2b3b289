"""R3: when an officer is suspended on suspicion of impersonation, their open cases go on hold.

Nothing on a case on hold is accepted, frozen, released or returned until a legal lead has looked
at it and lifted the hold (or declined the case). The cases are listed for the lead in the staff
workspace (filter "on hold").
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from cases.models import Case
from cases.services.common import PERM_ASSIGN, require_staff
from leors.access.models import Officer
from leors.core.audit import Actor, audit_record
from leors.core.errors import ActionRefused

# Statuses in which something may still be done or used for the officer: every one of them waits —
# including fulfilled requests, whose freeze may still be in force or production still downloadable, and
# closed ones, which staff may close while a production is still in its download window.
HOLDABLE_STATUSES = (*Case.OPEN_STATUSES, *Case.ACCEPTED_STATUSES, Case.Status.FULFILLED, Case.Status.CLOSED)


def cases_put_on_hold(*, officer: Officer, reason: str, actor: Actor, now: datetime) -> list[Case]:
    """Put every open or accepted case the officer submitted on hold (in the caller's transaction)."""
    held = list(Case.objects.select_for_update().filter(submitted_by_id=officer.user_id, on_hold_at__isnull=True,
                                                        status__in=HOLDABLE_STATUSES))
    for case in held:
        Case.objects.filter(pk=case.pk).update(on_hold_at=now, on_hold_reason=reason)
        audit_record(actor=actor, action="case.put_on_hold", obj=case, changes={"reason": reason}, now=now)
    return held


def case_hold_release(*, case: Case, note: str, actor: Actor, now: datetime) -> Case:
    """A legal lead, having checked the case, lets work on it continue."""
    require_staff(actor, case, PERM_ASSIGN)
    note = note.strip()
    if len(note) < 10:
        from django.core.exceptions import ValidationError

        raise ValidationError({"note": "Record what was checked before lifting the hold."})
    with transaction.atomic():
        updated = Case.objects.filter(pk=case.pk, on_hold_at__isnull=False).update(on_hold_at=None, on_hold_reason="")
        if updated != 1:
            raise ActionRefused("This case is not on hold.")
        audit_record(actor=actor, action="case.hold_released", obj=case, changes={"note": note}, now=now)
    case.refresh_from_db()
    return case


def refuse_if_on_hold(case: Case) -> None:
    """Called by every step that discloses, freezes, releases or returns."""
    if case.on_hold_at is not None:
        raise ActionRefused("This case is on hold: its officer was suspended on suspicion of impersonation. "
                            "A legal lead must review it and lift the hold first (or decline it).")
