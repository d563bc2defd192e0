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

import bisect
import functools
import pickle
import time
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from directory.ldap import filtertree as ft
from directory.ldap import query
from directory.ldap.dn import normalize_dn, parent_dn
from directory.ldap.filters import Predicate
from directory.ldap.grams import Postings
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
    grams: Postings | None = None  # two-character postings of name attributes (``grams``)


def _raw(e: IndexedEntry) -> bytes:
    norm = None if e.norm == e.dn else e.norm
    return pickle.dumps((e.dn, norm, e.prepared, e.layout.keys, e.layout.names, e.spans.tobytes(), e.full), 5)


def _compress(raw: bytes, zdict: bytes) -> bytes:
    packer = _primed(zdict).copy()  # taking in a 32 KB dictionary costs several times what an entry does
    return packer.compress(raw) + packer.flush()


@functools.lru_cache(maxsize=4)
def _primed(zdict: bytes) -> zlib._Compress:
    return zlib.compressobj(6, zdict=zdict)


def pack(entry: IndexedEntry, zdict: bytes) -> bytes:
    """One entry pickled and compressed with the preset dictionary ``zdict`` (see ``preset``)."""
    return _compress(_raw(entry), zdict)


def preset(sample: Iterable[IndexedEntry]) -> bytes:
    """A preset dictionary made of ``sample``. Entries are ~1 KB each and much alike (the same attribute names,
    object classes and DN suffixes), so a dictionary of a few of them, taken across the DIT, takes each to about a
    fifth; each is still taken back on its own."""
    return b"".join(_raw(e) for e in sample)[-ZDICT_BYTES:]


def _pack(entries: list[IndexedEntry]) -> tuple[bytes, list[bytes]]:
    """(preset dictionary, each entry packed with it)."""
    zdict = preset(entries[:: max(1, len(entries) // ZDICT_SAMPLE)][-ZDICT_SAMPLE:])
    return zdict, [pack(e, zdict) for e in entries]


ZDICT_SAMPLE = 32  # entries sampled for the preset dictionary (~32 KB of them)
ZDICT_BYTES = 32768  # zlib's window: a longer dictionary is not used


Item = IndexedEntry | bytes  # an entry, or its packed form not yet made (pickled and compressed: LazyEntries)


class LazyEntries(Sequence[IndexedEntry]):
    """The entries of an index, as the indexer packs them and a start-up image holds them. Each is kept in its
    packed form and made when first used (then kept): holding them all whole would cost ~1.5 KB an entry, reading
    them all back at start most of the image's reading time, and a query touches only its candidates. Indexes
    patched from this one carry the forms not yet made (``items``), so a change does not make them all either.
    Layouts and equal prepared tuples are shared as the index builder shares them."""

    def __init__(self, items: list[Item], like: LazyEntries | None = None, zdict: bytes = b"") -> None:
        self._items = items
        self._zdict: bytes = like._zdict if like else zdict
        self._layouts: dict[tuple[str, ...], Layout] = like._layouts if like else {}
        self._tuples: dict[tuple[str, ...], tuple[str, ...]] = like._tuples if like else {}
        self._keys: dict[str, str] = like._keys if like else {}

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, i: int) -> IndexedEntry: ...

    @overload
    def __getitem__(self, i: slice) -> list[IndexedEntry]: ...

    def __getitem__(self, i: int | slice) -> IndexedEntry | list[IndexedEntry]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self._items)))]
        item = self._items[i]
        return self._make(i, item) if isinstance(item, bytes) else item

    def __iter__(self) -> Iterator[IndexedEntry]:
        for i in range(len(self._items)):
            yield self[i]

    @property
    def zdict(self) -> bytes:
        return self._zdict

    def each(self) -> Iterator[IndexedEntry]:
        """Every entry in order, those not yet made made for this pass only (not kept): a pass over all of them,
        as an index build makes, would otherwise bring every entry back whole for good."""
        tuples: dict[tuple[str, ...], tuple[str, ...]] = {}  # equal values shared for the pass, then let go
        for item in self._items:
            yield self._unpack(item, tuples) if isinstance(item, bytes) else item

    def peek(self, i: int) -> IndexedEntry:
        """Entry ``i``, made for the caller only if it is not made yet (a check that should not keep it whole)."""
        item = self._items[i]
        return self._unpack(item) if isinstance(item, bytes) else item

    def _make(self, i: int, blob: bytes) -> IndexedEntry:
        entry = self._unpack(blob)
        self._items[i] = entry  # two threads making the same entry at once keep one of them: equal either way
        return entry

    def _unpack(self, blob: bytes, tuples: dict[tuple[str, ...], tuple[str, ...]] | None = None) -> IndexedEntry:
        dn, norm, prepared, keys, names, spans, full = pickle.loads(
            zlib.decompressobj(zdict=self._zdict).decompress(blob)
        )
        layout = self._layouts.get(names)
        if layout is None:
            layout = self._layouts[names] = Layout(keys, names)
        key, same = self._keys.setdefault, (self._tuples if tuples is None else tuples).setdefault
        offsets: array[int] = array("I")
        offsets.frombytes(spans)
        return IndexedEntry(dn, norm or dn, {key(k, k): same(v, v) for k, v in prepared.items()}, layout, offsets, full)

    def packed(self) -> tuple[bytes, list[bytes]]:
        """As ``_pack`` makes it, keeping the forms not yet made (and the dictionary they were packed with)."""
        zdict = self._zdict
        return zdict, [item if isinstance(item, bytes) else pack(item, zdict) for item in self._items]


