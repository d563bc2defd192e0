"""Durable scheduler: a table of jobs with a due time, claimed with leases, run by kind.

Owns: the ``scheduler_job`` table's life — adding a job inside the caller's transaction (:func:`add_job`), claiming
due jobs (``FOR UPDATE SKIP LOCKED`` on PostgreSQL plus a conditional lease update that also serialises SQLite
writers), running each with the handler registered for its kind, finishing it (only while this scheduler still
holds the lease), and retrying failures with backoff (5 min doubling, at most 4000 s apart, given up after
``meetings.max_attempts``). The clock is injected, so tests move time instead of sleeping.

Delivery guarantee: a job is finished at most once (the finish is conditional on the lease owner and on not being
done yet), so a job is never run to completion twice by two schedulers or across restarts. A handler that writes
its effect and finishes its job in one transaction (meetings' ``reminder``: queue the mail in the outbox, mark the
job done, or roll back with :class:`LeaseLost`) therefore takes effect exactly once; the outbox then delivers.

Misfire policy lives with the handlers (see :mod:`liaison.meetings`): the scheduler runs every due job however late.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from directory import clock
from directory.store import Store
from liaison.mail.models import Job

log = logging.getLogger(__name__)
job_t = Job.__table__  # type: ignore[attr-defined]

Clock = clock.Source
FIRST_RETRY = 300.0
MAX_RETRY = 4000.0


class LeaseLost(Exception):
    """The job's lease passed to another scheduler while a handler ran; the handler's transaction rolls back."""


@dataclass(frozen=True, slots=True)
class JobRow:
    id: int
    kind: str
    ref: str
    recipient: str
    label: str
    payload: str
    due_at: dt.datetime
    attempts: int
    lease_owner: str | None
    done_at: dt.datetime | None
    outcome: str
    error: str

    @classmethod
    def of(cls, row: sa.RowMapping) -> JobRow:
        return cls(
            row["id"], row["kind"], row["ref"], row["recipient"], row["label"], row["payload"], _utc(row["due_at"]),
            row["attempts"], row["lease_owner"], _aware(row["done_at"]), row["outcome"], row["error"],
        )  # fmt: skip


Handler = Callable[[JobRow, dt.datetime], Awaitable[str]]


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def add_job(
    conn: Connection,
    kind: str,
    *,
    due_at: dt.datetime,
    ref: str = "",
    recipient: str = "",
    label: str = "",
    payload: str = "",
) -> int:
    """Queue a job inside the caller's transaction; returns its id."""
    values = {"kind": kind, "ref": ref, "recipient": recipient, "label": label[:100], "payload": payload}
    result = conn.execute(sa.insert(job_t).values(**values, due_at=due_at, created_at=clock.now()))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def close_pending(conn: Connection, *, kind: str, ref: str, outcome: str, now: dt.datetime) -> int:
    """Mark every not-yet-done job of ``kind`` for ``ref`` done with ``outcome`` (e.g. superseded reminders)."""
    result = conn.execute(
        sa.update(job_t)
        .where(job_t.c.kind == kind, job_t.c.ref == ref, job_t.c.done_at.is_(None))
        .values(done_at=now, outcome=outcome, lease_owner=None, lease_until=None)
    )
    return int(result.rowcount)


def finish(conn: Connection, job: JobRow, outcome: str, now: dt.datetime, error: str = "") -> bool:
    """Mark a claimed job done, only if its claimer still holds it; False if the lease was lost or it is done."""
    result = conn.execute(
        sa.update(job_t)
        .where(job_t.c.id == job.id, job_t.c.lease_owner == job.lease_owner, job_t.c.done_at.is_(None))
        .values(done_at=now, outcome=outcome, error=error[:2000], lease_owner=None, lease_until=None)
    )
    return result.rowcount == 1


def jobs_for(store: Store, ref: str) -> list[JobRow]:
    with store.read() as conn:
        rows = conn.execute(sa.select(job_t).where(job_t.c.ref == ref).order_by(job_t.c.due_at, job_t.c.id))
        return [JobRow.of(r) for r in rows.mappings()]


def backoff(attempts: int) -> float:
    """Seconds before retry number ``attempts`` (1-based): 300, 600, 1200, 2400, 4000, 4000, …"""
    return float(min(FIRST_RETRY * 2.0 ** max(attempts - 1, 0), MAX_RETRY))


