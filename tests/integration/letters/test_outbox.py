"""The outbox against a real aiosmtpd sink, on SQLite and PostgreSQL: committed before send, Message-ID and bounce
envelope fixed at enqueue, 4xx retried with backoff (injected clock), 5xx failed with the text kept, giving up after
the queue lifetime, DSN options only when offered, two workers never sending one message twice."""

from __future__ import annotations

import asyncio

from directory.clock import ManualClock
from directory.store import Store
from liaison.mail import outbox
from liaison.mail.worker import OutboxWorker
from liaison.settings import Settings
from tests.support.letters import message, queue, row, settings_for
from tests.support.mailsink import Sink, mail_sink


async def send_all(store: Store, settings: Settings) -> None:
    """Run one outbox worker until nothing is due, then stop it."""
    worker = OutboxWorker(store, settings)
    worker.start()
    try:
        await worker.wait_idle()
    finally:
        await worker.aclose()


async def test_delivers_with_fixed_message_id_and_bounce_sender(store: Store, sink: Sink) -> None:
    (oid,) = queue(store, "a@example.org")
    stored = row(store, oid)
    assert str(stored["message_id"]).endswith("@liaison.bohai.example>")
    await send_all(store, settings_for(store.url, sink))
    got = await sink.get()
    assert got.rcpt_tos == ["a@example.org"]
    assert got.mail_from == f"bounces+{stored['token']}@liaison.bohai.example"
    assert got.message["Message-ID"] == stored["message_id"]
    assert not any(o.startswith(("RET=", "ENVID=")) for o in got.mail_options)  # the sink does not offer DSN
    assert got.rcpt_options == []
    assert row(store, oid)["state"] == "sent"


async def test_nothing_is_queued_when_the_callers_transaction_fails(store: Store) -> None:
    try:
        with store.begin() as conn:
            outbox.enqueue(conn, message("a@example.org"), recipient="a@example.org", kind="test")
            raise RuntimeError("caller fails after enqueue")
    except RuntimeError:
        pass
    assert outbox.counts(store) == {}


async def test_4xx_is_retried_with_backoff_then_delivered(store: Store, sink: Sink, clock: ManualClock) -> None:
    sink.answers["slow@example.org"] = ["451 4.3.0 mailbox busy", "452 4.3.1 still busy"]
    (oid,) = queue(store, "slow@example.org")
    worker = OutboxWorker(store, settings_for(store.url, sink), clock=clock)
    worker.start()
    try:
        await worker.wait_idle()
        first = row(store, oid)
        assert first["state"] == "deferred" and "451" in str(first["last_error"])
        assert sink.queue.empty()
        clock.advance(299)
        await worker.wait_idle()
        assert row(store, oid)["attempts"] == 1  # not due before 300 s
        clock.advance(1)
        await worker.wait_idle()
        assert row(store, oid)["state"] == "deferred" and row(store, oid)["attempts"] == 2
        clock.advance(599)
        await worker.wait_idle()
        assert row(store, oid)["attempts"] == 2  # second wait is 600 s
        clock.advance(1)
        await worker.wait_idle()
    finally:
        await worker.aclose()
    got = await sink.get()
    assert got.rcpt_tos == ["slow@example.org"]
    final = row(store, oid)
    assert final["state"] == "sent" and final["attempts"] == 3
    assert [a for _, a in sink.refused] == ["451 4.3.0 mailbox busy", "452 4.3.1 still busy"]


async def test_5xx_fails_at_once_with_the_servers_text(store: Store, sink: Sink) -> None:
    sink.answers["gone@example.org"] = ["550 5.1.1 no such user here"]
    oid, ok = queue(store, "gone@example.org", "ok@example.org")
    await send_all(store, settings_for(store.url, sink))
    failed = row(store, oid)
    assert failed["state"] == "failed" and failed["attempts"] == 1
    assert "550" in str(failed["last_error"]) and "no such user" in str(failed["last_error"])
    assert (await sink.get()).rcpt_tos == ["ok@example.org"]  # the connection goes on after a refusal
    assert row(store, ok)["state"] == "sent"


async def test_gives_up_after_the_queue_lifetime(store: Store, sink: Sink, clock: ManualClock) -> None:
    sink.answers["never@example.org"] = ["421 4.4.2 try again"] * 1000
    (oid,) = queue(store, "never@example.org")
    worker = OutboxWorker(store, settings_for(store.url, sink), clock=clock)
    worker.start()
    try:
        for _ in range(200):
            await worker.wait_idle()
            if row(store, oid)["state"] == "failed":
                break
            clock.advance(4000)
    finally:
        await worker.aclose()
    final = row(store, oid)
    assert final["state"] == "failed" and "放弃" in str(final["last_error"])
    attempts = int(final["attempts"])  # type: ignore[call-overload]
    assert 100 < attempts < 120  # 300+600+...+4000 s apart over five days


def test_backoff_is_postfix_like() -> None:
    assert [outbox.backoff(n, 300, 4000) for n in range(1, 7)] == [300, 600, 1200, 2400, 4000, 4000]


async def test_dsn_options_only_when_the_relay_offers_dsn(store: Store) -> None:
    (oid,) = queue(store, "d@example.org")
    async with mail_sink(dsn=True) as dsn_sink:
        await send_all(store, settings_for(store.url, dsn_sink))
        got = await dsn_sink.get()
    token = row(store, oid)["token"]
    assert {"RET=HDRS", f"ENVID={str(token).upper()}"} <= set(got.mail_options)
    assert got.rcpt_options[0] == "NOTIFY=FAILURE,DELAY"


async def test_two_workers_send_each_message_once(store: Store, sink: Sink) -> None:
    ids = queue(store, *[f"m{i}@example.org" for i in range(120)])
    settings = settings_for(store.url, sink, outbox_batch=10)
    workers = [OutboxWorker(store, settings), OutboxWorker(store, settings)]
    for w in workers:
        w.start()
    try:
        await asyncio.gather(*(w.wait_idle() for w in workers))
    finally:
        for w in workers:
            await w.aclose()
    got = [sink.queue.get_nowait() for _ in range(sink.queue.qsize())]
    assert sorted(m.message["Message-ID"] for m in got) == sorted(str(row(store, i)["message_id"]) for i in ids)
    assert sum(w.sent for w in workers) == 120
    assert outbox.counts(store) == {"sent": 120}
