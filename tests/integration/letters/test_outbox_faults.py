"""Outbox faults found in review: a batch slower than its lease never sends a message twice, a bounce is never
overwritten with "sent", one failed round does not stop the worker (and /healthz shows it), and two Store objects on
one SQLite file never claim the same row (the claim's UPDATE repeats the due condition)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.smtp import SMTP, Envelope, Session

from directory import clock
from directory.clock import ManualClock
from directory.errors import StorageError
from directory.store import Store
from liaison.mail import outbox
from liaison.mail.models import outbox_t
from liaison.mail.worker import OutboxWorker
from tests.support.letters import queue, row, settings_for
from tests.support.mailsink import Sink, mail_sink


@dataclass
class SlowSink(Sink):
    """A sink that runs ``on_data`` (e.g. move the test clock, let another worker run) before accepting DATA."""

    on_data: Callable[[], Awaitable[None]] | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.on_data is not None:
            await self.on_data()
        return await super().handle_DATA(server, session, envelope)


@asynccontextmanager
async def slow_sink() -> AsyncIterator[SlowSink]:
    sink = SlowSink()
    async with mail_sink(sink=sink):
        yield sink


async def test_batch_slower_than_its_lease_sends_each_message_once(
    store: Store, clock: ManualClock, sink: Sink
) -> None:
    ids = queue(store, *[f"m{i}@example.org" for i in range(5)])
    async with slow_sink() as slow_relay:
        settings = settings_for(store.url, slow_relay, outbox_batch=5, outbox_lease_seconds=10)
        slow = OutboxWorker(store, settings, clock)
        other = OutboxWorker(store, settings_for(store.url, sink, outbox_lease_seconds=10), clock)
        seen: list[int] = []

        async def relay_takes_six_seconds() -> None:
            clock.advance(6)  # each message 6 s < the 10 s lease; the batch of five 30 s > it
            seen.append(1)
            if len(seen) == 2:  # 12 s after the claim a second worker looks for rows whose lease ran out
                await other.run_once()

        slow_relay.on_data = relay_takes_six_seconds
        try:
            assert await slow.run_once() >= 1
            clock.advance(60)
            await other.run_once()
        finally:
            await slow.aclose()
            await other.aclose()
        got = slow_relay.drain() + sink.drain()
    message_ids = [m.message["Message-ID"] for m in got]
    assert sorted(message_ids) == sorted(str(row(store, i)["message_id"]) for i in ids)  # each exactly once
    assert outbox.counts(store) == {"sent": 5} and (slow.sent, other.sent) == (5, 0)


async def test_a_bounce_recorded_during_the_send_is_not_overwritten(store: Store, clock: ManualClock) -> None:
    (oid,) = queue(store, "b@example.org")
    async with slow_sink() as sink:
        worker = OutboxWorker(store, settings_for(store.url, sink), clock)

        async def bounce_arrives_meanwhile() -> None:
            with store.begin() as conn:
                assert outbox.mark_bounced(conn, str(row(store, oid)["token"]), "550 5.1.1 user unknown")

        sink.on_data = bounce_arrives_meanwhile
        try:
            await worker.run_once()
        finally:
            await worker.aclose()
    assert row(store, oid)["state"] == "bounced" and "user unknown" in str(row(store, oid)["last_error"])


async def test_a_failed_round_does_not_stop_the_worker(
    store: Store, sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []
    health: list[dict[str, object]] = []
    worker = OutboxWorker(store, settings_for(store.url, sink))

    def flaky_job(_store: Store, _now: Any) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise StorageError("数据库写入失败：database is locked")
        if len(calls) == 2:
            health.append(worker.health())  # the round after the failure, before it succeeded
        return 0

    worker.add_job(flaky_job)
    (oid,) = queue(store, "after@example.org")
    caplog.set_level(logging.ERROR, logger="liaison.mail.outbox")
    worker.start()
    try:
        await worker.wait_idle()
        assert worker.health()["ok"] is True and worker.health()["failures"] == 0
    finally:
        await worker.aclose()
    assert (await sink.get()).rcpt_tos == ["after@example.org"]
    assert row(store, oid)["state"] == "sent" and len(calls) >= 2
    assert health[0]["ok"] is False and health[0]["failures"] == 1
    assert "database is locked" in str(health[0]["last_error"])
    assert "outbox round failed" in caplog.text


async def test_two_stores_on_one_sqlite_file_never_claim_the_same_row(sqlite_demo_url: str, sink: Sink) -> None:
    first, second = Store(sqlite_demo_url), Store(sqlite_demo_url)  # two engines, two write locks: two processes
    try:
        queue(first, "x@example.org", "y@example.org", "z@example.org")
        settings = settings_for(sqlite_demo_url, sink)
        a, b = OutboxWorker(first, settings), OutboxWorker(second, settings)
        now = clock.now()
        taken_by_b: list[list[outbox.Claimed]] = []

        def b_claims_in_between(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.lstrip().upper().startswith("UPDATE OUTBOX") and not taken_by_b:
                taken_by_b.append(b._claim(now))  # after a's SELECT, before a's UPDATE

        sa.event.listen(first.engine, "before_cursor_execute", b_claims_in_between)
        taken_by_a = a._claim(now)
        sa.event.remove(first.engine, "before_cursor_execute", b_claims_in_between)
        assert len(taken_by_b[0]) == 3 and taken_by_a == []
        with first.read() as conn:
            holders = set(conn.execute(sa.select(outbox_t.c.leased_by)).scalars())
        assert holders == {b.id}
    finally:
        first.close()
        second.close()


async def test_healthz_shows_the_outbox_worker(sqlite_demo_url: str, sink: Sink) -> None:
    import aiohttp

    from liaison import service

    s = settings_for(sqlite_demo_url, sink).replace(ldap={"enabled": False}, smtp={"enabled": False})
    running = await service.start(s, report=lambda line: None)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(running.urls["http"] + "/healthz") as resp:
                body = await resp.json()
            assert resp.status == 200 and body["ok"] is True and body["checks"]["outbox"]["failures"] == 0
            assert running.outbox is not None
            await running.outbox.aclose()  # a stopped worker makes the service unhealthy
            async with http.get(running.urls["http"] + "/healthz") as resp:
                body = await resp.json()
            assert resp.status == 503 and body["ok"] is False and body["checks"]["outbox"]["ok"] is False
    finally:
        await running.aclose()


async def test_dsn_orcpt_is_xtext_encoded(store: Store) -> None:
    plus, fax = "a+tag@example.org", "FAX=+8631187654321@fax.gw.example"
    queue(store, plus, fax)
    async with mail_sink(dsn=True) as dsn_sink:
        worker = OutboxWorker(store, settings_for(store.url, dsn_sink))
        try:
            await worker.run_once()
        finally:
            await worker.aclose()
        got = {m.rcpt_tos[0]: m.rcpt_options for m in dsn_sink.drain()}  # aiosmtpd upper-cases parameters
    assert got[plus] == ["NOTIFY=FAILURE,DELAY", "ORCPT=RFC822;A+2BTAG@EXAMPLE.ORG"]
    assert got[fax] == ["NOTIFY=FAILURE,DELAY", "ORCPT=RFC822;FAX+3D+2B8631187654321@FAX.GW.EXAMPLE"]


def test_xtext_encodes_plus_equals_and_bytes_outside_printable_ascii() -> None:
    from liaison.mail.transports.smtp import xtext

    assert xtext("a+b=c d@x") == "a+2Bb+3Dc+20d@x"
    assert xtext("张@x") == "+E5+BC+A0@x" and xtext("plain@example.org") == "plain@example.org"
