"""Four-eyes control: activating a freeze, releasing a production and recording a return each need
a second, different member of the legal team.

The first asks (`approval_request`), naming exactly what is to be done; a different one approves
(`approval_grant`), which claims the approval with a conditional UPDATE — of any number of
simultaneous approvals exactly one wins — and carries the action out in the same transaction. If
the action is refused (the case changed meanwhile), nothing is approved.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from cases.models import Approval, Case, Production
from cases.services.common import require_staff, staff_case_path
from leors.access.models import User
from leors.access.services import legal_team
from leors.core.audit import Actor, audit_record
from leors.core.errors import ActionRefused
from leors.core.outbox import email_enqueue
from leors.core.permissions import user_may

Action = Approval.Action
REQUESTER_LEFT = ("The person who asked for this has left the legal team (their account is closed), so no one answers "
                  "for the request: cancel it, and ask again yourself for a second member to approve.")


def _blockers(case: Case, action: str, target_id: int | None, params: dict[str, Any], now: datetime) -> list[str]:
    from cases.services import clocks, productions, recovery

    if action == Action.FREEZE_ACTIVATE:
        return clocks.freeze_activation_blockers(case)
    if action == Action.PRODUCTION_RELEASE:
        production = Production.objects.filter(pk=target_id or 0, case=case).first()
        if production is None:
            return ["Choose a production of this case."]
        if production.released_at is not None:
            return ["This production was already released."]
        return productions.production_release_blockers(case, now)
    if action == Action.RETURN_RECORD:
        return recovery.return_blockers(case)
    return [f"Unknown action {action}."]


def approval_request(*, case: Case, action: str, actor: Actor, now: datetime, target_id: int | None = None,
                     params: dict[str, Any] | None = None) -> Approval:
    """Ask for a second approval of one action, after checking it could be carried out now."""
    user = require_staff(actor, case)
    # The case as it is now, not as the caller loaded it: a hold put on it meanwhile (R3) blocks.
    case = Case.objects.get(pk=case.pk)
    params = params or {}
    blockers = _blockers(case, action, target_id, params, now)
    if blockers:
        raise ActionRefused(" ".join(blockers))
    try:
        with transaction.atomic():
            approval = Approval.objects.create(case=case, action=action, target_id=target_id, params=params,
                                               requested_by=user, requested_at=now)
            audit_record(actor=actor, action="approval.requested", obj=case, now=now,
                         changes={"approval": approval.pk, "action": action, "target": target_id, "params": params})
            for person in legal_team().exclude(pk=user.pk):
                if user_may(person, "cases.review_case", case):
                    email_enqueue(key=f"approval:{approval.pk}:{person.pk}", to=person.email,
                                  template="staff_approval_needed", reference=case.reference,
                                  link_path=staff_case_path(case), now=now)
    except IntegrityError:
        raise ActionRefused("This action already awaits a second approval.") from None
    return approval


def approval_grant(*, approval: Approval, actor: Actor, now: datetime) -> Approval:
    """The second pair of eyes: a different member of the team approves, and the action is carried out."""
    from cases.services import clocks, productions, recovery

    user = require_staff(actor, approval.case)
    if user.pk == approval.requested_by_id:
        raise ActionRefused("You asked for this action; a second, different member of the legal team must approve it.")
    try:
        with transaction.atomic():
            # Four eyes are two people on the team now: the account that asked may have been closed because it was
            # taken over, and then no one answers for the request. Its row is locked until the commit, so a closure
            # (an UPDATE of that row) either committed before and is seen, or waits and comes after the grant. (Not a
            # join in the claim below: PostgreSQL re-checks a concurrently updated row against the UPDATE's own
            # conditions only, and the claim would no longer be made exactly once.) FOR NO KEY UPDATE, as the closure's
            # own UPDATE: a transaction that wrote rows naming the account (its own audit events) still commits.
            asker = User.objects.select_for_update(no_key=True).filter(pk=approval.requested_by_id, is_active=True)
            if not asker.exists():
                raise ActionRefused(REQUESTER_LEFT)
            claimed = Approval.objects.filter(pk=approval.pk, status=Approval.Status.PENDING).update(
                status=Approval.Status.APPROVED, decided_by=user, decided_at=now)
            if claimed != 1:
                raise ActionRefused("This approval was already decided.")
            approval.refresh_from_db()
            _lock_what_it_changes(approval)
            audit_record(actor=actor, action="approval.granted", obj=approval.case, now=now,
                         changes={"approval": approval.pk, "action": approval.action,
                                  "requested_by": approval.requested_by.email})
            outcome: Any
            if approval.action == Action.FREEZE_ACTIVATE:
                outcome = clocks.freeze_activate(case=approval.case, approval=approval, actor=actor, now=now)
            elif approval.action == Action.PRODUCTION_RELEASE:
                production = Production.objects.get(pk=approval.target_id or 0, case=approval.case)
                outcome = productions.production_release(production=production, approval=approval, actor=actor, now=now)
            else:
                outcome = recovery.return_record(approval=approval, actor=actor, now=now)
    except ActionRefused:
        approval.refresh_from_db()  # the claim was rolled back with the refused action: still pending
        raise
    approval.outcome = outcome  # type: ignore[attr-defined]  # the freeze, production or return it carried out
    return approval


def _lock_what_it_changes(approval: Approval) -> None:
    """The rows the approved action changes, locked before the audit trail's lock is taken (by the grant's own event):
    everywhere a case's row first, then its clock's, then the trail's. A freeze is also locked by the acceptance of a
    further order continuing it, and by an early lift, each before its own event: taken the other way round here,
    either would deadlock with the grant."""
    from cases.services import clocks

    clocks.case_clock_lock(Case.objects.select_for_update().get(pk=approval.case_id))


def approval_cancel(*, approval: Approval, actor: Actor, now: datetime) -> Approval:
    require_staff(actor, approval.case)
    with transaction.atomic():
        if Approval.objects.filter(pk=approval.pk, status=Approval.Status.PENDING).update(
                status=Approval.Status.CANCELLED, decided_by=actor.user, decided_at=now) != 1:
            raise ActionRefused("This approval was already decided.")
        audit_record(actor=actor, action="approval.cancelled", obj=approval.case, now=now,
                     changes={"approval": approval.pk, "action": approval.action})
    approval.refresh_from_db()
    return approval


def require_approval(approval: Approval | None, *, case: Case, action: str, target_id: int | None = None) -> Approval:
    """What the executing services check: an approval of exactly this action, granted by someone else.

    Read back from the database rather than trusted as handed in: an Approval object whose status was
    set in memory (or never saved) must not carry anything out. Callers use the stored row returned."""
    stored = None
    if approval is not None and approval.pk is not None:
        stored = (Approval.objects.select_related("requested_by", "decided_by")
                  .filter(pk=approval.pk, case_id=case.pk, action=action, target_id=target_id,
                          status=Approval.Status.APPROVED, decided_by__isnull=False)
                  .exclude(decided_by_id=F("requested_by_id")).first())
    if stored is None:
        raise ActionRefused("This needs the approval of a second, different member of the legal team.")
    return stored
