"""Helpers of the letters tests: the service's hand-moved clock set a minute ahead, settings pointing the relay at a
sink, outbox rows, the ``bohai`` command line, the letters pages behind a real login, a raw SMTP client, and the
letters "world" — the outbox worker with the deadline job and the inbound SMTP face over a few offices of
北京市 and 石家庄市.

The fixtures built from these (``clock``, ``sink``, ``browser``, ``world``) are in
``tests/integration/letters/conftest.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from typing import Any, ClassVar

import aiosmtplib
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from directory import accounts, clock
from directory.clock import ManualClock, system_now
from directory.snapshot import SnapshotHolder
from directory.store import Store
from directory.validate import OfficeData
from directory.web.app import make_app
from directory.web.context import WebContext
from liaison import cli
from liaison.letters import compose, deadlines
from liaison.letters import store as letter_store
from liaison.letters import web as letters_web
from liaison.letters.models import delivery_t
from liaison.mail import outbox
from liaison.mail.inbound import Inbound, InboundServer
from liaison.mail.models import outbox_t
from liaison.mail.worker import OutboxWorker
from liaison.settings import Settings
from tests.support.mailsink import Received, Sink
from tests.support.settings import service_settings
from tests.support.web import PASSWORD, FormLogin

# -- clock and settings --------------------------------------------------------------------------------------------


def due_clock() -> ManualClock:
    """The service's hand-moved clock, a minute ahead of now so that rows queued just now are due."""
    return ManualClock(system_now() + dt.timedelta(seconds=60))


def settings_for(url: str, sink: Sink, **liaison: object) -> Settings:
    """The letters tests' settings: a fax gateway, and an outbox that polls rarely (the tests wake it)."""
    return service_settings(
        url, sink=sink, fax={"gateway": "fax.gw.example"}, liaison={"outbox_poll_interval": 60, **liaison}
    )


# -- outbox rows ---------------------------------------------------------------------------------------------------


def message(to: str, subject: str = "测试") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "130100000000@liaison.bohai.example"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("正文")
    return msg


def queue(store: Store, *recipients: str, kind: str = "test") -> list[int]:
    with store.begin() as conn:
        return [outbox.enqueue(conn, message(r), recipient=r, kind=kind, ref="r1") for r in recipients]


def row(store: Store, oid: int) -> dict[str, object]:
    with store.read() as conn:
        return dict(conn.execute(sa.select(outbox_t).where(outbox_t.c.id == oid)).mappings().one())


# -- the command line ----------------------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``bohai *argv`` in this process: the exit code and the stripped standard output and error."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


# -- the letters pages ---------------------------------------------------------------------------------------------

USERS = {"admin": ("admin", None), "hebei": ("editor", "13"), "beijing": ("editor", "11"), "reader": ("reader", None)}
FORM = {
    "from": "130100000000",
    "to": "110101000000",
    "subject": "关于核查的函",
    "body": "请协助核查。",
    "reply_within": "7",
}


class Browser(FormLogin):
    """A client of the web face that logs in through the form; ``woken`` grows by one each time the letters pages
    wake the outbox."""

    def __init__(self, client: TestClient[Any, Any], woken: list[int]) -> None:
        self.client, self.woken = client, woken

    async def send(self, form: dict[str, str]) -> Any:
        token = await self.csrf("/login")
        return await self.client.post("/letters/new", data={**form, "csrf": token}, allow_redirects=False)


