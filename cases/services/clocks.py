"""The clocks of R7 (preservation holds) and R8 (freezes), and the sweeps that make them catch up.

A clock is a stored due time; `is_in_force(now)` answers from it. The sweeps (Celery beat every
minute, or `manage.py run_sweeps`) take `now` as an argument, claim due rows with
`select_for_update(skip_locked=True)` so that two sweeps never take the same row, re-check each
row's state under its lock, transition it once, audit it, and queue the e-mails and webhooks in
the same transaction. A sweep killed half-way leaves every row either done or untouched.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, Value
from django.db.models.functions import Least
from django.urls import reverse
from django.utils import timezone

from cases.models import Case, Freeze, PreservationHold, Reminder, RequestType
from cases.models.clocks import (
    ClockQuerySet,
    further_orders_awaiting_activation,
    latest_extension_review_end,
    latest_further_order_bound,
)
from cases.selectors import exchange_subjects, exchange_subjects_of
from cases.services.common import case_transition, officer_update_email, require_staff, staff_case_path
from leors import policy
from leors.access.models import AccessApplication
from leors.access.services import legal_leads, reviewers_to_tell, told_key
from leors.core.audit import Actor, AuditEntry, audit_record, audit_record_many
from leors.core.errors import ActionRefused
from leors.core.health import CLOCKS_SWEEP, heartbeat_record
from leors.core.models import OutboxMessage
from leors.core.outbox import Email, email_enqueue, emails_enqueue
from leors.core.webhooks import WebhookEvent, webhook_enqueue, webhooks_enqueue

SWEEP = Actor.system("system:clocks")
SWEEP_TIME_BUDGET_SECONDS = 50  # below the beat interval's minute
logger = logging.getLogger(__name__)


# --- The clocks a sweep claims, read as values ---------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Person:
    email: str
    is_active: bool = True


@dataclass(frozen=True, slots=True)
class ClaimedCase:
    """What the end of a clock tells of its case (`CaseFacts`, and what the exchange and the audit need)."""

    pk: int
    reference: str
    agency_id: int
    submitted_by: _Person
    assigned_to: _Person | None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A clock locked for its end, read as values. A sweep's batch makes no model instance of what it
    reads: four per clock (the clock, its case and two people) were a tenth of a batch's time."""

    pk: int
    case: ClaimedCase
    starts_at: datetime
    expires_at: datetime
    extension_count: int


def _active_freeze_claimed(freeze: Freeze) -> list[Claimed]:
    """The freeze, locked (waiting for a sweep that holds it), if it is still active (an early lift, a
    return of the assets)."""
    return _claimed(Freeze.objects.filter(pk=freeze.pk, status=Freeze.Status.ACTIVE), wait=True)


def _claimed(clocks: ClockQuerySet[Any], *, wait: bool = False, limit: int | None = None) -> list[Claimed]:
    """Lock the clocks of `clocks` (only their own rows) and read them, soonest end first, the first `limit`
    of them. A row another transaction holds is skipped, unless `wait`."""
    rows = clocks.select_for_update(skip_locked=not wait, of=("self",)).in_end_order().values_list(
        "pk", clocks.start_field, "expires_at", "extension_count", "case_id", "case__reference", "case__agency_id",
        "case__submitted_by__email", "case__assigned_to__email", "case__assigned_to__is_active")[:limit]
    return [Claimed(pk=pk, starts_at=starts_at, expires_at=expires_at, extension_count=extensions, case=ClaimedCase(
                pk=case_id, reference=reference, agency_id=agency_id, submitted_by=_Person(officer),
                assigned_to=None if reviewer is None else _Person(reviewer, reviewer_active)))
            for pk, starts_at, expires_at, extensions, case_id, reference, agency_id, officer, reviewer, reviewer_active in rows]


def _case_event(action: str, case: ClaimedCase, changes: dict[str, Any]) -> AuditEntry:
    """The audit event of a claimed clock's case, as `AuditEntry(obj=case)` would record it (a case's
    `str` is its reference: tests/cases/test_sweep_batches.py holds the two to it)."""
    return AuditEntry(action=action, object_type=Case._meta.label_lower, object_id=str(case.pk),
                      object_repr=case.reference, changes=changes)


_STATUSES = {"freeze": (Freeze.Status.ACTIVE, Freeze.Status.LIFTED),
             "preservation": (PreservationHold.Status.ACTIVE, PreservationHold.Status.LAPSED)}


