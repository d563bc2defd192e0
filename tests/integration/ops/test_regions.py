"""``bohai regions update``: two townships merge; the office of the retired code moves, mail to its old role address
still reaches it for a year, and search, LDAP and the change log show the new code; a bad update writes nothing."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from directory import clock
from directory.errors import ValidationFailed
from directory.ldap.server import LdapServer
from directory.ldap.service import register_index
from directory.regions import Division
from directory.search import SearchIndexer, search
from directory.snapshot import SnapshotHolder
from directory.store import Store
from directory.validate import OfficeData
from liaison.database import open_store
from liaison.mail.inbound import Inbound
from liaison.mail.models import outbox_t
from tests.support import ops
from tests.support.databases import Templates
from tests.support.ldap import BASE, Wire, entries_only, ldap_settings
from tests.support.letters import message, run
from tests.support.settings import service_settings

COUNTY = "130102000000"  # 长安区, 石家庄市


@pytest.fixture
def store(templates: Templates, tmp_path: Path) -> Iterator[Store]:
    s = open_store(ops.target(templates, "sqlite", tmp_path, "db"))
    yield s
    s.close()


def townships(store: Store) -> tuple[Division, Division]:
    under = sorted((d for d in store.divisions().values() if d.parent_code == COUNTY), key=lambda d: d.code)
    return under[0], under[1]


def edition(store: Store, path: Path, drop: str, rename: dict[str, str]) -> Path:
    """Province 13 as stored, without ``drop`` and with some names changed, in the bundled CSV format."""
    rows = [d for d in sorted(store.divisions().values(), key=lambda d: d.code) if d.province_code == "130000000000"]
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["code", "name", "level", "parent_code", "province_code"])
        for d in rows:
            if d.code != drop:
                out.writerow([d.code, rename.get(d.code, d.name), d.level, d.parent_code or "", d.province_code])
    return path


async def test_two_townships_merge_and_the_office_moves(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    retired, kept = townships(store)
    unit = f"{retired.name}流动人口服务站"
    store.upsert_offices([OfficeData(retired.code, unit, email="station@hebei.example")], "test")
    holder = SnapshotHolder(store)  # a running service's, with its indexes: they must follow the update
    holder.register("search", SearchIndexer())
    indexer = register_index(holder, BASE)
    merged = f"{kept.name}{retired.name}"
    new = edition(store, tmp_path / "2024.csv", retired.code, {kept.code: merged})
    (tmp_path / "map.csv").write_text(f"旧代码,新代码\n{retired.code},{kept.code}\n", encoding="utf-8")
    monkeypatch.setenv("BOHAI_DATABASE_URL", store.url)
    before = store.generation()

    code, out, _ = run(capsys, "regions", "update", str(new), "--changes", str(tmp_path / "map.csv"), "--dry-run")
    assert code == 0 and f"{retired.code} → {kept.code}" in out and store.get_office(retired.code) is not None
    code, out, _ = run(capsys, "regions", "update", str(new), "--changes", str(tmp_path / "map.csv"))
    assert code == 0 and "撤销 1 个" in out and "涉及单位 1 个" in out

    assert holder.refresh_sync()
    snap = holder.current
    assert snap.office(retired.code) is None and snap.region(retired.code) is None
    assert snap.office(kept.code) is not None and snap.office(kept.code).unit_name == unit  # type: ignore[union-attr]
    assert snap.region(kept.code).name == merged  # type: ignore[union-attr]
    assert search(snap, unit, 5).hits[0].region.code == kept.code

    server = LdapServer(ldap_settings(), lambda: holder.current.derived("ldap", indexer))
    wire = Wire(server)
    (entry,) = entries_only(wire.search(f"(uid={kept.code})", base=BASE)[0])
    assert entry.dn.startswith(f"uid={kept.code},ou={kept.code},ou={COUNTY},")
    assert entry.attrs["uid"] == [kept.code, retired.code]  # Postfix's (uid=%u) still maps the old role address
    (by_old,) = entries_only(wire.search(f"(uid={retired.code})", base=BASE)[0])
    assert (by_old.dn, by_old.attrs["mail"]) == (entry.dn, ["station@hebei.example"])

    assert store.office_changes(before)[0] == {kept.code: False, retired.code: True}  # the durable change log
    (moved,) = [h for h in store.history("office", kept.code) if h["action"] == "move"]
    assert (moved["before"], moved["after"]) == ({"region_code": retired.code}, {"region_code": kept.code})


async def test_mail_to_the_old_role_address_arrives_for_a_year(store: Store, tmp_path: Path) -> None:
    from directory import divisions

    retired, kept = townships(store)
    store.upsert_offices([OfficeData(retired.code, "合并前的服务站", email="station@hebei.example")], "test")
    new = divisions.read_edition(edition(store, tmp_path / "2024.csv", retired.code, {}))
    plan = divisions.plan(store.divisions(), store.office_places(), new, {retired.code: kept.code})
    store.apply_divisions(plan, "2024.csv", "test")
    settings = service_settings(store.url)
    holder = SnapshotHolder(store)
    inbound = Inbound(store, settings, lambda: holder.current)
    old_role = f"{retired.code}@{settings.liaison.domain}"
    assert inbound.check_recipient(old_role) is None
    answer = await inbound.deliver(message(old_role).as_bytes(), "someone@beijing.example", [old_role])
    assert answer.startswith("250")
    with store.read() as conn:
        recipients = conn.execute(sa.select(outbox_t.c.recipient)).scalars().all()
    assert recipients == ["station@hebei.example"]
    with clock.use(clock.now() + dt.timedelta(days=366)):
        assert inbound.check_recipient(old_role) is not None
    store.close()
    reopened = open_store(store.url)  # the bundled edition is not loaded back over the update
    try:
        assert retired.code not in reopened.divisions()
    finally:
        reopened.close()


def test_a_retired_region_with_an_office_and_no_new_code_writes_nothing(store: Store, tmp_path: Path) -> None:
    from directory import divisions

    retired, kept = townships(store)
    store.upsert_offices([OfficeData(retired.code, "服务站"), OfficeData(kept.code, "另一服务站")], "test")
    before = ops.export(store)
    new = divisions.read_edition(edition(store, tmp_path / "2024.csv", retired.code, {}))
    for changes, named in (({}, retired.code), ({retired.code: kept.code}, kept.code)):
        with pytest.raises(ValidationFailed) as err:
            divisions.plan(store.divisions(), store.office_places(), new, changes)
        assert named in str(err.value.errors[0])
    (tmp_path / "bad.csv").write_text("code,name,level,parent_code,province_code\n13010200100X,某镇,town,,x\n")
    with pytest.raises(ValidationFailed) as err:
        divisions.read_edition(tmp_path / "bad.csv")
    assert {e.column for e in err.value.errors} == {"code", "level", "province_code"}
    assert ops.export(store) == before
