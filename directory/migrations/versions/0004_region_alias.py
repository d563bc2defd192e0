"""Region aliases: the old code of a retired region, pointing at the code its office moved to, until a set time.

Revision ID: 0004
Revises: 0003

Written by a division update (``bohai regions update``); the inbound SMTP face accepts mail to the old role address
``<old code>@<liaison domain>`` for the office now at the new code while the alias lasts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "region_alias",
        sa.Column("old_code", sa.String(12), primary_key=True),
        sa.Column("new_code", sa.String(12), nullable=False, index=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("region_alias")
