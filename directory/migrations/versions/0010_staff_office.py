"""Staff accounts name their own office and mail address; error reports from other provinces' staff.

``account.office_code`` (optional) is the office a letter or a meeting is sent from by default (without one, the
province's office); ``account.email`` is where an editor is told of reports about offices of the province.
``error_report`` holds the "报告错误" notes staff leave on an office page; they wait for that province's editors.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN: a batch copy of ``account`` on SQLite would cascade-delete the rows that refer to it
    op.add_column("account", sa.Column("office_code", sa.String(12), nullable=True))
    op.add_column("account", sa.Column("email", sa.String(254), nullable=True))
    op.create_table(
        "error_report",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("region_code", sa.String(12), nullable=False),
        sa.Column("province", sa.String(2), nullable=False),
        sa.Column("message", sa.String(2000), nullable=False),
        sa.Column("reporter", sa.String(64), nullable=False),
        sa.Column("reporter_contact", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(64), nullable=False, server_default=""),
        sa.Column("closing_note", sa.String(500), nullable=False, server_default=""),
        sa.Column("mailed", sa.Integer, nullable=False, server_default="0"),  # editors told by mail
    )
    op.create_index("ix_error_report_province", "error_report", ["province", "closed_at"])


def downgrade() -> None:
    op.drop_index("ix_error_report_province", "error_report")
    op.drop_table("error_report")
    if op.get_bind().dialect.name == "sqlite":  # DROP COLUMN needs SQLite 3.35; no batch copy (see upgrade)
        op.execute("ALTER TABLE account DROP COLUMN email")
        op.execute("ALTER TABLE account DROP COLUMN office_code")
    else:
        op.drop_column("account", "email")
        op.drop_column("account", "office_code")
