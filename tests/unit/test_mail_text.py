"""Mail texts: one environment for plain text (nothing escaped), its autoescaping twin for HTML parts, and the exact
text of a letter (its optional paragraphs each set off by one blank line)."""

from __future__ import annotations

import datetime as dt

from liaison.mail import text as mailtext
from liaison.meetings.models import AttendeeView, MeetingView
from liaison.meetings.rules import mails
from liaison.settings import Settings

EVIL = '<b>A&B</b> "q"'


def letter(**changes: object) -> str:
    values: dict[str, object] = {
        "recipient_name": "长安区",
        "body": "正文",
        "reply_by": "",
        "reply_within": 5,
        "provisional": False,
        "note": "",
        "attachments": [],
        "sender_name": "河北省",
        "date": "2026-11-30",
        "number": "冀联〔2026〕1号",
        "sender_address": "石家庄",
        **changes,
    }
    return mailtext.render_text("letters/mail/letter.txt", **values)


TAIL = "河北省\n2026-11-30\n\n（函号：冀联〔2026〕1号。直接回复本邮件即可，回复会记入本函。联系地址：石家庄）\n"


def test_a_bare_letter() -> None:
    assert letter() == "长安区：\n\n正文\n\n" + TAIL


def test_every_optional_paragraph_of_a_letter_is_set_off_by_one_blank_line() -> None:
    text = letter(reply_by="2026-12-07", provisional=True, note=EVIL, attachments=["a.pdf", "<b>.doc"])
    assert text == (
        "长安区：\n\n正文\n"
        "\n请于 2026-12-07（5 个工作日内，该年放假安排尚未公布，日期暂定）前回复本函。\n"
        f"\n【转交说明】{EVIL}\n"
        "\n附件：a.pdf；<b>.doc\n"
        "\n" + TAIL
    )


def test_text_is_never_escaped_and_html_always_is() -> None:
    assert EVIL in letter(body=EVIL)
    now = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)
    person = AttendeeView("a@example.org", EVIL, None)
    m = MeetingView(
        id=1, uid="u@example.org", sequence=0, status="scheduled", title=EVIL, host_province="13", place="",
        start_at=now, end_at=now, agenda=EVIL, notes="", organiser="m@example.org", updated_at=now,
        attendees=(person,),
    )  # fmt: skip
    msg = mails.notice(m, person, "REQUEST", Settings(), "http://127.0.0.1/a?x=1&y=2", now)
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    plain, markup = text.get_content(), html.get_content()
    assert f"会议名称：{EVIL}" in plain and "http://127.0.0.1/a?x=1&y=2" in plain
    assert "2026年11月30日 10:00" in plain  # the ``local`` filter: Beijing time
    assert "&lt;b&gt;A&amp;B&lt;/b&gt; &#34;q&#34;" in markup and "<b>A&B</b>" not in markup
    assert 'href="http://127.0.0.1/a?x=1&amp;y=2"' in markup