@asynccontextmanager
async def letters_browser(store: Store, **settings_changes: Any) -> AsyncIterator[Browser]:
    """The web face with the letters pages on 127.0.0.1:0 (settings changed by ``settings_changes``), two offices
    with e-mail (石家庄市, 东城区) and the ``USERS`` with ``PASSWORD``."""
    store.upsert_offices(
        [
            OfficeData("130100000000", "石家庄市流动人口服务管理办公室", email="sjz@hebei.example"),
            OfficeData("110101000000", "东城区流动人口服务管理办公室", email="dc@beijing.example"),
        ],
        "test",
    )
    for name, (role, province) in USERS.items():
        accounts.add_user(store, name, PASSWORD, role, province, "test")
    woken: list[int] = []
    settings = Settings().replace(
        database={"url": store.url}, http={"port": 0}, security={"require_2fa": False}, **settings_changes
    )
    app = make_app(WebContext(settings, store, SnapshotHolder(store)), [letters_web.extension(lambda: woken.append(1))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NotAppKeyWarning: no plain string keys on the app or the request
        async with TestClient(TestServer(app, host="127.0.0.1")) as c:
            yield Browser(c, woken)


# -- outbound mail -------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Outbound:
    """A store with offices, settings relaying to ``sink``, the Snapshot holder and an outbox worker on ``clock``."""

    store: Store
    settings: Settings
    holder: SnapshotHolder
    worker: OutboxWorker
    sink: Sink
    clock: ManualClock
    drain_timeout: ClassVar[float] = 60.0

    async def drain(self) -> list[Received]:
        """Everything sent once the worker has nothing left to do."""
        await self.worker.wait_idle(timeout=self.drain_timeout)
        return self.sink.drain()


def deadline_worker(
    store: Store, settings: Settings, holder: SnapshotHolder, clock: ManualClock, **job: Any
) -> OutboxWorker:
    """An outbox worker (not started) on ``clock`` that also runs the letters' reminder and overdue job."""
    worker = OutboxWorker(store, settings, clock=clock)
    worker.add_job(deadlines.job(settings, lambda: holder.current), **job)
    return worker


# -- the letters world: outbox, deadlines and the inbound SMTP face ------------------------------------------------

DOMAIN = "liaison.bohai.example"
SENDER = "130100000000"  # 石家庄市
EMAIL_ONLY = "110101003000"  # 交道口街道
FAX_ONLY = "110101002000"  # 景山街道
NEITHER = "110101001000"  # 东华门街道 → 东城区
PARENT = "110101000000"  # 东城区

OFFICES = [
    OfficeData(SENDER, "石家庄市流动人口服务管理办公室", email="sjz@hebei.example", address="石家庄市中华南大街1号"),
    OfficeData("110000000000", "北京市流动人口服务管理办公室", email="bj@beijing.example", liaison=True),
    OfficeData(PARENT, "东城区流动人口服务管理办公室", email="dc@beijing.example"),
    OfficeData(EMAIL_ONLY, "交道口街道流动人口服务站", email="jdk@beijing.example"),
    OfficeData(FAX_ONLY, "景山街道流动人口服务站", fax="+861064001234"),
    OfficeData(NEITHER, "东华门街道流动人口服务站"),
]


@dataclasses.dataclass
class World(Outbound):
    """``OFFICES`` with the outbox worker started and the inbound SMTP face listening on ``smtp_port``."""

    inbound: Inbound = dataclasses.field(kw_only=True)
    smtp_port: int = dataclasses.field(kw_only=True)

    def send(self, *to: str, reply_within: int | None = 10) -> compose.Sent:
        draft = compose.Draft(
            SENDER, list(to), "关于核查流动人口信息的函", "请协助核查张三的居住登记信息。", reply_within
        )
        return compose.send_letter(self.store, self.settings, self.holder.current, draft, now=self.clock())

    def delivery(self, did: int) -> dict[str, object]:
        with self.store.read() as conn:
            return dict(conn.execute(sa.select(delivery_t).where(delivery_t.c.id == did)).mappings().one())

    async def smtp_in(self, msg: EmailMessage | bytes, rcpt: str, mail_from: str = "someone@beijing.example") -> None:
        data = msg if isinstance(msg, bytes) else msg.as_bytes()
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=self.smtp_port, start_tls=False) as client:
            await client.sendmail(mail_from, [rcpt], data)

    @asynccontextmanager
    async def inbound_server(self, **smtp: Any) -> AsyncIterator[tuple[InboundServer, int]]:
        """Another inbound SMTP face on 127.0.0.1:0 over the same store, with ``[smtp]`` options changed."""
        core = Inbound(self.store, self.settings.replace(smtp=smtp), lambda: self.holder.current)
        server = InboundServer(core)
        _, port = await server.start()
        try:
            yield server, port
        finally:
            await server.aclose()


@asynccontextmanager
async def letters_world(store: Store, sink: Sink, clock: ManualClock) -> AsyncIterator[World]:
    store.upsert_offices(OFFICES, "test")
    settings = settings_for(store.url, sink, reminder_days_before=2)
    holder = SnapshotHolder(store)
    worker = deadline_worker(store, settings, holder, clock)
    inbound = Inbound(
        store,
        settings,
        lambda: holder.current,
        on_queued=worker.wake,
        on_bounce=[letter_store.mark_delivery_bounced],
        on_reply=[letter_store.mark_replied],
    )
    server = InboundServer(inbound)
    _, port = await server.start()
    worker.start()
    try:
        yield World(store, settings, holder, worker, sink, clock, inbound=inbound, smtp_port=port)
    finally:
        await server.aclose()
        await worker.aclose()


def dsn(token_rcpt: str, failed_rcpt: str, action: str = "failed", status: str = "5.1.1") -> bytes:
    """A Postfix-style RFC 3464 delivery status notification."""
    text = f"""From: MAILER-DAEMON@beijing.example (Mail Delivery System)
To: {token_rcpt}
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"

--BOUNDARY
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.beijing.example. Your message could not be delivered.

--BOUNDARY
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.beijing.example
Arrival-Date: Mon, 30 Nov 2026 10:00:00 +0800

Final-Recipient: rfc822; {failed_rcpt}
Original-Recipient: rfc822;{failed_rcpt}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; 550 {status} <{failed_rcpt}>: Recipient address rejected:
    User unknown in local recipient table

--BOUNDARY--
"""
    return text.replace("\n", "\r\n").encode()


def reply(to: str, in_reply_to: str, auto: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "jdk@beijing.example"
    msg["To"] = to
    msg["Subject"] = "Re: 关于核查流动人口信息的函"
    msg["In-Reply-To"] = in_reply_to
    if auto:
        msg["Auto-Submitted"] = auto
    msg.set_content("已核查，情况属实。")
    return msg


def at_nine(day: object) -> dt.datetime:
    assert isinstance(day, dt.date)
    return dt.datetime.combine(day, dt.time(9), clock.ZONE).astimezone(dt.UTC)


# -- a raw SMTP client ---------------------------------------------------------------------------------------------


class Client:
    """A raw SMTP client: write bytes, read one (multi-line) reply; every read is bounded by a timeout."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, source: str | None = None) -> Client:
        """Connect to 127.0.0.1:``port``, from the local address ``source`` if given."""
        local_addr = None if source is None else (source, 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=local_addr)
        return cls(reader, writer)

    async def reply(self) -> str:
        lines = []
        for _ in range(100):
            line = (await asyncio.wait_for(self.reader.readline(), 10)).decode("latin-1")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                break
        return "".join(lines)

    async def say(self, data: bytes) -> str:
        self.writer.write(data)
        await self.writer.drain()
        return await self.reply()

    async def closed_by_server(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), 10) == b""

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()
