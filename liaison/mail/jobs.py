"""The periodic jobs an outbox round runs before it sends (letters' reminders and overdue notices).

Owns: running each registered job once per round in the store's executor, isolated from the others and from the
sending: a job that raises is logged, its error kept under its name (shown by ``/healthz`` as the outbox check's
``job_errors``) until it next succeeds, and it runs again next round — the round goes on and sends. Only a
storage fault (:class:`~directory.errors.StorageError`) is passed on to fail the round, since then the round could
neither claim nor record anything. Jobs isolate their own items in turn (see :mod:`liaison.letters.deadlines`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from directory.errors import StorageError
from directory.store import Store

log = logging.getLogger("liaison.mail.outbox")
Job = Callable[[Store, dt.datetime], int]


def job_name(job: Job) -> str:
    return f"{getattr(job, '__module__', '')}.{getattr(job, '__name__', type(job).__name__)}"


class RoundJobs:
    """The jobs of one worker, with the last error of each failing one."""

    def __init__(self) -> None:
        self._jobs: list[tuple[str, Job]] = []
        self.errors: dict[str, str] = {}

    def add(self, job: Job, name: str | None = None) -> None:
        self._jobs.append((name or job_name(job), job))

    async def run(self, store: Store, now: dt.datetime) -> int:
        """Run every job once; returns the work they did."""
        work = 0
        for name, job in self._jobs:
            work += await self._run_one(store, name, job, now)
        return work

    async def _run_one(self, store: Store, name: str, job: Job, now: dt.datetime) -> int:
        try:
            done = await store.run(job, store, now)
        except StorageError:
            raise
        except Exception as exc:
            self.errors[name] = f"{type(exc).__name__}: {exc}"[:500]
            log.exception("outbox job %s failed; the round goes on and the job runs again next round", name)
            return 0
        if self.errors.pop(name, None) is not None:
            log.warning("outbox job %s succeeded again", name)
        return done
