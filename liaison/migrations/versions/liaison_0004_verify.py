"""Verification campaigns: campaigns, one item per office, corrections, throttle attempts; the outbox learns each
row's destination domain (for pacing per domain).

Revision ID: liaison_0004
Revises: liaison_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "liaison_0004"
down_revision = "liaison_0003"
branch_labels = None
depends_on = None


def _tz(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "verify_campaign",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("region_code", sa.String(12), nullable=False, index=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        _tz("expires_at", False),
        sa.Column("remind_days", sa.String(50), nullable=False),
        sa.Column("reminders_sent", sa.Integer, nullable=False),
        _tz("escalated_at"),
        sa.Column("state", sa.String(10), nullable=False, index=True),
        _tz("created_at", False),
        sa.Column("created_by", sa.String(100), nullable=False),
        _tz("closed_at"),
        sa.Column("closed_by", sa.String(100), nullable=False),
    )
    op.create_table(
        "verify_item",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("verify_campaign.id"), nullable=False, index=True),
        sa.Column("region_code", sa.String(12), nullable=False, index=True),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("state", sa.String(12), nullable=False, index=True),
        sa.Column("token_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("code_hash", sa.String(64), nullable=True),
        sa.Column("base_version", sa.Integer, nullable=False),
        sa.Column("note", sa.String(1000), nullable=False),
        _tz("answered_at"),
        _tz("reminded_at"),
        _tz("escalated_at"),
        sa.UniqueConstraint("campaign_id", "region_code", name="uq_verify_item_office"),
    )
    op.create_table(
        "verify_correction",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("verify_item.id"), nullable=False, index=True),
        sa.Column("proposed", sa.Text, nullable=False),
        sa.Column("base_version", sa.Integer, nullable=False),
        sa.Column("state", sa.String(10), nullable=False, index=True),
        _tz("submitted_at", False),
        _tz("decided_at"),
        sa.Column("decided_by", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
    )
    op.create_table(
        "verify_attempt",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(100), nullable=False),
        _tz("at", False),
    )
    op.create_index("ix_verify_attempt_key_at", "verify_attempt", ["key", "at"])
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("domain", sa.String(255), nullable=False, server_default=""))
        batch.create_index("ix_outbox_domain", ["domain"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_domain")
        batch.drop_column("domain")
    op.drop_index("ix_verify_attempt_key_at", "verify_attempt")
    op.drop_table("verify_attempt")
    op.drop_table("verify_correction")
    op.drop_table("verify_item")
    op.drop_table("verify_campaign")
