"""The clocks: preservation holds (R7) and freezes (R8), and the reminders sent before they end.

Every clock is a stored, indexed due time (`expires_at`). Whether it is in force is derived from it
at the moment of asking, so a page, the API and the exchange's feed are right even when no sweep
has run; the sweeps only make the stored status catch up and send what is owed.

The due rows are found through an index on (status, expires_at, id), not a partial index on the active
rows: the queries are prepared statements whose `status` is a bound parameter, and once PostgreSQL
plans them generically it cannot use an index whose condition names the value (it scanned every
row of the clock's table instead, ~125 ms on 1M rows a minute, for nothing due). Nor is `expires_at`
indexed alone: PostgreSQL preferred that index for the sweep's batches (it gives their order) and
read the entry of every clock that ever ended, skipping the ended ones — 19 ms a batch where the
(status, expires_at) index reads only the due rows in 3 ms, and more as the history grows. The index
ends with the id, the sweep's full order: clocks that end at the same moment (as after downtime, or
a batch of orders) are then read a batch at a time, not all joined and sorted before the first batch.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Self, TypeVar

from django.db import models
from django.db.models import (
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Least

from leors import policy
from leors.access.models import User

_Clock = TypeVar("_Clock", bound=models.Model)


def _extensions_filed_in_time() -> models.QuerySet:
    """R7: the extensions of the hold of an outer query filed before its end (the others were refused)."""
    from cases.models.requests import Case

    return Case.objects.filter(extends_case_id=OuterRef("case_id"), submitted_at__lt=OuterRef("expires_at"))


def pending_extension() -> Exists:
    """R7: an extension filed before the hold's end and still under review (the hold does not lapse),
    however long the review takes: the data stays preserved for an officer who asked in time."""
    from cases.models.requests import Case

    return Exists(_extensions_filed_in_time().filter(status__in=Case.OPEN_STATUSES))


def latest_extension_review_end() -> Subquery:
    """R7: of the holds of an outer query, the latest moment an extension filed in time stopped awaiting its review
    (`pending_extension`): decided, or withdrawn by the officer, the only ways out of review. Past the hold's end,
    it kept the hold in force until then. None if no extension was filed in time or none has left review."""
    from cases.models.requests import Case

    left_review = Coalesce(F("decided_at"), F("closed_at"))
    return Subquery(_extensions_filed_in_time().exclude(status__in=Case.OPEN_STATUSES).annotate(left_review=left_review)
                    .order_by(F("left_review").desc(nulls_last=True)).values("left_review")[:1])


def further_order_held_until(ends_at: Any) -> ExpressionWrapper:
    """The latest moment a further order awaiting activation keeps a freeze ending at `ends_at` (an
    expression): that end plus the period the order states, capped.

    A longer period than the cap is confirmed by a reviewer at activation, so until then it is not counted.
    Past this moment the order's own period would have ended too: nothing orders the restriction any more,
    and it is lifted (R8: "with no explicit instructions, restrictions are lifted"). Activated later, the
    order starts a freeze of its own, from its activation."""
    days = Least(F("freeze_duration_days"), Value(policy.freeze_max_days()), output_field=IntegerField())
    # Cast: a generic plan (EXPLAIN (GENERIC_PLAN), the sweep's plan tests) would take an untyped day for an integer.
    ordered = ExpressionWrapper(days * Cast(Value(timedelta(days=1)), DurationField()), output_field=DurationField())
    return ExpressionWrapper(ends_at + ordered, output_field=DateTimeField())


def further_orders_awaiting_activation(freeze: Freeze | None = None) -> models.QuerySet:
    """R8: the further orders accepted before a freeze's end and awaiting activation — one naming the freeze's
    request, or a further order of it without a freeze of its own, and so on (`Case.continues_freeze_of`) —
    each with the latest moment it keeps the freeze (`held_until`). Of `freeze`, or by default a subquery of
    the freezes of an outer query."""
    from cases.models.requests import Case, RequestType

    case_id: Any = OuterRef("case_id") if freeze is None else freeze.case_id
    ends_at: Any = (OuterRef("expires_at") if freeze is None
                    else Value(freeze.expires_at, output_field=DateTimeField()))
    # A further order recorded without the column (by the code before it, during a rolling deploy) continues
    # the freeze of the request it names.
    continues = Q(continues_freeze_of_id=case_id) | Q(continues_freeze_of__isnull=True, extends_case_id=case_id)
    return (Case.objects.filter(continues, request_type=RequestType.FREEZE, status__in=Case.ACCEPTED_STATUSES,
                                decided_at__lt=ends_at)
            .annotate(held_until=further_order_held_until(ends_at)))


def latest_further_order_bound() -> Subquery:
    """R8: of the freezes of an outer query, the latest moment a further order awaiting activation keeps one
    past its end (`further_orders_awaiting_activation`), whether that moment has come or not; None if none."""
    return Subquery(further_orders_awaiting_activation().order_by("-held_until").values("held_until")[:1])


def pending_further_order(now: datetime) -> Exists:
    """R8: a further order keeps the freeze in force past its end (`further_orders_awaiting_activation`)."""
    return Exists(further_orders_awaiting_activation().filter(held_until__gt=now))


class ClockQuerySet(models.QuerySet[_Clock]):
    """The one definition of "in force" for a kind of clock, used by pages, the feed, filters and sweeps:
    active and before its end, or past it while what continues it is pending (`continuation`). A
    clock past its end is not in force, swept or not. The other active ones are due: what the sweep ends."""

    start_field: str  # when the clock started

    @staticmethod
    def continuation(now: datetime) -> Exists:
        raise NotImplementedError

    def in_force(self, now: datetime) -> Self:
        return self.filter(Q(expires_at__gt=now) | Q(self.continuation(now)), status="active")

    def ending_by(self, now: datetime, moment: datetime) -> Self:
        """In force now and, unless something changes meanwhile, no longer at `moment`: past the stored end
        by then, and not kept beyond it by what continues the clock (a freeze kept past its end ends at the
        further order's bound; a hold whose extension awaits review does not end)."""
        return self.in_force(now).exclude(Q(expires_at__gt=moment) | Q(self.continuation(moment)))

    def due(self, now: datetime) -> Self:
        return self.filter(status="active", expires_at__lte=now).exclude(self.continuation(now))

    def in_end_order(self) -> Self:
        """Soonest end first, then by id: the sweep's order, which the due index gives (status, expires_at, id)."""
        return self.order_by("expires_at", "pk")


class HoldQuerySet(ClockQuerySet["PreservationHold"]):
    start_field = "started_at"

    @staticmethod
    def continuation(now: datetime) -> Exists:
        return pending_extension()  # an extension filed in time keeps the hold, for as long as it is reviewed


class FreezeQuerySet(ClockQuerySet["Freeze"]):
    start_field = "activated_at"
    # A further order accepted before the end keeps the freeze until its activation extends it, or until
    # its own period would have ended.
    continuation = staticmethod(pending_further_order)


class PreservationHold(models.Model):
    """R7: user information preserved for 60 days from receipt of a formal request, extendable."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        LAPSED = "lapsed", "Lapsed"

    case = models.OneToOneField("cases.Case", on_delete=models.PROTECT, related_name="hold")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    started_at = models.DateTimeField()
    expires_at = models.DateTimeField()  # indexed after status: see the module's docstring
    extension_count = models.PositiveIntegerField(default=0)
    lapsed_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When the data stopped being preserved: the early end (declined, withdrawn), or for one that ran out "
                  "its end — past it, if an extension filed in time kept it, when that extension left review. Empty on "
                  "holds that lapsed before this was recorded (see `ended`).")

    objects = HoldQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["status", "expires_at", "id"], name="hold_status_due_idx"),
            # The exchange's restriction feed, in its order: a page reads its rows, not every hold.
            models.Index(fields=["status", "started_at", "id"], name="hold_feed_idx"),
        ]

    def __str__(self) -> str:
        return f"Preservation hold on {self.case}"

    def is_in_force(self, now: datetime) -> bool:
        """Active and not past its end, unless an extension filed in time still awaits its review."""
        if self.status != self.Status.ACTIVE:
            return False
        return now < self.expires_at or self.has_pending_extension()

    def has_pending_extension(self) -> bool:
        return type(self).objects.filter(pk=self.pk).filter(pending_extension()).exists()

    @property
    def ended(self) -> datetime | None:
        """When a lapsed hold stopped preserving the data (`ended_at`); for one that lapsed before that was recorded,
        the earlier of its end and its lapse (a sweep lapses a hold a little after its end)."""
        if self.status != self.Status.LAPSED or self.lapsed_at is None:
            return None
        return self.ended_at or min(self.lapsed_at, self.expires_at)

    @property
    def kept_past_end(self) -> bool:
        """Lapsed, it had stayed in force past its end: an extension filed in time kept it while reviewed (R7)."""
        return self.kept_past(self.ended)

    def kept_past(self, ended: datetime | None) -> bool:
        """Ending at `ended` (as recorded, or `clocks.hold_ended` before a sweep records it), it stayed in force past
        its end (R7)."""
        return ended is not None and ended > self.expires_at


class Freeze(models.Model):
    """R8: a restriction on the subject's account, from activation to its end or an early lift."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        LIFTED = "lifted", "Lifted"

    class LiftReason(models.TextChoices):
        EXPIRED = "expired", "The granted period ended"
        WITHDRAWN = "withdrawn", "The request was withdrawn"
        COURT_DECISION = "court_decision", "A court decision lifted it"
        OTHER = "other", "Other (see note)"

    case = models.OneToOneField("cases.Case", on_delete=models.PROTECT, related_name="freeze")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    stated_days = models.PositiveIntegerField(help_text="The duration the order states.")
    granted_days = models.PositiveIntegerField(help_text="What runs: the stated duration, capped unless confirmed.")
    longer_confirmed = models.BooleanField(default=False,
                                           help_text="The reviewer confirmed the order explicitly orders a longer period.")
    longer_passage = models.TextField(blank=True, help_text="The passage of the order that orders the longer period.")
    activated_at = models.DateTimeField()
    activated_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    expires_at = models.DateTimeField()  # indexed after status: see the module's docstring
    extension_count = models.PositiveIntegerField(default=0)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    lift_reason = models.CharField(max_length=20, choices=LiftReason.choices, blank=True)
    lift_note = models.TextField(blank=True)
    ended_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When it stopped restricting the account: the lift, or for one that ran out its end — past it, if a "
                  "further order kept it, when that order's own period ended. Empty on freezes lifted before this was "
                  "recorded (see `ended`).")

    objects = FreezeQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["status", "expires_at", "id"], name="freeze_status_due_idx"),
            # The exchange's restriction feed, in its order: a page reads its rows, not every freeze.
            models.Index(fields=["status", "activated_at", "id"], name="freeze_feed_idx"),
        ]

    def __str__(self) -> str:
        return f"Freeze on {self.case}"

    @property
    def ended(self) -> datetime | None:
        """When a lifted freeze stopped restricting the account (`ended_at`); for one lifted before that was
        recorded, the earlier of its end and its lift (a sweep lifts a freeze a little after its end)."""
        if self.status != self.Status.LIFTED or self.lifted_at is None:
            return None
        return self.ended_at or min(self.lifted_at, self.expires_at)

    @property
    def kept_past_end(self) -> bool:
        """Lifted, it had stayed in force past its end: a further order accepted before then kept it (R8)."""
        ended = self.ended
        return ended is not None and ended > self.expires_at

    def is_in_force(self, now: datetime, *, by: models.Model | None = None) -> bool:
        """A freeze past its end is not in force, whether or not a sweep has lifted it yet — unless a
        further order accepted before its end awaits activation (R8: it then continues, for no longer than that
        order's own period). With `by`, only that further order counts: whether activating it extends the freeze."""
        if self.status != self.Status.ACTIVE:
            return False
        return now < self.expires_at or self.held_until(now, by=by) is not None

    def held_until(self, now: datetime, *, by: models.Model | None = None) -> datetime | None:
        """Past its end, kept in force by a further order awaiting activation (or by the further order `by`):
        the latest moment it is kept (`further_order_held_until`), or None."""
        if self.status != self.Status.ACTIVE or now < self.expires_at:
            return None
        orders = further_orders_awaiting_activation(self).filter(held_until__gt=now)
        if by is not None:
            orders = orders.filter(pk=by.pk)
        return orders.aggregate(latest=Max("held_until"))["latest"]


class Reminder(models.Model):
    """One reminder before a clock ends. The unique constraints make each one happen once, even
    with two sweeps at the same time; an extension moves the clock, so its reminders come again."""

    class Kind(models.TextChoices):
        HOLD_EXPIRY = "hold_expiry", "Preservation hold expires"
        FREEZE_LIFT = "freeze_lift", "Freeze lifts"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    hold = models.ForeignKey(PreservationHold, null=True, blank=True, on_delete=models.PROTECT, related_name="reminders")
    freeze = models.ForeignKey(Freeze, null=True, blank=True, on_delete=models.PROTECT, related_name="reminders")
    days_before = models.PositiveIntegerField()
    clock_ends_at = models.DateTimeField(help_text="The end of the clock this reminder was for.")
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hold", "days_before", "clock_ends_at"], name="hold_reminder_once",
                                    condition=models.Q(hold__isnull=False)),
            models.UniqueConstraint(fields=["freeze", "days_before", "clock_ends_at"], name="freeze_reminder_once",
                                    condition=models.Q(freeze__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} in {self.days_before} days"
