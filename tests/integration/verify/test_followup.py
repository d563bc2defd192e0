"""Follow-up on working days: reminders N working days before the due date and the escalation digest on the first
working day after it, across the National Day holiday of 2026 (10-01…10-07 off, Saturday 10-10 a working day); each
sent once, also by two instances on PostgreSQL at the same moment; and a bounced notice marks its office 邮箱退信 and
puts it in the editor's queue."""

from __future__ import annotations

import asyncio
import datetime as dt

import aiosmtplib
import pytest

from directory.snapshot import SnapshotHolder
from directory.store import Store, open_store
from liaison.database import open_store as open_liaison_store
from liaison.mail.inbound import Inbound, InboundServer
from liaison.mail.worker import OutboxWorker
from liaison.verify import answers, campaign, followup
from liaison.verify import store as vstore
from liaison.workdays.calendar import default_calendar
from tests.support.letters import dsn
from tests.support.mailsink import Sink
from tests.support.verify import (
    CITY,
    COUNTY,
    EMAIL_A,
    EMAIL_B,
    EMAIL_C,
    FAX_ONLY,
    NEITHER,
    add_world,
    beijing,
    item_states,
    pages,
    parsed,
    queued,
    settings_for,
    text_of,
)

STARTED = dt.date(2026, 9, 29)  # Tuesday before National Day


def begin(store: Store) -> int:
    add_world(store)
    snap = SnapshotHolder(store).current
    started = campaign.start_campaign(
        store, settings_for(store.url), snap, region_code=COUNTY, due_within=5, actor="test",
        calendar=default_calendar(), now=beijing(STARTED),
    )  # fmt: skip
    assert started.due_on == dt.date(2026, 10, 12)  # 9-30, 10-08, 10-09, 10-10 (调休), 10-12
    return started.id


def run_on(store: Store, day: dt.date, hour: int = 9) -> int:
    snap = SnapshotHolder(store).current
    return followup.follow_up(store, settings_for(store.url), snap, beijing(day, hour), default_calendar())


def test_reminders_and_escalation_follow_the_working_day_calendar(store: Store) -> None:
    campaign_id = begin(store)
    with store.read() as conn:
        c = vstore.campaign(conn, campaign_id)
        item_a = next(i for i in vstore.items(conn, campaign_id) if i.region_code == EMAIL_A)
    assert c is not None
    assert followup.dates(default_calendar(), c) == followup.Dates(
        (dt.date(2026, 10, 8), dt.date(2026, 10, 10)), dt.date(2026, 10, 13)
    )
    answers.confirm(store, item_a.id, beijing(STARTED, 10))  # 建北街道 answered: never reminded

    day = STARTED
    while day < dt.date(2026, 10, 8):  # through the holiday: nothing
        assert run_on(store, day) == 0, day
        day += dt.timedelta(days=1)
    assert queued(store, "verify_remind") == []

    assert run_on(store, dt.date(2026, 10, 8)) == 4  # 长安区, 青园, 广安 by e-mail and 育才 by fax
    assert run_on(store, dt.date(2026, 10, 8), 15) == 0, "once per reminder day"
    assert run_on(store, dt.date(2026, 10, 9)) == 0
    reminders = queued(store, "verify_remind")
    assert sorted(r["recipient"] for r in reminders) == sorted(
        ["changan@hebei.example", "qingyuan@hebei.example", "guangan@hebei.example",
         "FAX=+8631186000006@fax.gw.example"]
    )  # fmt: skip
    assert "2026年10月12日" in text_of(parsed(reminders[0]["body"]))

    assert run_on(store, dt.date(2026, 10, 10)) == 4  # the Saturday that is a working day
    assert run_on(store, dt.date(2026, 10, 11)) == 0
    assert run_on(store, dt.date(2026, 10, 12)) == 0  # the due date itself: still in time
    assert item_states(store)[EMAIL_B] == "pending"

    assert run_on(store, dt.date(2026, 10, 13)) == 2  # overdue: one digest per parent office
    assert run_on(store, dt.date(2026, 10, 14)) == 0
    digests = {r["recipient"]: text_of(parsed(r["body"])) for r in queued(store, "verify_digest")}
    assert set(digests) == {"sjz@hebei.example", "changan@hebei.example"}
    assert COUNTY in digests["sjz@hebei.example"] and EMAIL_B not in digests["sjz@hebei.example"]
    county_digest = digests["changan@hebei.example"]
    assert all(code in county_digest for code in (EMAIL_B, EMAIL_C, FAX_ONLY, NEITHER))
    assert EMAIL_A not in county_digest and "4 个下级单位" in county_digest
    states = item_states(store)
    assert states[EMAIL_A] == "confirmed"
    assert {states[c] for c in (COUNTY, EMAIL_B, EMAIL_C, FAX_ONLY, NEITHER)} == {"escalated"}
    assert CITY not in states