class Scheduler:
    """Claims and runs due jobs. ``owner`` names this instance in leases; ``clock`` gives aware UTC now."""

    def __init__(
        self,
        store: Store,
        handlers: dict[str, Handler],
        *,
        clock: Clock = clock.now,
        owner: str | None = None,
        lease_seconds: float = 300.0,
        max_attempts: int = 20,
        batch: int = 50,
    ) -> None:
        self.store = store
        self.handlers = handlers
        self.clock = clock
        self.owner = owner or f"sched-{uuid.uuid4().hex[:12]}"
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.batch = batch
        self._wake = asyncio.Event()
        self._passes = asyncio.Condition()
        self._started = 0
        self._finished = 0

    # -- claiming -----------------------------------------------------------------------------------------------

    def claim(self, now: dt.datetime) -> list[JobRow]:
        """Lease up to ``batch`` due jobs to this scheduler (sync; one transaction)."""
        free = sa.or_(job_t.c.lease_until.is_(None), job_t.c.lease_until < now)
        due = sa.and_(job_t.c.done_at.is_(None), job_t.c.due_at <= now, free)
        query = sa.select(job_t.c.id).where(due).order_by(job_t.c.due_at, job_t.c.id).limit(self.batch)
        if not self.store.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        claimed: list[JobRow] = []
        with self.store.begin() as conn:
            for job_id in [r[0] for r in conn.execute(query)]:
                result = conn.execute(
                    sa.update(job_t)
                    .where(job_t.c.id == job_id, due)
                    .values(lease_owner=self.owner, lease_until=now + self.lease, attempts=job_t.c.attempts + 1)
                )
                if result.rowcount == 1:
                    row = conn.execute(sa.select(job_t).where(job_t.c.id == job_id)).mappings().one()
                    claimed.append(JobRow.of(row))
        return claimed

    def _finish(self, job: JobRow, outcome: str, now: dt.datetime) -> bool:
        with self.store.begin() as conn:
            return finish(conn, job, outcome, now)

    def _fail(self, job: JobRow, error: str, now: dt.datetime) -> None:
        with self.store.begin() as conn:
            if job.attempts >= self.max_attempts:
                finish(conn, job, "failed", now, error)
                return
            conn.execute(
                sa.update(job_t)
                .where(job_t.c.id == job.id, job_t.c.lease_owner == self.owner, job_t.c.done_at.is_(None))
                .values(
                    due_at=now + dt.timedelta(seconds=backoff(job.attempts)),
                    error=error[:2000],
                    lease_owner=None,
                    lease_until=None,
                )
            )

    # -- running ------------------------------------------------------------------------------------------------

    async def run_due(self) -> int:
        """Claim and run every job due now, batch after batch, including jobs queued by them; returns the count."""
        total = 0
        for _ in range(1000):  # bounded: at most 1000 batches per pass
            now = self.clock()
            jobs = await self.store.run(self.claim, now)
            for job in jobs:
                await self._run(job)
            total += len(jobs)
            if not jobs:  # jobs may queue new due jobs (a reminder queues its mail): look again until none
                break
        return total

    async def _run(self, job: JobRow) -> None:
        handler = self.handlers.get(job.kind)
        now = self.clock()
        if handler is None:
            await self.store.run(self._fail, job, f"no handler for job kind {job.kind!r}", now)
            return
        try:
            outcome = await handler(job, now)
        except LeaseLost:
            log.warning("job %s: lease lost to another scheduler", job.id)
            return
        except Exception as exc:
            log.warning("job %s (%s) failed: %s", job.id, job.kind, exc)
            await self.store.run(self._fail, job, f"{type(exc).__name__}: {exc}", self.clock())
            return
        await self.store.run(self._finish, job, outcome, self.clock())

    def wake(self) -> None:
        """Look at the table now instead of at the next interval (e.g. after queuing a notice)."""
        self._wake.set()

    async def loop(self, interval: float, stop: asyncio.Event) -> None:
        """Run due jobs every ``interval`` seconds (or when woken) until ``stop`` is set."""
        while not stop.is_set():
            self._wake.clear()
            self._started += 1
            number = self._started
            try:
                await self.run_due()
            except Exception:
                log.exception("scheduler pass failed")
            async with self._passes:
                self._finished = number
                self._passes.notify_all()
            waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait(waiters, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()

    async def wait_idle(self) -> None:
        """Until the running :meth:`loop` finished a pass that started after this call."""
        target = self._started + 1
        self.wake()
        async with self._passes:
            await self._passes.wait_for(lambda: self._finished >= target)
