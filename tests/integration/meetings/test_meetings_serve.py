"""`bohai serve` restarted while a reminder is due: the reminder goes out exactly once, invitations too."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from directory import clock
from directory.store import Store, open_store
from liaison.mail.models import outbox_t
from liaison.meetings import reminders, rules
from liaison.meetings.rules import MeetingInput
from liaison.settings import Settings
from tests.support.meetings import Sink
from tests.support.servers import serve_process

pytestmark = pytest.mark.slow  # a whole `bohai serve` or more per test


def create(store: Store, settings: Settings, people: list[str]) -> int:
    """A meeting in two hours whose "1 day" reminder came due 22 hours ago (it was created two days ago)."""
    now = clock.now()
    start = now + dt.timedelta(hours=2)
    data = MeetingInput(title="联席会议", host="12", start=start, end=start + dt.timedelta(hours=1), attendees=people)
    return rules.create_meeting(store, None, settings, data, "t", now=now - dt.timedelta(days=2)).meeting.id


async def receive(sink: Sink, n: int) -> list[tuple[str, str]]:
    got = [await sink.get(timeout=120) for _ in range(n)]
    return sorted((m.rcpt_tos[0], str(m.message["Subject"]).split("：")[0]) for m in got)


def outbox_rows(store: Store) -> list[tuple[str, str]]:
    with store.read() as conn:
        rows = conn.execute(sa.select(outbox_t.c.kind, outbox_t.c.recipient).order_by(outbox_t.c.id))
        return sorted((r.kind, r.recipient) for r in rows)


async def test_restart_sends_a_due_reminder_once(db_url: str, sink: Sink) -> None:
    settings = Settings().replace(meetings={"reminder_offsets": "1 day"})
    env = {
        "BOHAI_DATABASE_URL": db_url, "BOHAI_HTTP_PORT": "0", "BOHAI_SMTP_PORT": "0", "BOHAI_LDAP_PORT": "0",
        "BOHAI_RELAY_PORT": str(sink.port), "BOHAI_MEETINGS_REMINDER_OFFSETS": "1 day",
        "BOHAI_MEETINGS_SCHEDULER_INTERVAL": "3600", "BOHAI_LIAISON_OUTBOX_POLL_INTERVAL": "3600",
    }  # fmt: skip
    store = open_store(db_url)
    try:
        first = create(store, settings, ["a@example.org", "b@example.org"])
        async with serve_process(env):
            got = await receive(sink, 4)
        assert got == sorted([(p, k) for p in ("a@example.org", "b@example.org") for k in ("会议提醒", "会议通知")])

        # Restart with one more meeting whose reminder is due: once its mail arrives, the new process has run a
        # scheduler pass and an outbox round over everything due — and sent nothing of the first meeting again.
        create(store, settings, ["c@example.org"])
        async with serve_process(env):
            assert await receive(sink, 2) == [("c@example.org", "会议提醒"), ("c@example.org", "会议通知")]
        assert sink.queue.empty()
        jobs = reminders.for_meeting(store, first)
        assert [(j.outcome, j.attempts) for j in jobs] == [("sent", 1), ("sent", 1)]
        # One outbox row per mail, none queued twice. (Their state is the outbox's business: a row whose send was
        # cut by the SIGTERM may still read "sending" and would go again after its lease, with the same Message-ID.)
        assert outbox_rows(store) == sorted(
            [("meeting", p) for p in ("a@example.org", "b@example.org", "c@example.org")]
            + [("meeting-reminder", p) for p in ("a@example.org", "b@example.org", "c@example.org")]
        )
    finally:
        store.close()
