"""Databases of the tests: a fresh one per test on SQLite and on PostgreSQL, copied from a migrated template.

``db_url`` and ``demo_url`` are parametrised over ``sqlite`` and ``postgres``. Each kind is migrated and filled once
per session into a template (a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL), and every test
gets its own copy, so tests never see each other's writes and helpers can run suites side by side. PostgreSQL comes
from ``BOHAI_TEST_PG_URL`` (see ``need``).

The templates are shared by every xdist worker of a run (the first to need one makes it, under a file lock, in the
folder the workers' temporary folders share); the process that ends the run drops the PostgreSQL ones. Filling the
demo directory costs seconds of CPU per template, which each worker would otherwise pay again.

``Templates.snapshot(url)`` gives a copy's Snapshot with its search index built once per template: building that
index over the demo directory takes seconds, and dozens of web tests would otherwise each build the same one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from directory import demo, regions
from directory.search import SearchIndexer
from directory.snapshot import Snapshot, SnapshotHolder
from directory.store import Store
from liaison.database import open_store
from tests.support.need import PG_URL, need


def pg_admin() -> Any:
    """An autocommit connection to the PostgreSQL server of the tests, or None when there is none."""
    try:
        import psycopg

        return psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except Exception:
        return None


def pg_url(dbname: str) -> str:
    base, _, _ = PG_URL.rpartition("/")
    return f"{base}/{dbname}"


def pg_execute(sql: str) -> None:
    """Run one administrative statement (CREATE / DROP DATABASE), skipping the test without a server."""
    admin = pg_admin()
    need(admin is not None, f"PostgreSQL at {PG_URL} (set BOHAI_TEST_PG_URL)")
    with admin:
        admin.execute(sql)


def pg_drop(name: str) -> None:
    admin = pg_admin()
    if admin is not None:
        with admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Templates:
    """Migrated template databases, made once per session per (kind, demo)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.made: dict[tuple[str, bool], str] = {}
        self.pg_names: list[str] = []
        self.origin: dict[str, tuple[str, bool]] = {}  # a copy's url: the template it was copied from
        self.snapshots: dict[tuple[str, bool], Snapshot] = {}

    def _fill(self, url: str, demo: bool) -> None:
        store = open_store(url)
        try:
            if demo:
                from liaison.service import load_demo

                load_demo(store)
        finally:
            store.close()

    def template(self, kind: str, demo: bool) -> str:
        key = (kind, demo)
        if key not in self.made:
            with _locked(self.tmp / "templates.lock"):
                self.made[key] = self._sqlite(demo) if kind == "sqlite" else self._postgres(demo)
        return self.made[key]

    def _sqlite(self, demo: bool) -> str:
        path = self.tmp / f"template-{int(demo)}.sqlite3"
        if not path.exists():
            partial = path.with_suffix(".partial")
            partial.unlink(missing_ok=True)
            self._fill(f"sqlite:///{partial}", demo)
            os.replace(partial, path)
        return str(path)

    def _postgres(self, demo: bool) -> str:
        record = self.tmp / f"{PG_TEMPLATE_PREFIX}{int(demo)}.name"
        if record.exists():
            return record.read_text()
        name = f"{PG_TEMPLATE_PREFIX}{uuid.uuid4().hex[:10]}"
        pg_execute(f'CREATE DATABASE "{name}"')
        try:
            self._fill(pg_url(name), demo)
        except BaseException:
            pg_drop(name)
            raise
        record.write_text(name)
        return name

    def _url(self, kind: str, demo: bool) -> str:
        tpl = self.template(kind, demo)
        return f"sqlite:///{tpl}" if kind == "sqlite" else pg_url(tpl)

    def copy(self, kind: str, demo: bool, tmp_path: Path) -> tuple[str, str | None]:
        """A new database copied from the template: (url, PostgreSQL name to drop or None)."""
        tpl = self.template(kind, demo)
        if kind == "sqlite":
            dest = tmp_path / "bohai.sqlite3"
            shutil.copyfile(tpl, dest)
            url, name = f"sqlite:///{dest}", None
        else:
            name = f"bohai_t_{uuid.uuid4().hex[:12]}"
            with _locked(self.tmp / "pg-template-in-use.lock"):  # PostgreSQL copies no template someone is in
                pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{tpl}"')
            self.pg_names.append(name)
            url = pg_url(name)
        self.origin[url] = (kind, demo)
        return url, name

    def snapshot(self, url: str) -> Snapshot | None:
        """A Snapshot of the template ``url`` was copied from, carrying its search index, or None for a database
        that is not such a copy. ``SnapshotHolder(store, current=...)`` takes it only while the copy's generation
        is still the template's, so a test that wrote first gets a full load of its own data."""
        key = self.origin.get(url)
        if key is None:
            return None
        if key not in self.snapshots:
            # connected to the template meanwhile: another worker's copy of it would fail ("being accessed by other
            # users"), so copies wait for this read
            with _locked(self.tmp / "pg-template-in-use.lock") if key[0] == "postgres" else contextlib.nullcontext():
                store = open_store(self._url(*key))
                try:
                    snap = SnapshotHolder(store).current
                finally:
                    store.close()
            snap.derived("search", SearchIndexer())
            self.snapshots[key] = snap
        return self.snapshots[key].sharing("search")

    def close(self) -> None:
        for name in self.pg_names:
            pg_drop(name)


