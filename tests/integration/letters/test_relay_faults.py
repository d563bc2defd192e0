"""Issue 6 liaison faults with real parts: the relay down for a while (connection refused, then an aiosmtpd sink on
that same port) and SIGKILL of one of two `bohai serve` instances sending from one PostgreSQL database. Nothing is
lost; only messages in flight at the kill may arrive twice (same Message-ID)."""

from __future__ import annotations

import asyncio
import socket

import pytest
import sqlalchemy as sa

from directory.clock import ManualClock
from directory.store import Store, open_store
from liaison.mail import outbox
from liaison.mail.models import outbox_t
from liaison.mail.worker import OutboxWorker
from tests.support.letters import message, queue, row, settings_for
from tests.support.mailsink import Arrivals, Sink, mail_sink
from tests.support.servers import serve_env, serve_process


def free_port() -> int:
    """A port nothing listens on (bound once to learn a free number, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_relay_down_then_up_defers_then_delivers_all(store: Store, clock: ManualClock) -> None:
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
        async with mail_sink(sink=Sink(port=port)) as sink:  # the relay is back, on the same port
            clock.advance(1)
            await worker.run_once()
            got = sink.drain()
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


@pytest.mark.slow
async def test_sigkill_of_one_of_two_instances_loses_nothing(pg_demo_url: str, sink: Sink) -> None:
    store = open_store(pg_demo_url)
    try:
        expected = await asyncio.to_thread(enqueue_many, store)
        more = {"BOHAI_LDAP_ENABLED": "false", "BOHAI_WEB_PUBLIC_URL": "http://127.0.0.1"}
        env = serve_env(pg_demo_url, sink.port, BOHAI_LIAISON_OUTBOX_BATCH="10", **more)
        arrivals = Arrivals(sink)
        seen, receive = arrivals.seen, arrivals.receive
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
