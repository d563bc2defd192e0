"""How an upsert of offices is classified, decided once for the real write and for its dry run (pure, no SQL).

Owns: which offices an upsert creates, which it updates (only the fields that differ) and which it leaves alone;
the rule of one liaison officer per province (marking one clears the flag on the province's other offices); the
check of the version an editor saw; and the counts reported back (:class:`UpsertResult`). ``Offices`` reads the
stored rows, asks :func:`plan_upsert`, and either reports the plan (``preview_upsert``) or writes it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from directory.errors import Conflict, FieldError, ValidationFailed
from directory.validate import OfficeData

StoredOffice = Mapping[str, Any]  # an office row as read, by column name


@dataclasses.dataclass(frozen=True)
class UpsertResult:
    created: int = 0
    updated: int = 0  # offices whose row changes, a cleared liaison flag included
    unchanged: int = 0
    changed_codes: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Write:
    """One office row to write: a new office (``before`` is None, ``values`` is the whole row) or the fields of an
    existing one that differ (``before`` is the row as read, so the write can be guarded by its version)."""

    code: str
    before: StoredOffice | None
    values: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class UpsertPlan:
    writes: list[Write]
    unchanged: int
    cleared: list[str]  # offices that lose the liaison flag to an office of the same province

    def result(self) -> UpsertResult:
        written = [w.code for w in self.writes]
        seen = set(written)
        extra = [code for code in self.cleared if code not in seen]
        created = sum(1 for w in self.writes if w.before is None)
        updated = len(self.writes) - created + len(extra)
        return UpsertResult(created, updated, self.unchanged, (*written, *extra))


def plan_upsert(items: Sequence[OfficeData], current: Mapping[str, StoredOffice]) -> UpsertPlan:
    """Classify ``items`` against ``current`` (stored offices by region code: at least those named in ``items`` and
    every office flagged as liaison officer in their provinces)."""
    _reject_repeats(items)
    writes: list[Write] = []
    unchanged = 0
    for data in items:
        values: dict[str, Any] = data.fields()
        old = current.get(data.region_code)
        if old is None:
            flags = {"liaison": bool(data.liaison), "phone_public": bool(data.phone_public)}
            values.update(region_code=data.region_code, **flags)
            writes.append(Write(data.region_code, None, values))
            continue
        if data.liaison is not None:
            values["liaison"] = data.liaison
        if data.phone_public is not None:
            values["phone_public"] = data.phone_public
        diff = {k: v for k, v in values.items() if old.get(k) != v}
        if diff:
            writes.append(Write(data.region_code, old, diff))
        else:
            unchanged += 1
    return UpsertPlan(writes, unchanged, _cleared(items, current, writes))


def _cleared(items: Sequence[OfficeData], current: Mapping[str, StoredOffice], writes: Sequence[Write]) -> list[str]:
    """One liaison officer per province: each office marked in ``items`` clears the flag on the other offices of
    its province that hold it once the writes are done, in the order of ``items``."""
    flagged = {code for code, row in current.items() if row.get("liaison")}
    for w in writes:
        if w.values.get("liaison") is True:
            flagged.add(w.code)
        elif w.values.get("liaison") is False:
            flagged.discard(w.code)
    cleared: list[str] = []
    for data in items:
        if data.liaison:
            province = data.region_code[:2]
            for code in sorted(c for c in flagged if c[:2] == province and c != data.region_code):
                flagged.discard(code)
                cleared.append(code)
    return cleared


def _reject_repeats(items: Sequence[OfficeData]) -> None:
    seen: set[str] = set()
    repeated: list[str] = []
    for data in items:
        if data.region_code in seen:
            repeated.append(data.region_code)
        seen.add(data.region_code)
    if repeated:
        errors = [FieldError("region_code", "同一批数据中区划代码重复", value=c) for c in sorted(set(repeated))[:50]]
        raise ValidationFailed(errors, "同一批数据中区划代码重复，未写入任何数据")


def check_expected(items: Sequence[OfficeData], current: Mapping[str, StoredOffice], expected: int) -> None:
    """The office must still be at the version the editor saw (0: it did not exist yet)."""
    for data in items:
        old = current.get(data.region_code)
        if old is None and expected:
            raise Conflict("该单位已被他人删除", current={})
        if old is not None and old["version"] != expected:
            raise Conflict("该单位已被他人修改，请核对后再保存", current=dict(old))
