"""The one domain error tree.

Owns: every error the core raises on purpose. Each face maps this tree once (HTTP status and the JSON error shape,
LDAP resultCode, SMTP reply, CLI exit code); nothing else decides how an error looks to a user.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# How staff read a field's name: a message names the field by the label of its form, never by its internal name.
# Features add theirs with ``label_fields``; an unknown name is shown as "输入" rather than leaking an identifier.
LABELS: dict[str, str] = {
    "username": "用户名",
    "password": "密码",
    "role": "角色",
    "province": "省份",
    "office_code": "本单位",
    "email": "电子邮箱",
    "q": "查询词",
    "region": "区划",
    "file": "文件",
}


def label_fields(labels: dict[str, str]) -> None:
    """Register the labels of a form's fields (one table per process; later registrations win)."""
    LABELS.update(labels)


def label_of(field: str) -> str:
    return LABELS.get(field) or LABELS.get(field.replace("-", "_")) or "输入"


@dataclass(frozen=True)
class FieldError:
    """One bad value: where it is (row/column for files, field for forms) and why (zh-CN for users).

    ``field`` is the internal name (for JSON answers and for placing the message next to its control); ``label``
    is what a person reads, by default the registered label of ``field``."""

    field: str
    message: str
    row: int | None = None
    column: str | None = None
    value: str | None = None
    label: str | None = None

    @property
    def shown_label(self) -> str:
        return self.label or label_of(self.field)

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"第{self.row}行")
        if self.column:
            where.append(f"“{self.column}”列")
        prefix = "".join(where) or self.shown_label
        shown = f"（填写的是“{self.value}”）" if self.value not in (None, "") else ""
        return f"{prefix}：{self.message}{shown}"

    @property
    def text(self) -> str:
        """The message alone with the value, for showing next to its own field (the label is already there)."""
        shown = f"（填写的是“{self.value}”）" if self.value not in (None, "") else ""
        return f"{self.message}{shown}"


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
