"""The service's one time zone and its one notion of "now".

Owns: the zone every shown or counted date is taken in (Asia/Shanghai: Beijing time, UTC+8 all year), "now" as an
aware UTC datetime (what is stored), "today" as the date in Beijing (what deadlines and "not confirmed in N days"
count in), and the seam that lets tests fix or move time for the whole process (:func:`use` with a
:class:`ManualClock`). Code that wants "now" calls :func:`now`; nothing else reads the system clock for service time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("Asia/Shanghai")

Source = Callable[[], dt.datetime]  # returns an aware datetime


def system_now() -> dt.datetime:
    """The machine's clock, aware UTC."""
    return dt.datetime.now(dt.UTC)


_source: Source = system_now


def now() -> dt.datetime:
    """The current moment, aware UTC (the form every timestamp is stored in)."""
    return aware(_source()).astimezone(dt.UTC)


def today() -> dt.date:
    """Today's date in Beijing."""
    return local_date(now())


def aware(value: dt.datetime) -> dt.datetime:
    """``value`` with a time zone: SQLite hands stored UTC timestamps back naive."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def local(value: dt.datetime) -> dt.datetime:
    """``value`` in Beijing time (a naive value is taken as UTC)."""
    return aware(value).astimezone(ZONE)


def local_date(value: dt.datetime) -> dt.date:
    """The date in Beijing at the moment ``value`` (a naive value is taken as UTC)."""
    return local(value).date()


def shown(value: dt.datetime | dt.date | str | None, empty: str = "—") -> str:
    """A moment as staff read it: Beijing time, written the Chinese way (2026年12月15日 09:00); a date alone as
    2026年12月15日; an ISO 8601 string is read first (a naive one is UTC, as stored)."""
    if value is None or value == "":
        return empty
    moment: dt.datetime | dt.date
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value) if "T" in value or " " in value else dt.date.fromisoformat(value)
        except ValueError:
            return value
        if isinstance(moment, dt.datetime) and moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
    else:
        moment = value
    if isinstance(moment, dt.datetime):
        return local(moment).strftime("%Y年%m月%d日 %H:%M")
    return moment.strftime("%Y年%m月%d日")


def shown_day(value: dt.datetime | dt.date | None, empty: str = "—") -> str:
    """The Beijing date of a moment (or a date), the Chinese way: 2026年12月15日."""
    if isinstance(value, dt.datetime):
        return shown(local_date(value))
    return shown(value, empty)


class ManualClock:
    """A clock that stands still until moved: call it for "now"; :meth:`set` and :meth:`advance` move it."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = aware(start)

    def __call__(self) -> dt.datetime:
        return self.now

    def set(self, moment: dt.datetime) -> None:
        self.now = aware(moment)

    def advance(self, seconds: float = 0.0, **delta: float) -> None:
        """Move forward by ``seconds`` plus any ``timedelta`` keywords (``days=1``, ``hours=8``)."""
        self.now += dt.timedelta(seconds=seconds, **delta)


@contextlib.contextmanager
def use(source: Source | dt.datetime) -> Iterator[Source]:
    """Within the block, :func:`now` reads ``source`` (a fixed moment stands still); the previous one comes back after.

    Process-wide, so a test's fixed time reaches code running in the store's worker threads too.
    """
    global _source
    previous = _source
    chosen: Source = ManualClock(source) if isinstance(source, dt.datetime) else source
    _source = chosen
    try:
        yield chosen
    finally:
        _source = previous
