"""The liaison service's own secrets, e.g. the generated key of meeting answer links.

Owns: the ``liaison_key`` table (created by ``liaison/migrations``) and the one way to use it: take the key stored
under a name, or store a new one, inside the caller's write transaction. The directory's ``meta`` table is the
directory's; nothing here reads or writes it.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel


class LiaisonKey(SQLModel, table=True):
    __tablename__ = "liaison_key"
    name: str = Field(primary_key=True, max_length=64)
    value: str


key_t = LiaisonKey.__table__  # type: ignore[attr-defined]


def get_or_create(conn: Connection, name: str, make: Callable[[], str]) -> str:
    """The key stored under ``name``; if there is none yet, ``make()`` one and store it (in ``conn``'s transaction)."""
    value = conn.execute(sa.select(key_t.c.value).where(key_t.c.name == name)).scalar_one_or_none()
    if value is None:
        value = make()
        conn.execute(sa.insert(key_t).values(name=name, value=value))
    return str(value)
