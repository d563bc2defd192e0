"""SQLModel tables of joint meetings and the durable scheduler: Meeting, MeetingAttendee, Job.

Owns: the shape of the stored meetings (one row per meeting with its iCalendar UID and SEQUENCE, one row per
attendee with the RSVP state) and of the scheduler's jobs (due time, lease owner/expiry, attempts, outcome). The
schema itself is created by the liaison service's migrations (``liaison/migrations``); these classes mirror it and
give ``liaison.meetings`` and ``liaison.scheduler`` their table objects.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Column, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel

from directory.models import utcnow

STATUSES = ("scheduled", "cancelled")
PARTSTATS = ("NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE")


def _tz(nullable: bool = False) -> Column[dt.datetime]:
    return Column(DateTime(timezone=True), nullable=nullable)


class Meeting(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(unique=True, max_length=255)
    sequence: int = 0
    time_sequence: int = 0  # the SEQUENCE of the last change of start or end: older answers no longer count
    status: str = Field(default="scheduled", max_length=20)  # scheduled | cancelled
    title: str = Field(max_length=200)
    host_province: str = Field(max_length=2)  # two-digit province code, e.g. "13"
    place: str = Field(default="", max_length=300)
    start_at: dt.datetime = Field(sa_column=_tz())  # UTC; shown in Asia/Shanghai
    end_at: dt.datetime = Field(sa_column=_tz())
    agenda: str = ""
    notes: str = ""
    organiser: str = Field(max_length=254)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_tz())
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=_tz())
    updated_by: str = Field(default="", max_length=100)


class MeetingAttendee(SQLModel, table=True):
    __tablename__ = "meeting_attendee"
    __table_args__ = (UniqueConstraint("meeting_id", "email"),)

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    email: str = Field(max_length=254)  # lower-cased
    name: str = Field(default="", max_length=200)
    region_code: str | None = Field(default=None, max_length=12)
    partstat: str = Field(default="NEEDS-ACTION", max_length=20)
    active: bool = True  # False once removed from the list (still gets the cancellation)
    responded_at: dt.datetime | None = Field(default=None, sa_column=_tz(nullable=True))


class Job(SQLModel, table=True):
    __tablename__ = "scheduler_job"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)  # e.g. reminder (handlers are registered per kind)
    ref: str = Field(default="", max_length=64, index=True)  # e.g. the meeting id
    recipient: str = Field(default="", max_length=254)
    label: str = Field(default="", max_length=100)  # e.g. the reminder offset "10 workdays"
    payload: str = ""  # kind-specific JSON
    due_at: dt.datetime = Field(sa_column=_tz())
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: dt.datetime | None = Field(default=None, sa_column=_tz(nullable=True))
    attempts: int = 0
    done_at: dt.datetime | None = Field(default=None, sa_column=_tz(nullable=True))
    outcome: str = Field(default="", max_length=20)  # sent | skipped | superseded | failed
    error: str = ""
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_tz())


@dataclass(frozen=True, slots=True)
class AttendeeView:
    """One person on a meeting's list, as read from ``meeting_attendee``."""

    email: str
    name: str = ""
    region_code: str | None = None
    partstat: str = "NEEDS-ACTION"
    active: bool = True
    responded_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class MeetingView:
    """One meeting with its attendees, as the iCalendar, mail and web code see it (times are aware UTC)."""

    id: int
    uid: str
    sequence: int
    status: str
    title: str
    host_province: str
    place: str
    start_at: dt.datetime
    end_at: dt.datetime
    agenda: str
    notes: str
    organiser: str
    updated_at: dt.datetime
    attendees: tuple[AttendeeView, ...] = ()
    time_sequence: int = 0

    @property
    def active_attendees(self) -> tuple[AttendeeView, ...]:
        return tuple(a for a in self.attendees if a.active)

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"
