"""Helpers of the operator's-tools tests: a database's export (every table's rows in their engine-neutral form), a
row put into every table the models declare (so a table added later is covered without touching the tests), a
backup file written at an older schema revision, and a second database to restore into.
"""

from __future__ import annotations

import datetime as dt
import gzip
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from directory.migrations import DIRECTORY
from directory.store import Store
from directory.store.imagechecks import EPOCH_KEY
from liaison.migrations import LIAISON
from liaison.ops import tables as ops_tables
from liaison.ops.backup import dump, table_rows
from liaison.ops.backupfile import Writer
from tests.support.databases import Templates

Export = dict[str, list[list[Any]]]


def export(store: Store) -> Export:
    """Every model table's rows, in primary-key order, as a backup writes them; but the data's epoch, which a restore
    renews on purpose (a start-up image of the replaced data must not be taken for the restored: see
    ``directory.store.imagechecks``) and ``test_a_restore_gives_the_data_a_new_epoch`` checks."""
    with store.read() as conn:
        out = {t.name: list(table_rows(conn, t)) for t in ops_tables.model_tables()}
    out["meta"] = [row for row in out["meta"] if row[0] != EPOCH_KEY]
    return out


def target(templates: Templates, kind: str, tmp_path: Path, name: str) -> str:
    """A fresh migrated database (regions only) of ``kind``, beside the test's own."""
    folder = tmp_path / name
    folder.mkdir()
    url, _ = templates.copy(kind, False, folder)
    return url


SAMPLE: dict[str, Any] = {
    "int": 7,
    "float": 1.5,
    "bool": True,
    "datetime": dt.datetime(2026, 5, 1, 8, 30, 15, 123456, tzinfo=dt.UTC),
    "date": dt.date(2026, 5, 4),
    "bytes": bytes(range(256)),
    "str": "样例'\"\\ é\n二",
}


def _value(conn: sa.Connection, column: sa.Column[Any]) -> Any:
    fk = next(iter(column.foreign_keys), None)
    if fk is not None:
        return conn.execute(sa.select(sa.func.min(fk.column))).scalar_one()
    value = SAMPLE[ops_tables.type_tag(column)]
    length = getattr(column.type, "length", None)
    return value[:length] if isinstance(value, str | bytes) and length else value


def _serial(column: sa.Column[Any]) -> bool:
    """An integer primary key the database numbers itself."""
    return column.primary_key and isinstance(column.type, sa.Integer) and not column.foreign_keys


def fill_every_table(store: Store) -> list[str]:
    """One row in each model table that has none (foreign keys point at the parent's first row); the names filled."""
    filled = []
    with store.begin() as conn:
        for table in ops_tables.model_tables():
            if conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one():
                continue
            row = {c.name: _value(conn, c) for c in table.columns if not _serial(c)}
            conn.execute(table.insert().values(row))
            filled.append(table.name)
    return filled


def old_backup(path: Path, office: dict[str, Any]) -> None:
    """A backup taken at the directory's revision 0001 and the liaison's first, holding one region and ``office``."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = sa.create_engine(f"sqlite:///{tmp}/old.sqlite3")
        with engine.begin() as conn:
            DIRECTORY.upgrade(conn, "0001")
            LIAISON.upgrade(conn, "liaison_0001")
            old = sa.MetaData()
            old.reflect(conn)
            code = office["region_code"]
            region = {"code": code, "name": "长安区", "level": "county", "province_code": code[:2] + "0" * 10}
            conn.execute(old.tables["region"].insert().values(region))
            conn.execute(old.tables["office"].insert().values(office))
            conn.execute(old.tables["meta"].insert().values(key="generation", value="3"))
            tables = [t for t in old.sorted_tables if t.name not in ops_tables.VERSION_TABLES]
            with path.open("wb") as fh:
                dump(conn, Writer(fh), tables, "sqlite", lambda _t: None)
        engine.dispose()


def damage(path: Path, at: float) -> None:
    """Flip one byte of the file at the fraction ``at`` of its length."""
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0x5A
    path.write_bytes(bytes(data))


def rewrite_uncompressed(path: Path, old: bytes, new: bytes) -> None:
    """Change the backup's content (not its compressed bytes), leaving its checksum as it was."""
    text = gzip.decompress(path.read_bytes()).replace(old, new, 1)
    path.write_bytes(gzip.compress(text))
