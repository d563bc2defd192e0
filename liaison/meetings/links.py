"""Signed answer links of meeting notices.

Owns: the HMAC-SHA256 key (``meetings.link_secret``, else one generated once and kept by ``liaison.keys``), the token
``<meeting id>.<SEQUENCE>.<hex address>.<mac>`` naming one attendee of one meeting and the notice version it came
with (an answer from a notice older than the meeting's last time change is refused), its verification
(constant-time, bounded length), and the answer page's link under the public address (``web.public_url``). A token
grants nothing but answering for that one attendee.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy.engine import Connection

from directory.store import Store
from liaison import keys
from liaison.settings import Settings

KEY_NAME = "meetings.link_secret"
MAX_TOKEN = 1200


def secret(store: Store, settings: Settings) -> bytes:
    """The HMAC key: the setting, else the generated one kept in the liaison key table (created on first use)."""
    if settings.meetings.link_secret:
        return settings.meetings.link_secret.encode()
    with store.begin() as conn:
        return secret_in(conn, settings)


def secret_in(conn: Connection, settings: Settings) -> bytes:
    """Like :func:`secret`, inside the caller's write transaction."""
    if settings.meetings.link_secret:
        return settings.meetings.link_secret.encode()
    return keys.get_or_create(conn, KEY_NAME, lambda: secrets.token_urlsafe(32)).encode()


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
