"""Building the LDAP index: the Snapshot's DIT indexed and pre-encoded once per Snapshot, and patched per change.

Owns: ``build_index(snap, base_dn)`` and ``Indexer`` (registered as the Snapshot's ``"ldap"`` derived value), which
take the entries of ``directory.dit``, prepare their values for matching (``index_entry``), encode each entry once,
and build indexes — sorted (value, id) columns for equality and prefix (``v*``) filters, presence, and
per-attribute text for ``*v*`` filters scanned at C speed in DIT order; the subtree of every entry is a contiguous
id range. ``patch`` turns the previous index and the changed entries into the next one. The shared attribute
layouts (``Layout``, one per attribute combination) are interned here.
"""

from __future__ import annotations

import bisect
import gc
import itertools
import threading
from array import array
from collections.abc import Sequence

from directory import dit
from directory.ldap import grams, schema
from directory.ldap import messages as m
from directory.ldap.backend import DirectoryIndex, IndexedEntry, Item, Layout, TextIndex, entries_of, items_of
from directory.ldap.ber import enc_str, tlv
from directory.ldap.dn import normalize_dn, parent_dn
from directory.ldap.filters import prepare_entry
from directory.snapshot import OfficeView, RegionView, Snapshot

_LAYOUTS: dict[tuple[str, ...], Layout] = {}


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
        self._regions: dict[str, tuple[RegionView, Item]] = {}
        self._offices: dict[str, tuple[OfficeView, RegionView, list[Item]]] = {}
        self._previous: DirectoryIndex | None = None

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
            regions: dict[str, tuple[RegionView, Item]] = {}
            offices: dict[str, tuple[OfficeView, RegionView, list[Item]]] = {}
            items, at = items_of(index.entries), 1
            for province in snap.provinces():
                for region in snap.descendants(province.code):
                    if at >= len(items):
                        return  # not this Snapshot's index: the next change builds from scratch
                    regions[region.code] = (region, items[at])
                    at += 1
                    office = snap.offices.get(region.code)
                    if office is not None:
                        n = 1 + sum(1 for c in office.contacts if c.email and c.email.isascii())
                        offices[region.code] = (office, region, list(items[at : at + n]))
                        at += n
            if at != len(items):
                return
            self._regions, self._offices, self._previous = regions, offices, index

    def __call__(self, snap: Snapshot) -> DirectoryIndex:
        with self._lock:
            enabled = gc.isenabled()
            gc.disable()  # ~1M small objects: the cyclic collector would triple the build time
            try:
                self._cache: dict[tuple[str, str], str] = {}  # for this build only: kept, it would pin every
                self._tuples: dict[Values, Values] = {}  # raw value of the directory (~15 MB)
                try:
                    items = self._walk(snap)
                finally:
                    self._cache, self._tuples = {}, {}
                prev = self._previous
                entries = entries_of(items, prev.entries if prev else None)
                if (
                    prev is not None
                    and len(prev.entries) == len(items)
                    and all(
                        a is b or prev.entries[k].norm == entries[k].norm
                        for k, (a, b) in enumerate(zip(items_of(prev.entries), items, strict=True))
                    )
                ):
                    index = patch(prev, entries, snap.generation)
                else:
                    index = assemble(list(entries), self.base_dn, snap.generation)
                self._previous = index
                # No gc.freeze() here: frozen objects are never collected, so every replaced Snapshot (Snapshot
                # and its derived indexes reference each other) would leak for the life of the process. The
                # service's holder freezes between swaps instead (SnapshotHolder.settle_memory).
                return index
            finally:
                if enabled:
                    gc.enable()

    def _walk(self, snap: Snapshot) -> list[Item]:
        regions: dict[str, tuple[RegionView, Item]] = {}
        offices: dict[str, tuple[OfficeView, RegionView, list[Item]]] = {}
        out: list[Item] = [index_entry(dit.base_entry(self.base_dn), self._cache, self._tuples)]
        for province in snap.provinces():
            for region in snap.descendants(province.code):
                out.append(self._region(snap, region, regions))
                office = snap.offices.get(region.code)
                if office is not None:
                    out.extend(self._office(snap, region, office, offices))
        self._regions, self._offices = regions, offices
        return out

    def _region(self, snap: Snapshot, region: RegionView, seen: dict[str, tuple[RegionView, Item]]) -> Item:
        old = self._regions.get(region.code)
        entry: Item = (
            old[1]
            if old and old[0] == region
            else index_entry(dit.region_entry(snap, region, self.base_dn), self._cache, self._tuples)
        )
        seen[region.code] = (region, entry)
        return entry

    def _office(
        self,
        snap: Snapshot,
        region: RegionView,
        office: OfficeView,
        seen: dict[str, tuple[OfficeView, RegionView, list[Item]]],
    ) -> list[Item]:
        old = self._offices.get(region.code)
        entries: list[Item]
        if old and old[0] == office and old[1] == region:
            entries = old[2]
        else:
            entry = dit.office_entry(snap, office, self.base_dn, self.confirmed_attribute)
            entries = [index_entry(entry, self._cache, self._tuples)]
            for contact in office.contacts:
                if contact.email and contact.email.isascii():
                    entry = dit.contact_entry(snap, office, contact, self.base_dn)
                    entries.append(index_entry(entry, self._cache, self._tuples))
        seen[region.code] = (office, region, entries)
        return entries


def build_index(snap: Snapshot, base_dn: str) -> DirectoryIndex:
    """Index every entry of the DIT of ``snap`` under ``base_dn`` from scratch."""
    return Indexer(base_dn)(snap)


