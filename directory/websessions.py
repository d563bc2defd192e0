"""Logged-in web sessions kept in the database: made at login, checked on every request, ended everywhere at once.

Owns: the session id (128 random bits in the signed cookie; only its SHA-256 is stored), the rules of a live
session (not ended, the account enabled, within ``[security] session_idle_minutes`` of the last request and
``session_max_hours`` of the login), the two stages (``password``: the second factor is still to be given;
``full``), recording the last request at most once a minute, and the login history rows. Because every instance
reads the same row on every request, a logout, a password change, disabling the account or a 2FA reset ends the
session on every instance at once, and a restart changes nothing. Storage is ``Store`` (``directory.store.sessions``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from directory import clock
from directory.accounts import User, user_of
from directory.settings import SecuritySettings
from directory.store import Store

TOUCH_EVERY = dt.timedelta(minutes=1)
FULL = "full"
PASSWORD_ONLY = "password"


def id_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode("ascii", "replace")).hexdigest()


def new_id() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True)
class Live:
    """A live session as a request sees it."""

    user: User
    stage: str
    account: dict[str, Any]  # the account's columns read with the session (password age, 2FA state)


def start(
    store: Store, user: User, policy: SecuritySettings, *, client: str, user_agent: str, stage: str = FULL
) -> tuple[str, dt.datetime]:
    """A new session of ``user`` (audited as a login when complete); its id and absolute end."""
    sid = new_id()
    now = clock.now()
    expires = now + dt.timedelta(hours=policy.session_max_hours)
    values = {"id_hash": id_hash(sid), "stage": stage, "created_at": now, "last_seen_at": now, "expires_at": expires,
              "client": client[:64], "user_agent": user_agent[:200]}  # fmt: skip
    store.create_session(user.username, values, actor=user.username if stage == FULL else None)
    return sid, expires


def check(store: Store, sid: str, username: str, policy: SecuritySettings) -> Live | None:
    """The live session named by ``sid`` for ``username``, or None (unknown, ended, timed out, account disabled).

    A session found timed out is ended here, so it shows as ended in lists."""
    key = id_hash(sid)
    row = store.session_with_account(key)
    if row is None or row["ended_at"] is not None or row["username"] != username or row["disabled"]:
        return None
    now = clock.now()
    if now >= clock.aware(row["expires_at"]):
        store.end_session(key, "expired")
        return None
    last = clock.aware(row["last_seen_at"])
    if now - last >= dt.timedelta(minutes=policy.session_idle_minutes):
        store.end_session(key, "idle")
        return None
    if now - last >= TOUCH_EVERY:
        store.touch_session(key, now)
    return Live(user_of(row), row["stage"], row)


def end(store: Store, sid: str, reason: str, actor: str | None) -> bool:
    return store.end_session(id_hash(sid), reason, actor)


def is_current(row: dict[str, Any], sid: str | None) -> bool:
    return sid is not None and row["id_hash"] == id_hash(sid)
