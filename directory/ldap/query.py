"""The query side of the LDAP backend: candidate planning for a filter and scoped evaluation, both bounded.

Owns: ``plan`` (candidate ids from the index's sorted columns, presence lists and text scans, within a budget of
elements it may materialise, so a filter of many terms cannot hold the event loop with set work), ``scope_ids``,
and ``evaluate_steps``, a generator that evaluates a filter over the candidates in DIT order and yields whenever the
caller's ``due`` says its slice of the event loop is used up (see ``pacing``), checking the time limit as it goes.
Nothing here knows the protocol.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import time
from array import array
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeAlias, cast

from directory.ldap import filtertree as ft
from directory.ldap import grams, schema
from directory.ldap.filters import Predicate, compile_filter, distinct, prep_phone_piece, prep_string, prepare


class TextIndex(Protocol):
    """What a ``*v*`` scan reads of ``backend.TextIndex`` (described here so the backend may import this module)."""

    @property
    def text(self) -> str: ...
    @property
    def starts(self) -> array[int]: ...
    @property
    def ids(self) -> array[int]: ...
    @property
    def grams(self) -> grams.Postings | None: ...


class DirectoryIndex(Protocol):
    """What planning and evaluation read of ``backend.DirectoryIndex``."""

    @property
    def entries(self) -> Sequence[Any]: ...
    def child_ids(self, i: int) -> array[int]: ...
    @property
    def end(self) -> array[int]: ...
    @property
    def present(self) -> dict[str, array[int]]: ...
    @property
    def sorted_keys(self) -> dict[str, tuple[list[str], array[int]]]: ...
    @property
    def texts(self) -> Mapping[str, TextIndex]: ...
    @property
    def _sets(self) -> dict[int, tuple[list[int] | array[int], frozenset[int]]]: ...


ALL = 1 << 30  # "unknown, probably large" candidate estimate
# A plan: (estimated size, candidate ids ⊇ matches or None to scan the scope, whether the ids are exactly the
# matches). Candidates are an ascending list, an unordered set (sorted once, at the end), or an ascending iterator.
Plan = tuple[int, Iterable[int] | None, bool]
SCAN: Plan = (ALL, None, False)
_MATERIAL = (list, array, set, frozenset)
_NONE: array[int] = array("i")  # no ids (never written to)
Material: TypeAlias = "list[int] | array[int] | set[int] | frozenset[int]"
# A size-limited search with exact but lazily found candidates takes its first ids in one go below this limit: the
# work is bounded by the limit and the scans' own str.find, as it was one id at a time.
FIRST_AT_ONCE = 1024
CHECK_SECONDS = 0.0005  # aimed-for time between looks at the clock (one entry may test 256 terms, or one)
Steps = Generator[None, None, tuple[list[int], bool, bool]]


class Budget:
    """Ids the planner may still copy, hash or merge for one search (about four passes over the directory); past
    it a part of the filter is left to evaluation, which runs in slices, instead of being planned."""

    __slots__ = ("left", "lo")

    def __init__(self, left: int, lo: int = 0) -> None:
        self.left, self.lo = left, lo  # lo: candidates below this id are not wanted (a resumed page)

    @classmethod
    def of(cls, index: DirectoryIndex, lo: int = 0) -> Budget:
        return cls(4 * len(index.entries) + 65536, lo)

    def take(self, n: int) -> bool:
        if n > self.left:
            return False
        self.left -= n
        return True


def _never() -> bool:
    return False


# -- candidate planning --------------------------------------------------------------------------------------------


def plan(index: DirectoryIndex, f: ft.Filter, budget: Budget) -> Plan:
    """(estimated size, candidate ids ⊇ matches or None to scan the scope, whether the ids are exactly the
    matches so the filter need not be evaluated again); see ``Plan``."""
    if isinstance(f, ft.Compare) and f.op == "=":
        return _plan_equality(index, f, budget)
    if isinstance(f, ft.Present):
        at = schema.lookup(f.attr)
        if at is None:
            return 0, [], True
        ids = index.present.get(at.key, _NONE)
        return SCAN if at.key == "objectclass" else (len(ids), ids, True)
    if isinstance(f, ft.Substrings):
        return _plan_substrings(index, f, budget)
    if isinstance(f, ft.And):
        return _plan_and(index, f, budget)
    if isinstance(f, ft.Or):
        return _plan_or(index, f, budget)
    if isinstance(f, ft.Compare | ft.Extensible) and schema.lookup(f.attr or "") is None:
        return 0, [], True  # Undefined for every entry
    return SCAN


def _plan_equality(index: DirectoryIndex, f: ft.Compare, budget: Budget) -> Plan:
    at = schema.lookup(f.attr)
    if at is None or at.kind in ("dn", "bool"):
        return 0, [], True
    column = index.sorted_keys.get(at.key)
    if column is None:
        return 0, [], True
    keys, ids = column
    wanted = prepare(at.kind, f.value)
    lo = bisect.bisect_left(keys, wanted)
    hi = bisect.bisect_right(keys, wanted, lo)
    if not budget.take(hi - lo):
        return SCAN
    found = ids[lo:hi]  # one entry's values are unique, so ids of one value are ascending and unique
    return len(found), found, True


def _plan_and(index: DirectoryIndex, f: ft.And, budget: Budget) -> Plan:
    plans = sorted((plan(index, i, budget) for i in distinct(f.items)), key=lambda p: p[0])
    if len(plans) > 1 and all(p[2] and isinstance(p[1], _MATERIAL) for p in plans):
        first, *rest = (cast(Material, p[1]) for p in plans)
        if budget.take(len(first) * len(plans) + sum(_set_cost(index, ids) for ids in rest)):
            found = set(first).intersection(*(_as_set(index, ids) for ids in rest))
            return len(found), found, True
        return plans[0][0], plans[0][1], False  # the smallest, the filter evaluated over it
    return plans[0][0], plans[0][1], plans[0][2] and len(plans) == 1


def _set_cost(index: DirectoryIndex, ids: Material) -> int:
    if not isinstance(ids, list | array) or len(ids) < 64:
        return 0
    cached = index._sets.get(id(ids))
    return 0 if cached is not None and cached[0] is ids else len(ids)


def _as_set(index: DirectoryIndex, ids: Material) -> set[int] | frozenset[int]:
    if not isinstance(ids, list | array):
        return ids
    if len(ids) < 64:
        return set(ids)
    cached = index._sets.get(id(ids))
    if cached is None or cached[0] is not ids:
        if len(index._sets) >= 256:
            index._sets.clear()
        cached = index._sets[id(ids)] = (ids, frozenset(ids))
    return cached[1]


def _plan_or(index: DirectoryIndex, f: ft.Or, budget: Budget) -> Plan:
    plans = [plan(index, i, budget) for i in distinct(f.items)]
    total = unordered = 0
    material = exact = True
    for size, ids, whole in plans:
        if ids is None:
            return SCAN
        total += size
        exact = exact and whole
        if not isinstance(ids, _MATERIAL):
            material = False
        elif isinstance(ids, set | frozenset):
            unordered += size
    if material:
        if not budget.take(total):
            return SCAN
        found: set[int] = set().union(*(p[1] for p in plans if p[0]))  # type: ignore[arg-type]
        return len(found), found, exact
    if not budget.take(unordered):
        return SCAN
    iters = [_ascending(p[1]) for p in plans if p[0]]  # type: ignore[arg-type]
    if len(iters) <= 1:
        return (total, iters[0], exact) if iters else (0, [], True)
    return total, Union(iters), exact


def _plan_substrings(index: DirectoryIndex, f: ft.Substrings, budget: Budget) -> Plan:
    at = schema.lookup(f.attr)
    if at is None or at.kind not in ("string", "phone"):
        return 0, [], True
    if f.initial is not None and not f.any and f.final is None and at.key in index.sorted_keys:
        keys, ids = index.sorted_keys[at.key]
        prefix = prepare(at.kind, f.initial)
        lo = bisect.bisect_left(keys, prefix)
        hi = bisect.bisect_left(keys, prefix + "\U0010ffff")
        if not budget.take(hi - lo):
            return SCAN
        found = set(ids[lo:hi])
        return len(found), found, True
    prep = prep_phone_piece if at.kind == "phone" else prep_string
    pieces = [prep(p) for p in (*f.any, f.final) if p]
    if f.initial:
        pieces.append(prepare(at.kind, f.initial))
    needle = max(pieces, key=len, default="")
    text = index.texts.get(at.key)
    if not needle or text is None:
        ids = index.present.get(at.key, _NONE)
        return len(ids), ids, False
    # A line is one prepared value, so a lone *piece* (Thunderbird's and Apple's contains) found in a line is a
    # match: the filter need not be tested again. Phone values are prepared differently from their pieces.
    exact = at.kind == "string" and len(pieces) == 1 and f.initial is None and f.final is None
    lines = grams.lines_with(text.grams, needle) if text.grams is not None else None
    if lines is not None:  # the lines that hold the needle's rarest pair, each checked
        if not lines:
            return 0, [], True  # a pair of the needle is in no line
        first = bisect.bisect_left(text.ids, budget.lo) if budget.lo else 0
        if len(needle) == 2:  # the needle is its own pair: its postings are its lines
            return len(lines), grams.PairOwners(text.ids, lines, first), exact
        return len(lines), grams.scan(text.text, text.starts, text.ids, lines, needle, first), exact
    scanned = _scan(text, needle, budget.lo)
    return (len(text.ids) // 4 + 1, scanned, exact) if scanned is not None else (0, [], True)


# -- scoped evaluation ---------------------------------------------------------------------------------------------


def scope_ids(index: DirectoryIndex, base: int, scope: int) -> tuple[int, int, Sequence[int] | None]:
    """(lo, hi, explicit list or None) of the ids in the search scope."""
    if scope == 0:
        return base, base + 1, [base]
    if scope == 1:
        return base, index.end[base], index.child_ids(base)
    return (base + 1 if scope == 3 else base), index.end[base], None


def evaluate_steps(
    index: DirectoryIndex,
    base: int,
    scope: int,
    f: ft.Filter,
    predicate: Predicate | None,
    limit: int,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
    *,
    start: int = 0,
    due: Callable[[], bool] = _never,
) -> Steps:
    """Matching ids in DIT order from id ``start`` on: (ids, more than ``limit`` matched, the deadline passed).
    Yields (to let the event loop run) whenever ``due()`` says so. ``predicate`` is compiled from ``f`` only when
    the index cannot answer the filter by itself."""
    lo, hi, explicit = scope_ids(index, base, scope)
    source: Iterable[int]
    exact = False  # the candidates are exactly the matches
    if explicit is not None:
        source = explicit[bisect.bisect_left(explicit, start) :] if start else explicit
    else:
        lo = max(lo, start)
        _, candidates, exact = plan(index, f, Budget.of(index, lo))
        if candidates is None:
            source = range(lo, hi)
        elif exact and limit < FIRST_AT_ONCE and not isinstance(candidates, _MATERIAL):
            # lazily found but exact (Thunderbird's contains filters): the few ids wanted, without a loop in Python
            found = list(_first(candidates, limit + 1, lo, hi))
            return found[:limit], len(found) > limit, False
        else:
            source = _clip(candidates, lo, hi)
            if exact and isinstance(source, _MATERIAL):  # the index answered the whole filter
                found = list(itertools.islice(source, limit + 1))
                return found[:limit], len(found) > limit, False
    if due():
        yield
    match = None if exact else predicate or compile_filter(f)  # exact candidates need no test
    out: list[int] = []
    entries = index.entries
    stride = left = 1  # entries between looks at the clock: doubled while that is cheap, halved when not
    last = clock()
    for i in source:
        left -= 1
        if not left:
            now = clock()
            if now > deadline:
                return out, False, True
            stride = min(stride * 2, 256) if now - last < CHECK_SECONDS else max(stride // 2, 1)
            if due():
                yield
                now = clock()
            left, last = stride, now
        if match is None or match(entries[i].prepared) is True:  # exact ones come from a scan, still timed
            if len(out) >= limit:
                return out, True, False
            out.append(i)
    return out, False, False


class Union:
    """The ids of several ascending streams (an Or with lazily scanned parts), ascending and each once. Iterated,
    it merges them one id at a time; ``first`` takes the few a size-limited search needs at C speed."""

    __slots__ = ("streams",)

    def __init__(self, streams: list[Iterable[int]]) -> None:
        self.streams = streams

    def __iter__(self) -> Iterator[int]:
        return _unique(heapq.merge(*self.streams))

    def first(self, n: int, lo: int, hi: int) -> list[int]:
        """The ``n`` smallest ids in [lo, hi). They are among the ``n`` first of each stream, and once ``n`` are
        found, a later stream is read only up to the largest of them (nothing above it can enter)."""
        found: list[int] = []
        for stream in self.streams:
            top = found[-1] if len(found) >= n else hi
            found = sorted(set(found).union(_first(stream, n, lo, top)))[:n]
        return found


def _first(ids: Iterable[int], n: int, lo: int, hi: int) -> Iterable[int]:
    """The ``n`` smallest of ascending ``ids`` in [lo, hi): taken in one go where the source can, else read."""
    if isinstance(ids, Union | grams.PairOwners):
        return ids.first(n, lo, hi)
    return itertools.islice(_clip(ids, lo, hi), n)


def _unique(ids: Iterable[int]) -> Iterator[int]:
    last = -1
    for i in ids:
        if i != last:
            yield i
            last = i


def _ascending(ids: Iterable[int]) -> Iterable[int]:
    return sorted(ids) if isinstance(ids, set | frozenset) else ids


def _clip(ids: Iterable[int], lo: int, hi: int) -> Iterable[int]:
    """The candidates inside the id range [lo, hi), ascending."""
    ids = _ascending(ids)
    if isinstance(ids, list | array):
        return ids[bisect.bisect_left(ids, lo) : bisect.bisect_left(ids, hi)]
    return _range(ids, lo, hi)


def _range(ids: Iterable[int], lo: int, hi: int) -> Iterator[int]:
    for i in ids:
        if i >= hi:
            return
        if i >= lo:
            yield i


def _scan(index: TextIndex, needle: str, lo: int = 0) -> Iterator[int] | None:
    """Owners of the lines that contain ``needle``, ascending, from the first line of id ``lo`` on; None when no
    line does (found by the first look, which costs nothing where the needle has characters the text has not, as
    Chinese in the ASCII text of mail addresses)."""
    text, starts, ids = index.text, index.starts, index.ids
    first = bisect.bisect_left(ids, lo) if lo else 0
    pos = text.find(needle, starts[first]) if first < len(starts) else -1
    return _owners(text, starts, ids, needle, pos) if pos >= 0 else None


def _owners(text: str, starts: array[int], ids: array[int], needle: str, pos: int) -> Iterator[int]:
    find, n, last = text.find, len(starts), -1
    while pos >= 0:
        line = bisect.bisect_right(starts, pos) - 1
        if ids[line] != last:
            last = ids[line]
            yield last
        pos = find(needle, starts[line + 1]) if line + 1 < n else -1
