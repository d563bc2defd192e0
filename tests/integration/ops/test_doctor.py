"""``bohai doctor`` finds each misconfiguration planted in an otherwise healthy setup, with a fix for each; exit code
and JSON for monitoring; the yearly holiday sample agrees with both holiday packages."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from directory import clock
from directory.clock import ManualClock
from directory.settings import PROJECT_ROOT
from directory.store import Store
from liaison.database import open_store
from liaison.ops import doctor
from liaison.settings import Settings
from liaison.workdays.calendar import Overrides, default_calendar, parse_overrides
from liaison.workdays.store import save_overrides
from tests.support import ops
from tests.support.databases import Templates
from tests.support.ldap import make_cert
from tests.support.mailsink import Sink, mail_sink
from tests.support.settings import service_settings

MOMENT = dt.datetime(2026, 12, 6, 4, 0, tzinfo=dt.UTC)  # December: next year's notice is due
NEXT = clock.local_date(MOMENT).year + 1
SAMPLE = PROJECT_ROOT / "config" / "workdays-sample.toml"


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    async with mail_sink() as s:
        yield s


@pytest.fixture
def healthy(templates: Templates, tmp_path: Path, sink: Sink) -> tuple[Settings, Store]:
    """Settings with nothing to report, and their database (next year's holidays loaded as test data)."""
    url = ops.target(templates, "sqlite", tmp_path, "db")
    cert, key = make_cert(tmp_path, days=365)
    settings = service_settings(
        url,
        sink=sink,
        fax={"gateway": "fax.gw.example"},
        web={"public_url": "https://liaison.example.org", "anonymous_read": False},
        ldap={"tls_cert": cert, "tls_key": key},
    )
    store = open_store(url)
    test_year = Overrides(NEXT, "测试数据（非官方）", frozenset({dt.date(NEXT, 1, 1)}), frozenset())
    save_overrides(store, test_year, "test")
    return settings, store


def by_check(findings: list[doctor.Finding]) -> dict[str, doctor.Finding]:
    return {f.check: f for f in findings}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def empty_sqlite(tmp_path: Path) -> str:
    sqlite3.connect(tmp_path / "empty.sqlite3").close()
    return f"sqlite:///{tmp_path / 'empty.sqlite3'}"


DEPLOYED = {"host": "0.0.0.0"}
PLANTS: list[tuple[str, Callable[[Path], dict[str, Any]], str, str]] = [
    ("database down", lambda _t: {"database": {"url": f"postgresql://u@127.0.0.1:{closed_port()}/x"}}, "database",
     "error"),
    ("database not migrated", lambda t: {"database": {"url": empty_sqlite(t)}}, "database", "warning"),
    ("relay down", lambda _t: {"relay": {"port": closed_port()}}, "relay", "error"),
    ("STARTTLS not offered", lambda _t: {"relay": {"starttls": True}}, "relay", "error"),
    ("no fax gateway", lambda _t: {"fax": {"gateway": ""}}, "fax", "warning"),
    ("no public_url", lambda _t: {"web": {"public_url": ""}, "http": DEPLOYED}, "public_url", "error"),
    ("loopback public_url", lambda _t: {"web": {"public_url": "http://[::1]"}, "http": DEPLOYED}, "public_url",
     "error"),
    ("anonymous on a public address", lambda _t: {"web": {"anonymous_read": True}}, "anonymous_read", "warning"),
    ("no LDAP certificate", lambda _t: {"ldap": {"tls_cert": "", "tls_key": ""}}, "ldap_tls", "warning"),
    ("LDAP certificate missing", lambda t: {"ldap": {"tls_cert": str(t / "gone.pem")}}, "ldap_tls", "error"),
]


async def test_each_planted_misconfiguration_is_found_with_its_fix(
    healthy: tuple[Settings, Store], tmp_path: Path
) -> None:
    settings, store = healthy
    with clock.use(MOMENT):
        clean = await doctor.diagnose(settings)
        assert doctor.verdict(clean) == 0, [f for f in clean if f.level != "ok"]
        for name, change, check, level in PLANTS:
            findings = by_check(await doctor.diagnose(settings.replace(**change(tmp_path))))
            found = findings[check]
            assert (found.level, bool(found.fix)) == (level, True), (name, found)
            others = [f for f in findings.values() if f.level != "ok" and f.check != check]
            assert others == [], (name, others)
    store.close()


async def test_calendar_disk_and_certificate_expiry(healthy: tuple[Settings, Store], tmp_path: Path) -> None:
    settings, store = healthy
    days = {dt.date(NEXT, 6, 1): "ok", dt.date(NEXT, 10, 1): "warning", dt.date(NEXT + 1, 1, 5): "error"}
    for day, level in days.items():
        assert doctor.check_calendar(store, day).level == level, day
    store.close()
    free = doctor.check_disk(settings, doctor.Limits())
    assert free.level == "ok"
    assert doctor.check_disk(settings, doctor.Limits(disk_warning=2**62)).level == "warning"
    assert doctor.check_disk(settings, doctor.Limits(disk_warning=2**62, disk_error=2**62)).level == "error"
    expires = doctor.certificate_expiry(Path(settings.ldap.tls_cert))
    assert expires is not None and expires > clock.today()
    soon, past = expires - dt.timedelta(days=3), expires + dt.timedelta(days=1)
    assert doctor.check_ldap_tls(settings, soon).level == "warning"
    expired = doctor.check_ldap_tls(settings, past)
    assert expired.level == "error" and clock.shown(expires) in expired.message
    (tmp_path / "junk.pem").write_text("not a certificate")
    junk = settings.replace(ldap={"tls_cert": str(tmp_path / "junk.pem")})
    assert doctor.check_ldap_tls(junk).level == "error"


@pytest.mark.postgres
def test_clock_skew_against_postgresql(templates: Templates, tmp_path: Path) -> None:
    store = open_store(ops.target(templates, "postgres", tmp_path, "pg"))
    try:
        assert doctor.check_clock(store).level == "ok"
        for seconds, level in ((20, "warning"), (-300, "error")):
            with clock.use(ManualClock(clock.system_now() + dt.timedelta(seconds=seconds))):
                assert doctor.check_clock(store).level == level
    finally:
        store.close()


def test_the_cli_exit_code_and_json(healthy: tuple[Settings, Store], tmp_path: Path) -> None:
    settings, store = healthy
    store.close()
    env = {**os.environ, "BOHAI_DATABASE_URL": settings.database.url, "BOHAI_RELAY_PORT": str(closed_port())}
    argv = [sys.executable, "-m", "liaison.cli", "doctor", "--json"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    report = json.loads(proc.stdout)
    assert proc.returncode == doctor.LEVELS.index(report["status"]) == 2
    relay = next(c for c in report["checks"] if c["check"] == "relay")
    assert relay["level"] == "error" and relay["fix"]


def test_the_holiday_sample_is_the_official_notice_of_both_packages() -> None:
    import chinese_calendar

    sample = parse_overrides(SAMPLE.read_text(encoding="utf-8"), name=str(SAMPLE))
    day, ours = dt.date(sample.year, 1, 1), default_calendar()
    while day.year == sample.year:
        assert sample.is_workday(day) == ours.is_workday(day) == chinese_calendar.is_workday(day), day
        day += dt.timedelta(days=1)
