"""``bohai backup``: a consistent snapshot of every table while the service runs, into one backup file.

Owns: the read transaction the snapshot is taken in (SQLite: one deferred read transaction, whose WAL snapshot is
fixed by its first read, so writers go on; PostgreSQL: one REPEATABLE READ, READ ONLY transaction) and the walk over
the tables, rows in primary-key order. The file format is ``backupfile``'s.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from directory import clock
from directory.store import Store
from liaison.ops import tables as tables_mod
from liaison.ops.backupfile import Header, Writer, atomic_target

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Summary:
    path: Path
    rows: dict[str, int]
    schemas: dict[str, str | None]


@contextlib.contextmanager
def snapshot(store: Store) -> Iterator[Connection]:
    """A connection whose reads all see the database as of its first read, taken while writers go on."""
    with store.engine.connect() as conn:
        if store.is_sqlite:
            conn.exec_driver_sql("BEGIN DEFERRED")
        else:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        try:
            yield conn
        finally:
            conn.rollback()


def table_rows(conn: Connection, table: sa.Table) -> Iterator[list[Any]]:
    """The rows of ``table`` in their engine-neutral form, in primary-key order."""
    tags = [tables_mod.type_tag(c) for c in table.columns]
    query = sa.select(*table.columns).order_by(*tables_mod.order_by(table))
    for row in conn.execution_options(yield_per=500).execute(query):
        yield [tables_mod.encode(tag, value) for tag, value in zip(tags, row, strict=True)]


def dump(conn: Connection, writer: Writer, tables: Sequence[sa.Table], engine: str, progress: Progress) -> None:
    """Write ``tables`` as read through ``conn`` (the snapshot is fixed by the first read, of the schema revisions)."""
    writer.header(Header(clock.now().isoformat(), engine, tables_mod.revisions(conn)))
    for table in tables:
        progress(table.name)
        writer.table(table.name, [(c.name, tables_mod.type_tag(c)) for c in table.columns])
        for values in table_rows(conn, table):
            writer.row(table.name, values)
    writer.finish()


def backup(
    store: Store, path: Path, *, progress: Progress = lambda _t: None, on_snapshot: Callable[[], None] | None = None
) -> Summary:
    """Write every table of ``store`` to ``path``; ``on_snapshot`` runs once the snapshot's moment is fixed."""
    tables = tables_mod.model_tables()
    with atomic_target(path) as fh, snapshot(store) as conn:
        schemas = tables_mod.revisions(conn)  # the first read: from here on the snapshot is fixed
        if on_snapshot is not None:
            on_snapshot()
        tables_mod.check_covered(conn, tables)
        writer = Writer(fh)
        dump(conn, writer, tables, "sqlite" if store.is_sqlite else "postgresql", progress)
    return Summary(path, writer.counts, schemas)
