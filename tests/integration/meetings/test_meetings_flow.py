"""Joint meetings end to end through a real aiosmtpd sink: invitations, updates, cancellations, replies, limits."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from email.utils import formataddr

import icalendar
import pytest
import sqlalchemy as sa
from meetings_support import NOW, START, Clock, Sink, count_meetings, make_scheduler

from directory.errors import ValidationFailed
from directory.settings import Settings
from directory.snapshot import Snapshot
from directory.store import Store
from liaison import meeting_inbound, meetings, scheduler
from liaison.meetings import MeetingInput

TITLE = "环渤海地区流动人口服务管理联席会议第十二次全体会议暨区域协作机制建设推进会"
OFFICERS = {
    f"r{code}0000000000@demo.bohai.example" for code in ("11", "12", "13", "14", "15", "21", "22", "23", "37", "41")
}


def new(**kw: object) -> MeetingInput:
    base: dict[str, object] = {"title": TITLE, "host": "13", "place": "石家庄", "start": START}
    base["end"] = START + dt.timedelta(hours=8)
    base.update(kw)
    return MeetingInput(**base)


def calendar_of(msg: EmailMessage) -> icalendar.Calendar:
    parts = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1
    data = parts[0].get_payload(decode=True)
    assert isinstance(data, bytes)
    return icalendar.Calendar.from_ical(data)


def event_of(msg: EmailMessage) -> tuple[str, icalendar.Event]:
    cal = calendar_of(msg)
    (ev,) = cal.walk("VEVENT")
    return str(cal["METHOD"]), ev


async def deliver(store: Store, settings: Settings, clock: Clock, sink: Sink) -> list[tuple[str, str, int, str]]:
    """Run the scheduler once; (recipient, method, sequence, status) of each mail the sink got."""
    await make_scheduler(store, settings, clock).run_due()
    out = []
    for mail in sink.drain():
        assert len(mail.rcpt_tos) == 1
        method, ev = event_of(mail.message)
        assert mail.message["To"].addresses[0].addr_spec == mail.rcpt_tos[0]
        out.append((mail.rcpt_tos[0], method, int(ev["SEQUENCE"]), str(ev["STATUS"])))
    return sorted(out)


async def test_invite_move_remove_cancel(
    demo_store: Store, demo_snap: Snapshot, settings: Settings, clock: Clock, sink: Sink
) -> None:
    made = meetings.create_meeting(demo_store, demo_snap, settings, new(), "tester", now=NOW)
    assert {a.email for a in made.meeting.attendees} == OFFICERS
    assert made.warnings == [] and made.notices == 10
    got = await deliver(demo_store, settings, clock, sink)
    assert got == sorted((e, "REQUEST", 0, "CONFIRMED") for e in OFFICERS)

    moved = meetings.update_meeting(
        demo_store, demo_snap, settings, made.meeting.id, MeetingInput(start=START + dt.timedelta(days=1),
        end=START + dt.timedelta(days=1, hours=8)), "tester", now=NOW,
    )  # fmt: skip
    assert moved.meeting.sequence == 1 and moved.meeting.uid == made.meeting.uid
    got = await deliver(demo_store, settings, clock, sink)
    assert got == sorted((e, "REQUEST", 1, "CONFIRMED") for e in OFFICERS)

    gone = "r410000000000@demo.bohai.example"
    guest = "guest@example.org"
    changed = meetings.update_meeting(
        demo_store, demo_snap, settings, made.meeting.id, MeetingInput(remove=[gone], add=[guest]), "tester", now=NOW
    )
    assert changed.meeting.sequence == 2
    got = await deliver(demo_store, settings, clock, sink)
    stay = (OFFICERS - {gone}) | {guest}
    assert got == sorted([(e, "REQUEST", 2, "CONFIRMED") for e in stay] + [(gone, "CANCEL", 2, "CANCELLED")])

    meetings.cancel_meeting(demo_store, settings, made.meeting.id, "tester", now=NOW)
    got = await deliver(demo_store, settings, clock, sink)
    assert got == sorted((e, "CANCEL", 3, "CANCELLED") for e in OFFICERS | {guest})


async def test_moved_invitation_carries_new_time(
    demo_store: Store, demo_snap: Snapshot, settings: Settings, clock: Clock, sink: Sink
) -> None:
    made = meetings.create_meeting(demo_store, demo_snap, settings, new(attendees=["a@example.org"]), "t", now=NOW)
    later = START + dt.timedelta(days=7)
    meetings.update_meeting(
        demo_store,
        None,
        settings,
        made.meeting.id,
        MeetingInput(start=later, end=later + dt.timedelta(hours=2)),
        "t",
        now=NOW,
    )
    await make_scheduler(demo_store, settings, clock).run_due()
    first, second = sink.drain()
    assert event_of(first.message)[1]["DTSTART"].dt == START
    _, ev = event_of(second.message)
    assert ev["DTSTART"].dt == later and ev["DTSTART"].params["TZID"] == "Asia/Shanghai"
    assert int(ev["SEQUENCE"]) == 1 and str(second.message["Subject"]).startswith("会议变更")


def reply_message(sender: str, attendee: str, uid: str, partstat: str = "ACCEPTED") -> EmailMessage:
    cal = icalendar.Calendar()
    cal.add("prodid", "-//test//")
    cal.add("version", "2.0")
    cal.add("method", "REPLY")
    ev = icalendar.Event()
    ev.add("uid", uid)
    ev.add("sequence", 0)
    ev.add("dtstamp", NOW)
    person = icalendar.vCalAddress(f"mailto:{attendee}")
    person.params["PARTSTAT"] = partstat
    ev.add("attendee", person)
    cal.add_component(ev)
    msg = EmailMessage()
    msg["From"] = formataddr(("参会人", sender))
    msg["To"] = "meetings@liaison.bohai.example"
    msg["Subject"] = "Accepted: 联席会议"
    msg.set_content("accepted")
    msg.add_alternative(cal.to_ical(), maintype="text", subtype="calendar", params={"method": "REPLY"})
    return msg


async def send_to_hook(store: Store, settings: Settings, sink: Sink, msg: EmailMessage) -> bool:
    """Deliver over real SMTP to a server whose handler is the meetings inbound hook (until issue 4's face)."""
    import aiosmtplib

    hook = meeting_inbound.reply_hook(settings)
    await aiosmtplib.send(msg, hostname=sink.host, port=sink.port)
    mail = await sink.queue.get()
    return await hook(store, mail.message, mail.mail_from, mail.rcpt_tos)


def partstats(store: Store, meeting_id: int) -> dict[str, str]:
    return {a.email: a.partstat for a in meetings.get_meeting(store, meeting_id).attendees}


async def test_reply_from_attendee_marks_accepted_and_others_change_nothing(
    store: Store, settings: Settings, sink: Sink
) -> None:
    made = meetings.create_meeting(store, None, settings, new(attendees=["a@example.org", "b@example.org"]), "t")
    uid = made.meeting.uid
    forged = reply_message("mallory@example.net", "a@example.org", uid)
    assert await send_to_hook(store, settings, sink, forged) is True
    assert partstats(store, made.meeting.id) == {"a@example.org": "NEEDS-ACTION", "b@example.org": "NEEDS-ACTION"}
    other = reply_message("b@example.org", "a@example.org", uid, "DECLINED")
    assert await send_to_hook(store, settings, sink, other) is True
    assert partstats(store, made.meeting.id)["a@example.org"] == "NEEDS-ACTION"
    stranger = reply_message("x@example.org", "x@example.org", uid)
    assert await send_to_hook(store, settings, sink, stranger) is True
    assert "x@example.org" not in partstats(store, made.meeting.id)

    real = reply_message("A@Example.org", "a@example.org", uid)
    assert await send_to_hook(store, settings, sink, real) is True
    assert partstats(store, made.meeting.id) == {"a@example.org": "ACCEPTED", "b@example.org": "NEEDS-ACTION"}


async def test_hook_leaves_other_mail_alone(store: Store, settings: Settings, sink: Sink) -> None:
    msg = EmailMessage()
    msg["From"] = "a@example.org"
    msg["To"] = "meetings@liaison.bohai.example"
    msg["Subject"] = "普通来信"
    msg.set_content("您好")
    assert await send_to_hook(store, settings, sink, msg) is False
    hook = meeting_inbound.reply_hook(settings)
    reply = reply_message("a@example.org", "a@example.org", "u@x")
    assert await hook(store, reply, "a@example.org", ["130100000000@liaison.bohai.example"]) is False


def test_bad_input_names_the_field_and_writes_nothing(store: Store, settings: Settings) -> None:
    cases = {
        "end": new(end=START - dt.timedelta(hours=1)),
        "host": new(host="99"),
        "attendee": new(attendees=["not an address"]),
        "title": new(title="长" * 201),
    }
    for name, data in cases.items():
        with pytest.raises(ValidationFailed) as info:
            meetings.create_meeting(store, None, settings, data, "t")
        assert info.value.errors[0].field == name, name
    too_many = settings.replace(meetings={"max_attendees": 2})
    with pytest.raises(ValidationFailed) as info:
        meetings.create_meeting(store, None, too_many, new(attendees=["a@x.org", "b@x.org", "c@x.org"]), "t")
    assert info.value.errors[0].field == "attendee" and "最多 2 人" in info.value.errors[0].message
    assert count_meetings(store) == 0
    assert scheduler.jobs_for(store, "1") == []


def test_non_working_day_warns(store: Store, settings: Settings) -> None:
    sunday = dt.datetime(2026, 12, 20, 1, 0, tzinfo=dt.UTC)
    made = meetings.create_meeting(
        store, None, settings, new(start=sunday, end=sunday + dt.timedelta(hours=3), attendees=["a@x.org"]), "t"
    )
    assert made.warnings == ["2026-12-20 不是工作日（周末或法定节假日）"]
    national_day = dt.datetime(2026, 10, 1, 1, 0, tzinfo=dt.UTC)
    assert meetings.date_warnings(national_day, national_day + dt.timedelta(hours=1)) == [
        "2026-10-01 不是工作日（周末或法定节假日）"
    ]
    assert meetings.date_warnings(START, START + dt.timedelta(hours=8)) == []


def test_missing_liaison_officers_are_named(store: Store, settings: Settings, demo_snap: Snapshot) -> None:
    people, warnings = meetings.default_attendees(demo_snap)
    assert len(people) == 10 and warnings == []
    from directory.snapshot import SnapshotHolder

    empty = SnapshotHolder(store).current
    people, warnings = meetings.default_attendees(empty)
    assert people == [] and len(warnings) == 10 and warnings[0].startswith("北京市没有登记联络员")


def test_signed_links() -> None:
    token = meetings.sign(b"k", 5, "a@example.org")
    assert meetings.verify(b"k", token) == (5, "a@example.org")
    assert meetings.verify(b"other", token) is None
    mid, hexmail, mac = token.split(".")
    assert meetings.verify(b"k", f"6.{hexmail}.{mac}") is None
    assert meetings.verify(b"k", f"{mid}.{b'b@example.org'.hex()}.{mac}") is None
    assert meetings.verify(b"k", "garbage") is None


def test_audit_rows(store: Store, settings: Settings) -> None:
    made = meetings.create_meeting(store, None, settings, new(attendees=["a@x.org"]), "张三")
    meetings.cancel_meeting(store, settings, made.meeting.id, "李四")
    rows = store.history("meeting", str(made.meeting.id))
    assert [(r["action"], r["actor"]) for r in rows] == [("cancel", "李四"), ("create", "张三")]
    with store.read() as conn:
        assert conn.execute(sa.text("SELECT status FROM meeting")).scalar_one() == "cancelled"
