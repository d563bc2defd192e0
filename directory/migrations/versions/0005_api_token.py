"""Scoped API tokens (``api_token``): several per account, each with a label, scope, province and expiry.

The single token an account could have (``account.api_token_hash``) becomes a read-write token of its owner
labelled 原有令牌, so scripts using it keep working; the column is dropped.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from directory import clock

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MIGRATED_LABEL = "原有令牌"


def upgrade() -> None:
    # Read the old hashes and drop their column before the new table refers to ``account``: on SQLite the batch
    # copies ``account`` to a new table, which a foreign key pointing at it would block.
    account = sa.table("account", sa.column("id"), sa.column("api_token_hash"))
    conn = op.get_bind()
    query = sa.select(account.c.id, account.c.api_token_hash).where(account.c.api_token_hash.is_not(None))
    old = [(r.id, r.api_token_hash) for r in conn.execute(query)]
    with op.batch_alter_table("account") as batch:
        batch.drop_column("api_token_hash")
    token = op.create_table(
        "api_token",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("account.id"), nullable=False, index=True),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("scope", sa.String(10), nullable=False, server_default="write"),
        sa.Column("province_code", sa.String(12), nullable=True),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_from", sa.String(64), nullable=False, server_default=""),
    )
    rows = [
        {"account_id": account_id, "label": MIGRATED_LABEL, "scope": "write", "secret_hash": secret_hash,
         "created_at": clock.now(), "last_used_from": ""}
        for account_id, secret_hash in old
    ]  # fmt: skip
    if rows:
        conn.execute(sa.insert(token), rows)


def downgrade() -> None:
    with op.batch_alter_table("account") as batch:
        batch.add_column(sa.Column("api_token_hash", sa.String(200), nullable=True))
    op.drop_table("api_token")
