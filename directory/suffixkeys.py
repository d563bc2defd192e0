"""Key tables for substring, prefix and exact lookup of many short keys: one string with a suffix array over it.

Owns: ``Keys`` — the keys of owners (small integers) in one string ``MARK key END MARK key END …``, with a suffix
array sorted by each suffix up to its key's END, so a term's substring matches are one range found by bisection,
the prefix and exact matches are filtered from that range, and owners are array slices turned into sets at C speed.
Optionally, what follows a separator in a key (an e-mail's domain) is indexed once per distinct tail. Nothing here
knows offices or regions; ``directory.search`` decides which keys an office or region has.
"""

from __future__ import annotations

import bisect
import operator
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate, chain, compress, repeat

_MARK, _END, _TOP = "\x01", "\x00", "\U0010ffff"  # key start, key end, above every character in a key
_SAMPLE = 32  # every 32nd suffix is kept as a string for the first, C-level step of a lookup


def _ends(text: str, starts: array[int]) -> Iterator[int]:
    """Just past the END after each start."""
    return map(operator.add, map(text.index, repeat(_END), starts), repeat(1))


def _suffixes(text: str, starts: array[int]) -> list[str]:
    """The suffix from every start up to and with its END."""
    return list(map(text.__getitem__, map(slice, starts, _ends(text, starts))))


class Keys:
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
        self.tails = Keys(enumerate((tail,) for tail in tails), substrings=True, owner_type="I") if tails else None
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
