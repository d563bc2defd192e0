"""Query parsing and ranking over the Snapshot: one box that finds offices.

Owns: the search index (built once per Snapshot via ``Snapshot.derived``, patched from the previous Snapshot's by
``SearchIndexer``) and ``search(snapshot, query)``. A query is split into terms; every term must match the office
(AND). A term matches
- the office's own text by substring: unit name, contact names, e-mail, phone and fax digits in every form;
- the office's own region, or any ancestor region, by name (substring) or by pinyin / pinyin initials (prefix);
- a contact's pinyin or initials (prefix), the region code (prefix) and the postal code (prefix).
Scores: own exact 6 > own prefix 5 > own substring 4 > ancestor exact 3 > prefix 2 > substring 1, summed over
terms; ties go to the higher level (province first), then to the code. A query that looks like one phone number
(``0311-8765 4321``, ``+86 311…``) is a single digits term. A digits-only term looks only in phone digits, another
ASCII term in e-mail (and in names only if some name has Latin letters or digits), any other term in names.

How it stays fast (no scan of the whole directory per query, no Python loop per matching office in the common case):
- Every region has a position, in rank order (level, then code), and offices are addressed by their region's
  position; so a set of positions sorted is already in tie order, and a region's subtree is a few runs of positions.
- Keys live in ``suffixkeys.Keys``: one string per kind with a suffix array, so a term's substring matches are one range
  found by bisection, the prefix and exact matches are filtered from it, and owners are array slices turned into
  sets at C speed. E-mail domains are indexed once per distinct domain.
- A term yields one set of positions per score (6…1); a one-term query takes its top hits tier by tier and counts
  the union, a longer query intersects the terms' unions first and scores only the offices in the intersection.
- The region part of the index is shared while the regions are. The office part is a base (built at the last full
  build) plus a small delta over the offices changed since, whose base entries are masked out; past
  ``REBUILD_AFTER`` changed offices the base is rebuilt.
"""

from __future__ import annotations

import heapq
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat

from directory.pinyin import pinyin_keys
from directory.privacy import EVERYTHING, Viewer, hider, office_for
from directory.snapshot import OfficeView, RegionView, Snapshot
from directory.suffixkeys import Keys
from directory.validate import phone_digits

LEVEL_ORDER = {"province": 0, "city": 1, "county": 2, "township": 3}
MAX_QUERY = 200
MAX_TERMS = 8
OWN_EXACT, OWN_PREFIX, OWN_SUB = 6, 5, 4
ANC_EXACT, ANC_PREFIX, ANC_SUB = 3, 2, 1
REBUILD_AFTER = 256  # changed offices in the delta before the office part is rebuilt (each patch rebuilds the delta)
_PHONE_LIKE = re.compile(r"^\+?[\d\s\-()（）]{5,}$")
_SPLIT = re.compile(r"[\s,，、;；]+")
_ASCII_WORD = re.compile(r"[A-Za-z0-9]")
_CONTROL = dict.fromkeys(range(32))  # characters below " " are dropped from queries


@dataclass(frozen=True, slots=True)
class Hit:
    office: OfficeView
    region: RegionView
    score: int

    def as_dict(self) -> dict[str, object]:
        """The public fields of a hit, as the CLI's ``--json`` and the JSON API show them."""
        return {**office_public(self.office, self.region), "score": self.score}


def office_public(office: OfficeView, region: RegionView) -> dict[str, object]:
    """An office's directory fields for display (phones in national form); no internal state."""
    return {
        "region_code": office.region_code,
        "region_path": list(region.path),
        "level": region.level,
        "unit_name": office.unit_name,
        "contact_name": office.contact_name,
        "position": office.position,
        "phone": office.phone_display,
        "fax": office.fax_display,
        "email": office.email,
        "address": office.address,
        "postal_code": office.postal_code,
        "liaison_officer": office.liaison,
        "demo": office.demo,
        "version": office.version,
    }


@dataclass(frozen=True, slots=True)
class SearchResult:
    query: str
    terms: tuple[str, ...]
    hits: tuple[Hit, ...]
    total: int


def normalize_query(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)[:MAX_QUERY]
    return text.translate(_CONTROL).strip().lower()


