"""The per-attribute parts of an LDAP index: the sorted column (equality and prefix filters), the text and its
two-character postings (``*v*`` filters), and the list of entries holding the attribute.

Owns: making them from every value of an attribute in DIT order (``key_indexes``, for ``indexing.assemble``) and
patching them from the changed entries' old and new values (``patch_*`` and ``relined``, for ``indexing.patch``),
so that a patched index equals the one a full build makes.
"""

from __future__ import annotations

import bisect
import itertools
from array import array

from directory.ldap import grams, schema
from directory.ldap.backend import DirectoryIndex, TextIndex


def key_indexes(index: DirectoryIndex, key: str, values: list[str], owners: array[int], repeated: bool) -> None:
    """The sorted column and (for text kinds) the text of ``key``, from all its values in DIT order (``repeated``:
    some entry holds a value twice, which the sorted column holds once)."""
    at = schema.lookup(key)
    if at is None or at.kind in ("dn", "bool") or not values:
        return
    if repeated:
        unique = list(dict.fromkeys(zip(owners, values, strict=True)))
        ids, sort_values = array("i", (i for i, _ in unique)), [v for _, v in unique]
    else:
        ids, sort_values = owners, values
    if at.kind in ("string", "phone"):
        text_index(index, key, values, owners)
    index.sorted_keys[key] = _sorted(sort_values, ids)


def _sorted(values: list[str], ids: array[int]) -> tuple[list[str], array[int]]:
    """``values`` sorted with their ``ids``, equal values in id order (as given). A column of few distinct values
    (object classes, provinces) is sorted by bucket, without the int object per value a sort by position needs."""
    distinct = set(values)
    if len(distinct) * 8 > len(values):
        order = sorted(range(len(values)), key=values.__getitem__)  # stable
        return list(map(values.__getitem__, order)), array("i", map(ids.__getitem__, order))
    buckets: dict[str, array[int]] = {v: array("i") for v in distinct}
    for v, i in zip(values, ids, strict=True):
        buckets[v].append(i)
    out_values: list[str] = []
    out_ids = array("i")
    for v in sorted(buckets):
        out_values += itertools.repeat(v, len(buckets[v]))
        out_ids += buckets[v]
    return out_values, out_ids


def patch_present(index: DirectoryIndex, key: str, holders: set[int], changed: set[int]) -> None:
    """The entries holding ``key``: those of ``changed`` that now hold it instead of those that did."""
    old = index.present.get(key, array("i"))
    ids = sorted(holders.union(i for i in old if i not in changed))
    if ids:
        index.present[key] = array("i", ids)
    else:
        index.present.pop(key, None)


def patch_sorted(
    index: DirectoryIndex, key: str, olds: dict[int, tuple[str, ...]], news: dict[int, tuple[str, ...]]
) -> None:
    column = index.sorted_keys.get(key)
    keys, ids = (list(column[0]), list(column[1])) if column is not None else ([], [])
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
    if keys:
        index.sorted_keys[key] = (keys, array("i", ids))
    else:
        index.sorted_keys.pop(key, None)


def patch_text(index: DirectoryIndex, key: str, news: dict[int, tuple[str, ...]]) -> None:
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


def relined(index: DirectoryIndex, key: str, news: dict[int, tuple[str, ...]]) -> None:
    """The text of ``key`` made again with the lines of the changed entries replaced (their number may differ)."""
    old = index.texts.get(key)
    old_ids = old.ids if old is not None else array("i")
    old_lines = old.text.split("\n") if old is not None and old_ids else []
    values: list[str] = []
    owners = array("i")
    pending = iter(sorted(news.items()))
    nxt = next(pending, None)
    for owner, line in zip(old_ids, old_lines, strict=True):
        while nxt is not None and nxt[0] <= owner:
            values.extend(nxt[1])
            owners.extend(itertools.repeat(nxt[0], len(nxt[1])))
            nxt = next(pending, None)
        if owner not in news:
            values.append(line)
            owners.append(owner)
    while nxt is not None:
        values.extend(nxt[1])
        owners.extend(itertools.repeat(nxt[0], len(nxt[1])))
        nxt = next(pending, None)
    text_index(index, key, values, owners)


def text_index(index: DirectoryIndex, key: str, values: list[str], owners: array[int]) -> None:
    if not values:
        index.texts.pop(key, None)
        return
    lines = [v.replace("\n", " ") for v in values]
    starts = array("i", itertools.accumulate((len(line) + 1 for line in lines), initial=0))  # no int object each
    starts.pop()
    postings = grams.build(lines) if key in grams.GRAM_KEYS else None
    index.texts[key] = TextIndex("\n".join(lines), starts, array("i", owners), postings)
