"""Fixtures and helpers of the joint-meetings tests (imported as ``meetings_support``).

A real aiosmtpd sink in the test's loop, a demo Snapshot, a settable clock, a scheduler with the meetings handlers.

The sink is an aiosmtpd ``SMTP`` server on 127.0.0.1 port 0 in the running event loop; every accepted message is
put on an ``asyncio.Queue`` so tests await mail instead of sleeping.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from directory.settings import Settings
from directory.snapshot import Snapshot, SnapshotHolder
from directory.store import Store, open_store
from liaison import meeting_mail, meetings, scheduler
from liaison.meeting_models import Meeting

START = dt.datetime(2026, 12, 17, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai, a Thursday and a working day
NOW = dt.datetime(2026, 11, 16, 2, 0, tzinfo=dt.UTC)


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Sink:
    queue: asyncio.Queue[Mail] = field(default_factory=asyncio.Queue)
    host: str = "127.0.0.1"
    port: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        msg = message_from_bytes(envelope.original_content or envelope.content or b"", policy=policy.SMTP)
        assert isinstance(msg, EmailMessage)
        self.queue.put_nowait(Mail(str(envelope.mail_from), list(envelope.rcpt_tos), msg))
        return "250 OK"

    def drain(self) -> list[Mail]:
        """Everything received so far (the scheduler awaits each SMTP exchange before it returns)."""
        out = []
        while not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    handler = Sink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, hostname="sink.test"), "127.0.0.1", 0)
    handler.port = server.sockets[0].getsockname()[1]
    yield handler
    server.close()
    await server.wait_closed()


@pytest.fixture(scope="session")
def demo_snap(templates: Any, tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """The demo directory's Snapshot, built once (every demo database copy holds the same offices)."""
    url, _ = templates.copy("sqlite", True, tmp_path_factory.mktemp("snap"))
    store = open_store(url)
    try:
        return SnapshotHolder(store).current
    finally:
        store.close()


@pytest.fixture
def settings(sink: Sink) -> Settings:
    return Settings().replace(
        relay={"host": sink.host, "port": sink.port, "timeout": 10.0},
        meetings={"link_secret": "test-secret", "base_url": "http://127.0.0.1:8080"},
    )


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


def make_scheduler(store: Store, settings: Settings, clock: Clock, owner: str | None = None) -> scheduler.Scheduler:
    async def mail(job: scheduler.JobRow, now: dt.datetime) -> str:
        return await meeting_mail.send_queued(settings, job.recipient, job.payload)

    async def reminder(job: scheduler.JobRow, now: dt.datetime) -> str:
        return await meetings.run_reminder(store, settings, job, now)

    return scheduler.Scheduler(store, {"mail": mail, "reminder": reminder}, clock=clock, owner=owner)


def count_meetings(store: Store) -> int:
    import sqlalchemy as sa

    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(Meeting.__table__)).scalar_one())  # type: ignore[attr-defined]
