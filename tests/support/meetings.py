"""Fixtures and helpers of the joint-meetings tests.

The real SMTP sink of ``mailsink`` (aiosmtpd on 127.0.0.1 port 0 in the test's loop), a demo Snapshot built
once, a settable clock for the scheduler, and ``deliver()``: run the reminder scheduler and the real outbox worker
until nothing is due, then take what the sink received — no sleeping anywhere. ``staff`` gives the meetings pages of
the web face on the demo directory, with a client that logs in through the real form as one of ``USERS``.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from directory import accounts
from directory.clock import ManualClock
from directory.snapshot import Snapshot, SnapshotHolder
from directory.store import Store, open_store
from directory.web.app import make_app
from directory.web.context import WebContext
from liaison.mail import scheduler
from liaison.mail.models import outbox_t
from liaison.mail.worker import OutboxWorker
from liaison.meetings import service as meetings_service
from liaison.meetings import web as meetings_web
from liaison.meetings.models import Meeting
from liaison.settings import Settings
from tests.support.databases import Templates
from tests.support.mailsink import Received, Sink, mail_sink
from tests.support.settings import service_settings
from tests.support.web import CSRF_RE, PASSWORD

START = dt.datetime(2026, 12, 17, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai, a Thursday and a working day
NOW = dt.datetime(2026, 11, 16, 2, 0, tzinfo=dt.UTC)

__all__ = ["NOW", "START", "Received", "Sink"]


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    async with mail_sink() as s:
        yield s


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
    return service_settings(
        sink=sink, meetings={"link_secret": "test-secret"}, web={"public_url": "http://127.0.0.1:8080"}
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


def make_scheduler(
    store: Store, settings: Settings, clock: ManualClock, owner: str | None = None
) -> scheduler.Scheduler:
    return meetings_service.build_scheduler(store, settings, clock=clock, owner=owner)


def drain(sink: Sink) -> list[Received]:
    """Everything the sink has received so far (the outbox worker awaits each SMTP exchange)."""
    return sink.drain()


async def send_outbox(store: Store, settings: Settings) -> int:
    """Send every due outbox row with the real worker (its own clock: rows are queued at wall-clock time)."""
    worker = OutboxWorker(store, settings)
    total = 0
    try:
        for _ in range(100):
            done = await worker.run_once()
            total += done
            if not done:
                break
    finally:
        await worker.aclose()
    return total


async def deliver(store: Store, settings: Settings, clock: ManualClock, sink: Sink) -> list[Received]:
    """Run due reminder jobs (at ``clock``), then the outbox; return the mail the sink got."""
    await make_scheduler(store, settings, clock).run_due()
    await send_outbox(store, settings)
    return drain(sink)


def count_meetings(store: Store) -> int:
    with store.read() as conn:
        table = Meeting.__table__  # type: ignore[attr-defined]
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


# -- the staff pages -----------------------------------------------------------------------------------------------

FORM = {"title": "联席会议", "host": "13", "place": "石家庄", "start": "2026-12-17T09:00", "end": "2026-12-17T17:00"}
USERS = {"admin": ("admin", None), "e13": ("editor", "13"), "e11": ("editor", "11"), "reader": ("reader", None)}


class Staff:
    """A client of the meetings pages; ``woken`` counts the pages' wake-ups of the outbox."""

    def __init__(self, client: TestClient[web.Request, web.Application], ctx: WebContext) -> None:
        self.client, self.ctx = client, ctx
        self.woken = 0

    def outbox(self) -> list[tuple[str, str]]:
        with self.ctx.store.read() as conn:
            return [tuple(r) for r in conn.execute(sa.select(outbox_t.c.kind, outbox_t.c.recipient))]  # type: ignore[misc]

    async def csrf(self) -> str:
        resp = await self.client.get("/login")
        m = CSRF_RE.search(await resp.text())
        assert m
        return m[1]

    async def login(self, username: str | None) -> None:
        """Log out, then in as ``username`` through the login form (None: stay anonymous)."""
        await self.client.post("/logout", data={"csrf": await self.csrf()})
        if username is not None:
            data = {"username": username, "password": PASSWORD, "csrf": await self.csrf()}
            async with self.client.post("/login", data=data, allow_redirects=False) as resp:
                assert resp.status == 303, await resp.text()

    async def post(self, path: str, data: dict[str, str] | None = None) -> ClientResponse:
        form = {**(data or {}), "csrf": await self.csrf()}
        return await self.client.post(path, data=form, allow_redirects=False)


@pytest.fixture
async def staff(sqlite_demo_url: str, templates: Templates) -> AsyncIterator[Staff]:
    store = open_store(sqlite_demo_url)
    for name, (role, province) in USERS.items():
        accounts.add_user(store, name, PASSWORD, role, province, "test")
    settings = Settings().replace(security={"require_2fa": False})
    ctx = WebContext(settings, store, SnapshotHolder(store, templates.snapshot(sqlite_demo_url)))
    box: list[Staff] = []

    def wake() -> None:
        box[0].woken += 1

    app = make_app(ctx, [meetings_web.extension(wake)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NotAppKeyWarning: no plain string keys on the app or the request
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            box.append(Staff(client, ctx))
            yield box[0]
    store.close()
