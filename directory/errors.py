"""The one domain error tree.

Owns: every error the core raises on purpose. Each face maps this tree once (HTTP status and the JSON error shape,
LDAP resultCode, SMTP reply, CLI exit code); nothing else decides how an error looks to a user.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One bad value: where it is (row/column for files, field for forms) and why (zh-CN for users)."""

    field: str
    message: str
    row: int | None = None
    column: str | None = None
    value: str | None = None

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"第{self.row}行")
        if self.column:
            where.append(f"“{self.column}”列")
        prefix = "".join(where) or self.field
        shown = f"（值：{self.value!r}）" if self.value not in (None, "") else ""
        return f"{prefix}：{self.message}{shown}"


class BohaiError(Exception):
    """Base of every deliberate error. ``status`` is the HTTP status a web face answers with."""

    status = 500
    code = "error"


class SettingsError(BohaiError):
    """A bad configuration value; the message names the option and where it came from."""

    code = "settings"


class NotFound(BohaiError):
    status = 404
    code = "not_found"


class ValidationFailed(BohaiError):
    """One or more bad values; nothing was written."""

    status = 400
    code = "invalid"

    def __init__(self, errors: list[FieldError], message: str = "数据校验未通过") -> None:
        super().__init__(message)
        self.errors = errors


class Unprocessable(ValidationFailed):
    """Well-formed request whose values break the field rules (the API's writes: HTTP 422)."""

    status = 422


class PreconditionRequired(BohaiError):
    """A write that must name the version it changes (``If-Match``) did not."""

    status = 428
    code = "precondition_required"


class PreconditionFailed(BohaiError):
    """The version a write named is no longer the current one."""

    status = 412
    code = "precondition_failed"


class Conflict(BohaiError):
    """Someone else saved in between (optimistic locking)."""

    status = 409
    code = "conflict"

    def __init__(self, message: str, current: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.current = current or {}


class AuthenticationFailed(BohaiError):
    status = 401
    code = "unauthenticated"


class Forbidden(BohaiError):
    status = 403
    code = "forbidden"


class Precondition(Forbidden):
    """A WebDAV/CardDAV precondition failed: ``condition`` is the element the protocol names (e.g. ``{DAV:}
    valid-sync-token``); faces without such elements show the message alone."""

    code = "precondition"

    def __init__(self, condition: str, message: str) -> None:
        super().__init__(message)
        self.condition = condition


class TooLarge(BohaiError):
    status = 413
    code = "too_large"


class StorageError(BohaiError):
    """The database cannot be written or read (disk full, read-only, connection lost)."""

    status = 503
    code = "storage"


class Throttled(BohaiError):
    """Too many failed logins: this attempt was refused without checking the password; try again later."""

    status = 429
    code = "throttled"

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(f"尝试过于频繁，请 {self.retry_after} 秒后再试")


class Busy(BohaiError):
    """The server has more work of this kind than it takes at once; nothing was done, try again shortly."""

    status = 503
    code = "busy"


class SyncFailed(BohaiError):
    """Another directory could not be read or written (unreachable, refused the bind, refused an operation), or a
    publish was refused by its own gates; the message says what was done before it stopped."""

    status = 502
    code = "sync"
