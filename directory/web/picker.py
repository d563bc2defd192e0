"""The office picker's server side: which offices a posted form chose, and their names for the chips.

A picker posts the chosen offices as repeated fields ``name`` (set by ``static/picker.js``) and, without JavaScript,
as region codes typed in ``name_text``; both are read here the same way. Words in the text box that are not region
codes are an error naming them, so a name typed but never picked is not silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from multidict import MultiDictProxy

from directory.errors import FieldError
from directory.snapshot import Snapshot

CODE_RE = re.compile(r"^[0-9]{12}$")
MAX_PICKS = 20000


def chosen(form: MultiDictProxy[Any], name: str, label: str) -> tuple[list[str], list[FieldError]]:
    """The region codes chosen in picker ``name`` (in order, without repeats) and the errors of its text box."""
    # a script may post several codes in one field, separated by spaces: read them as separate picks
    codes: list[str] = [c for v in form.getall(name, []) if isinstance(v, str) for c in v.split()]
    errors: list[FieldError] = []
    text = form.get(f"{name}_text", "")
    words = str(text).replace("，", " ").replace(",", " ").replace("、", " ").split() if isinstance(text, str) else []
    stray = [w for w in words if not CODE_RE.match(w)]
    codes += [w for w in words if CODE_RE.match(w)]
    if stray:
        shown = "、".join(stray[:3]) + ("等" if len(stray) > 3 else "")
        message = f"“{shown}”还没有选定：请在下拉列表中点选单位，或填写 12 位区划代码"
        errors.append(FieldError(name, message, label=label))
    bad = [c for c in codes if not CODE_RE.match(c)]
    if bad:
        errors.append(FieldError(name, "单位代码应为 12 位数字", label=label))
    unique = list(dict.fromkeys(c for c in codes if CODE_RE.match(c)))
    if len(unique) > MAX_PICKS:
        errors.append(FieldError(name, f"最多选 {MAX_PICKS} 个单位", label=label))
        unique = unique[:MAX_PICKS]
    return unique, errors


def named(snap: Snapshot, codes: Iterable[str]) -> list[tuple[str, str]]:
    """(code, unit name) for the chips; a code without an office shows its region's name, else the code."""
    out = []
    for code in codes:
        office = snap.office(code)
        region = snap.region(code)
        out.append((code, office.unit_name if office else (region.name if region else code)))
    return out


def office_name(snap: Snapshot, code: str) -> str:
    """The name staff read for an office code (its unit name, else its region's name, else the code)."""
    return named(snap, [code])[0][1] if code else ""
