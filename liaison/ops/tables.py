"""Every table of the one database, in dependency order, and the engine-neutral form of their values.

Owns: finding the tables (the SQLAlchemy metadata of the directory's and the liaison service's models, found by
importing every module of both packages, so a table added by a new model module is included without a list to
update), the check that the database holds no table the models do not describe, the type tag of a column, and the
conversion of one value to and from its JSON form (datetimes as UTC ISO text, bytes as base64).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import importlib
import pkgutil
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import directory
import liaison
from directory.errors import StorageError
from directory.migrations import DIRECTORY, Schema
from liaison.migrations import LIAISON

SCHEMAS: tuple[Schema, ...] = (DIRECTORY, LIAISON)
VERSION_TABLES = frozenset(s.version_table for s in SCHEMAS)


@functools.cache
def model_tables() -> tuple[sa.Table, ...]:
    """Every model table of both packages, parents before children (the order rows can be inserted in)."""
    for package in (directory, liaison):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".migrations" not in module.name and not module.name.endswith("__main__"):
                importlib.import_module(module.name)
    return tuple(SQLModel.metadata.sorted_tables)


def check_covered(conn: Connection, tables: Sequence[sa.Table]) -> None:
    """Refuse a database holding a table no model describes: a backup must never leave data out silently."""
    known = {t.name for t in tables} | VERSION_TABLES
    unknown = sorted(set(sa.inspect(conn).get_table_names()) - known)
    if unknown:
        raise StorageError(f"数据库中有本程序不认识的表：{', '.join(unknown)}；请用与数据库同一版本的程序操作")


def revisions(conn: Connection) -> dict[str, str | None]:
    """The revision each schema of the database is at."""
    return {s.name: s.revision(conn) for s in SCHEMAS}


def known_revision(schema: Schema, revision: str) -> bool:
    """Whether ``revision`` is one of ``schema``'s own scripts (an unknown one comes from a newer program)."""
    scripts = (schema.scripts / "versions").glob("*.py")
    return any(p.stem == revision or p.stem.startswith(revision + "_") for p in scripts)


def type_tag(column: sa.Column[Any]) -> str:
    """The engine-neutral kind of a column's values."""
    typ = column.type
    if isinstance(typ, sa.types.TypeDecorator):  # e.g. SQLModel's AutoString
        typ = typ.impl_instance
    for cls, tag in _TAGS:
        if isinstance(typ, cls):
            return tag
    raise StorageError(f"列 {column.table.name}.{column.name} 的类型 {typ} 无法备份")


_TAGS: tuple[tuple[type[sa.types.TypeEngine[Any]], str], ...] = (
    (sa.Boolean, "bool"),
    (sa.Integer, "int"),
    (sa.Float, "float"),
    (sa.DateTime, "datetime"),
    (sa.Date, "date"),
    (sa.LargeBinary, "bytes"),
    (sa.String, "str"),
)


def _datetime_out(value: dt.datetime) -> str:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)  # stored values are UTC
    return aware.astimezone(dt.UTC).isoformat()


ENCODERS: dict[str, Callable[[Any], Any]] = {
    "bool": bool,
    "int": int,
    "float": float,
    "datetime": _datetime_out,
    "date": lambda d: d.isoformat(),
    "bytes": lambda b: base64.b64encode(bytes(b)).decode("ascii"),
    "str": str,
}

DECODERS: dict[str, Callable[[Any], Any]] = {
    "bool": bool,
    "int": int,
    "float": float,
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "bytes": lambda s: base64.b64decode(s, validate=True),
    "str": str,
}


def encode(tag: str, value: Any) -> Any:
    return None if value is None else ENCODERS[tag](value)


def decode(tag: str, value: Any) -> Any:
    return None if value is None else DECODERS[tag](value)


def order_by(table: sa.Table) -> list[sa.Column[Any]]:
    """A stable row order: the primary key, else every column."""
    return list(table.primary_key.columns) or list(table.columns)
