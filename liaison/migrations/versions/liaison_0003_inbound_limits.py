"""Forwards stored once and counted: shared outbox bodies, and who caused how many forwards per inbound message.

Revision ID: liaison_0003
Revises: liaison_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "liaison_0003"
down_revision = "liaison_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_body",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("body_id", sa.Integer, nullable=True))
        batch.create_index("ix_outbox_body_id", ["body_id"])
    with op.batch_alter_table("inbound") as batch:
        batch.add_column(sa.Column("sender_key", sa.String(254), nullable=False, server_default=""))
        batch.add_column(sa.Column("client_key", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("forwards", sa.Integer, nullable=False, server_default="0"))
        batch.create_index("ix_inbound_sender_window", ["sender_key", "received_at"])
        batch.create_index("ix_inbound_client_window", ["client_key", "received_at"])


def downgrade() -> None:
    with op.batch_alter_table("inbound") as batch:
        batch.drop_index("ix_inbound_client_window")
        batch.drop_index("ix_inbound_sender_window")
        batch.drop_column("forwards")
        batch.drop_column("client_key")
        batch.drop_column("sender_key")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_body_id")
        batch.drop_column("body_id")
    op.drop_table("outbox_body")
