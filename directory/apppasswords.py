"""App passwords: per-device secrets with which CardDAV clients read the address books, and nothing else.

Owns: making a secret (160 random bits, shown once as eight groups of four letters and digits), its SHA-256 (a
fast hash is right for a secret that long; argon2 per request would make every sync cost seconds of CPU), the
label rules, the cap per account and the one check of a CardDAV login (``AppPasswordLogins``). The web login and
the API never look at these rows, and the CardDAV face looks at nothing else: a staff password cannot be used
there (it would bypass the web face's login policy), and an app password cannot be used anywhere else.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from directory import clock
from directory.accounts import USERNAME_RE, User, user_of
from directory.errors import AuthenticationFailed, FieldError, NotFound, ValidationFailed
from directory.store import Store
from directory.textrules import text_error

log = logging.getLogger(__name__)
MAX_PER_ACCOUNT = 20
MAX_LABEL = 32
MAX_SECRET_INPUT = 128  # what a client may send as a password before it is refused unread
TOUCH_EVERY = dt.timedelta(hours=1)  # last use is written at most this often, not on every request
BAD_LOGIN = "用户名或应用密码不正确"


@dataclass(frozen=True)
class NewAppPassword:
    id: int
    label: str
    secret: str  # shown once, never stored


def make_secret() -> str:
    """160 random bits as ``abcd-efgh-…`` (base32, lower case: easy to type on a phone)."""
    raw = base64.b32encode(secrets.token_bytes(20)).decode("ascii").lower()
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def normalize(secret: str) -> str:
    """What was typed, without the group dashes, spaces and case (a phone keyboard may capitalise)."""
    return "".join(ch for ch in secret if ch not in "- ").lower()


def secret_hash(secret: str) -> str:
    return hashlib.sha256(normalize(secret).encode("utf-8")).hexdigest()


def check_label(label: str) -> str:
    label = label.strip()
    error = text_error("label", "设备名称", label)
    if error is None and not label:
        error = FieldError("label", "设备名称不能为空（如：手机、办公室电脑）")
    if error is None and len(label) > MAX_LABEL:
        error = FieldError("label", f"设备名称最多{MAX_LABEL}个字符", value=label[:40])
    if error is not None:
        raise ValidationFailed([error], "应用密码参数不正确")
    return label


def add(store: Store, username: str, label: str, actor: str) -> NewAppPassword:
    """A new app password for ``username``; the secret is returned once and only its hash is kept."""
    label = check_label(label)
    if len(store.list_app_passwords(username)) >= MAX_PER_ACCOUNT:
        error = FieldError("label", f"每个账户最多{MAX_PER_ACCOUNT}个应用密码，请先吊销不用的")
        raise ValidationFailed([error], "应用密码已达上限")
    secret = make_secret()
    new_id = store.add_app_password(username, label, secret_hash(secret), actor)
    return NewAppPassword(new_id, label, secret)


def listed(store: Store, username: str) -> list[dict[str, Any]]:
    return store.list_app_passwords(username)


def revoke(store: Store, username: str, password_id: int, actor: str) -> str:
    return store.revoke_app_password(username, password_id, actor)


class AppPasswordLogins:
    """The one check of a CardDAV login: ``await logins.login(username, password, client)`` → the account's User.

    One indexed read per request on the store's threads (no argon2); a wrong name, a wrong secret, another
    account's secret and a disabled account all read the same and are logged without the secret."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def login(self, username: str, password: str, client: str) -> User:
        if not USERNAME_RE.match(username) or not password or len(password) > MAX_SECRET_INPUT:
            return self._refuse(username, client, "malformed")
        try:
            account, app_id, used = await self.store.run(self.store.app_password_login, username, secret_hash(password))
        except NotFound:
            return self._refuse(username, client, "wrong name or app password")
        if account["disabled"]:
            return self._refuse(username, client, "account disabled")
        now = clock.now()
        if used is None or clock.aware(used) + TOUCH_EVERY < now:
            await self.store.run(self.store.touch_app_password, app_id, now)
        return user_of(account)

    def _refuse(self, username: str, client: str, reason: str) -> User:
        log.warning("carddav login failed for %r from %s: %s", username[:64], client, reason)
        raise AuthenticationFailed(BAD_LOGIN)
