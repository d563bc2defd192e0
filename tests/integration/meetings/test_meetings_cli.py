"""``bohai meeting create|update|cancel|show|list`` in-process against a real database."""

from __future__ import annotations

import email.policy
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa

from directory.store import Store, open_store
from liaison.cli import main
from liaison.mail import scheduler
from liaison.mail.models import outbox_t
from liaison.meetings import store as meeting_store


@pytest.fixture
def env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BOHAI_DATABASE_URL", db_url)
    monkeypatch.setenv("BOHAI_MEETINGS_REMINDER_OFFSETS", "1 day")
    return db_url


def opened(url: str) -> Store:
    return open_store(url)


def test_create_update_cancel_show_list(env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    agenda = tmp_path / "agenda.txt"
    agenda.write_text("一、通报\n二、交流\n", encoding="utf-8")
    code = main([
        "meeting", "create", "--title", "环渤海联席会议", "--host", "13", "--place", "石家庄",
        "--start", "2026-12-19T09:00", "--end", "2026-12-19T17:00", "--agenda-file", str(agenda),
        "--attendee", "a@example.org", "--attendee", "B@Example.org",
    ])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "会议 1：环渤海联席会议" in out and "2026年12月19日 09:00" in out and "已排队发送通知 2 封" in out
    assert "注意：2026年12月19日 不是工作日" in err
    assert "web.public_url 未设置" in err and "http://127.0.0.1:8080" in err  # links would point there
    assert main(["meeting", "update", "1", "--start", "2026-12-18T09:00", "--end", "2026-12-18T12:00",
                 "--remove", "a@example.org"]) == 0  # fmt: skip
    out, _ = capsys.readouterr()
    assert "SEQUENCE：1" in out and "已移出名单" in out and "已排队发送通知 2 封" in out
    assert main(["meeting", "cancel", "1"]) == 0
    assert "已排队发送通知 2 封" in capsys.readouterr().out
    assert main(["meeting", "show", "1"]) == 0
    out = capsys.readouterr().out
    assert "（已取消）" in out
    # create: 2 invitations; update: a CANCEL to the removed a@, an update to b@; cancel: a CANCEL to both
    assert out.count("邮件 会议通知：环渤海联席会议 → ") == 2 and out.count("邮件 会议变更：") == 1
    assert out.count("邮件 会议取消：环渤海联席会议 → ") == 3 and out.count(" 待发送") == 6
    assert out.count("提醒 提前 1 天 → ") == 3 and out.count("已被新版本取代") == 3
    assert main(["meeting", "list", "--province", "13"]) == 0
    assert "已取消\t环渤海联席会议" in capsys.readouterr().out
    store = opened(env)
    try:
        m = meeting_store.get_meeting(store, 1)
        assert m.agenda == "一、通报\n二、交流\n" and m.sequence == 2
        assert {j.outcome for j in scheduler.jobs_for(store, "1") if j.kind == "reminder"} == {"superseded"}
    finally:
        store.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "明天", "--end", "2026-12-19T17:00"], "开始时间：时间格式应为"),
        (["--start", "2026-12-19T18:00", "--end", "2026-12-19T17:00"], "结束时间：结束时间必须晚于开始时间"),
        (["--start", "2026-12-19T09:00", "--end", "2026-12-19T17:00", "--agenda-file", "/nonexistent"], "议程文件"),
    ],
)
def test_bad_input_is_named(env: str, args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["meeting", "create", "--title", "会议", "--host", "13", "--attendee", "a@example.org"]
    assert main(base + args) == 1
    assert message in capsys.readouterr().err
    assert main(["meeting", "list"]) == 0 and "没有会议" in capsys.readouterr().out


def test_unknown_meeting(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["meeting", "show", "42"]) == 1
    assert "会议 42 不存在" in capsys.readouterr().err


def test_no_public_url_warning_when_set(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOHAI_WEB_PUBLIC_URL", "https://liaison.example.org")
    code = main(["meeting", "create", "--title", "会议", "--host", "13", "--start", "2026-12-17T09:00",
                 "--end", "2026-12-17T10:00", "--attendee", "a@example.org"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0 and "会议 1：会议" in out and "public_url" not in err and "base_url" not in err
    assert "https://liaison.example.org/meetings/answer/" in notice_text(env)


def test_old_base_url_still_sets_the_links_and_warns_once(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("BOHAI_MEETINGS_BASE_URL", "https://old.example.org/")
    code = main(["meeting", "create", "--title", "会议", "--host", "13", "--start", "2026-12-17T09:00",
                 "--end", "2026-12-17T10:00", "--attendee", "a@example.org"])  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 0 and caplog.text.count("meetings.base_url 已改名为 web.public_url") == 1 and "未设置" not in err
    assert "https://old.example.org/meetings/answer/" in notice_text(env)


def notice_text(url: str) -> str:
    """The plain-text part of the one queued meeting notice."""
    store = opened(url)
    try:
        with store.read() as conn:
            (body,) = conn.execute(sa.select(outbox_t.c.body).where(outbox_t.c.kind == "meeting")).scalars().all()
    finally:
        store.close()
    msg = message_from_bytes(body, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    part = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
    return str(part.get_content())
