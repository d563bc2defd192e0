"""Staff accounts: password hashing, the one login check of every password face, account commands.

Owns: the rules about accounts — argon2id password hashes (argon2-cffi), the password policy (length and character
classes, no reuse of recent passwords, expiry), which roles exist and what each may do (the one place of role checks:
``User.can_edit``, ``can_write``, ``can_read_audit``, ``can_manage_accounts``, ``can_manage_security``,
``changes_anything``, which needs a second factor; separate duties: an auditor holds no administering role), what
an editor's province is, ``Logins`` (the login check the web login and the LDAP bind share: the ``LoginGuard``
policy, the password length cap, equal work for unknown accounts, argon2 on a bounded pool of its own threads, never the
store's). API tokens are :mod:`directory.tokens`. Storage goes through ``Store`` (``get_account``/``create_account``/
``update_account``/``list_accounts``); the CLI and the faces call these functions and never hash or compare secrets
themselves.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from directory.errors import AuthenticationFailed, Busy, FieldError, StorageError, Throttled, ValidationFailed
from directory.loginguard import LoginGuard
from directory.models import ROLES
from directory.passwords import DEFAULT_POLICY, MAX_PASSWORD, check_password_rules
from directory.regions import PROVINCES, normalize_code
from directory.settings import LoginSettings, SecuritySettings
from directory.store import Store

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
ROLE_NAMES = {
    "sysadmin": "系统管理员",
    "secadmin": "安全管理员",
    "auditor": "审计员",
    "editor": "编辑",
    "reader": "只读",
    "admin": "管理员",  # the old all-powerful role, read as sysadmin + secadmin
}
ADMIN_ROLES = frozenset({"sysadmin", "secadmin"})
LEGACY_ADMIN = "secadmin,sysadmin"
BAD_LOGIN = "用户名或密码不正确"  # the one answer to a wrong name, a wrong password and a disabled account
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
    token_label: str | None = None  # set when the request was authenticated by an API token (its label)

    @property
    def roles(self) -> frozenset[str]:
        """The roles held; the old ``admin`` reads as both administering roles."""
        held = set(self.role.split(","))
        if "admin" in held:
            held = (held - {"admin"}) | ADMIN_ROLES
        return frozenset(held)

    @property
    def is_sysadmin(self) -> bool:
        return "sysadmin" in self.roles

    @property
    def is_secadmin(self) -> bool:
        return "secadmin" in self.roles

    @property
    def is_admin(self) -> bool:
        """Holds an administering role (system or security administrator)."""
        return bool(self.roles & ADMIN_ROLES)

    @property
    def can_read_audit(self) -> bool:
        """Reads and exports the audit: the auditor alone (administrators do not audit themselves)."""
        return "auditor" in self.roles

    @property
    def can_manage_accounts(self) -> bool:
        """Creates, changes and disables accounts and changes settings: the system administrator."""
        return self.is_sysadmin

    @property
    def can_manage_security(self) -> bool:
        """Resets second factors and ends other people's sessions: the security administrator."""
        return self.is_secadmin

    @property
    def can_write(self) -> bool:
        """May change directory content somewhere: an editor (own province) or the system administrator (all)."""
        return self.is_sysadmin or ("editor" in self.roles and bool(self.province_code))

    @property
    def changes_anything(self) -> bool:
        """Holds a role that can change something (content, accounts or security): needs a second factor."""
        return bool(self.roles - {"reader", "auditor"})

    def can_edit(self, region_code: str) -> bool:
        """The system administrator edits everything, an editor the subtree of the own province, others nothing."""
        if self.is_sysadmin:
            return True
        if "editor" in self.roles and self.province_code:
            return region_code[:2] == self.province_code[:2]
        return False

    def has_duty(self, duty: str) -> bool:
        """``duty`` is a role name (``reader`` is anyone logged in; ``editor`` anyone who may write content)."""
        checks = {
            "reader": True,
            "editor": self.can_write,
            "sysadmin": self.is_sysadmin,
            "admin": self.is_sysadmin,
            "secadmin": self.is_secadmin,
            "auditor": self.can_read_audit,
        }
        return checks.get(duty, False)

    @property
    def actor(self) -> str:
        """Who did it, for audit rows: the user name, and the token's label when a token was used."""
        return f"{self.username}（令牌：{self.token_label}）" if self.token_label else self.username

    @property
    def role_name(self) -> str:
        return role_name(self.role)

    @property
    def province_name(self) -> str:
        return PROVINCES.get((self.province_code or "")[:2], "")


