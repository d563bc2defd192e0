"""Sessions in the database, login history, password history, the second factor, and separate duties.

``web_session`` (one row per logged-in session, keyed by the SHA-256 of its id), ``login_event`` (the login history
of each account), ``password_history`` (earlier password hashes), ``recovery_code`` (hashed single-use codes), and
on ``account``: when the password was last set, the TOTP secret with its enrolment time and last used step, and a
``role`` wide enough for two roles. The old all-powerful ``admin`` becomes ``secadmin,sysadmin`` (system plus
security administrator); a warning says to split the two duties between two people.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from directory import clock

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
BOTH = "secadmin,sysadmin"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":  # SQLite does not enforce VARCHAR lengths; no table copy is needed there
        op.alter_column("account", "role", type_=sa.String(40), existing_type=sa.String(10), existing_nullable=False)
    # plain ADD COLUMN (no batch copy of ``account``, which the tables referring to it would block on SQLite)
    op.add_column("account", sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("account", sa.Column("totp_secret", sa.String(64), nullable=True))
    op.add_column("account", sa.Column("totp_enabled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("account", sa.Column("totp_last_step", sa.Integer, nullable=False, server_default="0"))
    account = sa.table(
        "account", sa.column("username", sa.String), sa.column("role", sa.String), sa.column("password_changed_at")
    )
    # the expiry of existing passwords counts from the upgrade, so nobody is shut out by it at once
    bind.execute(sa.update(account).values(password_changed_at=clock.now()))
    admins = [r.username for r in bind.execute(sa.select(account.c.username).where(account.c.role == "admin"))]
    if admins:
        bind.execute(sa.update(account).where(account.c.role == "admin").values(role=BOTH))
        log.warning(
            "accounts %s were 'admin' and now hold both sysadmin and secadmin; give the two duties to two people "
            "(bohai user role NAME --role ...)",
            ", ".join(admins),
        )
    op.create_table(
        "web_session",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("account.id", ondelete="CASCADE"), nullable=False),
        sa.Column("stage", sa.String(10), nullable=False, server_default="full"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(20), nullable=False, server_default=""),
        sa.Column("client", sa.String(64), nullable=False, server_default=""),
        sa.Column("user_agent", sa.String(200), nullable=False, server_default=""),
    )
    op.create_index("ix_web_session_account_id", "web_session", ["account_id"])
    op.create_table(
        "login_event",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("account.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client", sa.String(64), nullable=False, server_default=""),
        sa.Column("success", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("detail", sa.String(40), nullable=False, server_default=""),
    )
    op.create_index("ix_login_event_account_id", "login_event", ["account_id"])
    op.create_table(
        "password_history",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("account.id", ondelete="CASCADE"), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_password_history_account_id", "password_history", ["account_id"])
    op.create_table(
        "recovery_code",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("account.id", ondelete="CASCADE"), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_recovery_code_account_id", "recovery_code", ["account_id"])


def downgrade() -> None:
    for table in ("recovery_code", "password_history", "login_event", "web_session"):
        op.drop_index(f"ix_{table}_account_id", table)
        op.drop_table(table)
    account = sa.table("account", sa.column("role", sa.String))
    bind = op.get_bind()
    bind.execute(sa.update(account).where(account.c.role.in_([BOTH, "sysadmin", "secadmin"])).values(role="admin"))
    bind.execute(sa.update(account).where(account.c.role == "auditor").values(role="reader"))
    for column in ("totp_last_step", "totp_enabled_at", "totp_secret", "password_changed_at"):
        op.drop_column("account", column)
    if bind.dialect.name != "sqlite":
        op.alter_column("account", "role", type_=sa.String(10), existing_type=sa.String(40), existing_nullable=False)
