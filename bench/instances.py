"""How soon an edit on one instance shows on another instance of the same PostgreSQL directory.

Run: ``.venv/bin/python bench/instances.py`` (prints one JSON line). It creates a temporary database on the
PostgreSQL server named by ``BOHAI_BENCH_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``; the
database in the URL is only used to create and drop the temporary one), fills it with the demo directory, starts two
whole services on it (every face on port 0) and, for a series of edits written through instance A, measures the time
until instance B has swapped in a Snapshot carrying the edit, and until B's JSON API and LDAP server answer with it.
B's poll interval is an hour, so every figure is the LISTEN/NOTIFY path. Goal: under one second.

It also measures, in process on the same data, how long the LDAP index takes to absorb one change (the LDAP face's
share of that second).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.search import percentile  # noqa: E402
from directory import demo, regions  # noqa: E402
from directory.ldap.indexing import Indexer  # noqa: E402
from directory.snapshot import build  # noqa: E402
from directory.store import open_store  # noqa: E402

PG_URL = os.environ.get("BOHAI_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
BASE = "dc=bohai,dc=example"
EDITS = 20
GOAL_S = 1.0
CODES = ("130102000000", "110101000000", "370102000000", "410102000000", "210102000000")


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values) * 1000, 1),
        "p99_ms": round(percentile(values, 99) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


def admin_execute(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


def db_url(name: str) -> str:
    return f"{PG_URL.rpartition('/')[0]}/{name}"


def ldap_mail(url: str, code: str) -> list[str]:
    import ldap3

    host, port = url.removeprefix("ldap://").rsplit(":", 1)
    conn = ldap3.Connection(ldap3.Server(host, int(port), get_info=ldap3.NONE), auto_bind=True)
    try:
        conn.search(BASE, f"(uid={code})", attributes=["mail"])
        return [str(m) for e in conn.entries for m in e.mail]
    finally:
        conn.unbind()


async def propagation(url: str) -> dict[str, Any]:
    import aiohttp

    from liaison import service
    from liaison.settings import Settings

    def settings() -> Settings:
        return Settings().replace(
            database={"url": url, "poll_interval": 3600.0},
            http={"port": 0},
            ldap={"port": 0},
            smtp={"port": 0},
        )

    a = await service.start(settings(), report=lambda _line: None)
    b = await service.start(settings(), report=lambda _line: None)
    snapshot: list[float] = []
    web: list[float] = []
    ldap: list[float] = []
    try:
        for _ in range(1000):  # the watch task creates its listener on its first turn
            if b.holder.listener is not None:
                break
            await asyncio.sleep(0)
        assert b.holder.listener is not None
        await asyncio.wait_for(b.holder.listener.connected.wait(), 30)
        async with aiohttp.ClientSession() as http:
            for i in range(EDITS):
                code = CODES[i % len(CODES)]
                office = await a.store.run(a.store.get_office, code)
                assert office is not None
                mail = f"bench{i}@example.org"
                data = dataclasses.replace(demo.office_for(regions.by_code()[code]), email=mail)
                waiter = b.holder.changed
                started = time.perf_counter()
                await a.store.run(a.store.save_office, data, "bench", expected_version=office["version"])
                await asyncio.wait_for(waiter.wait(), 60)
                snapshot.append(time.perf_counter() - started)
                query = urllib.parse.quote(mail)
                async with http.get(f"{b.urls['http']}/api/v1/search?q={query}") as resp:
                    hits = (await resp.json())["hits"]
                assert [h["region_code"] for h in hits] == [code], hits
                web.append(time.perf_counter() - started)
                assert await asyncio.to_thread(ldap_mail, b.urls["ldap"], code) == [mail]
                ldap.append(time.perf_counter() - started)
    finally:
        await b.aclose()
        await a.aclose()
    worst = max(ldap)
    return {
        "edits": EDITS,
        "b_snapshot_swapped": summary(snapshot),
        "b_web_answers": summary(web),
        "b_ldap_answers": summary(ldap),
        "goal_s": GOAL_S,
        "goal_met": worst < GOAL_S,
    }


def ldap_index_one_change(url: str) -> dict[str, float]:
    store = open_store(url)
    try:
        indexer = Indexer(BASE)
        indexer(build(*store.load_all()))
        times = []
        for i, code in enumerate(CODES):
            office = store.get_office(code)
            assert office is not None
            data = dataclasses.replace(demo.office_for(regions.by_code()[code]), phone=f"0311-8600{i:04d}")
            store.save_office(data, "bench", expected_version=office["version"])
            snap = build(*store.load_all())
            t = time.perf_counter()
            indexer(snap)
            times.append(time.perf_counter() - t)
        return {
            "ldap_index_one_change_p50_ms": round(statistics.median(times) * 1000, 1),
            "ldap_index_one_change_max_ms": round(max(times) * 1000, 1),
        }
    finally:
        store.close()


def main() -> None:
    from liaison.database import open_store as open_full_store
    from liaison.service import load_demo

    name = f"bohai_bench_{uuid.uuid4().hex[:10]}"
    admin_execute(f'CREATE DATABASE "{name}"')
    try:
        url = db_url(name)
        store = open_full_store(url)
        try:
            load_demo(store)
            offices = store.count_offices()
        finally:
            store.close()
        figures = asyncio.run(propagation(url))
        index = ldap_index_one_change(url)
    finally:
        admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(
        json.dumps(
            {
                "bench": "instances",
                "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
                "database": "postgresql",
                "offices": offices,
                **figures,
                **index,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
