"""SQLModel tables of verification campaigns: the campaign, one item per office, the corrections offices submit,
and the attempts the self-service page counts for its throttles.

Owns: the shape of these tables and their Core table objects (``*_t``); the schema itself comes from the liaison
migrations (``liaison/migrations``, ``liaison_0004``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from directory import clock


def _tz(nullable: bool = False) -> Column[dt.datetime]:
    return Column(DateTime(timezone=True), nullable=nullable)


class VerifyCampaign(SQLModel, table=True):
    __tablename__ = "verify_campaign"
    id: int | None = Field(default=None, primary_key=True)
    region_code: str = Field(max_length=12, index=True)  # a province, a city or a county (or one office)
    title: str = Field(max_length=200)
    due_on: dt.date  # the Beijing date by which offices answer
    expires_at: dt.datetime = Field(sa_column=_tz())  # links work until then (due date plus the grace period)
    remind_days: str = Field(default="", max_length=50)  # working days before due_on, e.g. "3,1"
    reminders_sent: int = 0  # how many of remind_days have been handled
    escalated_at: dt.datetime | None = Field(default=None, sa_column=_tz(nullable=True))
    state: str = Field(default="open", max_length=10, index=True)  # open | closed
    created_at: dt.datetime = Field(default_factory=clock.now, sa_column=_tz())
    created_by: str = Field(default="", max_length=100)
    closed_at: dt.datetime | None = Field(default=None, sa_column=_tz(nullable=True))
    closed_by: str = Field(default="", max_length=100)


class VerifyItem(SQLModel, table=True):
    """One office of a campaign: how it was asked, its secret link (hashed) and where it stands."""

    __tablename__ = "verify_item"
    __table_args__ = (UniqueConstraint("campaign_id", "region_code", name="uq_verify_item_office"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="verify_campaign.id", index=True)
    region_code: str = Field(max_length=12, index=True)
    channel: str = Field(max_length=10)  # email | fax | phone (neither: the editor phones)
    address: str = Field(default="", max_length=300)
    state: str = Field(default="pending", max_length=12, index=True)
    token_hash: str | None = Field(default=None, max_length=64, unique=True)  # SHA-256 of the link's token
    code_hash: str | None = Field(default=None, max_length=64)  # SHA-256 of region code + fax short code
    base_version: int = 0  # the office's version when the notice was queued
    note: str = Field(default="", max_length=1000)
    answered_at: dt.datetime | None = Field(default=None, sa_column=_tz(nullable=True))
    reminded_at: dt.datetime | None = Field(default=None, sa_column=_tz(nullable=True))
    escalated_at: dt.datetime | None = Field(default=None, sa_column=_tz(nullable=True))


class VerifyCorrection(SQLModel, table=True):
    """What an office asked to change; it waits for the province editor (approve, edit then approve, reject)."""

    __tablename__ = "verify_correction"
    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="verify_item.id", index=True)
    proposed: str  # JSON: the eight fields as the office submitted them (validated, phones in E.164)
    base_version: int  # the office's version the office saw
    state: str = Field(default="pending", max_length=10, index=True)  # pending | approved | rejected
    submitted_at: dt.datetime = Field(default_factory=clock.now, sa_column=_tz())
    decided_at: dt.datetime | None = Field(default=None, sa_column=_tz(nullable=True))
    decided_by: str = Field(default="", max_length=100)
    reason: str = Field(default="", max_length=500)


class VerifyAttempt(SQLModel, table=True):
    """One counted attempt on the self-service page (a wrong fax code, an unknown token), for the throttles."""

    __tablename__ = "verify_attempt"
    __table_args__ = (Index("ix_verify_attempt_key_at", "key", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=100)  # e.g. "code:130102001000" or "client:127.0.0.1"
    at: dt.datetime = Field(default_factory=clock.now, sa_column=_tz())


campaign_t = VerifyCampaign.__table__  # type: ignore[attr-defined]
item_t = VerifyItem.__table__  # type: ignore[attr-defined]
correction_t = VerifyCorrection.__table__  # type: ignore[attr-defined]
attempt_t = VerifyAttempt.__table__  # type: ignore[attr-defined]