PG_TEMPLATE_PREFIX = "bohai_tpl_"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _shared_folder(factory: pytest.TempPathFactory) -> Path:
    """The folder every worker of this run shares: xdist gives each worker a folder inside the run's own."""
    base = factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "templates"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    t = Templates(_shared_folder(tmp_path_factory))
    yield t
    t.close()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In the process that ends the run (not in a worker), drop the PostgreSQL templates its workers made."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    folder = session.config._tmp_path_factory.getbasetemp() / "templates"  # type: ignore[attr-defined]
    for record in folder.glob(f"{PG_TEMPLATE_PREFIX}*.name") if folder.is_dir() else ():
        pg_drop(record.read_text())
        record.unlink()


def _copy(kind: str, demo: bool, templates: Templates, tmp_path: Path) -> Iterator[str]:
    url, pg_name = templates.copy(kind, demo, tmp_path)
    yield url
    if pg_name:
        pg_drop(pg_name)


KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=KINDS)
def db_url(request: pytest.FixtureRequest, templates: Templates, tmp_path: Path) -> Iterator[str]:
    """A fresh migrated database with the bundled regions and no offices."""
    yield from _copy(request.param, False, templates, tmp_path)


@pytest.fixture(params=KINDS)
def demo_url(request: pytest.FixtureRequest, templates: Templates, tmp_path: Path) -> Iterator[str]:
    """A fresh database filled with the 15,404 demo offices."""
    yield from _copy(request.param, True, templates, tmp_path)


@pytest.fixture
def pg_demo_url(templates: Templates, tmp_path: Path) -> Iterator[str]:
    """PostgreSQL only, for what only PostgreSQL does (several instances, LISTEN/NOTIFY, lost connections)."""
    yield from _copy("postgres", True, templates, tmp_path)


@pytest.fixture
def sqlite_demo_url(templates: Templates, tmp_path: Path) -> Iterator[str]:
    """SQLite only, for tests whose subject is not the database (faces, protocols)."""
    yield from _copy("sqlite", True, templates, tmp_path)


@pytest.fixture
def sqlite_city_url(templates: Templates, tmp_path: Path) -> Iterator[str]:
    """SQLite with the demo offices of one city, 石家庄 (130100000000, some 270 offices): for tests that compare
    whole indexes or builds, whose subject does not need every province (a full demo build is seconds each)."""
    url, _ = templates.copy("sqlite", False, tmp_path)
    by_code = regions.by_code()
    city = [r for code, r in by_code.items() if code.startswith("1301")]
    store = open_store(url)
    try:
        store.upsert_offices([demo.office_for(r) for r in city], "test", demo=True)
    finally:
        store.close()
    yield url


@pytest.fixture
def empty_pg_url() -> Iterator[str]:
    """A PostgreSQL database with nothing in it, not even the schema."""
    name = f"bohai_e_{uuid.uuid4().hex[:10]}"
    pg_execute(f'CREATE DATABASE "{name}"')
    yield pg_url(name)
    pg_drop(name)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    yield s
    s.close()


@pytest.fixture
def demo_store(demo_url: str) -> Iterator[Store]:
    s = open_store(demo_url)
    yield s
    s.close()
