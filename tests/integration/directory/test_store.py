"""The store on SQLite and PostgreSQL: migration, regions, upsert with audit, conflicts, liaison officer."""

from __future__ import annotations

import dataclasses

import pytest

from directory.errors import Conflict, NotFound, ValidationFailed
from directory.snapshot import SnapshotHolder
from directory.store import Store, open_store
from directory.validate import OfficeData

CHANGAN = "130102000000"
QIAOXI = "130104000000"


def office(code: str = CHANGAN, **kw: object) -> OfficeData:
    base = OfficeData(
        code,
        "长安区流动人口服务管理中心",
        "张伟",
        "主任",
        "+8631187654321",
        "",
        "ca@example.org",
        "河北省石家庄市长安区中山东路1号",
        "050000",
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def test_migrate_is_idempotent_and_loads_regions_once(db_url: str) -> None:
    for _ in range(2):
        s = open_store(db_url)
        assert len(s.region_codes()) == 15404
        s.close()


def test_upsert_creates_updates_and_skips_unchanged(store: Store) -> None:
    gen0 = store.generation()
    r = store.upsert_offices([office()], "tester")
    assert (r.created, r.updated, r.unchanged) == (1, 0, 0)
    assert store.generation() == gen0 + 1
    r = store.upsert_offices([office()], "tester")
    assert (r.created, r.updated, r.unchanged) == (0, 0, 1)
    assert store.generation() == gen0 + 1  # nothing written, nothing announced
    r = store.upsert_offices([office(phone="+8631187650000")], "editor1")
    assert r.updated == 1
    row = store.get_office(CHANGAN)
    assert row is not None and row["version"] == 2 and row["updated_by"] == "editor1"
    history = store.history("office", CHANGAN)
    assert [h["action"] for h in history] == ["update", "create"]
    assert history[0]["before"]["phone"] == "+8631187654321"
    assert history[0]["after"]["phone"] == "+8631187650000"
    assert history[0]["actor"] == "editor1"


def test_unknown_region_writes_nothing(store: Store) -> None:
    with pytest.raises(ValidationFailed):
        store.upsert_offices([office(), office("999999999999")], "t")
    assert store.count_offices() == 0
    assert store.count_changes() == 0
    with pytest.raises(ValidationFailed):  # the dry run refuses what the write would refuse
        store.preview_upsert([office(), office("999999999999")])


def test_save_office_conflict(store: Store) -> None:
    store.upsert_offices([office()], "a")
    saved = store.save_office(office(contact_name="李娜"), "a", expected_version=1)
    assert saved["version"] == 2
    with pytest.raises(Conflict) as info:
        store.save_office(office(contact_name="王芳"), "b", expected_version=1)
    assert info.value.current["contact_name"] == "李娜"
    assert store.get_office(CHANGAN)["contact_name"] == "李娜"  # type: ignore[index]


def test_one_liaison_officer_per_province(store: Store) -> None:
    store.upsert_offices([office(liaison=True), office("130104000000", unit_name="桥西区中心", liaison=False)], "a")
    store.upsert_offices([office("130104000000", unit_name="桥西区中心", liaison=True)], "a")
    assert store.get_office(CHANGAN)["liaison"] is False  # type: ignore[index]
    assert store.get_office("130104000000")["liaison"] is True  # type: ignore[index]
    store.upsert_offices([office("370102000000", unit_name="历下区中心", liaison=True)], "a")
    assert store.get_office("130104000000")["liaison"] is True  # type: ignore[index]  # other province untouched


def test_verify_and_email_status(store: Store) -> None:
    store.upsert_offices([office()], "a")
    store.verify_office(CHANGAN, "b")
    store.set_email_status(CHANGAN, "bouncing", "550 no such user", "bounce")
    row = store.get_office(CHANGAN)
    assert row is not None and row["email_status"] == "bouncing"
    assert [h["action"] for h in store.history("office", CHANGAN)][:2] == ["email_status", "verify"]
    with pytest.raises(NotFound):
        store.verify_office("130102001000", "b")


def test_accounts(store: Store) -> None:
    store.create_account("hebei", "hash", "editor", "130000000000", "admin")
    with pytest.raises(Conflict):
        store.create_account("hebei", "hash", "editor", "130000000000", "admin")
    store.update_account("hebei", "admin", disabled=True)
    acc = store.get_account("hebei")
    assert acc is not None and acc["disabled"] is True and acc["role"] == "editor"


async def test_snapshot_follows_the_store(demo_store: Store) -> None:
    holder = SnapshotHolder(demo_store)
    snap = holder.current
    assert len(snap.offices) == 15404
    assert snap.regions[CHANGAN].path == ("河北省", "石家庄市", "长安区")
    assert [r.code for r in snap.ancestors("130102001000")] == ["130000000000", "130100000000", CHANGAN]
    assert snap.liaison_officer("130000000000").region_code == "130000000000"  # type: ignore[union-attr]
    assert not await holder.refresh()
    await demo_store.run(demo_store.upsert_offices, [office(contact_name="赵敏")], "t")
    assert await holder.refresh()
    assert holder.current.offices[CHANGAN].contact_name == "赵敏"
    assert holder.current.generation > snap.generation


def test_concurrent_saves_one_wins_the_other_conflicts(store: Store) -> None:
    import threading

    store.upsert_offices([office()], "a")
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def save(name: str) -> None:
        barrier.wait()
        try:
            outcomes[name] = store.save_office(office(contact_name=name), name, expected_version=1)["version"]
        except Conflict as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=save, args=(n,)) for n in ("甲", "乙")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    wins = [n for n, v in outcomes.items() if v == 2]
    conflicts = [n for n, v in outcomes.items() if isinstance(v, Conflict)]
    assert len(wins) == 1 and len(conflicts) == 1, outcomes
    row = store.get_office(CHANGAN)
    assert row is not None and row["contact_name"] == wins[0] and row["version"] == 2
    assert [h["action"] for h in store.history("office", CHANGAN)] == ["update", "create"]


