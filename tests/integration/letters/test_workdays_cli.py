"""`bohai workdays add|between|load` against a real database (SQLite and PostgreSQL): the override table makes a
year official; bad files are refused with the key and value named and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from directory.store import open_store
from liaison import cli
from liaison.workdays_store import load_calendar

NOTICE = """year = 2027
source = "测试通知"
holidays = ["2027-01-01", "2027-02-08", "2027-02-09", "2027-02-10", "2027-02-11", "2027-02-12"]
workdays = ["2027-02-06"]
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


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
