"""The SQL of letters: writing a letter with its deliveries, reading letters back, and the states coming back.

Owns: every query on the ``letter``, ``letter_attachment`` and ``delivery`` tables (the outbox's own rows are the
outbox's). Reads return frozen dataclasses — :class:`Letter`, :class:`Delivery`, :class:`LetterSummary` — never
mappings read by string keys. ``effective_state`` folds the outbox's progress into a delivery's own state, so pages,
the CLI and the board say the same thing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from directory.errors import NotFound
from directory.store import Store
from liaison.letters.models import attachment_t, delivery_t, letter_t
from liaison.mail.models import outbox_t

TERMINAL = ("replied", "bounced", "overdue")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One recipient of a letter as stored, with the outbox's view of it; ``number``… are set where joined."""

    id: int
    letter_id: int
    region_code: str  # the office addressed
    via_code: str  # the office reached (a parent office when routed upwards)
    channel: str
    address: str
    is_copy: bool
    note: str
    state: str
    state_note: str
    message_id: str
    outbox_id: int | None
    deadline: dt.date | None
    deadline_provisional: bool
    remind_on: dt.date | None
    overdue_on: dt.date | None
    reminded_at: dt.datetime | None = None
    overdue_at: dt.datetime | None = None
    sent_at: dt.datetime | None = None
    replied_at: dt.datetime | None = None
    outbox_state: str | None = None
    last_error: str = ""
    attempts: int = 0
    effective_state: str = "queued"
    number: str = ""  # the letter's, where the query joined it
    subject: str = ""
    from_code: str = ""
    letter_created_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Letter:
    id: int
    number: str
    from_code: str
    subject: str
    body: str
    template: str
    message_id: str
    in_reply_to: str
    thread: str
    reply_within: int | None
    created_at: dt.datetime
    created_by: str
    deliveries: tuple[Delivery, ...] = ()


@dataclass(frozen=True, slots=True)
class LetterSummary:
    id: int
    number: str
    from_code: str
    subject: str
    created_at: dt.datetime


_DELIVERY_FIELDS = frozenset(f.name for f in dataclasses.fields(Delivery))
_LETTER_FIELDS = frozenset(f.name for f in dataclasses.fields(Letter)) - {"deliveries"}


def effective_state(delivery_state: str, outbox_state: str | None) -> str:
    """queued, sent, deferred, failed, bounced, replied or overdue."""
    if delivery_state in TERMINAL:
        return delivery_state
    return {"sending": "queued", None: "queued"}.get(outbox_state, outbox_state or "queued")


def delivery_from(row: Mapping[Any, Any], **extra: Any) -> Delivery:
    """A :class:`Delivery` from a delivery row (plus any joined columns named like its fields)."""
    values = {str(k): v for k, v in row.items() if k in _DELIVERY_FIELDS}
    values.update(extra)
    values.setdefault("last_error", "")
    if values["last_error"] is None:
        values["last_error"] = ""
    if values.get("attempts") is None:
        values["attempts"] = 0
    values["effective_state"] = effective_state(str(row["state"]), values.get("outbox_state"))
    return Delivery(**values)


# -- writing ------------------------------------------------------------------------------------------------------


def insert_letter(conn: Connection, values: Mapping[str, Any], number: Callable[[int], str]) -> tuple[int, str]:
    """Insert a letter, then give it its number (made from its id); returns both."""
    letter_id = int(conn.execute(sa.insert(letter_t).values(**values).returning(letter_t.c.id)).scalar_one())
    text = number(letter_id)
    conn.execute(sa.update(letter_t).where(letter_t.c.id == letter_id).values(number=text))
    return letter_id, text


def insert_attachment(conn: Connection, letter_id: int, filename: str, content_type: str, data: bytes) -> None:
    conn.execute(
        sa.insert(attachment_t).values(letter_id=letter_id, filename=filename, content_type=content_type, data=data)
    )


def insert_delivery(conn: Connection, values: Mapping[str, Any]) -> int:
    return int(conn.execute(sa.insert(delivery_t).values(**values).returning(delivery_t.c.id)).scalar_one())


def set_outbox(conn: Connection, delivery_id: int, outbox_id: int) -> None:
    conn.execute(sa.update(delivery_t).where(delivery_t.c.id == delivery_id).values(outbox_id=outbox_id))


def parent(conn: Connection, key: str) -> tuple[int, str, str] | None:
    """(id, message_id, thread) of the letter with number or Message-ID ``key``."""
    q = sa.select(letter_t.c.id, letter_t.c.message_id, letter_t.c.thread).where(
        sa.or_(letter_t.c.number == key, letter_t.c.message_id == key)
    )
    row = conn.execute(q).first()
    return None if row is None else (int(row[0]), str(row[1]), str(row[2]))


