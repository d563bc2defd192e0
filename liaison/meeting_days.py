"""Working days for meeting dates and "N working days before" reminders.

Owns: only what meetings need until ``liaison.workdays`` (issue 4) is merged: whether a date is a working day in
mainland China (official data with 调休 from ``chinesecalendar``; for a year without it, Monday–Friday minus the
statutory holidays of ``holidays``, marked not official), and stepping back N working days.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import chinese_calendar
import holidays


@lru_cache(maxsize=4096)
def is_workday(day: dt.date) -> tuple[bool, bool]:
    """(is a working day, the answer rests on the State Council's published schedule)."""
    try:
        return bool(chinese_calendar.is_workday(day)), True
    except NotImplementedError:
        return day.weekday() < 5 and day not in _statutory(day.year), False


@lru_cache(maxsize=64)
def _statutory(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("CN", years=year)


def subtract_workdays(day: dt.date, n: int) -> dt.date:
    """The N-th working day strictly before ``day`` (N ≥ 1; bounded to ten years back)."""
    found = 0
    for _ in range(3660):
        day -= dt.timedelta(days=1)
        if is_workday(day)[0]:
            found += 1
            if found >= n:
                return day
    raise ValueError(f"no {n} working days found before {day}")
