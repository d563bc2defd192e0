"""The liaison service's own key table; the generated meeting-link key moves in from the directory's ``meta``.

Revision ID: liaison_0002
Revises: liaison_0001

The key signs answer links already mailed out, so it is copied, never regenerated. The row in ``meta`` is read and
left alone: the directory's table is the directory's to change, and an instance of the previous version still
running against this database during a rolling upgrade keeps signing with the same key.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "liaison_0002"
down_revision = "liaison_0001"
branch_labels = None
depends_on = None

MOVED = ("meetings.link_secret",)


def upgrade() -> None:
    key = op.create_table(
        "liaison_key",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))
    rows = op.get_bind().execute(sa.select(meta.c.key, meta.c.value).where(meta.c.key.in_(MOVED))).all()
    if rows:
        op.bulk_insert(key, [{"name": name, "value": value} for name, value in rows])


def downgrade() -> None:
    op.drop_table("liaison_key")
