"""Test data for the exchange tests: in-memory Snapshots built from the bundled regions and demo offices.

No database: the exporters are pure functions over a Snapshot, so tests build one directly from the same rows the
store would return.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Iterable
from typing import Any

from directory import regions as bundled
from directory.demo import demo_offices, office_for
from directory.snapshot import Snapshot, build
from directory.validate import OfficeData

NOW = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def _region_rows() -> list[dict[str, Any]]:
    return [
        {
            "code": d.code,
            "name": d.name,
            "level": d.level,
            "parent_code": d.parent_code,
            "province_code": d.province_code,
        }
        for d in bundled.divisions()
    ]


def office_row(index: int, data: OfficeData) -> dict[str, Any]:
    return {
        "id": index,
        "region_code": data.region_code,
        **data.fields(),
        "liaison": bool(data.liaison),
        "email_status": "ok",
        "email_status_note": "",
        "verified_at": None,
        "demo": True,
        "version": 1,
        "updated_at": NOW,
        "updated_by": "test",
    }


def snapshot_of(offices: Iterable[OfficeData]) -> Snapshot:
    return build(_region_rows(), [office_row(i, o) for i, o in enumerate(offices, start=1)], [], 1)


@functools.cache
def demo_snapshot() -> Snapshot:
    """All 15,404 demo offices."""
    return snapshot_of(demo_offices())


def demo_office(code: str, **changes: Any) -> OfficeData:
    """The demo office of one region, with some fields replaced."""
    base = office_for(bundled.by_code()[code])
    return dataclasses.replace(base, **changes)
