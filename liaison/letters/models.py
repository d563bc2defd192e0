"""SQLModel tables of letters: the letter, its attachments, and one delivery per recipient.

Owns: the shape of these tables and their Core table objects (``*_t``), through which the letters package queries
them; the schema itself comes from the liaison migrations (``liaison/migrations``).
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Field, SQLModel

from directory import clock


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
    created_at: dt.datetime = Field(default_factory=clock.now)
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


letter_t = Letter.__table__  # type: ignore[attr-defined]
attachment_t = LetterAttachment.__table__  # type: ignore[attr-defined]
delivery_t = Delivery.__table__  # type: ignore[attr-defined]