@pytest.mark.postgres
def test_two_instances_send_each_reminder_once(pg_demo_url: str) -> None:
    """Two stores (two instances' connection pools) run the follow-up at the same moment, many times over."""
    first = open_liaison_store(pg_demo_url)
    second = open_store(pg_demo_url)
    try:
        snap = SnapshotHolder(first).current
        settings = settings_for(pg_demo_url)
        started = campaign.start_campaign(
            first, settings, snap, region_code="130100000000", due_within=5, actor="test",
            calendar=default_calendar(), now=beijing(STARTED),
        )  # fmt: skip
        assert started.emails > 100

        async def race(day: dt.date) -> list[int]:
            runs = [
                asyncio.to_thread(followup.follow_up, s, settings, snap, beijing(day), default_calendar())
                for s in (first, second) * 4
            ]
            return list(await asyncio.gather(*runs))

        sent = asyncio.run(race(dt.date(2026, 10, 8)))
        expected = started.emails + started.faxes
        assert sorted(sent) == [0] * 7 + [expected], "one instance sent the reminders, the others found them sent"
        assert len(queued(first, "verify_remind")) == expected
        asyncio.run(race(dt.date(2026, 10, 9)))
        assert len(queued(first, "verify_remind")) == expected
        escalated = asyncio.run(race(dt.date(2026, 10, 13)))
        assert sum(escalated) == len(queued(first, "verify_digest")) > 0
        assert len(queued(first, "verify_digest")) == sum(escalated)
    finally:
        first.close()
        second.close()


async def test_a_bounced_notice_marks_the_office_and_queues_it_for_the_editor(store: Store, sink: Sink) -> None:
    add_world(store)
    settings = settings_for(store.url, sink)
    holder = SnapshotHolder(store)
    campaign.start_campaign(store, settings, holder.current, region_code=COUNTY, due_within=10, actor="test")
    worker = OutboxWorker(store, settings)
    inbound = Inbound(store, settings, lambda: holder.current, on_bounce=[vstore.mark_bounced])
    server = InboundServer(inbound)
    _, port = await server.start()
    worker.start()
    try:
        await worker.wait_idle()
        sent = {m.rcpt_tos[0]: m for m in sink.drain()}
        assert len(sent) == 5
        bounce_to = sent["guangan@hebei.example"].mail_from
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) as client:
            await client.sendmail("", [bounce_to], dsn(bounce_to, "guangan@hebei.example"))
    finally:
        await server.aclose()
        await worker.aclose()
    assert item_states(store)[EMAIL_C] == "bounced"
    office = store.get_office(EMAIL_C)
    assert office is not None and office["email_status"] == "bouncing"
    async with pages(store, settings) as p:
        await p.login("hebei")
        page = await (await p.client.get("/verify/queue")).text()
        bounced = page[page.index('id="bounced"') :]
        assert EMAIL_C in bounced and "5.1.1" in bounced and EMAIL_B not in bounced