def received_by(conn: Connection, letter_id: int, region_code: str) -> str | None:
    """Message-ID of the (non-copy) delivery of a letter to ``region_code``, if it went there."""
    q = sa.select(delivery_t.c.message_id).where(
        delivery_t.c.letter_id == letter_id, delivery_t.c.region_code == region_code, delivery_t.c.is_copy == sa.false()
    )
    found = conn.execute(q).scalars().first()
    return None if found is None else str(found)


# -- states coming back -------------------------------------------------------------------------------------------


def mark_replied(
    conn: Connection,
    message_ids: Sequence[str],
    at: dt.datetime,
    *,
    sender_ok: Callable[[Mapping[str, Any]], bool] | None = None,
) -> list[int]:
    """Deliveries answered by a message referring to ``message_ids``: state replied, reminders stop.

    ``sender_ok(delivery row)`` (inbound mail) says whether the message came from the office the delivery went to;
    deliveries it refuses stay open. Without it (a reply sent through this system) every referenced one counts.
    """
    ids = [m.strip() for m in message_ids if m.strip()][:100]
    if not ids:
        return []
    query = sa.select(delivery_t).where(delivery_t.c.message_id.in_(ids), delivery_t.c.replied_at.is_(None))
    rows = conn.execute(query).mappings().all()
    found = [int(r["id"]) for r in rows if sender_ok is None or sender_ok(dict(r))]
    if found:
        conn.execute(
            sa.update(delivery_t)
            .where(delivery_t.c.id.in_(found))
            .values(state="replied", replied_at=at, state_note="")
        )
    return found


def mark_delivery_bounced(conn: Connection, outbox_id: int, text: str) -> list[int]:
    """The delivery sent as outbox row ``outbox_id`` bounced (reminders stop; the editors see the text)."""
    query = sa.select(delivery_t.c.id).where(delivery_t.c.outbox_id == outbox_id, delivery_t.c.replied_at.is_(None))
    found = [int(i) for i in conn.execute(query).scalars()]
    if found:
        conn.execute(
            sa.update(delivery_t).where(delivery_t.c.id.in_(found)).values(state="bounced", state_note=text[:1000])
        )
    return found


# -- deadlines ----------------------------------------------------------------------------------------------------


def provisional_open(conn: Connection) -> list[tuple[int, int, dt.datetime]]:
    """(delivery id, reply_within, letter created_at) of open deliveries whose deadline is provisional."""
    d = delivery_t.c
    query = (
        sa.select(d.id, letter_t.c.reply_within, letter_t.c.created_at)
        .join(letter_t, letter_t.c.id == d.letter_id)
        .where(d.deadline_provisional == sa.true(), d.replied_at.is_(None), d.state.not_in(TERMINAL))
    )
    return [(int(r.id), int(r.reply_within), r.created_at) for r in conn.execute(query).all()]


def update_delivery(conn: Connection, delivery_id: int, **values: Any) -> None:
    conn.execute(sa.update(delivery_t).where(delivery_t.c.id == delivery_id).values(**values))


def due(conn: Connection, store: Store, kind: str, today: dt.date) -> list[Delivery]:
    """Open deliveries whose reminder (``kind`` "reminder") or overdue day ("overdue") has come and not been handled.

    On PostgreSQL the rows are locked (``FOR UPDATE SKIP LOCKED``) so two workers never take the same one.
    """
    d, o = delivery_t.c, outbox_t.c
    column, stamp = (d.remind_on, d.reminded_at) if kind == "reminder" else (d.overdue_on, d.overdue_at)
    query = (
        sa.select(
            delivery_t,
            letter_t.c.number,
            letter_t.c.subject,
            letter_t.c.from_code,
            letter_t.c.created_at.label("letter_created_at"),
        )
        .join(letter_t, letter_t.c.id == d.letter_id)
        .join(outbox_t, o.id == d.outbox_id, isouter=True)
        .where(column <= today, stamp.is_(None), d.replied_at.is_(None), d.is_copy == sa.false())
        .where(d.state.in_(("queued", "sent", "deferred")), sa.or_(o.state.is_(None), o.state != "failed"))
        .order_by(d.state_note != "", d.id)  # rows whose notice failed last: they never hold back the others
        .limit(200)
    )
    if not store.is_sqlite:
        query = query.with_for_update(of=delivery_t, skip_locked=True)
    return [delivery_from(r) for r in conn.execute(query).mappings()]


# -- reading ------------------------------------------------------------------------------------------------------


def _letter_row(conn: Connection, key: str) -> RowMapping:
    cond = letter_t.c.number == key
    if key.isdigit():
        cond = sa.or_(cond, letter_t.c.id == int(key))
    row = conn.execute(sa.select(letter_t).where(cond)).mappings().first()
    if row is None:
        raise NotFound(f"联络函 {key} 不存在")
    return row


