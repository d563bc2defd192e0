"""Joint meetings end to end through a real aiosmtpd sink: invitations, updates, cancellations, replies, limits."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage

import icalendar
import pytest
import sqlalchemy as sa

from directory.clock import ManualClock
from directory.errors import SettingsError, ValidationFailed
from directory.snapshot import Snapshot
from directory.store import Store
from liaison.mail import scheduler
from liaison.meetings import links, rules
from liaison.meetings import store as meeting_store
from liaison.meetings.rules import MeetingInput
from liaison.settings import Settings
from liaison.workdays.calendar import Calendar
from tests.support.meetings import NOW, START, Sink, count_meetings, deliver

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


async def notices(store: Store, settings: Settings, clock: ManualClock, sink: Sink) -> list[tuple[str, str, int, str]]:
    """Deliver what is due; (recipient, method, sequence, status) of each mail the sink got, one recipient each."""
    out = []
    for mail in await deliver(store, settings, clock, sink):
        assert len(mail.rcpt_tos) == 1 and mail.mail_from.startswith("bounces+")
        method, ev = event_of(mail.message)
        assert mail.message["To"].addresses[0].addr_spec == mail.rcpt_tos[0]
        out.append((mail.rcpt_tos[0], method, int(ev["SEQUENCE"]), str(ev["STATUS"])))
    return sorted(out)


async def test_invite_move_remove_cancel(
    demo_store: Store, demo_snap: Snapshot, settings: Settings, clock: ManualClock, sink: Sink
) -> None:
    made = rules.create_meeting(demo_store, demo_snap, settings, new(), "tester", now=NOW)
    assert {a.email for a in made.meeting.attendees} == OFFICERS
    assert made.warnings == [] and made.notices == 10
    got = await notices(demo_store, settings, clock, sink)
    assert got == sorted((e, "REQUEST", 0, "CONFIRMED") for e in OFFICERS)

    moved = rules.update_meeting(
        demo_store, demo_snap, settings, made.meeting.id, MeetingInput(start=START + dt.timedelta(days=1),
        end=START + dt.timedelta(days=1, hours=8)), "tester", now=NOW,
    )  # fmt: skip
    assert moved.meeting.sequence == 1 and moved.meeting.uid == made.meeting.uid
    got = await notices(demo_store, settings, clock, sink)
    assert got == sorted((e, "REQUEST", 1, "CONFIRMED") for e in OFFICERS)

    gone = "r410000000000@demo.bohai.example"
    guest = "guest@example.org"
    changed = rules.update_meeting(
        demo_store, demo_snap, settings, made.meeting.id, MeetingInput(remove=[gone], add=[guest]), "tester", now=NOW
    )
    assert changed.meeting.sequence == 2
    got = await notices(demo_store, settings, clock, sink)
    stay = (OFFICERS - {gone}) | {guest}
    assert got == sorted([(e, "REQUEST", 2, "CONFIRMED") for e in stay] + [(gone, "CANCEL", 2, "CANCELLED")])

    rules.cancel_meeting(demo_store, settings, made.meeting.id, "tester", now=NOW)
    got = await notices(demo_store, settings, clock, sink)
    assert got == sorted((e, "CANCEL", 3, "CANCELLED") for e in OFFICERS | {guest})


async def test_moved_invitation_carries_new_time(
    demo_store: Store, demo_snap: Snapshot, settings: Settings, clock: ManualClock, sink: Sink
) -> None:
    made = rules.create_meeting(demo_store, demo_snap, settings, new(attendees=["a@example.org"]), "t", now=NOW)
    later = START + dt.timedelta(days=7)
    rules.update_meeting(
        demo_store,
        None,
        settings,
        made.meeting.id,
        MeetingInput(start=later, end=later + dt.timedelta(hours=2)),
        "t",
        now=NOW,
    )
    first, second = await deliver(demo_store, settings, clock, sink)
    assert event_of(first.message)[1]["DTSTART"].dt == START
    _, ev = event_of(second.message)
    assert ev["DTSTART"].dt == later and ev["DTSTART"].params["TZID"] == "Asia/Shanghai"
    assert int(ev["SEQUENCE"]) == 1 and str(second.message["Subject"]).startswith("会议变更")


def test_bad_input_names_the_field_and_writes_nothing(store: Store, settings: Settings) -> None:
    cases = {
        "end": new(end=START - dt.timedelta(hours=1)),
        "host": new(host="99"),
        "attendee": new(attendees=["not an address"]),
        "title": new(title="长" * 201),
        "place": new(place="石家庄\r\nBcc: victim@example.org"),
    }
    for name, data in cases.items():
        with pytest.raises(ValidationFailed) as info:
            rules.create_meeting(store, None, settings, data, "t")
        assert info.value.errors[0].field == name, name
    too_many = settings.replace(meetings={"max_attendees": 2})
    with pytest.raises(ValidationFailed) as info:
        rules.create_meeting(store, None, too_many, new(attendees=["a@x.org", "b@x.org", "c@x.org"]), "t")
    assert info.value.errors[0].field == "attendee" and "最多 2 人" in info.value.errors[0].message
    assert count_meetings(store) == 0
    assert scheduler.jobs_for(store, "1") == []


def test_non_working_day_warns(store: Store, settings: Settings) -> None:
    sunday = dt.datetime(2026, 12, 20, 1, 0, tzinfo=dt.UTC)
    made = rules.create_meeting(
        store, None, settings, new(start=sunday, end=sunday + dt.timedelta(hours=3), attendees=["a@x.org"]), "t"
    )
    assert made.warnings == ["2026年12月20日 不是工作日（周末或法定节假日）"]
    cal = Calendar()

    def at(*day: int) -> list[str]:
        start = dt.datetime(*day, 1, 0, tzinfo=dt.UTC)
        return rules.date_warnings(start, start + dt.timedelta(hours=1), cal)

    assert at(2026, 10, 1) == ["2026年10月01日 不是工作日（周末或法定节假日）"]
    assert at(2026, 10, 10) == []  # a Saturday, but a make-up working day (调休)
    assert at(2027, 3, 3) == ["2027年03月03日 所在年份尚无国务院放假安排数据，是否工作日仅为推定"]
    assert rules.date_warnings(START, START + dt.timedelta(hours=8), cal) == []


def test_missing_liaison_officers_are_named(store: Store, settings: Settings, demo_snap: Snapshot) -> None:
    people, warnings = rules.default_attendees(demo_snap)
    assert len(people) == 10 and warnings == []
    from directory.snapshot import SnapshotHolder

    empty = SnapshotHolder(store).current
    people, warnings = rules.default_attendees(empty)
    assert people == [] and len(warnings) == 10 and warnings[0].startswith("北京市没有登记联络员")


def test_signed_links() -> None:
    token = links.sign(b"k", 5, "a@example.org", 2)
    assert links.verify(b"k", token) == (5, "a@example.org", 2)
    assert links.verify(b"other", token) is None
    mid, seq, hexmail, mac = token.split(".")
    assert links.verify(b"k", f"6.{seq}.{hexmail}.{mac}") is None
    assert links.verify(b"k", f"{mid}.3.{hexmail}.{mac}") is None  # the notice version is signed too
    assert links.verify(b"k", f"{mid}.{seq}.{b'b@example.org'.hex()}.{mac}") is None
    assert links.verify(b"k", "garbage") is None


def test_audit_rows(store: Store, settings: Settings) -> None:
    made = rules.create_meeting(store, None, settings, new(attendees=["a@x.org"]), "张三")
    rules.cancel_meeting(store, settings, made.meeting.id, "李四")
    rows = store.history("meeting", str(made.meeting.id))
    assert [(r["action"], r["actor"]) for r in rows] == [("cancel", "李四"), ("create", "张三")]
    with store.read() as conn:
        assert conn.execute(sa.text("SELECT status FROM meeting")).scalar_one() == "cancelled"


def test_new_time_asks_again_other_changes_keep_answers(store: Store, settings: Settings) -> None:
    made = rules.create_meeting(store, None, settings, new(attendees=["a@x.org", "b@x.org"]), "t")
    mid = made.meeting.id
    assert rules.set_partstat(store, mid, "a@x.org", "ACCEPTED")
    rules.update_meeting(store, None, settings, mid, MeetingInput(place="天津"), "t")
    assert {a.email: a.partstat for a in meeting_store.get_meeting(store, mid).attendees}["a@x.org"] == "ACCEPTED"
    later = START + dt.timedelta(days=1)
    rules.update_meeting(store, None, settings, mid, MeetingInput(start=later, end=later + dt.timedelta(hours=1)), "t")
    people = meeting_store.get_meeting(store, mid).attendees
    assert [(a.partstat, a.responded_at) for a in people] == [("NEEDS-ACTION", None)] * 2


def test_bad_meetings_settings_name_the_option(store: Store, settings: Settings) -> None:
    cases = {
        "meetings.reminder_offsets": {"reminder_offsets": "10 weeks"},
        "meetings.organiser_local_part": {"organiser_local_part": "130000000000"},
        "meetings.base_url": {"base_url": "javascript:alert(1)"},
    }
    for option, values in cases.items():
        with pytest.raises(SettingsError, match=option.replace(".", r"\.")):
            rules.check_settings(settings.replace(meetings=values))
    with pytest.raises(SettingsError, match=r"meetings\.reminder_offsets.*'10 weeks'"):
        rules.create_meeting(
            store,
            None,
            settings.replace(meetings={"reminder_offsets": "1 day, 10 weeks"}),
            new(attendees=["a@x.org"]),
            "t",
        )
    assert count_meetings(store) == 0
