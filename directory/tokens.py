"""API tokens for scripts: how they are made, what each may do, and the check of a presented token.

Owns: the token format (``bohai_`` and 43 characters of ``secrets.token_urlsafe(32)``; tokens made before scoped
tokens, ``<username>.<secret>``, still work — only a token's SHA-256 is stored, so both are looked up the same way),
the scopes (``read``, ``write``), the optional province, the expiry, and :func:`effective_user`: a token's rights are
its scope and province intersected with its owner's role, so a token never grants more than its owner has. Every
accepted token records its last use (time and client address, at most once a minute per token). Storage goes
through ``Store`` (``create_token``/``list_tokens``/``token_by_hash``/``touch_token``/``revoke_token``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import replace
from typing import Any

from directory import clock
from directory.accounts import User, user_of
from directory.errors import AuthenticationFailed, FieldError, ValidationFailed
from directory.regions import PROVINCES, normalize_code
from directory.store import Store

SCOPES = {"read": "只读", "write": "读写"}
PREFIX = "bohai_"
MAX_TOKEN = 400  # longer headers are refused before hashing
MAX_LABEL = 40
MAX_EXPIRY_DAYS = 3650
TOUCH_EVERY = dt.timedelta(minutes=1)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _bad(field: str, message: str, value: object = None) -> ValidationFailed:
    shown = None if value is None else str(value)
    return ValidationFailed([FieldError(field, message, value=shown)], "令牌参数不正确")


def _label(label: str) -> str:
    label = " ".join(label.split())
    if not label or len(label) > MAX_LABEL:
        raise _bad("label", f"请给令牌起一个 1-{MAX_LABEL} 个字的名称（如“人事系统同步”）", label[:MAX_LABEL])
    return label


def _token_province(owner: User, province: str | None) -> str | None:
    """The 12-digit province a token is limited to; an editor's token cannot reach past the editor's province."""
    if not province:
        return None
    code = normalize_code(province)
    if code is None or code[2:] != "0" * 10 or code[:2] not in PROVINCES:
        known = "、".join(f"{k}={v}" for k, v in PROVINCES.items())
        raise _bad("province", f"省份应为以下代码之一：{known}", province)
    if not owner.is_sysadmin and owner.province_code and owner.province_code[:2] != code[:2]:
        raise _bad("province", f"编辑只能为本省（{owner.province_name}）创建令牌", province)
    return code


def issue(
    store: Store,
    username: str,
    label: str,
    actor: str,
    *,
    scope: str = "read",
    province: str | None = None,
    expires_days: int | None = None,
) -> tuple[int, str]:
    """Make a new token for ``username``; returns its id and the token, which is shown once and never stored."""
    account = store.get_account(username)
    if account is None:
        raise _bad("username", f"用户 {username} 不存在", username)
    if scope not in SCOPES:
        raise _bad("scope", "权限范围只能是 read（只读）或 write（读写）", scope)
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRY_DAYS:
        raise _bad("expires", f"有效天数应为 1 到 {MAX_EXPIRY_DAYS} 之间的整数", expires_days)
    values: dict[str, Any] = {
        "label": _label(label),
        "scope": scope,
        "province_code": _token_province(user_of(account), province),
        "expires_at": clock.now() + dt.timedelta(days=expires_days) if expires_days else None,
    }
    token = PREFIX + secrets.token_urlsafe(32)
    token_id = store.create_token(username, {**values, "secret_hash": token_hash(token)}, actor)
    return token_id, token


def effective_user(owner: User, scope: str, province: str | None, label: str) -> User:
    """What a token may do: its owner's rights, read-only for a read token, and only within its province."""
    via = replace(owner, token_label=label)
    if scope != "write" or not owner.can_write:
        # a token writes directory content at most: security and audit duties are for a logged-in person
        return replace(via, role="reader")
    if owner.is_sysadmin:
        if province is None:
            return replace(via, role="sysadmin")
        return replace(via, role="editor", province_code=province)
    if province is None:
        return via
    if owner.province_code and owner.province_code[:2] == province[:2]:
        return via
    return replace(via, role="reader")


def authenticate(store: Store, token: str, client: str) -> User:
    """The rights of a presented token; AuthenticationFailed for unknown, revoked, expired or disabled."""
    row = store.token_by_hash(token_hash(token)) if 0 < len(token) <= MAX_TOKEN else None
    if row is None:
        raise AuthenticationFailed("访问令牌无效")
    now = clock.now()
    if row["revoked_at"] is not None:
        raise AuthenticationFailed("访问令牌已吊销")
    if row["expires_at"] is not None and clock.aware(row["expires_at"]) <= now:
        raise AuthenticationFailed("访问令牌已过期")
    if row["disabled"]:
        raise AuthenticationFailed("账户已停用")
    last = row["last_used_at"]
    if last is None or now - clock.aware(last) >= TOUCH_EVERY or row["last_used_from"] != client[:64]:
        store.touch_token(row["id"], now, client)
    owner = User(row["username"], row["role"], row["owner_province"])
    return effective_user(owner, row["scope"], row["province_code"], row["label"])


def state(row: dict[str, Any], now: dt.datetime | None = None) -> str:
    """A listed token's state in words: 有效, 已吊销 or 已过期."""
    if row["revoked_at"] is not None:
        return "已吊销"
    if row["expires_at"] is not None and clock.aware(row["expires_at"]) <= (now or clock.now()):
        return "已过期"
    return "有效"
