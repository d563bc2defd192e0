"""Account rows of the directory's staff: read, list, create, update — each change audited.

Owns only the SQL; passwords, roles, lockout and tokens are decided in :mod:`directory.accounts`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from directory import clock
from directory.errors import Conflict, NotFound
from directory.store.engine import Database, account_t


class Accounts(Database):
    """Reads and writes of ``account`` rows."""

    def get_account(self, username: str) -> dict[str, Any] | None:
        with self.read() as conn:
            row = conn.execute(sa.select(account_t).where(account_t.c.username == username)).mappings().first()
            return dict(row) if row else None

    def has_accounts(self) -> bool:
        """Whether any account exists (the login page explains the first run while none does)."""
        with self.read() as conn:
            return conn.execute(sa.select(account_t.c.id).limit(1)).first() is not None

    def list_accounts(self) -> list[dict[str, Any]]:
        with self.read() as conn:
            return [dict(r) for r in conn.execute(sa.select(account_t).order_by(account_t.c.username)).mappings()]

    def create_account(
        self, username: str, password_hash: str, role: str, province_code: str | None, actor: str
    ) -> None:
        with self.begin() as conn:
            if conn.execute(sa.select(account_t.c.id).where(account_t.c.username == username)).first():
                raise Conflict(f"用户 {username} 已存在")
            conn.execute(
                sa.insert(account_t).values(
                    username=username,
                    password_hash=password_hash,
                    role=role,
                    province_code=province_code,
                    created_at=clock.now(),
                    password_changed_at=clock.now(),
                )
            )
            self.audit(conn, actor, "account", username, "create", None, {"role": role, "province_code": province_code})

    def update_account(self, username: str, actor: str, *, audit: bool = True, **changes: Any) -> None:
        """Change columns of an account; password and token hashes show as ``***`` in the audit row."""
        with self.begin() as conn:
            row = conn.execute(sa.select(account_t).where(account_t.c.username == username)).mappings().first()
            if row is None:
                raise NotFound(f"用户 {username} 不存在")
            conn.execute(sa.update(account_t).where(account_t.c.id == row["id"]).values(**changes))
            if audit:
                shown = {k: ("***" if "hash" in k else v) for k, v in changes.items()}
                self.audit(conn, actor, "account", username, "update", None, shown)
