"""Rows of API tokens: issue, list, look up by hash, record use, revoke — each issue and revocation audited.

Owns only the SQL; what a token may do and how it is made and checked is :mod:`directory.tokens`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from directory import clock
from directory.errors import NotFound
from directory.store.engine import Database, account_t, api_token_t

_LISTED = (
    api_token_t.c.id,
    api_token_t.c.label,
    api_token_t.c.scope,
    api_token_t.c.province_code,
    api_token_t.c.created_at,
    api_token_t.c.expires_at,
    api_token_t.c.revoked_at,
    api_token_t.c.last_used_at,
    api_token_t.c.last_used_from,
    account_t.c.username,
)


class Tokens(Database):
    """Reads and writes of ``api_token`` rows."""

    def create_token(self, username: str, values: dict[str, Any], actor: str) -> int:
        with self.begin() as conn:
            account_id = conn.execute(sa.select(account_t.c.id).where(account_t.c.username == username)).scalar()
            if account_id is None:
                raise NotFound(f"用户 {username} 不存在")
            row = {**values, "account_id": account_id, "created_at": clock.now()}
            token_id = int(conn.execute(sa.insert(api_token_t).values(**row).returning(api_token_t.c.id)).scalar_one())
            shown = {k: v for k, v in row.items() if k != "secret_hash"}
            self.audit(conn, actor, "token", str(token_id), "create", None, {**shown, "username": username})
            return token_id

    def list_tokens(self, username: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(*_LISTED).join(account_t, account_t.c.id == api_token_t.c.account_id)
        if username is not None:
            query = query.where(account_t.c.username == username)
        with self.read() as conn:
            return [dict(r) for r in conn.execute(query.order_by(api_token_t.c.id)).mappings()]

    def token_by_hash(self, secret_hash: str) -> dict[str, Any] | None:
        """The token with its owner's name, role, province and state, or None."""
        query = (
            sa.select(
                *_LISTED, account_t.c.role, account_t.c.disabled, account_t.c.province_code.label("owner_province")
            )
            .join(account_t, account_t.c.id == api_token_t.c.account_id)
            .where(api_token_t.c.secret_hash == secret_hash)
        )
        with self.read() as conn:
            row = conn.execute(query).mappings().first()
            return dict(row) if row else None

    def touch_token(self, token_id: int, at: dt.datetime, address: str) -> None:
        with self.begin() as conn:
            conn.execute(
                sa.update(api_token_t)
                .where(api_token_t.c.id == token_id)
                .values(last_used_at=at, last_used_from=address[:64])
            )

    def revoke_token(self, token_id: int, actor: str) -> dict[str, Any]:
        """Revoke one token (idempotent); returns it as listed."""
        with self.begin() as conn:
            query = sa.select(*_LISTED).join(account_t, account_t.c.id == api_token_t.c.account_id)
            row = conn.execute(query.where(api_token_t.c.id == token_id)).mappings().first()
            if row is None:
                raise NotFound(f"令牌 {token_id} 不存在")
            if row["revoked_at"] is None:
                now = clock.now()
                conn.execute(sa.update(api_token_t).where(api_token_t.c.id == token_id).values(revoked_at=now))
                self.audit(conn, actor, "token", str(token_id), "revoke", None, {"username": row["username"]})
                return {**row, "revoked_at": now}
            return dict(row)

    def revoke_tokens_of(self, username: str, actor: str) -> int:
        """Revoke every live token of an account (when it is disabled); how many were live."""
        with self.begin() as conn:
            account_id = conn.execute(sa.select(account_t.c.id).where(account_t.c.username == username)).scalar()
            live = sa.update(api_token_t).where(
                api_token_t.c.account_id == account_id, api_token_t.c.revoked_at.is_(None)
            )
            count = conn.execute(live.values(revoked_at=clock.now())).rowcount
            if count:
                self.audit(conn, actor, "token", username, "revoke", None, {"username": username, "count": count})
            return int(count)
