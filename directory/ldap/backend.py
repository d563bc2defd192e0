"""The LDAP backend: the Snapshot's DIT indexed and pre-encoded once per Snapshot.

Owns: ``DirectoryIndex`` and its parts (``IndexedEntry``: one entry encoded once, one ``bytes`` per entry with
the offsets of each attribute inside it, so an attribute selection is sliced out, not stored twice; ``Layout``;
``TextIndex``), with the remembered encodings of attribute selections and sort keys. Building and patching an index
from a Snapshot is in ``indexing``; the query side (candidate planning, scoped evaluation with limits) is in
``query``, which ``DirectoryIndex`` offers as methods.

Memory is part of the design (the whole service should stay under 300 MB with 32,000 entries): no per-entry copy of
the raw attribute values (the encoded entry and the prepared values are all that is kept), attribute layouts shared
between entries, equal prepared tuples shared, and sorted columns instead of a dict of single-element lists.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from directory.ldap import filtertree as ft
from directory.ldap import query
from directory.ldap.dn import normalize_dn, parent_dn
from directory.ldap.filters import Predicate
from directory.ldap.pacing import run

ENCODED_BUDGET = 8 << 20  # bytes of encoded entries remembered for all attribute selections of one index together
ENTRY_OVERHEAD = 100  # a bytes object and its dict slot, beyond the encoded length


@dataclass(frozen=True, slots=True)
class Layout:
    """The attributes of an entry in encoding order (shared by every entry with the same attributes)."""

    keys: tuple[str, ...]  # attribute key of each encoded PartialAttribute
    names: tuple[str, ...]  # the attribute names as written (typesOnly answers)


@dataclass(frozen=True, slots=True)
class IndexedEntry:
    dn: str
    norm: str  # normalised DN (the same object as ``dn`` when already normal)
    prepared: dict[str, tuple[str, ...]]
    layout: Layout
    spans: array[int]  # offsets in ``full``: DN start, DN end, then the start of each attribute, then the end
    full: bytes  # SearchResultEntry op with every user attribute

    @property
    def dn_enc(self) -> bytes:
        return self.full[self.spans[0] : self.spans[1]]

    def parts(self, columns: Iterable[int]) -> bytes:
        """The encoded attributes at these layout positions, concatenated."""
        full, spans = self.full, self.spans
        return b"".join([full[spans[j + 2] : spans[j + 3]] for j in columns])

    def all_parts(self) -> bytes:
        return self.full[self.spans[2] : self.spans[-1]]


@dataclass(slots=True)
class TextIndex:
    """All prepared values of one attribute joined by newlines, in DIT order, with the owner of each line."""

    text: str
    starts: array[int]  # 32-bit machine integers: ~1.2 MB per 300,000 lines instead of ~20 MB of int objects
    ids: array[int]


@dataclass
class DirectoryIndex:
    base_dn: str
    generation: int
    entries: list[IndexedEntry] = field(default_factory=list)
    by_dn: dict[str, int] = field(default_factory=dict)
    by_raw: dict[str, int] = field(default_factory=dict)  # the DNs exactly as the server writes them
    children: list[list[int]] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    end: list[int] = field(default_factory=list)
    present: dict[str, list[int]] = field(default_factory=dict)
    sorted_keys: dict[str, tuple[list[str], list[int]]] = field(default_factory=dict)  # every value kind but dn/bool
    texts: dict[str, TextIndex] = field(default_factory=dict)
    _encoded: dict[object, dict[int, bytes]] = field(default_factory=dict, repr=False)
    _encoded_bytes: int = field(default=0, repr=False)
    _sets: dict[int, tuple[list[int], frozenset[int]]] = field(default_factory=dict, repr=False)

    def encoded(self, selection: object) -> dict[int, bytes]:
        """Entries encoded for one attribute selection (clients repeat theirs), for a few selections at most."""
        cache = self._encoded.get(selection)
        if cache is None:
            if len(self._encoded) >= 16:
                self._forget(next(iter(self._encoded)))
            cache = self._encoded[selection] = {}
        return cache

    def remember(self, cache: dict[int, bytes], i: int, op: bytes) -> None:
        """Keep an encoded entry while all selections together stay within ``ENCODED_BUDGET`` bytes; past it, the
        oldest selection is dropped (an index lives until the next change, so this is a cache, not a leak)."""
        cost = len(op) + ENTRY_OVERHEAD
        while self._encoded_bytes + cost > ENCODED_BUDGET and self._encoded:
            oldest = next(iter(self._encoded))
            if self._encoded[oldest] is cache:
                return  # this selection alone fills the budget: serve the rest unremembered
            self._forget(oldest)
        cache[i] = op
        self._encoded_bytes += cost

    def _forget(self, selection: object) -> None:
        dropped = self._encoded.pop(selection)
        self._encoded_bytes -= sum(len(op) + ENTRY_OVERHEAD for op in dropped.values())

    # -- lookups -----------------------------------------------------------------------------------------------

    def find(self, dn: str) -> int | None:
        """Index of the entry with this DN (any spelling); raises DnError for bad syntax."""
        exact = self.by_raw.get(dn)
        return exact if exact is not None else self.by_dn.get(normalize_dn(dn))

    def matched(self, dn: str) -> str:
        """The DN of the nearest existing ancestor (for noSuchObject's matchedDN)."""
        norm = parent_dn(normalize_dn(dn))
        while norm:
            idx = self.by_dn.get(norm)
            if idx is not None:
                return self.entries[idx].dn
            norm = parent_dn(norm)
        return ""

    # -- queries (planning and evaluation live in ``query``) ------------------------------------------------------

    def plan(self, f: ft.Filter) -> query.Plan:
        return query.plan(self, f, query.Budget.of(self))

    def scope_ids(self, base: int, scope: int) -> tuple[int, int, list[int] | None]:
        return query.scope_ids(self, base, scope)

    def evaluate(
        self,
        base: int,
        scope: int,
        f: ft.Filter,
        predicate: Predicate | None,
        limit: int,
        deadline: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> tuple[list[int], bool, bool]:
        """Matching ids in DIT order: (ids, more than ``limit`` matched, the deadline passed), in one go."""
        return run(query.evaluate_steps(self, base, scope, f, predicate, limit, deadline, clock))

    # -- output ------------------------------------------------------------------------------------------------

    def sort_key(self, i: int, key: str) -> tuple[int, str]:
        values = self.entries[i].prepared.get(key)
        return (0, min(values)) if values else (1, "")
