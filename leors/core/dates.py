"""Dates people type (staff and officers): form fields with sane bounds, and the helpers the
services use to check a typed moment against the stored time of what it is about.

Django's own fields take any year from 1 to 9999. Year 1 typed in a time zone east of UTC becomes a
moment before year 1 in UTC, which PostgreSQL stores but can never give back (every later read of
the row fails); year 9999 overflows the first `+ timedelta` and, typed west of UTC, the conversion
to UTC. These fields refuse a value outside their bounds where it enters, with a message naming the
field; a bound form shows what was typed again. What a date means for its rule (not in the future,
not before the request it confirms) is the services' to say: these bounds only keep out dates no
rule can mean.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from leors import policy


def latest_date() -> date:
    """The last day any typed date may fall on (policy.LATEST_DATE_YEARS_AHEAD years ahead)."""
    return date(timezone.now().year + policy.LATEST_DATE_YEARS_AHEAD, 12, 31)


def by_tomorrow() -> date:
    """The last day a date of the past may fall on: tomorrow in UTC, since the person typing it may
    already be a day ahead of UTC."""
    return timezone.now().date() + timedelta(days=1)


def _day(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


class _Bounds:
    def __init__(self, *, what: str, earliest: date, latest: Callable[[], date]) -> None:
        self.what, self.earliest, self.latest = what, earliest, latest

    def check(self, day: date) -> None:
        if day < self.earliest:
            raise forms.ValidationError(f"{self.what} cannot be before {_day(self.earliest)}: check the year.",
                                        code="too_early")
        latest = self.latest()
        if day > latest:
            raise forms.ValidationError(f"{self.what} cannot be after {_day(latest)}: check the year.",
                                        code="too_late")


class _Bounded(forms.Field):
    """A typed date, or the day of a typed moment, between `earliest` and `latest()`; `what` names the field in
    the refusal ("The date of issue")."""

    def __init__(self, *, what: str, earliest: date, latest: Callable[[], date] = latest_date, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bounds = _Bounds(what=what, earliest=earliest, latest=latest)

    def validate(self, value: Any) -> None:
        super().validate(value)
        if isinstance(value, date):
            # A moment's typed day, not its UTC one: converting year 1 or 9999 to UTC is what overflows.
            self.bounds.check(value.date() if isinstance(value, datetime) else value)


class BoundedDateField(_Bounded, forms.DateField):
    """A date within bounds (`_Bounded`)."""


class BoundedDateTimeField(_Bounded, forms.DateTimeField):
    """A moment whose day, in the zone it was typed in, is within bounds (`_Bounded`)."""


def is_before(moment: datetime, start: datetime) -> bool:
    """Whether a moment staff typed (to the minute) is before `start`, a stored time with seconds:
    a moment in the very minute of `start` is not before it."""
    return moment < start.replace(second=0, microsecond=0)


def moment_shown(moment: datetime) -> str:
    """A stored time as a refusal names it: in the viewer's time zone (activated for each request), with its name."""
    local = timezone.localtime(moment)
    return f"{_day(local.date())} at {local:%H:%M} ({local:%Z})"
