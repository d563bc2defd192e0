"""What a publish does to a target: the entries to add, modify and delete, computed from what we want and what is
there (pure; no LDAP).

Owns: the comparison, keyed by the region code in each entry's RDN (so a DN written with other spacing or case is
the same entry); the rule that only entries carrying our marker are modified or deleted (an entry of someone else
where ours would go is a conflict, reported and left alone); and the summary a run prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from directory.dit import Entry
from directory.sync.connect import RemoteEntry
from directory.sync.shapes import Flavour

SHOWN = 5  # entries of each kind a summary names


@dataclass(frozen=True)
class Modify:
    dn: str
    changes: dict[str, list[str]]  # attribute → its new values ([] removes it)


@dataclass
class Plan:
    adds: list[Entry] = field(default_factory=list)
    modifies: list[Modify] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # DNs where ours would go, held by an entry we do not own
    held_back: int = 0  # deletes left out by --no-delete

    @property
    def empty(self) -> bool:
        return not (self.adds or self.modifies or self.deletes)

    def size(self) -> int:
        return len(self.adds) + len(self.modifies) + len(self.deletes)


def diff(
    flavour: Flavour,
    wanted: Mapping[str, Entry],
    present: Mapping[str, tuple[str, RemoteEntry]],
    source_base: str,
) -> Plan:
    """``wanted``: our entries by region code; ``present``: the target's entries (DN, attributes) by the region code
    in their RDN, for the same codes (an incremental run) or for every entry under the base (a full one)."""
    plan = Plan()
    for code, want in sorted(wanted.items()):
        found = present.get(code)
        if found is None:
            plan.adds.append(want)
        elif not flavour.is_ours(found[1], source_base):
            plan.conflicts.append(found[0])
        else:
            changes = _changes(flavour, want.attrs, found[1])
            if changes:
                plan.modifies.append(Modify(found[0], changes))
    for code, (dn, attrs) in sorted(present.items()):
        if code not in wanted and flavour.is_ours(attrs, source_base):
            plan.deletes.append(dn)
    return plan


def _changes(flavour: Flavour, want: Mapping[str, list[str]], have: RemoteEntry) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in flavour.managed:
        values = want.get(name, [])
        if sorted(values) != sorted(have.get(name.lower(), [])):
            out[name] = list(values)
    return out


def summary(plan: Plan, shown: int = SHOWN) -> list[str]:
    """Counts and the first entries of each kind, for the command line and the log (zh-CN)."""
    lines = [f"新增 {len(plan.adds)}，修改 {len(plan.modifies)}，删除 {len(plan.deletes)}"]
    if plan.held_back:
        lines[0] += f"（--no-delete：{plan.held_back} 个应删除的条目保留）"
    kinds = (
        ("新增", [e.dn for e in plan.adds]),
        ("修改", [f"{m.dn}（{', '.join(m.changes)}）" for m in plan.modifies]),
        ("删除", plan.deletes),
        ("冲突（不属于本服务，未改动）", plan.conflicts),
    )
    for label, items in kinds:
        for item in items[:shown]:
            lines.append(f"  {label}：{item}")
        if len(items) > shown:
            lines.append(f"  {label}：……另有 {len(items) - shown} 个")
    return lines
