"""Two-character postings: the lines they find for a needle are exactly the lines a scan finds, before and after
lines change, and a patch leaves the postings it started from as they were."""

from __future__ import annotations

import pickle
import random
from array import array

import pytest

from directory.ldap import grams

NAMES = ["张伟", "王芳", "长安区人口服务中心", "石家庄市长安区", "李娜", "Zhang Wei", "赵敏 办公室", "长安街道", "王五"]


def _index(lines: list[str]) -> tuple[str, array[int], array[int]]:
    starts = array("i")
    at = 0
    for line in lines:
        starts.append(at)
        at += len(line) + 1
    return "\n".join(lines), starts, array("i", range(len(lines)))


def _found(lines: list[str], postings: grams.Postings, needle: str) -> list[int] | None:
    candidates = grams.lines_with(postings, needle)
    if candidates is None:
        return None
    text, starts, ids = _index(lines)
    return list(grams.scan(text, starts, ids, candidates, needle, 0))


def _needles(rng: random.Random, lines: list[str]) -> list[str]:
    out = ["长安", "王芳", "长安区人", "区长", "不在", "Wei", "张伟 "]
    for _ in range(40):
        line = rng.choice(lines)
        if len(line) >= 2:
            at = rng.randrange(len(line) - 1)
            out.append(line[at : at + rng.choice((2, 3))])
    return out


def test_the_lines_found_are_the_lines_a_scan_finds() -> None:
    rng = random.Random(7)
    lines = [rng.choice(NAMES) + rng.choice(("", "一", "二")) for _ in range(300)]
    postings = grams.build(lines)
    for needle in _needles(rng, lines):
        found = _found(lines, postings, needle)
        if found is None:  # ASCII only or one character: the caller scans instead
            assert needle.isascii() or len(needle) < 2
            continue
        assert found == [n for n, line in enumerate(lines) if needle in line], needle
    assert _found(lines, postings, "长安") and _found(lines, postings, "不在") == []


def test_a_patch_gives_the_postings_of_the_new_lines_and_keeps_the_old() -> None:
    rng = random.Random(11)
    lines = [rng.choice(NAMES) for _ in range(200)]
    postings = grams.build(lines)
    kept = postings.as_dict()
    new = list(lines)
    changed: dict[int, tuple[str, str]] = {}
    for n in rng.sample(range(len(lines)), 30):
        new[n] = rng.choice(NAMES) + "新"
        changed[n] = (lines[n], new[n])
    assert grams.patch(postings, changed) == grams.build(new)
    assert postings.as_dict() == kept


def test_patches_pile_up_apart_until_the_postings_are_packed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grams, "REBUILD_AT", 8)
    rng = random.Random(13)
    lines = [rng.choice(NAMES) for _ in range(100)]
    postings = grams.build(lines)
    for step in range(12):
        n = rng.randrange(len(lines))
        new = rng.choice(NAMES) + rng.choice(("", "新", "旧区"))
        postings = grams.patch(postings, {n: (lines[n], new)})
        lines[n] = new
        assert len(postings.patched) < 8, step  # packed again once it would hold 8 pairs
        assert postings == grams.build(lines)
        assert pickle.loads(pickle.dumps(postings)) == postings
        for needle in _needles(rng, lines)[:10]:
            found = _found(lines, postings, needle)
            assert found is None or found == [i for i, line in enumerate(lines) if needle in line], needle


def test_owners_of_a_pair_are_the_owners_a_scan_finds_and_their_first_n_too() -> None:
    """A needle of two characters is its own pair: ``PairOwners`` takes its postings' lines without checking them,
    and ``first`` (read a chunk of lines at a time) agrees with reading them one by one, for any bounds."""
    rng = random.Random(7)
    lines = [rng.choice(NAMES) for _ in range(600)]
    text, starts, _ = _index(lines)
    owners = array("i", sorted(rng.randrange(150) for _ in lines))  # several lines per owner, as an entry's values
    postings = grams.build(lines)
    for needle in ["长安", "王芳", "张伟", "区人", "人口", "不在", *_needles(rng, lines)]:
        needle = needle[:2]
        candidates = grams.lines_with(postings, needle)
        if len(needle) != 2 or candidates is None:
            continue
        for first_line in (0, 1, 37, 599, 600):
            scanned = list(grams.scan(text, starts, owners, candidates, needle, first_line))
            pair = grams.PairOwners(owners, candidates, first_line)
            assert list(pair) == scanned, needle
            for n, lo, hi in [(1, 0, 150), (5, 0, 150), (100, 0, 150), (3, 20, 60), (10, 149, 150), (4, 60, 20)]:
                assert pair.first(n, lo, hi) == [o for o in scanned if lo <= o < hi][:n], (needle, n, lo, hi)
