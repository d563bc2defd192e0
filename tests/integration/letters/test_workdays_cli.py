"""`bohai workdays add|between|load` against a real database (SQLite and PostgreSQL): the override table makes a
year official; bad files are refused with the key and value named and nothing is written."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from directory import clock
from directory.snapshot import SnapshotHolder
from directory.store import Store, open_store
from directory.validate import OfficeData
from liaison.letters import compose
from liaison.letters.models import delivery_t
from liaison.settings import Settings
from liaison.workdays.store import load_calendar
from tests.support.letters import run

NOTICE = """year = 2027
source = "测试通知"
holidays = ["2027-01-01", "2027-02-08", "2027-02-09", "2027-02-10", "2027-02-11", "2027-02-12"]
workdays = ["2027-02-06"]
"""


def test_cli_add_between_and_load(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOHAI_DATABASE_URL", db_url)
    assert run(capsys, "workdays", "add", "2026-02-13", "1") == (0, "2026-02-14", "")
    assert run(capsys, "workdays", "between", "2026-09-30", "2026-10-10") == (0, "3", "")
    code, _, err = run(capsys, "workdays", "add", "2026-12-30", "5")
    assert code == 1 and "2027" in err and "workdays load" in err
    code, out, _ = run(capsys, "workdays", "add", "2026-12-30", "5", "--provisional")
    assert code == 0 and "暂定" in out

    bad = tmp_path / "bad.toml"
    bad.write_text('year = 2027\nholidays = ["2027-02-30"]\n', encoding="utf-8")
    code, _, err = run(capsys, "workdays", "load", str(bad))
    assert code == 1 and "2027-02-30" in err and "holidays" in err
    store = open_store(db_url)
    try:
        assert not load_calendar(store).is_official(2027)
    finally:
        store.close()

    good = tmp_path / "2027.toml"
    good.write_text(NOTICE, encoding="utf-8")
    code, out, _ = run(capsys, "workdays", "load", str(good))
    assert code == 0 and "2027" in out and "假日 6 天" in out
    assert run(capsys, "workdays", "add", "2027-02-05", "1") == (0, "2027-02-06", "")
    assert run(capsys, "workdays", "add", "2027-02-06", "1") == (0, "2027-02-15", "")
    store = open_store(db_url)
    try:
        assert load_calendar(store).is_official(2027)
        assert store.history("workdays", "2027")[0]["action"] == "load"
    finally:
        store.close()


def test_load_recomputes_provisional_deadlines(
    store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store.upsert_offices(
        [
            OfficeData("130100000000", "石家庄市流动人口服务管理办公室", email="sjz@hebei.example"),
            OfficeData("110101000000", "东城区流动人口服务管理办公室", email="dc@beijing.example"),
        ],
        "test",
    )
    settings = Settings().replace(database={"url": store.url})
    sent_at = dt.datetime(2027, 1, 29, 9, tzinfo=clock.ZONE).astimezone(dt.UTC)  # a Friday
    draft = compose.Draft("130100000000", ["110101000000"], "关于核查的函", "请协助核查。", 10)
    sent = compose.send_letter(store, settings, SnapshotHolder(store).current, draft, now=sent_at)
    (before,) = sent.deliveries
    assert before.deadline_provisional is True
    monkeypatch.setenv("BOHAI_DATABASE_URL", store.url)
    good = tmp_path / "2027.toml"
    good.write_text(NOTICE, encoding="utf-8")
    code, out, _ = run(capsys, "workdays", "load", str(good))
    assert code == 0 and "重新计算 1 个暂定回复期限" in out
    with store.read() as conn:
        after = conn.execute(sa.select(delivery_t).where(delivery_t.c.id == before.id)).mappings().one()
    # 10 working days after 29 Jan: 1-5 Feb, the make-up Saturday 6 Feb, then 15-18 Feb (8-12 Feb are holidays)
    assert after["deadline"] == dt.date(2027, 2, 18) and after["deadline_provisional"] is False
    assert after["overdue_on"] == dt.date(2027, 2, 19) and after["remind_on"] < after["deadline"]
