"""Message bytes shared by several outbox rows: a message forwarded to many mailboxes is stored once.

Owns: :func:`store` (inside the caller's transaction) and :func:`read` (the bodies a claimed batch needs, each read
once, so every row of the batch refers to the same bytes object). An outbox row with ``body_id`` is sent as its own
``body`` followed by the shared bytes.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from directory import clock
from liaison.mail.models import outbox_body_t


def store(conn: Connection, data: bytes) -> int:
    insert = sa.insert(outbox_body_t).values(data=data, created_at=clock.now()).returning(outbox_body_t.c.id)
    return int(conn.execute(insert).scalar_one())


def read(conn: Connection, ids: Iterable[int | None]) -> dict[int | None, bytes]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    query = sa.select(outbox_body_t.c.id, outbox_body_t.c.data).where(outbox_body_t.c.id.in_(wanted))
    return {int(i): bytes(d) for i, d in conn.execute(query).all()}
