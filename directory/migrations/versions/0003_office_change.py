"""The durable change log of offices (``office_change``), seeded with one row per existing office.

Sync tokens and incremental publish runs count generations of this log; seeding it with each office at its current
generation means a reader starting from generation 0 learns of every office there is.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from directory import clock

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    change = op.create_table(
        "office_change",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("gen", sa.Integer, nullable=False, index=True),
        sa.Column("region_code", sa.String(12), nullable=False, index=True),
        sa.Column("removed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    office = sa.table("office", sa.column("region_code"), sa.column("gen"))
    conn = op.get_bind()
    rows = [
        {"gen": r.gen, "region_code": r.region_code, "removed": False, "at": clock.now()}
        for r in conn.execute(sa.select(office.c.region_code, office.c.gen).order_by(office.c.gen))
    ]
    for start in range(0, len(rows), 5000):
        conn.execute(sa.insert(change), rows[start : start + 5000])


def downgrade() -> None:
    op.drop_table("office_change")
