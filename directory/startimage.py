"""The start-up image: the Snapshot and the indexes its faces registered, kept in a file and taken back at start.

Owns: where the image lives (``[database] image``: ``auto`` puts it beside a SQLite file or under the user's cache
folder for a server database; ``off``; or a path), its format and its checks, writing it (atomically, mode 0600) and
reading it back. Building the indexes of 15,000 offices takes seconds; reading them back takes a fraction of that,
so a restart answers at once.

An image is taken only when it is provably this code's and this data's:

- the code fingerprint (SHA-256 of every module of ``directory``, the Python version and the format) matches, so an
  upgrade, whose index layout may differ, never reads an older image;
- the data epoch matches (``Store.data_epoch``: a token renewed when a restore replaces the data);
- the image's generation is not newer than the database's, and the region tree has not changed since it;
- after the offices written since the image are patched in (``store.load_changes``, as every running instance does),
  the number of offices and the sum of their versions equal the database's;
- the BLAKE2b digest of the payload, checked while it is read, matches the header.

Anything else, and the Snapshot is built from the database as before (and the image rewritten once the service
runs). Where the system can fork, the image is written by a short-lived child process (as Redis writes its
snapshots): the child sees the Snapshot as it was at the fork, so the service neither pauses for the pickling nor
grows by the pickler's bookkeeping; the child uses only what needs no lock another thread could hold (the pickler,
file I/O and Python's own BLAKE2b, not OpenSSL).

The file holds personal data and is unpickled, so it is written with mode 0600, refused when another user owns it or
others may write it, and unpickled with a loader that only makes the read model's own types.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import gc
import hashlib
import io
import json
import logging
import os
import pickle
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FORMAT = 1
HEADER_SIZE = 1024  # bytes reserved before the payload for the JSON header (padded with spaces)
MAX_HEADER = HEADER_SIZE - 1
PACKAGE = Path(__file__).resolve().parent

# What the payload may name besides the classes of the ``directory`` package (checked in ``_Loader.find_class``).
_ALLOWED = {
    ("array", "_array_reconstructor"),
    ("array", "array"),
    ("builtins", "range"),
    ("datetime", "datetime"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
}


@functools.cache
def fingerprint() -> str:
    """What the image's layout depends on: the directory package's source, the Python version, the format."""
    digest = hashlib.sha256(f"{FORMAT} {sys.version}".encode())
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def image_path(option: str, database_url: str) -> Path | None:
    """Where ``[database] image`` puts the image of ``database_url`` (None: no image)."""
    value = option.strip()
    if value.lower() in ("off", "none", "false", ""):
        return None
    if value.lower() != "auto":
        return Path(value).expanduser()
    if database_url.startswith("sqlite"):
        name = database_url.split("///", 1)[1] if "///" in database_url else ""
        if not name or name == ":memory:" or name.startswith("file:") or "mode=memory" in database_url:
            return None
        return Path(name.split("?", 1)[0] + ".image")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bohai-liaison"
    safe = hashlib.sha256(_without_password(database_url).encode()).hexdigest()[:16]
    return cache / f"snapshot-{safe}.image"


def _without_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@dataclass(frozen=True)
class Stamp:
    """What an image must match: the data's epoch, and the tree's generation."""

    epoch: str
    regions_generation: int


@dataclass
class Image:
    """An image read back: the parts of the Snapshot as it was saved and the derived values it carried, by key, with
    the signature of the builder that made each (a builder with another signature builds afresh)."""

    generation: int
    regions: Mapping[str, Any]
    offices: Mapping[str, Any]
    built_at: dt.datetime
    derived: dict[str, tuple[str, Any]]
    checksum: tuple[int, int] = (0, 0)  # read back: offices and the sum of their versions when saved


class ImageFile:
    """One image file: ``write`` replaces it atomically; ``read`` returns it or None (and why, in the log)."""

    def __init__(self, path: Path, *, fork: bool = hasattr(os, "fork")) -> None:
        self.path = path
        self.fork = fork

    def write(self, image: Image, stamp: Stamp) -> int:
        """Save ``image`` (its checksum is computed here), in a child process when ``fork``; returns the bytes
        written. Raises OSError when it could not be written (the previous image, if any, stays)."""
        fingerprint()  # computed here, not in the child
        if not self.fork:
            return self._write(image, stamp)
        pid = os.fork()
        if pid == 0:  # the child: write, then leave without running anything of the parent's (atexit, finalizers)
            code = 1
            try:
                gc.disable()  # the collector would touch every object, copying the parent's pages for nothing
                self._write(image, stamp)
                code = 0
            except BaseException as exc:
                with contextlib.suppress(BaseException):
                    os.write(2, f"start-up image not written: {exc}\n".encode())
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise OSError(f"the process writing the start-up image {self.path} failed")
        return self.path.stat().st_size

    def _write(self, image: Image, stamp: Stamp) -> int:
        payload = (image.generation, image.regions, image.offices, image.built_at, image.derived)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w+b") as f:
                f.write(b" " * HEADER_SIZE)
                writer = _Hashing(f)
                pickle.Pickler(writer, protocol=5).dump(payload)
                header = {
                    "format": FORMAT,
                    "code": fingerprint(),
                    "epoch": stamp.epoch,
                    "generation": image.generation,
                    "regions_generation": stamp.regions_generation,
                    "offices": len(image.offices),
                    "versions": sum(o.version for o in image.offices.values()),
                    "length": writer.length,
                    "blake2b": writer.digest.hexdigest(),
                    "saved_at": dt.datetime.now(dt.UTC).isoformat(),
                }
                text = json.dumps(header).encode()
                if len(text) > MAX_HEADER:
                    raise ValueError("image header too long")
                f.seek(0)
                f.write(text.ljust(MAX_HEADER) + b"\n")
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
            return HEADER_SIZE + writer.length
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def read(self, stamp: Stamp, max_generation: int) -> Image | None:
        """The image if it matches this code and ``stamp`` and is not newer than ``max_generation``; else None."""
        try:
            with open(self.path, "rb") as f:
                why = _refuse_file(os.fstat(f.fileno()))
                if why:
                    log.warning("start-up image %s not used: %s", self.path, why)
                    return None
                header = _header(f.read(HEADER_SIZE))
                why = _refuse_header(header, stamp, max_generation)
                if why:
                    log.info("start-up image %s not used: %s", self.path, why)
                    return None
                reader = _Hashing(f, limit=int(header["length"]))
                with _collector_off():
                    payload = _Loader(reader).load()
                if reader.length != header["length"] or reader.digest.hexdigest() != header.get("blake2b") or f.read(1):
                    log.warning("start-up image %s not used: its checksum does not match", self.path)
                    return None
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError, pickle.UnpicklingError, TypeError, AttributeError) as exc:
            log.warning("start-up image %s not used: %s", self.path, exc)
            return None
        generation, regions, offices, built_at, derived = payload
        return Image(generation, regions, offices, built_at, derived, (int(header["offices"]), int(header["versions"])))


def _refuse_file(st: os.stat_result) -> str:
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return "the file belongs to another user"
    if st.st_mode & 0o022:
        return "others may write the file"
    return ""


def _header(raw: bytes) -> dict[str, Any]:
    if len(raw) != HEADER_SIZE:
        raise ValueError("the file is truncated")
    value = json.loads(raw.decode())
    if not isinstance(value, dict):
        raise ValueError("the header is not an object")
    return value


def _refuse_header(header: Mapping[str, Any], stamp: Stamp, max_generation: int) -> str:
    if header.get("format") != FORMAT or header.get("code") != fingerprint():
        return "it was written by another version of the program"
    if header.get("epoch") != stamp.epoch:
        return "it belongs to other data (the database was replaced or restored)"
    if not isinstance(header.get("generation"), int) or header["generation"] > max_generation:
        return "it is newer than the database"
    if header.get("regions_generation") != stamp.regions_generation:
        return "the region tree changed since"
    return ""


@contextlib.contextmanager
def _collector_off() -> Iterator[None]:
    """A million objects made in one go: the cyclic collector would walk them again and again for nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Hashing(io.RawIOBase):
    """A file wrapper that hashes what passes (and, reading, stops at ``limit`` bytes)."""

    def __init__(self, f: Any, limit: int = -1) -> None:
        self._f = f
        self._limit = limit
        self.length = 0
        self.digest = hashlib.blake2b(digest_size=32)  # Python's own: no OpenSSL lock in a forked writer

    def write(self, b: Any) -> int:
        data = bytes(b) if not isinstance(b, bytes) else b
        self._f.write(data)
        self.digest.update(data)
        self.length += len(data)
        return len(data)

    def read(self, n: int | None = -1) -> bytes:
        left = self._limit - self.length
        n = left if n is None or n < 0 else min(n, left)
        data: bytes = self._f.read(n)
        self.digest.update(data)
        self.length += len(data)
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        left = self._limit - self.length
        data: bytes = self._f.readline(left if size is None or size < 0 else min(size, left))
        self.digest.update(data)
        self.length += len(data)
        return data


class _Loader(pickle.Unpickler):
    """Makes only the read model's types: classes of the ``directory`` package and a few standard ones."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED or (module == "directory" or module.startswith("directory.")):
            found = super().find_class(module, name)
            if (module, name) in _ALLOWED or isinstance(found, type):
                return found
        raise pickle.UnpicklingError(f"the image names {module}.{name}, which it may not")
