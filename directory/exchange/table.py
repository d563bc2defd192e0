"""The standard template shared by CSV and XLSX: header, column keys, and protection against formula injection.

Owns: ``HEADER`` (区划代码 and the eight fields, in the agreed order) plus the optional 联络员 column (and, on
export only, 确认日期), ``Table`` (the
header and the data rows of a file with the row numbers a user sees in Excel), how an office becomes a row for
export, and ``protect``/``unprotect``: a cell that a spreadsheet would run as a formula (starting with ``= + - @``,
tab or CR) gets a leading ``'`` on export, and import strips exactly that again so a round trip is lossless.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from directory import clock
from directory.models import OFFICE_FIELDS
from directory.snapshot import OfficeView
from directory.validate import display_phone

LIAISON_COLUMN = "联络员"
CONFIRMED_COLUMN = "确认日期"  # when the entry was last confirmed, and by whom: exported, never imported
COLUMN_KEYS: dict[str, str] = {"区划代码": "region_code", **{label: name for name, label in OFFICE_FIELDS}}
HEADER: tuple[str, ...] = tuple(COLUMN_KEYS)
EXPORT_HEADER: tuple[str, ...] = (*HEADER, LIAISON_COLUMN, CONFIRMED_COLUMN)
EXPORT_ONLY = frozenset({CONFIRMED_COLUMN})
PUBLIC_COLUMN = "公开工作号码"  # optional on import: 是 marks the office's mobile a public work number
ALL_KEYS: dict[str, str] = {**COLUMN_KEYS, LIAISON_COLUMN: "liaison", PUBLIC_COLUMN: "phone_public"}
FLAGS = ("liaison", "phone_public")  # the optional 是/否 columns

_DANGER = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Table:
    """What a file holds: the header cells and each data row with its number as shown in Excel (header = 1)."""

    header: list[str]
    rows: list[tuple[int, list[str]]] = field(default_factory=list)
    formulas: list[tuple[int, int]] = field(default_factory=list)  # (row number, column index) of formula cells


def protect(value: str) -> str:
    """Make a cell inert in spreadsheets: a leading ``'`` before formula-starting text (and before a ``'``)."""
    if value.startswith(_DANGER) or value.startswith("'"):
        return "'" + value
    return value


def unprotect(value: str) -> str:
    """Undo exactly :func:`protect`; a ``'`` that protects nothing is left alone."""
    if value.startswith("'") and value[1:].startswith((*_DANGER, "'")):
        return value[1:]
    return value


def office_row(office: OfficeView) -> list[str]:
    """One office as the cells of the export template (phones in the national form), not yet protected."""
    return [
        office.region_code,
        office.unit_name,
        office.contact_name,
        office.position,
        display_phone(office.phone),
        display_phone(office.fax),
        office.email,
        office.address,
        office.postal_code,
        "是" if office.liaison else "否",
        confirmed_cell(office),
    ]


def confirmed_cell(office: OfficeView) -> str:
    """``2026-10-08（本单位自助核对）``: the Beijing date the entry was last confirmed and who confirmed it."""
    if office.verified_at is None:
        return ""
    day = clock.local_date(office.verified_at).isoformat()
    return f"{day}（{office.verified_by}）" if office.verified_by else day
