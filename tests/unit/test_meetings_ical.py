"""iMIP notices of joint meetings: every calendar part parsed back with icalendar (and vobject), per method."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from email import message_from_bytes, policy
from email.message import EmailMessage

import icalendar
import pytest
import vobject

from directory import clock
from liaison.meetings import ical, mails
from liaison.meetings.models import AttendeeView, MeetingView
from liaison.settings import Settings

TITLE = "环渤海地区流动人口服务管理联席会议第十二次全体会议暨区域协作机制建设推进会（河北石家庄）"
NOW = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)
PEOPLE = (
    AttendeeView("liaison13@demo.bohai.example", "张三", "130000000000"),
    AttendeeView("liaison11@demo.bohai.example", "李四", "110000000000"),
    AttendeeView("guest@example.org", "", None),
)


def meeting(**changes: object) -> MeetingView:
    base = MeetingView(
        id=7, uid="abc-123@liaison.bohai.example", sequence=0, status="scheduled", title=TITLE, host_province="13",
        place="石家庄市长安区中山东路 1 号 3 楼会议室", start_at=dt.datetime(2026, 12, 17, 1, 0, tzinfo=dt.UTC),
        end_at=dt.datetime(2026, 12, 17, 9, 0, tzinfo=dt.UTC), agenda="一、通报工作\n二、交流经验", notes="",
        organiser="meetings@liaison.bohai.example", updated_at=NOW, attendees=PEOPLE,
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def calendar_parts(msg: EmailMessage) -> list[tuple[str, bytes]]:
    out = []
    for part in msg.walk():
        if part.get_content_type() in ("text/calendar", "application/ics"):
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            out.append((part.get_content_type(), payload))
    return out


def roundtrip(msg: EmailMessage) -> EmailMessage:
    parsed = message_from_bytes(msg.as_bytes(), policy=policy.SMTP)
    assert isinstance(parsed, EmailMessage)
    return parsed


def check_calendar(data: bytes, method: str, sequence: int, attendees: set[str]) -> icalendar.Event:
    lines = data.split(b"\r\n")
    assert data.endswith(b"\r\n") and lines[-1] == b""
    assert b"\n" not in data.replace(b"\r\n", b""), "bare LF"
    assert max(len(line) for line in lines) <= 75
    assert b"TZID:CST" not in data and b"TZID=CST" not in data
    assert f"SUMMARY:{TITLE}" in ical.unfold(data)
    cal = icalendar.Calendar.from_ical(data)
    assert str(cal["METHOD"]) == method
    (tz,) = cal.walk("VTIMEZONE")
    assert str(tz["TZID"]) == "Asia/Shanghai"
    (ev,) = cal.walk("VEVENT")
    assert str(ev["UID"]) == "abc-123@liaison.bohai.example"
    assert int(ev["SEQUENCE"]) == sequence
    assert str(ev["SUMMARY"]) == TITLE
    assert "DTSTAMP" in ev and str(ev["ORGANIZER"]) == "mailto:meetings@liaison.bohai.example"
    start = ev["DTSTART"]
    assert start.params["TZID"] == "Asia/Shanghai"
    assert start.dt == dt.datetime(2026, 12, 17, 9, 0, tzinfo=clock.ZONE)
    assert ev["DTEND"].params["TZID"] == "Asia/Shanghai"
    found = ev.get("ATTENDEE")
    found = found if isinstance(found, list) else [found]
    assert {str(a).removeprefix("mailto:") for a in found} == attendees
    for a in found:
        if method == "REQUEST":
            assert a.params["RSVP"] == "TRUE" and a.params["PARTSTAT"] == "NEEDS-ACTION"
    return ev


def notice(m: MeetingView, method: str, person: AttendeeView = PEOPLE[0]) -> EmailMessage:
    return roundtrip(mails.notice(m, person, method, Settings(), "http://127.0.0.1/x", NOW))


def test_invitation_mime_structure() -> None:
    msg = notice(meeting(), "REQUEST")
    assert msg.get_content_type() == "multipart/mixed"
    alt, attachment = msg.iter_parts()
    assert alt.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alt.iter_parts()] == ["text/plain", "text/html", "text/calendar"]
    cal_part = list(alt.iter_parts())[2]
    assert cal_part.get_param("method") == "REQUEST" and cal_part.get_param("charset") == "UTF-8"
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_content_disposition() == "attachment"
    assert str(msg["Subject"]) == f"会议通知：{TITLE}"
    text = next(iter(alt.iter_parts())).get_content()
    assert "2026年12月17日 09:00" in text and "http://127.0.0.1/x" in text


def test_html_part_escapes_user_text() -> None:
    msg = notice(meeting(agenda="<script>alert(1)</script>"), "REQUEST")
    html = next(p for p in msg.walk() if p.get_content_type() == "text/html").get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize(
    ("method", "sequence", "status"),
    [("REQUEST", 0, "CONFIRMED"), ("REQUEST", 1, "CONFIRMED"), ("CANCEL", 2, "CANCELLED")],
)
def test_every_calendar_part(method: str, sequence: int, status: str) -> None:
    cancelled = method == "CANCEL"
    m = meeting(sequence=sequence, status="cancelled" if cancelled else "scheduled")
    msg = notice(m, method)
    parts = calendar_parts(msg)
    assert [t for t, _ in parts] == ["text/calendar", "application/ics"]
    everyone = {p.email for p in PEOPLE}
    for _, data in parts:
        ev = check_calendar(data, method, sequence, everyone)
        assert str(ev["STATUS"]) == status
    if sequence == 1:
        assert str(msg["Subject"]).startswith("会议变更")
    if cancelled:
        assert str(msg["Subject"]).startswith("会议取消")


def test_cancel_to_a_removed_attendee_lists_that_person() -> None:
    gone = AttendeeView("gone@example.org", "王五", None, active=False)
    m = meeting(sequence=1, attendees=(*PEOPLE, gone))
    (_, data), _ = calendar_parts(notice(m, "CANCEL", gone))
    ev = check_calendar(data, "CANCEL", 1, {"gone@example.org"})
    assert str(ev["STATUS"]) == "CANCELLED"


@pytest.mark.parametrize("method", ["REQUEST", "CANCEL"])
def test_vobject_reads_the_notice(method: str) -> None:
    (_, data), _ = calendar_parts(notice(meeting(status="cancelled" if method == "CANCEL" else "scheduled"), method))
    cal = vobject.readOne(data.decode("utf-8"))
    assert cal.method.value == method
    assert cal.vevent.summary.value == TITLE
    assert cal.vevent.uid.value == "abc-123@liaison.bohai.example"
    assert cal.vevent.dtstart.value == dt.datetime(2026, 12, 17, 9, 0, tzinfo=clock.ZONE)
    assert len(cal.vevent.attendee_list) == 3


def test_parse_reply() -> None:
    reply = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\n"
        "UID:abc-123@liaison.bohai.example\r\nSEQUENCE:1\r\nDTSTAMP:20261130T020000Z\r\n"
        "ATTENDEE;PARTSTAT=ACCEPTED;CN=张三:mailto:Liaison13@demo.bohai.example\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()
    assert ical.parse_reply(reply) == [
        ical.Reply("abc-123@liaison.bohai.example", 1, "liaison13@demo.bohai.example", "ACCEPTED")
    ]


def test_parse_reply_refuses_other_methods() -> None:
    from directory.errors import ValidationFailed

    (_, data), _ = calendar_parts(notice(meeting(), "REQUEST"))
    with pytest.raises(ValidationFailed) as info:
        ical.parse_reply(data)
    assert info.value.errors[0].field == "METHOD" and "不是答复" in info.value.errors[0].message
