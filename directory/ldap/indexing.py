"""Building the LDAP index: the Snapshot's DIT indexed and pre-encoded once per Snapshot, and patched per change.

Owns: ``build_index(snap, base_dn)`` and ``Indexer`` (registered as the Snapshot's ``"ldap"`` derived value), which
take the entries of ``directory.dit``, prepare their values for matching (``index_entry``), encode each entry once
and pack it at once (``backend.LazyEntries`` makes it whole again when a query needs it, so no build holds every
entry whole: the first build of a national directory would peak at 150 MB more), and build indexes — sorted (value,
id) columns for equality and prefix (``v*``) filters, presence, and per-attribute text for ``*v*`` filters scanned
at C speed in DIT order; the subtree of every entry is a contiguous id range. ``patch`` turns the previous index and
the changed entries into the next one. The shared attribute layouts (``Layout``, one per attribute combination) are
interned here.
"""

from __future__ import annotations

import gc
import itertools
import threading
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from directory import dit
from directory.ldap import columns, schema
from directory.ldap import messages as m
from directory.ldap.backend import (
    ZDICT_SAMPLE,
    DirectoryIndex,
    DnTable,
    IndexedEntry,
    Item,
    Layout,
    LazyEntries,
    items_of,
    pack,
    preset,
)
from directory.ldap.ber import enc_str, tlv
from directory.ldap.dn import normalize_dn, parent_dn
from directory.ldap.filters import prepare_entry
from directory.snapshot import OfficeView, RegionView, Snapshot

_LAYOUTS: dict[tuple[str, ...], Layout] = {}
CACHE_RESET = 20_000


def _layout(keys: tuple[str, ...], names: tuple[str, ...]) -> Layout:
    found = _LAYOUTS.get(names)
    if found is None:
        if len(_LAYOUTS) > 10_000:  # layouts are few (one per attribute combination); bound it anyway
            _LAYOUTS.clear()
        found = _LAYOUTS[names] = Layout(keys, names)
    return found


Values = tuple[str, ...]


def index_entry(entry: dit.Entry, cache: dict[tuple[str, str], str], tuples: dict[Values, Values]) -> IndexedEntry:
    """Prepare and encode one DIT entry (done once; unchanged entries are reused by the next Snapshot).

    ``cache`` and ``tuples`` live for one index build: they share equal prepared strings and tuples between
    entries (``st``, ``l``, ``postalCode`` … repeat thousands of times)."""
    names = tuple(entry.attrs)
    keys = []
    parts = []
    for name, values in entry.attrs.items():
        at = schema.lookup(name)
        keys.append(at.key if at else name.lower())
        parts.append(m.encode_attribute(name, values))
    norm = normalize_dn(entry.dn)
    if norm == entry.dn:
        norm = entry.dn
    dn_enc = enc_str(entry.dn)
    body = b"".join(parts)
    seq = tlv(0x30, body)
    full = tlv(m.SEARCH_ENTRY, dn_enc + seq)
    start = len(full) - len(dn_enc) - len(seq)
    first = start + len(dn_enc) + len(seq) - len(body)
    spans = array("I", [start, start + len(dn_enc), *itertools.accumulate((len(p) for p in parts), initial=first)])
    prepared = {key: tuples.setdefault(values, values) for key, values in prepare_entry(entry.attrs, cache).items()}
    return IndexedEntry(entry.dn, norm, prepared, _layout(tuple(keys), names), spans, full)