def _restriction_data(*, kind: str, restriction_id: int, case: Case | ClaimedCase, starts_at: datetime,
                      ends_at: datetime, extensions: int, ended: bool = False,
                      subjects: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """What the exchange is told of a restriction; `subjects`: the case's, when a batch read them already.

    R7, R8: `status` is the restriction's status once this event happened, and `sequence` its place among
    the restriction's events (1 for its start, one more for each extension, and one more for its end),
    so that a receiver can discard an event older than one it has applied. `extensions`: how many
    extensions it has had, this event's included; `ended`: whether this event ends it."""
    in_force, ended_status = _STATUSES[kind]
    status = ended_status if ended else in_force
    return {"restriction": {"type": kind, "id": restriction_id}, "case": case.reference, "agency": case.agency_id,
            "subjects": exchange_subjects(case.pk) if subjects is None else subjects,
            "starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat(),
            "status": str(status), "sequence": 1 + extensions + int(ended)}


def _officer_email(case: Case | ClaimedCase, *, what: str, now: datetime) -> Email:
    return officer_update_email(case, cause="clock", what=what, now=now)


def _leads_once() -> Callable[[], list[Any]]:
    """The active legal leads, read at most once (for a batch of clocks, several of them a departed reviewer's)."""
    return functools.cache(lambda: list(legal_leads()))


def _reviewer_emails(case: Case | ClaimedCase, *, what: str, now: datetime,
                     leads: Callable[[], list[Any]] | None = None) -> list[Email]:
    """Those told of the clock of `case` (`reviewers_to_tell`: its reviewer, or the leads once the reviewer has left;
    `leads`, as a batch reads them once), each with a key of their own (`told_key`)."""
    key = f"clock-staff:{case.pk}:{what}:{now.isoformat()}"
    return [Email(key=told_key(key, person, case.assigned_to), to=person.email, template="staff_case_message",
                  reference=case.reference, link_path=staff_case_path(case))
            for person in reviewers_to_tell(case.assigned_to, leads=leads)]


def _tell_officer(case: Case, *, what: str, now: datetime) -> None:
    emails_enqueue([_officer_email(case, what=what, now=now)], now=now)


# --- R7: preservation holds ----------------------------------------------------------------------

def hold_start(*, case: Case, actor: Actor, now: datetime) -> PreservationHold:
    """R7: the hold starts at receipt of the formal request (intake) and runs policy.preservation_period()."""
    if case.request_type != RequestType.PRESERVATION:
        raise ActionRefused("Only a preservation request starts a hold.")
    hold = PreservationHold.objects.create(case=case, started_at=now, expires_at=now + policy.preservation_period())
    audit_record(actor=actor, action="hold.started", obj=case, now=now,
                 changes={"hold": hold.pk, "expires_at": hold.expires_at})
    webhook_enqueue(event="hold.started", key=f"hold:{hold.pk}:started", now=now,
                    data=_restriction_data(kind="preservation", restriction_id=hold.pk, case=case,
                                           starts_at=hold.started_at, ends_at=hold.expires_at, extensions=0))
    return hold


def hold_extension_problem(*, preservation: Case, now: datetime) -> str | None:
    """R7: an extension must be filed before the hold expires."""
    hold = PreservationHold.objects.filter(case=preservation).first()
    if hold is None:
        return f"{preservation.reference} has no preservation hold to extend."
    if hold.status == PreservationHold.Status.ACTIVE and now < hold.expires_at:
        return None
    # Past its end or ended: when it stopped preserving the data (early, at its end, or kept past it by an extension
    # until that left review), not when a sweep (perhaps after downtime) caught up with it; None while still kept.
    ended = hold_ended(hold, now=now)
    if ended is None:
        return (f"The preservation period of {preservation.reference} ended on {hold.expires_at:%d %B %Y at %H:%M} "
                "UTC. The hold stays in force only while the extension filed before then is reviewed; a further "
                "extension must be filed before the hold expires. Send a new preservation request instead.")
    if now < ended:  # filed in time, but the hold lapsed while the extension was being received
        return (f"The preservation hold of {preservation.reference} ended on {ended:%d %B %Y at %H:%M:%S} UTC, while "
                "this extension was being received; it can no longer be extended. Send a new preservation request.")
    return (f"The preservation hold of {preservation.reference} ended on {ended:%d %B %Y at %H:%M} UTC. An "
            "extension must be filed before the hold expires; send a new preservation request instead.")


def hold_ended(hold: PreservationHold, *, now: datetime) -> datetime | None:
    """R7: when the hold stopped preserving the data, or None while it is in force. Once it has lapsed, as recorded
    (`PreservationHold.ended`); before the sweep records the lapse, as the sweep will: its end, or past it when an
    extension filed in time kept it until it left review."""
    if hold.status == PreservationHold.Status.LAPSED:
        return hold.ended or hold.expires_at
    if hold.is_in_force(now):
        return None
    return _holds_kept_until({hold.pk: hold.expires_at}, now=now).get(hold.pk, hold.expires_at)


def hold_extended_end(hold: PreservationHold) -> datetime:
    """R7: the end an accepted extension gives the hold: a further period from its current end."""
    return hold.expires_at + policy.preservation_extension_period()


def hold_extend(*, extension: Case, actor: Actor, now: datetime) -> PreservationHold:
    """R7: an accepted extension makes the hold run a further period from its current end.

    Called inside the acceptance of the extension request. The extension was filed before the
    hold's end (intake checks it), and a hold with an extension pending does not lapse, so an
    extension filed at the last minute and accepted later still extends an unbroken hold.
    """
    if extension.request_type != RequestType.PRESERVATION_EXTENSION or extension.extends_case_id is None:
        raise ActionRefused("Only a preservation extension extends a hold.")
    hold = PreservationHold.objects.select_for_update().get(case_id=extension.extends_case_id)
    if hold.status != PreservationHold.Status.ACTIVE:
        raise ActionRefused("The preservation hold has already lapsed; it cannot be extended. A new preservation "
                            "request is needed.")
    previous = hold.expires_at
    hold.expires_at = hold_extended_end(hold)
    hold.extension_count += 1
    hold.save(update_fields=["expires_at", "extension_count"])
    audit_record(actor=actor, action="hold.extended", obj=hold.case, now=now,
                 changes={"hold": hold.pk, "expires_at": [previous, hold.expires_at], "extension": extension.reference})
    webhook_enqueue(event="hold.extended", key=f"hold:{hold.pk}:extended:{hold.extension_count}", now=now,
                    data=_restriction_data(kind="preservation", restriction_id=hold.pk, case=hold.case,
                                           starts_at=hold.started_at, ends_at=hold.expires_at,
                                           extensions=hold.extension_count))
    _tell_officer(hold.case, what=f"hold-extended-{hold.extension_count}", now=now)
    return hold


def hold_end_early(*, case: Case, reason: str, actor: Actor, now: datetime) -> None:
    """A preservation request declined or withdrawn: its hold ends now, and the exchange is told."""
    hold = PreservationHold.objects.select_for_update().filter(case=case, status=PreservationHold.Status.ACTIVE).first()
    if hold is None:
        return
    # In force, it ends now; past its end and no longer kept by an extension under review, it had already ended.
    ended = hold_ended(hold, now=now) or now
    hold.status = PreservationHold.Status.LAPSED
    hold.lapsed_at = now
    hold.ended_at = ended
    hold.save(update_fields=["status", "lapsed_at", "ended_at"])
    audit_record(actor=actor, action="hold.ended", obj=case, now=now, changes={"hold": hold.pk, "reason": reason})
    webhook_enqueue(event="hold.lapsed", key=f"hold:{hold.pk}:lapsed", now=now,
                    data={**_restriction_data(kind="preservation", restriction_id=hold.pk, case=case,
                                              starts_at=hold.started_at, ends_at=ended,
                                              extensions=hold.extension_count, ended=True), "reason": reason})


def holds_lapse_due(*, now: datetime) -> int:
    """R7: every hold past its end (and with no extension filed in time still pending) lapses, once."""
    return _sweep_batches(PreservationHold.objects.due(now), lambda holds: _lapse(holds, now=now))


def _lapse(holds: list[Claimed], *, now: datetime) -> None:
    """Lapse a batch of claimed holds: one UPDATE, one COPY each of events, webhooks and e-mails."""
    # Each ended at its end, or past it when an extension filed in time kept it until it left review.
    kept = _holds_kept_until({hold.pk: hold.expires_at for hold in holds}, now=now)
    ended = {hold.pk: kept.get(hold.pk, hold.expires_at) for hold in holds}
    PreservationHold.objects.filter(pk__in=[hold.pk for hold in holds]).update(
        status=PreservationHold.Status.LAPSED, lapsed_at=now, ended_at=Least(Value(now), F("expires_at")))
    for pk, until in kept.items():
        PreservationHold.objects.filter(pk=pk).update(ended_at=until)
    emails: list[Email] = []
    leads = _leads_once()
    for hold in holds:
        emails += [_officer_email(hold.case, what="hold-lapsed", now=now),
                   *_reviewer_emails(hold.case, what="hold-lapsed", now=now, leads=leads)]
    emails_enqueue(emails, now=now)
    subjects = exchange_subjects_of(hold.case.pk for hold in holds)
    webhooks_enqueue([WebhookEvent(event="hold.lapsed", key=f"hold:{hold.pk}:lapsed",
                                   data=_restriction_data(kind="preservation", restriction_id=hold.pk, case=hold.case,
                                                          starts_at=hold.starts_at, ends_at=ended[hold.pk],
                                                          extensions=hold.extension_count, ended=True,
                                                          subjects=subjects[hold.case.pk]))
                      for hold in holds], now=now)
    # Last: the chain's lock is held from here to the commit, so it is held as briefly as possible.
    audit_record_many(actor=SWEEP, now=now, entries=[
        _case_event("hold.lapsed", hold.case, {"hold": hold.pk, "expired_at": hold.expires_at}) for hold in holds])


def _holds_kept_until(ends: dict[int, datetime], *, now: datetime) -> dict[int, datetime]:
    """R7: of holds (their id and end) lapsing past their end, those an extension filed in time kept past it, each
    with the moment the last such extension left review (`latest_extension_review_end`)."""
    past = [pk for pk, expires_at in ends.items() if expires_at <= now]
    if not past:
        return {}
    kept = (PreservationHold.objects.filter(pk__in=past).annotate(left_review=latest_extension_review_end())
            .filter(left_review__gt=F("expires_at")).values_list("pk", "left_review"))
    return {pk: min(now, left_review) for pk, left_review in kept}


# --- R8: freezes ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class FreezeActivation:
    confirm_longer: bool = False
    longer_passage: str = ""


def freeze_granted_days(*, stated_days: int, activation: FreezeActivation) -> int:
    """R8: the stated duration, capped at policy.freeze_max_days() unless the reviewer confirmed that the
    order itself explicitly orders longer (citing the passage)."""
    if stated_days <= policy.freeze_max_days():
        return stated_days
    if activation.confirm_longer:
        if len(activation.longer_passage.strip()) < 10:
            raise ValidationError({"longer_passage": "Quote the passage of the order that explicitly orders the "
                                                     "longer period."})
        return stated_days
    return policy.freeze_max_days()


def freeze_case_continued(named: Case) -> Case:
    """The freeze request whose freeze a further order naming `named` continues (R8): `named` itself if it
    holds a freeze or continues none; else, since a further order that extended a freeze (or will) has
    none of its own, the one it continues, and so on back along the chain."""
    case, seen = named, set()
    while case.extends_case_id is not None and case.pk not in seen and not Freeze.objects.filter(case=case).exists():
        seen.add(case.pk)
        case = Case.objects.get(pk=case.extends_case_id)
    return case


def case_clock_lock(case: Case) -> None:
    """Lock the clock row a change to `case` may change, before the audit trail's lock (the change's first event).

    Everywhere the order is a case's row, then its clock's row, then the trail's lock; the sweep and a filing
    extension take the clock first too. So none waits on another in a cycle, and a sweep running meanwhile skips the
    locked clock (`SKIP LOCKED`) instead of acting on a state the change is about to alter. R7: a preservation's hold,
    or the hold an extension extends; R8, R9: the freeze a further order continues, or a recovery's assets are held by.
    """
    if case.request_type == RequestType.PRESERVATION:
        PreservationHold.objects.select_for_update().filter(case_id=case.pk).first()
    elif case.request_type == RequestType.PRESERVATION_EXTENSION and case.extends_case_id is not None:
        PreservationHold.objects.select_for_update().filter(case_id=case.extends_case_id).first()
    elif case.request_type in (RequestType.FREEZE, RequestType.ASSET_RECOVERY):
        freeze_continued(case, lock=True)


def freeze_continued(case: Case, *, lock: bool = False) -> Freeze | None:
    """The freeze a further order continues (or would, activated now): the freeze of the request it
    names, or the one that request continues, and so on back along the chain. Locked for an activation."""
    if case.extends_case_id is None:
        return None
    freezes = Freeze.objects.filter(case=freeze_case_continued(Case.objects.get(pk=case.extends_case_id)))
    return (freezes.select_for_update() if lock else freezes).first()


def _further_orders_recontinued(case: Case) -> None:
    """`case`, a further order, has just started a freeze of its own (the one it named had ended): the
    pending further orders that continue it through the chain now continue this freeze, not the ended one.

    Run after the activation's commit, in a transaction of its own: the activation holds the audit trail's
    lock, and a reviewer deciding one of these orders holds its row and waits for that lock."""
    if case.continues_freeze_of_id is None:
        return
    with transaction.atomic():
        pending = Case.objects.select_for_update(of=("self",)).filter(
            continues_freeze_of_id=case.continues_freeze_of_id, request_type=RequestType.FREEZE,
            status__in=(*Case.OPEN_STATUSES, *Case.ACCEPTED_STATUSES)).exclude(pk=case.pk)
        for further in pending.select_related("extends_case"):
            continued = freeze_case_continued(further.extends_case) if further.extends_case is not None else None
            if continued is not None and continued.pk != further.continues_freeze_of_id:
                Case.objects.filter(pk=further.pk).update(continues_freeze_of=continued)


def freeze_activation_blockers(case: Case) -> list[str]:
    """What must be true before a freeze can be activated: reviewed and accepted (R10), not on hold
    (R3), and the request itself confirmed with the agency out of band (forged-request resistance)."""
    blockers = []
    if case.request_type != RequestType.FREEZE or not case.freeze_duration_days:
        return ["Only a freeze request with a stated duration can be activated."]
    if case.status not in Case.ACCEPTED_STATUSES:
        blockers.append("A freeze is activated only after the request was reviewed and accepted (R10).")
    if case.on_hold_at is not None:
        blockers.append("The case is on hold (its officer was suspended); a legal lead must lift the hold first.")
    if not case.out_of_band_confirmations.exists():
        blockers.append("Confirm this request with the agency through a contact you found independently, and "
                        "record it, before the freeze is activated.")
    if Freeze.objects.filter(case=case).exists():
        blockers.append("This freeze is already active.")
    return blockers


def freeze_activation_request(*, case: Case, activation: FreezeActivation, actor: Actor, now: datetime) -> Any:
    """R8 + four-eyes: ask for the activation; a second member of the team approves it
    (`approvals.approval_grant`), which carries it out."""
    from cases.models import Approval
    from cases.services.approvals import approval_request

    if case.request_type != RequestType.FREEZE or not case.freeze_duration_days:
        raise ActionRefused("Only a freeze request with a stated duration can be activated.")
    freeze_granted_days(stated_days=case.freeze_duration_days, activation=activation)  # checks the passage
    return approval_request(case=case, action=Approval.Action.FREEZE_ACTIVATE, actor=actor, now=now,
                            params={"confirm_longer": activation.confirm_longer,
                                    "longer_passage": activation.longer_passage.strip()})


def freeze_activate(*, case: Case, approval: Any, actor: Actor, now: datetime) -> Freeze:
    """R8: start the freeze of an accepted freeze request; it runs from now for the granted period.

    Carried out only on an approval granted by a second, different member of the legal team. A
    further order (a freeze request naming an earlier freeze case) accepted while that freeze is
    still in force extends it from its current end instead of starting a second one.
    """
    from cases.models import Approval
    from cases.services.approvals import require_approval

    user = require_staff(actor, case)
    approval = require_approval(approval, case=case, action=Approval.Action.FREEZE_ACTIVATE)
    activation = FreezeActivation(confirm_longer=bool(approval.params.get("confirm_longer")),
                                  longer_passage=str(approval.params.get("longer_passage", "")))
    if case.request_type != RequestType.FREEZE or not case.freeze_duration_days:
        raise ActionRefused("Only a freeze request with a stated duration can be activated.")
    granted = freeze_granted_days(stated_days=case.freeze_duration_days, activation=activation)
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        blockers = freeze_activation_blockers(locked)
        if blockers:
            raise ActionRefused(" ".join(blockers))
        earlier = freeze_continued(locked, lock=True)
        # In force — which includes past its end while this order, accepted before it, keeps it (another pending
        # order keeping it does not: past this order's own period, it starts a freeze of its own).
        what = "freeze-active"
        if earlier is not None and earlier.is_in_force(now, by=locked):
            if Case.objects.filter(pk=earlier.case_id, on_hold_at__isnull=False).exists():
                raise ActionRefused("The freeze this further order continues is on a case on hold (its officer was "
                                    "suspended); a legal lead must lift that hold first (R3).")
            previous = earlier.expires_at
            earlier.expires_at = previous + timedelta(days=granted)
            earlier.extension_count += 1
            earlier.save(update_fields=["expires_at", "extension_count"])
            freeze = earlier
            audit_record(actor=actor, action="freeze.extended", obj=earlier.case, now=now, changes={
                "freeze": earlier.pk, "expires_at": [previous, earlier.expires_at], "further_order": locked.reference,
                "granted_days": granted, "stated_days": locked.freeze_duration_days,
                "longer_confirmed": activation.confirm_longer, "longer_passage": activation.longer_passage,
                "requested_by": approval.requested_by.email, "approved_by": user.email})
            webhook_enqueue(event="freeze.extended", key=f"freeze:{earlier.pk}:extended:{earlier.extension_count}",
                            now=now, data=_restriction_data(kind="freeze", restriction_id=earlier.pk,
                                                            case=earlier.case, starts_at=earlier.activated_at,
                                                            ends_at=earlier.expires_at,
                                                            extensions=earlier.extension_count))
        else:
            # Past this order's own period, nothing keeps the freeze it continued (unless another pending order
            # does): it ran out, and is lifted now rather than at the next sweep — while this order still counts
            # among those that kept it, for when it ended (`_kept_until`), and before the new freeze starts.
            kept = further_order_kept(earlier, order=locked, now=now)
            ran_out = _claimed(Freeze.objects.due(now).filter(pk=earlier.pk), wait=True) if earlier else []
            if ran_out:
                _lift(ran_out, reason=Freeze.LiftReason.EXPIRED, note="", actor=SWEEP, user=None, now=now)
            # The order's period runs from the end of the freeze it continues (as when it extends one): what it
            # already kept of it is not served a second time. Kept for all of it, it is done, and freezes nothing more.
            remaining = timedelta(days=granted) - kept
            if earlier is not None and remaining <= timedelta(0):  # only a continued freeze was kept
                freeze, what = _further_order_served(locked, earlier, kept=kept, granted=granted, approval=approval,
                                                     actor=actor, user=user, now=now), "freeze-order-served"
            else:
                freeze = Freeze.objects.create(
                    case=locked, stated_days=case.freeze_duration_days, granted_days=granted,
                    longer_confirmed=activation.confirm_longer and granted > policy.freeze_max_days(),
                    longer_passage=activation.longer_passage.strip() if granted > policy.freeze_max_days() else "",
                    activated_at=now, activated_by=user, expires_at=now + remaining,
                )
                audit_record(actor=actor, action="freeze.activated", obj=locked, now=now, changes={
                    "freeze": freeze.pk, "stated_days": freeze.stated_days, "granted_days": granted,
                    "expires_at": freeze.expires_at, "longer_confirmed": freeze.longer_confirmed,
                    "longer_passage": freeze.longer_passage, "requested_by": approval.requested_by.email,
                    "approved_by": user.email, "already_kept": kept})
                webhook_enqueue(event="freeze.activated", key=f"freeze:{freeze.pk}:activated", now=now,
                                data=_restriction_data(kind="freeze", restriction_id=freeze.pk, case=locked,
                                                       starts_at=freeze.activated_at, ends_at=freeze.expires_at,
                                                       extensions=0))
                transaction.on_commit(lambda: _further_orders_recontinued(locked))
        case_transition(locked, allowed_from=Case.ACCEPTED_STATUSES, to=Case.Status.FULFILLED,
                        refusal="The case changed meanwhile.")
        audit_record(actor=actor, action="case.fulfilled", obj=locked, changes={"status": Case.Status.FULFILLED},
                     now=now)
        _tell_officer(locked, what=what, now=now)
    case.refresh_from_db()
    return freeze


def further_order_kept(earlier: Freeze | None, *, order: Case, now: datetime) -> timedelta:
    """R8: how long a further order, accepted before the end of the freeze it continues, kept that freeze in force
    past its end while it awaited activation (`further_order_held_until`): until it was lifted, or until now, and
    never past the order's own (capped) period."""
    # The bound as everywhere (`further_order_held_until`); none for an order not accepted before the freeze's end.
    bound = (further_orders_awaiting_activation(earlier).filter(pk=order.pk).values_list("held_until", flat=True)
             .first() if earlier is not None else None)
    if earlier is None or bound is None:
        return timedelta(0)
    stopped = now if earlier.status == Freeze.Status.ACTIVE else (earlier.ended or earlier.expires_at)
    return max(timedelta(0), min(stopped, bound) - earlier.expires_at)


def _further_order_served(order: Case, earlier: Freeze, *, kept: timedelta, granted: int, approval: Any,
                          actor: Actor, user: Any, now: datetime) -> Freeze:
    """R8: a further order activated after the period it grants had run out while it kept the freeze it continues
    was carried out by keeping that freeze: it starts no freeze of its own (one order does not freeze the account
    twice). Recorded; the order is then fulfilled, and the freeze it kept is returned."""
    audit_record(actor=actor, action="freeze.order_served", obj=order, now=now, changes={
        "freeze": earlier.pk, "kept_from": earlier.expires_at, "kept_until": earlier.expires_at + kept,
        "granted_days": granted, "requested_by": approval.requested_by.email, "approved_by": user.email})
    earlier.refresh_from_db()
    return earlier


def _lift(freezes: list[Claimed], *, reason: str, note: str, actor: Actor, user: Any, now: datetime) -> None:
    """Lift claimed (locked) freezes: one UPDATE, and one COPY each of events, webhooks and e-mails."""
    ids = [freeze.pk for freeze in freezes]
    # It stopped restricting the account now, or earlier if it had ended unlifted: at its end (a sweep lifts it a
    # little later, or much later after downtime), or past it at the bound of a further order that kept it.
    kept = _kept_until(freezes, expired=reason == Freeze.LiftReason.EXPIRED, now=now)
    ended = {freeze.pk: min(now, kept.get(freeze.pk, freeze.expires_at)) for freeze in freezes}
    Freeze.objects.filter(pk__in=ids).update(
        status=Freeze.Status.LIFTED, lifted_at=now, lifted_by=user, lift_reason=reason, lift_note=note,
        ended_at=Least(Value(now), F("expires_at")))
    for pk in kept:
        Freeze.objects.filter(pk=pk).update(ended_at=ended[pk])
    emails: list[Email] = []
    leads = _leads_once()
    for freeze in freezes:
        emails += [_officer_email(freeze.case, what="freeze-lifted", now=now),
                   *_reviewer_emails(freeze.case, what="freeze-lifted", now=now, leads=leads)]
    emails_enqueue(emails, now=now)
    subjects = exchange_subjects_of(freeze.case.pk for freeze in freezes)
    webhooks_enqueue([WebhookEvent(event="freeze.lifted", key=f"freeze:{freeze.pk}:lifted",
                                   data={**_restriction_data(kind="freeze", restriction_id=freeze.pk, case=freeze.case,
                                                             starts_at=freeze.starts_at, ends_at=ended[freeze.pk],
                                                             extensions=freeze.extension_count, ended=True,
                                                             subjects=subjects[freeze.case.pk]),
                                         "reason": reason})
                      for freeze in freezes], now=now)
    audit_record_many(actor=actor, now=now, entries=[
        _case_event("freeze.lifted", freeze.case,
                    {"freeze": freeze.pk, "reason": reason, "note": note, "expires_at": freeze.expires_at})
        for freeze in freezes])


def _kept_until(freezes: list[Claimed], *, expired: bool, now: datetime) -> dict[int, datetime]:
    """R8: of freezes being lifted past their end, those a further order awaiting activation keeps or kept, each
    with the moment that order's own period ends or ended (`latest_further_order_bound`).

    An order states a day or more, so a freeze it kept runs out (`expired`) a day or more past its end: for the
    sweep of every minute, whose freezes ended moments ago, nothing is asked."""
    past_end = now - timedelta(days=1) if expired else now
    past = [freeze.pk for freeze in freezes if freeze.expires_at <= past_end]
    if not past:
        return {}
    return dict(Freeze.objects.filter(pk__in=past).annotate(bound=latest_further_order_bound())
                .filter(bound__isnull=False).values_list("pk", "bound"))


def freeze_lift(*, freeze: Freeze, reason: str, note: str, actor: Actor, now: datetime) -> Freeze:
    """R8: lift early, on withdrawal of the order or a court decision, with the reason recorded."""
    if reason not in (Freeze.LiftReason.WITHDRAWN, Freeze.LiftReason.COURT_DECISION, Freeze.LiftReason.OTHER):
        raise ValidationError({"reason": "Choose why the freeze is lifted early."})
    note = note.strip()
    if len(note) < 10:
        raise ValidationError({"note": "Record what the lift rests on (the decision, its date and reference)."})
    # Only the legal team lifts early: an officer's withdrawal is recorded and the team lifts on it,
    # so that a taken-over officer account alone can never release frozen funds.
    user = require_staff(actor, freeze.case)
    with transaction.atomic():
        locked = _active_freeze_claimed(freeze)
        if not locked:
            raise ActionRefused("This freeze is no longer active.")
        _lift(locked, reason=reason, note=note, actor=actor, user=user, now=now)
    freeze.refresh_from_db()
    return freeze


def freeze_holding(case: Case) -> Freeze | None:
    """The freeze a request names (directly or through further orders), e.g. the one holding the
    assets of a recovery."""
    with transaction.atomic():
        return freeze_continued(case, lock=True)


def freeze_lift_for_return(*, freeze: Freeze, recovery: Case, actor: Actor, now: datetime) -> None:
    """R9: the approved return of the assets lifts the freeze that held them (inside the return's
    transaction; the approval of the return is the decision)."""
    locked = _active_freeze_claimed(freeze)
    if locked:
        _lift(locked, reason=Freeze.LiftReason.COURT_DECISION, actor=actor, user=actor.user, now=now,
              note=f"Assets returned under the court order of {recovery.reference}.")


def freezes_lift_due(*, now: datetime) -> int:
    """R8: every freeze whose period ended is lifted, once, with no one having to remember it."""
    return _sweep_batches(
        Freeze.objects.due(now),
        lambda freezes: _lift(freezes, reason=Freeze.LiftReason.EXPIRED, note="", actor=SWEEP, user=None, now=now))


def freezes_lift_helpers_wanted(*, now: datetime) -> int:
    """How many more sweeps should lift due freezes alongside this one: none unless more than a
    batch is due (a backlog, e.g. after downtime), then LEORS_SWEEP_WORKERS - 1."""
    helpers = settings.LEORS_SWEEP_WORKERS - 1
    batch = settings.LEORS_SWEEP_BATCH_SIZE
    if helpers < 1 or not Freeze.objects.due(now).in_end_order()[batch:batch + 1].exists():
        return 0
    return helpers


# --- Reminders -----------------------------------------------------------------------------------

def reminders_send_due(*, now: datetime) -> int:
    """Before a hold expires (14, 7, 1 days) and a freeze lifts (5, 1 days), the officer is told once —
    and, for a freeze, the reviewer of each further order of it that awaits activation.

    After downtime several reminders of one clock may be due at once: each is recorded (so none is
    sent later), and the officer gets one e-mail.
    """
    sent = 0
    for kind, model, offsets, field in (
        (Reminder.Kind.HOLD_EXPIRY, PreservationHold, policy.preservation_reminder_days(), "hold"),
        (Reminder.Kind.FREEZE_LIFT, Freeze, policy.freeze_reminder_days(), "freeze"),
    ):
        # Only clocks that still owe a reminder, soonest end first, so that a backlog never starves.
        # The horizon bounds the index range (without it the OR leaves the scan open-ended).
        horizon = now + timedelta(days=max(offsets, default=0))
        candidates = model.objects.filter(_reminder_owed(field, offsets, "expires_at", now), status="active",
                                          expires_at__gt=now, expires_at__lte=horizon).order_by("expires_at")
        clock_ids = list(candidates.values_list("pk", flat=True)[:settings.LEORS_SWEEP_BATCH_SIZE])
        if model is Freeze:
            clock_ids += _kept_freezes_owing_reminders(offsets, now)
        for clock_id in clock_ids:
            sent += _remind(kind=kind, model=model, field=field, clock_id=clock_id, offsets=offsets, now=now)
    return sent


def _kept_freezes_owing_reminders(offsets: list[int], now: datetime) -> list[int]:
    """R8: past its end, a freeze kept by a further order awaiting activation lifts when that order's own period
    would end (`Freeze.held_until`): its reminders count to then. Few: past their end, freezes are lifted within
    a minute unless kept."""
    past_end = Freeze.objects.filter(status="active", expires_at__lte=now).in_end_order()
    # An ordered read of one key first: the query below takes milliseconds to build and plan, and there is usually
    # nothing past its end (unordered, an EXISTS may scan the whole table: see `_sweep_batches`).
    if not past_end.values_list("pk", flat=True)[:1]:
        return []
    kept = (past_end.annotate(lifts_at=latest_further_order_bound()).filter(lifts_at__gt=now)
            .filter(_reminder_owed("freeze", offsets, "lifts_at", now)).order_by("lifts_at"))
    return list(kept.values_list("pk", flat=True)[:settings.LEORS_SWEEP_BATCH_SIZE])


def _reminder_owed(field: str, offsets: list[int], ends_at: str, now: datetime) -> Q:
    """A clock ending at its column or annotation `ends_at` owes a reminder: one of `offsets` days before that
    end has come, and no reminder was recorded for it and that end."""
    owed = Q()
    for days in offsets:
        reminded = Reminder.objects.filter(**{field: OuterRef("pk")}, days_before=days, clock_ends_at=OuterRef(ends_at))
        owed |= Q(**{f"{ends_at}__lte": now + timedelta(days=days)}) & ~Q(Exists(reminded))
    return owed


def _remind(*, kind: str, model: type[PreservationHold] | type[Freeze], field: str, clock_id: int,
            offsets: list[int], now: datetime) -> int:
    with transaction.atomic():
        clock = model.objects.select_for_update(skip_locked=True).filter(pk=clock_id, status="active").first()
        if clock is None:
            return 0
        ends_at = clock.expires_at
        if ends_at <= now:  # past its end: a freeze kept by a further order lifts at that order's bound
            held_until = clock.held_until(now) if isinstance(clock, Freeze) else None
            if held_until is None:
                return 0
            ends_at = held_until
        due = [d for d in offsets if ends_at - timedelta(days=d) <= now]
        created = []
        for days in due:
            try:
                with transaction.atomic():
                    Reminder.objects.create(kind=kind, days_before=days, clock_ends_at=ends_at, sent_at=now,
                                            **{field: clock})
                created.append(days)
            except IntegrityError:  # already sent (by this sweep earlier, or a concurrent one)
                continue
        if not created:
            return 0
        audit_record(actor=SWEEP, action=f"{field}.reminder_sent", obj=clock.case, now=now,
                     changes={field: clock.pk, "days_before": created, "ends_at": ends_at})
        what = f"{field}-reminder-{min(created)}-{ends_at.isoformat()}"
        emails = [_officer_email(clock.case, what=what, now=now)]
        if isinstance(clock, Freeze):
            # R8: a further order accepted in time continues the freeze once a reviewer activates it; its
            # reviewer is reminded too (left unactivated, it keeps the freeze only for the period it states), or
            # the legal leads once the reviewer has left.
            for further in (further_orders_awaiting_activation(clock).filter(held_until__gt=now)
                            .select_related("assigned_to")):
                emails += _reviewer_emails(further, what=f"further-order-{what}", now=now)
        emails_enqueue(emails, now=now)
        return 1


# --- R2: the daily digest of the access-review clock ----------------------------------------------

def access_review_digest(*, now: datetime) -> int:
    """Once a day, from `LEORS_DIGEST_HOUR_UTC`, if any application is due soon or overdue, each legal lead gets one
    e-mail. Run often (beat every ten minutes, the cron command every run): a run missed at that hour (downtime) is
    made up by the next one the same day, and a second run sends nothing more."""
    if now.astimezone(UTC).hour < settings.LEORS_DIGEST_HOUR_UTC:
        return 0
    open_applications = AccessApplication.objects.filter(status__in=AccessApplication.OPEN_STATUSES)
    due = open_applications.filter(Q(review_window_opens_at__lte=now)).exists()
    if not due:
        return 0
    sent = 0
    with transaction.atomic():
        for lead in legal_leads():
            key = f"access-digest:{now:%Y-%m-%d}:{lead.pk}"
            if OutboxMessage.objects.filter(key=key).exists():
                continue  # one digest a day, however often the task runs
            email_enqueue(key=key, to=lead.email, template="staff_access_digest",
                          reference=f"LEORS-DIGEST-{now:%Y%m%d}",
                          link_path=reverse("admin:access_accessapplication_changelist"), now=now)
            sent += 1
    return sent


# --- The sweep -----------------------------------------------------------------------------------

def _sweep_batches(due: ClockQuerySet[Any], work: Callable[[list[Claimed]], None]) -> int:
    """Claim due rows a batch at a time and do the work for the whole batch in one transaction.

    The claim reads the due rows under row locks that other sweeps skip (`FOR UPDATE SKIP LOCKED`),
    re-checking the due condition on each row as it locks it: two sweeps never take the same row, a
    row done meanwhile is not done again, and a sweep skips the rows another one holds to claim the
    next due ones in the same query. A batch that fails (in its work or at its commit) is rolled back
    and retried row by row, each row claimed again in a transaction of its own, so that one bad row
    never holds back every other clock (it is logged, and retried next run).
    """
    # The sweep of every minute, with nothing due: one read, no transaction. In the batch's order, so
    # that it reads the due index: unordered (`exists()`), PostgreSQL chose to scan the whole table for
    # one row when its statistics still counted a backlog lifted since (70 ms for none at 1M cases).
    if not due.in_end_order().values_list("pk", flat=True)[:1]:
        return 0
    done = 0
    after: tuple[datetime, int] | None = None
    deadline = time.monotonic() + SWEEP_TIME_BUDGET_SECONDS
    # Batch after batch (keyset order: soonest end first) until nothing is left — after downtime
    # there may be many — within a budget so that one run never outlives the next, which continues.
    while time.monotonic() < deadline:
        remaining = due
        if after is not None:
            remaining = remaining.filter(Q(expires_at__gt=after[0]) | Q(expires_at=after[0], pk__gt=after[1]))
        batch: list[Claimed] = []
        try:
            with transaction.atomic():
                batch = _claimed(remaining, limit=settings.LEORS_SWEEP_BATCH_SIZE)
                if batch:
                    work(batch)
            done += len(batch)
        except Exception:
            if not batch:
                raise  # the claim itself failed: there is nothing to retry
            logger.exception("Sweep batch of %s failed; retrying it row by row", due.model.__name__)
            done += _row_by_row(due, batch, work)
        if not batch:
            break
        after = (batch[-1].expires_at, batch[-1].pk)
    return done


def _row_by_row(due: ClockQuerySet[Any], batch: list[Claimed], work: Callable[[list[Claimed]], None]) -> int:
    """Retry a failed batch one row at a time, each claimed again (it may be done or held by now)."""
    done = 0
    for clock in batch:
        try:
            with transaction.atomic():
                claimed = _claimed(due.filter(pk=clock.pk))
                if claimed:
                    work(claimed)
            done += len(claimed)
        except Exception:  # one bad row must not hold back every other clock
            logger.exception("Sweep failed on %s %s", due.model.__name__, clock.pk)
    return done


@dataclass(frozen=True)
class SweepResult:
    holds_lapsed: int
    freezes_lifted: int
    reminders_sent: int

    def __iter__(self) -> Iterator[int]:
        return iter((self.holds_lapsed, self.freezes_lifted, self.reminders_sent))


def clocks_sweep_run(*, now: datetime) -> SweepResult:
    """The scheduled run of `clocks_sweep` (the beat's task, the cron command): the sweep, then its heartbeat,
    the moment it finished, which /healthz/clocks reads to tell that the worker and beat, or cron, still run."""
    result = clocks_sweep(now=now)
    heartbeat_record(name=CLOCKS_SWEEP, now=timezone.now())
    return result


def clocks_sweep(*, now: datetime) -> SweepResult:
    """Everything time owes at `now`. Idempotent: a second run at the same `now` does nothing more."""
    freezes_lifted = freezes_lift_due(now=now)  # first: a user's funds must never wait on the rest
    return SweepResult(
        holds_lapsed=holds_lapse_due(now=now),
        freezes_lifted=freezes_lifted,
        reminders_sent=reminders_send_due(now=now),
    )