def items_of(entries: Sequence[IndexedEntry]) -> Sequence[Item]:
    """The entries as they are held (forms not yet made stay unmade): compare these with ``is`` to find changes."""
    return entries._items if isinstance(entries, LazyEntries) else entries


def entries_of(items: list[Item], like: Sequence[IndexedEntry] | None) -> Sequence[IndexedEntry]:
    """A sequence of entries over ``items`` (a plain list when every one is made)."""
    if any(isinstance(item, bytes) for item in items):
        return LazyEntries(items, like if isinstance(like, LazyEntries) else None)
    return items  # type: ignore[return-value]  # no bytes left: every item is an IndexedEntry


class DnTable:
    """Normalised DN → entry id in 8 bytes an entry: the CRC-32 of every DN, sorted, with its entry. A lookup checks
    the DN of the entries with its key (seldom more than one), so the ~150-byte DN strings a dict would keep (16 MB
    for a national directory) are not held twice."""

    __slots__ = ("ids", "keys")

    def __init__(self, keys: array[int], ids: array[int]) -> None:
        self.keys, self.ids = keys, ids

    @classmethod
    def of(cls, by_dn: dict[str, int]) -> DnTable:
        pairs = sorted(zip(map(_dn_key, by_dn), by_dn.values(), strict=True))
        return cls(array("I", (k for k, _ in pairs)), array("i", (i for _, i in pairs)))

    def __reduce__(self) -> tuple[type[DnTable], tuple[array[int], array[int]]]:
        return DnTable, (self.keys, self.ids)

    def get(self, norm: str, entries: Sequence[IndexedEntry], *, keep: bool = True) -> int | None:
        """The entry with DN ``norm``. ``keep``: an entry checked stays whole (a search base is asked for again and
        again; made afresh each time it would cost more than the search itself); False for a one-off pass."""
        key, keys = _dn_key(norm), self.keys
        at = bisect.bisect_left(keys, key)
        while at < len(keys) and keys[at] == key:
            i = self.ids[at]
            entry = entries.peek(i) if not keep and isinstance(entries, LazyEntries) else entries[i]
            if entry.norm == norm:
                return i
            at += 1
        return None


def _dn_key(norm: str) -> int:
    return zlib.crc32(norm.encode())  # the same in every process, so the table can be saved in an image


CHILDREN_KEPT = 4096  # children lists a DirectoryIndex keeps (one-level searches repeat their bases)
_REMEMBERED = frozenset({"_encoded", "_encoded_bytes", "_sets", "_children"})  # what queries keep, never saved


@dataclass
class DirectoryIndex:
    base_dn: str
    generation: int
    entries: Sequence[IndexedEntry] = field(default_factory=list)  # LazyEntries as built or read back, or a list
    by_dn: DnTable = field(default_factory=lambda: DnTable(array("I"), array("i")))
    by_raw: dict[str, int] = field(default_factory=dict)  # the DNs as the server writes them, where not normal
    # Ids are machine integers (array "i"): ~1.2 MB per 300,000 instead of ~11 MB of int objects and list slots.
    parents: array[int] = field(default_factory=lambda: array("i"))
    end: array[int] = field(default_factory=lambda: array("i"))
    present: dict[str, array[int]] = field(default_factory=dict)
    sorted_keys: dict[str, tuple[list[str], array[int]]] = field(default_factory=dict)  # every value kind but dn/bool
    texts: dict[str, TextIndex] = field(default_factory=dict)
    _encoded: dict[object, dict[int, bytes]] = field(default_factory=dict, repr=False)
    _encoded_bytes: int = field(default=0, repr=False)
    _sets: dict[int, tuple[list[int] | array[int], frozenset[int]]] = field(default_factory=dict, repr=False)
    _children: dict[int, array[int]] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict[str, object]:
        """The index for a start-up image: without what queries remember; entries each in a packed form of their
        own (taken back one by one as they are used, see ``LazyEntries``)."""
        state = {k: v for k, v in self.__dict__.items() if k not in _REMEMBERED}
        entries = self.entries
        state["entries"] = entries.packed() if isinstance(entries, LazyEntries) else _pack(list(entries))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        zdict, blobs = state["entries"]
        state["entries"] = LazyEntries(blobs, zdict=zdict)
        self.__dict__.update(state, _encoded={}, _encoded_bytes=0, _sets={}, _children={})

    def child_ids(self, i: int) -> array[int]:
        """The ids right under entry ``i``, ascending. Not stored for every entry (most have one or none): each
        subtree is one id range (``end``), so the children are found by hopping over their subtrees, and the lists
        last asked for are kept."""
        found = self._children.get(i)
        if found is None:
            end, found, child, stop = self.end, array("i"), i + 1, self.end[i]
            while child < stop:
                found.append(child)
                child = end[child]
            if len(self._children) >= CHILDREN_KEPT:
                self._children.clear()
            self._children[i] = found
        return found

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
        if exact is None:
            exact = self.by_dn.get(dn, self.entries)  # written as it is normalised (most DNs are)
        return exact if exact is not None else self.by_dn.get(normalize_dn(dn), self.entries)

    def matched(self, dn: str) -> str:
        """The DN of the nearest existing ancestor (for noSuchObject's matchedDN)."""
        norm = parent_dn(normalize_dn(dn))
        while norm:
            idx = self.by_dn.get(norm, self.entries)
            if idx is not None:
                return self.entries[idx].dn
            norm = parent_dn(norm)
        return ""

    # -- queries (planning and evaluation live in ``query``) ------------------------------------------------------

    def plan(self, f: ft.Filter) -> query.Plan:
        return query.plan(self, f, query.Budget.of(self))

    def scope_ids(self, base: int, scope: int) -> tuple[int, int, Sequence[int] | None]:
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
