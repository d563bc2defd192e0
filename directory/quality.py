"""Data-quality figures of the directory, computed from a Snapshot (pure).

Owns: what counts as a data-quality problem of an office — no e-mail (so it is invisible to mail-client
autocomplete), no fax, not verified within ``STALE_DAYS``, e-mail bouncing — the per-region totals of these over
each subtree (for the tree browse), and the per-province problem lists with the missing liaison officer (for the
dashboard). Figures depend on the day, so they are memoised per Snapshot and per date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from directory import clock
from directory.snapshot import OfficeView, Snapshot

STALE_DAYS = 180
PROBLEMS = {
    "no_email": "缺少电子邮箱（不在邮件客户端自动补全中）",
    "no_fax": "缺少传真号码",
    "stale": f"超过{STALE_DAYS}天未确认",
    "bouncing": "电子邮箱退信",
}


@dataclass
class Counts:
    """Totals over one region's subtree (the region included)."""

    regions: int = 0
    offices: int = 0
    no_email: int = 0
    no_fax: int = 0
    stale: int = 0
    bouncing: int = 0

    def add(self, flags: frozenset[str]) -> None:
        self.offices += 1
        for name in flags:
            setattr(self, name, getattr(self, name) + 1)


@dataclass
class ProvinceReport:
    code: str
    name: str
    counts: Counts
    problems: dict[str, list[OfficeView]] = field(default_factory=dict)
    liaison_missing: bool = False


def is_stale(office: OfficeView, today: dt.date) -> bool:
    """Not confirmed for more than ``STALE_DAYS`` days, counted in Beijing dates (``today`` is one too)."""
    verified = office.verified_at
    if verified is None:
        return True
    return (today - clock.local_date(verified)).days > STALE_DAYS


def flags(office: OfficeView, today: dt.date) -> frozenset[str]:
    """The problems of one office, as keys of ``PROBLEMS``."""
    out = set()
    if not office.email:
        out.add("no_email")
    elif office.email_status == "bouncing":
        out.add("bouncing")
    if not office.fax:
        out.add("no_fax")
    if is_stale(office, today):
        out.add("stale")
    return frozenset(out)


def subtree_counts(snap: Snapshot, today: dt.date) -> dict[str, Counts]:
    """Region code → totals over its subtree; one pass over offices, adding each to all its ancestors."""
    return snap.derived(f"quality.counts.{today.isoformat()}", lambda s: _counts(s, today))


def _counts(snap: Snapshot, today: dt.date) -> dict[str, Counts]:
    out = {code: Counts() for code in snap.regions}
    for code in snap.regions:
        for parent in _up(snap, code):
            out[parent].regions += 1
    for code, office in snap.offices.items():
        office_flags = flags(office, today)
        for parent in _up(snap, code):
            out[parent].add(office_flags)
    return out


def _up(snap: Snapshot, code: str) -> list[str]:
    """The region and its ancestors (bounded by the depth of the tree)."""
    chain: list[str] = []
    current: str | None = code
    while current is not None and current in snap.regions and len(chain) < 8:
        chain.append(current)
        current = snap.regions[current].parent_code
    return chain


def province_report(snap: Snapshot, province_code: str, today: dt.date) -> ProvinceReport:
    """Every problem office of one province, grouped by problem, and whether its liaison officer is missing."""
    region = snap.regions[province_code]
    counts = subtree_counts(snap, today)[province_code]
    report = ProvinceReport(province_code, region.name, counts, {key: [] for key in PROBLEMS})
    prefix = province_code[:2]
    for code in sorted(snap.offices):
        if not code.startswith(prefix):
            continue
        office = snap.offices[code]
        for name in flags(office, today):
            report.problems[name].append(office)
    report.liaison_missing = snap.liaison_officer(province_code) is None
    return report
