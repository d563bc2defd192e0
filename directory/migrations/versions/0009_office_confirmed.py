"""Who last confirmed an office's entry (``office.verified_by``), beside the date it was confirmed (``verified_at``).

The text is what a reader is shown (e.g. ``本单位自助核对`` when the office itself confirmed it through a
verification campaign, or the editor's account name).

Revision ID: 0009
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("office") as batch:
        batch.add_column(sa.Column("verified_by", sa.String(100), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("office") as batch:
        batch.drop_column("verified_by")
