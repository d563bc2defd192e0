"""Done-when: every mail text staff read — a letter, its reminder and overdue notice, a meeting invitation, an
error report to the province's editors — says dates the Chinese way in Beijing time, with no UTC or ISO strings,
Python quoting, internal names or stack text (``tests.support.staffweb.text_problems``).

The mails are the real ones: built by the service's own code, sent by the outbox worker to an aiosmtpd sink.
"""

from __future__ import annotations

import re
from email.message import EmailMessage

from liaison import reportmail
from liaison.meetings import rules
from tests.support.letters import EMAIL_ONLY, PARENT, World, at_nine
from tests.support.staffweb import text_problems

CHINESE_DATE = re.compile(r"20\d\d年\d\d月\d\d日")


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


async def test_mail_texts_read_plainly(world: World) -> None:
    sent = world.send(EMAIL_ONLY, PARENT, reply_within=5)
    mails = {"letter": await world.drain()}
    row = world.delivery(sent.deliveries[0].id)
    world.clock.now = at_nine(row["remind_on"])
    mails["reminder"] = await world.drain()
    world.clock.now = at_nine(row["overdue_on"])
    mails["overdue"] = await world.drain()

    meeting = rules.MeetingInput(
        title="联席会议", host="13", place="石家庄", start=rules.parse_local("2027-03-17T09:00", "start"),
        end=rules.parse_local("2027-03-17T17:00", "end"), attendees=["officer@example.org"],
    )  # fmt: skip
    rules.create_meeting(world.store, world.holder.current, world.settings, meeting, "test", now=world.clock())
    world.worker.wake()
    mails["meeting"] = await world.drain()

    world.store.create_account("e13", "x", "editor", "130000000000", "test")
    world.store.update_account("e13", "test", email="e13@example.org")
    report = {"id": 1, "region_code": EMAIL_ONLY, "message": "电话有误", "reporter": "reader", "contact": "",
              "unit_name": "交道口街道流动人口服务站"}  # fmt: skip
    assert reportmail.queue(world.store, world.settings, {**report, "region_code": "130100000000"}) == 1
    world.worker.wake()
    mails["report"] = await world.drain()

    assert {kind: len(found) >= 1 for kind, found in mails.items()} == dict.fromkeys(mails, True)
    problems = [f"{kind}: {p}" for kind, found in mails.items() for m in found for p in text_problems(_text(m.message))]
    assert not problems, "\n".join(problems)
    for kind in ("letter", "reminder", "overdue"):
        assert all(CHINESE_DATE.search(_text(m.message)) for m in mails[kind]), kind
    assert "北京时间" in _text(mails["meeting"][0].message)
