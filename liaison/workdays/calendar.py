"""Chinese working days with make-up working days (调休), and deadline arithmetic. Pure: no I/O.

Owns: whether a date is a working day, ``add_workdays`` ("the N-th working day strictly after D"),
``workdays_between``, the override table format (a year's State Council notice as TOML, parsed by
:func:`parse_overrides`) and the rule that a year without official data is never silently guessed.

Sources, in order: a year loaded into the override table (``bohai workdays load FILE``) replaces everything for
that year; otherwise the ``holidays`` package (CN), whose official years are those it has State Council special
days for; otherwise the year is *provisional*: strict calls raise :class:`NoOfficialCalendar`, the ``*_marked``
calls return the weekend-only estimate with ``provisional=True``.

Public API (also used by meetings): ``Calendar``, ``Calendar.is_workday``, ``add_workdays``, ``workdays_between``,
``add_workdays_marked``, ``default_calendar()``, ``parse_overrides``, ``Overrides``, ``NoOfficialCalendar``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from directory import clock
from directory.errors import BohaiError, FieldError, ValidationFailed

MAX_SPAN_DAYS = 3 * 366  # bound on every walk through the calendar
MAX_N = 400


class NoOfficialCalendar(BohaiError):
    """The answer depends on a year for which no official holiday notice is known."""

    status = 409
    code = "no_official_calendar"

    def __init__(self, years: Iterable[int]) -> None:
        self.years = tuple(sorted(set(years)))
        shown = "、".join(str(y) for y in self.years)
        super().__init__(
            f"{shown} 年尚无国务院放假安排数据，无法确定工作日；"
            f"请用 `bohai workdays load 文件` 载入当年通知，或接受“暂定”结果"
        )


@functools.cache
def _package_official_years() -> frozenset[int]:
    """Years for which the holidays package carries the State Council's special days (调休)."""
    from holidays.countries.china import ChinaStaticHolidays  # imported on first use: it loads every country

    years = set(ChinaStaticHolidays.special_public_holidays)
    return frozenset(range(2001, max(years) + 1))


