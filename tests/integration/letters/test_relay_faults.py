"""Issue 6 liaison faults with real parts: the relay down for a while (connection refused, then an aiosmtpd sink on
that same port) and SIGKILL of one of two `bohai serve` instances sending from one PostgreSQL database. Nothing is
lost; only messages in flight at the kill may arrive twice (same Message-ID)."""

from __future__ import annotations

import asyncio
import collections
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from aiosmtpd.smtp import SMTP

from directory.store import Store, open_store
from liaison.mail import outbox
from liaison.mail.models import outbox_t
from liaison.mail.worker import OutboxWorker
from tests.integration.letters.conftest import Clock, settings_for
from tests.integration.letters.test_outbox import message, queue, row
from tests.support.mailsink import Sink


def free_port() -> int:
    """A port nothing listens on (bound once to learn a free number, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def sink_on(port: int) -> AsyncIterator[Sink]:
    sink = Sink(port=port)
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(sink), "127.0.0.1", port)
    try:
        yield sink
    finally:
        server.close()
        await server.wait_closed()


async def test_relay_down_then_up_defers_then_delivers_all(store: Store, clock: Clock) -> None:
    port = free_port()
    ids = queue(store, *[f"r{i}@example.org" for i in range(20)])
    settings = settings_for(store.url, Sink(port=port))
    worker = OutboxWorker(store, settings, clock)
    try:
        await worker.run_once()  # nobody listens: connection refused
        assert outbox.counts(store) == {"deferred": 20}
        assert all("中继连接失败" in str(row(store, i)["last_error"]) for i in ids)
        clock.advance(299)
        await worker.run_once()
        assert outbox.counts(store) == {"deferred": 20}  # not due before the first backoff (300 s)
        async with sink_on(port) as sink:
            clock.advance(1)
            await worker.run_once()
            got = [sink.queue.get_nowait() for _ in range(sink.queue.qsize())]
    finally:
        await worker.aclose()
    assert sorted(m.message["Message-ID"] for m in got) == sorted(str(row(store, i)["message_id"]) for i in ids)
    assert outbox.counts(store) == {"sent": 20} and all(row(store, i)["attempts"] == 2 for i in ids)


N = 400


def enqueue_many(store: Store) -> set[str]:
    with store.begin() as conn:
        for i in range(N):
            outbox.enqueue(conn, message(f"k{i}@example.org", f"第{i}号"), recipient=f"k{i}@example.org", kind="test")
    with store.read() as conn:
        return set(conn.execute(sa.select(outbox_t.c.message_id)).scalars())


def claimed_by(store: Store, pid: int) -> set[str]:
    c = outbox_t.c
    with store.read() as conn:
        query = sa.select(c.message_id).where(c.state == "sending", c.leased_by.like(f"%:{pid}:%"))
        return set(conn.execute(query).scalars())


async def test_sigkill_of_one_of_two_instances_loses_nothing(pg_demo_url: str, sink: Sink) -> None:
    from tests.support.servers import serve_process

    store = open_store(pg_demo_url)
    try:
        expected = await asyncio.to_thread(enqueue_many, store)
        env = {
            "BOHAI_DATABASE_URL": pg_demo_url.replace("postgresql+psycopg://", "postgresql://"),
            "BOHAI_HTTP_PORT": "0",
            "BOHAI_LDAP_ENABLED": "false",
            "BOHAI_SMTP_PORT": "0",
            "BOHAI_RELAY_PORT": str(sink.port),
            "BOHAI_WEB_PUBLIC_URL": "http://127.0.0.1",
            "BOHAI_LIAISON_OUTBOX_LEASE_SECONDS": "1",
            "BOHAI_LIAISON_OUTBOX_POLL_INTERVAL": "0.1",
            "BOHAI_LIAISON_OUTBOX_BATCH": "10",
        }
        seen: collections.Counter[str] = collections.Counter()

        async def receive() -> None:
            got = await sink.get(timeout=60)
            seen[str(got.message["Message-ID"])] += 1

        async with serve_process(env) as first, serve_process(env) as second:
            for _ in range(60):
                await receive()
            victim = first.proc.pid
            first.proc.kill()
            await first.proc.wait()
            claimed = claimed_by(store, victim)
            at_kill = sum(seen.values())
            assert at_kill < N, "the kill came while sending"
            for _ in range(N * 2):
                if set(seen) >= expected:
                    break
                await receive()
            assert second.proc.returncode is None
        while not sink.queue.empty():
            await receive()
        assert set(seen) == expected, "nothing lost"
        repeated = {mid for mid, n in seen.items() if n > 1}
        assert repeated <= claimed, "only messages the killed instance had in flight may arrive twice"
        assert all(n <= 2 for n in seen.values())
        assert outbox.counts(store) == {"sent": N}
    finally:
        store.close()
