"""Signed answer links of meeting notices.

Owns: the HMAC-SHA256 key (``meetings.link_secret``, else one generated once and kept in ``meta``), the token
``<meeting id>.<SEQUENCE>.<hex address>.<mac>`` naming one attendee of one meeting and the notice version it came
with (an answer from a notice older than the meeting's last time change is refused), its verification
(constant-time, bounded length), and the answer page's link under the public address (``web.public_url``). A token
grants nothing but answering for that one attendee.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from directory.store import Store, meta_t
from liaison.settings import Settings

META_KEY = "meetings.link_secret"
MAX_TOKEN = 1200


def secret(store: Store, settings: Settings) -> bytes:
    """The HMAC key: the setting, else the generated one stored in ``meta`` (created on first use)."""
    if settings.meetings.link_secret:
        return settings.meetings.link_secret.encode()
    return store.set_meta_default(META_KEY, secrets.token_urlsafe(32)).encode()


def secret_in(conn: Connection, settings: Settings) -> bytes:
    """Like :func:`secret`, inside the caller's write transaction."""
    if settings.meetings.link_secret:
        return settings.meetings.link_secret.encode()
    value = conn.execute(sa.select(meta_t.c.value).where(meta_t.c.key == META_KEY)).scalar_one_or_none()
    if value is None:
        value = secrets.token_urlsafe(32)
        conn.execute(sa.insert(meta_t).values(key=META_KEY, value=value))
    return str(value).encode()


def _mac(key: bytes, body: str) -> str:
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()[:32]


def sign(key: bytes, meeting_id: int, email: str, sequence: int = 0) -> str:
    """The token naming ``email`` on meeting ``meeting_id``, from the notice of SEQUENCE ``sequence``."""
    body = f"{meeting_id}.{sequence}.{email.encode().hex()}"
    return f"{body}.{_mac(key, body)}"


def verify(key: bytes, token: str) -> tuple[int, str, int] | None:
    """(meeting id, address, SEQUENCE) of a valid token, else None."""
    parts = token.split(".")
    if len(token) > MAX_TOKEN or len(parts) != 4 or not all(p.isdigit() and len(p) <= 9 for p in parts[:2]):
        return None
    if not hmac.compare_digest(_mac(key, ".".join(parts[:3])), parts[3]):
        return None
    try:
        return int(parts[0]), bytes.fromhex(parts[2]).decode(), int(parts[1])
    except (ValueError, UnicodeDecodeError):
        return None


def answer_link(settings: Settings, key: bytes, meeting_id: int, email: str, sequence: int = 0) -> str:
    return f"{settings.public_url()}/meetings/answer/{sign(key, meeting_id, email, sequence)}"
