"""Business-day arithmetic on the operator's public-holiday calendar (R2)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

import holidays

from leors import policy


@lru_cache(maxsize=64)
def _holidays_for(calendar: str, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(calendar, years=year)


def is_business_day(day: date, *, calendar: str | None = None) -> bool:
    calendar = calendar or policy.business_calendar()
    return day.weekday() < 5 and day not in _holidays_for(calendar, day.year)


def nth_business_day_after(day: date, n: int, *, calendar: str | None = None) -> date:
    """The n-th business day after `day` (the day itself never counts)."""
    current = day
    counted = 0
    while counted < n:
        current += timedelta(days=1)
        if is_business_day(current, calendar=calendar):
            counted += 1
    return current


def business_date(moment: datetime) -> date:
    """The operator's calendar date at `moment` (policy.business_time_zone)."""
    return moment.astimezone(policy.business_time_zone()).date()


def start_of_day(day: date) -> datetime:
    """The first moment of `day` in the operator's time zone, as a UTC datetime."""
    return datetime.combine(day, time.min, tzinfo=policy.business_time_zone()).astimezone(UTC)