def get_letter(store: Store, key: str) -> Letter:
    """One letter (by id or number) with its deliveries and their effective state."""
    with store.read() as conn:
        row = _letter_row(conn, key)
        q = (
            sa.select(delivery_t, outbox_t.c.state.label("outbox_state"), outbox_t.c.last_error, outbox_t.c.attempts)
            .join(outbox_t, outbox_t.c.id == delivery_t.c.outbox_id, isouter=True)
            .where(delivery_t.c.letter_id == row["id"])
            .order_by(delivery_t.c.id)
        )
        deliveries = tuple(delivery_from(r) for r in conn.execute(q).mappings())
    return Letter(**{k: v for k, v in row.items() if k in _LETTER_FIELDS}, deliveries=deliveries)


def list_letters(store: Store, *, from_code: str | None = None, limit: int = 50) -> list[LetterSummary]:
    with store.read() as conn:
        q = sa.select(letter_t.c.id, letter_t.c.number, letter_t.c.from_code, letter_t.c.subject, letter_t.c.created_at)
        if from_code:
            q = q.where(letter_t.c.from_code == from_code)
        rows = conn.execute(q.order_by(letter_t.c.id.desc()).limit(min(limit, 1000))).mappings()
        return [LetterSummary(**r) for r in rows]


def sent_letters(store: Store, prefix: str, *, limit: int = 100) -> list[Letter]:
    """The newest letters sent by offices whose code starts with ``prefix`` ("" for all), each with its
    deliveries and their effective state."""
    with store.read() as conn:
        q = sa.select(letter_t).where(letter_t.c.from_code.startswith(prefix)).order_by(letter_t.c.id.desc())
        rows = list(conn.execute(q.limit(min(limit, 500))).mappings())
        by_letter: dict[int, list[Delivery]] = {int(r["id"]): [] for r in rows}
        if by_letter:
            dq = (
                sa.select(delivery_t, outbox_t.c.state.label("outbox_state"))
                .join(outbox_t, outbox_t.c.id == delivery_t.c.outbox_id, isouter=True)
                .where(delivery_t.c.letter_id.in_(list(by_letter)))
                .order_by(delivery_t.c.id)
            )
            for d in conn.execute(dq).mappings():
                by_letter[int(d["letter_id"])].append(delivery_from(d))
    return [
        Letter(**{k: v for k, v in r.items() if k in _LETTER_FIELDS}, deliveries=tuple(by_letter[int(r["id"])]))
        for r in rows
    ]


def _with_letter() -> sa.Select[Any]:
    """Deliveries with their letter's number, subject, sender and date, and the outbox's state."""
    return (
        sa.select(
            delivery_t,
            letter_t.c.number,
            letter_t.c.subject,
            letter_t.c.from_code,
            letter_t.c.created_at.label("letter_created_at"),
            outbox_t.c.state.label("outbox_state"),
        )
        .join(letter_t, letter_t.c.id == delivery_t.c.letter_id)
        .join(outbox_t, outbox_t.c.id == delivery_t.c.outbox_id, isouter=True)
    )


def received(store: Store, prefix: str, *, limit: int = 200) -> list[Delivery]:
    """The newest deliveries to offices whose code starts with ``prefix`` ("" for all), with their letter."""
    q = (
        _with_letter()
        .where(delivery_t.c.region_code.startswith(prefix), delivery_t.c.is_copy.is_(False))
        .order_by(delivery_t.c.id.desc())
        .limit(min(limit, 1000))
    )
    with store.read() as conn:
        return [delivery_from(r) for r in conn.execute(q).mappings()]


def board(
    store: Store, province_code: str, today: dt.date, *, soon_days: int = 3, side: str = "to"
) -> dict[str, list[Delivery]]:
    """Deliveries with a deadline to offices of one province (``side="to"``) or sent by them (``"from"``): open,
    due soon, overdue, answered."""
    column = delivery_t.c.region_code if side == "to" else letter_t.c.from_code
    q = (
        _with_letter()
        .where(column.startswith(province_code[:2]), delivery_t.c.deadline.is_not(None))
        .order_by(delivery_t.c.deadline, delivery_t.c.id)
        .limit(2000)
    )
    out: dict[str, list[Delivery]] = {"open": [], "soon": [], "overdue": [], "answered": []}
    with store.read() as conn:
        for item in map(delivery_from, conn.execute(q).mappings()):
            out[_bucket(item, today, soon_days)].append(item)
    return out


def _bucket(item: Delivery, today: dt.date, soon_days: int) -> str:
    if item.replied_at is not None:
        return "answered"
    if item.effective_state == "overdue" or (item.deadline is not None and item.deadline < today):
        return "overdue"
    if item.deadline is not None and (item.deadline - today).days <= soon_days:
        return "soon"
    return "open"


def deliveries_of(conn: Connection, ids: Iterable[int]) -> list[Delivery]:
    rows = conn.execute(sa.select(delivery_t).where(delivery_t.c.id.in_(list(ids))).order_by(delivery_t.c.id))
    return [delivery_from(r) for r in rows.mappings()]
