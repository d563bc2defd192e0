"""The durable outbox: every outgoing message is committed before any send, then delivered by a worker.

Owns: :func:`enqueue` (inside the caller's transaction: Message-ID fixed, a bounce token per message), the queue
rows (``Claimed``, due states, ``backoff``, ``counts``), bounce addresses, and :func:`mark_bounced` for the inbound
face. The worker that delivers the rows is :class:`liaison.mail.worker.OutboxWorker`.

Delivery is at least once: a message whose send was in flight when the process died is sent again once its lease
ran out (same Message-ID); nothing committed is ever lost.

API for other modules (stable)::

    enqueue(conn, message, *, recipient, kind, ref=None) -> int   # inside store.begin()
    enqueue_many(conn, [Queued(message, recipient, kind, ref), ...]) -> int   # bulk: one INSERT per chunk
    enqueue_raw(conn, raw, *, message_id, recipient, kind, ref=None, shared=bodies.store(conn, data)) -> int
    bounce_address(token, domain) / parse_bounce_address(local_part) -> token | None
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from directory import clock
from directory.store import Store
from liaison.mail.models import outbox_t

log = logging.getLogger(__name__)
Clock = clock.Source
Job = Callable[[Store, dt.datetime], int]
BOUNCE_PREFIX = "bounces+"
DUE_STATES = ("queued", "deferred")


def bounce_address(token: str, domain: str) -> str:
    return f"{BOUNCE_PREFIX}{token}@{domain}"


def parse_bounce_address(local_part: str) -> str | None:
    """The token of ``bounces+<token>``, or None."""
    if not local_part.lower().startswith(BOUNCE_PREFIX):
        return None
    token = local_part[len(BOUNCE_PREFIX) :]
    return token if token.isalnum() and len(token) <= 40 else None


def aware(value: dt.datetime) -> dt.datetime:
    """SQLite gives naive datetimes back; every stored time is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _msgid_domain(message: EmailMessage) -> str:
    _, addr = email.utils.parseaddr(str(message.get("From", "")))
    return addr.rpartition("@")[2] or "localhost"


def recipient_domain(recipient: str) -> str:
    """The destination domain the outbox paces by: the part after ``@``, lower case ("" if there is none)."""
    return recipient.rpartition("@")[2].lower()[:255]


def enqueue(conn: Connection, message: EmailMessage, *, recipient: str, kind: str, ref: str | None = None) -> int:
    """Queue ``message`` for ``recipient`` in the caller's transaction; returns the outbox id.

    Sets a Message-ID (domain of the From address) if the message has none. The envelope sender is
    ``bounces+<token>@<liaison domain>``, with the token stored here and the domain taken from the settings of the
    worker that sends it.
    """
    if "Message-ID" not in message:
        message["Message-ID"] = email.utils.make_msgid(domain=_msgid_domain(message))
    token = secrets.token_hex(10)
    now = clock.now()
    values = {
        "kind": kind,
        "ref": ref,
        "recipient": recipient,
        "domain": recipient_domain(recipient),
        "token": token,
        "message_id": str(message["Message-ID"]).strip(),
        "body": message.as_bytes(policy=email.policy.SMTP),
        "state": "queued",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    return int(conn.execute(sa.insert(outbox_t).values(**values).returning(outbox_t.c.id)).scalar_one())


def enqueue_raw(
    conn: Connection,
    raw: bytes,
    *,
    message_id: str,
    recipient: str,
    kind: str,
    ref: str | None = None,
    shared: int | None = None,
) -> int:
    """Queue ``raw`` bytes unchanged (a forward), followed when sent by the ``shared`` body (:mod:`bodies`)."""
    now = clock.now()
    values = {
        "kind": kind,
        "ref": ref,
        "recipient": recipient,
        "domain": recipient_domain(recipient),
        "token": secrets.token_hex(10),
        "message_id": message_id.strip()[:300],
        "body": raw,
        "body_id": shared,
        "state": "queued",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    return int(conn.execute(sa.insert(outbox_t).values(**values).returning(outbox_t.c.id)).scalar_one())


@dataclass(frozen=True)
class Queued:
    """One message for :func:`enqueue_many`: an EmailMessage, or finished bytes with their ``message_id``
    (:mod:`liaison.mail.bulk`)."""

    message: EmailMessage | bytes
    recipient: str
    kind: str
    ref: str | None = None
    message_id: str = ""


BULK_CHUNK = 1000


def enqueue_many(conn: Connection, items: list[Queued]) -> int:
    """Queue many messages in the caller's transaction with multi-row INSERTs (a campaign of thousands of notices
    is queued in seconds); each gets a bounce token, and a Message-ID as with :func:`enqueue`. Returns the count."""
    now = clock.now()
    rows: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item.message, bytes):
            body, message_id = item.message, item.message_id
            if not message_id:
                raise ValueError("raw bytes need their message_id")
        else:
            message = item.message
            if "Message-ID" not in message:
                message["Message-ID"] = email.utils.make_msgid(domain=_msgid_domain(message))
            body, message_id = message.as_bytes(policy=email.policy.SMTP), str(message["Message-ID"]).strip()
        rows.append(
            {
                "kind": item.kind,
                "ref": item.ref,
                "recipient": item.recipient,
                "domain": recipient_domain(item.recipient),
                "token": secrets.token_hex(10),
                "message_id": message_id,
                "body": body,
                "body_id": None,
                "state": "queued",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "leased_by": "",
                "last_error": "",
            }
        )
    for start in range(0, len(rows), BULK_CHUNK):
        conn.execute(sa.insert(outbox_t), rows[start : start + BULK_CHUNK])
    return len(rows)


def by_token(conn: Connection, token: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(outbox_t).where(outbox_t.c.token == token)).mappings().first()
    return dict(row) if row is not None else None


def backoff(attempts: int, first: int, maximum: int) -> int:
    """Seconds to wait after the ``attempts``-th temporary failure: first, doubling, capped at maximum."""
    doublings: int = max(0, min(attempts - 1, 30))
    return min(maximum, first << doublings)


@dataclass(frozen=True)
class Claimed:
    id: int
    recipient: str
    token: str
    body: bytes
    attempts: int
    created_at: dt.datetime
    shared: bytes = b""  # what follows ``body`` (one object for all rows of a batch that share it)


def mark_bounced(conn: Connection, token: str, text: str) -> dict[str, Any] | None:
    """Mark the message with this bounce token bounced (inside the caller's transaction); returns its row."""
    row = conn.execute(sa.select(outbox_t).where(outbox_t.c.token == token)).mappings().first()
    if row is None:
        return None
    conn.execute(sa.update(outbox_t).where(outbox_t.c.id == row["id"]).values(state="bounced", last_error=text[:2000]))
    return dict(row)


def counts(store: Store) -> dict[str, int]:
    """Outbox rows per state (for the CLI and the web face)."""
    with store.read() as conn:
        rows = conn.execute(sa.select(outbox_t.c.state, sa.func.count()).group_by(outbox_t.c.state)).all()
    return {str(state): int(n) for state, n in rows}
