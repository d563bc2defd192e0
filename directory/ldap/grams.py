"""Two-character postings of the name attributes, for ``*XY*`` and ``*XYZ*`` filters on Chinese names.

Owns: which attributes have postings (``GRAM_KEYS``: the ones address books search as you type), making them from
the lines of a ``TextIndex`` (every pair of neighbouring characters with a non-ASCII one → the ascending line
numbers that hold it), patching them when lines change (the previous index keeps its own), and the lines a needle
can be in. A needle of two characters or more is looked up by its rarest pair and each candidate line is checked
with ``str.find``, so the answer is exactly the lines a scan of the whole text would find, in the same order, at
the cost of a few lines instead of every line. Needles of one character, or of ASCII only, are scanned as before.
"""

from __future__ import annotations

import bisect
import itertools
from array import array
from collections.abc import Iterable, Iterator, Mapping
from typing import TypeAlias

GRAM_KEYS = frozenset({"cn", "sn", "givenname", "displayname"})
Lines: TypeAlias = "array[int] | memoryview"  # ascending line numbers (a view into ``Postings.lines``)
_EMPTY = array("i")
REBUILD_AT = 4096  # pairs patched since the last build before the postings are packed again


def pairs(line: str) -> set[str]:
    """The pairs of neighbouring characters of ``line`` with a non-ASCII character."""
    if line.isascii():
        return set()
    return {a + b for a, b in itertools.pairwise(line) if not (a.isascii() and b.isascii())}


def _code(pair: str) -> int:
    return ord(pair[0]) << 21 | ord(pair[1])  # code points fit in 21 bits


class Postings:
    """Pair → ascending line numbers, packed: the pairs' codes sorted in one array, every pair's lines one after
    another in another (12 bytes a pair and 4 a posting, where a dict of arrays costs some 200 bytes a pair). Pairs
    patched since the last packing are held apart in ``patched`` (an empty array: no line holds it any more)."""

    __slots__ = ("codes", "lines", "offsets", "patched")

    def __init__(
        self, codes: array[int], offsets: array[int], lines: array[int], patched: dict[int, array[int]] | None = None
    ) -> None:
        self.codes, self.offsets, self.lines = codes, offsets, lines
        self.patched: dict[int, array[int]] = patched if patched is not None else {}

    @classmethod
    def pack(cls, found: Mapping[int, Iterable[int]]) -> Postings:
        codes, offsets, lines = array("q"), array("i", [0]), array("i")
        for code in sorted(found):
            before = len(lines)
            lines.extend(found[code])
            if len(lines) > before:
                codes.append(code)
                offsets.append(len(lines))
        return cls(codes, offsets, lines)

    def __reduce__(self) -> tuple[type[Postings], tuple[object, ...]]:
        return Postings, (self.codes, self.offsets, self.lines, self.patched)

    def get(self, pair: str) -> Lines | None:
        """The lines holding ``pair`` (a read-only view), or None when none does."""
        return self._get(_code(pair))

    def _get(self, code: int) -> Lines | None:
        patched = self.patched.get(code)
        if patched is not None:
            return patched or None
        at = bisect.bisect_left(self.codes, code)
        if at == len(self.codes) or self.codes[at] != code:
            return None
        return memoryview(self.lines)[self.offsets[at] : self.offsets[at + 1]]

    def as_dict(self) -> dict[str, list[int]]:
        """Every pair with its lines (for tests and checks)."""
        codes = set(self.codes) | set(self.patched)
        out = {chr(c >> 21) + chr(c & 0x1FFFFF): list(self._get(c) or ()) for c in codes}
        return {pair: lines for pair, lines in out.items() if lines}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Postings) and self.as_dict() == other.as_dict()

    __hash__ = None  # type: ignore[assignment]


def build(lines: Iterable[str]) -> Postings:
    found: dict[int, array[int]] = {}  # arrays, not lists: a list would hold an int object for every posting
    for n, line in enumerate(lines):
        for pair in pairs(line):
            code = _code(pair)
            held = found.get(code)
            if held is None:
                held = found[code] = array("i")
            held.append(n)
    return Postings.pack(found)


