"""The LDAP index over the demo directory: incremental rebuild after a change equals a full build.

How long that rebuild takes is a figure of ``bench/instances.py``, not a test: timings flake on busy cores.
"""

from __future__ import annotations

import dataclasses

from directory.ldap import filtertree as ft
from directory.ldap.backend import DirectoryIndex
from directory.ldap.indexing import Indexer, assemble
from directory.snapshot import build
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


def test_one_change_is_patched_into_the_index_as_a_full_build_would(sqlite_demo_url: str) -> None:
    store = open_store(sqlite_demo_url)
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
