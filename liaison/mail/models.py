"""SQLModel tables of the mail machinery: the outbox, archived inbound mail, and the scheduler's jobs.

Owns: the shape of these tables and their Core table objects (``*_t``). They know nothing of letters or meetings:
a row names its feature only by ``kind`` and ``ref``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, DateTime, Index
from sqlmodel import Field, SQLModel

from directory import clock


def _tz(nullable: bool = False) -> Column[dt.datetime]:
    return Column(DateTime(timezone=True), nullable=nullable)


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)  # letter | fax | forward | reminder | overdue | meeting ...
    ref: str | None = Field(default=None, max_length=100, index=True)
    recipient: str = Field(max_length=300)
    domain: str = Field(default="", max_length=255, index=True)  # of the recipient, lower case (pacing per domain)
    token: str = Field(max_length=40, unique=True)  # envelope sender bounces+<token>@<domain>
    message_id: str = Field(max_length=300, index=True)
    body: bytes  # the whole message, or its own first lines when body_id names the rest
    body_id: int | None = Field(default=None, index=True)  # outbox_body shared with other rows (a forward)
    state: str = Field(default="queued", max_length=10)
    attempts: int = 0
    next_attempt_at: dt.datetime = Field(default_factory=clock.now, index=True)
    lease_until: dt.datetime | None = None
    leased_by: str = Field(default="", max_length=64)
    created_at: dt.datetime = Field(default_factory=clock.now)
    sent_at: dt.datetime | None = None
    last_error: str = Field(default="", max_length=2000)


class OutboxBody(SQLModel, table=True):
    """Bytes that several outbox rows end with: a message forwarded to many mailboxes is stored once."""

    __tablename__ = "outbox_body"
    id: int | None = Field(default=None, primary_key=True)
    data: bytes
    created_at: dt.datetime = Field(default_factory=clock.now)


class InboundMessage(SQLModel, table=True):
    __tablename__ = "inbound"
    __table_args__ = (
        Index("ix_inbound_sender_window", "sender_key", "received_at"),
        Index("ix_inbound_client_window", "client_key", "received_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    received_at: dt.datetime = Field(default_factory=clock.now, index=True)
    mail_from: str = Field(max_length=300)
    rcpt_tos: str = Field(max_length=3000)
    message_id: str = Field(default="", max_length=300)
    kind: str = Field(max_length=20)  # role | reply | bounce | hook | local
    note: str = Field(default="", max_length=1000)
    raw: bytes
    # what the forward quotas count (see liaison.mail.limits): who sent it, from where, how many forwards it caused
    sender_key: str = Field(default="", max_length=254)
    client_key: str = Field(default="", max_length=64)
    forwards: int = 0


class Job(SQLModel, table=True):
    __tablename__ = "scheduler_job"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)  # e.g. reminder (handlers are registered per kind)
    ref: str = Field(default="", max_length=64, index=True)  # e.g. the meeting id
    recipient: str = Field(default="", max_length=254)
    label: str = Field(default="", max_length=100)  # e.g. the reminder offset "10 workdays"
    payload: str = ""  # kind-specific JSON
    due_at: dt.datetime = Field(sa_column=_tz())
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: dt.datetime | None = Field(default=None, sa_column=_tz(nullable=True))
    attempts: int = 0
    done_at: dt.datetime | None = Field(default=None, sa_column=_tz(nullable=True))
    outcome: str = Field(default="", max_length=20)  # sent | skipped | superseded | failed
    error: str = ""
    created_at: dt.datetime = Field(default_factory=clock.now, sa_column=_tz())


outbox_t = OutboxMessage.__table__  # type: ignore[attr-defined]
outbox_body_t = OutboxBody.__table__  # type: ignore[attr-defined]
inbound_t = InboundMessage.__table__  # type: ignore[attr-defined]
job_t = Job.__table__  # type: ignore[attr-defined]
