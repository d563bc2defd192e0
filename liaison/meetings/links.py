"""Signed answer links of meeting notices.

Owns: the HMAC-SHA256 key (``meetings.link_secret``, else one generated once and kept in ``meta``), the token
``<meeting id>.<SEQUENCE>.<hex address>.<mac>`` naming one attendee of one meeting and the notice version it came
with (an answer from a notice older than the meeting's last time change is refused), its verification
(constant-time, bounded length), and the public URL of the answer page. A token grants nothing but answering for
that one attendee.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from directory.settings import Settings
from directory.store import Store, meta_t

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


def base_url_warning(settings: Settings) -> str | None:
    """A warning when ``meetings.base_url`` is empty: links then point at ``[http]``'s own address, which the
    recipients usually cannot reach (127.0.0.1 by default). Printed at start-up and by ``bohai meeting create``."""
    if settings.meetings.base_url:
        return None
    return (
        f"meetings.base_url 未设置：会议通知中的答复链接将指向 {base_url(settings)}，收件人多半无法打开；"
        f"请设置为对外可访问的网址（例如 https://liaison.example.org）"
    )


def base_url(settings: Settings) -> str:
    if settings.meetings.base_url:
        return settings.meetings.base_url.rstrip("/")
    return f"http://{settings.http.host}:{settings.http.port}"


def answer_link(settings: Settings, key: bytes, meeting_id: int, email: str, sequence: int = 0) -> str:
    return f"{base_url(settings)}/meetings/answer/{sign(key, meeting_id, email, sequence)}"
