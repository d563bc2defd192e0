"""``bohai restore``: a backup file written back into a database of either engine, all or nothing.

Owns: the emptiness rule (a database holding offices, accounts, letters or meetings is refused unless forced; the
region tree does not count), replacing every table's rows in one transaction (children emptied first, parents
filled first), setting PostgreSQL's id sequences past the restored ids, and bringing a backup of an older schema
forward: its rows go into a scratch SQLite database at the backup's revisions, the migrations run there, and the
result is restored like a current backup.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from directory.store import Store
from liaison.ops import tables as tables_mod
from liaison.ops.backup import dump
from liaison.ops.backupfile import Backup, BackupError, Writer, open_backup

GUARDED = ("office", "account", "letter", "meeting")  # what makes a database "in use"


@dataclass(frozen=True)
class Summary:
    rows: Mapping[str, int]
    migrated_from: Mapping[str, str | None] | None  # the backup's revisions when it was brought forward


def in_use(conn: Connection) -> dict[str, int]:
    """The guarded tables that hold rows, with their counts."""
    by_name = {t.name: t for t in tables_mod.model_tables()}
    counts = {n: conn.execute(sa.select(sa.func.count()).select_from(by_name[n])).scalar_one() for n in GUARDED}
    return {n: c for n, c in counts.items() if c}


def restore(store: Store, path: Path, *, force: bool = False) -> Summary:
    """Replace the contents of ``store`` by the backup at ``path`` (checked whole first)."""
    backup = open_backup(path)
    with store.read() as conn:
        current = tables_mod.revisions(conn)
        busy = in_use(conn)
    if busy and not force:
        held = "、".join(f"{name} {count} 行" for name, count in busy.items())
        raise BackupError(f"目标数据库不是空的（{held}）；确要覆盖请加 --force")
    if dict(backup.header.schemas) == current:
        return Summary(_replace(store, backup), None)
    _check_not_newer(backup, current)
    with tempfile.TemporaryDirectory(prefix="bohai-restore-") as tmp:
        forward = bring_forward(backup, Path(tmp))
        return Summary(_replace(store, forward), backup.header.schemas)


def _check_not_newer(backup: Backup, current: Mapping[str, str | None]) -> None:
    for schema in tables_mod.SCHEMAS:
        rev = backup.header.schemas.get(schema.name)
        if rev is not None and not tables_mod.known_revision(schema, rev):
            raise BackupError(
                f"备份的数据库结构版本 {schema.name}={rev} 是本程序不认识的（较新）版本"
                f"（本程序为 {current.get(schema.name)}），请用更新的程序恢复"
            )


def _replace(store: Store, backup: Backup) -> dict[str, int]:
    tables = {t.name: t for t in tables_mod.model_tables()}
    missing = sorted(set(tables) - set(backup.rows))
    extra = sorted(set(backup.rows) - set(tables))
    if missing or extra:
        raise BackupError(f"备份与本程序的表不一致：备份缺少 {missing or '无'}，多出 {extra or '无'}")
    with store.begin() as conn:
        for table in reversed(tables_mod.model_tables()):
            conn.execute(table.delete())
        for chunk in backup.chunks():
            _insert(conn, tables[chunk.table], chunk.columns, chunk.rows)
        if not store.is_sqlite:
            _reset_sequences(conn, tables_mod.model_tables())
        store.renew_epoch(conn)  # start-up images of the data replaced here must not be taken for the restored
    return dict(backup.rows)


def _insert(conn: Connection, table: sa.Table, columns: Sequence[tuple[str, str]], rows: list[list[Any]]) -> None:
    names = [name for name, _ in columns]
    if set(names) != set(table.columns.keys()):
        diff = sorted(set(names) ^ set(table.columns.keys()))
        raise BackupError(f"备份中表 {table.name} 的列与本程序不一致：{', '.join(diff)}；未写入任何数据")
    if rows:
        conn.execute(table.insert(), [_decoded(columns, values) for values in rows])


def _decoded(columns: Sequence[tuple[str, str]], values: list[Any]) -> dict[str, Any]:
    if len(values) != len(columns):
        raise BackupError("备份中有一行的值个数与列数不符；未写入任何数据")
    try:
        return {name: tables_mod.decode(tag, v) for (name, tag), v in zip(columns, values, strict=True)}
    except (KeyError, ValueError, TypeError) as exc:
        raise BackupError(f"备份中有无法识别的值：{exc}；未写入任何数据") from exc


def _reset_sequences(conn: Connection, tables: Sequence[sa.Table]) -> None:
    """Move each serial id's sequence past the largest restored id (PostgreSQL)."""
    for table in tables:
        pk = list(table.primary_key.columns)
        if len(pk) == 1 and isinstance(pk[0].type, sa.Integer) and pk[0].autoincrement in (True, "auto"):
            conn.execute(
                sa.text(
                    f"SELECT setval(pg_get_serial_sequence(:t, :c), COALESCE(MAX({pk[0].name}), 1), "
                    f'MAX({pk[0].name}) IS NOT NULL) FROM "{table.name}"'
                ),
                {"t": f'"{table.name}"', "c": pk[0].name},
            )


def bring_forward(backup: Backup, tmp: Path) -> Backup:
    """The backup migrated to this program's schema, as a new backup file in ``tmp``."""
    engine = sa.create_engine(f"sqlite:///{tmp / 'forward.sqlite3'}")
    try:
        with engine.begin() as conn:
            for schema in tables_mod.SCHEMAS:
                target = backup.header.schemas.get(schema.name)
                if target is not None:
                    schema.upgrade(conn, target)
            old = sa.MetaData()
            old.reflect(conn)
            for chunk in backup.chunks():
                if chunk.table not in old.tables:
                    raise BackupError(f"备份中的表 {chunk.table} 不属于它所记录的数据库结构版本；未写入任何数据")
                _insert(conn, old.tables[chunk.table], chunk.columns, chunk.rows)
            for schema in tables_mod.SCHEMAS:
                schema.upgrade(conn)
        out = tmp / "forward.bak"
        with out.open("wb") as fh, engine.connect() as conn:
            dump(conn, Writer(fh), tables_mod.model_tables(), backup.header.engine, lambda _t: None)
    finally:
        engine.dispose()
    return open_backup(out)
