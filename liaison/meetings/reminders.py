"""Reminders of joint meetings: when they are due, scheduling them as jobs, and sending each one when it comes.

Owns: the ``[meetings] reminder_offsets`` format ("10 workdays, 1 day, 3 hours"), the reminder time of an offset
(working days counted back on the calendar with 调休), one scheduler job per attendee and offset, superseding them
when a meeting changes, and the ``reminder`` job handler with its misfire policy: a reminder whose meeting changed
or was cancelled is superseded, one that comes after the start or to someone who declined is skipped.
"""

from __future__ import annotations

import datetime as dt
import json
import re

from sqlalchemy.engine import Connection

from directory import clock
from directory.errors import SettingsError
from directory.store import Store
from liaison.mail import outbox, scheduler
from liaison.meetings import days, links, mails
from liaison.meetings import store as meeting_store
from liaison.meetings.models import MeetingView
from liaison.settings import Settings
from liaison.workdays.calendar import Calendar

_OFFSET = re.compile(r"^\s*(\d{1,3})\s*(workdays?|days?|hours?)\s*$")


def parse_offsets(text: str) -> list[tuple[str, int, str]]:
    """``"10 workdays, 1 day"`` → [(label, n, unit)], unit one of workday/day/hour; errors name the option."""
    out = []
    for part in (p for p in text.split(",") if p.strip()):
        m = _OFFSET.match(part)
        if not m:
            raise SettingsError(
                f"meetings.reminder_offsets: each item must be '<N> workdays', '<N> days' or '<N> hours', "
                f"got {part.strip()!r}"
            )
        out.append((part.strip(), int(m[1]), m[2].rstrip("s")))
    return out


_UNIT_NAMES = {"workday": "个工作日", "day": "天", "hour": "小时"}


def offset_name(label: str) -> str:
    """How staff read a reminder offset: ``"10 workdays"`` → ``提前 10 个工作日``."""
    m = _OFFSET.match(label)
    return f"提前 {m[1]} {_UNIT_NAMES[m[2].rstrip('s')]}" if m else "提前提醒"


def reminder_time(start: dt.datetime, n: int, unit: str, calendar: Calendar) -> dt.datetime:
    if unit == "hour":
        return start - dt.timedelta(hours=n)
    if unit == "day":
        return start - dt.timedelta(days=n)
    local = start.astimezone(clock.ZONE)
    day = days.subtract_workdays(local.date(), n, calendar)
    return dt.datetime.combine(day, local.time(), clock.ZONE).astimezone(dt.UTC)


def schedule(conn: Connection, settings: Settings, meeting: MeetingView, now: dt.datetime, calendar: Calendar) -> None:
    for label, n, unit in parse_offsets(settings.meetings.reminder_offsets):
        due = reminder_time(meeting.start_at, n, unit, calendar)
        if due <= now or due >= meeting.start_at:
            continue  # a reminder time already past when the meeting is (re)scheduled is not a misfire: none
        payload = json.dumps({"meeting": meeting.id, "sequence": meeting.sequence, "offset": label})
        for person in meeting.active_attendees:
            scheduler.add_job(
                conn, "reminder", ref=str(meeting.id), recipient=person.email, label=label, payload=payload,
                due_at=due,
            )  # fmt: skip


def supersede(conn: Connection, meeting_id: int, now: dt.datetime) -> None:
    scheduler.close_pending(conn, kind="reminder", ref=str(meeting_id), outcome="superseded", now=now)


async def run_reminder(store: Store, settings: Settings, job: scheduler.JobRow, now: dt.datetime) -> str:
    """Scheduler handler of ``reminder`` jobs: queue the reminder mail, or skip it per the misfire policy."""
    return await store.run(_remind, store, settings, job, now)


def _remind(store: Store, settings: Settings, job: scheduler.JobRow, now: dt.datetime) -> str:
    info = json.loads(job.payload)
    with store.begin() as conn:
        meeting = meeting_store.load(conn, int(info["meeting"]))
        person = next((a for a in meeting.active_attendees if a.email == job.recipient), None)
        outcome = "sent"
        if meeting.cancelled or meeting.sequence != info["sequence"]:
            outcome = "superseded"
        elif now >= meeting.start_at:
            outcome = "skipped"  # misfire: the meeting has started, a late reminder is pointless
        elif person is None or person.partstat == "DECLINED":
            outcome = "skipped"
        if outcome == "sent" and person is not None:
            secret = links.secret_in(conn, settings)
            link = links.answer_link(settings, secret, meeting.id, person.email, meeting.sequence)
            msg = mails.reminder(meeting, person, settings, link, str(info["offset"]), now)
            outbox.enqueue(conn, msg, recipient=person.email, kind=meeting_store.REMINDER_KIND, ref=str(meeting.id))
        if not scheduler.finish(conn, job, outcome, now):
            raise scheduler.LeaseLost(job.id)  # another scheduler took the job over: roll back
    return outcome


def for_meeting(store: Store, meeting_id: int) -> list[scheduler.JobRow]:
    """The meeting's scheduled reminder jobs (one per attendee and offset), with their outcome."""
    return [j for j in scheduler.jobs_for(store, str(meeting_id)) if j.kind == "reminder"]
