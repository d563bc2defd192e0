"""The LDAP index over a city of the demo directory: incremental rebuild after a change equals a full build.

How long that rebuild takes is a figure of ``bench/instances.py``, not a test: timings flake on busy cores.
"""

from __future__ import annotations

import dataclasses

from directory.ldap import filtertree as ft
from directory.ldap.backend import DirectoryIndex, IndexedEntry, items_of
from directory.ldap.indexing import Indexer, assemble
from directory.snapshot import SnapshotHolder, build
from directory.store import open_store
from directory.validate import OfficeData
from tests.support.ldap import BASE

CODE = "130102000000"


def _same(a: DirectoryIndex, b: DirectoryIndex) -> None:
    assert [e.dn for e in a.entries] == [e.dn for e in b.entries]
    assert a.present == b.present
    assert a.sorted_keys == b.sorted_keys
    assert {k: (t.text, t.starts, t.ids, t.grams) for k, t in a.texts.items()} == {
        k: (t.text, t.starts, t.ids, t.grams) for k, t in b.texts.items()
    }
    assert a.end == b.end and a.parents == b.parents
    under: dict[int, list[int]] = {}
    for i, parent in enumerate(a.parents):
        under.setdefault(parent, []).append(i)
    for i in range(len(a.entries)):  # the children found by hopping over subtrees are those naming i as parent
        assert list(a.child_ids(i)) == list(b.child_ids(i)) == under.get(i, [])


def test_one_change_is_patched_into_the_index_as_a_full_build_would(sqlite_city_url: str) -> None:
    store = open_store(sqlite_city_url)
    try:
        indexer = Indexer(BASE)
        first = indexer(build(*store.load_all()))
        office = store.get_office(CODE)
        assert office is not None
        fields = {f.name: office[f.name] for f in dataclasses.fields(OfficeData) if f.name in office}
        new = OfficeData(**{**fields, "email": "longer.address@example.org", "phone": "0311-86012345", "position": ""})
        store.save_office(new, "test", expected_version=office["version"])
        snap = build(*store.load_all())
        patched = indexer(snap)
        assert patched is not first and first.find(f"uid={CODE},ou={CODE},ou=130100000000,ou=130000000000,{BASE}")
        _same(patched, assemble([*patched.entries], BASE, snap.generation))
        wanted = ft.Compare("=", "mail", "Longer.Address@example.org")
        _, i, exact = patched.plan(wanted)
        assert exact and [patched.entries[x].prepared["uid"] for x in i] == [(CODE,)]
        assert list(first.plan(wanted)[1]) == []  # the old Snapshot's index is untouched
        assert "title" not in patched.entries[i[0]].prepared
        assert "title" not in patched.entries[i[0]].layout.keys
        assert b"longer.address@example.org" in patched.entries[i[0]].full
    finally:
        store.close()


def _fields(store: object, code: str) -> dict[str, object]:
    office = store.get_office(code)  # type: ignore[attr-defined]
    assert office is not None
    return {f.name: office[f.name] for f in dataclasses.fields(OfficeData) if f.name in office} | {
        "version": office["version"]
    }


def test_edits_that_change_how_many_values_or_entries_there_are_give_what_a_full_build_gives(
    sqlite_city_url: str,
) -> None:
    """A first build holds no entry whole (each is packed as it is made); edits that add or drop an attribute or an
    entry, or change how many values one has, give the index a full build of the same data gives, and an entry is
    made whole again only where it changed."""
    store = open_store(sqlite_city_url)
    try:
        indexer = Indexer(BASE)
        first = indexer(build(*store.load_all()))
        assert all(isinstance(item, bytes) for item in items_of(first.entries))
        again = Indexer(BASE)(build(*store.load_all()))
        _same(again, assemble([*again.entries], BASE, again.generation))

        before = _fields(store, CODE)
        version = before.pop("version")
        fax = "" if before["fax"] else "0311-86012346"
        new = OfficeData(**{**before, "fax": fax, "position": "", "address": f"{before['address']}二楼"})  # type: ignore[arg-type]
        store.save_office(new, "test", expected_version=version)  # type: ignore[arg-type]
        snap = build(*store.load_all())
        patched = indexer(snap)
        assert len(patched.entries) == len(first.entries)  # patched, not built again
        assert sum(isinstance(item, IndexedEntry) for item in items_of(patched.entries)) <= 3
        patched_at = snap.generation

        store.add_contact(CODE, "新联系人", "test", email="new.contact@example.org", position="科员")
        snap = build(*store.load_all())
        grown = indexer(snap)
        assert len(grown.entries) == len(patched.entries) + 1
        assert sum(isinstance(item, IndexedEntry) for item in items_of(grown.entries)) <= 3
        wanted = ft.Compare("=", "mail", "new.contact@example.org")
        _, ids, exact = grown.plan(wanted)
        assert exact and [grown.entries[i].prepared["cn"] for i in ids] == [("新联系人",)]  # type: ignore[union-attr]
        _same(grown, assemble([*grown.entries], BASE, snap.generation))
        _same(patched, assemble([*patched.entries], BASE, patched_at))
    finally:
        store.close()


def test_what_a_start_up_build_cached_of_every_phone_and_name_is_let_go(sqlite_city_url: str) -> None:
    """The caches a build fills with a value per phone number and name (``directory.buildcaches``) are empty once
    the holder has built an index: they would otherwise stay at their peak for the life of the service."""
    from directory import buildcaches
    from directory.ldap.service import register_index
    from directory.search import SearchIndexer

    store = open_store(sqlite_city_url)
    try:
        holder = SnapshotHolder(store)
        holder.register("search", SearchIndexer())
        assert buildcaches._CACHES and all(c.cache_info().currsize == 0 for c in buildcaches._CACHES)
        register_index(holder, BASE)
        assert all(c.cache_info().currsize == 0 for c in buildcaches._CACHES)
        office = next(iter(holder.current.offices.values()))
        assert office.phone_display  # asked again, a value is made (and cached) as before
    finally:
        store.close()
