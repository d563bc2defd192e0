"""Who last confirmed an office's entry (``office.verified_by``), beside the date it was confirmed (``verified_at``).

The text is what a reader is shown (e.g. ``本单位自助核对`` when the office itself confirmed it through a
verification campaign, or the editor's account name).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("office", sa.Column("verified_by", sa.String(100), nullable=False, server_default=""))


def downgrade() -> None:
    # Not a batch: on SQLite that copies ``office`` to a new table, which the contacts' foreign key would not survive.
    # ALTER TABLE … DROP COLUMN needs SQLite 3.35 (2021).
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE office DROP COLUMN verified_by")
    else:
        op.drop_column("office", "verified_by")
