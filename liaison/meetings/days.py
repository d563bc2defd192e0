"""Working days as meetings need them, on top of :mod:`liaison.workdays`.

Owns: the warnings shown when a meeting falls on a day that is not a working day (or on a year without official
holiday data, where the answer is only an estimate), and stepping back N working days for "10 workdays before"
reminders. The calendar (the holidays package plus the override table) is the caller's.
"""

from __future__ import annotations

import datetime as dt

from directory import clock
from liaison.workdays.calendar import MAX_SPAN_DAYS, Calendar


def date_warnings(start_local: dt.date, last_local: dt.date, calendar: Calendar) -> list[str]:
    """A warning for each date in [start, last] that is not a working day or has no official data."""
    out = []
    day = start_local
    for _ in range(31):  # a meeting lasts at most 14 days
        if day > last_local:
            break
        if not calendar.is_workday(day):
            out.append(f"{clock.shown(day)} 不是工作日（周末或法定节假日）")
        elif not calendar.is_official(day.year):
            out.append(f"{clock.shown(day)} 所在年份尚无国务院放假安排数据，是否工作日仅为推定")
        day += dt.timedelta(days=1)
    return out


def subtract_workdays(day: dt.date, n: int, calendar: Calendar) -> dt.date:
    """The N-th working day strictly before ``day`` (N ≥ 1), bounded like the forward walk of ``workdays``."""
    found = 0
    for _ in range(MAX_SPAN_DAYS):
        day -= dt.timedelta(days=1)
        if calendar.is_workday(day):
            found += 1
            if found >= n:
                return day
    raise ValueError(f"no {n} working days within {MAX_SPAN_DAYS} days before {day}")
