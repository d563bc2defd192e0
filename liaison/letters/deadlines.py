"""Deadline keeping for letters.

Owns: recomputing provisional deadlines once the official calendar of their year is loaded, and the outbox-worker job
that sends each reminder (N working days before the reply-by date, to the recipient office) and each overdue notice
(the working day after it, to the sender office) exactly once — the delivery row is claimed (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL), the notice queued and the row stamped in one transaction. A notice that cannot be built
affects only its delivery: the error goes into the delivery's ``state_note`` (shown on the letter's page and by
``bohai letter show``), the row stays unstamped so the next round tries again, and the other rows go on. Reading
letters back is :mod:`liaison.letters.store`'s.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from sqlalchemy.engine import Connection

from directory import clock
from directory.errors import NotFound
from directory.snapshot import Snapshot
from directory.store import Store
from liaison.letters import compose
from liaison.letters import store as letter_store
from liaison.mail import outbox, text
from liaison.routing import Route, route
from liaison.settings import Settings
from liaison.workdays.calendar import Calendar

log = logging.getLogger(__name__)
Job = Callable[[Store, dt.datetime], int]
SnapshotSource = Callable[[], Snapshot]
TERMINAL = ("replied", "bounced", "overdue")


def recompute_provisional(store: Store, settings: Settings, calendar: Calendar) -> int:
    """Open deliveries whose deadline was provisional get it (and the reminder and overdue days) recomputed with
    ``calendar`` (e.g. after ``bohai workdays load``); returns how many changed. Sent reminders are not repeated."""
    changed = 0
    with store.begin() as conn:
        for delivery_id, reply_within, created_at in letter_store.provisional_open(conn):
            sent_on = clock.local_date(outbox.aware(created_at))
            new = compose.deadline_for(calendar, sent_on, reply_within, settings.liaison.reminder_days_before)
            letter_store.update_delivery(
                conn,
                delivery_id,
                deadline=new.deadline,
                deadline_provisional=new.provisional,
                remind_on=new.remind_on,
                overdue_on=new.overdue_on,
            )
            changed += 1
    return changed


def _ctx(d: letter_store.Delivery, snap: Snapshot, settings: Settings) -> compose.Context:
    sender = snap.office(d.from_code)
    assert d.letter_created_at is not None  # the due query joins the letter
    return compose.Context(
        number=d.number,
        subject=d.subject,
        body="",
        sender_name=sender.unit_name if sender else d.from_code,
        sender_code=d.from_code,
        sender_address=sender.address if sender else "",
        domain=settings.liaison.domain,
        thread_ids=(d.message_id,),
        attachments=(),
        sent_on=clock.local_date(outbox.aware(d.letter_created_at)),
        font=settings.liaison.fax_font,
    )


def _notice(conn: Connection, ctx: compose.Context, r: Route, name: str, template: str, kind: str, **extra: Any) -> str:
    """Queue one notice; returns "" or, if its message cannot be built, the error (and queues nothing)."""
    try:
        msg = _notice_message(ctx, r, name, template, kind, **extra)
    except Exception as exc:  # one row's bad value (or template) must not stop the other rows
        return f"{type(exc).__name__}: {exc}"
    outbox.enqueue(conn, msg, recipient=r.address, kind=kind, ref=f"delivery:{extra['delivery_id']}")
    return ""


def _notice_message(ctx: compose.Context, r: Route, name: str, template: str, kind: str, **extra: Any) -> EmailMessage:
    body = text.render_text(
        f"letters/mail/{template}.txt",
        recipient_name=name,
        sender_name=ctx.sender_name,
        sent_on=clock.shown(ctx.sent_on),
        subject=ctx.subject,
        number=ctx.number,
        **extra,
    )
    title = {"reminder": "【回复提醒】", "overdue": "【逾期通知】"}[kind] + ctx.subject
    mid = email.utils.make_msgid(domain=ctx.domain)
    reply_by = str(extra.get("reply_by", ""))
    msg = compose.build_message(
        ctx, r, recipient_name=name, subject=title, text=body, reply_by=reply_by, message_id=mid
    )
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to it, and an answer to it is no reply
    return msg


def _failed(conn: Connection, d: letter_store.Delivery, what: str, error: str) -> None:
    """Keep a notice's failure on its delivery (logged once per distinct error); the row is tried next round."""
    note = f"{what}未能生成，将在下一轮重试：{error}"[:1000]
    if d.state_note != note:
        log.warning("delivery %s: %s could not be built: %s", d.id, what, error)
        letter_store.update_delivery(conn, d.id, state_note=note)


def _name(snap: Snapshot, code: str) -> str:
    office = snap.office(code)
    region = snap.region(code)
    return office.unit_name if office else (region.name if region else code)


def send_reminders(store: Store, settings: Settings, snap: Snapshot, now: dt.datetime) -> int:
    today = clock.local_date(now)
    done = 0
    with store.begin() as conn:
        for d in letter_store.due(conn, store, "reminder", today):
            if d.overdue_on is None or today < d.overdue_on:
                assert d.deadline is not None
                r = Route(d.region_code, d.via_code, "fax" if d.channel == "fax" else "email", d.address)
                name = _name(snap, d.region_code)
                ctx = _ctx(d, snap, settings)
                reply_by = clock.shown(d.deadline)
                error = _notice(conn, ctx, r, name, "reminder", "reminder", reply_by=reply_by, delivery_id=d.id)
                if error:
                    _failed(conn, d, "回复提醒", error)
                    continue
                done += 1
            letter_store.update_delivery(conn, d.id, reminded_at=now, state_note="")
    return done


def send_overdue_notices(store: Store, settings: Settings, snap: Snapshot, now: dt.datetime) -> int:
    today = clock.local_date(now)
    done = 0
    with store.begin() as conn:
        for d in letter_store.due(conn, store, "overdue", today):
            try:
                back = route(snap, d.from_code, fax_gateway=settings.fax.gateway)
            except NotFound:
                letter_store.update_delivery(conn, d.id, state="overdue", overdue_at=now)
                continue
            assert d.deadline is not None
            ctx = _ctx(d, snap, settings)
            name = _name(snap, d.region_code)
            reply_by = clock.shown(d.deadline)
            error = _notice(conn, ctx, back, name, "overdue", "overdue", reply_by=reply_by, delivery_id=d.id)
            if error:
                _failed(conn, d, "逾期通知", error)
                continue
            letter_store.update_delivery(conn, d.id, state="overdue", overdue_at=now, state_note="")
            done += 1
    return done


def job(settings: Settings, snapshot: SnapshotSource) -> Job:
    """The outbox-worker job: reminders and overdue notices that are due at ``now``."""

    def run(store: Store, now: dt.datetime) -> int:
        snap = snapshot()
        return send_reminders(store, settings, snap, now) + send_overdue_notices(store, settings, snap, now)

    return run
