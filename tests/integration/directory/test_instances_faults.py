"""Several instances on one database, and storage faults: lost connections, a full or read-only SQLite file."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import psycopg
import pytest
import sqlalchemy as sa

from directory import demo, regions
from directory.errors import StorageError
from directory.snapshot import SnapshotHolder
from directory.store import Store, open_store
from tests.support.need import PG_URL
from tests.support.settings import service_settings

CHANGAN = "130102000000"
# Polling is pushed out of the test's reach, so only LISTEN/NOTIFY can wake the other instance within the bound. The
# bound is generous for two busy cores; the one-second figure is measured by bench/instances.py.
POLL_NEVER = 3600.0
NOTIFY_BOUND = 30.0


def _changed(code: str = CHANGAN, name: str = "欧阳修远") -> object:
    return dataclasses.replace(demo.office_for(regions.by_code()[code]), contact_name=name)


@contextlib.asynccontextmanager
async def watching(holder: SnapshotHolder, interval: float) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(holder.watch(interval, stop))
    try:
        yield stop
    finally:
        stop.set()
        await task


async def listening(holder: SnapshotHolder) -> None:
    for _ in range(100):
        if holder.listener is not None:
            break
        await asyncio.sleep(0)
    assert holder.listener is not None
    await asyncio.wait_for(holder.listener.connected.wait(), 10)


@pytest.mark.postgres
async def test_edit_on_instance_a_reaches_instance_b_through_notify(pg_demo_url: str) -> None:
    a, b = open_store(pg_demo_url), open_store(pg_demo_url)
    try:
        holder_b = SnapshotHolder(b)
        async with watching(holder_b, interval=POLL_NEVER):
            await listening(holder_b)
            waiter = holder_b.changed
            await a.run(a.upsert_offices, [_changed()], "instance-a")
            await asyncio.wait_for(waiter.wait(), NOTIFY_BOUND)
        assert holder_b.current.offices[CHANGAN].contact_name == "欧阳修远"
    finally:
        a.close()
        b.close()


async def test_polling_fallback_picks_up_changes(demo_url: str) -> None:
    a, b = open_store(demo_url), open_store(demo_url)
    try:
        holder_b = SnapshotHolder(b)
        async with watching(holder_b, interval=0.2):
            waiter = holder_b.changed
            await a.run(a.upsert_offices, [_changed(name="司马光明")], "instance-a")
            await asyncio.wait_for(waiter.wait(), 10)
        assert holder_b.current.offices[CHANGAN].contact_name == "司马光明"
    finally:
        a.close()
        b.close()


@pytest.mark.postgres
def test_two_instances_starting_at_once_migrate_once(empty_pg_url: str) -> None:
    code = "from liaison.database import open_store; s = open_store(%r); print(len(s.region_codes())); s.close()"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code % empty_pg_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ},
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1][-2000:] for o in outs]
    assert [o[0].strip() for o in outs] == ["15404"] * 3
    with psycopg.connect(empty_pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM region").fetchone() == (15404,)
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM liaison_alembic_version").fetchone() == (1,)


@pytest.mark.postgres
async def test_lost_postgres_connections_recover_without_restart(pg_demo_url: str) -> None:
    a, b = open_store(pg_demo_url), open_store(pg_demo_url)
    dbname = pg_demo_url.rpartition("/")[2]
    try:
        holder_b = SnapshotHolder(b)
        async with watching(holder_b, interval=POLL_NEVER):
            await listening(holder_b)
            a.get_office(CHANGAN)  # a pooled connection of instance A exists too
            with psycopg.connect(PG_URL, autocommit=True) as admin:
                killed = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s", (dbname,)
                ).fetchone()
            assert killed is not None and killed[0] >= 2  # pooled connections and the LISTEN connection
            # The pool notices dead connections (pre-ping) and reconnects; the listener reconnects.
            for _ in range(1000):
                if not holder_b.listener.connected.is_set():  # type: ignore[union-attr]
                    break
                await asyncio.sleep(0)
            await listening(holder_b)
            waiter = holder_b.changed
            await a.run(a.upsert_offices, [_changed(name="诸葛亮明")], "instance-a")
            await asyncio.wait_for(waiter.wait(), NOTIFY_BOUND)
        assert holder_b.current.offices[CHANGAN].contact_name == "诸葛亮明"
        assert b.get_office(CHANGAN)["contact_name"] == "诸葛亮明"  # type: ignore[index]
    finally:
        a.close()
        b.close()


def _sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def test_full_sqlite_disk_gives_a_clear_error_and_no_half_write(sqlite_demo_url: str) -> None:
    store = open_store(sqlite_demo_url)
    try:
        before = store.count_changes()

        @sa.event.listens_for(store.engine, "connect")
        def _cap(dbapi_conn: object, _rec: object) -> None:  # the file may not grow: SQLITE_FULL on the next page
            cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
            cur.execute("PRAGMA max_page_count = " + str(cur.execute("PRAGMA page_count").fetchone()[0]))
            cur.close()

        store.engine.dispose()
        everything = [_changed(d.code, f"张{i}") for i, d in enumerate(regions.divisions()[:3000])]
        with pytest.raises(StorageError, match=r"数据库写入失败.*full"):
            store.upsert_offices(everything, "importer")  # type: ignore[arg-type]
        assert store.count_changes() == before
        assert store.get_office(CHANGAN)["contact_name"] != "张0"  # type: ignore[index]
    finally:
        store.close()
    check = open_store(sqlite_demo_url)
    try:
        with check.read() as conn:
            assert conn.execute(sa.text("PRAGMA integrity_check")).scalar_one() == "ok"
        assert check.count_offices() == 15404
    finally:
        check.close()


def test_read_only_sqlite_gives_a_clear_error(sqlite_demo_url: str) -> None:
    path = _sqlite_path(sqlite_demo_url)
    store = Store(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        assert store.get_office(CHANGAN) is not None  # reading still works
        with pytest.raises(StorageError, match=r"数据库写入失败.*readonly"):
            store.upsert_offices([_changed()], "editor")  # type: ignore[list-item]
    finally:
        store.close()
    rw = open_store(sqlite_demo_url)
    try:
        assert rw.get_office(CHANGAN)["contact_name"] != "欧阳修远"  # type: ignore[index]
    finally:
        rw.close()


@pytest.mark.postgres
@pytest.mark.slow
async def test_two_served_instances_edit_on_a_shows_in_b_web_and_ldap_through_notify(pg_demo_url: str) -> None:
    import aiohttp
    import ldap3

    from liaison import service
    from liaison.settings import Settings

    def settings() -> Settings:
        return service_settings(pg_demo_url, database={"poll_interval": POLL_NEVER})

    a = await service.start(settings(), report=lambda _line: None)
    b = await service.start(settings(), report=lambda _line: None)
    try:
        await listening(b.holder)
        waiter = b.holder.changed
        office = await a.store.run(a.store.get_office, CHANGAN)
        assert office is not None
        data = dataclasses.replace(_changed(name="上官婉儿"), email="shangguan@example.org")  # type: ignore[type-var]
        await a.store.run(a.store.save_office, data, "instance-a", expected_version=office["version"])
        await asyncio.wait_for(waiter.wait(), NOTIFY_BOUND)
        async with aiohttp.ClientSession() as http, http.get(b.urls["http"] + "/api/v1/search?q=上官婉儿") as resp:
            body = await resp.json()
        assert [h["region_code"] for h in body["hits"]] == [CHANGAN]
        host, port = b.urls["ldap"].removeprefix("ldap://").rsplit(":", 1)

        def ldap_mail() -> list[str]:
            conn = ldap3.Connection(ldap3.Server(host, int(port), get_info=ldap3.NONE), auto_bind=True)
            conn.search("dc=bohai,dc=example", f"(uid={CHANGAN})", attributes=["mail"])
            mails = [str(m) for e in conn.entries for m in e.mail]
            conn.unbind()
            return mails

        assert await asyncio.to_thread(ldap_mail) == ["shangguan@example.org"]
    finally:
        await b.aclose()
        await a.aclose()
