"""Deadline keeping for letters, and reading letters back.

Owns: recomputing provisional deadlines once the official calendar of their year is loaded, the outbox-worker job
that sends each reminder (N working days before the reply-by date, to the recipient
office) and each overdue notice (the working day after it, to the sender office) exactly once — the delivery row is
claimed (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), the notice queued and the row stamped in one transaction — and
the read side: one letter with its deliveries' effective state, lists, and the per-province deadline board.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from directory.errors import NotFound
from directory.snapshot import Snapshot
from directory.store import Store
from liaison import letters, outbox
from liaison.models import delivery_t, letter_t, outbox_t
from liaison.routing import Route, route
from liaison.settings import Settings
from liaison.workdays import Calendar

Job = Callable[[Store, dt.datetime], int]
SnapshotSource = Callable[[], Snapshot]
TERMINAL = ("replied", "bounced", "overdue")


def recompute_provisional(store: Store, settings: Settings, calendar: Calendar) -> int:
    """Open deliveries whose deadline was provisional get it (and the reminder and overdue days) recomputed with
    ``calendar`` (e.g. after ``bohai workdays load``); returns how many changed. Sent reminders are not repeated."""
    d = delivery_t.c
    query = (
        sa.select(d.id, d.deadline, d.remind_on, d.overdue_on, letter_t.c.reply_within, letter_t.c.created_at)
        .join(letter_t, letter_t.c.id == d.letter_id)
        .where(d.deadline_provisional == sa.true(), d.replied_at.is_(None), d.state.not_in(TERMINAL))
    )
    changed = 0
    with store.begin() as conn:
        for row in conn.execute(query).all():
            sent_on = letters.today_in_china(outbox.aware(row.created_at))
            new = letters.deadline_for(calendar, sent_on, int(row.reply_within), settings.liaison.reminder_days_before)
            values = {"deadline": new.deadline, "deadline_provisional": new.provisional, "remind_on": new.remind_on,
                      "overdue_on": new.overdue_on}  # fmt: skip
            conn.execute(sa.update(delivery_t).where(d.id == row.id).values(**values))
            changed += 1
    return changed


def effective_state(delivery_state: str, outbox_state: str | None) -> str:
    """queued, sent, deferred, failed, bounced, replied or overdue."""
    if delivery_state in TERMINAL:
        return delivery_state
    return {"sending": "queued", None: "queued"}.get(outbox_state, outbox_state or "queued")


def _due_query(store: Store, column: sa.Column[Any], stamp: sa.Column[Any], today: dt.date) -> sa.Select[Any]:
    d, o = delivery_t.c, outbox_t.c
    query = (
        sa.select(delivery_t, letter_t.c.number, letter_t.c.subject, letter_t.c.from_code, letter_t.c.created_at)
        .join(letter_t, letter_t.c.id == d.letter_id)
        .join(outbox_t, o.id == d.outbox_id, isouter=True)
        .where(column <= today, stamp.is_(None), d.replied_at.is_(None), d.is_copy == sa.false())
        .where(d.state.in_(("queued", "sent", "deferred")), sa.or_(o.state.is_(None), o.state != "failed"))
        .order_by(d.id)
        .limit(200)
    )
    if not store.is_sqlite:
        query = query.with_for_update(of=delivery_t, skip_locked=True)
    return query


def _ctx(row: RowMapping, snap: Snapshot, settings: Settings) -> letters.Context:
    sender = snap.office(row["from_code"])
    return letters.Context(
        number=row["number"],
        subject=row["subject"],
        body="",
        sender_name=sender.unit_name if sender else row["from_code"],
        sender_code=row["from_code"],
        sender_address=sender.address if sender else "",
        domain=settings.liaison.domain,
        thread_ids=(row["message_id"],),
        attachments=(),
        sent_on=letters.today_in_china(outbox.aware(row["created_at"])),
        font=settings.liaison.fax_font,
    )


def _notice(
    conn: Connection, ctx: letters.Context, r: Route, name: str, template: str, kind: str, **extra: Any
) -> None:
    text = letters.render_text(
        template,
        recipient_name=name,
        sender_name=ctx.sender_name,
        sent_on=ctx.sent_on.isoformat(),
        subject=ctx.subject,
        number=ctx.number,
        **extra,
    )
    title = {"reminder": "【回复提醒】", "overdue": "【逾期通知】"}[kind] + ctx.subject
    mid = email.utils.make_msgid(domain=ctx.domain)
    reply_by = str(extra.get("reply_by", ""))
    msg = letters.build_message(
        ctx, r, recipient_name=name, subject=title, text=text, reply_by=reply_by, message_id=mid
    )
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to it, and an answer to it is no reply
    outbox.enqueue(conn, msg, recipient=r.address, kind=kind, ref=f"delivery:{extra['delivery_id']}")


def _name(snap: Snapshot, code: str) -> str:
    office = snap.office(code)
    region = snap.region(code)
    return office.unit_name if office else (region.name if region else code)


def send_reminders(store: Store, settings: Settings, snap: Snapshot, now: dt.datetime) -> int:
    today = letters.today_in_china(now)
    done = 0
    with store.begin() as conn:
        for row in conn.execute(_due_query(store, delivery_t.c.remind_on, delivery_t.c.reminded_at, today)).mappings():
            if row["overdue_on"] is None or today < row["overdue_on"]:
                r = Route(row["region_code"], row["via_code"], row["channel"], row["address"])
                reply_by = row["deadline"].isoformat()
                name = _name(snap, row["region_code"])
                _notice(
                    conn,
                    _ctx(row, snap, settings),
                    r,
                    name,
                    "reminder",
                    "reminder",
                    reply_by=reply_by,
                    delivery_id=row["id"],
                )
                done += 1
            conn.execute(sa.update(delivery_t).where(delivery_t.c.id == row["id"]).values(reminded_at=now))
    return done


def send_overdue_notices(store: Store, settings: Settings, snap: Snapshot, now: dt.datetime) -> int:
    today = letters.today_in_china(now)
    done = 0
    with store.begin() as conn:
        for row in conn.execute(_due_query(store, delivery_t.c.overdue_on, delivery_t.c.overdue_at, today)).mappings():
            conn.execute(
                sa.update(delivery_t).where(delivery_t.c.id == row["id"]).values(state="overdue", overdue_at=now)
            )
            try:
                back = route(snap, row["from_code"], fax_gateway=settings.fax.gateway)
            except NotFound:
                continue
            ctx = _ctx(row, snap, settings)
            name = _name(snap, row["region_code"])
            _notice(
                conn, ctx, back, name, "overdue", "overdue", reply_by=row["deadline"].isoformat(), delivery_id=row["id"]
            )
            done += 1
    return done


def job(settings: Settings, snapshot: SnapshotSource) -> Job:
    """The outbox-worker job: reminders and overdue notices that are due at ``now``."""

    def run(store: Store, now: dt.datetime) -> int:
        snap = snapshot()
        return send_reminders(store, settings, snap, now) + send_overdue_notices(store, settings, snap, now)

    return run


# -- reading ------------------------------------------------------------------------------------------------------


def _letter_row(conn: Connection, key: str) -> RowMapping:
    cond = letter_t.c.number == key
    if key.isdigit():
        cond = sa.or_(cond, letter_t.c.id == int(key))
    row = conn.execute(sa.select(letter_t).where(cond)).mappings().first()
    if row is None:
        raise NotFound(f"联络函 {key} 不存在")
    return row


def get_letter(store: Store, key: str) -> dict[str, Any]:
    """One letter (by id or number) with its deliveries and their effective state."""
    with store.read() as conn:
        letter = dict(_letter_row(conn, key))
        q = (
            sa.select(delivery_t, outbox_t.c.state.label("outbox_state"), outbox_t.c.last_error, outbox_t.c.attempts)
            .join(outbox_t, outbox_t.c.id == delivery_t.c.outbox_id, isouter=True)
            .where(delivery_t.c.letter_id == letter["id"])
            .order_by(delivery_t.c.id)
        )
        rows = [dict(r) for r in conn.execute(q).mappings()]
    for r in rows:
        r["effective_state"] = effective_state(r["state"], r["outbox_state"])
    letter["deliveries"] = rows
    return letter


def list_letters(store: Store, *, from_code: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    with store.read() as conn:
        q = sa.select(letter_t.c.id, letter_t.c.number, letter_t.c.from_code, letter_t.c.subject, letter_t.c.created_at)
        if from_code:
            q = q.where(letter_t.c.from_code == from_code)
        return [dict(r) for r in conn.execute(q.order_by(letter_t.c.id.desc()).limit(min(limit, 1000))).mappings()]


def board(store: Store, province_code: str, today: dt.date, *, soon_days: int = 3) -> dict[str, list[dict[str, Any]]]:
    """Deliveries with a deadline to offices of one province: open, due soon, overdue, answered."""
    q = (
        sa.select(delivery_t, letter_t.c.number, letter_t.c.subject, letter_t.c.from_code, outbox_t.c.state.label("ob"))
        .join(letter_t, letter_t.c.id == delivery_t.c.letter_id)
        .join(outbox_t, outbox_t.c.id == delivery_t.c.outbox_id, isouter=True)
        .where(delivery_t.c.region_code.startswith(province_code[:2]), delivery_t.c.deadline.is_not(None))
        .order_by(delivery_t.c.deadline, delivery_t.c.id)
        .limit(2000)
    )
    out: dict[str, list[dict[str, Any]]] = {"open": [], "soon": [], "overdue": [], "answered": []}
    with store.read() as conn:
        for row in conn.execute(q).mappings():
            item = {**row, "effective_state": effective_state(row["state"], row["ob"])}
            out[_bucket(item, today, soon_days)].append(item)
    return out


def _bucket(item: dict[str, Any], today: dt.date, soon_days: int) -> str:
    if item["replied_at"] is not None:
        return "answered"
    if item["effective_state"] == "overdue" or item["deadline"] < today:
        return "overdue"
    if (item["deadline"] - today).days <= soon_days:
        return "soon"
    return "open"
