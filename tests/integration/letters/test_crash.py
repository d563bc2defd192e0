"""SIGKILL of `bohai serve` while it sends 400 letters, then a restart: nothing is lost (every Message-ID reaches the
sink) and only messages that were claimed (in flight) at the kill may arrive twice. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from directory.snapshot import SnapshotHolder
from directory.store import Store
from directory.validate import OfficeData
from liaison.letters import compose
from liaison.letters.models import delivery_t
from liaison.mail.models import outbox_t
from tests.support.letters import settings_for
from tests.support.mailsink import Arrivals, Sink
from tests.support.servers import serve_env, serve_process

N = 400

pytestmark = pytest.mark.slow  # a whole `bohai serve` or more per test


def queue_letters(store: Store, sink: Sink) -> set[str]:
    store.upsert_offices(
        [
            OfficeData("130100000000", "石家庄市流动人口服务管理办公室", email="sjz@hebei.example"),
            OfficeData("110101000000", "东城区流动人口服务管理办公室", email="dc@beijing.example"),
        ],
        "test",
    )
    settings = settings_for(store.url, sink)
    snap = SnapshotHolder(store).current
    for i in range(N):
        draft = compose.Draft("130100000000", ["110101000000"], f"第{i}号测试函", "正文", reply_within=None)
        compose.send_letter(store, settings, snap, draft)
    with store.read() as conn:
        return set(conn.execute(sa.select(delivery_t.c.message_id)).scalars())


def in_flight(store: Store) -> set[str]:
    with store.read() as conn:
        return set(conn.execute(sa.select(outbox_t.c.message_id).where(outbox_t.c.state == "sending")).scalars())


async def test_sigkill_mid_send_loses_nothing(store: Store, sink: Sink) -> None:
    expected = await asyncio.to_thread(queue_letters, store, sink)
    assert len(expected) == N
    env = serve_env(store.url, sink.port, BOHAI_LDAP_PORT="0", BOHAI_LIAISON_OUTBOX_BATCH="25")
    arrivals = Arrivals(sink)
    seen, receive = arrivals.seen, arrivals.receive
    async with serve_process(env) as first:
        assert first.urls["smtp"].startswith("smtp://127.0.0.1:") and not first.urls["smtp"].endswith(":0")
        for _ in range(120):
            await receive()
        first.proc.kill()
        await first.proc.wait()
    while not sink.queue.empty():  # whatever was on the wire before the kill
        await receive()
    claimed = in_flight(store)
    assert 0 < sum(seen.values()) < N

    async with serve_process(env) as second:
        for _ in range(N * 2):
            if set(seen) >= expected:
                break
            await receive()
        assert second.proc.returncode is None
    assert set(seen) == expected
    repeated = {mid for mid, n in seen.items() if n > 1}
    assert repeated <= claimed, "only messages in flight at the kill may arrive twice"
    assert all(n <= 2 for n in seen.values())
    with store.read() as conn:
        states = dict(conn.execute(sa.select(outbox_t.c.state, sa.func.count()).group_by(outbox_t.c.state)).all())
    assert states == {"sent": N}
