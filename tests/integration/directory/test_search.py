"""Search over the full demo directory (SQLite and PostgreSQL) and `bohai search`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from directory.search import parse_terms, search
from directory.snapshot import SnapshotHolder
from directory.store import Store
from directory.validate import OfficeData

CHANGAN = "130102000000"


@pytest.fixture
def snap(demo_store: Store):  # type: ignore[no-untyped-def]
    return SnapshotHolder(demo_store).current


def codes(result: object) -> list[str]:
    return [h.office.region_code for h in result.hits]  # type: ignore[attr-defined]


def test_terms() -> None:
    assert parse_terms(" 石家庄  长安 ") == ("石家庄", "长安")
    assert parse_terms("0311-8765 4321") == ("031187654321",)
    assert parse_terms("+86 311 8765 4321") == ("8631187654321",)
    assert parse_terms("ＣＨＡＮＧＡＮ") == ("changan",)
    assert parse_terms("\x00\x01") == ()


def test_chinese_name_path_and_pinyin(snap) -> None:  # type: ignore[no-untyped-def]
    for query in ("长安区", "石家庄 长安", "changan", "caq", "CHANGAN"):
        result = search(snap, query)
        assert CHANGAN in codes(result), query
        assert all(
            "长安" in " ".join(h.region.path) or h.region.name.startswith("常安") or "changan" in query.lower()
            for h in result.hits
        )
    # exact region name first; ties go to the higher level
    assert codes(search(snap, "长安区"))[0] == CHANGAN
    assert codes(search(snap, "caq"))[0] == CHANGAN
    two = search(snap, "石家庄 长安")
    assert codes(two)[0] == CHANGAN
    assert all(h.region.path[1] == "石家庄市" for h in two.hits)
    levels = [h.region.level for h in search(snap, "石家庄 长安").hits]
    assert levels[0] == "county" and set(levels[1:]) == {"township"}


def test_contact_phone_email_postal_code(snap) -> None:  # type: ignore[no-untyped-def]
    office = snap.offices[CHANGAN]
    assert CHANGAN in codes(search(snap, office.contact_name))
    from directory.pinyin import pinyin_keys

    full, initials = pinyin_keys(office.contact_name)
    assert CHANGAN in codes(search(snap, full, limit=500))
    assert CHANGAN in codes(search(snap, initials, limit=5000))
    national = office.phone_display
    for form in (national, national.replace("-", ""), "+86 " + national[1:], national[-8:-3]):
        assert CHANGAN in codes(search(snap, form, limit=500)), form
    assert codes(search(snap, office.email)) == [CHANGAN]
    assert codes(search(snap, office.email.upper())) == [CHANGAN]
    assert CHANGAN in codes(search(snap, "050000", limit=1000))
    assert codes(search(snap, "130102"))[0] == CHANGAN


def test_nothing_found_and_limits(snap) -> None:  # type: ignore[no-untyped-def]
    assert search(snap, "zzzzqqq").hits == ()
    assert search(snap, "").total == 0
    many = search(snap, "街道", limit=5)
    assert len(many.hits) == 5 and many.total > 1000
    assert search(snap, "长" * 5000).total == 0  # long input is cut, not an error


async def test_edit_is_found_after_refresh(demo_store: Store) -> None:
    holder = SnapshotHolder(demo_store)
    data = OfficeData(CHANGAN, "长安区流动人口服务管理中心", "欧阳修远", "主任", "+8631187654321")
    await demo_store.run(demo_store.upsert_offices, [data], "t")
    assert search(holder.current, "欧阳修远").hits == ()
    await holder.refresh()
    assert codes(search(holder.current, "欧阳修远")) == [CHANGAN]
    assert CHANGAN in codes(search(holder.current, "oyxy"))


@pytest.mark.slow
def test_cli_search(sqlite_demo_url: str) -> None:
    env = {"BOHAI_DATABASE_URL": sqlite_demo_url, "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "liaison.cli", "search", "石家庄 长安", "--json", "--limit", "3"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    data = json.loads(out.stdout)
    assert data["total"] == 17 and len(data["hits"]) == 3
    assert data["hits"][0]["region_code"] == CHANGAN
    assert data["hits"][0]["phone"].startswith("0311-")
    missing = subprocess.run(
        [sys.executable, "-m", "liaison.cli", "search", "zzzzqqq"], capture_output=True, text=True, env=env
    )
    assert missing.returncode == 1 and "没有找到" in missing.stderr


async def test_incremental_refresh_equals_a_full_build(demo_store: Store) -> None:
    """Holders reload only the offices written since their generation, and the search index is patched; both must
    give exactly what a full load and a fresh index give."""
    import dataclasses

    from directory import demo, regions
    from directory.search import SearchIndex, SearchIndexer

    holder = SnapshotHolder(demo_store)
    holder.register("search", SearchIndexer())
    before = holder.current
    data = dataclasses.replace(demo.office_for(regions.by_code()[CHANGAN]), contact_name="公孙策略", liaison=True)
    await demo_store.run(demo_store.upsert_offices, [data], "t")  # also clears 河北's old liaison officer
    await demo_store.run(demo_store.verify_office, "130104000000", "t")
    assert await holder.refresh()
    patched = holder.current
    assert patched.regions is before.regions  # regions are shared, not reloaded
    full = SnapshotHolder(demo_store).current
    assert patched.generation == full.generation
    assert patched.offices == full.offices
    changed = {c for c in full.offices if patched.offices[c] is not before.offices[c]}
    assert changed == {CHANGAN, "130104000000", "130000000000"}
    fresh = SearchIndex(full)
    for query in ("公孙策略", "gscl", "changan", "石家庄 长安", "0311", "130104", "街道"):
        assert codes(search(patched, query, 100)) == codes(fresh.search(query, 100)), query
    assert codes(search(patched, "公孙策略")) == [CHANGAN]


async def test_a_carried_in_snapshot_is_taken_only_while_current_and_patches_like_its_own(demo_store: Store) -> None:
    """A holder may start from a Snapshot built elsewhere on the same data (a copy of the database): it takes it
    only while the generation matches, shares its search index but not its caches, and patches from that index."""
    import dataclasses

    from directory import demo, regions
    from directory.search import SearchIndex, SearchIndexer

    built = SnapshotHolder(demo_store).current
    index = built.derived("search", SearchIndexer())
    cache = built.derived("cache", lambda s: {"filled": True})
    carried = built.sharing("search")
    assert carried.offices is built.offices and carried.regions is built.regions
    assert carried.derived("search", SearchIndex) is index
    assert carried.derived("cache", lambda s: {}) == {}  # caches start empty
    assert cache == {"filled": True}

    holder = SnapshotHolder(demo_store, built.sharing("search"))
    assert holder.current.derived("search", SearchIndex) is index  # taken, not rebuilt
    indexer = SearchIndexer()
    holder.register("search", indexer)
    data = dataclasses.replace(demo.office_for(regions.by_code()[CHANGAN]), contact_name="司马光明")
    await demo_store.run(demo_store.upsert_offices, [data], "t")
    assert await holder.refresh()
    patched = holder.current.derived("search", SearchIndex)
    assert patched is not index and patched.base is index.base  # patched from the carried index, not rebuilt
    assert codes(search(holder.current, "司马光明")) == [CHANGAN]
    assert codes(search(built, "司马光明")) == []  # the carried-in Snapshot is untouched

    stale = SnapshotHolder(demo_store, built.sharing("search"))  # the store moved on since ``built``
    assert stale.current.generation == demo_store.generation() != built.generation
    assert codes(search(stale.current, "司马光明")) == [CHANGAN]


@pytest.mark.parametrize("settled", [False, True], ids=["plain", "settled"])
async def test_replaced_snapshots_are_freed(sqlite_demo_url: str, settled: bool) -> None:
    """A long-running service swaps Snapshots on every edit; the old ones (with their search and LDAP indexes)
    must be collectable, or each edit would leak a whole read model: also when the service has frozen the first one
    (out of the collector's way), as ``bohai serve`` does, so that nothing but reference counting can free it."""
    import dataclasses
    import gc
    import weakref

    from directory import demo, regions
    from directory.ldap.service import register_index
    from directory.search import SearchIndexer
    from directory.store import open_store

    store = open_store(sqlite_demo_url)
    try:
        holder = SnapshotHolder(store)
        holder.register("search", SearchIndexer())
        register_index(holder, "dc=bohai,dc=example")
        if settled:
            holder.settle_memory()
            assert gc.get_freeze_count() > 100_000  # the read model's containers are frozen, out of full collections
        old = weakref.ref(holder.current)
        data = demo.office_for(regions.by_code()[CHANGAN])
        for name in ("甲一", "乙二", "丙三"):
            await store.run(store.upsert_offices, [dataclasses.replace(data, contact_name=name)], "t")
            assert await holder.refresh()
        gc.collect()  # frozen objects are not collected: settled, only reference counting can free them
        assert old() is None
    finally:
        holder.unsettle_memory()
        assert gc.get_freeze_count() == 0
        store.close()
