"""``bohai backup`` and ``bohai restore``: a snapshot under write load, every row of every table across engines, a
killed backup, damaged files, older backups, and the guard against overwriting a database in use."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from directory.errors import StorageError
from directory.snapshot import SnapshotHolder
from directory.store import Store
from directory.validate import OfficeData
from liaison.database import open_store
from liaison.letters import compose
from liaison.migrations import LIAISON
from liaison.ops import tables as ops_tables
from liaison.ops.backup import backup
from liaison.ops.backupfile import BackupError
from liaison.ops.restore import restore
from tests.support import ops
from tests.support.databases import Templates
from tests.support.letters import run
from tests.support.settings import service_settings

OFFICES = [
    OfficeData("130102000000", "长安区流动人口服务站", email="changan@hebei.example"),
    OfficeData("110101000000", "东城区流动人口服务站", email="dongcheng@beijing.example"),
    OfficeData("370102000000", "历下区流动人口服务站", email="lixia@shandong.example"),
]


@pytest.fixture
def opened(templates: Templates, tmp_path: Path) -> Iterator[Store]:
    """An empty SQLite database: the engine is not the subject of these tests (the load and round trip tests)."""
    store = open_store(ops.target(templates, "sqlite", tmp_path, "db"))
    yield store
    store.close()


class Load:
    """A thread saving office edits and sending letters, one transaction at a time, each under ``gate``."""

    def __init__(self, store: Store) -> None:
        self.store, self.gate, self.stop = store, threading.Lock(), threading.Event()
        self.settings = service_settings(store.url)
        self.holder = SnapshotHolder(store)
        self.writes = 0
        self.wrote = threading.Condition()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _one(self) -> None:
        if self.writes % 2:
            edit = OFFICES[self.writes % 3]
            data = OfficeData(edit.region_code, f"{edit.unit_name}{self.writes}", email=edit.email)
            self.store.save_office(data, "load", expected_version=None)
        else:
            draft = compose.Draft("130102000000", ["110101000000", "370102000000"], f"函{self.writes}", "请核查。", 5)
            compose.send_letter(self.store, self.settings, self.holder.current, draft)

    def _run(self) -> None:
        while not self.stop.is_set():
            with self.gate:
                self._one()
            with self.wrote:
                self.writes += 1
                self.wrote.notify_all()

    def wait_for(self, count: int) -> None:
        with self.wrote:
            self.wrote.wait_for(lambda: self.writes >= count, timeout=60)
            assert self.writes >= count, "the load did not write"

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()


def test_a_backup_under_write_load_restores_the_moment_it_was_taken(
    store: Store, templates: Templates, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    opened = store
    opened.upsert_offices(OFFICES, "test")
    path = tmp_path / "live.bak"
    at_moment: ops.Export = {}
    with Load(opened) as load:
        load.wait_for(4)
        load.gate.acquire()  # no write in flight while the snapshot's moment is fixed and the source exported

        def moment() -> None:
            at_moment.update(ops.export(opened))
            seen = load.writes
            load.gate.release()
            load.wait_for(seen + 2)  # the source changes while the backup is read

        backup(opened, path, on_snapshot=moment)
    kind = request.node.callspec.params["db_url"]
    dest = open_store(ops.target(templates, kind, tmp_path, "dest"))
    try:
        restore(dest, path)
        restored = ops.export(dest)
    finally:
        dest.close()
    assert restored == at_moment
    assert len(at_moment["letter"]) >= 2 and at_moment != ops.export(opened)


@pytest.mark.postgres
def test_sqlite_to_postgresql_to_sqlite_keeps_every_row_of_every_table(
    templates: Templates, tmp_path: Path
) -> None:
    source = open_store(ops.target(templates, "sqlite", tmp_path, "source"))
    source.upsert_offices(OFFICES, "test")
    ops.fill_every_table(source)
    original = ops.export(source)
    assert all(original.values()), f"empty tables: {[n for n, rows in original.items() if not rows]}"
    backup(source, tmp_path / "a.bak")
    source.close()
    exports = []
    for kind, name in (("postgres", "pg"), ("sqlite", "back")):
        store = open_store(ops.target(templates, kind, tmp_path, name))
        try:
            restore(store, tmp_path / ("a.bak" if kind == "postgres" else "b.bak"))
            exports.append(ops.export(store))
            if kind == "postgres":
                backup(store, tmp_path / "b.bak")
                store.upsert_offices([OfficeData("130104000000", "桥西区流动人口服务站")], "test")  # ids go on
        finally:
            store.close()
    assert exports == [original, original]


def test_a_restore_gives_the_data_a_new_epoch(opened: Store, templates: Templates, tmp_path: Path) -> None:
    opened.upsert_offices(OFFICES, "test")
    before = opened.data_epoch()
    backup(opened, tmp_path / "a.bak")
    dest = open_store(ops.target(templates, "sqlite", tmp_path, "dest"))
    try:
        restore(dest, tmp_path / "a.bak")
        after = dest.data_epoch()
        assert dest.count_offices() == len(OFFICES)
    finally:
        dest.close()
    assert len(after) == 32 and after != before and opened.data_epoch() == before


def test_a_damaged_or_incomplete_file_is_refused_and_nothing_is_written(opened: Store, tmp_path: Path) -> None:
    opened.upsert_offices(OFFICES, "test")
    path = tmp_path / "a.bak"
    backup(opened, path)
    before = ops.export(opened)
    good = path.read_bytes()
    cases = {
        "flipped": lambda: ops.damage(path, 0.5),
        "cut": lambda: path.write_bytes(good[: len(good) // 2]),
        "edited": lambda: ops.rewrite_uncompressed(path, "长安区流动".encode(), "短安区流动".encode()),
        "foreign": lambda: path.write_bytes(b"\x1f\x8b not a backup"),
    }
    for name, spoil in cases.items():
        path.write_bytes(good)
        spoil()
        with pytest.raises(BackupError, match="已损坏或不完整") as err:
            restore(opened, path, force=True)
        assert str(path) in str(err.value), name
    assert ops.export(opened) == before


def test_a_database_in_use_is_refused_unless_forced(opened: Store, tmp_path: Path) -> None:
    backup(opened, tmp_path / "empty.bak")
    opened.upsert_offices(OFFICES[:1], "test")
    with pytest.raises(BackupError, match=r"不是空的（office 1 行）.*--force"):
        restore(opened, tmp_path / "empty.bak")
    assert opened.count_offices() == 1
    restore(opened, tmp_path / "empty.bak", force=True)
    assert opened.count_offices() == 0


def test_an_older_backup_is_brought_forward(opened: Store, tmp_path: Path) -> None:
    now = dt.datetime(2025, 3, 1, 2, 0, tzinfo=dt.UTC)
    office = {"id": 5, "region_code": "130102000000", "unit_name": "长安区\n流动人口服务站\u200b", "updated_at": now}
    ops.old_backup(tmp_path / "old.bak", office)
    summary = restore(opened, tmp_path / "old.bak")
    assert summary.migrated_from == {"directory": "0001", "liaison": "liaison_0001"}
    row = opened.get_office("130102000000")
    assert row is not None and row["unit_name"] == "长安区 流动人口服务站" and row["updated_at"] is not None
    with opened.read() as conn:
        assert ops_tables.revisions(conn) == {s.name: s.head for s in ops_tables.SCHEMAS}
    assert opened.history("office", "130102000000")[0]["action"] == "clean_text"


def test_a_table_no_model_describes_stops_the_backup(opened: Store, tmp_path: Path) -> None:
    with opened.begin() as conn:
        conn.execute(sa.text("CREATE TABLE stray_notes (id INTEGER PRIMARY KEY)"))
    with pytest.raises(StorageError, match="stray_notes"):
        backup(opened, tmp_path / "a.bak")
    assert [p.name for p in tmp_path.iterdir()] == ["db"]


def test_restore_refuses_a_backup_of_a_newer_program(opened: Store, tmp_path: Path) -> None:
    backup(opened, tmp_path / "a.bak")
    ops.rewrite_uncompressed(tmp_path / "a.bak", LIAISON.head.encode(), b"liaison_9999")
    with pytest.raises(BackupError):
        restore(opened, tmp_path / "a.bak")


def test_cli_backup_and_restore(
    opened: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    opened.upsert_offices(OFFICES, "test")
    monkeypatch.setenv("BOHAI_DATABASE_URL", opened.url)
    code, out, _ = run(capsys, "backup", str(tmp_path / "a.bak"))
    assert code == 0 and str(tmp_path / "a.bak") in out
    code, _, err = run(capsys, "restore", str(tmp_path / "a.bak"))
    assert code == 1 and "--force" in err
    code, out, _ = run(capsys, "restore", str(tmp_path / "a.bak"), "--force")
    assert code == 0 and out.startswith("已恢复")
    assert opened.count_offices() == len(OFFICES)


def test_a_backup_killed_midway_leaves_no_file(sqlite_demo_url: str, tmp_path: Path) -> None:
    target = tmp_path / "out" / "a.bak"
    target.parent.mkdir()
    env = {**os.environ, "BOHAI_DATABASE_URL": sqlite_demo_url}
    argv = [sys.executable, "-m", "liaison.cli", "backup", str(target), "--progress"]
    proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert first.startswith("正在备份表"), first
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert not target.exists()
    leftovers = list(target.parent.iterdir())
    assert all(p.name.endswith(".partial") for p in leftovers)