def user_of(account: dict[str, Any]) -> User:
    return User(account["username"], account["role"], account.get("province_code"))


def role_name(role: str) -> str:
    """The Chinese name of a stored role (``secadmin,sysadmin`` → ``系统管理员、安全管理员``)."""
    parts = sorted(role.split(","), key=lambda r: list(ROLE_NAMES).index(r) if r in ROLE_NAMES else 99)
    return "、".join(ROLE_NAMES.get(r, r) for r in parts)


def parse_role(text: str) -> str:
    """The stored form of a role given as ``editor``, ``sysadmin,secadmin`` or ``sysadmin+secadmin``; the old
    ``admin`` is both administering roles. Only the two administering roles combine; the auditor never holds an
    administering role (separate duties)."""
    names = {part.strip() for part in re.split(r"[,+]", text) if part.strip()}
    if "admin" in names:
        names = (names - {"admin"}) | ADMIN_ROLES
    unknown = sorted(names - set(ROLES))
    if not names or unknown:
        error = FieldError("role", f"角色只能是 {'、'.join(ROLES)}", value=text[:40])
        raise ValidationFailed([error], "账户参数不正确")
    if len(names) > 1 and not names <= ADMIN_ROLES:
        if "auditor" in names and names & ADMIN_ROLES:
            message = "审计员（auditor）不能同时担任系统管理员或安全管理员（三员分立）"
        else:
            message = "只有系统管理员（sysadmin）与安全管理员（secadmin）两个角色可以同时授予一个账户"
        raise ValidationFailed([FieldError("role", message, value=text[:40])], "账户参数不正确")
    return ",".join(sorted(names))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_not_reused(store: Store, username: str, password: str, policy: SecuritySettings = DEFAULT_POLICY) -> None:
    """Refuse the current password and the ones before it (``password_history`` in all)."""
    for stored in store.earlier_password_hashes(username, policy.password_history):
        if _verify(stored, password):
            message = f"新密码不能与最近{policy.password_history}次使用过的密码相同"
            raise ValidationFailed([FieldError("password", message)], "密码不符合要求")


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


def add_user(
    store: Store,
    username: str,
    password: str,
    role: str,
    province: str | None,
    actor: str,
    policy: SecuritySettings = DEFAULT_POLICY,
) -> User:
    """Create an account; ``province`` (e.g. ``13`` or ``130000000000``) is required for editors only."""
    if not USERNAME_RE.match(username):
        error = FieldError("username", "用户名应为2-64位字母、数字或 _ . @ -", value=username)
        raise ValidationFailed([error], "账户参数不正确")
    role = parse_role(role)
    code = _province(role, province)
    check_password_rules(password, policy)
    store.create_account(username, hash_password(password), role, code, actor)
    return User(username, role, code)


def set_role(store: Store, username: str, role: str, province: str | None, actor: str) -> User:
    """Give an account another role (and province); its sessions end, so the new rights apply at the next login."""
    role = parse_role(role)
    code = _province(role, province)
    store.update_account(username, actor, role=role, province_code=code)
    store.end_sessions(username, "role", actor)
    return User(username, role, code)


def set_password(
    store: Store, username: str, password: str, actor: str, policy: SecuritySettings = DEFAULT_POLICY
) -> int:
    """A new password under the policy (rules, no reuse); every session of the account ends (the count)."""
    check_password_rules(password, policy)
    check_not_reused(store, username, password, policy)
    return store.change_password(
        username, hash_password(password), actor, keep=max(policy.password_history - 1, 0), end_reason="password"
    )


def set_disabled(store: Store, username: str, disabled: bool, actor: str) -> None:
    """Disable (which also revokes every API token and ends every web session of the account) or re-enable it.

    App passwords are refused for a disabled account at each login (``directory.apppasswords``)."""
    store.update_account(username, actor, disabled=disabled)
    if disabled:
        store.revoke_tokens_of(username, actor)
        store.end_sessions(username, "disabled", actor)


