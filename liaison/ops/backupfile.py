"""The backup file: gzip-compressed JSON lines with a SHA-256 trailer, the same for SQLite and PostgreSQL.

Owns: the format and nothing about databases. Line 1 is the header (format name and version, when, from which
engine, the revision of each schema); then per table a line ``{"table", "columns": [[name, type tag], ...]}``
followed by one JSON array per row; the last line is ``{"end": true, "rows": {table: count}, "sha256": ...}``, the
digest of every line before it. A file is checked whole (:func:`open_backup`) before anything reads its rows, and is
written under a temporary name that becomes the target name only when complete (:func:`atomic_target`).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from directory.errors import BohaiError

FORMAT = "bohai-backup"
FORMAT_VERSION = 1
CHUNK_ROWS = 1000


class BackupError(BohaiError):
    """A backup file that cannot be used: damaged, incomplete, of another format or of a newer program."""


@dataclass(frozen=True)
class Header:
    created_at: str
    engine: str
    schemas: Mapping[str, str | None]


@dataclass(frozen=True)
class Chunk:
    """Up to :data:`CHUNK_ROWS` rows of one table (a table without rows gives one empty chunk)."""

    table: str
    columns: tuple[tuple[str, str], ...]
    rows: list[list[Any]]


class Writer:
    """Writes the lines of one backup into a binary file object, hashing them as it goes."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._gz = gzip.GzipFile(fileobj=fh, mode="wb", compresslevel=6, mtime=0)
        self._sha = hashlib.sha256()
        self.counts: dict[str, int] = {}

    def _line(self, obj: Any) -> None:
        data = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        self._sha.update(data)
        self._gz.write(data)

    def header(self, header: Header) -> None:
        self._line({"format": FORMAT, "format_version": FORMAT_VERSION, **header.__dict__})

    def table(self, name: str, columns: list[tuple[str, str]]) -> None:
        self.counts[name] = 0
        self._line({"table": name, "columns": columns})

    def row(self, name: str, values: list[Any]) -> None:
        self.counts[name] += 1
        self._line(values)

    def finish(self) -> None:
        trailer = {"end": True, "rows": self.counts, "sha256": self._sha.hexdigest()}
        self._gz.write(json.dumps(trailer).encode("utf-8") + b"\n")
        self._gz.close()


@contextlib.contextmanager
def atomic_target(path: Path) -> Iterator[IO[bytes]]:
    """A file that appears as ``path`` only when the block ends without error (written beside it, synced, renamed);
    on any error, or if the process dies, nothing is left under ``path``."""
    if path.is_dir():
        raise BackupError(f"{path} 是目录，请给出备份文件名")
    if not path.parent.is_dir():
        raise BackupError(f"目录 {path.parent} 不存在")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with tmp.open("wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class Backup:
    """A backup file whose checksum and structure were checked."""

    path: Path
    header: Header
    rows: Mapping[str, int]

    def chunks(self) -> Iterator[Chunk]:
        """The rows, table by table in the file's order (parents first), in chunks."""
        current: Chunk | None = None
        for obj in _objects(self.path):
            if isinstance(obj, list):
                assert current is not None  # checked by open_backup
                current.rows.append(obj)
                if len(current.rows) >= CHUNK_ROWS:
                    yield current
                    current = Chunk(current.table, current.columns, [])
            elif "table" in obj:
                if current is not None:
                    yield current
                current = Chunk(obj["table"], tuple((c, t) for c, t in obj["columns"]), [])
        if current is not None:
            yield current


def open_backup(path: Path) -> Backup:
    """Read ``path`` whole and check it: a clear :class:`BackupError` for a damaged, incomplete or foreign file."""
    if not path.is_file():
        raise BackupError(f"备份文件 {path} 不存在")
    sha = hashlib.sha256()
    header: dict[str, Any] | None = None
    tables: dict[str, int] = {}
    current: str | None = None
    trailer: dict[str, Any] | None = None
    for raw, obj in _lines(path):
        if trailer is not None:
            raise _damaged(path, "校验行之后还有数据")
        if isinstance(obj, dict) and obj.get("end") is True:
            trailer = obj
            continue
        sha.update(raw)
        if header is None:
            header = _check_header(path, obj)
        elif isinstance(obj, dict) and isinstance(obj.get("table"), str):
            current = obj["table"]
            tables[current] = 0
        elif isinstance(obj, list) and current is not None:
            tables[current] += 1
        else:
            raise _damaged(path, "无法识别的行")
    if header is None or trailer is None:
        raise _damaged(path, "文件不完整（没有结尾的校验行）")
    if trailer.get("sha256") != sha.hexdigest() or trailer.get("rows") != tables:
        raise _damaged(path, "校验和不符")
    head = Header(str(header["created_at"]), str(header["engine"]), dict(header["schemas"]))
    return Backup(path, head, tables)


def _check_header(path: Path, obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise BackupError(f"{path} 不是本程序的备份文件")
    version = obj.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BackupError(f"{path} 的备份格式版本 {version} 比本程序新（本程序为 {FORMAT_VERSION}），请先升级程序")
    if not isinstance(obj.get("schemas"), dict):
        raise _damaged(path, "文件头缺少数据库结构版本")
    return obj


def _damaged(path: Path, why: str) -> BackupError:
    return BackupError(f"备份文件 {path} 已损坏或不完整：{why}；未写入任何数据")


def _lines(path: Path) -> Iterator[tuple[bytes, Any]]:
    try:
        with gzip.open(path, "rb") as fh:
            for raw in fh:
                yield raw, json.loads(raw)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _damaged(path, type(exc).__name__ + (f"：{exc}" if str(exc) else "")) from exc


def _objects(path: Path) -> Iterator[Any]:
    for _raw, obj in _lines(path):
        if not (isinstance(obj, dict) and obj.get("end") is True):
            yield obj
