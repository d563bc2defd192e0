"""Header injection and control characters (CR, LF, NUL …) in letter subjects, attachment names, addresses and
meeting fields: refused with a message naming the field — CLI, web form and meetings — and nothing is queued."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from directory.store import Store, open_store
from directory.validate import OfficeData
from liaison.mail import outbox
from liaison.meetings import store as meeting_store
from tests.support.letters import FORM, Browser, run

INJECTED = "关于核查的函\r\nBcc: victim@example.org"
OFFICES = [
    OfficeData("130100000000", "石家庄市流动人口服务管理办公室", email="sjz@hebei.example"),
    OfficeData("110101000000", "东城区流动人口服务管理办公室", email="dc@beijing.example"),
]


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    monkeypatch.setenv("BOHAI_DATABASE_URL", db_url)
    store = open_store(db_url)
    try:
        store.upsert_offices(OFFICES, "test")
    finally:
        store.close()
    body = tmp_path / "body.txt"
    body.write_text("请协助核查。", encoding="utf-8")
    yield body


def queued(db_url: str) -> dict[str, int]:
    store = open_store(db_url)
    try:
        return outbox.counts(store)
    finally:
        store.close()


SEND = ("letter", "send", "--from", "130100000000", "--to", "110101000000")


@pytest.mark.parametrize(
    ("subject", "code_point"), [(INJECTED, "U+000D"), ("标题\n第二行", "U+000A"), ("标题\x00", "U+0000")]
)
def test_cli_refuses_control_characters_in_the_subject(
    cli_db: Path, db_url: str, capsys: pytest.CaptureFixture[str], subject: str, code_point: str
) -> None:
    code, _, err = run(capsys, *SEND, "--subject", subject, "--body-file", str(cli_db))
    assert code == 1 and "标题" in err and code_point in err and "Traceback" not in err
    assert queued(db_url) == {}


def test_cli_refuses_control_characters_in_attachment_names_and_codes(
    cli_db: Path, db_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    evil = tmp_path / "名单\r\nX-Injected: 1.csv"
    evil.write_text("x", encoding="utf-8")
    code, _, err = run(capsys, *SEND, "--subject", "标题", "--body-file", str(cli_db), "--attach", str(evil))
    assert code == 1 and "附件" in err and "U+000D" in err
    code, _, err = run(capsys, "letter", "send", "--from", "130100000000", "--to", "110101000000\r\nBcc: x",
                       "--subject", "标题", "--body-file", str(cli_db))  # fmt: skip
    assert code == 1 and "收函单位" in err and "U+000D" in err
    assert queued(db_url) == {}


async def test_web_form_refuses_header_injection(browser: Browser, store: Store) -> None:
    await browser.login("admin")
    resp = await browser.send({**FORM, "subject": INJECTED})
    text = await resp.text()
    assert resp.status == 400 and "含有不允许的控制字符 U+000D" in text and "Bcc: victim" in text
    assert outbox.counts(store) == {} and browser.woken == []


def test_meetings_refuse_header_injection(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOHAI_DATABASE_URL", db_url)
    base = ("meeting", "create", "--host", "13", "--start", "2026-12-17T09:00", "--end", "2026-12-17T10:00")
    code, _, err = run(capsys, *base, "--title", "会议\r\nBcc: victim@example.org", "--attendee", "a@example.org")
    assert code == 1 and "会议名称" in err and "U+000D" in err
    code, _, err = run(capsys, *base, "--title", "会议", "--attendee", "a@example.org\r\nBcc: victim@example.org")
    assert code == 1 and "参会人员" in err and "电子邮箱格式不正确" in err
    store = open_store(db_url)
    try:
        assert meeting_store.list_meetings(store) == [] and outbox.counts(store) == {}
    finally:
        store.close()
