"""Caches that make building the Snapshot's indexes fast, and letting them go once a build is over.

Owns: ``cache(maxsize)``, a ``functools.lru_cache`` that is also registered here, and ``release()``, which empties
every registered cache. A first build at start-up fills them with a value for every phone number and name of the
whole directory (some 20 MB for the ten regions, three times that nationally) that the running service seldom asks
for again; the Snapshot holder releases them after each index it builds at start-up, so that they do not add to
the service's peak memory. Later calls refill them one value at a time, within their bounds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
_CACHES: list[Any] = []


def cache(maxsize: int) -> Callable[[F], F]:
    """``functools.lru_cache(maxsize)``, emptied by ``release``."""

    def wrap(func: F) -> F:
        cached = functools.lru_cache(maxsize=maxsize)(func)
        _CACHES.append(cached)
        return cached  # type: ignore[return-value]  # the same call signature, with cache_clear and cache_info

    return wrap


def release() -> None:
    """Empty every registered cache."""
    for cached in _CACHES:
        cached.cache_clear()
