"""What a logged-in session must do before anything else: set up its second factor, or change an expired password.

Owns the decision (``[security] require_2fa`` and a role that can change anything, without a second factor yet; a
password older than ``password_max_age_days``), the only paths such a session may use meanwhile, and the message an
API client or a form post gets instead (pages are redirected to the step by ``directory.web.auth``).
"""

from __future__ import annotations

from enum import Enum

from directory import passwords, websessions
from directory.accounts import User
from directory.settings import SecuritySettings

PATHS: tuple[str, ...] = ("/login", "/logout", "/healthz", "/static/", "/account/2fa", "/account/password")


class Must(Enum):
    """What a logged-in session must do before anything else; the value is the page that does it."""

    ENROL = "/account/2fa"
    PASSWORD = "/account/password"


TEXT = {
    Must.ENROL: "请先在“双因素认证”页设置动态验证码（/account/2fa），然后才能继续操作",
    Must.PASSWORD: "密码已过期，请先修改密码（/account/password），然后才能继续操作",
}


def must(live: websessions.Live, user: User, policy: SecuritySettings) -> Must | None:
    if passwords.password_age(live.account.get("password_changed_at"), policy).expired:
        return Must.PASSWORD
    if policy.require_2fa and user.changes_anything and live.account.get("totp_enabled_at") is None:
        return Must.ENROL
    return None
