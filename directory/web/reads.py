"""The scraping limit as the web faces apply it: whose budget a request is counted under, the check before an
answer and the charge after it (``directory.readlimits`` owns the budgets; ``READS`` holds them on the app).
"""

from __future__ import annotations

from aiohttp import web

from directory import readlimits
from directory.web.auth import current_user
from directory.web.context import READS


def reader_of(request: web.Request) -> str:
    """The key the scraping limit counts this request under: its account, else its client address."""
    user = current_user(request)
    return readlimits.reader_key(user.username if user else None, request.remote or "?")


def check_reads(request: web.Request) -> str:
    """Refuse (429) a reader whose entries-per-minute budget is used up; returns the reader's key."""
    key = reader_of(request)
    request.app[READS].check(key)
    return key


def charge_reads(request: web.Request, key: str, entries: int) -> None:
    """Count ``entries`` directory entries sent to the reader ``key``."""
    request.app[READS].charge(key, entries)
