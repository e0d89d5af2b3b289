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


def start_of_day(day: date) -> datetime:
    """Midnight UTC at the start of `day`. Business days are counted on UTC dates."""
    return datetime.combine(day, time.min, tzinfo=UTC)
