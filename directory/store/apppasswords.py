"""App-password rows (``app_password``): add, list, revoke, look up — each add and revoke audited.

Owns only the SQL; making secrets, hashing them and checking a login are :mod:`directory.apppasswords`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from directory import clock
from directory.errors import NotFound
from directory.models import AppPassword
from directory.store.engine import Database, account_t

app_password_t = AppPassword.__table__  # type: ignore[attr-defined]
PUBLIC_COLUMNS = (app_password_t.c.id, app_password_t.c.label, app_password_t.c.created_at)


class AppPasswords(Database):
    """Reads and writes of ``app_password`` rows."""

    def _account_id(self, conn: sa.Connection, username: str) -> int:
        found = conn.execute(sa.select(account_t.c.id).where(account_t.c.username == username)).scalar_one_or_none()
        if found is None:
            raise NotFound(f"用户 {username} 不存在")
        return int(found)

    def add_app_password(self, username: str, label: str, secret_hash: str, actor: str) -> int:
        with self.begin() as conn:
            account_id = self._account_id(conn, username)
            values = {"account_id": account_id, "label": label, "secret_hash": secret_hash, "created_at": clock.now()}
            inserted = conn.execute(sa.insert(app_password_t).values(**values)).inserted_primary_key
            new_id = int(inserted[0]) if inserted else 0
            self.audit(conn, actor, "account", username, "app_password_add", None, {"id": new_id, "label": label})
            return new_id

    def list_app_passwords(self, username: str) -> list[dict[str, Any]]:
        """The account's app passwords (id, label, created_at, last_used_at), oldest first; never the hashes."""
        with self.read() as conn:
            account_id = self._account_id(conn, username)
            query = (
                sa.select(*PUBLIC_COLUMNS, app_password_t.c.last_used_at)
                .where(app_password_t.c.account_id == account_id)
                .order_by(app_password_t.c.id)
            )
            return [dict(r) for r in conn.execute(query).mappings()]

    def revoke_app_password(self, username: str, password_id: int, actor: str) -> str:
        """Delete one app password of ``username``; its label. NotFound when the account has no such one."""
        with self.begin() as conn:
            account_id = self._account_id(conn, username)
            mine = (app_password_t.c.id == password_id) & (app_password_t.c.account_id == account_id)
            label = conn.execute(sa.select(app_password_t.c.label).where(mine)).scalar_one_or_none()
            if label is None:
                raise NotFound(f"用户 {username} 没有编号为 {password_id} 的应用密码")
            conn.execute(sa.delete(app_password_t).where(mine))
            self.audit(conn, actor, "account", username, "app_password_revoke", {"id": password_id}, None)
            return str(label)

    def app_password_login(self, username: str, secret_hash: str) -> tuple[dict[str, Any], int, dt.datetime | None]:
        """The account row, app-password id and last use for this name and hashed secret; NotFound otherwise
        (also when the secret belongs to another account)."""
        query = (
            sa.select(account_t, app_password_t.c.id.label("app_id"), app_password_t.c.last_used_at.label("app_used"))
            .join(app_password_t, app_password_t.c.account_id == account_t.c.id)
            .where(account_t.c.username == username, app_password_t.c.secret_hash == secret_hash)
        )
        with self.read() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFound("应用密码不存在")
        account = {k: v for k, v in row.items() if k not in ("app_id", "app_used")}
        return account, int(row["app_id"]), row["app_used"]

    def touch_app_password(self, password_id: int, at: dt.datetime) -> None:
        with self.begin() as conn:
            conn.execute(sa.update(app_password_t).where(app_password_t.c.id == password_id).values(last_used_at=at))