def test_clearing_the_old_liaison_counts_as_an_update(store: Store) -> None:
    store.upsert_offices([office(liaison=True), office("130104000000", unit_name="桥西区中心")], "a")
    moved = [office("130104000000", unit_name="桥西区中心", liaison=True)]
    preview = store.preview_upsert(moved)
    result = store.upsert_offices(moved, "a")
    assert (preview.updated, result.updated) == (2, 2)
    assert set(result.changed_codes) == {CHANGAN, "130104000000"}


def test_preview_and_write_agree_when_an_officer_in_the_batch_loses_the_flag(store: Store) -> None:
    store.upsert_offices([office(liaison=True)], "a")  # 长安区 holds 河北's liaison officer
    batch = [office(phone="+8631187650000"), office(QIAOXI, unit_name="桥西区中心", liaison=True)]
    preview = store.preview_upsert(batch)
    result = store.upsert_offices(batch, "a")
    assert preview == result
    assert (result.created, result.updated, result.unchanged) == (1, 1, 0)
    assert result.changed_codes == (CHANGAN, QIAOXI)
    assert store.get_office(CHANGAN)["liaison"] is False  # type: ignore[index]
    assert store.get_office(QIAOXI)["liaison"] is True  # type: ignore[index]
    assert [h["action"] for h in store.history("office", CHANGAN)] == ["update", "update", "create"]


def test_a_code_repeated_in_one_batch_is_refused_and_nothing_written(store: Store) -> None:
    batch = [office(), office(QIAOXI, unit_name="桥西区中心"), office(phone="+8631187650000")]
    for attempt in (store.preview_upsert, lambda items: store.upsert_offices(items, "a")):
        with pytest.raises(ValidationFailed) as info:
            attempt(batch)
        assert [(e.field, e.value) for e in info.value.errors] == [("region_code", CHANGAN)]
    assert store.count_offices() == 0
    assert store.count_changes() == 0


async def test_a_removed_office_leaves_the_snapshot_and_a_tombstone_in_the_change_log(demo_store: Store) -> None:
    holder = SnapshotHolder(demo_store)
    start = holder.current.generation
    demo_store.add_contact(QIAOXI, "李娜", "t", position="科员")
    removed = demo_store.remove_office(CHANGAN, "editor-a")
    assert removed["region_code"] == CHANGAN
    assert demo_store.get_office(CHANGAN) is None
    assert await holder.refresh()
    assert CHANGAN not in holder.current.offices and CHANGAN in holder.current.regions
    assert [c.name for c in holder.current.offices[QIAOXI].contacts][-1] == "李娜"
    changes, now = demo_store.office_changes(start)
    assert changes == {QIAOXI: False, CHANGAN: True} and now == holder.current.generation
    assert demo_store.office_changes(now) == ({}, now)
    audit = demo_store.history("office", CHANGAN)
    assert audit[0]["action"] == "delete" and audit[0]["actor"] == "editor-a"
    with pytest.raises(NotFound):
        demo_store.remove_office(CHANGAN, "editor-a")
    demo_store.upsert_offices([office()], "t")  # the region may get an office again
    assert demo_store.office_changes(now)[0] == {CHANGAN: False}


def test_the_change_log_starts_with_every_office(demo_store: Store) -> None:
    changes, _ = demo_store.office_changes(0)
    assert len(changes) == demo_store.count_offices() == 15404
    assert not any(changes.values())
