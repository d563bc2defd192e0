"""Running publish targets and pull sources from ``bohai serve``: on their schedule and, debounced, after edits.

Owns: when a job is due — ``schedule`` minutes after its last run (0: only on demand), and for a scheduled publish
target also ``debounce`` seconds after the last edit it has not published yet — running it off the event loop,
and a lease in ``meta`` per job so that instances sharing one database never run the same job at once. Every run
records its own result (``state``); failures are logged and retried at the next due time.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from directory import clock
from directory.errors import BohaiError
from directory.settings import Settings
from directory.snapshot import Snapshot
from directory.store import Store
from directory.sync import state as st

if TYPE_CHECKING:
    from directory.sync.publish import Job

log = logging.getLogger(__name__)
DEBOUNCE = 30.0  # seconds of quiet after an edit before a scheduled target publishes it
TICK = 5.0  # seconds between looks at what is due
LEASE = 600.0  # seconds a run may hold its job before another instance may take it over


class SyncScheduler:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        snapshot: Callable[[], Snapshot],
        *,
        debounce: float = DEBOUNCE,
        owner: str = "",
    ) -> None:
        self.store = store
        self.snapshot = snapshot
        self.debounce = dt.timedelta(seconds=debounce)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        base = self.base = settings.ldap.base_dn
        self.publish: dict[str, Job] = {}
        if any(t.schedule > 0 for t in settings.publish.values()):
            from directory.sync.publish import Job  # ldap3 is imported only where a target runs

            self.publish = {n: Job(n, t, base) for n, t in settings.publish.items() if t.schedule > 0}
        self.pull = {n: s for n, s in settings.pull.items() if s.schedule > 0}
        self._seen_gen: int | None = None
        self._edited_at = clock.now()
        self.round_done = asyncio.Event()  # set after each look at what is due (for whoever waits on the loop)

    @property
    def active(self) -> bool:
        return bool(self.publish or self.pull)

    async def loop(self, stop: asyncio.Event, tick: float = TICK) -> None:
        """Run what is due every ``tick`` seconds until ``stop`` is set (a run in progress finishes first)."""
        while not stop.is_set():
            try:
                await self.run_due()
            except BohaiError as exc:  # the database is away: try again at the next tick
                log.warning("sync scheduler: %s", exc)
            self.round_done.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)

    async def run_due(self) -> list[str]:
        """Run every job that is due now; returns their ``kind:name`` keys."""
        snap = self.snapshot()
        now = clock.now()
        if snap.generation != self._seen_gen:
            self._seen_gen, self._edited_at = snap.generation, now
        states = await self.store.run(st.all_states, self.store)
        ran: list[str] = []
        for name, job in self.publish.items():
            state = states.get(st.key("publish", name), st.State())
            if self._due(state, job.target.schedule, now) or self._edit_settled(state, snap, now):
                ran += await self._run(st.key("publish", name), self._publish, name, snap)
        for name in self.pull:
            if self._due(states.get(st.key("pull", name), st.State()), self.pull[name].schedule, now):
                ran += await self._run(st.key("pull", name), self._pull, name, snap)
        return ran

    @staticmethod
    def _due(state: st.State, minutes: int, now: dt.datetime) -> bool:
        last = state.last
        return last is None or now - dt.datetime.fromisoformat(last.at) >= dt.timedelta(minutes=minutes)

    def _edit_settled(self, state: st.State, snap: Snapshot, now: dt.datetime) -> bool:
        """An edit not yet published, with ``debounce`` of quiet since, and no run since it."""
        behind = state.last_gen is not None and state.last_gen < snap.generation
        ran_since = state.last is not None and dt.datetime.fromisoformat(state.last.at) >= self._edited_at
        return behind and not ran_since and now - self._edited_at >= self.debounce

    async def _run(self, key: str, fn: Callable[[str, Snapshot], None], name: str, snap: Snapshot) -> list[str]:
        lease = f"lease:{key}"
        if not await self.store.run(self.store.take_lease, lease, self.owner, LEASE):
            return []
        try:
            await asyncio.to_thread(fn, name, snap)
        except BohaiError as exc:
            log.warning("%s: %s", key, exc)
        finally:
            await self.store.run(self.store.release_lease, lease, self.owner)
        return [key]

    def _publish(self, name: str, snap: Snapshot) -> None:
        from directory.sync import publish

        plan = publish.run(self.store, snap, self.publish[name], publish.Options())
        log.info(
            "publish %s: %d added, %d modified, %d deleted", name, len(plan.adds), len(plan.modifies), len(plan.deletes)
        )

    def _pull(self, name: str, snap: Snapshot) -> None:
        from directory.sync import pull

        source = self.pull[name]
        report = pull.run(self.store, name, source, dry_run=False, actor=f"pull:{name}", source_base=self.base)
        log.info("pull %s: %d created, %d updated, %d removed", name, report.created, report.updated, report.removed)
