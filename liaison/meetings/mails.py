"""Mail of joint meetings: iMIP notices (RFC 6047) and reminders, ready for the outbox.

Owns: the MIME shape of a notice — multipart/mixed → multipart/alternative (text/plain, text/html, text/calendar;
method=…; charset=UTF-8) plus ``invite.ics`` — and of a reminder, rendered from ``templates/meetings/mail/`` (zh-CN)
through :mod:`liaison.mail.text` (the text part unescaped, the HTML part autoescaped), and the names of states the
meetings pages show.
"""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from directory import clock
from directory.regions import PROVINCES
from liaison.mail import text
from liaison.mail.headers import mailbox, one_line
from liaison.meetings import ical
from liaison.meetings.models import AttendeeView, MeetingView
from liaison.settings import Settings

SUBJECTS = {"REQUEST": "会议通知", "UPDATE": "会议变更", "CANCEL": "会议取消", "REMINDER": "会议提醒"}
OUTBOX_STATES = {"queued": "待发送", "sending": "发送中", "deferred": "稍后重试", "sent": "已发送",
                 "failed": "发送失败", "bounced": "已退信"}  # fmt: skip
JOB_OUTCOMES = {"sent": "已发出", "skipped": "已跳过", "superseded": "已被新版本取代", "failed": "失败"}
PARTSTAT_NAMES = {"NEEDS-ACTION": "未答复", "ACCEPTED": "参加", "DECLINED": "不参加", "TENTATIVE": "待定"}


def _kind(meeting: MeetingView, method: str) -> str:
    if method == "CANCEL":
        return "CANCEL"
    return "UPDATE" if meeting.sequence > 0 else "REQUEST"


def _headers(msg: EmailMessage, meeting: MeetingView, person: AttendeeView, settings: Settings, kind: str) -> None:
    msg["From"] = mailbox(settings.meetings.organiser_name, meeting.organiser)
    msg["To"] = mailbox(person.name, person.email)
    msg["Subject"] = one_line(f"{SUBJECTS[kind]}：{meeting.title}")
    msg["Message-ID"] = make_msgid(domain=settings.liaison.domain)
    msg["Auto-Submitted"] = "auto-generated"


def notice(
    meeting: MeetingView, person: AttendeeView, method: str, settings: Settings, link: str, now: dt.datetime
) -> EmailMessage:
    """An iMIP REQUEST (invitation or update) or CANCEL for one attendee."""
    kind = _kind(meeting, method)
    people = None if method == "REQUEST" else {meeting.id: (person,) if not meeting.cancelled else meeting.attendees}
    data = ical.calendar(
        [meeting], method, organiser_name=settings.meetings.organiser_name, attendees=people, stamp=now
    )
    ctx = {"m": meeting, "person": person, "kind": kind, "link": link, "method": method, "provinces": PROVINCES}
    msg = EmailMessage()
    _headers(msg, meeting, person, settings, kind)
    msg["Date"] = format_datetime(now.astimezone(clock.ZONE))
    msg.set_content(text.render_text("meetings/mail/notice.txt", **ctx), charset="utf-8")
    msg.add_alternative(text.render_html("meetings/mail/notice.html", **ctx), subtype="html", charset="utf-8")
    msg.add_alternative(data, maintype="text", subtype="calendar", params={"method": method, "charset": "UTF-8"})
    msg.make_mixed()
    msg.add_attachment(data, maintype="application", subtype="ics", filename="invite.ics")
    return msg


def reminder(
    meeting: MeetingView, person: AttendeeView, settings: Settings, link: str, offset: str, now: dt.datetime
) -> EmailMessage:
    """A plain reminder (text and HTML) of a coming meeting, with the signed reply link."""
    ctx = {"m": meeting, "person": person, "kind": "REMINDER", "link": link, "method": "", "offset": offset,
           "provinces": PROVINCES}  # fmt: skip
    msg = EmailMessage()
    _headers(msg, meeting, person, settings, "REMINDER")
    msg["Date"] = format_datetime(now.astimezone(clock.ZONE))
    msg.set_content(text.render_text("meetings/mail/reminder.txt", **ctx), charset="utf-8")
    msg.add_alternative(text.render_html("meetings/mail/notice.html", **ctx), subtype="html", charset="utf-8")
    return msg
