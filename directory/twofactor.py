"""The second factor of a web login: TOTP (RFC 6238, ``pyotp``) and ten single-use recovery codes.

Owns: making a secret and its ``otpauth://`` URI (shown as a QR code by the enrolment page), the check of a code
(six digits, one 30-second step of clock drift either way, each step good once — recorded in the database, so a
code seen on one instance is refused on every other), making recovery codes (shown once; only their SHA-256 is
kept) and spending one, and the reset by a security administrator (which also ends the account's sessions).
Storage is ``Store`` (``set_totp``, ``accept_totp_step``, ``use_recovery_code``).
"""

from __future__ import annotations

import hashlib
import re
import secrets

from directory import clock
from directory.errors import FieldError, NotFound, ValidationFailed
from directory.store import Store

ISSUER = "环渤海通讯联络服务"
RECOVERY_CODES = 10
STEP = 30
CODE_RE = re.compile(r"^\d{6}$")
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


def new_secret() -> str:
    import pyotp  # imported on first use (~50 ms of every start-up otherwise)

    return pyotp.random_base32()


def uri(secret: str, username: str) -> str:
    import pyotp

    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def _normalize_recovery(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def recovery_hash(code: str) -> str:
    return hashlib.sha256(_normalize_recovery(code).encode("utf-8")).hexdigest()


def make_recovery_codes() -> list[str]:
    """Ten codes like ``k7m2q-x9dpa`` (50 random bits each)."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def matching_step(secret: str, code: str, at: float | None = None) -> int | None:
    """The 30-second step (now, one before or one after) whose code is ``code``, or None."""
    code = code.strip().replace(" ", "")
    if not CODE_RE.match(code):
        return None
    now = clock.now().timestamp() if at is None else at
    import pyotp

    totp = pyotp.TOTP(secret)
    for offset in (0, -1, 1):
        moment = now + offset * STEP
        if secrets.compare_digest(totp.at(moment), code):
            return int(moment // STEP)
    return None


def begin(store: Store, username: str, actor: str) -> str:
    """A new secret for ``username``, stored but not in force until confirmed with a code; the secret."""
    secret = new_secret()
    store.set_totp(username, secret, False, [], actor)
    return secret


def confirm(store: Store, username: str, code: str, actor: str) -> list[str]:
    """Put the begun secret in force if ``code`` matches it; the ten recovery codes (shown once)."""
    account = store.get_account(username)
    if account is None:
        raise NotFound(f"用户 {username} 不存在")
    secret = account["totp_secret"]
    step = matching_step(secret, code) if secret else None
    if secret is None or step is None:
        raise ValidationFailed(
            [FieldError("code", "验证码不正确，请输入验证器应用当前显示的6位数字")], "未启用双因素认证"
        )
    codes = make_recovery_codes()
    store.set_totp(username, secret, True, [recovery_hash(c) for c in codes], actor)
    store.accept_totp_step(username, step)
    return codes


def verify(store: Store, username: str, code: str) -> str | None:
    """Check a second factor of ``username``: ``totp`` or ``recovery`` when good (and now spent), else None."""
    account = store.get_account(username)
    if account is None or account["totp_enabled_at"] is None or not account["totp_secret"]:
        return None
    step = matching_step(account["totp_secret"], code)
    if step is not None:
        return "totp" if store.accept_totp_step(username, step) else None
    normalized = _normalize_recovery(code)
    if len(normalized) == 10 and store.use_recovery_code(username, recovery_hash(normalized)):
        return "recovery"
    return None


def reset(store: Store, username: str, actor: str) -> int:
    """Remove the second factor of ``username`` (enrolled again at the next login); ends its sessions (count)."""
    return store.set_totp(username, None, False, [], actor)
