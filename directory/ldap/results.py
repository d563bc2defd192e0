"""The one mapping of the domain error tree (``directory.errors``) to LDAP result codes and texts.

Owns: ``RESULTS`` and ``result_of(exc)``. The LDAP server answers every deliberate error through it (a bind whose
password is wrong, throttled, not checked because the server is busy or the database is down); anything not in
the table — a bug — is 80 other. The texts are for people reading a mail client's error box: zh-CN first, the
English gist in brackets for administrators reading logs.
"""

from __future__ import annotations

from directory.errors import (
    AuthenticationFailed,
    BohaiError,
    Busy,
    Forbidden,
    NotFound,
    StorageError,
    Throttled,
    ValidationFailed,
)
from directory.ldap import messages as m

RESULTS: dict[type[BohaiError], tuple[int, str]] = {
    AuthenticationFailed: (m.INVALID_CREDENTIALS, "用户名或密码错误 (invalid credentials)"),
    Throttled: (m.BUSY, "尝试过于频繁，请 {retry_after} 秒后再试 (too many failed binds)"),
    Busy: (m.BUSY, "服务器繁忙，请稍后再试 (server busy)"),
    StorageError: (m.UNAVAILABLE, "目录数据库暂时不可用，请稍后再试 (storage unavailable)"),
    Forbidden: (m.INSUFFICIENT_ACCESS, "没有权限 (insufficient access)"),
    NotFound: (m.NO_SUCH_OBJECT, "对象不存在 (no such object)"),
    ValidationFailed: (m.UNWILLING_TO_PERFORM, "请求不正确 (unwilling to perform)"),
}
INTERNAL = (m.OTHER, "服务器内部错误 (internal error)")


def result_of(exc: BaseException) -> tuple[int, str]:
    """The result code and diagnostic text that answer ``exc`` (the nearest class in the table wins)."""
    for cls in type(exc).__mro__:
        found = RESULTS.get(cls)
        if found is not None:
            code, text = found
            return code, text.format(retry_after=getattr(exc, "retry_after", ""))
    return INTERNAL
