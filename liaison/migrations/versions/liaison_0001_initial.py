"""Initial schema of the liaison service: working days, letters, deliveries, outbox, inbound mail, meetings, jobs.

Revision ID: liaison_0001
Revises:

Exactly the liaison tables that the directory's revision 0001 used to create, so that a database written then is
stamped with this revision instead of migrated (``directory.migrations.Schema.adopt``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "liaison_0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = (
    *("workday_year", "workday_override", "letter", "letter_attachment", "delivery", "outbox", "inbound"),
    *("meeting", "meeting_attendee", "scheduler_job"),
)


def _letters() -> None:
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
    _letters()
    _meetings()


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
