"""A database written by the code before the package split (commit a3960da) upgrades with nothing lost.

The fixtures (``tests/fixtures/upgrade-a3960da-*.sql.gz``, written by ``make_upgrade_fixture.py`` with that commit's
code) hold offices, a contact, accounts, a working-day year, a sent and answered letter with its deliveries, outbox
rows, inbound mail, a meeting with attendees, scheduled jobs, the audit trail and the generated link key in ``meta``.
Each is loaded into a fresh SQLite file and a fresh PostgreSQL database, then opened by the current code: every old
row must be unchanged, the liaison tables adopted (not re-created), the link key carried over (links already mailed
keep working), both version tables at their heads, and the upgraded database must take new writes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from directory import accounts
from directory.migrations import DIRECTORY
from directory.settings import LoginSettings
from directory.store import Store, engine_url
from directory.store import open_store as open_directory_store
from liaison.database import open_store
from liaison.keys import key_t
from liaison.meetings import links, rules
from liaison.meetings import store as meeting_store
from liaison.migrations import LIAISON
from liaison.settings import Settings
from tests.support.databases import pg_admin as _pg_admin
from tests.support.databases import pg_url as _pg_url
from tests.support.need import need

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
OLD_ROWS = {
    "region": 15404,
    "office": 7,
    "contact": 1,
    "account": 2,
    "change": 16,
    "meta": 2,
    "workday_year": 1,
    "workday_override": 2,
    "letter": 1,
    "letter_attachment": 1,
    "delivery": 3,
    "outbox": 7,
    "inbound": 1,
    "meeting": 1,
    "meeting_attendee": 3,
    "scheduler_job": 6,
    "alembic_version": 1,
}


def _dump(kind: str) -> str:
    return gzip.decompress((FIXTURES / f"upgrade-a3960da-{kind}.sql.gz").read_bytes()).decode("utf-8")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def old_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database holding exactly what the old code wrote, not yet opened by the current code."""
    if request.param == "sqlite":
        path = tmp_path / "old.sqlite3"
        with sqlite3.connect(path) as conn:
            conn.executescript(_dump("sqlite"))
        yield f"sqlite:///{path}"
        return
    admin = _pg_admin()
    need(admin is not None, "PostgreSQL (set BOHAI_TEST_PG_URL)")
    name = f"bohai_old_{uuid.uuid4().hex[:10]}"
    with admin:  # type: ignore[attr-defined]
        admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[attr-defined]
    try:
        import psycopg

        with psycopg.connect(_pg_url(name), autocommit=True) as conn:
            conn.execute(_dump("postgresql"))  # type: ignore[call-overload]
        yield _pg_url(name)
    finally:
        with _pg_admin() as admin:  # type: ignore[attr-defined]
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _rows(url: str, columns: dict[str, list[str]] | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order, read without the store (and so without migrating); with
    ``columns``, only those columns of those tables (what an older schema had, for comparing after an upgrade)."""
    engine = sa.create_engine(engine_url(url))
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            out = {}
            for name, t in meta.tables.items():
                cols = [t.c[c] for c in columns[name]] if columns is not None and name in columns else list(t.c)
                out[name] = [tuple(r) for r in conn.execute(sa.select(*cols).order_by(*t.primary_key.columns))]
            return out
    finally:
        engine.dispose()


def _columns(url: str) -> dict[str, list[str]]:
    engine = sa.create_engine(engine_url(url))
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        return {name: [c.name for c in t.c] for name, t in meta.tables.items()}
    finally:
        engine.dispose()


def test_old_database_upgrades_with_nothing_lost(old_db: str) -> None:
    before = _rows(old_db)
    old_columns = _columns(old_db)
    assert {name: len(rows) for name, rows in before.items()} == OLD_ROWS
    assert before["alembic_version"] == [("0001",)]
    old_key = dict(before["meta"])["meetings.link_secret"]

    old_tokens = {r[0]: r[1] for r in _rows(old_db, {"account": ["id", "api_token_hash"]})["account"] if r[1]}
    old_columns["account"].remove("api_token_hash")  # moved into api_token, checked below
    before["account"] = _rows(old_db, {"account": old_columns["account"]})["account"]
    role = old_columns["account"].index("role")
    old_admins = {r[old_columns["account"].index("username")] for r in before["account"] if r[role] == "admin"}
    # the one changed value: the all-powerful admin becomes system plus security administrator (separate duties)
    before["account"] = [(*r[:role], "secadmin,sysadmin" if r[role] == "admin" else r[role], *r[role + 1 :])
                         for r in before["account"]]  # fmt: skip
    store = open_store(old_db)
    try:
        after = _rows(old_db, old_columns)  # later migrations may add columns; every old value must stay as it was
        legacy = [r for r in after["meta"] if r[0] == "audit_legacy_upto"]
        assert legacy == [("audit_legacy_upto", str(max(r[0] for r in before["change"])))], "old audit rows marked"
        after["meta"] = [r for r in after["meta"] if r[0] != "audit_legacy_upto"]
        unchanged = {name: after[name] for name in before if name != "alembic_version"}
        assert unchanged == {n: r for n, r in before.items() if n != "alembic_version"}, "every old row is unchanged"
        migrated = {(t["username"], t["label"], t["scope"]) for t in store.list_tokens()}
        assert old_tokens and migrated == {("hebei", "原有令牌", "write")}
        assert all(store.token_by_hash(h) is not None for h in old_tokens.values()), "the old token still works"
        added = {
            "api_token",
            "app_password",
            "error_report",
            "liaison_alembic_version",
            "liaison_key",
            "office_change",
            "outbox_body",
        }
        added |= {"region_alias", "web_session", "login_event", "password_history", "recovery_code"}
        added |= {"audit_chain"}
        added |= {"verify_campaign", "verify_item", "verify_correction", "verify_attempt"}
        assert old_admins and all(store.get_account(n)["role"] == "secadmin,sysadmin" for n in old_admins)  # type: ignore[index]
        assert set(after) - set(before) == added
        assert len(after["office_change"]) == len(before["office"]), "the change log starts with every old office"
        assert after["liaison_alembic_version"] == [(LIAISON.head,)]
        assert after["alembic_version"] == [(DIRECTORY.head,)]
        assert after["liaison_key"] == [("meetings.link_secret", old_key)]
        _check_the_service_reads_and_writes(store, old_key)
        report = store.verify_audit()  # rows from before the chain are told apart, later ones verify
        assert report.ok and report.legacy == len(before["change"]) and sum(report.checked.values()) > 0
    finally:
        store.close()
    again = open_directory_store(old_db)  # the directory alone opens the upgraded database as it is
    try:
        with again.read() as conn:
            assert (DIRECTORY.revision(conn), LIAISON.revision(conn)) == (DIRECTORY.head, LIAISON.head)
    finally:
        again.close()


def _check_the_service_reads_and_writes(store: Store, old_key: str) -> None:
    settings = Settings()
    key = links.secret(store, settings)
    assert key == old_key.encode()
    mailed = links.sign(old_key.encode(), 1, "tj@tianjin.example", 0)  # a link in a notice sent before
    assert links.verify(key, mailed) == (1, "tj@tianjin.example", 0)
    meeting = meeting_store.get_meeting(store, 1)
    assert meeting.title == "2027年第一次联席会议"
    assert {a.email: a.partstat for a in meeting.attendees}["tj@tianjin.example"] == "ACCEPTED"
    logins = accounts.Logins(store, LoginSettings())
    try:
        user = asyncio.run(logins.login("hebei", "another good passphrase", "127.0.0.1", "test"))
    finally:
        logins.close()
    assert user.username == "hebei"
    start = dt.datetime(2027, 4, 15, 1, 0, tzinfo=dt.UTC)
    data = rules.MeetingInput(
        title="升级后的会议", host="12", start=start, end=start + dt.timedelta(hours=2), attendees=["a@example.org"]
    )
    made = rules.create_meeting(store, None, settings, data, "test")
    assert made.meeting.id == 2  # the id sequences came along
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(key_t)).scalar_one() == 1  # the same key signed
