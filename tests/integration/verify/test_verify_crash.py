"""SIGKILL of `bohai serve` while it sends a campaign's notices, then a restart: every notice reaches the sink and
only those claimed (in flight) at the kill may arrive twice. The campaign itself is queued in one transaction, so
there is no half-started campaign to lose. SQLite and PostgreSQL, the demo directory (石家庄市)."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from directory.snapshot import SnapshotHolder
from directory.store import Store
from liaison.mail.models import outbox_t
from liaison.verify import campaign
from tests.support.mailsink import Arrivals, Sink
from tests.support.servers import serve_env, serve_process
from tests.support.verify import settings_for

pytestmark = pytest.mark.slow


def start(store: Store) -> set[str]:
    snap = SnapshotHolder(store).current
    started = campaign.start_campaign(
        store, settings_for(store.url), snap, region_code="130100000000", due_within=10, actor="test"
    )
    with store.read() as conn:
        ids = set(conn.execute(sa.select(outbox_t.c.message_id).where(outbox_t.c.kind == "verify")).scalars())
    assert len(ids) == started.emails + started.faxes
    return ids


def in_flight(store: Store) -> set[str]:
    with store.read() as conn:
        return set(conn.execute(sa.select(outbox_t.c.message_id).where(outbox_t.c.state == "sending")).scalars())


async def test_sigkill_mid_campaign_loses_no_notice(demo_store: Store, sink: Sink) -> None:
    store = demo_store
    expected = await asyncio.to_thread(start, store)
    total = len(expected)
    assert total > 200
    env = serve_env(
        store.url, sink.port, BOHAI_LDAP_PORT="0", BOHAI_LIAISON_OUTBOX_BATCH="25", BOHAI_FAX_GATEWAY="fax.gw.example"
    )
    arrivals = Arrivals(sink)
    seen, receive = arrivals.seen, arrivals.receive
    async with serve_process(env) as first:
        for _ in range(total // 3):
            await receive()
        first.proc.kill()
        await first.proc.wait()
    while not sink.queue.empty():  # whatever was on the wire before the kill
        await receive()
    claimed = in_flight(store)
    assert 0 < sum(seen.values()) < total

    async with serve_process(env) as second:
        for _ in range(total * 2):
            if set(seen) >= expected:
                break
            await receive()
        assert second.proc.returncode is None
    assert set(seen) == expected
    repeated = {mid for mid, n in seen.items() if n > 1}
    assert repeated <= claimed, "only notices in flight at the kill may arrive twice"
    assert all(n <= 2 for n in seen.values())
    with store.read() as conn:
        query = sa.select(outbox_t.c.state, sa.func.count()).where(outbox_t.c.kind == "verify")
        states = dict(conn.execute(query.group_by(outbox_t.c.state)).all())
    assert states == {"sent": total}
