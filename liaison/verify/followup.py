"""Follow-up of open campaigns on working days: reminders to silent offices, escalation when overdue.

Owns: the outbox-worker job that, for every open campaign, sends the reminders whose day has come (``[verify]
remind_days`` working days before the due date, each once, to offices still ``pending``) and, on the first working
day after the due date, marks the silent offices ``overdue`` and sends each parent office (the nearest ancestor
office with usable e-mail, else the province's liaison officer) one digest listing the silent offices under it;
those offices become ``escalated``. Each campaign row is locked for its transaction (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, the single writer on SQLite), and the mails are queued and the campaign stamped in that same
transaction, so several instances send each reminder and digest once and a crash loses nothing. Working days come
from the calendar with its official 调休 and the operator's overrides (:mod:`liaison.workdays`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from directory import clock
from directory.snapshot import OfficeView, Snapshot
from directory.store import Store
from liaison.mail import outbox, text
from liaison.settings import Settings
from liaison.verify import campaign as vcampaign
from liaison.verify import store as vstore
from liaison.workdays.calendar import Calendar
from liaison.workdays.store import load_calendar

log = logging.getLogger(__name__)
Job = Callable[[Store, dt.datetime], int]
SnapshotSource = Callable[[], Snapshot]


@dataclass(frozen=True)
class Dates:
    reminders: tuple[dt.date, ...]  # in order
    overdue_on: dt.date  # the first working day after the due date


def dates(calendar: Calendar, c: vstore.Campaign) -> Dates:
    started = clock.local_date(c.created_at)
    days = vcampaign.parse_remind_days(c.remind_days)
    reminders = tuple(sorted({calendar.workdays_before(c.due_on, n, floor=started) for n in days}))
    reminders = tuple(d for d in reminders if d > started)  # a reminder on the day of the notice says nothing new
    return Dates(reminders, calendar.add_workdays(c.due_on, 1))


def follow_up(store: Store, settings: Settings, snap: Snapshot, now: dt.datetime, calendar: Calendar) -> int:
    """Everything due at ``now`` for every open campaign; returns the number of mails queued."""
    today = clock.local_date(now)
    done = 0
    with store.begin() as conn:
        vstore.prune_attempts(conn, now - dt.timedelta(days=1))  # the throttles look back one hour
        for c in vstore.due_campaigns(conn, skip_locked=not store.is_sqlite):
            d = dates(calendar, c)
            reached = sum(1 for day in d.reminders if day <= today)
            if c.reminders_sent < reached and today <= c.due_on:
                done += _remind(conn, settings, snap, c, now)
                vstore.set_campaign(conn, c.id, reminders_sent=reached)
            if today >= d.overdue_on and c.escalated_at is None:
                done += _escalate(conn, settings, snap, c, now)
                vstore.set_campaign(conn, c.id, escalated_at=now)
    return done


def _remind(conn: Connection, settings: Settings, snap: Snapshot, c: vstore.Campaign, now: dt.datetime) -> int:
    queued: list[outbox.Queued] = []
    ids: list[int] = []
    mails = vcampaign.Mails(settings)
    for item in vstore.items(conn, c.id, ("pending",)):
        office = snap.office(item.region_code)
        if office is None or item.channel == "phone":
            continue
        body = text.render_text("verify/mail/reminder.txt", office=office, due=clock.shown(c.due_on))
        subject = f"【核对提醒】请于 {clock.shown(c.due_on)} 前核对本单位通讯录信息"
        ref = f"verify:{c.id}:{item.region_code}"
        if item.channel == "email":
            queued.append(mails.queued(item.address, subject, body, vcampaign.KIND_REMINDER, ref))
        else:
            msg = vcampaign.fax(settings, item.address, office.unit_name, subject, body, clock.shown(c.due_on))
            queued.append(outbox.Queued(msg, item.address, vcampaign.KIND_REMINDER, ref))
        ids.append(item.id)
    outbox.enqueue_many(conn, queued)
    vstore.set_items(conn, ids, reminded_at=now)
    return len(queued)


def parent_for(snap: Snapshot, region_code: str) -> OfficeView | None:
    """Who hears of a silent office: the nearest ancestor office with usable e-mail, else its province's liaison
    officer (unless that is the silent office itself)."""
    for ancestor in reversed(snap.ancestors(region_code)):
        office = snap.office(ancestor.code)
        if office is not None and office.email and office.email_status != "bouncing":
            return office
    officer = snap.liaison_officer(region_code[:2] + "0" * 10)
    if officer is not None and officer.region_code != region_code and officer.email:
        return officer
    return None


def _escalate(conn: Connection, settings: Settings, snap: Snapshot, c: vstore.Campaign, now: dt.datetime) -> int:
    silent = vstore.items(conn, c.id, ("pending", "bounced"))
    groups: dict[str, list[vstore.Item]] = {}
    orphans: list[vstore.Item] = []
    for item in silent:
        parent = parent_for(snap, item.region_code)
        if parent is None:
            orphans.append(item)
        else:
            groups.setdefault(parent.region_code, []).append(item)
    queued: list[outbox.Queued] = []
    escalated: list[int] = []
    for parent_code, members in sorted(groups.items()):
        parent = snap.offices[parent_code]
        rows = []
        for item in members:
            office = snap.office(item.region_code)
            region = snap.region(item.region_code)
            rows.append(
                {
                    "region_code": item.region_code,
                    "path": region.path_text if region else item.region_code,
                    "unit_name": office.unit_name if office else "",
                    "phone": office.phone_display if office else "",
                    "note": "邮箱退信" if item.state == "bounced" else "",
                }
            )
        body = text.render_text(
            "verify/mail/digest.txt", recipient_name=parent.unit_name, title=c.title, due=clock.shown(c.due_on),
            offices=rows,
        )  # fmt: skip
        subject = f"【核对督办】{len(rows)} 个下级单位逾期未核对通讯录信息"
        msg = vcampaign.mail(settings, parent.email, subject, body)
        queued.append(outbox.Queued(msg, parent.email, vcampaign.KIND_DIGEST, f"verify-digest:{c.id}:{parent_code}"))
        escalated += [i.id for i in members if i.state == "pending"]
    outbox.enqueue_many(conn, queued)
    vstore.set_items(conn, escalated, state="escalated", escalated_at=now)
    vstore.set_items(conn, [i.id for i in orphans if i.state == "pending"], state="overdue")
    return len(queued)


def job(settings: Settings, snapshot: SnapshotSource) -> Job:
    """The outbox-worker job: the follow-up due at ``now`` (the calendar read fresh, so a loaded notice counts)."""

    def run(store: Store, now: dt.datetime) -> int:
        return follow_up(store, settings, snapshot(), now, load_calendar(store))

    run.__name__ = "verify_follow_up"
    return run
