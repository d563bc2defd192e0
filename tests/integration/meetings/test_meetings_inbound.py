"""iMIP REPLY mail through the real inbound SMTP face (issue 4) with the meetings hook registered by service.start."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import formataddr

import aiosmtplib
import icalendar
import pytest
import sqlalchemy as sa

from liaison import service
from liaison.mail.models import inbound_t
from liaison.meetings import rules
from liaison.meetings import store as meeting_store
from liaison.meetings.rules import MeetingInput
from tests.support.meetings import NOW, START
from tests.support.settings import service_settings

ORGANISER = "meetings@liaison.bohai.example"


@pytest.fixture
async def running(db_url: str) -> AsyncIterator[service.Running]:
    s = service_settings(
        db_url, http={"enabled": False}, ldap={"enabled": False},
        liaison={"transport": "null"}, meetings={"scheduler_enabled": False},
    )  # fmt: skip
    r = await service.start(s, report=lambda line: None)
    yield r
    await r.aclose()


def reply_message(sender: str, attendee: str, uid: str, partstat: str = "ACCEPTED", sequence: int = 0) -> EmailMessage:
    cal = icalendar.Calendar()
    cal.add("prodid", "-//test//")
    cal.add("version", "2.0")
    cal.add("method", "REPLY")
    ev = icalendar.Event()
    ev.add("uid", uid)
    ev.add("sequence", sequence)
    ev.add("dtstamp", NOW)
    person = icalendar.vCalAddress(f"mailto:{attendee}")
    person.params["PARTSTAT"] = partstat
    ev.add("attendee", person)
    cal.add_component(ev)
    msg = EmailMessage()
    msg["From"] = formataddr(("参会人", sender))
    msg["To"] = ORGANISER
    msg["Subject"] = "Accepted: 联席会议"
    msg.set_content("accepted")
    msg.add_alternative(cal.to_ical(), maintype="text", subtype="calendar", params={"method": "REPLY"})
    return msg


async def send(running: service.Running, msg: EmailMessage, rcpt: str = ORGANISER, envelope: str | None = None) -> str:
    host, _, port = running.urls["smtp"].removeprefix("smtp://").rpartition(":")
    errors, answer = await aiosmtplib.send(
        msg, hostname=host, port=int(port), sender=envelope, recipients=[rcpt], timeout=30
    )
    assert errors == {}
    return answer


def partstats(running: service.Running, meeting_id: int) -> dict[str, str]:
    return {a.email: a.partstat for a in meeting_store.get_meeting(running.store, meeting_id).attendees}


async def test_reply_from_attendee_marks_accepted_and_others_change_nothing(running: service.Running) -> None:
    data = MeetingInput(title="联席会议", host="13", start=START, end=START + dt.timedelta(hours=8),
                        attendees=["a@example.org", "b@example.org"])  # fmt: skip
    made = rules.create_meeting(running.store, None, running.settings, data, "t")
    uid, mid = made.meeting.uid, made.meeting.id
    untouched = {"a@example.org": "NEEDS-ACTION", "b@example.org": "NEEDS-ACTION"}

    assert "handled" in await send(running, reply_message("mallory@example.net", "a@example.org", uid))
    assert partstats(running, mid) == untouched
    await send(running, reply_message("b@example.org", "a@example.org", uid, "DECLINED"))
    assert partstats(running, mid) == untouched
    await send(running, reply_message("x@example.org", "x@example.org", uid))
    assert partstats(running, mid) == untouched
    await send(running, reply_message("a@example.org", "a@example.org", "no-such-uid@x"))
    assert partstats(running, mid) == untouched

    assert "handled" in await send(running, reply_message("A@Example.org", "a@example.org", uid))
    assert partstats(running, mid) == {"a@example.org": "ACCEPTED", "b@example.org": "NEEDS-ACTION"}
    with running.store.read() as conn:
        kinds = [r[0] for r in conn.execute(sa.select(inbound_t.c.kind).order_by(inbound_t.c.id))]
    assert kinds == ["hook"] * 5  # every reply is stored before the 250, including the ignored ones


async def test_reply_to_another_address_is_not_taken_by_the_hook(running: service.Running) -> None:
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await send(running, reply_message("a@example.org", "a@example.org", "u@x"), "nobody@liaison.bohai.example")


async def test_plain_mail_to_the_organiser_is_kept_not_lost(running: service.Running) -> None:
    msg = EmailMessage()
    msg["From"] = "a@example.org"
    msg["To"] = ORGANISER
    msg["Subject"] = "关于会议的问题"
    msg.set_content("请问会议材料何时发出？")
    assert "stored" in await send(running, msg)
    with running.store.read() as conn:
        rows = conn.execute(sa.select(inbound_t.c.kind, inbound_t.c.rcpt_tos)).all()
    assert [tuple(r) for r in rows] == [("local", ORGANISER)]


async def test_stale_reply_after_a_time_change_and_a_foreign_envelope_change_nothing(running: service.Running) -> None:
    data = MeetingInput(title="联席会议", host="13", start=START, end=START + dt.timedelta(hours=8),
                        attendees=["a@example.org", "b@example.org"])  # fmt: skip
    made = rules.create_meeting(running.store, None, running.settings, data, "t")
    uid, mid = made.meeting.uid, made.meeting.id
    await send(running, reply_message("a@example.org", "a@example.org", uid, sequence=0))
    assert partstats(running, mid)["a@example.org"] == "ACCEPTED"
    later = MeetingInput(start=START + dt.timedelta(days=1), end=START + dt.timedelta(days=1, hours=8))
    rules.update_meeting(running.store, None, running.settings, mid, later, "t")  # SEQUENCE 1 moves the time
    rules.update_meeting(running.store, None, running.settings, mid, MeetingInput(place="天津"), "t")  # 2: place
    assert partstats(running, mid)["a@example.org"] == "NEEDS-ACTION"
    await send(running, reply_message("a@example.org", "a@example.org", uid, sequence=0))  # delayed old answer
    assert partstats(running, mid)["a@example.org"] == "NEEDS-ACTION"
    forged = reply_message("b@example.org", "b@example.org", uid, "DECLINED", sequence=2)
    await send(running, forged, envelope="mallory@example.net")  # From is b, the envelope is not
    assert partstats(running, mid)["b@example.org"] == "NEEDS-ACTION"
    await send(running, reply_message("a@example.org", "a@example.org", uid, sequence=1))  # answers the new time
    await send(running, reply_message("b@example.org", "b@example.org", uid, "DECLINED", sequence=2))
    assert partstats(running, mid) == {"a@example.org": "ACCEPTED", "b@example.org": "DECLINED"}


async def test_a_from_name_that_decodes_to_a_line_break_is_taken_like_any_other(running: service.Running) -> None:
    """An encoded CR/LF in the From display name makes Python's address parser raise; the message must still be
    taken, stored and applied by its address, never answered with a temporary failure retried for days."""
    data = MeetingInput(title="联席会议", host="13", start=START, end=START + dt.timedelta(hours=8),
                        attendees=["a@example.org"])  # fmt: skip
    made = rules.create_meeting(running.store, None, running.settings, data, "t")
    host, _, port = running.urls["smtp"].removeprefix("smtp://").rpartition(":")
    bad_from = b"From: =?utf-8?q?a=0D=0Ab?= <a@example.org>\r\n"
    reply = reply_message("a@example.org", "a@example.org", made.meeting.uid).as_bytes()
    reply = bad_from + b"\r\n".join(line for line in reply.split(b"\n") if not line.startswith(b"From:"))
    plain = bad_from + f"To: {ORGANISER}\r\nSubject: =?utf-8?q?x?=\r\n\r\nhello\r\n".encode()
    answers = []
    for raw in (reply, plain):
        errors, answer = await aiosmtplib.send(
            raw, hostname=host, port=int(port), sender="a@example.org", recipients=[ORGANISER], timeout=30
        )
        assert errors == {}
        answers.append(answer)
    assert "handled" in answers[0] and "stored" in answers[1]
    assert partstats(running, made.meeting.id) == {"a@example.org": "ACCEPTED"}
    with running.store.read() as conn:
        kinds = [r[0] for r in conn.execute(sa.select(inbound_t.c.kind).order_by(inbound_t.c.id))]
    assert kinds == ["hook", "local"]
