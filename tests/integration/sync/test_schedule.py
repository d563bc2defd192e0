"""``bohai serve``'s sync scheduler against a real slapd, on the service's manual clock: a scheduled target runs
when it never ran and again ``schedule`` minutes later, an edit is published once ``debounce`` seconds passed
quietly, and a job another instance holds (its lease in ``meta``) is left to that instance.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from directory import clock
from directory.snapshot import SnapshotHolder
from directory.store import open_store
from directory.sync import state
from directory.sync.schedule import SyncScheduler
from directory.validate import OfficeData
from liaison import service
from liaison import settings as liaison_settings
from tests.support.databases import Templates
from tests.support.settings import service_settings
from tests.support.slapd import Slapd
from tests.support.sync import publish_config

OFFICE = "130102001000"  # a township of 长安区


async def test_scheduled_and_debounced_runs(
    slapd: Slapd, sqlite_demo_url: str, templates: Templates, tmp_path: Path
) -> None:
    base = f"ou=scheduled,{slapd.suffix}"
    slapd.add_ldif(f"dn: {base}\nobjectClass: organizationalUnit\nou: scheduled\n")
    config = publish_config(tmp_path, slapd, base, schedule="60")
    text = config.read_text(encoding="utf-8").replace('regions = ["13"]', 'regions = ["130102000000"]')
    config.write_text(text, encoding="utf-8")
    settings = liaison_settings.load(config, env={})
    store = open_store(sqlite_demo_url)
    holder = SnapshotHolder(store, current=templates.snapshot(sqlite_demo_url))
    manual = clock.ManualClock(dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC))
    with clock.use(manual):
        sched = SyncScheduler(store, settings, lambda: holder.current, debounce=30, owner="me")
        assert await sched.run_due() == ["publish:hebei"]  # never ran
        card = f"uid={OFFICE},{base}".lower()
        assert card in slapd.entries(base)
        assert await sched.run_due() == []

        store.upsert_offices([OfficeData(OFFICE, "改名后的街道办事处")], "test")
        holder.refresh_sync()
        manual.advance(10)
        assert await sched.run_due() == []  # the edit is seen now; quiet for 30 s first
        manual.advance(29)
        assert await sched.run_due() == []
        manual.advance(1)
        assert await sched.run_due() == ["publish:hebei"]
        assert slapd.entries(base)[card]["cn"] == ["改名后的街道办事处"]

        manual.advance(minutes=60)
        assert store.take_lease("lease:publish:hebei", "another instance", 600)
        assert await sched.run_due() == []  # due, but the other instance runs it
        store.release_lease("lease:publish:hebei", "another instance")
        assert await sched.run_due() == ["publish:hebei"]
    store.close()


async def test_serve_runs_a_scheduled_target(slapd: Slapd, templates: Templates, tmp_path: Path) -> None:
    """The composition root starts the scheduler when a target has a ``schedule``; its first round publishes."""
    url, _ = templates.copy("sqlite", False, tmp_path)
    store = open_store(url)
    store.upsert_offices([OfficeData(OFFICE, "城关镇流动人口服务站")], "test")
    store.close()
    base = f"ou=served,{slapd.suffix}"
    slapd.add_ldif(f"dn: {base}\nobjectClass: organizationalUnit\nou: served\n")
    (tmp_path / "pw").write_text(slapd.password, encoding="utf-8")
    target = {"url": slapd.url, "bind_dn": slapd.root_dn, "password_file": str(tmp_path / "pw"), "base_dn": base}
    off = {"enabled": False}
    settings = service_settings(
        url,
        http=off,
        ldap=off,
        smtp=off,
        meetings={"scheduler_enabled": False},
        publish={"t": {**target, "schedule": 5}},
    )
    running = await service.start(settings, report=lambda _line: None)
    try:
        assert running.sync is not None
        await asyncio.wait_for(running.sync.round_done.wait(), 60)
        assert slapd.entry(f"uid={OFFICE},{base}") is not None
        last = state.load(running.store, "publish", "t").last
        assert last is not None and last.ok and last.added == 1
    finally:
        await running.aclose()
