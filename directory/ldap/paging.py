"""The open paged result sets of the LDAP server (RFC 2696), bounded per connection, in total and in time.

Owns: ``PagedSet`` (what a cookie stands for) and ``PagedResults`` (every open set of the server, least recently
used first). A set in DIT order keeps no ids at all, only where the next page starts: the next page is evaluated
again from there over the same index (the filter is in the request, which the client repeats). Only a sorted set
keeps its order, as a compact ``array('I')`` (4 bytes an entry). Each connection keeps at most ``per_connection``
sets; all sets together stay within ``budget`` bytes, the least recently used dropped first (the set just made is
kept even when it alone is larger, so a client paging through the whole directory always gets to the end); sets
unused for ``idle_seconds`` expire. A dropped or expired cookie is answered with unwillingToPerform, as RFC 2696
asks of a server that ages out result sets.
"""

from __future__ import annotations

import collections
import os
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass

from directory.ldap.backend import DirectoryIndex

SET_OVERHEAD = 256  # bytes of one set without its ids: the object, its cookie and the table entries


@dataclass(slots=True, eq=False)
class PagedSet:
    owner: object  # the connection the cookie was given to
    key: int  # hash of the request (base, scope, filter, attributes, typesOnly, sort): the client repeats it
    index: DirectoryIndex  # the index of the first page: later pages see the same data
    base: int  # the search base's id in that index
    total: int  # matches in the whole set (the size in the paged control)
    sent: int = 0  # entries sent so far
    resume: int = 0  # DIT order: the id from which the next page is evaluated
    ordered: array[int] | None = None  # sorted sets: the ids in order
    used: float = 0.0

    @property
    def cost(self) -> int:
        return SET_OVERHEAD + (self.ordered.itemsize * len(self.ordered) if self.ordered is not None else 0)


class PagedResults:
    """Every open paged result set of the server, least recently used first."""

    def __init__(
        self, budget: int, per_connection: int, idle_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.budget, self.per_connection, self.idle_seconds, self.clock = budget, per_connection, idle_seconds, clock
        self._sets: collections.OrderedDict[bytes, PagedSet] = collections.OrderedDict()
        self._owned: dict[int, dict[bytes, None]] = {}  # id(owner) → its cookies, oldest first
        self.bytes = 0
        self.dropped = 0  # sets dropped for the budget, the per-connection count or expiry

    def __len__(self) -> int:
        return len(self._sets)

    def take(self, owner: object, cookie: bytes) -> PagedSet | None:
        """The set behind ``cookie`` if ``owner`` holds it and it is still kept; it is no longer kept after this
        (``put`` it back with a new cookie for the next page)."""
        self._expire()
        state = self._sets.get(cookie)
        if state is None or state.owner is not owner:
            return None
        self._remove(cookie)
        return state

    def put(self, state: PagedSet) -> bytes:
        """Keep ``state`` under a new cookie, dropping older sets as the limits ask."""
        self._expire()
        state.used = self.clock()
        owned = self._owned.setdefault(id(state.owner), {})
        while owned and len(owned) >= max(self.per_connection, 1):
            self._drop(next(iter(owned)))
        cookie = os.urandom(8)
        while cookie in self._sets:
            cookie = os.urandom(8)
        self._sets[cookie] = state
        owned = self._owned.setdefault(id(state.owner), {})
        owned[cookie] = None
        self.bytes += state.cost
        while self.bytes > self.budget and len(self._sets) > 1:
            oldest = next(iter(self._sets))
            if oldest == cookie:
                break
            self._drop(oldest)
        return cookie

    def forget(self, owner: object) -> None:
        """Drop every set of ``owner`` (its connection closed)."""
        for cookie in list(self._owned.get(id(owner), ())):
            self._remove(cookie)

    def _expire(self) -> None:
        limit = self.clock() - self.idle_seconds
        while self._sets:
            cookie, state = next(iter(self._sets.items()))
            if state.used > limit:
                return
            self._drop(cookie)

    def _drop(self, cookie: bytes) -> None:
        self._remove(cookie)
        self.dropped += 1

    def _remove(self, cookie: bytes) -> None:
        state = self._sets.pop(cookie)
        self.bytes -= state.cost
        owned = self._owned[id(state.owner)]
        del owned[cookie]
        if not owned:
            del self._owned[id(state.owner)]
