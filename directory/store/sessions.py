"""Rows of web sessions, login history, password history, recovery codes and the TOTP step of accounts.

Owns only the SQL; what a session is, how long it lasts, password and second-factor rules are
:mod:`directory.websessions`, :mod:`directory.accounts` and :mod:`directory.twofactor`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from directory import clock
from directory.errors import NotFound
from directory.models import LoginEvent, PasswordHistory, RecoveryCode, WebSession
from directory.store.engine import Database, account_t, change_t

web_session_t = WebSession.__table__  # type: ignore[attr-defined]
login_event_t = LoginEvent.__table__  # type: ignore[attr-defined]
password_history_t = PasswordHistory.__table__  # type: ignore[attr-defined]
recovery_code_t = RecoveryCode.__table__  # type: ignore[attr-defined]
KEEP_ENDED = dt.timedelta(days=30)  # ended sessions stay listed (and their ids refused) this long, then go
KEEP_EVENTS = dt.timedelta(days=365)  # the login history of an account reaches back a year


def _account_id(conn: sa.Connection, username: str) -> int:
    found = conn.execute(sa.select(account_t.c.id).where(account_t.c.username == username)).scalar_one_or_none()
    if found is None:
        raise NotFound(f"用户 {username} 不存在")
    return int(found)


class Sessions(Database):
    """Reads and writes of ``web_session``, ``login_event``, ``password_history`` and ``recovery_code`` rows."""

    # -- sessions ----------------------------------------------------------------------------------------------

    def create_session(self, username: str, values: dict[str, Any], actor: str | None = None) -> None:
        """Insert a session of ``username`` (``id_hash``, ``stage``, times, client); audited as a login when
        ``actor`` is given. Sessions of the account that ended long ago are removed in the same transaction."""
        with self.begin() as conn:
            account_id = _account_id(conn, username)
            old = clock.now() - KEEP_ENDED
            conn.execute(
                sa.delete(web_session_t).where(
                    (web_session_t.c.account_id == account_id) & (web_session_t.c.expires_at < old)
                )
            )
            conn.execute(sa.insert(web_session_t).values(account_id=account_id, **values))
            if actor is not None:
                shown = {"client": values.get("client", ""), "stage": values.get("stage", "full")}
                self.audit(conn, actor, "account", username, "login", None, shown)

    def session_with_account(self, id_hash: str) -> dict[str, Any] | None:
        """The session row with its account's columns (``username``, ``role``, ``province_code``, ``disabled``,
        ``password_changed_at``, ``totp_enabled_at``), or None."""
        query = sa.select(
            web_session_t,
            account_t.c.username,
            account_t.c.role,
            account_t.c.province_code,
            account_t.c.disabled,
            account_t.c.password_changed_at,
            account_t.c.totp_enabled_at,
        ).join(account_t, account_t.c.id == web_session_t.c.account_id)
        with self.read() as conn:
            row = conn.execute(query.where(web_session_t.c.id_hash == id_hash)).mappings().first()
            return dict(row) if row else None

    def touch_session(self, id_hash: str, at: dt.datetime) -> None:
        with self.begin() as conn:
            live = (web_session_t.c.id_hash == id_hash) & web_session_t.c.ended_at.is_(None)
            conn.execute(sa.update(web_session_t).where(live).values(last_seen_at=at))

    def end_session(self, id_hash: str, reason: str, actor: str | None = None) -> bool:
        """End one session; True if it was live. Audited as ``logout`` when ``actor`` is given."""
        with self.begin() as conn:
            live = (web_session_t.c.id_hash == id_hash) & web_session_t.c.ended_at.is_(None)
            row = conn.execute(
                sa.select(account_t.c.username)
                .join(web_session_t, account_t.c.id == web_session_t.c.account_id)
                .where(live)
            ).first()
            if row is None:
                return False
            conn.execute(sa.update(web_session_t).where(live).values(ended_at=clock.now(), end_reason=reason))
            if actor is not None:
                self.audit(conn, actor, "account", row.username, "logout", None, {"reason": reason})
            return True

    def end_sessions(self, username: str, reason: str, actor: str, *, keep: str | None = None) -> int:
        """End every live session of ``username`` but ``keep`` (an id hash); the count. One audit row."""
        with self.begin() as conn:
            account_id = _account_id(conn, username)
            live = (web_session_t.c.account_id == account_id) & web_session_t.c.ended_at.is_(None)
            if keep is not None:
                live = live & (web_session_t.c.id_hash != keep)
            count = conn.execute(
                sa.update(web_session_t).where(live).values(ended_at=clock.now(), end_reason=reason)
            ).rowcount
            if count:
                self.audit(conn, actor, "account", username, "sessions_end", None, {"reason": reason, "count": count})
            return int(count or 0)

    def list_sessions(self, username: str) -> list[dict[str, Any]]:
        """The account's sessions that have not ended (some may have timed out), newest first."""
        with self.read() as conn:
            account_id = _account_id(conn, username)
            query = (
                sa.select(web_session_t)
                .where((web_session_t.c.account_id == account_id) & web_session_t.c.ended_at.is_(None))
                .order_by(web_session_t.c.created_at.desc())
            )
            return [dict(r) for r in conn.execute(query).mappings()]

    # -- login history -----------------------------------------------------------------------------------------

    def record_login(self, username: str, client: str, success: bool, detail: str) -> None:
        """One login attempt of a known account (unknown names are not recorded: they have no history page)."""
        with self.begin() as conn:
            found = conn.execute(sa.select(account_t.c.id).where(account_t.c.username == username)).scalar()
            if found is None:
                return
            now = clock.now()
            old = (login_event_t.c.account_id == found) & (login_event_t.c.at < now - KEEP_EVENTS)
            conn.execute(sa.delete(login_event_t).where(old))
            conn.execute(
                sa.insert(login_event_t).values(
                    account_id=found, at=now, client=client[:64], success=success, detail=detail[:40]
                )
            )

    def login_history(self, username: str, limit: int = 50) -> list[dict[str, Any]]:
        with self.read() as conn:
            account_id = _account_id(conn, username)
            query = (
                sa.select(login_event_t)
                .where(login_event_t.c.account_id == account_id)
                .order_by(login_event_t.c.id.desc())
                .limit(limit)
            )
            return [dict(r) for r in conn.execute(query).mappings()]

    # -- passwords ---------------------------------------------------------------------------------------------

    def earlier_password_hashes(self, username: str, count: int) -> list[str]:
        """The current hash and the ``count - 1`` before it, newest first."""
        if count <= 0:
            return []
        with self.read() as conn:
            row = conn.execute(
                sa.select(account_t.c.id, account_t.c.password_hash).where(account_t.c.username == username)
            ).first()
            if row is None:
                raise NotFound(f"用户 {username} 不存在")
            query = (
                sa.select(password_history_t.c.password_hash)
                .where(password_history_t.c.account_id == row.id)
                .order_by(password_history_t.c.id.desc())
                .limit(count - 1)
            )
            return [row.password_hash, *conn.execute(query).scalars()]

    def change_password(self, username: str, new_hash: str, actor: str, *, keep: int, end_reason: str) -> int:
        """Set a new password hash (the old one goes to the history, of which ``keep`` are kept), clear failure
        state, and end every session of the account; the count of ended sessions."""
        now = clock.now()
        with self.begin() as conn:
            row = conn.execute(
                sa.select(account_t.c.id, account_t.c.password_hash).where(account_t.c.username == username)
            ).first()
            if row is None:
                raise NotFound(f"用户 {username} 不存在")
            conn.execute(
                sa.insert(password_history_t).values(account_id=row.id, password_hash=row.password_hash, created_at=now)
            )
            ids = conn.execute(
                sa.select(password_history_t.c.id)
                .where(password_history_t.c.account_id == row.id)
                .order_by(password_history_t.c.id.desc())
            ).scalars()
            stale = list(ids)[max(keep, 0) :]
            if stale:
                conn.execute(sa.delete(password_history_t).where(password_history_t.c.id.in_(stale)))
            conn.execute(
                sa.update(account_t)
                .where(account_t.c.id == row.id)
                .values(password_hash=new_hash, password_changed_at=now, failed_logins=0, locked_until=None)
            )
            live = (web_session_t.c.account_id == row.id) & web_session_t.c.ended_at.is_(None)
            ended = conn.execute(sa.update(web_session_t).where(live).values(ended_at=now, end_reason=end_reason))
            self.audit(conn, actor, "account", username, "password", None, {"sessions_ended": ended.rowcount})
            return int(ended.rowcount or 0)

    # -- second factor -----------------------------------------------------------------------------------------

    def set_totp(self, username: str, secret: str | None, enabled: bool, code_hashes: list[str], actor: str) -> int:
        """Store a TOTP secret (``None``: remove the factor), its state and a new set of recovery codes (the old
        ones go). Removing the factor also ends every session of the account; the count ended."""
        now = clock.now()
        with self.begin() as conn:
            account_id = _account_id(conn, username)
            conn.execute(
                sa.update(account_t)
                .where(account_t.c.id == account_id)
                .values(totp_secret=secret, totp_enabled_at=now if enabled else None, totp_last_step=0)
            )
            conn.execute(sa.delete(recovery_code_t).where(recovery_code_t.c.account_id == account_id))
            if code_hashes:
                conn.execute(
                    sa.insert(recovery_code_t), [{"account_id": account_id, "code_hash": h} for h in code_hashes]
                )
            ended = 0
            if secret is None:
                live = (web_session_t.c.account_id == account_id) & web_session_t.c.ended_at.is_(None)
                ended = conn.execute(
                    sa.update(web_session_t).where(live).values(ended_at=now, end_reason="2fa_reset")
                ).rowcount
            action = "2fa_enable" if enabled else ("2fa_reset" if secret is None else "2fa_begin")
            if action != "2fa_begin":
                self.audit(conn, actor, "account", username, action, None, {"sessions_ended": ended})
            return int(ended or 0)

    def accept_totp_step(self, username: str, step: int) -> bool:
        """Record ``step`` as used if it is later than the last used one (a code is good once, on every instance)."""
        with self.begin() as conn:
            done = conn.execute(
                sa.update(account_t)
                .where((account_t.c.username == username) & (account_t.c.totp_last_step < step))
                .values(totp_last_step=step)
            )
            return bool(done.rowcount)

    def use_recovery_code(self, username: str, code_hash: str) -> bool:
        """Spend an unused recovery code; False when there is none with that hash (or it was used)."""
        with self.begin() as conn:
            account_id = _account_id(conn, username)
            unused = (
                (recovery_code_t.c.account_id == account_id)
                & (recovery_code_t.c.code_hash == code_hash)
                & recovery_code_t.c.used_at.is_(None)
            )
            return bool(conn.execute(sa.update(recovery_code_t).where(unused).values(used_at=clock.now())).rowcount)

    def unused_recovery_codes(self, username: str) -> int:
        with self.read() as conn:
            account_id = _account_id(conn, username)
            query = sa.select(sa.func.count()).where(
                (recovery_code_t.c.account_id == account_id) & recovery_code_t.c.used_at.is_(None)
            )
            return int(conn.execute(query).scalar_one())

    # -- the audit as the auditor reads it ---------------------------------------------------------------------

    def recent_changes(self, limit: int = 200) -> list[dict[str, Any]]:
        """The latest audit rows of every entity, newest first (``before``/``after`` as stored JSON text)."""
        with self.read() as conn:
            query = sa.select(change_t).order_by(change_t.c.id.desc()).limit(limit)
            return [dict(r) for r in conn.execute(query).mappings()]
