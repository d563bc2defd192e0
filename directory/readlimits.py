"""Scraping limits: how many directory entries one reader may receive per minute, per account or, for anonymous
readers, per client address (an IPv6 client counts by its /64).

Owns: :class:`ReadBudget`, a token bucket per reader (``entries_per_minute`` tokens, refilled evenly over a
minute): a request is refused with :class:`ReadLimited` (HTTP 429, LDAP adminLimitExceeded) only while the bucket
is empty, and what it returned is charged afterwards — so one request is never cut short, a client's normal use (a
CardDAV initial sync of a province book, Outlook's paged browse, autocomplete while typing) passes, and paging
through the whole directory is slowed to the configured rate. Readers named in the exemption (account names or
client addresses) are never limited. In memory per process: at most ``max_keys`` readers are remembered (the
fullest buckets are forgotten first, which only ever helps a reader).
"""

from __future__ import annotations

import functools
import ipaddress
import math
import threading
import time
from collections.abc import Callable, Iterable

from directory.errors import BohaiError


class ReadLimited(BohaiError):
    status = 429
    code = "read_limited"

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(f"读取过于频繁（每分钟可读取的条目数已用完），请 {self.retry_after} 秒后再试")


@functools.lru_cache(maxsize=4096)  # every search asks it of the same few accounts and addresses
def reader_key(username: str | None, address: str) -> str:
    """The key a reader is counted under: the account, else the client address (an IPv6 /64)."""
    if username:
        return "user:" + username
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "addr:" + address
    if ip.version == 6:
        return "addr:" + str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return "addr:" + str(ip)


def exemptions(text: str) -> frozenset[str]:
    """The configured exemption (``"name, 10.0.0.5"``) as keys: each entry as an account and as an address."""
    out: set[str] = set()
    for item in (t.strip() for t in text.split(",")):
        if item:
            out.add("user:" + item)
            out.add(reader_key(None, item))
    return frozenset(out)


class ReadBudget:
    def __init__(
        self,
        entries_per_minute: int,
        exempt: Iterable[str] = (),
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.capacity = float(entries_per_minute)
        self.rate = entries_per_minute / 60.0
        self.exempt = frozenset(exempt)
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, at)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (self.capacity, now))
        return min(self.capacity, tokens + (now - at) * self.rate)

    def check(self, key: str) -> None:
        """Refuse (``ReadLimited``) while ``key``'s bucket is empty."""
        if not self.enabled or key in self.exempt:
            return
        with self._lock:
            tokens = self._tokens(key, self.clock())
        if tokens <= 0:
            raise ReadLimited((1 - tokens) / self.rate)

    def refusal(self, key: str) -> str | None:
        """:meth:`check` as a message for faces that answer in their own protocol (LDAP), else None."""
        try:
            self.check(key)
        except ReadLimited as exc:
            return f"{exc} (read limit)"
        return None

    def charge(self, key: str, entries: int) -> None:
        """Take ``entries`` returned to ``key`` from its bucket (it may go below zero: the next requests wait)."""
        if not self.enabled or key in self.exempt or entries <= 0:
            return
        with self._lock:
            now = self.clock()
            self._buckets[key] = (self._tokens(key, now) - entries, now)
            if len(self._buckets) > self.max_keys:
                self._forget(now)

    def _forget(self, now: float) -> None:
        full = [k for k in self._buckets if self._tokens(k, now) >= self.capacity]
        for k in full:
            del self._buckets[k]
        while len(self._buckets) > self.max_keys:  # all busy: forget the fullest
            del self._buckets[max(self._buckets, key=lambda k: self._tokens(k, now))]
