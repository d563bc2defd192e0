"""Sharing the event loop between LDAP searches, so that no search, however heavy, stalls the other faces.

Owns: ``Pacer``. A search is a generator of steps that yields whenever ``Pacer.due()`` says its slice of the loop
is used up. ``first`` runs a new search on the spot while the current loop turn has search time left (most searches
finish there, at no extra cost); a search that does not finish continues with ``later``: one runner works through
those round-robin, one slice per loop turn, so between two slices the loop serves every other connection, web
request and SMTP session. The time searches take in one loop turn is thereby bounded by ``TURN + SLICE``, however
many connections send requests at once.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Callable, Generator
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")
SLICE = 0.005  # seconds one search runs before the loop gets a turn
TURN = 0.010  # seconds new searches may take within one loop turn before they wait for the runner
Done = Callable[[Any, BaseException | None], None]


class Job(Generic[T]):
    """A search continuing in slices; ``cancel`` drops it (its ``done`` is then never called)."""

    __slots__ = ("done", "over", "steps")

    def __init__(self, steps: Generator[None, None, T], done: Callable[[T | None, BaseException | None], None]):
        self.steps, self.done, self.over = steps, done, False

    def cancel(self) -> None:
        if not self.over:
            self.over = True
            self.steps.close()


class Pacer:
    def __init__(self, slice_s: float = SLICE, turn_s: float = TURN, clock: Callable[[], float] = time.perf_counter):
        self.slice_s, self.turn_s, self.clock = slice_s, turn_s, clock
        self.slice_end = math.inf  # no slice running: never due (a search run to its end in one go)
        self.turn_used = 0.0
        self._turn_ends_soon = False
        self._queue: collections.deque[Job[Any]] = collections.deque()
        self._ticking = False

    def due(self) -> bool:
        """True when the running search should yield."""
        return self.clock() >= self.slice_end

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def first(self, steps: Generator[None, None, T]) -> tuple[bool, T | None]:
        """Run ``steps`` now while this loop turn has search time left: (finished, its result). Unfinished steps
        must go on with ``later``; exceptions propagate."""
        loop = _running_loop()
        if loop is None:  # no event loop to share: run to the end
            self.slice_end = math.inf
            return True, run(steps)
        if self.turn_used >= self.turn_s:
            return False, None
        if not self._turn_ends_soon:
            self._turn_ends_soon = True
            loop.call_soon(self._new_turn)  # runs at the start of the next loop turn
        started = self.clock()
        try:
            return self._slice(steps, min(self.slice_s, self.turn_s - self.turn_used))
        finally:
            self.turn_used += self.clock() - started

    def later(self, steps: Generator[None, None, T], done: Callable[[T | None, BaseException | None], None]) -> Job[T]:
        """Continue ``steps`` one slice per loop turn; ``done(result, None)`` or ``done(None, error)`` at the end."""
        job = Job(steps, done)
        self._queue.append(job)
        self._tick_soon()
        return job

    def run_waiting(self) -> None:
        """Run every waiting search to its end now (for in-process tests that feed requests without turning the
        event loop)."""
        while self._queue:
            job = self._queue.popleft()
            if not job.over:
                self._finish(job, math.inf)

    def _slice(self, steps: Generator[None, None, T], length: float) -> tuple[bool, T | None]:
        self.slice_end = self.clock() + length
        try:
            next(steps)
        except StopIteration as stop:
            return True, stop.value
        finally:
            self.slice_end = math.inf
        return False, None

    def _new_turn(self) -> None:
        self._turn_ends_soon = False
        self.turn_used = 0.0

    def _tick_soon(self) -> None:
        loop = _running_loop()
        if not self._ticking and self._queue and loop is not None:
            self._ticking = True
            loop.call_soon(self._tick)

    def _tick(self) -> None:
        self._ticking = False
        while self._queue and self._queue[0].over:
            self._queue.popleft()
        if self._queue:
            job = self._queue.popleft()
            if not self._finish(job, self.slice_s):
                self._queue.append(job)
        self._tick_soon()

    def _finish(self, job: Job[Any], length: float) -> bool:
        """One slice of ``job`` (``inf``: to its end); True once it is done and ``done`` was called."""
        try:
            finished, value = self._slice(job.steps, length)
        except Exception as exc:
            job.over = True
            job.done(None, exc)
            return True
        if finished:
            job.over = True
            job.done(value, None)
        return finished


def _running_loop() -> asyncio.AbstractEventLoop | None:
    return asyncio._get_running_loop()  # asyncio's own None-or-loop accessor (no exception raised and caught)


def run(steps: Generator[None, None, T]) -> T:
    """Run a generator of steps to its end in one go; its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return cast(T, stop.value)
