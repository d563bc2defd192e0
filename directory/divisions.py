"""A new edition of the NBS division codes, and the plan of applying it (pure: no database).

Owns: reading an edition (a CSV in the bundled ``divisions.csv`` format: code, name, level, parent_code,
province_code) and a change map (CSV: old code, new code), every check of both with the row that is wrong, and
:func:`plan`: which regions are added, renamed or moved in the tree, retired, and where each office of a retired
region goes. Only the provinces the edition contains are compared, so a file of one province never retires the
others'. A plan with any problem raises :class:`ValidationFailed` naming each, so nothing is ever half applied.
"""

from __future__ import annotations

import collections
import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from directory.errors import FieldError, ValidationFailed
from directory.models import LEVELS
from directory.regions import Division

COLUMNS = ("code", "name", "level", "parent_code", "province_code")


@dataclass(frozen=True)
class Move:
    office_id: int
    unit_name: str
    old_code: str
    new_code: str


@dataclass(frozen=True)
class Plan:
    added: list[Division] = field(default_factory=list)
    changed: list[Division] = field(default_factory=list)  # the new values of renamed or re-parented regions
    retired: list[Division] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    renamed_offices: list[tuple[str, str]] = field(default_factory=list)  # (code, unit name) under a changed region
    aliases: dict[str, str] = field(default_factory=dict)  # old code → new code, for every mapped retired code


def _read_csv(path: Path) -> list[list[str]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValidationFailed([FieldError("file", f"无法读取 {path}：{exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed([FieldError("file", f"{path} 不是 UTF-8 文本")]) from None
    return list(csv.reader(io.StringIO(text)))


def read_edition(path: Path) -> list[Division]:
    """The divisions of an edition file, checked row by row."""
    rows = _read_csv(path)
    if not rows or tuple(c.strip() for c in rows[0]) != COLUMNS:
        raise ValidationFailed([FieldError("file", f"{path} 的第一行应为 {','.join(COLUMNS)}")])
    out: list[Division] = []
    errors: list[FieldError] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        division = _division(row, number, errors)
        if division is not None:
            out.append(division)
    errors += _tree_errors(out)
    if errors:
        raise ValidationFailed(errors)
    return out


def _division(row: list[str], number: int, errors: list[FieldError]) -> Division | None:
    if len(row) != len(COLUMNS):
        errors.append(FieldError("row", f"应有 {len(COLUMNS)} 列", row=number))
        return None
    code, name, level, parent, province = (c.strip() for c in row)
    problems = []
    if not (len(code) == 12 and code.isascii() and code.isdigit()):
        problems.append(("code", "区划代码应为 12 位数字", code))
    if not name:
        problems.append(("name", "名称不能为空", name))
    if level not in LEVELS:
        problems.append(("level", f"级别应为 {'、'.join(LEVELS)} 之一", level))
    if code[:2] + "0" * 10 != province:
        problems.append(("province_code", "应为代码前两位加 10 个 0", province))
    errors.extend(FieldError(col, why, row=number, column=col, value=value) for col, why, value in problems)
    return None if problems else Division(code, name, level, parent or None, province)


def _tree_errors(divisions: list[Division]) -> list[FieldError]:
    counts = collections.Counter(d.code for d in divisions)
    errors = [FieldError("code", "区划代码重复", value=c) for c, n in sorted(counts.items()) if n > 1]
    known = set(counts)
    for d in divisions:
        if (d.level == "province") != (d.parent_code is None):
            errors.append(FieldError("parent_code", "只有省级区划没有上级", value=d.code))
        elif d.parent_code is not None and d.parent_code not in known:
            errors.append(FieldError("parent_code", f"上级 {d.parent_code} 不在文件中", value=d.code))
    return errors


def read_changes(path: Path) -> dict[str, str]:
    """Old code → new code; a first row that is not two codes is taken for a header."""
    rows = [r for r in _read_csv(path) if any(c.strip() for c in r)]
    if rows and not rows[0][0].strip().isdigit():
        rows = rows[1:]
    out: dict[str, str] = {}
    errors: list[FieldError] = []
    for number, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if len(cells) != 2 or not all(len(c) == 12 and c.isascii() and c.isdigit() for c in cells):
            why = "每行应为“旧代码,新代码”，各 12 位数字"
            errors.append(FieldError("changes", why, row=number, value=",".join(row)))
        elif cells[0] in out:
            errors.append(FieldError("changes", "旧代码重复", row=number, value=cells[0]))
        else:
            out[cells[0]] = cells[1]
    if errors:
        raise ValidationFailed(errors)
    return out


def plan(
    current: Mapping[str, Division],
    offices: Mapping[str, tuple[int, str]],
    edition: Iterable[Division],
    changes: Mapping[str, str],
) -> Plan:
    """What applying ``edition`` to ``current`` does; ``offices``: region code → (office id, unit name)."""
    new = {d.code: d for d in edition}
    scope = {d.province_code for d in new.values()}
    old = {c: d for c, d in current.items() if d.province_code in scope}
    retired = [old[c] for c in sorted(set(old) - set(new), key=lambda c: (-LEVELS.index(old[c].level), c))]
    result = Plan(
        added=[new[c] for c in sorted(set(new) - set(old), key=lambda c: (LEVELS.index(new[c].level), c))],
        changed=[new[c] for c in sorted(set(new) & set(old)) if new[c] != old[c]],
        retired=retired,
    )
    errors = _map_errors(changes, {d.code for d in retired}, new)
    _moves(result, offices, changes, errors)
    result.renamed_offices.extend(_under_changed(result.changed, new, offices, {m.old_code for m in result.moves}))
    if errors:
        raise ValidationFailed(errors)
    return result


def _map_errors(changes: Mapping[str, str], retired: set[str], new: Mapping[str, Division]) -> list[FieldError]:
    errors = []
    for old_code, new_code in changes.items():
        if old_code not in retired:
            errors.append(FieldError("changes", "旧代码不是本次撤销的区划", value=old_code))
        if new_code not in new:
            errors.append(FieldError("changes", "新代码不在新版区划中", value=new_code))
    return errors


def _moves(
    result: Plan, offices: Mapping[str, tuple[int, str]], changes: Mapping[str, str], errors: list[FieldError]
) -> None:
    retired = {d.code for d in result.retired}
    taken = {code for code in offices if code not in retired}
    for division in result.retired:
        target = changes.get(division.code)
        if target is not None:
            result.aliases[division.code] = target
        if division.code not in offices:
            continue
        office_id, unit = offices[division.code]
        if target is None:
            why = f"区划已撤销，其单位“{unit}”需要在变更对照表（--changes）中给出新代码"
            errors.append(FieldError("changes", why, value=division.code))
        elif target in taken:
            errors.append(FieldError("changes", f"新代码 {target} 已有单位，不能再迁入“{unit}”", value=division.code))
        else:
            taken.add(target)
            result.moves.append(Move(office_id, unit, division.code, target))


def _under_changed(
    changed: list[Division], new: Mapping[str, Division], offices: Mapping[str, tuple[int, str]], moved: set[str]
) -> list[tuple[str, str]]:
    """Offices whose region or an ancestor of it was renamed or re-parented: their path and LDAP DN change."""
    touched = {d.code for d in changed}
    out = []
    for code, (_id, unit) in sorted(offices.items()):
        current: str | None = code
        while current is not None and current in new and current not in touched:
            current = new[current].parent_code
        if current is not None and current in touched and code not in moved:
            out.append((code, unit))
    return out
