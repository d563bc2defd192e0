"""SQLModel tables of the liaison layer (issue 4): working-day overrides, letters, deliveries, outbox, inbound mail.

Owns: the shape of these tables; they are created by the liaison service's migrations (``liaison/migrations``) and
mirrored here so that liaison modules query them through SQLAlchemy Core (``*_t`` table objects below).
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Field, SQLModel

from directory.models import utcnow

DELIVERY_STATES = ("queued", "sent", "deferred", "failed", "bounced", "replied", "overdue")
OUTBOX_STATES = ("queued", "sending", "deferred", "sent", "failed", "bounced")


class WorkdayYear(SQLModel, table=True):
    """A year whose official calendar (State Council notice) an operator loaded into the override table."""

    __tablename__ = "workday_year"
    year: int = Field(primary_key=True)
    source: str = Field(default="", max_length=300)
    loaded_at: dt.datetime = Field(default_factory=utcnow)


class WorkdayOverride(SQLModel, table=True):
    """One day of a loaded year that differs from Monday-Friday: a holiday (False) or a make-up working day (True)."""

    __tablename__ = "workday_override"
    day: dt.date = Field(primary_key=True)
    year: int = Field(index=True)
    workday: bool


class Letter(SQLModel, table=True):
    __tablename__ = "letter"
    id: int | None = Field(default=None, primary_key=True)
    number: str | None = Field(default=None, unique=True, max_length=40)
    from_code: str = Field(max_length=12, index=True)
    subject: str = Field(max_length=300)
    body: str
    template: str = Field(default="", max_length=100)
    message_id: str = Field(max_length=300, unique=True)  # the letter's own id; deliveries thread under it
    in_reply_to: str = Field(default="", max_length=300)
    thread: str = Field(max_length=300, index=True)  # Message-ID of the first letter of the thread
    reply_within: int | None = None  # working days
    created_at: dt.datetime = Field(default_factory=utcnow)
    created_by: str = Field(default="", max_length=100)


class LetterAttachment(SQLModel, table=True):
    __tablename__ = "letter_attachment"
    id: int | None = Field(default=None, primary_key=True)
    letter_id: int = Field(foreign_key="letter.id", index=True)
    filename: str = Field(max_length=200)
    content_type: str = Field(max_length=100)
    data: bytes


class Delivery(SQLModel, table=True):
    """One recipient of a letter: the office addressed, the office actually reached, the channel and the state."""

    __tablename__ = "delivery"
    id: int | None = Field(default=None, primary_key=True)
    letter_id: int = Field(foreign_key="letter.id", index=True)
    region_code: str = Field(max_length=12, index=True)  # the office addressed
    via_code: str = Field(max_length=12)  # the office reached (a parent office when routed upwards)
    channel: str = Field(max_length=10)  # email | fax
    address: str = Field(max_length=300)
    is_copy: bool = False  # a copy to the province's liaison officer
    note: str = Field(default="", max_length=500)
    state: str = Field(default="queued", max_length=10, index=True)
    state_note: str = Field(default="", max_length=1000)
    message_id: str = Field(max_length=300, unique=True)
    outbox_id: int | None = Field(default=None, index=True)
    deadline: dt.date | None = None
    deadline_provisional: bool = False
    remind_on: dt.date | None = Field(default=None, index=True)
    reminded_at: dt.datetime | None = None
    overdue_on: dt.date | None = Field(default=None, index=True)
    overdue_at: dt.datetime | None = None
    sent_at: dt.datetime | None = None
    replied_at: dt.datetime | None = None


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)  # letter | fax | forward | reminder | overdue | meeting ...
    ref: str | None = Field(default=None, max_length=100, index=True)
    recipient: str = Field(max_length=300)
    token: str = Field(max_length=40, unique=True)  # envelope sender bounces+<token>@<domain>
    message_id: str = Field(max_length=300, index=True)
    body: bytes
    state: str = Field(default="queued", max_length=10)
    attempts: int = 0
    next_attempt_at: dt.datetime = Field(default_factory=utcnow, index=True)
    lease_until: dt.datetime | None = None
    leased_by: str = Field(default="", max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow)
    sent_at: dt.datetime | None = None
    last_error: str = Field(default="", max_length=2000)


class InboundMessage(SQLModel, table=True):
    __tablename__ = "inbound"
    id: int | None = Field(default=None, primary_key=True)
    received_at: dt.datetime = Field(default_factory=utcnow, index=True)
    mail_from: str = Field(max_length=300)
    rcpt_tos: str = Field(max_length=3000)
    message_id: str = Field(default="", max_length=300)
    kind: str = Field(max_length=20)  # role | reply | bounce | hook | local
    note: str = Field(default="", max_length=1000)
    raw: bytes


workday_year_t = WorkdayYear.__table__  # type: ignore[attr-defined]
workday_override_t = WorkdayOverride.__table__  # type: ignore[attr-defined]
letter_t = Letter.__table__  # type: ignore[attr-defined]
attachment_t = LetterAttachment.__table__  # type: ignore[attr-defined]
delivery_t = Delivery.__table__  # type: ignore[attr-defined]
outbox_t = OutboxMessage.__table__  # type: ignore[attr-defined]
inbound_t = InboundMessage.__table__  # type: ignore[attr-defined]