def assemble(entries: list[IndexedEntry], base_dn: str, generation: int) -> DirectoryIndex:
    index = DirectoryIndex(base_dn, generation, entries)
    by_dn = index.by_dn
    parents = [-1] * len(entries)
    present: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        by_dn[e.norm] = i
        if e.dn != e.norm:  # the others are found in by_dn as they are
            index.by_raw[e.dn] = i
        parent_norm = parent_dn(e.norm)
        parent = by_dn.get(parent_norm, -1) if parent_norm else -1
        parents[i] = parent
        for key in e.prepared:
            present.setdefault(key, []).append(i)
    index.parents = array("i", parents)
    index.present = {key: array("i", ids) for key, ids in present.items()}
    _finish(index)
    return index


def patch(prev: DirectoryIndex, entries: Sequence[IndexedEntry], generation: int) -> DirectoryIndex:
    """The index of ``entries`` (same DNs in the same order as ``prev``) made by copying only what changed;
    ``prev`` stays intact for readers still holding the old Snapshot."""
    pairs = zip(items_of(prev.entries), items_of(entries), strict=True)
    changed = [i for i, (a, b) in enumerate(pairs) if a is not b]
    index = DirectoryIndex(prev.base_dn, generation, entries, prev.by_dn, prev.by_raw, prev.parents)
    index.end = prev.end
    index.present = dict(prev.present)
    index.sorted_keys, index.texts = dict(prev.sorted_keys), dict(prev.texts)
    keys: set[str] = set()
    for i in changed:
        old, new = prev.entries[i].prepared, entries[i].prepared
        keys.update(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    for key in keys:
        olds = {i: prev.entries[i].prepared.get(key, ()) for i in changed}
        news = {i: entries[i].prepared.get(key, ()) for i in changed}
        if all(len(olds[i]) == len(news[i]) for i in changed) and key in index.sorted_keys:
            _patch_sorted(index, key, olds, news)
            if key in index.texts:
                _patch_text(index, key, news)
        else:
            index.present[key] = array("i", [i for i, e in enumerate(entries) if key in e.prepared])
            _key_indexes(index, key)
    return index


def _patch_sorted(
    index: DirectoryIndex, key: str, olds: dict[int, tuple[str, ...]], news: dict[int, tuple[str, ...]]
) -> None:
    if key not in index.sorted_keys:
        return
    keys, ids = list(index.sorted_keys[key][0]), list(index.sorted_keys[key][1])
    for i, values in olds.items():
        for v in dict.fromkeys(values):
            lo, hi = bisect.bisect_left(keys, v), bisect.bisect_right(keys, v)
            at = lo + ids[lo:hi].index(i)
            del keys[at], ids[at]
    for i, values in news.items():
        for v in dict.fromkeys(values):
            lo, hi = bisect.bisect_left(keys, v), bisect.bisect_right(keys, v)
            at = bisect.bisect_left(ids, i, lo, hi)  # equal values stay ordered by id
            keys.insert(at, v)
            ids.insert(at, i)
    index.sorted_keys[key] = (keys, array("i", ids))


def _patch_text(index: DirectoryIndex, key: str, news: dict[int, tuple[str, ...]]) -> None:
    """Replace the changed lines in place (same number of values per entry, so line numbers stay)."""
    old = index.texts[key]
    text, starts = old.text, list(old.starts)
    lines: dict[int, tuple[str, str]] = {}
    for i, values in sorted(news.items()):
        first = bisect.bisect_left(old.ids, i)
        for n, v in enumerate(values):
            line = first + n
            end = starts[line + 1] - 1 if line + 1 < len(starts) else len(text)
            new = v.replace("\n", " ")
            lines[line] = (text[starts[line] : end], new)
            delta = len(new) - (end - starts[line])
            text = text[: starts[line]] + new + text[end:]
            if delta:
                starts[line + 1 :] = [x + delta for x in starts[line + 1 :]]
    postings = grams.patch(old.grams, lines) if old.grams is not None else None
    index.texts[key] = TextIndex(text, array("i", starts), old.ids, postings)


def _key_indexes(index: DirectoryIndex, key: str) -> None:
    at = schema.lookup(key)
    if at is None or at.kind in ("dn", "bool") or not index.present.get(key):
        index.sorted_keys.pop(key, None)
        index.texts.pop(key, None)
        return
    entries = index.entries
    values: list[str] = []
    owners: list[int] = []
    for i in index.present[key]:
        unique = dict.fromkeys(entries[i].prepared[key])
        values.extend(unique)
        owners.extend(itertools.repeat(i, len(unique)))
    order = sorted(range(len(values)), key=values.__getitem__)  # stable: equal values stay in id order
    index.sorted_keys[key] = ([values[j] for j in order], array("i", [owners[j] for j in order]))
    if at.kind in ("string", "phone"):
        _text(index, key)
    else:
        index.texts.pop(key, None)


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
    for key in index.present:
        _key_indexes(index, key)


def _text(index: DirectoryIndex, key: str) -> None:
    entries = index.entries
    owners = index.present[key]
    counts = [len(entries[i].prepared[key]) for i in owners]
    lines = [v.replace("\n", " ") for i in owners for v in entries[i].prepared[key]]
    ids = list(itertools.chain.from_iterable(itertools.repeat(i, c) for i, c in zip(owners, counts, strict=True)))
    starts = [0, *itertools.accumulate(len(line) + 1 for line in lines)][:-1]
    postings = grams.build(lines) if key in grams.GRAM_KEYS else None
    index.texts[key] = TextIndex("\n".join(lines), array("i", starts), array("i", ids), postings)


def index_for(snap: Snapshot, base_dn: str) -> DirectoryIndex:
    """The Snapshot's LDAP index (built on first use if no builder was registered)."""
    return snap.derived("ldap", lambda s: build_index(s, base_dn))
