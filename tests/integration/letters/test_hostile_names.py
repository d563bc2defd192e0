"""Hostile and careless names against the real outbox and an aiosmtpd sink, on SQLite and PostgreSQL.

A line break in a stored sender name (an Excel cell typed with Alt+Enter, stored before the text rules) must never
stop the outbox: its reminders and letters go out with the name on one line, and any job or notice that still fails
affects only itself (recorded, retried, shown) while the rest of the round is sent. And no display name — a unit
name ``国务院办公厅 <gb@gov.example>``, a contact name, the organiser's name — can add or replace a mailbox.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from directory.clock import ManualClock
from directory.errors import ValidationFailed
from directory.snapshot import SnapshotHolder
from directory.store import Store, office_t
from directory.validate import OfficeData, clean_office
from liaison import cli
from liaison.letters import compose
from liaison.letters import store as letter_store
from liaison.letters.models import delivery_t
from liaison.mail import outbox
from liaison.meetings import rules
from liaison.meetings import store as meeting_store
from liaison.settings import Settings
from tests.support.letters import FORM, Browser, Outbound, deadline_worker, settings_for
from tests.support.mailsink import Received, Sink

DOMAIN = "liaison.bohai.example"
SENDER = "130100000000"  # 石家庄市
TO_A = "110101000000"  # 东城区
TO_B = "110101003000"  # 交道口街道
SPOOF = "国务院办公厅 <gb@gov.example>"
OFFICES = [
    OfficeData(SENDER, "石家庄市流动人口服务管理办公室", email="sjz@hebei.example", address="石家庄市中华南大街1号"),
    OfficeData(TO_A, "东城区流动人口服务管理办公室", email="dc@beijing.example"),
    OfficeData(TO_B, "交道口街道流动人口服务站", email="jdk@beijing.example"),
]


@dataclass
class World(Outbound):
    drain_timeout = 30.0

    def send(self, *to: str, subject: str = "关于核查流动人口信息的函") -> compose.Sent:
        draft = compose.Draft(SENDER, list(to), subject, "请协助核查。", reply_within=10)
        return compose.send_letter(self.store, self.settings, self.holder.current, draft, now=self.clock())

    async def store_raw(self, code: str, **values: str) -> None:
        """Write values as they could be stored before the text rules (no validation), and reload the Snapshot."""
        with self.store.begin() as conn:
            conn.execute(sa.update(office_t).where(office_t.c.region_code == code).values(**values))
            self.store.bump_generation(conn, [code])
        await self.holder.refresh()

    def deliveries(self) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            return [dict(r) for r in conn.execute(sa.select(delivery_t).order_by(delivery_t.c.id)).mappings()]

    def to_reminder_day(self) -> None:
        remind_on = self.deliveries()[0]["remind_on"]
        self.clock.now = dt.datetime.combine(remind_on, dt.time(2, 0), dt.UTC)  # 10:00 in Shanghai


@pytest.fixture
async def world(store: Store, sink: Sink, clock: ManualClock) -> AsyncIterator[World]:
    store.upsert_offices(OFFICES, "test")
    settings = settings_for(store.url, sink, reminder_days_before=2)
    holder = SnapshotHolder(store)
    worker = deadline_worker(store, settings, holder, clock, name="letter-deadlines")
    worker.start()
    try:
        yield World(store, settings, holder, worker, sink, clock)
    finally:
        await worker.aclose()


def plain(to: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"{SENDER}@{DOMAIN}"
    msg["To"] = to
    msg["Subject"] = "与提醒无关的一封信"
    msg.set_content("正文")
    return msg


def the_mailbox(got: Received, header: str = "From") -> tuple[str, str]:
    """The one mailbox of ``header`` as a mail client reads it (fails if there are more or none)."""
    parsed = message_from_bytes(got.data, policy=policy.default)
    values = parsed.get_all(header, [])
    assert len(values) == 1, f"{len(values)} {header} headers"
    addresses = values[0].addresses
    assert len(addresses) == 1, f"{header} holds {len(addresses)} mailboxes: {values[0]}"
    return addresses[0].display_name, addresses[0].addr_spec


def decoded(got: Received, header: str = "From") -> str:
    """The header's text with RFC 2047 encoded-words decoded as the RFC says (whitespace between two adjacent
    encoded-words dropped). CPython's ``policy.default`` parser keeps a space there when the decoded name contains
    one, so it shows a folded ``石家庄市 流动人口服务管理办公室`` as ``…办公 室``: a reader bug, not a header error."""
    raw = message_from_bytes(got.data, policy=policy.compat32)[header]
    return str(make_header(decode_header(str(raw))))


async def test_a_line_break_in_a_sender_name_never_stops_the_outbox_round(world: World) -> None:
    world.send(TO_A)
    assert len(await world.drain()) == 1
    await world.store_raw(SENDER, unit_name="石家庄市\n流动人口服务管理办公室")
    with world.store.begin() as conn:
        outbox.enqueue(conn, plain("other@example.org"), recipient="other@example.org", kind="test")
    world.to_reminder_day()

    got = {m.rcpt_tos[0]: m for m in await world.drain()}

    assert set(got) == {"other@example.org", "dc@beijing.example"}  # the other mail and the reminder
    assert the_mailbox(got["dc@beijing.example"])[1] == f"{SENDER}@{DOMAIN}"
    assert decoded(got["dc@beijing.example"]) == f"石家庄市 流动人口服务管理办公室 <{SENDER}@{DOMAIN}>"
    health = world.worker.health()
    assert health["ok"] is True and health["failures"] == 0 and health["job_errors"] == {}
    assert world.deliveries()[0]["reminded_at"] is not None


async def test_sending_from_an_office_with_a_line_break_in_its_stored_name(
    world: World, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    await world.store_raw(SENDER, unit_name="石家庄市流动人口\r\n服务管理办公室\u2028")
    monkeypatch.setenv("BOHAI_DATABASE_URL", db_url)
    body = tmp_path / "body.txt"
    body.write_text("请协助核查。", encoding="utf-8")
    argv = ["letter", "send", "--from", SENDER, "--to", TO_A, "--subject", "关于核查的函", "--body-file", str(body)]
    code = cli.main(argv)
    _, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in err, err
    (got,) = await world.drain()
    assert the_mailbox(got)[1] == f"{SENDER}@{DOMAIN}"
    assert decoded(got) == f"石家庄市流动人口 服务管理办公室 <{SENDER}@{DOMAIN}>"


async def test_a_failing_job_affects_only_itself_and_is_shown_until_it_succeeds(world: World) -> None:
    broken = [True]

    def job(_store: Store, _now: dt.datetime) -> int:
        if broken[0]:
            raise RuntimeError("提醒模板损坏")
        return 0

    world.worker.add_job(job, name="broken-job")
    with world.store.begin() as conn:
        outbox.enqueue(conn, plain("a@example.org"), recipient="a@example.org", kind="test")

    (got,) = await world.drain()

    assert got.rcpt_tos == ["a@example.org"]
    health = world.worker.health()
    assert health["ok"] is True and health["failures"] == 0
    assert health["job_errors"] == {"broken-job": "RuntimeError: 提醒模板损坏"}
    broken[0] = False
    await world.drain()
    assert world.worker.health()["job_errors"] == {}


async def test_a_reminder_that_cannot_be_built_is_kept_on_its_delivery_and_retried(world: World) -> None:
    world.send(TO_A, TO_B)
    assert len(await world.drain()) == 2
    bad, good = world.deliveries()
    with world.store.begin() as conn:  # an address stored before the rules
        update = sa.update(delivery_t).where(delivery_t.c.id == bad["id"])
        conn.execute(update.values(address="dc@beijing.example\r\nBcc: victim@example.org"))
    world.to_reminder_day()

    got = await world.drain()

    assert [m.rcpt_tos for m in got] == [[good["address"]]]
    failed, sent = world.deliveries()
    assert failed["reminded_at"] is None and "回复提醒未能生成" in failed["state_note"]
    assert "邮件地址无效" in failed["state_note"] and sent["reminded_at"] is not None
    assert world.worker.health()["ok"] is True
    shown = letter_store.get_letter(world.store, str(failed["letter_id"])).deliveries[0]
    assert "回复提醒未能生成" in shown.state_note

    assert await world.drain() == []  # tried again next round, still failing, nothing else disturbed
    with world.store.begin() as conn:
        conn.execute(sa.update(delivery_t).where(delivery_t.c.id == bad["id"]).values(address="dc@beijing.example"))
    (again,) = await world.drain()
    assert again.rcpt_tos == ["dc@beijing.example"]
    assert world.deliveries()[0]["state_note"] == "" and world.deliveries()[0]["reminded_at"] is not None


@pytest.mark.parametrize(
    "name",
    [SPOOF, "Evil <gb@gov.example>", "国务院办公厅, gb@gov.example", '"国务院" <gb@gov.example>, 办公厅',
     "=?utf-8?q?x?= <gb@gov.example>"],
)  # fmt: skip
async def test_a_unit_name_cannot_add_or_replace_a_from_mailbox(world: World, name: str) -> None:
    cleaned = clean_office({"region_code": SENDER, "unit_name": name, "email": "sjz@hebei.example"})
    assert cleaned.data is not None, cleaned.errors  # a legal name: only its encoding keeps it a name
    world.store.upsert_offices([cleaned.data], "test")
    await world.holder.refresh()
    world.send(TO_A)
    (letter,) = await world.drain()
    world.to_reminder_day()
    (reminder,) = await world.drain()
    for got in (letter, reminder):
        shown, address = the_mailbox(got)
        assert address == f"{SENDER}@{DOMAIN}"
        if not name.startswith("=?"):  # the email package decodes encoded-word look-alikes; still one mailbox
            assert shown == name
        assert the_mailbox(got, "To")[1] == "dc@beijing.example"


async def test_contact_and_organiser_names_cannot_add_a_mailbox(world: World) -> None:
    hostile = "张三 <evil@example.org>, 李四"
    world.settings = world.settings.replace(meetings={"organiser_name": "联席会议 <boss@evil.example>"})
    world.store.upsert_offices(
        [OfficeData("110000000000", "北京市流动人口服务管理办公室", contact_name=hostile, email="bj@beijing.example",
                    liaison=True)],
        "test",
    )  # fmt: skip
    await world.holder.refresh()
    start = world.clock() + dt.timedelta(days=30)
    data = rules.MeetingInput(title="联席会议", host="11", start=start, end=start + dt.timedelta(hours=2))
    rules.create_meeting(world.store, world.holder.current, world.settings, data, "test", now=world.clock())
    (got,) = await world.drain()
    assert the_mailbox(got, "To") == (hostile, "bj@beijing.example")
    assert the_mailbox(got, "From") == ("联席会议 <boss@evil.example>", rules.organiser_address(world.settings))


async def test_a_line_separator_in_a_subject_is_refused_naming_the_field(browser: Browser, store: Store) -> None:
    await browser.login("admin")
    resp = await browser.send({**FORM, "subject": "关于核查的函\u2028Bcc: victim@example.org"})
    text = await resp.text()
    assert resp.status == 400 and "标题含有不允许的换行符 U+2028" in text
    assert outbox.counts(store) == {} and browser.woken == []


@pytest.mark.parametrize(("field", "value"), [("title", "联席会议\u2028Bcc: x@example.org"), ("place", "会议室\u202e")])
def test_meeting_titles_and_places_refuse_line_separators_and_overrides(store: Store, field: str, value: str) -> None:
    start = dt.datetime(2026, 12, 17, 1, 0, tzinfo=dt.UTC)
    values: dict[str, Any] = {"title": "联席会议", "place": "", field: value}
    data = rules.MeetingInput(host="13", start=start, end=start + dt.timedelta(hours=2), attendees=["a@example.org"],
                              **values)  # fmt: skip
    with pytest.raises(ValidationFailed) as caught:
        rules.create_meeting(store, None, Settings(), data, "test")
    (err,) = caught.value.errors
    assert err.field == field and rules.LABELS[field] in err.message and "U+20" in err.message
    assert meeting_store.list_meetings(store) == [] and outbox.counts(store) == {}
