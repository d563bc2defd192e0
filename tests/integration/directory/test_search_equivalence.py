"""The search index ranks exactly as the previous implementation (``tests/support/search_reference.py``) did.

Over the full demo directory on SQLite (the database is not the subject): the 1,000-query mix of ``bench/search.py``,
hand-picked edge cases (single characters, e-mail domains, long and phone-like input, several terms) and random
pieces of every searchable field; regions without an office; and indexes patched after edits (base + delta, and
past the rebuild threshold), compared with the oracle on the same Snapshot. Same terms, same hits (region code and
score, in order), same totals.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from bench.search import query_mix
from directory import demo, regions
from directory import search as new
from directory.snapshot import Snapshot, SnapshotHolder
from directory.store import open_store
from tests.support import search_reference as old

pytestmark = pytest.mark.slow

# fmt: off
EDGE = [
    "", " ", "镇", "街道", "区", "a", "1", "0", "demo", "bohai", ".", "@", "example", "@demo", "0@demo", "r13",
    "河北 街道", "石家庄 长安 区", "长" * 5000, "ＣＨＡＮＧＡＮ", "0311-8765 4321", "+86 311", "流动人口", "服务站",
    "zhang", "z", "x", "cx", "changan caq", "13", "1301", "130102000000", "050000", "05", "石家庄市 石家庄市",
    "河北省", "hebei", "hbs", "北京 东城", "beijing", "(", "-", "--", "中心", "liu", "88", "8", "2026", "8631",
    "\x00\x01", "a b c d e f g h i j", "镇 街道 区 县 市 省 乡 村 站",
]
# fmt: on


def ranked(result: object) -> tuple[object, ...]:
    hits = [(h.office.region_code, h.score) for h in result.hits]  # type: ignore[attr-defined]
    return (result.terms, hits, result.total)  # type: ignore[attr-defined]


def queries(snap: Snapshot, n_random: int = 200) -> list[str]:
    """The bench mix, the edge cases, and random pieces (2 characters or more: shorter ones match most of the
    directory and make the oracle slow; EDGE has some) of every searchable field, alone and with a region name."""
    rng = random.Random(20261130)
    offices = sorted(snap.offices.values(), key=lambda o: o.region_code)
    out = [*query_mix(snap), *EDGE]
    for _ in range(n_random):
        o = rng.choice(offices)
        r = snap.regions[o.region_code]
        fields = [o.unit_name, o.contact_name, o.email, o.phone, o.fax, r.name, o.postal_code, o.region_code]
        field = rng.choice([f for f in fields if len(f) > 1])
        a = rng.randrange(len(field) - 1)
        piece = field[a : rng.randrange(a + 2, len(field) + 1)]
        out += [piece, f"{piece} {rng.choice(r.path)}"]
    return out


def assert_same(snap: Snapshot, fresh: new.SearchIndex, texts: list[str], limits: tuple[int, ...] = (20, 3)) -> None:
    """The oracle ranks once per query at the largest limit: the order is total, so a smaller limit is a prefix."""
    reference = old.SearchIndex(snap)
    for q in texts:
        terms, hits, total = ranked(reference.search(q, max(limits)))
        for limit in limits:
            assert ranked(fresh.search(q, limit)) == (terms, hits[: max(limit, 0)], total), (q, limit)  # type: ignore[index]


@pytest.fixture
def snap(sqlite_demo_url: str) -> Snapshot:
    store = open_store(sqlite_demo_url)
    try:
        return SnapshotHolder(store).current
    finally:
        store.close()


def test_same_ranking_as_before(snap: Snapshot) -> None:
    assert_same(snap, new.SearchIndex(snap), queries(snap), limits=(20, 50, 3, 0))


def test_same_ranking_with_regions_without_office(snap: Snapshot) -> None:
    """Every third office gone (their regions stay, with subtrees below them)."""
    codes = sorted(snap.offices)
    sparse = Snapshot(snap.generation, snap.regions, {c: snap.offices[c] for i, c in enumerate(codes) if i % 3})
    assert len(sparse.offices) < len(snap.offices)
    assert_same(sparse, new.SearchIndex(sparse), queries(sparse, 100))


def test_same_ranking_after_offices_come_and_go(snap: Snapshot) -> None:
    """A patched index over a Snapshot where one region lost its office and another gained one."""
    codes = sorted(snap.offices)
    before = Snapshot(snap.generation, snap.regions, {c: snap.offices[c] for c in codes if c != "130104000000"})
    after = dict(before.offices)
    del after["130102000000"]
    after["130104000000"] = snap.offices["130104000000"]
    patched = new.SearchIndex(Snapshot(snap.generation + 1, snap.regions, after), new.SearchIndex(before))
    assert patched.pos["130102000000"] in patched.vacant and patched.pos["130104000000"] not in patched.vacant
    assert_same(Snapshot(snap.generation + 1, snap.regions, after), patched, [*EDGE, "长安区", "桥西区", "130104"])


async def test_same_ranking_after_patches(sqlite_demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Edits go into the delta over the shared base (names with Latin letters, new phones and e-mail domains),
    then past the rebuild threshold into a fresh base; every step ranks like the oracle on the same Snapshot."""
    store = open_store(sqlite_demo_url)
    try:
        holder = SnapshotHolder(store)
        holder.register("search", new.SearchIndexer())
        by_code = regions.by_code()
        first = new.index(holder.current)
        edits = [
            ("130102000000", {"contact_name": "Li Lei", "email": "li.lei@hebei.example"}),
            ("130104000000", {"unit_name": "桥西区 Service Center", "phone": "+8631187650000"}),
            ("370102000000", {"email": "office@demo.bohai.example", "fax": "+8653112345678"}),
            ("130105000000", {"unit_name": "新华区" + "流动人口服务管理" * 24}),  # 195 characters
        ]
        for code, changes in edits:
            data = dataclasses.replace(demo.office_for(by_code[code]), **changes)
            await store.run(store.upsert_offices, [data], "t")
            assert await holder.refresh()
            patched = new.index(holder.current)
            assert patched.base is first.base and patched.pos[code] in patched.stale
        assert_same(holder.current, patched, [*EDGE, "li lei", "lilei", "service", "8765", "hebei.example", "理流动"])
        monkeypatch.setattr(new, "REBUILD_AFTER", 2)
        data = dataclasses.replace(demo.office_for(by_code["110101000000"]), contact_name="王 Wang")
        await store.run(store.upsert_offices, [data], "t")
        assert await holder.refresh()
        rebuilt = new.index(holder.current)
        assert rebuilt.base is not first.base and not rebuilt.stale
        assert_same(holder.current, rebuilt, [*EDGE, "li lei", "wang", "王", "service", "hebei.example"])
    finally:
        store.close()
