"""The login-failure policy, decided once for every face that checks a password (web login, LDAP bind).

Owns: ``LoginGuard``, which says whether an attempt on an account name from a client address may have its password
checked now, and counts it. The rules (numbers from ``[login]``, see ``LoginSettings``):

- Per (account name, address): ``free_failures`` failures are answered at once; after that the pair waits
  ``first_delay`` seconds after its last attempt, doubling per further failure up to ``max_delay``.
- Per account name, over all addresses: from ``account_failures`` failures on, every pair that has failed on
  the account waits at least ``slow_delay`` between attempts. A pair without failures may always try once, so the
  owner is slowed at worst, never locked out.
- Per address, over all account names: from ``address_failures`` failures on, the address gets one attempt per
  ``slow_delay`` seconds (password spraying).
- An attempt counts as a failure when it *starts* (parallel attempts cannot all get in before the first one
  fails); a success takes its own count back and forgets the pair's failures; an attempt whose password was not
  judged (server busy, database down) is taken back entirely. Failures are forgotten ``forget_seconds`` after
  the last one.

The guard never learns whether an account exists: names are counted as given, so unknown names are throttled and
answered exactly like real ones. State is in memory, per process, bounded in entries (oldest dropped first).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import dataclass

from directory.errors import Throttled
from directory.settings import LoginSettings

MAX_ENTRIES = 100_000  # per table; a flood of fresh names or addresses evicts the oldest entries
MAX_NAME = 128  # characters of an account name used as a key


@dataclass
class _Pair:
    failures: int = 0
    last: float = 0.0  # when the last counted attempt started


@dataclass(frozen=True)
class Attempt:
    """One attempt let through by ``LoginGuard.begin``; hand it back with ``succeeded``/``failed``/``undo``."""

    account: str
    address: str
    at: float
    before: tuple[int, float] | None  # the pair's (failures, last) before this attempt, for ``undo``


class _Windows:
    """Failure times per key within ``forget_seconds`` (a bounded LRU of bounded deques)."""

    def __init__(self, limit: int, forget: float) -> None:
        self.limit, self.forget = limit, forget
        self.times: collections.OrderedDict[str, collections.deque[float]] = collections.OrderedDict()

    def recent(self, key: str, now: float) -> collections.deque[float]:
        q = self.times.get(key)
        if q is None:
            return collections.deque()
        while q and q[0] <= now - self.forget:
            q.popleft()
        if not q:
            del self.times[key]
        return q

    def over(self, key: str, now: float) -> bool:
        return self.limit > 0 and len(self.recent(key, now)) >= self.limit

    def add(self, key: str, at: float) -> None:
        if self.limit <= 0:
            return
        q = self.times.setdefault(key, collections.deque(maxlen=self.limit))
        q.append(at)
        self.times.move_to_end(key)
        if len(self.times) > MAX_ENTRIES:
            self.times.popitem(last=False)

    def take_back(self, key: str, at: float) -> None:
        q = self.times.get(key)
        if q is not None and at in q:
            q.remove(at)


class LoginGuard:
    """Counts login attempts and refuses the ones that come too soon (``Throttled`` with the seconds to wait)."""

    def __init__(self, settings: LoginSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self.pairs: collections.OrderedDict[tuple[str, str], _Pair] = collections.OrderedDict()
        self.accounts = _Windows(settings.account_failures, settings.forget_seconds)
        self.addresses = _Windows(settings.address_failures, settings.forget_seconds)

    def _pair(self, key: tuple[str, str], now: float) -> _Pair | None:
        pair = self.pairs.get(key)
        if pair is not None and now - pair.last >= self.settings.forget_seconds:
            del self.pairs[key]
            return None
        return pair

    def _ready_at(self, account: str, address: str, now: float) -> float:
        """When the next attempt of this pair may start (``now`` or earlier: at once)."""
        s = self.settings
        pair = self._pair((account, address), now)
        ready = now
        if pair is not None and pair.failures:
            extra = pair.failures - max(s.free_failures, 1)  # 0 right after the last free failure
            wait = min(s.first_delay * 2 ** min(extra, 30), s.max_delay) if pair.failures >= s.free_failures else 0.0
            if self.accounts.over(account, now):
                wait = max(wait, s.slow_delay)
            ready = pair.last + wait
        if self.addresses.over(address, now):
            ready = max(ready, self.addresses.recent(address, now)[-1] + s.slow_delay)
        return ready

    def retry_after(self, account: str, address: str) -> float:
        """Seconds until an attempt on ``account`` from ``address`` may start; 0 when it may now."""
        now = self.clock()
        return max(0.0, self._ready_at(account[:MAX_NAME], address, now) - now)

    def begin(self, account: str, address: str) -> Attempt:
        """Let an attempt start and count it as a failure until it is known to be one; else raise Throttled."""
        account = account[:MAX_NAME]
        now = self.clock()
        ready = self._ready_at(account, address, now)
        if ready > now:
            raise Throttled(ready - now)
        key = (account, address)
        pair = self._pair(key, now)
        before = (pair.failures, pair.last) if pair is not None else None
        if pair is None:
            pair = self.pairs[key] = _Pair()
        pair.failures += 1
        pair.last = now
        self.pairs.move_to_end(key)
        if len(self.pairs) > MAX_ENTRIES:
            self.pairs.popitem(last=False)
        self.accounts.add(account, now)
        self.addresses.add(address, now)
        return Attempt(account, address, now, before)

    def failed(self, attempt: Attempt) -> None:
        """The password was wrong: the attempt stays counted (it was counted when it began)."""

    def succeeded(self, attempt: Attempt) -> None:
        """The right password: forget this pair's failures and take this attempt's own count back."""
        self.pairs.pop((attempt.account, attempt.address), None)
        self.accounts.take_back(attempt.account, attempt.at)
        self.addresses.take_back(attempt.address, attempt.at)

    def undo(self, attempt: Attempt) -> None:
        """The password was not judged (busy, storage down): as if the attempt had never begun."""
        key = (attempt.account, attempt.address)
        pair = self.pairs.get(key)
        if pair is not None and pair.last == attempt.at:
            if attempt.before is None:
                del self.pairs[key]
            else:
                pair.failures, pair.last = attempt.before
        elif pair is not None:
            pair.failures = max(0, pair.failures - 1)
        self.accounts.take_back(attempt.account, attempt.at)
        self.addresses.take_back(attempt.address, attempt.at)
