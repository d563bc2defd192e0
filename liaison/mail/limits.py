"""Forward quotas of the inbound SMTP face: how many forwards one sending address and one client may cause.

Owns: the keys a message is counted under (:func:`sender_key`, :func:`client_key` — an IPv6 client counts by its
/64, which one host usually holds whole) and the check against ``[smtp] max_forwards_per_sender`` and
``max_forwards_per_client`` over the last hour (:func:`refusal`).

The count lives in the database (``inbound.sender_key``/``client_key``/``forwards``, summed over ``received_at`` in
the last hour), not in memory: a restart would otherwise hand an attacker a fresh quota, and every instance sharing
one PostgreSQL database sees the same count. It is read once per role recipient at RCPT (so a sender over the quota
learns it before sending the data) and again in the transaction that stores the message. On SQLite that transaction
is the only writer, so the quota holds exactly; on PostgreSQL sessions stored at the same moment on several
instances may overshoot it by at most one message each.
"""

from __future__ import annotations

import datetime as dt
import ipaddress

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from liaison.mail.models import inbound_t
from liaison.settings import SmtpSettings

WINDOW = dt.timedelta(hours=1)


def sender_key(mail_from: str) -> str:
    """The envelope sender as counted: lower case, without angle brackets; the null sender counts as ``<>``."""
    return mail_from.strip().strip("<>").strip().lower()[:254] or "<>"


def client_key(peer: object) -> str:
    """The client as counted: its IPv4 address, or the /64 of its IPv6 address; ``""`` when unknown."""
    host = peer[0] if isinstance(peer, tuple) and peer else peer
    try:
        address = ipaddress.ip_address(str(host))
    except ValueError:
        return str(host or "")[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def used(conn: Connection, column: str, key: str, now: dt.datetime) -> int:
    """Forwards caused in the last hour by messages counted under ``key`` in ``column`` (sender_key, client_key)."""
    query = sa.select(sa.func.coalesce(sa.func.sum(inbound_t.c.forwards), 0)).where(
        inbound_t.c[column] == key, inbound_t.c.received_at > now - WINDOW
    )
    return int(conn.execute(query).scalar_one())


def refusal(conn: Connection, s: SmtpSettings, sender: str, client: str, more: int, now: dt.datetime) -> str | None:
    """None if ``more`` forwards fit both quotas, else the SMTP answer (4xx: the sender may try again later)."""
    if more <= 0:
        return None
    if used(conn, "sender_key", sender, now) + more > s.max_forwards_per_sender:
        return (
            f"450 4.7.1 Too many forwarded messages from this sender address: at most {s.max_forwards_per_sender}"
            " forwards per hour ([smtp] max_forwards_per_sender); try again later"
        )
    if client and used(conn, "client_key", client, now) + more > s.max_forwards_per_client:
        return (
            f"450 4.7.1 Too many forwarded messages from your address: at most {s.max_forwards_per_client}"
            " forwards per hour ([smtp] max_forwards_per_client); try again later"
        )
    return None
