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
- Keys live in ``_Keys``: one string per kind with a suffix array, so a term's substring matches are one range
  found by bisection, the prefix and exact matches are filtered from it, and owners are array slices turned into
  sets at C speed. E-mail domains are indexed once per distinct domain.
- A term yields one set of positions per score (6…1); a one-term query takes its top hits tier by tier and counts
  the union, a longer query intersects the terms' unions first and scores only the offices in the intersection.
- The region part of the index is shared while the regions are. The office part is a base (built at the last full
  build) plus a small delta over the offices changed since, whose base entries are masked out; past
  ``REBUILD_AFTER`` changed offices the base is rebuilt.
"""

from __future__ import annotations

import bisect
import heapq
import operator
import re
import threading
import unicodedata
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain, compress, repeat

from directory.pinyin import pinyin_keys
from directory.snapshot import OfficeView, RegionView, Snapshot
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
_MARK, _END, _TOP = "\x01", "\x00", "\U0010ffff"  # key start, key end, above every character in a key
_SAMPLE = 32  # every 32nd suffix is kept as a string for the first, C-level step of a lookup


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


def _ends(text: str, starts: array[int]) -> Iterator[int]:
    """Just past the END after each start."""
    return map(operator.add, map(text.index, repeat(_END), starts), repeat(1))


def _suffixes(text: str, starts: array[int]) -> list[str]:
    """The suffix from every start up to and with its END."""
    return list(map(text.__getitem__, map(slice, starts, _ends(text, starts))))


class _Keys:
    """Keys of owners (positions) in one string ``MARK key END MARK key END …`` with a suffix array over it.

    The array holds every key's first character position and (with ``substrings``) each later position whose
    suffix a longer key of the same owner does not already contain (a phone's ``n`` inside ``0n`` and ``86n`` adds
    only its start). Entries are sorted by their suffix up to END, so a term's matches are one range, found by a
    C bisection over every ``_SAMPLE``-th suffix kept as a string and a few probes in one block; the range's
    entries just after a MARK are the keys starting with the term, and those among the range's first entries
    (suffix ``term + END``) the keys equal to it. Costs 4 bytes per entry, plus its owner. Keys must not contain
    MARK, END or _TOP (control characters are rejected on input; _TOP is unassigned).

    With ``tail_after`` (``"@"`` for e-mail), what follows its first occurrence in a key (the domain, shared by
    many keys) is a key of ``tails``, once per distinct tail, with the owners of each: a term found inside a tail
    matches (as a substring) every owner of that tail, and no entry starts inside a tail in the main array.
    """

    __slots__ = ("chars", "owners", "sa", "sample", "substrings", "tail_owners", "tails", "text")

    def __init__(
        self,
        items: Iterable[tuple[int, Iterable[str]]],
        *,
        substrings: bool,
        owner_type: str,
        tail_after: str | None = None,
    ) -> None:
        self.substrings = substrings
        keys: list[str] = []
        owners: list[int] = []
        spans: list[int] = []  # how many of each key's leading positions are entries
        tails: dict[str, list[int]] = {}
        for owner, own in items:
            if not substrings:
                found = [k for k in own if k]
                keys += found
                owners += repeat(owner, len(found))
                continue
            covered = ""  # the owner's keys so far, longest first, joined by END
            for key in sorted(dict.fromkeys(own), key=len, reverse=True):
                if not key:
                    continue
                limit = len(key)
                if tail_after is not None and 0 < (cut := key.find(tail_after) + 1) < limit:
                    tails.setdefault(key[cut:], []).append(owner)
                    limit = cut
                span = 1
                if not covered:
                    span = limit
                else:  # key[span:] inside a longer key of this owner: so is every later suffix, stop there
                    while span < limit and key[span:] not in covered:
                        span += 1
                covered = f"{covered}{_END}{key}"
                keys.append(key)
                owners.append(owner)
                spans.append(span)
        self.tails = _Keys(enumerate((tail,) for tail in tails), substrings=True, owner_type="I") if tails else None
        self.tail_owners = [array(owner_type, found) for found in tails.values()]
        del tails
        self.text = text = f"{_MARK}{(_END + _MARK).join(keys)}{_END}" if keys else ""
        starts = array("I", map(operator.add, accumulate(map(len, keys), initial=1), range(0, 2 * len(keys), 2)))
        del keys
        if substrings:
            entries = array("I", chain.from_iterable(map(range, starts, map(operator.add, starts, spans))))
            owned = array(owner_type, chain.from_iterable(map(repeat, owners, spans)))
        else:
            entries, owned = starts[:-1], array(owner_type, owners)
        del starts, spans, owners
        order = self._order(text, entries)
        self.sa = array("I", map(entries.__getitem__, order))
        self.owners = array(owner_type, map(owned.__getitem__, order))
        del order, entries, owned
        # made after the transient strings are gone, so that the kept ones do not pin their memory
        picked = self.sa[::_SAMPLE]
        self.sample = _suffixes(text, picked)
        self.chars = frozenset(text) - {_MARK, _END}

    @staticmethod
    def _order(text: str, entries: array[int], chunk: int = 1 << 18) -> list[int]:
        """Indexes into ``entries`` in the order of their suffixes up to END; a few leading characters at a time,
        so that at most ``chunk`` suffix strings exist at once. Every step is a C loop."""
        if len(entries) <= chunk:
            return sorted(range(len(entries)), key=_suffixes(text, entries).__getitem__)
        counts = Counter(map(text.__getitem__, entries))
        order: list[int] = []
        group: set[str] = set()
        size = 0
        for first in [*sorted(counts), None]:  # None: the end, sort what is left
            if first is not None and (size + counts[first] <= chunk or not group):
                group.add(first)
                size += counts[first]
                continue
            wanted = list(compress(range(len(entries)), map(group.__contains__, map(text.__getitem__, entries))))
            suffixes = _suffixes(text, array("I", map(entries.__getitem__, wanted)))
            order += map(wanted.__getitem__, sorted(range(len(wanted)), key=suffixes.__getitem__))
            del suffixes
            group, size = {first} if first is not None else set(), counts[first] if first is not None else 0
        return order

    def _bound(self, probe: str) -> int:
        """The first entry whose suffix is >= probe (comparing the suffix's first ``len(probe)`` characters)."""
        k = bisect.bisect_left(self.sample, probe)
        if k == 0:
            return 0
        text, n = self.text, len(probe)
        hi = min(k * _SAMPLE, len(self.sa))
        return bisect.bisect_left(self.sa, probe, (k - 1) * _SAMPLE + 1, hi, key=lambda p: text[p : p + n])

    def _end(self, lo: int, probe: str) -> int:
        """The first entry after ``lo`` whose suffix does not start with ``probe`` (galloping: ranges are short)."""
        sa, text, n = self.sa, self.text, len(self.sa)
        step = 1
        while lo + step < n and text.startswith(probe, sa[lo + step]):
            lo += step
            step *= 2
        hi = min(lo + step, n)
        if hi - lo <= 1:
            return hi
        m = len(probe)
        return bisect.bisect_right(self.sa, probe, lo + 1, hi, key=lambda p: text[p : p + m])

    def lookup(self, term: str, exact: set[int], prefix: set[int], sub: set[int]) -> None:
        """Add the owners of keys equal to, starting with and (with ``substrings``) containing ``term``; an owner
        may be left out of a lower one when it is in a higher one (its score is the highest)."""
        if not self.chars.issuperset(term):
            return
        if self.tails is not None:
            inside: set[int] = set()
            self.tails.lookup(term, inside, inside, inside)
            for tail in inside:
                sub.update(self.tail_owners[tail])
        sa, text = self.sa, self.text
        lo = self._bound(term)
        if lo == len(sa) or not text.startswith(term, sa[lo]):
            return
        hi = self._end(lo, term)
        owners: Sequence[int] = self.owners[lo:hi]
        whole = term + _END  # entries whose key ends with the term come first in the range
        if text.startswith(whole, sa[hi - 1]):
            equal = hi
        else:
            equal = self._end(lo, whole) if text.startswith(whole, sa[lo]) else lo
        if self.substrings:
            sub.update(owners)
            starts = self._starts(lo, hi, owners)
            if equal == hi:
                exact.update(starts)
            else:
                if equal > lo:
                    exact.update(self._starts(lo, equal, self.owners[lo:equal]))
                prefix.update(starts)
        else:  # every entry is a key's start; the tiers need not repeat exact owners among the prefix ones
            exact.update(owners[: equal - lo])
            prefix.update(owners[equal - lo :])

    def _starts(self, lo: int, hi: int, owners: Sequence[int]) -> list[int]:
        """Of the entries in [lo, hi) and their ``owners``, the owners of those that are a key's first character."""
        if hi - lo == 1:
            return [owners[0]] if self.text[self.sa[lo] - 1] == _MARK else []
        before = map(self.text.__getitem__, map(operator.sub, self.sa[lo:hi], repeat(1)))
        return list(compress(owners, map(_MARK.__eq__, before)))


class _OfficeKeys:
    """The office part of the index for some positions: names, e-mail and phone digits (substring) and the region
    code, postal code and contacts' pinyin (prefix), plus which of those offices have Latin letters or digits in
    a name."""

    __slots__ = ("ascii_names", "digits", "mail", "prefix", "text")

    def __init__(self, offices: Sequence[OfficeView | None], positions: Iterable[int], owner_type: str) -> None:
        own = [(i, o) for i in positions if (o := offices[i]) is not None]
        names = [(i, self._names(o)) for i, o in own]
        self.ascii_names = frozenset(i for i, keys in names if any(_ASCII_WORD.search(k) for k in keys))
        self.text = _Keys(names, substrings=True, owner_type=owner_type)
        del names
        self.mail = _Keys(((i, self._mail(o)) for i, o in own), substrings=True, owner_type=owner_type, tail_after="@")
        self.digits = _Keys(((i, self._digits(o)) for i, o in own), substrings=True, owner_type=owner_type)
        self.prefix = _Keys(((i, self._prefix_keys(o)) for i, o in own), substrings=False, owner_type=owner_type)

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
            keys: _Keys = getattr(self, kind)
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
    region_names: _Keys
    region_pinyin: _Keys
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
            self.region_names = _Keys(
                ((i, (r.name.lower(),)) for i, r in enumerate(self.regions)), substrings=True, owner_type=owner_type
            )
            self.region_pinyin = _Keys(
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

    def rank(self, query: str, limit: int = 50) -> tuple[tuple[str, ...], list[tuple[int, int]], int]:
        """The query's terms, its best ``limit`` (position, score) pairs in order, and how many offices match."""
        terms = parse_terms(query)
        if not terms:
            return terms, [], 0
        per_term = sorted((self.term_tiers(t) for t in terms), key=lambda tu: len(tu[1]))
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

    def search(self, query: str, limit: int = 50) -> SearchResult:
        terms, ranked, total = self.rank(query, limit)
        offices, regions = self.offices, self.regions
        hits = tuple(Hit(offices[i], regions[i], score) for i, score in ranked)  # type: ignore[arg-type]
        return SearchResult(query, terms, hits, total)


class SearchIndexer:
    """A Snapshot builder (``holder.register("search", SearchIndexer())``) that patches the previous index."""

    def __init__(self) -> None:
        self._previous: SearchIndex | None = None
        self._lock = threading.Lock()

    def __call__(self, snap: Snapshot) -> SearchIndex:
        with self._lock:
            self._previous = SearchIndex(snap, self._previous)
            return self._previous


def index(snap: Snapshot) -> SearchIndex:
    return snap.derived("search", SearchIndex)


def search(snap: Snapshot, query: str, limit: int = 50) -> SearchResult:
    """Find offices for one query box; see the module docstring for the rules."""
    return index(snap).search(query, limit)
