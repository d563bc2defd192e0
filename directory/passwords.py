"""The password policy: what a new password must be, and when a password expires.

Owns the rules of ``[security]``: long enough (``password_min_length`` characters of any kind, or
``password_min_length_mixed`` with three of the four classes lower case, upper case, digits, others), at most
``MAX_PASSWORD`` characters, and the age of a password against ``password_max_age_days`` (with the warning
``password_warn_days`` ahead). Pure: no store, no hashing; reuse of earlier passwords is checked by
``directory.accounts`` (which owns the hashes).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from directory import clock
from directory.errors import FieldError, ValidationFailed
from directory.settings import SecuritySettings

MAX_PASSWORD = 256
DEFAULT_POLICY = SecuritySettings()


def classes(password: str) -> int:
    kinds = (str.islower, str.isupper, str.isdigit)
    found = {i for ch in password for i, test in enumerate(kinds) if test(ch)}
    if any(not (ch.islower() or ch.isupper() or ch.isdigit()) for ch in password):
        found.add(3)
    return len(found)


def check_password_rules(password: str, policy: SecuritySettings = DEFAULT_POLICY) -> None:
    """Long enough (``password_min_length`` of anything, or ``password_min_length_mixed`` with three of the four
    classes lower case, upper case, digits, others) and not over the cap."""
    if len(password) > MAX_PASSWORD:
        raise ValidationFailed([FieldError("password", f"密码最多{MAX_PASSWORD}个字符")], "密码不符合要求")
    long_enough = len(password) >= policy.password_min_length
    mixed = len(password) >= policy.password_min_length_mixed and classes(password) >= 3
    if not (long_enough or mixed):
        message = (
            f"密码至少{policy.password_min_length}个字符，或至少{policy.password_min_length_mixed}个字符且包含"
            "小写字母、大写字母、数字、其他符号中的三类"
        )
        raise ValidationFailed([FieldError("password", message)], "密码不符合要求")


@dataclass(frozen=True)
class PasswordAge:
    """Where a password stands against ``password_max_age_days``: ``expired``, or ``days_left`` to show."""

    expired: bool
    warn: bool
    days_left: int | None  # None: passwords do not expire
    expires_at: dt.datetime | None


def password_age(
    changed_at: dt.datetime | None, policy: SecuritySettings = DEFAULT_POLICY, now: dt.datetime | None = None
) -> PasswordAge:
    if policy.password_max_age_days <= 0 or changed_at is None:
        return PasswordAge(False, False, None, None)
    now = now or clock.now()
    expires_at = clock.aware(changed_at) + dt.timedelta(days=policy.password_max_age_days)
    left = expires_at - now
    days = max(0, -(-int(left.total_seconds()) // 86400))  # whole days, rounded up
    warn = dt.timedelta(0) < left <= dt.timedelta(days=policy.password_warn_days)
    return PasswordAge(left <= dt.timedelta(0), warn, days, expires_at)
