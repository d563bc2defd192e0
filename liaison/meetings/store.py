"""The SQL of joint meetings: meetings and their attendees, and the meeting's mails as the outbox holds them.

Owns: every query on the ``meeting`` and ``meeting_attendee`` tables; reads return the frozen views of
:mod:`liaison.meetings.models` (``MeetingView``, ``AttendeeView``) and :class:`Notice`. The rules — who is invited,
when SEQUENCE rises, what is sent — are :mod:`liaison.meetings.rules`'. Reading the outbox rows of a meeting is
read-only: the outbox owns them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from directory.errors import NotFound
from directory.store import Store
from liaison.mail.models import outbox_t
from liaison.meetings.models import AttendeeView, Meeting, MeetingAttendee, MeetingView

meeting_t = Meeting.__table__  # type: ignore[attr-defined]
attendee_t = MeetingAttendee.__table__  # type: ignore[attr-defined]
NOTICE_KIND = "meeting"  # outbox kind of invitations, updates and cancellations
REMINDER_KIND = "meeting-reminder"  # outbox kind of reminders


def _view(row: Any, attendees: Sequence[Any]) -> MeetingView:
    people = tuple(
        AttendeeView(a["email"], a["name"], a["region_code"], a["partstat"], a["active"], _aware(a["responded_at"]))
        for a in attendees
    )
    return MeetingView(
        row["id"], row["uid"], row["sequence"], row["status"], row["title"], row["host_province"], row["place"],
        _aware(row["start_at"]), _aware(row["end_at"]), row["agenda"], row["notes"], row["organiser"],
        _aware(row["updated_at"]), people, row["time_sequence"],
    )  # fmt: skip


def _aware(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)  # SQLite hands back naive UTC
    return value


def load(conn: Connection, meeting_id: int) -> MeetingView:
    row = conn.execute(sa.select(meeting_t).where(meeting_t.c.id == meeting_id)).mappings().first()
    if row is None:
        raise NotFound(f"会议 {meeting_id} 不存在")
    people = conn.execute(
        sa.select(attendee_t).where(attendee_t.c.meeting_id == meeting_id).order_by(attendee_t.c.id)
    ).mappings()
    return _view(row, list(people))


def get_meeting(store: Store, meeting_id: int) -> MeetingView:
    with store.read() as conn:
        return load(conn, meeting_id)


def find_by_uid(store: Store, uid: str) -> MeetingView | None:
    with store.read() as conn:
        mid = conn.execute(sa.select(meeting_t.c.id).where(meeting_t.c.uid == uid)).scalar_one_or_none()
        return load(conn, mid) if mid is not None else None


def list_meetings(store: Store, province: str | None = None) -> list[MeetingView]:
    """Every meeting by start time; with ``province``, those it hosts or whose attendees include its offices."""
    with store.read() as conn:
        ids = [r[0] for r in conn.execute(sa.select(meeting_t.c.id).order_by(meeting_t.c.start_at, meeting_t.c.id))]
        views = [load(conn, i) for i in ids]
    if province is None:
        return views
    return [m for m in views if m.host_province == province or any(_in(a, province) for a in m.active_attendees)]


def _in(a: AttendeeView, province: str) -> bool:
    return bool(a.region_code and a.region_code.startswith(province))


# -- writes -------------------------------------------------------------------------------------------------------


def insert_meeting(conn: Connection, values: Mapping[str, Any], people: Sequence[AttendeeView]) -> int:
    mid = int(conn.execute(sa.insert(meeting_t).values(**values)).inserted_primary_key[0])  # type: ignore[index]
    if people:
        conn.execute(sa.insert(attendee_t), [_attendee_row(mid, p) for p in people])
    return mid


def update_meeting(conn: Connection, meeting_id: int, **values: Any) -> None:
    conn.execute(sa.update(meeting_t).where(meeting_t.c.id == meeting_id).values(**values))


def reset_answers(conn: Connection, meeting_id: int) -> None:
    """Every active attendee is asked again (a new time)."""
    conn.execute(
        sa.update(attendee_t)
        .where(attendee_t.c.meeting_id == meeting_id, attendee_t.c.active == sa.true())
        .values(partstat="NEEDS-ACTION", responded_at=None)
    )


def remove_attendee(conn: Connection, meeting_id: int, email: str) -> None:
    conn.execute(sa.update(attendee_t).where(_who(meeting_id, email)).values(active=False))


def add_attendee(conn: Connection, meeting_id: int, person: AttendeeView, *, known: bool) -> None:
    """Put ``person`` on the list again (``known``: was on it before) or for the first time."""
    if known:
        conn.execute(
            sa.update(attendee_t).where(_who(meeting_id, person.email)).values(active=True, partstat="NEEDS-ACTION")
        )
    else:
        conn.execute(sa.insert(attendee_t).values(**_attendee_row(meeting_id, person)))


def set_answer(conn: Connection, meeting_id: int, email: str, partstat: str, at: dt.datetime) -> None:
    conn.execute(sa.update(attendee_t).where(_who(meeting_id, email)).values(partstat=partstat, responded_at=at))


def _attendee_row(mid: int, p: AttendeeView) -> dict[str, Any]:
    return {"meeting_id": mid, "email": p.email, "name": p.name, "region_code": p.region_code, "active": True}


def _who(mid: int, email: str) -> Any:
    return sa.and_(attendee_t.c.meeting_id == mid, attendee_t.c.email == email)


# -- the meeting's mails --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """One mail of a meeting in the outbox: invitation, update, cancellation or reminder, with its delivery state."""

    kind: str
    recipient: str
    subject: str
    state: str
    created_at: dt.datetime
    sent_at: dt.datetime | None
    attempts: int
    last_error: str


def notices(store: Store, meeting_id: int) -> list[Notice]:
    """The meeting's mails in the outbox, oldest first."""
    c = outbox_t.c
    query = (
        sa.select(c.kind, c.recipient, c.body, c.state, c.created_at, c.sent_at, c.attempts, c.last_error)
        .where(c.ref == str(meeting_id), c.kind.in_([NOTICE_KIND, REMINDER_KIND]))
        .order_by(c.id)
    )
    with store.read() as conn:
        rows = conn.execute(query).all()
    return [
        Notice(r.kind, r.recipient, _subject(r.body), r.state, _aware(r.created_at), _aware(r.sent_at), r.attempts,
               r.last_error)
        for r in rows
    ]  # fmt: skip


def _subject(body: bytes) -> str:
    head = BytesHeaderParser(policy=policy.default).parsebytes(body)
    return str(head.get("Subject", ""))
