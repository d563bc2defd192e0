"""The search index as it was before the suffix-array rewrite (commit 8cfa763), kept verbatim as a test oracle.

Owns nothing in the service: ``tests/integration/test_search_equivalence.py`` ranks the same queries with this and
with ``directory.search`` and requires the same terms, hits (region code and score, in order) and totals. It scans
every office's text per query, so it is slow but easy to trust. Original docstring:

Query parsing and ranking over the Snapshot: one box that finds offices.

Owns: the search index (built once per Snapshot via ``Snapshot.derived``) and ``search(snapshot, query)``.
A query is split into terms; every term must match the office (AND). A term matches
- the office's own text by substring: unit name, contact names, e-mail, phone and fax digits in every form;
- the office's own region, or any ancestor region, by name (substring) or by pinyin / pinyin initials (prefix);
- a contact's pinyin or initials (prefix), the region code (prefix) and the postal code (prefix).
Scores: own exact 6 > own prefix 5 > own substring 4 > ancestor exact 3 > prefix 2 > substring 1, summed over
terms; ties go to the higher level (province first), then to the code. A query that looks like one phone number
(``0311-8765 4321``, ``+86 311…``) is a single digits term.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from directory.pinyin import pinyin_keys
from directory.snapshot import OfficeView, RegionView, Snapshot
from directory.validate import phone_digits

LEVEL_ORDER = {"province": 0, "city": 1, "county": 2, "township": 3}
MAX_QUERY = 200
MAX_TERMS = 8
OWN_EXACT, OWN_PREFIX, OWN_SUB = 6, 5, 4
ANC_EXACT, ANC_PREFIX, ANC_SUB = 3, 2, 1
_PHONE_LIKE = re.compile(r"^\+?[\d\s\-()（）]{5,}$")
_SPLIT = re.compile(r"[\s,，、;；]+")
_SEP, _REC = "\x00", "\x01"
OWN_KINDS = ("text", "mail", "digits")
_ASCII_WORD = re.compile(r"[A-Za-z0-9]")


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
    return "".join(ch for ch in text if ch >= " ").strip().lower()


def parse_terms(query: str) -> tuple[str, ...]:
    q = normalize_query(query)
    if not q:
        return ()
    if _PHONE_LIKE.match(q) and sum(ch.isdigit() for ch in q) >= 5:
        return ("".join(ch for ch in q if ch.isdigit()),)
    terms = [t for t in _SPLIT.split(q) if t]
    return tuple(dict.fromkeys(terms))[:MAX_TERMS]


class _Haystack:
    """Records of keys joined in one string, searched by ``str.find`` (C speed), with the match kind per record."""

    def __init__(self, records: list[str]) -> None:
        self.records = records
        self.text = "".join(records)
        self.starts = [0, *itertools.accumulate(len(r) for r in records)]

    @staticmethod
    def record(keys: Iterable[str]) -> str:
        return _REC + _SEP + _SEP.join(k for k in keys if k) + _SEP

    def find(self, term: str, scores: tuple[int, int, int]) -> dict[int, int]:
        """Record index → best score (exact, prefix, substring) for ``term``."""
        out: dict[int, int] = {}
        text, starts, n = self.text, self.starts, len(term)
        exact, prefix, sub = scores
        pos = text.find(term)
        while pos != -1:
            i = bisect.bisect_right(starts, pos) - 1
            end = starts[i + 1]
            best = 0
            while pos != -1 and pos < end:
                if text[pos - 1] == _SEP:
                    best = max(best, exact if text[pos + n] == _SEP else prefix)
                else:
                    best = max(best, sub)
                if best == exact:
                    break
                pos = text.find(term, pos + 1, end)
            out[i] = best
            pos = text.find(term, end)
        return out


class _PrefixIndex:
    """Sorted (key, record) pairs for prefix and exact matches (pinyin, initials, codes)."""

    def __init__(self, pairs: Iterable[tuple[str, int]]) -> None:
        self.items = sorted(set(pairs))
        self.keys = [k for k, _ in self.items]
        self.ids = [i for _, i in self.items]

    def find(self, term: str, exact: int, prefix: int, out: dict[int, int]) -> None:
        lo = bisect.bisect_left(self.keys, term)
        hi = bisect.bisect_left(self.keys, term + "\uffff", lo)
        for j in range(lo, hi):
            score = exact if self.keys[j] == term else prefix
            i = self.ids[j]
            if out.get(i, 0) < score:
                out[i] = score


class SearchIndex:
    """The index of one Snapshot. Given the previous index, it rebuilds only what changed: the region parts are
    shared while the regions are, and only offices that are not the very same OfficeView object are re-keyed."""

    codes: list[str]
    pos: dict[str, int]
    regions: list[RegionView]
    rank: list[tuple[int, str]]
    offices: list[OfficeView]
    own: dict[str, _Haystack]  # "text" (names), "mail", "digits": each term scans only the kind it can match
    own_prefix: _PrefixIndex
    region_codes: list[str]
    region_names: _Haystack
    region_pinyin: _PrefixIndex
    subtree: dict[str, list[int]]

    def __init__(self, snap: Snapshot, previous: SearchIndex | None = None) -> None:
        self.region_map = snap.regions  # not the Snapshot itself: it holds this index (no reference cycle)
        if previous is not None and (
            previous.region_map is not snap.regions or previous.pos.keys() != snap.offices.keys()
        ):
            previous = None
        self.codes = previous.codes if previous else sorted(snap.offices)
        self.pos = previous.pos if previous else {code: i for i, code in enumerate(self.codes)}
        self.offices = [snap.offices[c] for c in self.codes]
        self.regions = previous.regions if previous else [snap.regions[c] for c in self.codes]
        self.rank = previous.rank if previous else [(LEVEL_ORDER.get(r.level, 9), r.code) for r in self.regions]
        changed = (
            [i for i, o in enumerate(self.offices) if o is not previous.offices[i]]
            if previous
            else range(len(self.offices))
        )
        records = {
            kind: list(previous.own[kind].records) if previous else [""] * len(self.offices) for kind in OWN_KINDS
        }
        for i in changed:
            for kind, keys in self._own_keys(self.offices[i]).items():
                records[kind][i] = _Haystack.record(keys)
        self.own = {kind: _Haystack(records[kind]) for kind in OWN_KINDS}
        self.text_has_ascii = bool(_ASCII_WORD.search(self.own["text"].text))
        if previous:
            gone = set(changed)
            pairs = [p for p in previous.own_prefix.items if p[1] not in gone]
            pairs += [p for i in changed for p in self._prefix_keys(i)]
        else:
            pairs = [p for i in range(len(self.offices)) for p in self._prefix_keys(i)]
        self.own_prefix = _PrefixIndex(pairs)
        if previous:
            self.region_codes, self.region_names = previous.region_codes, previous.region_names
            self.region_pinyin, self.subtree = previous.region_pinyin, previous.subtree
        else:
            self.region_codes = sorted(snap.regions)
            self.region_names = _Haystack([_Haystack.record([snap.regions[c].name.lower()]) for c in self.region_codes])
            self.region_pinyin = _PrefixIndex(
                (key, j) for j, c in enumerate(self.region_codes) for key in pinyin_keys(snap.regions[c].name) if key
            )
            self.subtree = self._subtrees(snap)

    @staticmethod
    def _own_keys(o: OfficeView) -> dict[str, list[str]]:
        text = [o.unit_name.lower(), o.contact_name.lower(), *(c.name.lower() for c in o.contacts)]
        mail = [o.email.lower(), *(c.email.lower() for c in o.contacts)]
        digits = [*phone_digits(o.phone), *phone_digits(o.fax), *(d for c in o.contacts for d in phone_digits(c.phone))]
        return {"text": text, "mail": mail, "digits": digits}

    def _kinds_for(self, term: str) -> tuple[str, ...]:
        """Which haystacks can hold ``term``: digits only in phones, other ASCII in e-mail (and in names only if
        some name has Latin letters), anything else in names."""
        if term.isascii():
            if term.isdigit():
                return ("digits",)
            return ("mail", "text") if self.text_has_ascii else ("mail",)
        return ("text",)

    def _prefix_keys(self, i: int) -> Iterable[tuple[str, int]]:
        o = self.offices[i]
        yield o.region_code, i
        if o.postal_code:
            yield o.postal_code, i
        for name in (o.contact_name, *(c.name for c in o.contacts)):
            for key in pinyin_keys(name):
                if key:
                    yield key, i

    def _subtrees(self, snap: Snapshot) -> dict[str, list[int]]:
        """Region code → indexes of the offices strictly below it."""
        below: dict[str, list[int]] = {}
        for i, code in enumerate(self.codes):
            for anc in snap.ancestors(code):
                below.setdefault(anc.code, []).append(i)
        return below

    def term_scores(self, term: str) -> dict[int, int]:
        scores: dict[int, int] = {}
        for kind in self._kinds_for(term):
            for k, score in self.own[kind].find(term, (OWN_EXACT, OWN_PREFIX, OWN_SUB)).items():
                if scores.get(k, 0) < score:
                    scores[k] = score
        self.own_prefix.find(term, OWN_EXACT, OWN_PREFIX, scores)
        matched: dict[int, int] = self.region_names.find(term, (OWN_EXACT, OWN_PREFIX, OWN_SUB))
        self.region_pinyin.find(term, OWN_EXACT, OWN_PREFIX, matched)
        for j, own_score in matched.items():
            code = self.region_codes[j]
            i = self.pos.get(code)
            if i is not None and scores.get(i, 0) < own_score:
                scores[i] = own_score
            anc_score = own_score - 3
            for k in self.subtree.get(code, ()):
                if scores.get(k, 0) < anc_score:
                    scores[k] = anc_score
        return scores

    def search(self, query: str, limit: int = 50) -> SearchResult:
        terms = parse_terms(query)
        if not terms:
            return SearchResult(query, terms, (), 0)
        per_term = sorted((self.term_scores(t) for t in terms), key=len)
        total = dict(per_term[0])
        for scores in per_term[1:]:
            total = {i: s + scores[i] for i, s in total.items() if i in scores}
            if not total:
                break
        best = heapq.nsmallest(max(limit, 0), total, key=lambda i: (-total[i], self.rank[i]))
        hits = tuple(Hit(self.offices[i], self.regions[i], total[i]) for i in best)
        return SearchResult(query, terms, hits, len(total))


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
