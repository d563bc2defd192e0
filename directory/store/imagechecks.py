"""What a start-up image of the Snapshot is checked against (``directory.startimage``): the data's epoch and a
cheap checksum of the offices.

Owns: ``meta.epoch`` (made on first use, renewed by a restore) and the office checksum (count, sum of versions).
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from directory.errors import Conflict
from directory.store.engine import Database, meta_t, office_t, put_meta

EPOCH_KEY = "epoch"


class ImageChecks(Database):
    """The store's part for start-up images."""

    def data_epoch(self) -> str:
        """A random token naming this database's history (``meta.epoch``): made on first use and renewed whenever the
        data is replaced wholesale (a restore), so a start-up image of another history is never taken for this one."""
        epoch = self.get_meta(EPOCH_KEY)
        if epoch:
            return epoch
        try:
            with self.begin() as conn:
                conn.execute(sa.insert(meta_t).values(key=EPOCH_KEY, value=secrets.token_hex(16)))
        except Conflict:
            pass  # another instance made it first: take theirs
        return self.get_meta(EPOCH_KEY) or ""

    @staticmethod
    def renew_epoch(conn: Connection) -> None:
        """Give the data a new history in the transaction of ``conn`` (it was replaced wholesale)."""
        put_meta(conn, EPOCH_KEY, secrets.token_hex(16))

    def office_checksum(self) -> tuple[int, int]:
        """(number of offices, sum of their versions): a cheap check that a start-up image holds these offices."""
        with self.read() as conn:
            count, versions = conn.execute(sa.select(sa.func.count(), sa.func.sum(office_t.c.version))).one()
        return int(count or 0), int(versions or 0)
