"""Shared fixtures: a fresh database per test on SQLite and on PostgreSQL, demo data, real tools.

Databases: ``db_url`` is parametrised over ``sqlite`` and ``postgres``. Each kind is migrated and filled once per
session into a template (a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL), and every test gets
its own copy, so tests never see each other's writes and helpers can run suites side by side.

PostgreSQL comes from ``BOHAI_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``). Without a
server, or without a tool such as ``ldapsearch``, the tests that need it skip with a message naming what to
install; with ``CI`` set, any skip fails the run.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from directory.store import Store
from liaison.database import open_store

PG_URL = os.environ.get("BOHAI_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = bool(os.environ.get("CI"))


def need(condition: bool, what: str) -> None:
    """Skip (or, in CI, fail) the current test unless ``condition``; ``what`` says what to install."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"missing in CI: {what}")
    pytest.skip(f"needs {what}")


def need_tool(program: str, package: str) -> str:
    path = shutil.which(program) or (f"/usr/sbin/{program}" if Path(f"/usr/sbin/{program}").exists() else None)
    need(path is not None, f"`{program}` (Debian package {package}: apt-get install {package})")
    assert path is not None
    return path


def _pg_admin() -> object | None:
    try:
        import psycopg

        return psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except Exception:
        return None


def _pg_url(dbname: str) -> str:
    base, _, _ = PG_URL.rpartition("/")
    return f"{base}/{dbname}"


class _Templates:
    """Migrated template databases, made once per session per (kind, demo)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.made: dict[tuple[str, bool], str] = {}
        self.pg_names: list[str] = []

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
        if key in self.made:
            return self.made[key]
        if kind == "sqlite":
            path = self.tmp / f"template-{int(demo)}.sqlite3"
            self._fill(f"sqlite:///{path}", demo)
            self.made[key] = str(path)
        else:
            admin = _pg_admin()
            need(admin is not None, f"PostgreSQL at {PG_URL} (set BOHAI_TEST_PG_URL)")
            name = f"bohai_tpl_{uuid.uuid4().hex[:10]}"
            with admin:  # type: ignore[attr-defined]
                admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[attr-defined]
            self.pg_names.append(name)
            self._fill(_pg_url(name), demo)
            self.made[key] = name
        return self.made[key]

    def copy(self, kind: str, demo: bool, tmp_path: Path) -> tuple[str, str | None]:
        tpl = self.template(kind, demo)
        if kind == "sqlite":
            dest = tmp_path / "bohai.sqlite3"
            shutil.copyfile(tpl, dest)
            return f"sqlite:///{dest}", None
        name = f"bohai_t_{uuid.uuid4().hex[:12]}"
        admin = _pg_admin()
        need(admin is not None, f"PostgreSQL at {PG_URL}")
        with admin:  # type: ignore[attr-defined]
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{tpl}"')  # type: ignore[attr-defined]
        self.pg_names.append(name)
        return _pg_url(name), name

    def drop(self, name: str) -> None:
        admin = _pg_admin()
        if admin is None:
            return
        with admin:  # type: ignore[attr-defined]
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[attr-defined]

    def close(self) -> None:
        for name in self.pg_names:
            self.drop(name)


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Templates]:
    t = _Templates(tmp_path_factory.mktemp("templates"))
    yield t
    t.close()


def _url(request: pytest.FixtureRequest, templates: _Templates, tmp_path: Path, demo: bool) -> Iterator[str]:
    url, pg_name = templates.copy(request.param, demo, tmp_path)
    yield url
    if pg_name:
        templates.drop(pg_name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, templates: _Templates, tmp_path: Path) -> Iterator[str]:
    """A fresh migrated database with the bundled regions and no offices."""
    yield from _url(request, templates, tmp_path, demo=False)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def demo_url(request: pytest.FixtureRequest, templates: _Templates, tmp_path: Path) -> Iterator[str]:
    """A fresh database filled with the 15,404 demo offices."""
    yield from _url(request, templates, tmp_path, demo=True)


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


@pytest.fixture
def pg_demo_url(templates: _Templates, tmp_path: Path) -> Iterator[str]:
    """PostgreSQL only, for what only PostgreSQL does (several instances, LISTEN/NOTIFY, lost connections)."""
    url, name = templates.copy("postgres", True, tmp_path)
    yield url
    if name:
        templates.drop(name)


@pytest.fixture
def sqlite_demo_url(templates: _Templates, tmp_path: Path) -> str:
    """SQLite only, for tests whose subject is not the database (faces, protocols)."""
    url, _ = templates.copy("sqlite", True, tmp_path)
    return url


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI nothing may skip: a skip becomes a failure that keeps its reason."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (nothing may skip there): {report.longrepr}"