def parse_terms(query: str) -> tuple[str, ...]:
    q = normalize_query(query)
    if not q:
        return ()
    if _PHONE_LIKE.match(q) and sum(ch.isdigit() for ch in q) >= 5:
        return ("".join(ch for ch in q if ch.isdigit()),)
    terms = [t for t in _SPLIT.split(q) if t]
    return tuple(dict.fromkeys(terms))[:MAX_TERMS]


class _OfficeKeys:
    """The office part of the index for some positions: names, e-mail and phone digits (substring) and the region
    code, postal code and contacts' pinyin (prefix), plus which of those offices have Latin letters or digits in
    a name."""

    __slots__ = ("ascii_names", "digits", "mail", "prefix", "text")

    def __init__(self, offices: Sequence[OfficeView | None], positions: Iterable[int], owner_type: str) -> None:
        own = [(i, o) for i in positions if (o := offices[i]) is not None]
        names = [(i, self._names(o)) for i, o in own]
        self.ascii_names = frozenset(i for i, keys in names if any(_ASCII_WORD.search(k) for k in keys))
        self.text = Keys(names, substrings=True, owner_type=owner_type)
        del names
        self.mail = Keys(((i, self._mail(o)) for i, o in own), substrings=True, owner_type=owner_type, tail_after="@")
        self.digits = Keys(((i, self._digits(o)) for i, o in own), substrings=True, owner_type=owner_type)
        self.prefix = Keys(((i, self._prefix_keys(o)) for i, o in own), substrings=False, owner_type=owner_type)

    @staticmethod
    def _names(o: OfficeView) -> list[str]:
        return [o.unit_name.lower(), o.contact_name.lower(), *(c.name.lower() for c in o.contacts)]

    @staticmethod
    def _mail(o: OfficeView) -> list[str]:
        return [o.email.lower(), *(c.email.lower() for c in o.contacts)]

    @staticmethod
    def _digits(o: OfficeView) -> list[str]:
        return [*phone_digits(o.phone), *phone_digits(o.fax), *(d for c in o.contacts for d in phone_digits(c.phone))]

    @staticmethod
    def _prefix_keys(o: OfficeView) -> list[str]:
        keys = [o.region_code, o.postal_code]
        for name in (o.contact_name, *(c.name for c in o.contacts)):
            keys.extend(pinyin_keys(name))
        return keys

    def lookup(self, term: str, kinds: tuple[str, ...], exact: set[int], prefix: set[int], sub: set[int]) -> None:
        for kind in kinds:
            keys: Keys = getattr(self, kind)
            keys.lookup(term, exact, prefix, sub)
        self.prefix.lookup(term, exact, prefix, sub)


