"""The tamper-evident audit trail on SQLite and PostgreSQL: ``bohai audit verify`` passes an untouched database and
names the row of an UPDATE, INSERT or DELETE made directly in SQL; export writes a signed archive; prune refuses
young and unarchived rows and leaves a chain that still verifies."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from directory import auditmac, clock
from directory.clock import ManualClock
from directory.store import change_t, open_store
from directory.validate import OfficeData
from tests.support.letters import run

CHANGAN = "130102000000"


def office(phone: str) -> OfficeData:
    return OfficeData(CHANGAN, "长安区流动人口服务管理中心", "张伟", "主任", phone, "", "", "", "050000")


@pytest.fixture
def keyed(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    key = tmp_path / "audit.key"
    assert run_key_new(key) == 0
    monkeypatch.setenv("BOHAI_DATABASE_URL", db_url)
    monkeypatch.setenv("BOHAI_AUDIT_KEY_FILE", str(key))
    monkeypatch.setenv("BOHAI_AUDIT_CHAIN", "node-a")
    return db_url, key


def run_key_new(path: Path) -> int:
    from liaison.cli import main

    return main(["audit", "key-new", str(path)])


def write_some(url: str, key: Path, n: int = 3, first: int = 0) -> list[int]:
    """``n`` audited edits through the store; the ids of their rows."""
    store = open_store(url, audit_key=auditmac.load_key(str(key), "hmac-sha256", "node-a"))
    try:
        for i in range(first, first + n):
            store.upsert_offices([office(f"+86311876543{i:02d}")], f"editor{i}")
        return [h["id"] for h in reversed(store.history("office", CHANGAN))]
    finally:
        store.close()


def sql(url: str, statement: str, **params: object) -> None:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(statement), params)
    finally:
        engine.dispose()


def test_untouched_passes_and_key_file_is_used(
    keyed: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url, key = keyed
    write_some(url, key)
    code, out, err = run(capsys, "audit", "verify")
    assert (code, err) == (0, "")
    assert "链 node-a：已校验 3 条" in out and "完好" in out
    # another key (or no key file: the database's own) does not verify the chain
    other = key.with_name("other.key")
    assert run_key_new(other) == 0
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BOHAI_AUDIT_KEY_FILE", str(other))
        code, _, err = run(capsys, "audit", "verify")
    assert code == 1 and "另一把密钥" in err


@pytest.mark.parametrize("attack", ["update", "insert", "delete", "delete_last", "strip_mac"])
def test_direct_sql_is_detected_and_named(
    keyed: tuple[str, Path], capsys: pytest.CaptureFixture[str], attack: str
) -> None:
    url, key = keyed
    ids = write_some(url, key, 4)
    if attack == "update":
        sql(url, "UPDATE change SET after = replace(after, '00', '99') WHERE id = :id", id=ids[1])
        expected = f"第 {ids[1]} 条记录"
    elif attack == "insert":
        sql(
            url,
            "INSERT INTO change (at, actor, entity, entity_key, action, before, after, chain, seq, mac) "
            "SELECT at, 'mallory', entity, entity_key, action, before, after, chain, seq, mac "
            "FROM change WHERE id = :id",
            id=ids[2],
        )
        expected = "被插入"
    elif attack == "delete":
        sql(url, "DELETE FROM change WHERE id = :id", id=ids[1])
        expected = f"第 {ids[0]} 条之后、第 {ids[2]} 条之前被删除"
    elif attack == "delete_last":
        sql(url, "DELETE FROM change WHERE id = :id", id=ids[3])
        expected = f"第 {ids[2]} 条之后、链尾被删除"
    else:
        sql(url, "UPDATE change SET mac = NULL, chain = NULL WHERE id = :id", id=ids[0])
        expected = f"第 {ids[0]} 条记录没有校验码"
    code, _, err = run(capsys, "audit", "verify")
    assert code == 1
    assert expected in err, err


def test_forged_mac_without_key_is_detected(keyed: tuple[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """An attacker who recomputes the MAC with a key of their own is caught like any other change."""
    url, key = keyed
    ids = write_some(url, key, 2)
    forger = auditmac.AuditKey(b"x" * 32, chain="node-a")
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        rows = conn.execute(sa.select(change_t).where(change_t.c.id == ids[1])).mappings().one()
        prev = conn.execute(sa.select(change_t.c.mac).where(change_t.c.id == ids[0])).scalar_one()
        changed = {**rows, "actor": "someone-else"}
        conn.execute(
            sa.update(change_t)
            .where(change_t.c.id == ids[1])
            .values(actor="someone-else", mac=forger.row_mac(changed, prev))
        )
    engine.dispose()
    code, _, err = run(capsys, "audit", "verify")
    assert code == 1 and f"第 {ids[1]} 条记录" in err and "被改动" in err


def test_export_and_prune(keyed: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, key = keyed
    old = dt.datetime(2026, 1, 5, 2, tzinfo=dt.UTC)
    with clock.use(ManualClock(old)):
        old_ids = write_some(url, key, 2)
    with clock.use(ManualClock(dt.datetime(2026, 9, 1, 2, tzinfo=dt.UTC))):
        write_some(url, key, 1, first=50)  # its "before" holds the last old number (…01), not the first
    with clock.use(ManualClock(dt.datetime(2026, 12, 1, 2, tzinfo=dt.UTC))):
        # not yet archived: refused, nothing removed
        code, _, err = run(capsys, "audit", "prune", "--before", "2026-02-01")
        assert code == 1 and "尚未归档" in err
        # younger than keep_days (190): refused whatever the archive says
        code, _, err = run(capsys, "audit", "prune", "--before", "2026-07-01")
        assert code == 1 and "保存未满期限" in err

        archive = tmp_path / "audit-2026-02.json"
        code, out, err = run(capsys, "audit", "export", "--before", "2026-02-01", "-o", str(archive))
        assert (code, err) == (0, ""), err
        assert "2 条" in out
        data = json.loads(archive.read_text(encoding="utf-8"))
        assert [r["id"] for r in data["rows"]] == old_ids
        assert "+8631187654300" in archive.read_text(encoding="utf-8")
        assert run(capsys, "audit", "verify", "--archive", str(archive))[0] == 0

        code, out, err = run(capsys, "audit", "prune", "--before", "2026-02-01")
        assert (code, err) == (0, ""), err
        assert "已删除 2 条" in out
        code, out, err = run(capsys, "audit", "verify")
        assert (code, err) == (0, ""), err

        # the old mobile number now lives only in the archive
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            texts = [r[0] or "" for r in conn.execute(sa.select(change_t.c.after))]
        engine.dispose()
        assert not any("+8631187654300" in t for t in texts)

        # a changed archive fails its check
        data["rows"][0]["actor"] = "mallory"
        archive.write_text(json.dumps(data), encoding="utf-8")
        code, _, err = run(capsys, "audit", "verify", "--archive", str(archive))
        assert code == 1 and "签名不符" in err


def test_concurrent_writers_keep_every_chain_whole(db_url: str) -> None:
    """Two instances on their own chains and two more sharing one write at once; every chain verifies."""
    from concurrent.futures import ThreadPoolExecutor

    secret = b"k" * 32
    stores = [
        open_store(db_url, audit_key=auditmac.AuditKey(secret, chain=chain)) for chain in ("a", "b", "shared", "shared")
    ]
    codes = ["130102000000", "130104000000", "130105000000", "130107000000"]

    def edits(i: int) -> None:
        for n in range(8):
            data = OfficeData(codes[i], f"单位{i}", "张伟", "主任", f"+863118765{i}{n:03d}", "", "", "", "050000")
            stores[i].upsert_offices([data], f"w{i}")

    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(edits, range(4)))
        report = stores[0].verify_audit()
        assert report.ok, report.problems
        assert report.checked == {"a": 8, "b": 8, "shared": 16}
    finally:
        for s in stores:
            s.close()


def test_sm3_chain_verifies_and_another_algorithm_does_not(
    keyed: tuple[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, key = keyed
    store = open_store(url, audit_key=auditmac.load_key(str(key), "hmac-sm3", "node-a"))
    try:
        store.upsert_offices([office("+8631187654399")], "editor")
    finally:
        store.close()
    monkeypatch.setenv("BOHAI_AUDIT_ALGORITHM", "hmac-sm3")
    code, out, err = run(capsys, "audit", "verify")
    assert (code, err) == (0, "") and "链 node-a：已校验 1 条" in out
    monkeypatch.setenv("BOHAI_AUDIT_ALGORITHM", "hmac-sha256")
    code, _, err = run(capsys, "audit", "verify")
    assert code == 1 and "另一把密钥" in err
