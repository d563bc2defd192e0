"""Initial schema: directory tables and liaison tables.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _directory() -> None:
    op.create_table(
        "region",
        sa.Column("code", sa.String(12), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("parent_code", sa.String(12), nullable=True, index=True),
        sa.Column("province_code", sa.String(12), nullable=False, index=True),
    )
    op.create_table(
        "office",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("region_code", sa.String(12), sa.ForeignKey("region.code"), nullable=False, unique=True),
        sa.Column("unit_name", sa.String(200), nullable=False),
        sa.Column("contact_name", sa.String(100), nullable=False, server_default=""),
        sa.Column("position", sa.String(100), nullable=False, server_default=""),
        sa.Column("phone", sa.String(40), nullable=False, server_default=""),
        sa.Column("fax", sa.String(40), nullable=False, server_default=""),
        sa.Column("email", sa.String(254), nullable=False, server_default=""),
        sa.Column("address", sa.String(300), nullable=False, server_default=""),
        sa.Column("postal_code", sa.String(6), nullable=False, server_default=""),
        sa.Column("liaison", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("email_status", sa.String(20), nullable=False, server_default="ok"),
        sa.Column("email_status_note", sa.String(1000), nullable=False, server_default=""),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("demo", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("gen", sa.Integer, nullable=False, server_default="0", index=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False, server_default=""),
    )
    op.create_table(
        "contact",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("office_id", sa.Integer, sa.ForeignKey("office.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("position", sa.String(100), nullable=False, server_default=""),
        sa.Column("phone", sa.String(40), nullable=False, server_default=""),
        sa.Column("email", sa.String(254), nullable=False, server_default=""),
        sa.Column("demo", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "account",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("province_code", sa.String(12), nullable=True),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("api_token_hash", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "change",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("entity", sa.String(20), nullable=False),
        sa.Column("entity_key", sa.String(64), nullable=False, index=True),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("before", sa.Text, nullable=True),
        sa.Column("after", sa.Text, nullable=True),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False, server_default=""),
    )


# --- liaison: letters, deliveries, outbox, inbound ---


def _liaison() -> None:
    op.create_table(
        "workday_year",
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("source", sa.String(300), nullable=False, server_default=""),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "workday_override",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("year", sa.Integer, nullable=False, index=True),
        sa.Column("workday", sa.Boolean, nullable=False),
    )
    op.create_table(
        "letter",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number", sa.String(40), nullable=True, unique=True),
        sa.Column("from_code", sa.String(12), nullable=False, index=True),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("template", sa.String(100), nullable=False, server_default=""),
        sa.Column("message_id", sa.String(300), nullable=False, unique=True),
        sa.Column("in_reply_to", sa.String(300), nullable=False, server_default=""),
        sa.Column("thread", sa.String(300), nullable=False, index=True),
        sa.Column("reply_within", sa.Integer, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False, server_default=""),
    )
    op.create_table(
        "letter_attachment",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("letter_id", sa.Integer, sa.ForeignKey("letter.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("letter_id", sa.Integer, sa.ForeignKey("letter.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("region_code", sa.String(12), nullable=False, index=True),
        sa.Column("via_code", sa.String(12), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("is_copy", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("note", sa.String(500), nullable=False, server_default=""),
        sa.Column("state", sa.String(10), nullable=False, server_default="queued", index=True),
        sa.Column("state_note", sa.String(1000), nullable=False, server_default=""),
        sa.Column("message_id", sa.String(300), nullable=False, unique=True),
        sa.Column("outbox_id", sa.Integer, nullable=True, index=True),
        sa.Column("deadline", sa.Date, nullable=True),
        sa.Column("deadline_provisional", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("remind_on", sa.Date, nullable=True, index=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue_on", sa.Date, nullable=True, index=True),
        sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("ref", sa.String(100), nullable=True, index=True),
        sa.Column("recipient", sa.String(300), nullable=False),
        sa.Column("token", sa.String(40), nullable=False, unique=True),
        sa.Column("message_id", sa.String(300), nullable=False, index=True),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("state", sa.String(10), nullable=False, server_default="queued"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leased_by", sa.String(64), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(2000), nullable=False, server_default=""),
    )
    op.create_index("ix_outbox_due", "outbox", ["state", "next_attempt_at"])
    op.create_table(
        "inbound",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("mail_from", sa.String(300), nullable=False),
        sa.Column("rcpt_tos", sa.String(3000), nullable=False),
        sa.Column("message_id", sa.String(300), nullable=False, server_default=""),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("note", sa.String(1000), nullable=False, server_default=""),
        sa.Column("raw", sa.LargeBinary, nullable=False),
    )


_LIAISON_TABLES = ("inbound", "outbox", "delivery", "letter_attachment", "letter", "workday_override", "workday_year")


# --- liaison: meetings and the scheduler ---


def _meetings() -> None:
    op.create_table(
        "meeting",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uid", sa.String(255), nullable=False, unique=True),
        sa.Column("sequence", sa.Integer, nullable=False, server_default="0"),
        sa.Column("time_sequence", sa.Integer, nullable=False, server_default="0"),
        sa.Column("status", sa.String(20), nullable=False, server_default="scheduled"),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("host_province", sa.String(2), nullable=False),
        sa.Column("place", sa.String(300), nullable=False, server_default=""),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agenda", sa.Text, nullable=False, server_default=""),
        sa.Column("notes", sa.Text, nullable=False, server_default=""),
        sa.Column("organiser", sa.String(254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False, server_default=""),
    )
    op.create_table(
        "meeting_attendee",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "meeting_id", sa.Integer, sa.ForeignKey("meeting.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("region_code", sa.String(12), nullable=True),
        sa.Column("partstat", sa.String(20), nullable=False, server_default="NEEDS-ACTION"),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("meeting_id", "email"),
    )
    op.create_table(
        "scheduler_job",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False, server_default="", index=True),
        sa.Column("recipient", sa.String(254), nullable=False, server_default=""),
        sa.Column("label", sa.String(100), nullable=False, server_default=""),
        sa.Column("payload", sa.Text, nullable=False, server_default=""),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=False, server_default=""),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_scheduler_job_due", "scheduler_job", ["done_at", "due_at"])


def upgrade() -> None:
    _directory()
    _liaison()
    _meetings()


def downgrade() -> None:
    # in reverse order of creation, so that no table is dropped while another still refers to it
    for table in ("scheduler_job", "meeting_attendee", "meeting"):
        op.drop_table(table)
    for name in _LIAISON_TABLES:
        op.drop_table(name)
    for table in ("meta", "change", "account", "contact", "office", "region"):
        op.drop_table(table)
