"""One's own office and mail address on an account: the office letters and meetings are sent from by default, and
where reports about the province's offices are mailed.

Owns the rules of those two fields (the office must exist and, for an editor, lie in the province; the address
must look like one); storage is ``Store.update_account``, audited like every account change.
"""

from __future__ import annotations

import re
from typing import Any

from directory.errors import FieldError, ValidationFailed
from directory.regions import normalize_code
from directory.store import Store

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def set_profile(
    store: Store, username: str, actor: str, *, office_code: str | None = None, email: str | None = None
) -> dict[str, Any]:
    """Set one's own office (the default sender of letters and meetings) and mail address; ``""`` clears one.

    An editor's office must lie in the editor's province; the office must exist."""
    account = store.get_account(username)
    if account is None:
        raise ValidationFailed([FieldError("username", "用户不存在", value=username)], "账户参数不正确")
    changes: dict[str, Any] = {}
    errors: list[FieldError] = []
    if office_code is not None:
        code = normalize_code(office_code) if office_code else ""
        if office_code and (code is None or store.get_office(code) is None):
            errors.append(FieldError("office_code", "没有这个单位（请填写单位的 12 位区划代码）", value=office_code))
        elif code and account["role"] == "editor" and (account["province_code"] or "")[:2] != code[:2]:
            errors.append(FieldError("office_code", "编辑的本单位必须在本省", value=office_code))
        else:
            changes["office_code"] = code or None
    if email is not None:
        email = email.strip()
        if email and (len(email) > 254 or not EMAIL_RE.match(email)):
            errors.append(FieldError("email", "电子邮箱格式不正确", value=email))
        else:
            changes["email"] = email or None
    if errors:
        raise ValidationFailed(errors, "账户资料未保存")
    if changes:
        store.update_account(username, actor, **changes)
    return {**account, **changes}


def home_office(account: dict[str, Any] | None) -> str | None:
    """The office one writes from by default: one's own, else one's province's office."""
    if account is None:
        return None
    if account.get("office_code"):
        return str(account["office_code"])
    province = account.get("province_code")
    return str(province) if province else None