class SearchIndex:
    """The index of one Snapshot. Given the previous index, it rebuilds only what changed: the region part is shared
    while the regions are, and only offices that are not the very same OfficeView object go into the delta."""

    region_map: object
    regions: list[RegionView]  # by position: every region, in rank order
    codes: list[str]
    pos: dict[str, int]
    offices: list[OfficeView | None]  # by position
    vacant: frozenset[int]  # positions of regions without an office
    subtree: dict[int, tuple[range, ...]]  # position → runs of the positions strictly below it
    region_names: Keys
    region_pinyin: Keys
    base: _OfficeKeys
    stale: frozenset[int]  # offices changed since ``base`` was built: their base entries are ignored
    delta: _OfficeKeys | None  # the current keys of the stale offices
    text_has_ascii: bool

    def __init__(self, snap: Snapshot, previous: SearchIndex | None = None) -> None:
        self.region_map = snap.regions  # not the Snapshot itself: it holds this index (no reference cycle)
        if previous is not None and previous.region_map is not snap.regions:
            previous = None
        if previous is not None:
            self.regions, self.codes, self.pos = previous.regions, previous.codes, previous.pos
            self.subtree, self.region_names, self.region_pinyin = (
                previous.subtree,
                previous.region_names,
                previous.region_pinyin,
            )
        else:
            self.regions = sorted(snap.regions.values(), key=lambda r: (LEVEL_ORDER.get(r.level, 9), r.code))
            self.codes = [r.code for r in self.regions]
            self.pos = {code: i for i, code in enumerate(self.codes)}
            owner_type = self._owner_type()
            self.region_names = Keys(
                ((i, (r.name.lower(),)) for i, r in enumerate(self.regions)), substrings=True, owner_type=owner_type
            )
            self.region_pinyin = Keys(
                ((i, pinyin_keys(r.name)) for i, r in enumerate(self.regions)), substrings=False, owner_type=owner_type
            )
            self.subtree = self._subtrees(snap)
        offices = snap.offices
        self.offices = [offices.get(code) for code in self.codes]
        changed: list[int] = []
        stale: frozenset[int] = frozenset()
        if previous is None:
            self.vacant = frozenset(i for i, o in enumerate(self.offices) if o is None)
        else:
            changed = [i for i, (o, p) in enumerate(zip(self.offices, previous.offices, strict=True)) if o is not p]
            stale = previous.stale.union(changed)
            gone = {i for i in changed if self.offices[i] is None}
            self.vacant = previous.vacant.difference(changed).union(gone) if changed else previous.vacant
        if previous is None or len(stale) > REBUILD_AFTER:
            self.base = _OfficeKeys(self.offices, range(len(self.codes)), self._owner_type())
            self.stale, self.delta = frozenset(), None
        else:
            self.base, self.stale = previous.base, stale
            self.delta = _OfficeKeys(self.offices, sorted(stale), self._owner_type()) if changed else previous.delta
        self.text_has_ascii = bool(self.base.ascii_names - self.stale) or bool(self.delta and self.delta.ascii_names)

    def _owner_type(self) -> str:
        return "H" if len(self.codes) <= 1 << 16 else "I"

    def _subtrees(self, snap: Snapshot) -> dict[int, tuple[range, ...]]:
        """Position → runs of the positions strictly below it (a few runs: codes are hierarchical)."""
        below: dict[int, list[int]] = {}
        for i, code in enumerate(self.codes):
            for anc in snap.ancestors(code):
                below.setdefault(self.pos[anc.code], []).append(i)
        out: dict[int, tuple[range, ...]] = {}
        for i, found in below.items():
            found.sort()
            runs: list[range] = []
            start = prev = found[0]
            for k in found[1:]:
                if k != prev + 1:
                    runs.append(range(start, prev + 1))
                    start = k
                prev = k
            runs.append(range(start, prev + 1))
            out[i] = tuple(runs)
        return out

    def _kinds_for(self, term: str) -> tuple[str, ...]:
        """Which own kinds can hold ``term``: digits only in phones, other ASCII in e-mail (and in names only if
        some name has Latin letters or digits), anything else in names."""
        if term.isascii():
            if term.isdigit():
                return ("digits",)
            return ("mail", "text") if self.text_has_ascii else ("mail",)
        return ("text",)

    def term_tiers(self, term: str) -> tuple[list[tuple[int, set[int]]], set[int]]:
        """For one term: per score from 6 down, the positions that reach it (an office may be in several; its
        score is the first), and the union of all of them."""
        exact: set[int] = set()
        prefix: set[int] = set()
        sub: set[int] = set()
        kinds = self._kinds_for(term)
        self.base.lookup(term, kinds, exact, prefix, sub)
        if self.stale:
            exact -= self.stale
            prefix -= self.stale
            sub -= self.stale
            if self.delta is not None:
                self.delta.lookup(term, kinds, exact, prefix, sub)
        r_exact: set[int] = set()
        r_prefix: set[int] = set()
        r_sub: set[int] = set()
        self.region_names.lookup(term, r_exact, r_prefix, r_sub)
        self.region_pinyin.lookup(term, r_exact, r_prefix, r_sub)
        tiers = [(OWN_EXACT, exact), (OWN_PREFIX, prefix), (OWN_SUB, sub)]
        if r_exact or r_prefix or r_sub:
            r_prefix -= r_exact
            r_sub -= r_exact
            r_sub -= r_prefix
            vacant, subtree = self.vacant, self.subtree
            for own, anc_score, regions in (
                (exact, ANC_EXACT, r_exact),
                (prefix, ANC_PREFIX, r_prefix),
                (sub, ANC_SUB, r_sub),
            ):
                own |= regions - vacant if vacant else regions
                anc: set[int] = set()
                for r in regions:
                    runs = subtree.get(r)
                    if runs:
                        anc.update(*runs)
                if anc:
                    tiers.append((anc_score, anc - vacant if vacant else anc))
        tiers = [(score, found) for score, found in tiers if found]
        if len(tiers) < 2:
            return tiers, tiers[0][1] if tiers else exact
        return tiers, tiers[0][1].union(*(found for _, found in tiers[1:]))

    def rank(
        self, query: str, limit: int = 50, hide: Hide | None = None
    ) -> tuple[tuple[str, ...], list[tuple[int, int]], int]:
        """The query's terms, its best ``limit`` (position, score) pairs in order, and how many offices match;
        ``hide(term, matched)`` names the positions a term must not find (numbers the reader sees masked)."""
        terms = parse_terms(query)
        if not terms:
            return terms, [], 0
        per_term = [self.term_tiers(t) for t in terms]
        if hide is not None:
            per_term = [_without(tiers, hits, hide(t, hits)) for t, (tiers, hits) in zip(terms, per_term, strict=True)]
        per_term.sort(key=lambda tu: len(tu[1]))
        if len(per_term) == 1:
            tiers, matched = per_term[0]
            return terms, self._top_one(tiers, limit), len(matched)
        common = per_term[0][1]
        for _, matched in per_term[1:]:
            common = common & matched
            if not common:
                return terms, [], 0
        if limit <= 0:
            return terms, [], len(common)
        scores = dict.fromkeys(common, 0)
        for tiers, _ in per_term:
            left = set(common)
            for score, found in tiers:
                got = left & found
                for i in got:
                    scores[i] += score
                left -= got
                if not left:
                    break
        best = heapq.nsmallest(limit, scores, key=lambda i: (-scores[i], i))
        return terms, [(i, scores[i]) for i in best], len(common)

    @staticmethod
    def _top_one(tiers: list[tuple[int, set[int]]], limit: int) -> list[tuple[int, int]]:
        """The best ``limit`` of one term: tier by tier (scores descending), positions ascending in a tier."""
        out: list[tuple[int, int]] = []
        higher: set[int] | None = None  # the positions of the tiers taken so far
        for score, found in tiers:
            need = limit - len(out)
            if need <= 0:
                break
            tier = found - higher if higher else found
            if tier:
                out += zip(sorted(tier)[:need], repeat(score))
            higher = found if higher is None else higher | found
        return out

    def search(
        self, query: str, limit: int = 50, viewer: Viewer = EVERYTHING, snap: Snapshot | None = None
    ) -> SearchResult:
        """The ranked hits of ``query`` as ``viewer`` sees them: a number masked for them is shown masked and its
        hidden digits find nothing (``snap``, the indexed Snapshot, tells region codes that match instead)."""
        hide = None if viewer.everything or snap is None else hider(self.offices, snap, viewer)
        terms, ranked, total = self.rank(query, limit, hide)
        offices, regions = self.offices, self.regions
        hits = tuple(
            Hit(office_for(offices[i], viewer), regions[i], score)  # type: ignore[arg-type]
            for i, score in ranked
        )
        return SearchResult(query, terms, hits, total)