@dataclass(frozen=True)
class Overrides:
    """One year's official notice: days off and make-up working days; other days follow Monday-Friday."""

    year: int
    source: str
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]

    def is_workday(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays


@dataclass(frozen=True)
class Marked:
    """A date with a flag saying it rests on at least one year without official data."""

    date: dt.date
    provisional: bool


@dataclass
class Calendar:
    """Working days from the holidays package plus loaded override years."""

    overrides: Mapping[int, Overrides] = field(default_factory=dict)
    _package: dict[int, tuple[frozenset[dt.date], frozenset[dt.date]]] = field(default_factory=dict, repr=False)

    def is_official(self, year: int) -> bool:
        return year in self.overrides or year in _package_official_years()

    def _package_year(self, year: int) -> tuple[frozenset[dt.date], frozenset[dt.date]]:
        if year not in self._package:
            import holidays  # on first use (~17 MB: the package imports every country's module)

            cn = holidays.country_holidays("CN", years=year)
            off = frozenset(d for d in cn if d.year == year)
            make_up = frozenset(d for d in cn.weekend_workdays if d.year == year)
            self._package[year] = (off, make_up)
        return self._package[year]

    def is_workday(self, day: dt.date) -> bool:
        """True for a working day; for a provisional year, Monday-Friday minus the package's estimate."""
        loaded = self.overrides.get(day.year)
        if loaded is not None:
            return loaded.is_workday(day)
        off, make_up = self._package_year(day.year)
        if day in make_up:
            return True
        return day.weekday() < 5 and day not in off

    def _walk(self, start: dt.date, n: int) -> tuple[dt.date, set[int]]:
        if not 0 <= n <= MAX_N:
            raise ValidationFailed([FieldError("n", f"工作日数须在 0 至 {MAX_N} 之间", value=str(n), label="工作日数")])
        day, count, years = start, 0, {start.year}
        for _ in range(MAX_SPAN_DAYS):
            if count == n:
                return day, years
            day += dt.timedelta(days=1)
            years.add(day.year)
            if self.is_workday(day):
                count += 1
        raise ValidationFailed([FieldError("n", "工作日数过大", value=str(n))])  # pragma: no cover - bounded by MAX_N

    def _unofficial(self, years: Iterable[int]) -> set[int]:
        return {y for y in years if not self.is_official(y)}

    def add_workdays_marked(self, start: dt.date, n: int) -> Marked:
        """The n-th working day strictly after ``start`` (``start`` itself for n=0), marked provisional if needed."""
        day, years = self._walk(start, n)
        return Marked(day, bool(self._unofficial(years)))

    def add_workdays(self, start: dt.date, n: int) -> dt.date:
        """Like :meth:`add_workdays_marked` but raises :class:`NoOfficialCalendar` instead of guessing."""
        day, years = self._walk(start, n)
        missing = self._unofficial(years)
        if missing:
            raise NoOfficialCalendar(missing)
        return day

    def workdays_before(self, day: dt.date, n: int, *, floor: dt.date) -> dt.date:
        """The working day ``n`` working days before ``day``, never before ``floor`` (a reminder's date)."""
        count = 0
        for _ in range(MAX_N):
            if count >= n or day <= floor:
                break
            day -= dt.timedelta(days=1)
            if self.is_workday(day):
                count += 1
        return max(day, floor)

    def workdays_between(self, start: dt.date, end: dt.date) -> int:
        """Working days in (start, end]: how many working days after ``start`` ``end`` is (negative if earlier)."""
        lo, hi, sign = (start, end, 1) if start <= end else (end, start, -1)
        if (hi - lo).days > MAX_SPAN_DAYS:
            message = f"日期跨度不得超过 {MAX_SPAN_DAYS} 天"
            raise ValidationFailed([FieldError("end", message, value=clock.shown(end), label="结束日期")])
        missing = self._unofficial(range(lo.year, hi.year + 1))
        if missing:
            raise NoOfficialCalendar(missing)
        count = sum(1 for i in range(1, (hi - lo).days + 1) if self.is_workday(lo + dt.timedelta(days=i)))
        return sign * count


_DEFAULT = Calendar()


def default_calendar() -> Calendar:
    """The calendar of the holidays package alone (no loaded overrides)."""
    return _DEFAULT


def add_workdays(start: dt.date, n: int, calendar: Calendar | None = None) -> dt.date:
    return (calendar or _DEFAULT).add_workdays(start, n)


def add_workdays_marked(start: dt.date, n: int, calendar: Calendar | None = None) -> Marked:
    return (calendar or _DEFAULT).add_workdays_marked(start, n)


def workdays_between(start: dt.date, end: dt.date, calendar: Calendar | None = None) -> int:
    return (calendar or _DEFAULT).workdays_between(start, end)


def is_workday(day: dt.date, calendar: Calendar | None = None) -> bool:
    return (calendar or _DEFAULT).is_workday(day)


def parse_date(text: str, name: str = "date") -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        label = "日期" if name == "date" else name  # otherwise the option or key the date was given as
        raise ValidationFailed([FieldError(name, "日期格式应为 YYYY-MM-DD", value=text, label=label)]) from None


def _dates(raw: object, key: str, year: int, errors: list[FieldError]) -> frozenset[dt.date]:
    if not isinstance(raw, list):
        errors.append(FieldError(key, '应为日期列表，如 ["2027-01-01"]', value=str(raw)))
        return frozenset()
    out: set[dt.date] = set()
    for item in raw:
        day = item if isinstance(item, dt.date) else None
        if day is None:
            try:
                day = dt.date.fromisoformat(str(item))
            except ValueError:
                errors.append(FieldError(key, "日期格式应为 YYYY-MM-DD", value=str(item)))
                continue
        if day.year != year:
            errors.append(FieldError(key, f"日期不在 {year} 年内", value=day.isoformat()))
        out.add(day)
    return frozenset(out)


def _keyed(errors: list[FieldError]) -> list[FieldError]:
    """Errors of an overrides file name its keys as written in the file (``holidays``), like any config option."""
    return [e if e.label or e.field == "file" else dataclasses.replace(e, label=e.field) for e in errors]


def parse_overrides(text: str, *, name: str = "文件") -> Overrides:
    """Parse a notice file: ``year = 2027``, ``source = "..."``, ``holidays = [dates]``, ``workdays = [dates]``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationFailed([FieldError("file", f"{name} 不是有效的 TOML：{exc}")]) from None
    errors: list[FieldError] = []
    unknown = set(data) - {"year", "source", "holidays", "workdays"}
    errors.extend(FieldError(k, "未知的键（可用：year, source, holidays, workdays）") for k in sorted(unknown))
    year = data.get("year")
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        errors.append(FieldError("year", "应为 2000 至 2100 之间的年份", value=str(year)))
        raise ValidationFailed(_keyed(errors))
    off = _dates(data.get("holidays", []), "holidays", year, errors)
    make_up = _dates(data.get("workdays", []), "workdays", year, errors)
    both = sorted(off & make_up)
    errors.extend(FieldError("workdays", "同一天既是假日又是调休上班日", value=d.isoformat()) for d in both)
    errors.extend(
        FieldError("workdays", "调休上班日应为周六或周日", value=d.isoformat()) for d in make_up if d.weekday() < 5
    )
    if errors:
        raise ValidationFailed(_keyed(errors))
    return Overrides(year, str(data.get("source", "")), off, make_up)
