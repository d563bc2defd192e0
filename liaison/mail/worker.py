"""The outbox worker: delivers the rows that :mod:`liaison.mail.outbox` queued.

Owns: :class:`OutboxWorker` (claims due rows with a lease — ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the
single-writer transaction on SQLite —, sends them through a transport, retries 4xx with Postfix-like backoff, fails
5xx with the server's text, gives up after ``give_up_seconds``) and the periodic jobs run by the same loop
(reminders, meetings; a failing job affects only itself, see :mod:`liaison.mail.jobs`), and paces rows per destination
domain (``[liaison] domain_limits``: a domain that had its messages within its window waits, the others go on).

    worker = OutboxWorker(store, settings, clock=...)              # clock() -> aware UTC datetime
    worker.add_job(fn)        # fn(store, now) -> int, run in the store's executor every round
    worker.start(); worker.wake(); await worker.wait_idle(); await worker.aclose()
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import secrets
import socket
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from directory import clock
from directory.store import Store
from liaison.mail import bodies, transports
from liaison.mail.jobs import RoundJobs
from liaison.mail.models import outbox_t
from liaison.mail.outbox import DUE_STATES, Claimed, Clock, Job, aware, backoff, bounce_address
from liaison.mail.transports import Envelope, Outcome, Transport
from liaison.settings import Settings

log = logging.getLogger(__name__)
MAX_BATCHES_PER_ROUND = 100


class OutboxWorker:
    """Delivers due outbox rows; one per process. Await :meth:`wait_idle` instead of sleeping in tests."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Clock = clock.now,
        *,
        transport: Transport | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._transport = transport
        self._fax: Transport | None = None
        self._jobs = RoundJobs()
        self._pacing = settings.liaison.pacing()
        self._wake = asyncio.Event()
        self._idle = asyncio.Condition()
        self._round = 0
        self._idle_round = -1
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.sent = 0
        self.failures = 0  # rounds failed in a row (0 = healthy)
        self.last_error = ""
        self.last_round_at: dt.datetime | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------

    def add_job(self, job: Job, name: str | None = None) -> None:
        """Run ``job(store, now)`` at the start of every round (in the store's executor); it returns work done."""
        self._jobs.add(job, name)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=f"outbox-{self.id}")

    def wake(self) -> None:
        self._wake.set()

    async def wait_idle(self, timeout: float = 60.0) -> None:
        """Return once a round that began after this call found nothing due and nothing is in flight."""
        if self._task is None:
            raise RuntimeError("outbox worker not started")
        want = self._round + 1
        self.wake()
        async with asyncio.timeout(timeout), self._idle:
            await self._idle.wait_for(lambda: self._idle_round >= want)

    async def aclose(self) -> None:
        """Let the batch in hand finish and be recorded (bounded by the relay timeout), then stop."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            self.wake()
            try:
                await asyncio.wait_for(asyncio.shield(task), self.settings.relay.timeout + 5)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for t in {id(x): x for x in (self._transport, self._fax) if x is not None}.values():
            await t.aclose()

    # -- the loop -------------------------------------------------------------------------------------------

    async def _loop(self) -> None:
        """Rounds until stopped; a failing round (storage fault, job error) is logged and retried with backoff."""
        interval = self.settings.liaison.outbox_poll_interval
        while not self._stopping:
            self._round += 1
            current = self._round
            self._wake.clear()
            try:
                done = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed(exc)
                async with self._idle:
                    self._idle.notify_all()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), min(interval, self._retry_delay()))
                continue
            self._ok()
            if done or self._stopping:
                continue
            async with self._idle:
                self._idle_round = current
                self._idle.notify_all()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:500]
        log.exception("outbox round failed (%d in a row); retrying", self.failures)

    def _ok(self) -> None:
        if self.failures:
            log.warning("outbox worker recovered after %d failed rounds", self.failures)
        self.failures = 0
        self.last_round_at = self.clock()

    def _retry_delay(self) -> float:
        """0.1 s after the first failure, doubling up to a minute (bounded by the poll interval)."""
        return float(min(60.0, 0.1 * 2 ** min(self.failures - 1, 10)))

    def health(self) -> dict[str, object]:
        """For ``/healthz``: ok unless the last round failed; the failures in a row and the last error."""
        last = self.last_round_at.isoformat() if self.last_round_at else None
        running = self._task is not None and not self._task.done()
        return {"ok": running and self.failures == 0, "failures": self.failures, "last_error": self.last_error,
                "last_round_at": last, "job_errors": dict(self._jobs.errors)}  # fmt: skip

    async def run_once(self) -> int:
        """One round: periodic jobs, then claim and send batches until none is due. Returns the work done.

        A batch is claimed only when it is about to be sent (its lease is renewed while it is being sent, see
        :meth:`_send_batch`); recording one batch overlaps with claiming the next in the store's thread.
        """
        now = self.clock()
        work = await self._jobs.run(self.store, now)
        record: asyncio.Future[None] | None = None
        for _turn in range(MAX_BATCHES_PER_ROUND):
            batch = await self.store.run(self._claim, self.clock())
            if not batch:
                break
            results = await self._send_batch(batch)
            if record is not None:
                await record
            record = asyncio.ensure_future(self.store.run(self._record, results, self.clock()))
            work += len(batch)
            if self._stopping:
                break
        if record is not None:
            await record
        return work

    async def _send_batch(self, batch: list[Claimed]) -> list[tuple[Claimed, Outcome]]:
        """Send one claimed batch. Before each message, once the lease is past half-time, the lease of the whole
        batch (sent rows wait for their record too) is renewed; rows another worker took over meanwhile are
        skipped. So a batch slower than its lease never sends a message twice while no single send outlasts it."""
        lease = dt.timedelta(seconds=self.settings.liaison.outbox_lease_seconds)
        renew_at = self.clock() + lease / 2
        held = {r.id for r in batch}
        results: list[tuple[Claimed, Outcome]] = []
        for row in batch:
            if self.clock() >= renew_at:
                now = self.clock()
                held = await self.store.run(self._renew, sorted(held), now + lease)
                renew_at = now + lease / 2
            if row.id not in held:
                log.warning("outbox %s: lease lost to another worker, not sent here", row.id)
                continue
            results.append((row, await self._send(row)))
        return results

    # -- claim, send, record --------------------------------------------------------------------------------

    def _mine(self) -> Any:
        return sa.and_(outbox_t.c.leased_by == self.id, outbox_t.c.state == "sending")

    def _claim(self, now: dt.datetime) -> list[Claimed]:
        """Take up to one batch of due rows. The UPDATE repeats the due condition, so of two workers (or two
        processes on one SQLite file) that picked the same candidates only one gets each row."""
        s = self.settings.liaison
        c = outbox_t.c
        due = sa.or_(
            sa.and_(c.state.in_(DUE_STATES), c.next_attempt_at <= now),
            sa.and_(c.state == "sending", c.lease_until < now),
        )
        limits, default = self._pacing
        lease = now + dt.timedelta(seconds=s.outbox_lease_seconds)
        with self.store.begin() as conn:
            allowance = self._allowance(conn, due, now) if limits or default else None
            query = sa.select(c.id, c.domain).where(due).order_by(c.next_attempt_at, c.id)
            if allowance is not None:
                query = query.where(c.domain.not_in([d for d, n in allowance.items() if n <= 0]))
            query = query.limit(s.outbox_batch)
            if not self.store.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            ids = []
            for row_id, domain in conn.execute(query).all():
                if allowance is not None and domain in allowance:
                    if allowance[domain] <= 0:
                        continue
                    allowance[domain] -= 1
                ids.append(row_id)
            if not ids:
                return []
            taken = sa.update(outbox_t).where(c.id.in_(ids), due)
            conn.execute(taken.values(state="sending", lease_until=lease, leased_by=self.id))
            fields = (c.id, c.recipient, c.token, c.body, c.attempts, c.created_at, c.body_id)
            mine = sa.select(*fields).where(c.id.in_(ids), self._mine()).order_by(c.id)
            rows = conn.execute(mine).all()
            shared = bodies.read(conn, (r.body_id for r in rows))
        return [
            Claimed(r.id, r.recipient, r.token, r.body, r.attempts, aware(r.created_at), shared.get(r.body_id, b""))
            for r in rows
        ]

    def _allowance(self, conn: Any, due: Any, now: dt.datetime) -> dict[str, int]:
        """Messages each paced domain with due rows may still get now: its limit minus what was sent to it within
        its window or is being sent (``[liaison] domain_limits`` and ``domain_limit_default``)."""
        c = outbox_t.c
        limits, default = self._pacing
        out: dict[str, int] = {}
        for (domain,) in conn.execute(sa.select(c.domain).where(due).distinct()).all():
            rate = limits.get(domain, default)
            if rate is None:
                continue
            messages, seconds = rate
            since = now - dt.timedelta(seconds=seconds)
            busy = sa.or_(c.state == "sending", sa.and_(c.state == "sent", c.sent_at >= since))
            used = conn.execute(sa.select(sa.func.count()).where(c.domain == domain, busy)).scalar_one()
            out[domain] = messages - int(used)
        return out

    def _renew(self, ids: list[int], until: dt.datetime) -> set[int]:
        """Extend the lease of rows still held by this worker; returns their ids."""
        c = outbox_t.c
        with self.store.begin() as conn:
            conn.execute(sa.update(outbox_t).where(c.id.in_(ids), self._mine()).values(lease_until=until))
            return set(conn.execute(sa.select(c.id).where(c.id.in_(ids), self._mine())).scalars())

    def _transport_for(self, recipient: str) -> Transport:
        name = self.settings.liaison.transport
        if self._transport is None:
            self._transport = transports.load(name, self.settings)
        if name != "null" and recipient.upper().startswith("FAX="):
            if self._fax is None:
                self._fax = transports.load("fax", self.settings)
            return self._fax
        return self._transport

    async def _send(self, row: Claimed) -> Outcome:
        sender = bounce_address(row.token, self.settings.liaison.domain)
        envelope = Envelope(sender, row.recipient, row.body + row.shared, row.token)
        try:
            return await self._transport_for(row.recipient).send(envelope)
        except Exception as exc:  # a transport bug must not stop the queue
            log.exception("transport error for outbox %s", row.id)
            return Outcome("temporary", 451, f"发送出错：{exc!r}"[:500])

    def _record(self, results: Sequence[tuple[Claimed, Outcome]], now: dt.datetime) -> None:
        """Write the outcomes of one batch in one transaction (all sent rows in one statement)."""
        """Only rows this worker still holds (``leased_by`` = me, state ``sending``) are written: a row another worker
        took over, or one a bounce already marked ``bounced``, keeps its state."""
        sent = [row.id for row, outcome in results if outcome.status == "sent"]
        c = outbox_t.c
        with self.store.begin() as conn:
            if sent:
                values = {"state": "sent", "sent_at": now, "last_error": "", "lease_until": None, "leased_by": ""}
                update = sa.update(outbox_t).where(c.id.in_(sent), self._mine())
                conn.execute(update.values(attempts=c.attempts + 1, **values))
            for row, outcome in results:
                if outcome.status != "sent":
                    update = sa.update(outbox_t).where(c.id == row.id, self._mine())
                    conn.execute(update.values(**self._after(row, outcome, now)))
        self.sent += len(sent)

    def _after(self, row: Claimed, outcome: Outcome, now: dt.datetime) -> dict[str, Any]:
        s = self.settings.liaison
        base: dict[str, Any] = {"lease_until": None, "leased_by": "", "attempts": row.attempts + 1}
        if outcome.status == "permanent":
            return {**base, "state": "failed", "last_error": outcome.text[:2000]}
        if (now - row.created_at).total_seconds() >= s.give_up_seconds:
            return {**base, "state": "failed", "last_error": f"超过重试期限，放弃投递；最后一次：{outcome.text}"[:2000]}
        wait = backoff(row.attempts + 1, s.retry_first_seconds, s.retry_max_seconds)
        return {
            **base,
            "state": "deferred",
            "next_attempt_at": now + dt.timedelta(seconds=wait),
            "last_error": outcome.text[:2000],
        }
