"""How a change of an office reads on its page and in an import's preview: labels, 是/否, phones in the national
form, and mobiles masked for a viewer who may not see them whole.

Owns only the presentation of audit rows and stored values; the rows come from ``Store.history``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from directory.validate import FIELD_LABELS, display_phone


def history_row(row: Mapping[str, Any], staff: bool, mask: Callable[[str], str] = str) -> dict[str, Any]:
    """One audit row for the office page; old numbers masked like the current one (``mask``)."""
    before, after = row["before"] or {}, row["after"] or {}
    keys = [k for k in after if k != "version" and before.get(k) != after.get(k)]
    label = FIELD_LABELS.get
    changes = [
        (label(k, _EXTRA_LABELS.get(k, k)), shown_value(k, before.get(k), mask), shown_value(k, after.get(k), mask))
        for k in keys
    ]
    return {
        "at": row["at"],
        "actor": row["actor"] if staff else "",
        "action": _ACTIONS.get(row["action"], row["action"]),
        "changes": changes,
    }


_ACTIONS = {"create": "创建", "update": "修改", "verify": "确认有效", "email_status": "邮箱状态", "delete": "删除"}
_EXTRA_LABELS = {"verified_at": "确认日期", "email_status": "邮箱状态", "note": "说明"}


def shown_value(key: str, value: Any, mask: Callable[[str], str] = str) -> str:
    """A stored value as a person reads it in a history or a diff (phones in the national form, 是/否); ``mask``
    hides a mobile the viewer may not see whole."""
    if value is None:
        return ""
    if key in ("phone", "fax") and isinstance(value, str):
        return display_phone(mask(value) if key == "phone" else value)
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)
