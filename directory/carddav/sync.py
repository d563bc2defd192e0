"""Sync tokens of the CardDAV books (RFC 6578) over the directory's durable change log.

Owns: the token format ``urn:bohai:sync:<database id>-<generation>`` (a URI: Evolution ignores tokens without
``:`` or ``/``; the database id, kept in ``meta``, makes a token of a restored or other database unknown instead
of wrong), reading a token (a malformed, foreign or future one is the RFC's 403 ``valid-sync-token``) and the
changes of one book since a token, from ``store.office_changes``: the log keeps tombstones and is never pruned
with the audit, so a token never expires.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from directory.carddav import books
from directory.carddav.davxml import DAV, qname
from directory.errors import Precondition
from directory.snapshot import Snapshot, SnapshotHolder
from directory.store import Store

META_KEY = "carddav.sync_id"
PREFIX = "urn:bohai:sync:"
TOKEN_RE = re.compile(r"urn:bohai:sync:([0-9a-f]{8})-([0-9]{1,15})")
VALID_TOKEN = qname(DAV, "valid-sync-token")


@dataclass(frozen=True)
class Delta:
    """A book's changes since a token: offices to send, offices gone, and the token that follows."""

    snap: Snapshot
    changed: list[str]
    removed: list[str]
    token: str


class SyncTokens:
    def __init__(self, store: Store, holder: SnapshotHolder) -> None:
        self.store = store
        self.holder = holder
        self.db_id = ""

    async def load(self) -> None:
        self.db_id = await self.store.run(self.store.set_meta_default, META_KEY, secrets.token_hex(4))

    def token(self, generation: int) -> str:
        return f"{PREFIX}{self.db_id}-{generation}"

    def generation_of(self, token: str) -> int:
        m = TOKEN_RE.fullmatch(token.strip())
        if m is None or m[1] != self.db_id:
            raise Precondition(VALID_TOKEN, "同步令牌无效或不属于本服务器，请重新完整同步")
        return int(m[2])

    async def since(self, view: str, token: str) -> Delta:
        """The changes of ``view``'s book after ``token``, read from the change log and shown from a Snapshot at
        least as new as the log's answer (refreshed first if the holder has not caught up yet)."""
        since = self.generation_of(token)
        latest, generation = await self.store.run(self.store.office_changes, since)
        if since > generation:
            raise Precondition(VALID_TOKEN, "同步令牌晚于服务器当前版本，请重新完整同步")
        if self.holder.current.generation < generation:
            await self.holder.refresh()
        snap = self.holder.current
        mine = [code for code in latest if books.in_book(snap, view, code)]
        changed = sorted(c for c in mine if not latest[c] and c in snap.offices)
        removed = sorted(c for c in mine if latest[c] or c not in snap.offices)
        return Delta(snap, changed, removed, self.token(generation))
