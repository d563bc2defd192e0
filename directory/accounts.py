"""Staff accounts: password hashing, login with lockout, API tokens, and the account commands' logic.

Owns: the rules about accounts — argon2id password hashes (argon2-cffi), which roles exist and what an editor's
province is, counting failed logins and locking an account for a while, and API tokens for scripts (a token is
``<username>.<secret>``; only its SHA-256 is stored, in ``Account.api_token_hash``). Storage goes through
``Store`` (``get_account``/``create_account``/``update_account``/``list_accounts``); the CLI and the web face call
these functions and never hash or compare secrets themselves.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from directory import clock
from directory.errors import AuthenticationFailed, FieldError, NotFound, ValidationFailed
from directory.models import ROLES
from directory.regions import PROVINCES, normalize_code
from directory.store import Store

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 256
ROLE_NAMES = {"admin": "管理员", "editor": "编辑", "reader": "只读"}
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@functools.cache
def dummy_hash() -> str:
    """A hash to verify against for unknown accounts (equal work), made on first use: hashing costs ~64 MB of
    argon2 memory for a moment, which a process that never checks a password need not pay."""
    return _hasher.hash("timing-equaliser-not-a-password")



@dataclass(frozen=True)
class User:
    """A logged-in staff member as the faces see it."""

    username: str
    role: str
    province_code: str | None = None  # 12-digit province region code, editors only

    def can_edit(self, region_code: str) -> bool:
        """Admins edit everything, editors the subtree of their own province, readers nothing."""
        if self.role == "admin":
            return True
        if self.role == "editor" and self.province_code:
            return region_code[:2] == self.province_code[:2]
        return False

    @property
    def role_name(self) -> str:
        return ROLE_NAMES.get(self.role, self.role)

    @property
    def province_name(self) -> str:
        return PROVINCES.get((self.province_code or "")[:2], "")


def user_of(account: dict[str, Any]) -> User:
    return User(account["username"], account["role"], account.get("province_code"))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed([FieldError("password", f"密码至少{MIN_PASSWORD}个字符")], "密码不符合要求")
    if len(password) > MAX_PASSWORD:
        raise ValidationFailed([FieldError("password", f"密码最多{MAX_PASSWORD}个字符")], "密码不符合要求")


def _province(role: str, province: str | None) -> str | None:
    if role != "editor":
        if province:
            raise ValidationFailed([FieldError("province", "只有编辑（editor）绑定省份")], "账户参数不正确")
        return None
    code = normalize_code(province or "")
    if not province or code is None or code[2:] != "0" * 10 or code[:2] not in PROVINCES:
        known = "、".join(f"{k}={v}" for k, v in PROVINCES.items())
        error = FieldError("province", f"编辑必须绑定一个省份（{known}）", value=province)
        raise ValidationFailed([error], "账户参数不正确")
    return code


def add_user(store: Store, username: str, password: str, role: str, province: str | None, actor: str) -> User:
    """Create an account; ``province`` (e.g. ``13`` or ``130000000000``) is required for editors only."""
    if not USERNAME_RE.match(username):
        error = FieldError("username", "用户名应为2-64位字母、数字或 _ . @ -", value=username)
        raise ValidationFailed([error], "账户参数不正确")
    if role not in ROLES:
        raise ValidationFailed([FieldError("role", f"角色只能是 {'、'.join(ROLES)}", value=role)], "账户参数不正确")
    code = _province(role, province)
    check_password_rules(password)
    store.create_account(username, hash_password(password), role, code, actor)
    return User(username, role, code)


def set_password(store: Store, username: str, password: str, actor: str) -> None:
    check_password_rules(password)
    store.update_account(username, actor, password_hash=hash_password(password), failed_logins=0, locked_until=None)


def set_disabled(store: Store, username: str, disabled: bool, actor: str) -> None:
    """Disable (which also revokes the API token) or re-enable an account."""
    changes: dict[str, Any] = {"disabled": disabled}
    if disabled:
        changes["api_token_hash"] = None
    store.update_account(username, actor, **changes)


def new_token(store: Store, username: str, actor: str) -> str:
    """Make a new API token for ``username`` (replacing any old one) and return it; only its hash is kept."""
    if store.get_account(username) is None:
        raise NotFound(f"用户 {username} 不存在")
    token = f"{username}.{secrets.token_urlsafe(32)}"
    store.update_account(username, actor, api_token_hash=_token_hash(token))
    return token


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def user_for_token(store: Store, token: str) -> User:
    """The account a Bearer token belongs to; AuthenticationFailed for unknown, revoked or disabled."""
    username, dot, secret = token.rpartition(".")
    account = store.get_account(username) if dot and secret and len(token) <= 400 else None
    stored = account.get("api_token_hash") if account else None
    if account is None or not stored or not hmac.compare_digest(stored, _token_hash(token)):
        raise AuthenticationFailed("访问令牌无效")
    if account["disabled"]:
        raise AuthenticationFailed("账户已停用")
    return user_of(account)


def authenticate(
    store: Store, username: str, password: str, *, attempts: int, lock_seconds: int, now: dt.datetime | None = None
) -> User:
    """Check a login; count failures and lock the account for ``lock_seconds`` after ``attempts`` in a row.

    The message never tells whether the user exists; a locked account is refused even with the right password.
    """
    now = now or clock.now()
    account = store.get_account(username) if len(username) <= 64 else None
    if account is None:
        _verify(dummy_hash(), password)
        raise AuthenticationFailed("用户名或密码不正确")
    locked = account["locked_until"]
    if locked is not None and clock.aware(locked) > now:
        raise AuthenticationFailed(f"登录失败次数过多，账户已锁定至 {clock.local(locked):%Y-%m-%d %H:%M}，请稍后再试")
    if account["disabled"] or not _verify(account["password_hash"], password):
        _failed(store, account, attempts, lock_seconds, now)
        raise AuthenticationFailed("用户名或密码不正确")
    if account["failed_logins"] or account["locked_until"]:
        store.update_account(username, username, audit=False, failed_logins=0, locked_until=None)
    if _hasher.check_needs_rehash(account["password_hash"]):
        store.update_account(username, username, audit=False, password_hash=hash_password(password))
    return user_of(account)


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password[:MAX_PASSWORD])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _failed(store: Store, account: dict[str, Any], attempts: int, lock_seconds: int, now: dt.datetime) -> None:
    failures = int(account["failed_logins"]) + 1
    changes: dict[str, Any] = {"failed_logins": failures}
    if attempts and failures >= attempts:
        changes.update(failed_logins=0, locked_until=now + dt.timedelta(seconds=lock_seconds))
        store.update_account(account["username"], "system", **changes)  # the lock itself is audited
        return
    store.update_account(account["username"], "system", audit=False, **changes)
