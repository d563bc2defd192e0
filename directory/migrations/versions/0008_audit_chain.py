"""Tamper-evident audit: each ``change`` row gets its chain, sequence number and MAC; ``audit_chain`` holds the
head of every chain, the archive mark and the anchor left by pruning. ``office.phone_public`` marks an office's
mobile as a public work number (shown whole to every signed-in reader, see ``directory.privacy``).

Rows already written stay without a MAC: ``meta.audit_legacy_upto`` records the highest such id, so ``bohai audit
verify`` tells them (unprotected, from before the chain) from rows inserted later without a MAC.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): on SQLite a copied ``office`` table would be dropped, and with foreign keys
    # on, dropping it deletes every contact.
    op.add_column("office", sa.Column("phone_public", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("change", sa.Column("chain", sa.String(40), nullable=True))
    op.add_column("change", sa.Column("seq", sa.Integer, nullable=True))
    op.add_column("change", sa.Column("mac", sa.String(128), nullable=True))
    op.create_index("ix_change_chain_seq", "change", ["chain", "seq"])
    op.create_table(
        "audit_chain",
        sa.Column("chain", sa.String(40), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("mac", sa.String(128), nullable=False, server_default=""),
        sa.Column("key_id", sa.String(32), nullable=False, server_default=""),
        sa.Column("archived_seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("pruned_seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("pruned_mac", sa.String(128), nullable=False, server_default=""),
    )
    conn = op.get_bind()
    top = conn.execute(sa.text("SELECT MAX(id) FROM change")).scalar_one_or_none()
    meta = sa.table("meta", sa.column("key"), sa.column("value"))
    conn.execute(sa.delete(meta).where(meta.c.key == "audit_legacy_upto"))
    conn.execute(sa.insert(meta).values(key="audit_legacy_upto", value=str(int(top or 0))))


def downgrade() -> None:
    meta = sa.table("meta", sa.column("key"), sa.column("value"))
    op.get_bind().execute(sa.delete(meta).where(meta.c.key == "audit_legacy_upto"))
    op.drop_table("audit_chain")
    op.drop_index("ix_change_chain_seq", "change")
    for column in ("mac", "seq", "chain"):
        op.drop_column("change", column)  # SQLite 3.35+ drops columns in place
    op.drop_column("office", "phone_public")