Hide = Callable[[str, set[int]], set[int]]


def _without(
    tiers: list[tuple[int, set[int]]], matched: set[int], hidden: set[int]
) -> tuple[list[tuple[int, set[int]]], set[int]]:
    if not hidden:
        return tiers, matched
    return [(score, found - hidden) for score, found in tiers if found - hidden], matched - hidden


class SearchIndexer:
    """A Snapshot builder (``holder.register("search", SearchIndexer())``) that patches the previous index."""

    image_key = "search"  # its index may be saved in the start-up image (directory.startimage)

    def __init__(self) -> None:
        self._previous: SearchIndex | None = None
        self._lock = threading.Lock()

    def __call__(self, snap: Snapshot) -> SearchIndex:
        with self._lock:
            self._previous = SearchIndex(snap, self._previous)
            return self._previous

    def adopt(self, index: SearchIndex, snap: Snapshot) -> None:
        """Patch from ``index`` (of ``snap``) next: an index this builder did not build, carried in by a Snapshot."""
        with self._lock:
            self._previous = index


def index(snap: Snapshot) -> SearchIndex:
    return snap.derived("search", SearchIndex)


def search(snap: Snapshot, query: str, limit: int = 50, viewer: Viewer = EVERYTHING) -> SearchResult:
    """Find offices for one query box as ``viewer`` sees them; see the module docstring for the rules."""
    return index(snap).search(query, limit, viewer, snap)