def patch(grams: Postings, changed: Mapping[int, tuple[str, str]]) -> Postings:
    """New postings with ``changed`` (line → (old text, new text)) applied; ``grams`` is left as it was. The packed
    arrays are shared; the changed pairs go to ``patched``, packed again once it holds ``REBUILD_AT`` pairs."""
    patched = dict(grams.patched)
    out = Postings(grams.codes, grams.offsets, grams.lines, patched)
    for n, (old, new) in changed.items():
        before, after = pairs(old), pairs(new)
        for pair in before ^ after:  # a pair the line gained or lost
            code = _code(pair)
            lines_of = array("i", out._get(code) or _EMPTY)
            at = bisect.bisect_left(lines_of, n)
            if pair in after:
                lines_of.insert(at, n)
            elif at < len(lines_of) and lines_of[at] == n:
                del lines_of[at]
            patched[code] = lines_of
    if len(patched) < REBUILD_AT:
        return out
    return Postings.pack({code: out._get(code) or () for code in set(grams.codes) | set(patched)})


def lines_with(grams: Postings, needle: str) -> Lines | None:
    """The candidate lines for ``needle`` (those holding its rarest pair), or None when pairs cannot narrow it."""
    if len(needle) == 2:  # the commonest needle (a name of two characters) is its own one pair
        return None if needle.isascii() else (grams.get(needle) or _EMPTY)
    wanted = pairs(needle)
    if not wanted:
        return None
    best: Lines | None = None
    for pair in wanted:
        lines_of = grams.get(pair)
        if lines_of is None:
            return _EMPTY  # a pair no line holds: no line holds the needle
        if best is None or len(lines_of) < len(best):
            best = lines_of
    return best


class PairOwners:
    """The owners (ascending, once each) of the candidate lines from line ``first`` on, for a needle that is one pair:
    the lines of its postings are exactly the lines that hold it, so no line needs checking."""

    __slots__ = ("ids", "lines")

    def __init__(self, ids: array[int], lines: Lines, first: int) -> None:
        self.ids = ids
        self.lines = lines[bisect.bisect_left(lines, first) :]

    def __iter__(self) -> Iterator[int]:
        ids, last = self.ids, -1
        for line in self.lines:
            if ids[line] != last:
                last = ids[line]
                yield last

    def first(self, n: int, lo: int, hi: int) -> list[int]:
        """The ``n`` smallest owners in [lo, hi), read a chunk of lines at a time (no Python step per line)."""
        ids, lines, step = self.ids, self.lines, n + 16
        if len(lines) <= step:  # most pairs: every line in one go
            owners = list(dict.fromkeys(map(ids.__getitem__, lines)))
            return owners[bisect.bisect_left(owners, lo) : bisect.bisect_left(owners, hi)][:n]
        found: dict[int, None] = {}  # owners ascend with their lines: a dict keeps them in order, once each
        for at in range(0, len(lines), step):
            found.update(dict.fromkeys(map(ids.__getitem__, lines[at : at + step])))
            owners = list(found)
            if owners[-1] < lo:
                found.clear()
            elif owners[-1] >= hi or len(owners) - bisect.bisect_left(owners, lo) >= n:
                break
        owners = list(found)
        return owners[bisect.bisect_left(owners, lo) : bisect.bisect_left(owners, hi)][:n]


def scan(text: str, starts: array[int], ids: array[int], lines: Lines, needle: str, first: int) -> Iterator[int]:
    """Owners (ascending, once each) of the candidate ``lines`` from line ``first`` on that contain ``needle``."""
    find, n, last = text.find, len(starts), -1
    for line in lines[bisect.bisect_left(lines, first) :]:
        end = starts[line + 1] - 1 if line + 1 < n else len(text)
        if ids[line] != last and find(needle, starts[line], end) >= 0:
            last = ids[line]
            yield last