def _verify(stored: str | None, password: str) -> bool:
    """argon2 verification; ``None`` (no usable account) verifies against the dummy hash: the same work."""
    try:
        return _hasher.verify(stored or dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class HashPool:
    """argon2 work on threads of its own: ``workers`` at once, ``queue`` more waiting, beyond that ``Busy``.

    The store's threads (one on SQLite) stay free for pages while logins are hashed, and a flood of logins costs
    a bounded amount of memory (argon2id takes ~64 MB per running check) and is answered "busy" at once."""

    def __init__(self, workers: int, queue: int) -> None:
        self.limit = workers + queue
        self.taken = 0
        self.checks = 0  # hash computations started, for tests and metrics
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        with self._lock:
            if self.taken >= self.limit:
                raise Busy("登录请求过多，服务器繁忙，请稍后再试")
            self.taken += 1
            self.checks += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))
        finally:
            with self._lock:
                self.taken -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class Logins:
    """The login check of every password face: ``await logins.login(username, password, client, face)``.

    Order: the guard (``Throttled`` before any work), the length cap, the account read (store thread), argon2 on
    the hash pool (``Busy`` when it is full) — against the dummy hash for unknown and disabled accounts, so every
    refusal costs the same and reads the same (``BAD_LOGIN``). Every refusal is logged with face, name and
    address. One ``Logins`` per store (``logins_for``), so all faces of a process share the counters."""

    def __init__(self, store: Store, settings: LoginSettings) -> None:
        self.store = store
        self.settings = settings
        self.guard = LoginGuard(settings)
        self.hashes = HashPool(settings.hash_workers, settings.hash_queue)

    async def login(self, username: str, password: str, client: str, face: str) -> User:
        try:
            attempt = self.guard.begin(username, client)
        except Throttled as exc:
            _log_refusal(face, username, client, f"throttled for {exc.retry_after}s")
            raise
        try:
            user = await self._check(username, password)
        except AuthenticationFailed:
            self.guard.failed(attempt)
            _log_refusal(face, username, client, "wrong name or password")
            raise
        except (Busy, StorageError) as exc:
            self.guard.undo(attempt)
            _log_refusal(face, username, client, f"not checked: {type(exc).__name__}")
            raise
        except BaseException:  # cancelled or a bug: the attempt stays counted
            self.guard.failed(attempt)
            raise
        self.guard.succeeded(attempt)
        return user

    async def _check(self, username: str, password: str) -> User:
        if len(password) > MAX_PASSWORD:  # no stored password is longer; nothing to hash
            raise AuthenticationFailed(BAD_LOGIN)
        known = USERNAME_RE.match(username) is not None
        account = await self.store.run(self.store.get_account, username) if known else None
        usable = account is not None and not account["disabled"]
        stored = account["password_hash"] if account is not None and usable else None
        if not await self.hashes.run(_verify, stored, password) or account is None:
            raise AuthenticationFailed(BAD_LOGIN)
        await self._upkeep(account, password)
        return user_of(account)

    async def _upkeep(self, account: dict[str, Any], password: str) -> None:
        """After a good login: move an old-parameter hash to today's, and clear a lock left by older versions.

        Best effort: the password was right, so a busy pool or a failed write only postpones this to the next
        login instead of refusing the user."""
        username = account["username"]
        changes: dict[str, Any] = {}
        try:
            if account["failed_logins"] or account["locked_until"]:
                changes.update(failed_logins=0, locked_until=None)
            if _hasher.check_needs_rehash(account["password_hash"]):
                changes["password_hash"] = await self.hashes.run(hash_password, password)
            if changes:
                await self.store.run(self.store.update_account, username, username, audit=False, **changes)
        except (Busy, StorageError) as exc:
            log.warning("account %r: upkeep after login postponed: %s", username, exc)

    def close(self) -> None:
        self.hashes.close()


_LOGINS: weakref.WeakKeyDictionary[Store, Logins] = weakref.WeakKeyDictionary()
_LOGINS_LOCK = threading.Lock()


def logins_for(store: Store, settings: LoginSettings) -> Logins:
    """The ``Logins`` of ``store``, made on first use with ``settings``: the web login and the LDAP bind of one
    process count failures together and share one hash pool."""
    with _LOGINS_LOCK:
        logins = _LOGINS.get(store)
        if logins is None:
            logins = _LOGINS[store] = Logins(store, settings)
            weakref.finalize(logins, logins.hashes.close)
        return logins


def _log_refusal(face: str, username: str, client: str, reason: str) -> None:
    log.warning("%s login failed for %r from %s: %s", face, username[:64], client, reason)
