"""App passwords (``app_password``): per-device secrets that let a CardDAV client read the address books.

Only a SHA-256 of each secret is kept (the secrets are 160-bit random, so a fast hash is enough and a login costs
no argon2 work per request). They belong to an account and die with it.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_password",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("account.id", ondelete="CASCADE"), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_app_password_account_id", "app_password", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_app_password_account_id", "app_password")
    op.drop_table("app_password")
