"""Opt-in (``BOHAI_TEST_SAMBA=1``, not part of ``.ci/run``): publishing into a real Active Directory — a Samba AD
domain controller provisioned by the test. The AD flavour's ``contact`` entries are accepted, a second run plans
nothing, an edit and a removal become one modify and one delete, a unit name longer than AD's 64 characters is cut
with its full text in ``info``, and a contact we do not own stays as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ldap3
import pytest

from directory.snapshot import SnapshotHolder
from directory.store import open_store
from directory.sync import publish
from directory.sync.shapes import ELLIPSIS
from directory.sync.targets import PublishTarget
from directory.validate import OfficeData
from tests.support.databases import Templates
from tests.support.samba import Samba, start_samba

LONG = "石家庄市长安区流动人口服务管理中心暨外来务工人员综合服务大厅及社区网格化管理工作站联合办公室" * 2  # > AD's 64


@pytest.fixture(scope="module")
def samba(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Samba]:
    server = start_samba(tmp_path_factory.mktemp("samba"))
    yield server
    server.stop()


def read(server: Samba, base: str) -> dict[str, dict[str, list[str]]]:
    conn = ldap3.Connection(ldap3.Server(server.url), server.admin_dn, server.password, raise_exceptions=True)
    conn.bind()
    conn.search(base, "(objectClass=contact)", ldap3.LEVEL, attributes=["cn", "company", "info", "description"])
    found = {
        e["dn"].lower(): {k.lower(): [v.decode() for v in vs] for k, vs in e["raw_attributes"].items()}
        for e in conn.response
        if e["type"] == "searchResEntry"
    }
    conn.unbind()
    return found


def test_publish_into_samba_ad(samba: Samba, sqlite_demo_url: str, templates: Templates, tmp_path: Path) -> None:
    base = f"OU=bohai,{samba.base}"
    conn = ldap3.Connection(ldap3.Server(samba.url), samba.admin_dn, samba.password, raise_exceptions=True)
    conn.bind()
    conn.add(base, "organizationalUnit")
    conn.add(f"CN=130102000000,{base}", "contact", {"description": "someone else's"})
    conn.unbind()
    (tmp_path / "pw").write_text(samba.password, encoding="utf-8")
    target = PublishTarget(
        url=samba.url,
        bind_dn=samba.admin_dn,
        password_file=str(tmp_path / "pw"),
        base_dn=base,
        flavour="ad",
        regions=("130100000000",),
    )
    job = publish.Job("ad", target, "dc=bohai,dc=example")
    store = open_store(sqlite_demo_url)
    holder = SnapshotHolder(store, current=templates.snapshot(sqlite_demo_url))
    shijiazhuang = [c for c in holder.current.offices if c.startswith("1301")]

    first = publish.run(store, holder.current, job, publish.Options())
    assert len(first.adds) == len(shijiazhuang) - 1 and first.conflicts == [f"CN=130102000000,{base}"]
    assert publish.run(store, holder.current, job, publish.Options(full=True)).empty

    store.upsert_offices([OfficeData("130104000000", LONG)], "test")
    store.remove_office("130105000000", "test")
    holder.refresh_sync()
    plan = publish.run(store, holder.current, job, publish.Options())
    assert (len(plan.modifies), len(plan.deletes)) == (1, 1)
    entries = read(samba, base)
    edited = entries[f"cn=130104000000,{base}".lower()]
    assert edited["company"][0].endswith(ELLIPSIS) and len(edited["company"][0]) == 64
    assert f"company: {LONG}" in edited["info"][0]
    assert f"cn=130105000000,{base}".lower() not in entries
    assert entries[f"cn=130102000000,{base}".lower()]["description"] == ["someone else's"]
    assert publish.run(store, holder.current, job, publish.Options(full=True)).empty
    store.close()