class Indexer:
    """Builds the DirectoryIndex of each new Snapshot, reusing the entries of regions and offices that did not change
    (the walk mirrors ``dit.entries`` but asks ``dit`` for each entry only on a change, so a single edit is indexed
    in a fraction of a second instead of re-encoding all ~31,000 entries)."""

    def __init__(self, base_dn: str, confirmed_attribute: str = "") -> None:
        self.base_dn = base_dn
        self.confirmed_attribute = confirmed_attribute  # see dit.office_entry
        self._lock = threading.Lock()
        self._made: _Made | None = None  # what the previous index was made of, to reuse its unchanged entries
        self._previous: DirectoryIndex | None = None
        self._gatherer: Gatherer | None = None  # during a first build

    @property
    def image_key(self) -> str:
        """What the index depends on besides the data: saved in and checked against the start-up image."""
        return f"ldap {self.base_dn}\n{self.confirmed_attribute}"

    def adopt(self, index: DirectoryIndex, snap: Snapshot) -> None:
        """Patch from ``index`` (the index of ``snap``, read from the start-up image) next: pair its entries, as they
        are held, with the regions and offices they were made of, walking the DIT in the order ``_walk`` made them."""
        with self._lock:
            if index is self._previous:
                return
            items, at, pos = items_of(index.entries), {}, 1
            for province in snap.provinces():
                for region in snap.descendants(province.code):
                    at[region.code] = pos
                    office = snap.offices.get(region.code)
                    pos += 1 + (_entry_count(office) if office is not None else 0)
            if pos != len(items):
                return  # not this Snapshot's index: the next change builds from scratch
            self._made, self._previous = _Made(snap.regions, snap.offices, at, items), index

    def __call__(self, snap: Snapshot) -> DirectoryIndex:
        with self._lock:
            enabled = gc.isenabled()
            gc.disable()  # ~1M small objects: the cyclic collector would triple the build time
            try:
                prev = self._previous
                like = prev.entries if prev is not None and isinstance(prev.entries, LazyEntries) else None
                self._cache: dict[tuple[str, str], str] = {}  # for this build only: kept, it would pin every
                self._tuples: dict[Values, Values] = {}  # raw value of the directory (~15 MB)
                try:
                    zdict = like.zdict if like is not None else self._preset(snap)
                    # The first build gathers each entry as it is made, before packing it; later ones reuse most
                    # entries packed, and gather in a pass over them only when they cannot patch.
                    self._gatherer = Gatherer() if prev is None else None
                    items = self._walk(snap, zdict)
                    gatherer, self._gatherer = self._gatherer, None
                finally:
                    self._cache, self._tuples = {}, {}
                entries = LazyEntries(items, like, zdict)
                if gatherer is not None and len(gatherer.parents) == len(items):
                    index = gatherer.index(entries, self.base_dn, snap.generation)
                elif (
                    prev is not None
                    and len(prev.entries) == len(items)
                    and all(
                        a is b or prev.entries[k].norm == entries[k].norm
                        for k, (a, b) in enumerate(zip(items_of(prev.entries), items, strict=True))
                    )
                ):
                    index = patch(prev, entries, snap.generation)
                else:
                    index = assemble(entries, self.base_dn, snap.generation)
                self._previous = index
                # No gc.freeze() here: frozen objects are never collected, so every replaced Snapshot (Snapshot
                # and its derived indexes reference each other) would leak for the life of the process. The
                # service's holder freezes between swaps instead (SnapshotHolder.settle_memory).
                return index
            finally:
                if enabled:
                    gc.enable()

    def _preset(self, snap: Snapshot) -> bytes:
        """The preset dictionary entries are packed with: a few regions' and offices' entries across the DIT."""
        regions = [r for province in snap.provinces() for r in snap.descendants(province.code)]
        sample = []
        for region in regions[:: max(1, 2 * len(regions) // ZDICT_SAMPLE)]:
            sample.append(index_entry(dit.region_entry(snap, region, self.base_dn), self._cache, self._tuples))
            office = snap.offices.get(region.code)
            if office is not None:
                entry = dit.office_entry(snap, office, self.base_dn, self.confirmed_attribute)
                sample.append(index_entry(entry, self._cache, self._tuples))
        return preset(sample)

    def _walk(self, snap: Snapshot, zdict: bytes) -> list[Item]:
        """The DIT's entries in order: unchanged ones as they were held, new ones packed as soon as they are made
        (so a full build never holds every entry whole; ``LazyEntries`` makes them again as queries need them)."""
        self._zdict = zdict
        made, at = self._made, {}
        out: list[Item] = [self._new(dit.base_entry(self.base_dn))]
        for province in snap.provinces():
            for region in snap.descendants(province.code):
                at[region.code] = len(out)
                office = snap.offices.get(region.code)
                k = made.at.get(region.code) if made is not None else None
                if made is None or k is None or made.regions.get(region.code) != region:
                    out.append(self._new(dit.region_entry(snap, region, self.base_dn)))
                    if office is not None:
                        out.extend(self._office(snap, office))
                    continue
                out.append(made.items[k])
                if office is not None:
                    if made.offices.get(region.code) == office:
                        out.extend(made.items[k + 1 : k + 1 + _entry_count(office)])
                    else:
                        out.extend(self._office(snap, office))
        self._made = _Made(snap.regions, snap.offices, at, out)
        return out

    def _new(self, entry: dit.Entry) -> bytes:
        if len(self._cache) > CACHE_RESET:
            self._cache, self._tuples = {}, {}
        indexed = index_entry(entry, self._cache, self._tuples)
        if self._gatherer is not None:
            self._gatherer.add(indexed)
        return pack(indexed, self._zdict)

    def _office(self, snap: Snapshot, office: OfficeView) -> list[Item]:
        entries: list[Item] = [self._new(dit.office_entry(snap, office, self.base_dn, self.confirmed_attribute))]
        for contact in office.contacts:
            if contact.email and contact.email.isascii():
                entries.append(self._new(dit.contact_entry(snap, office, contact, self.base_dn)))
        return entries


@dataclass(frozen=True, slots=True)
class _Made:
    """What an index was made of: the Snapshot's regions and offices (its own mappings, not copies), where each
    region's entry is among the items (its office's entries follow it), and the items as the index holds them."""

    regions: Mapping[str, RegionView]
    offices: Mapping[str, OfficeView]
    at: dict[str, int]
    items: Sequence[Item]


def _entry_count(office: OfficeView) -> int:
    """The office's entries: its own and one per contact with an address mail clients can use (as ``dit`` makes)."""
    return 1 + sum(1 for c in office.contacts if c.email and c.email.isascii())


def build_index(snap: Snapshot, base_dn: str) -> DirectoryIndex:
    """Index every entry of the DIT of ``snap`` under ``base_dn`` from scratch."""
    return Indexer(base_dn)(snap)


def assemble(entries: Sequence[IndexedEntry], base_dn: str, generation: int) -> DirectoryIndex:
    """The index of ``entries`` (in DIT order) from scratch, in one pass over them that keeps none of them whole."""
    gatherer = Gatherer()
    for e in _each(entries):
        gatherer.add(e)
    return gatherer.index(entries, base_dn, generation)


class Gatherer:
    """What a full build needs of each entry, taken entry by entry in DIT order (as the first build makes them,
    before they are packed, or in a pass over them): DNs, parents, and every value of each attribute with its
    owner. ``index`` then makes the sorted columns and texts from those."""

    def __init__(self) -> None:
        self.by_dn: dict[str, int] = {}
        self.by_raw: dict[str, int] = {}
        self.parents = array("i")
        self.present: dict[str, array[int]] = {}
        self.values: dict[str, tuple[list[str], array[int]]] = {}  # in DIT order, with the owner of each
        self.repeated: set[str] = set()  # attributes with an entry that holds one value twice

    def add(self, e: IndexedEntry) -> None:
        i, present = len(self.parents), self.present
        self.by_dn[e.norm] = i
        if e.dn != e.norm:  # the others are found in by_dn as they are
            self.by_raw[e.dn] = i
        parent_norm = parent_dn(e.norm)
        self.parents.append(self.by_dn.get(parent_norm, -1) if parent_norm else -1)
        for key, values in e.prepared.items():
            if key not in present:
                present[key], self.values[key] = array("i"), ([], array("i"))
            present[key].append(i)
            if values:
                if len(values) > 1 and len(set(values)) < len(values):
                    self.repeated.add(key)
                vs, owners = self.values[key]
                vs.extend(values)
                owners.extend(itertools.repeat(i, len(values)))

    def index(self, entries: Sequence[IndexedEntry], base_dn: str, generation: int) -> DirectoryIndex:
        if len(self.parents) != len(entries):
            raise AssertionError(f"{len(self.parents)} entries gathered for an index of {len(entries)}")
        by_dn, self.by_dn = DnTable.of(self.by_dn), {}
        index = DirectoryIndex(base_dn, generation, entries, by_dn, self.by_raw, self.parents)
        index.present = self.present
        _finish(index)
        values, self.values = self.values, {}
        # The largest first, while little else is held; each attribute's values go once its columns are made.
        for key in sorted(values, key=lambda k: len(values[k][0]), reverse=True):
            all_values, owners = values.pop(key)
            columns.key_indexes(index, key, all_values, owners, key in self.repeated)
        return index


def _each(entries: Sequence[IndexedEntry]) -> Iterator[IndexedEntry]:
    return entries.each() if isinstance(entries, LazyEntries) else iter(entries)


def patch(prev: DirectoryIndex, entries: Sequence[IndexedEntry], generation: int) -> DirectoryIndex:
    """The index of ``entries`` (same DNs in the same order as ``prev``) made by copying only what changed;
    ``prev`` stays intact for readers still holding the old Snapshot."""
    pairs = zip(items_of(prev.entries), items_of(entries), strict=True)
    changed = [i for i, (a, b) in enumerate(pairs) if a is not b]
    index = DirectoryIndex(prev.base_dn, generation, entries, prev.by_dn, prev.by_raw, prev.parents)
    index.end = prev.end
    index.present = dict(prev.present)
    index.sorted_keys, index.texts = dict(prev.sorted_keys), dict(prev.texts)
    was = {i: prev.entries[i].prepared for i in changed}
    now = {i: entries[i].prepared for i in changed}
    keys = {k for i in changed for k in was[i].keys() | now[i].keys() if was[i].get(k) != now[i].get(k)}
    for key in sorted(keys):
        olds = {i: was[i].get(key, ()) for i in changed}
        news = {i: now[i].get(key, ()) for i in changed}
        if any((key in was[i]) != (key in now[i]) for i in changed):
            columns.patch_present(index, key, {i for i in changed if key in now[i]}, set(changed))
        at = schema.lookup(key)
        if at is None or at.kind in ("dn", "bool") or key not in index.present:
            index.sorted_keys.pop(key, None)
            index.texts.pop(key, None)
            continue
        columns.patch_sorted(index, key, olds, news)
        if at.kind not in ("string", "phone"):
            continue
        if key in index.texts and all(len(olds[i]) == len(news[i]) for i in changed):
            columns.patch_text(index, key, news)
        else:
            columns.relined(index, key, news)
    return index


def _finish(index: DirectoryIndex) -> None:
    n = len(index.entries)
    size = [1] * n
    parents = index.parents
    for i in range(n - 1, -1, -1):
        if parents[i] >= 0:
            size[parents[i]] += size[i]
    index.end = array("i", [i + size[i] for i in range(n)])
    for i in range(n):  # the DIT walk is depth first: every subtree is one id range
        p = parents[i]
        if p >= 0 and not (p < i < index.end[p]):
            raise AssertionError(f"DIT order broken at {index.entries[i].dn}")


def index_for(snap: Snapshot, base_dn: str) -> DirectoryIndex:
    """The Snapshot's LDAP index (built on first use if no builder was registered)."""
    return snap.derived("ldap", lambda s: build_index(s, base_dn))
