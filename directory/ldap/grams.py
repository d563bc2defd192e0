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
Grams: TypeAlias = "dict[str, array[int]]"


def pairs(line: str) -> set[str]:
    """The pairs of neighbouring characters of ``line`` with a non-ASCII character."""
    if line.isascii():
        return set()
    return {a + b for a, b in itertools.pairwise(line) if not (a.isascii() and b.isascii())}


def build(lines: Iterable[str]) -> Grams:
    found: dict[str, list[int]] = {}
    for n, line in enumerate(lines):
        for pair in pairs(line):
            found.setdefault(pair, []).append(n)
    return {pair: array("i", lines_of) for pair, lines_of in found.items()}


def patch(grams: Mapping[str, array[int]], changed: Mapping[int, tuple[str, str]]) -> Grams:
    """New postings with ``changed`` (line → (old text, new text)) applied; ``grams`` is left as it was."""
    out = dict(grams)
    for n, (old, new) in changed.items():
        before, after = pairs(old), pairs(new)
        for pair in before - after:
            lines_of = array("i", out[pair])
            del lines_of[bisect.bisect_left(lines_of, n)]
            if lines_of:
                out[pair] = lines_of
            else:
                del out[pair]
        for pair in after - before:
            lines_of = array("i", out.get(pair, ()))
            lines_of.insert(bisect.bisect_left(lines_of, n), n)
            out[pair] = lines_of
    return out


def lines_with(grams: Mapping[str, array[int]], needle: str) -> array[int] | None:
    """The candidate lines for ``needle`` (those holding its rarest pair), or None when pairs cannot narrow it."""
    wanted = pairs(needle)
    if not wanted:
        return None
    best: array[int] | None = None
    for pair in wanted:
        lines_of = grams.get(pair)
        if lines_of is None:
            return array("i")  # a pair no line holds: no line holds the needle
        if best is None or len(lines_of) < len(best):
            best = lines_of
    return best


def scan(text: str, starts: array[int], ids: array[int], lines: array[int], needle: str, first: int) -> Iterator[int]:
    """Owners (ascending, once each) of the candidate ``lines`` from line ``first`` on that contain ``needle``."""
    find, n, last = text.find, len(starts), -1
    for line in lines[bisect.bisect_left(lines, first) :]:
        end = starts[line + 1] - 1 if line + 1 < n else len(text)
        if ids[line] != last and find(needle, starts[line], end) >= 0:
            last = ids[line]
            yield last
