"""iCalendar objects of joint meetings, written with the ``icalendar`` package.

Owns: the VCALENDAR text of an iMIP REQUEST or CANCEL (RFC 5545/5546/6047), of a province's PUBLISH feed, and the
parsing of a METHOD:REPLY. Start and end are written with ``TZID=Asia/Shanghai`` and a real VTIMEZONE (never
``TZID:CST``); ``icalendar`` folds lines at 75 octets with CRLF, which vobject 0.9.9 does not do for UTF-8.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from directory import clock
from directory.errors import FieldError, ValidationFailed
from directory.regions import PROVINCES
from liaison.meetings.models import PARTSTATS, AttendeeView, MeetingView

TZID = clock.ZONE.key
PRODID = "-//Bohai Liaison//联席会议//ZH"
METHODS = ("REQUEST", "CANCEL", "PUBLISH")
# China has kept +08:00 without daylight saving since 1992; one STANDARD rule from then on is exact.
_TZ_FIRST = dt.date(1992, 1, 1)
_TZ_LAST = dt.date(2038, 1, 1)


if TYPE_CHECKING:
    from icalendar import Event, Timezone, vCalAddress


def _vtimezone() -> Timezone:
    from icalendar import Timezone  # the package is imported on first use: service start-up does without it

    return Timezone.from_tzid(TZID, first_date=_TZ_FIRST, last_date=_TZ_LAST)


def _address(email: str, name: str) -> vCalAddress:
    from icalendar import vCalAddress, vText

    addr = vCalAddress(f"mailto:{email}")
    if name:
        addr.params["CN"] = vText(name)
    return addr


def _attendee(a: AttendeeView, method: str) -> vCalAddress:
    addr = _address(a.email, a.name)
    addr.params["CUTYPE"] = "INDIVIDUAL"
    addr.params["ROLE"] = "REQ-PARTICIPANT"
    addr.params["PARTSTAT"] = "NEEDS-ACTION" if method == "REQUEST" else a.partstat
    if method == "REQUEST":
        addr.params["RSVP"] = "TRUE"
    return addr


def _event(m: MeetingView, method: str, organiser_name: str, stamp: dt.datetime) -> Event:
    from icalendar import Event

    ev = Event()
    ev.add("uid", m.uid)
    ev.add("dtstamp", stamp.astimezone(dt.UTC))
    ev.add("sequence", m.sequence)
    ev.add("summary", m.title)
    ev.add("dtstart", m.start_at.astimezone(clock.ZONE))
    ev.add("dtend", m.end_at.astimezone(clock.ZONE))
    if m.place:
        ev.add("location", m.place)
    description = "\n\n".join(x for x in (m.agenda, m.notes) if x)
    if description:
        ev.add("description", description)
    ev.add("categories", [f"主办：{PROVINCES.get(m.host_province, m.host_province)}"])
    ev.add("organizer", _address(m.organiser, organiser_name))
    cancelled = method == "CANCEL" or m.cancelled
    ev.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    ev.add("transp", "OPAQUE")
    return ev


def calendar(
    meetings: list[MeetingView],
    method: str,
    *,
    organiser_name: str,
    attendees: dict[int, tuple[AttendeeView, ...]] | None = None,
    stamp: dt.datetime | None = None,
    name: str | None = None,
) -> bytes:
    """A VCALENDAR with one VEVENT per meeting; ``attendees`` overrides whom each event lists (e.g. for CANCEL)."""
    if method not in METHODS:
        raise ValueError(f"unsupported iTIP method {method!r}")
    from icalendar import Calendar

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    if name:
        cal.add("x-wr-calname", name)
    if meetings:
        cal.add_component(_vtimezone())
    now = stamp or clock.now()
    for m in meetings:
        ev = _event(m, method, organiser_name, now)
        listed = () if method == "PUBLISH" else m.active_attendees  # a public feed names nobody
        people = (attendees or {}).get(m.id, listed)
        for person in people:
            ev.add("attendee", _attendee(person, method))
        cal.add_component(ev)
    return bytes(cal.to_ical())


@dataclass(frozen=True, slots=True)
class Reply:
    """One attendee's answer from a METHOD:REPLY calendar."""

    uid: str
    sequence: int
    email: str
    partstat: str


def _mailto(value: object) -> str:
    text = str(value).strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    return text.strip().lower()


def parse_reply(data: bytes) -> list[Reply]:
    """The answers in an iTIP REPLY; raises ValidationFailed when it is not a REPLY or is malformed."""
    try:
        from icalendar import Calendar

        cal = Calendar.from_ical(data)
    except ValueError as exc:
        raise ValidationFailed([FieldError("text/calendar", f"日历数据无法解析：{exc}")]) from None
    method = str(cal.get("method", "")).upper()
    if method != "REPLY":
        raise ValidationFailed([FieldError("METHOD", f"不是答复（METHOD:{method or '无'}）")])
    out: list[Reply] = []
    for ev in cal.walk("VEVENT"):
        people = ev.get("attendee")
        people = people if isinstance(people, list) else [people] if people is not None else []
        for person in people:
            partstat = str(person.params.get("PARTSTAT", "")).upper()
            if partstat in PARTSTATS:
                out.append(Reply(str(ev.get("uid", "")), int(ev.get("sequence", 0)), _mailto(person), partstat))
    return out


def unfold(data: bytes) -> str:
    """The logical lines' text with RFC 5545 folding undone (for tests and diagnostics)."""
    return data.decode("utf-8").replace("\r\n ", "").replace("\r\n\t", "")
