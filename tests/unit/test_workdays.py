"""Working days: the real 2025 and 2026 calendars (with 调休), cross-checked against chinesecalendar; provisional
years refused or marked; the override file format with its errors."""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import pytest

from directory.errors import ValidationFailed
from liaison.workdays import calendar as wd

D = dt.date


def test_make_up_working_days_2026_are_working_days() -> None:
    for day in (D(2026, 1, 4), D(2026, 2, 14), D(2026, 2, 28), D(2026, 5, 9), D(2026, 9, 20), D(2026, 10, 10)):
        assert day.weekday() >= 5 and wd.is_workday(day), day


def test_spring_festival_2026_break() -> None:
    for i in range(15, 24):  # 2026-02-15 .. 2026-02-23 off
        assert not wd.is_workday(D(2026, 2, i)), D(2026, 2, i)
    assert wd.add_workdays(D(2026, 2, 13), 1) == D(2026, 2, 14)
    assert wd.add_workdays(D(2026, 2, 14), 1) == D(2026, 2, 24)
    assert wd.workdays_between(D(2026, 2, 13), D(2026, 2, 24)) == 2


def test_national_day_2026_break() -> None:
    assert wd.add_workdays(D(2026, 9, 19), 1) == D(2026, 9, 20)  # Sunday make-up day
    for i in range(1, 8):
        assert not wd.is_workday(D(2026, 10, i))
    assert wd.add_workdays(D(2026, 9, 30), 1) == D(2026, 10, 8)
    assert wd.add_workdays(D(2026, 9, 30), 3) == D(2026, 10, 10)  # Saturday make-up day


def test_2025_spring_festival_and_national_day() -> None:
    assert wd.is_workday(D(2025, 1, 26)) and wd.is_workday(D(2025, 2, 8))  # make-up Sunday, Saturday
    assert not any(wd.is_workday(D(2025, 1, 28) + dt.timedelta(days=i)) for i in range(8))  # 1-28 .. 2-4
    assert wd.add_workdays(D(2025, 1, 27), 1) == D(2025, 2, 5)
    assert not any(wd.is_workday(D(2025, 10, i)) for i in range(1, 9))  # 10-1 .. 10-8
    assert wd.is_workday(D(2025, 9, 28)) and wd.is_workday(D(2025, 10, 11))
    assert wd.add_workdays(D(2025, 9, 30), 1) == D(2025, 10, 9)


def test_nth_working_day_is_strictly_after() -> None:
    assert wd.add_workdays(D(2026, 3, 2), 1) == D(2026, 3, 3)  # Monday → Tuesday
    assert wd.add_workdays(D(2026, 3, 6), 1) == D(2026, 3, 9)  # Friday → Monday
    assert wd.add_workdays(D(2026, 3, 7), 0) == D(2026, 3, 7)
    assert wd.add_workdays(D(2026, 3, 2), 10) == D(2026, 3, 16)


@pytest.mark.parametrize("year", [2025, 2026])
def test_every_day_agrees_with_chinesecalendar(year: int) -> None:
    day, differ = D(year, 1, 1), []
    while day.year == year:
        if wd.is_workday(day) != chinese_calendar.is_workday(day):
            differ.append(day)
        day += dt.timedelta(days=1)
    assert differ == []


@pytest.mark.parametrize("n", [1, 7, 10, 15])
def test_add_and_between_are_inverse(n: int) -> None:
    for start in (D(2025, 1, 20), D(2025, 9, 26), D(2026, 2, 10), D(2026, 9, 18), D(2026, 12, 1)):
        end = wd.add_workdays(start, n)
        assert wd.workdays_between(start, end) == n
        assert wd.is_workday(end)


def test_year_without_official_data_is_refused_or_marked() -> None:
    with pytest.raises(wd.NoOfficialCalendar, match="2027"):
        wd.add_workdays(D(2026, 12, 25), 10)
    with pytest.raises(wd.NoOfficialCalendar):
        wd.workdays_between(D(2027, 1, 4), D(2027, 1, 8))
    marked = wd.add_workdays_marked(D(2026, 12, 25), 10)
    assert marked.provisional and marked.date.year == 2027
    assert wd.add_workdays_marked(D(2026, 3, 2), 10) == wd.Marked(D(2026, 3, 16), False)


NOTICE_2027 = """
year = 2027
source = "国务院办公厅关于2027年部分节假日安排的通知（测试）"
holidays = ["2027-01-01", "2027-02-05", "2027-02-08", "2027-02-09", "2027-02-10", "2027-02-11"]
workdays = ["2027-02-13"]
"""


def test_loaded_year_becomes_official() -> None:
    over = wd.parse_overrides(NOTICE_2027)
    cal = wd.Calendar(overrides={2027: over})
    assert cal.is_official(2027)
    assert cal.add_workdays(D(2027, 2, 4), 1) == D(2027, 2, 12)
    assert cal.add_workdays(D(2027, 2, 12), 1) == D(2027, 2, 13)
    assert not cal.is_workday(D(2027, 1, 1))


def test_override_errors_name_the_key_and_value() -> None:
    with pytest.raises(ValidationFailed) as info:
        wd.parse_overrides('year = 2027\nholidays = ["2027-13-01", "2028-01-01"]\nworkdays = ["2027-01-04"]\nx = 1')
    text = [str(e) for e in info.value.errors]
    assert any("2027-13-01" in t and "YYYY-MM-DD" in t for t in text)
    assert any("2028-01-01" in t and "2027" in t for t in text)
    assert any("2027-01-04" in t and "周六或周日" in t for t in text)
    assert any(t.startswith("x：") for t in text)
    with pytest.raises(ValidationFailed, match="数据校验"):
        wd.parse_overrides("year = ")
    with pytest.raises(ValidationFailed):
        wd.add_workdays(D(2026, 1, 5), -1)
