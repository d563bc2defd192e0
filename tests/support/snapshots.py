"""Rows for ``directory.snapshot.build``: a region and an office with every column the Snapshot reads, so a test
spells out only the values it is about."""

from __future__ import annotations

from typing import Any


def region_row(code: str, name: str, level: str, parent: str | None) -> dict[str, Any]:
    return {"code": code, "name": name, "level": level, "parent_code": parent, "province_code": code[:2] + "0" * 10}


def office_row(oid: int, code: str, **values: Any) -> dict[str, Any]:
    """An office of region ``code``: empty texts, e-mail status "ok", never verified nor updated, unless ``values``
    say otherwise."""
    row: dict[str, Any] = dict.fromkeys(
        ("unit_name", "contact_name", "position", "phone", "fax", "email", "address", "postal_code"), ""
    )
    row |= {"liaison": False, "email_status": "ok", "email_status_note": "", "verified_at": None, "demo": False}
    row |= {"version": 1, "updated_at": None, "updated_by": ""}
    return {**row, "id": oid, "region_code": code, **values}
