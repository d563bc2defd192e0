"""XLSX workbooks in the standard template (openpyxl).

Owns: reading the first sheet of a workbook into a ``Table`` — read-only, values as stored: a formula is never
evaluated; a formula cell is recorded in ``Table.formulas`` and reported as an error of that cell (its text must
never become office data) — with checks against zip bombs and files that are not
workbooks, and writing rows as a one-sheet workbook whose cells are all text (protected against formula injection).
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Iterable
from typing import Any

from directory.errors import FieldError, TooLarge, ValidationFailed
from directory.exchange.table import Table, protect

MAX_UNZIPPED_BYTES = 300 * 1024 * 1024
MAX_COLUMNS = 100
SHEET_TITLE = "通讯录"


def _fail(message: str) -> ValidationFailed:
    return ValidationFailed([FieldError("file", message)], message)


def _check_zip(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
            unzipped = sum(info.file_size for info in zf.infolist())
    except zipfile.BadZipFile as exc:
        raise _fail("XLSX 文件已损坏（不是有效的 ZIP 压缩包）") from exc
    if "xl/workbook.xml" not in names:
        raise _fail("压缩包中没有工作簿（xl/workbook.xml），不是 XLSX 文件")
    if unzipped > MAX_UNZIPPED_BYTES:
        raise TooLarge(f"XLSX 解压后超过 {MAX_UNZIPPED_BYTES // (1024 * 1024)} MB，拒绝读取")


def cell_text(value: Any) -> str:
    """A cell's value as text: numbers without a spurious ``.0``, booleans as 是/否, dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def read(data: bytes, *, max_rows: int) -> Table:
    """The first sheet as a Table; completely empty rows are skipped but keep their numbers."""
    _check_zip(data)
    try:
        import openpyxl  # imported when used: it costs ~16 MB that a running service rarely needs

        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many kinds for a broken workbook
        raise _fail(f"XLSX 文件无法读取：{type(exc).__name__}: {str(exc)[:200]}") from exc
    try:
        return _read_sheet(wb.worksheets[0], max_rows) if wb.worksheets else Table([])
    finally:
        wb.close()


def _read_sheet(ws: Any, max_rows: int) -> Table:
    table: Table | None = None
    for number, row in enumerate(ws.iter_rows(max_col=MAX_COLUMNS), start=1):
        cells = [cell_text(getattr(c, "value", None)) for c in row]
        if table is not None:
            table.formulas.extend((number, i) for i, c in enumerate(row) if getattr(c, "data_type", None) == "f")
        if table is None:
            table = Table([c.strip() for c in cells])
            while table.header and not table.header[-1]:
                table.header.pop()
        elif any(c.strip() for c in cells):
            if len(table.rows) >= max_rows:
                raise _fail(f"数据行过多：最多 {max_rows} 行")
            table.rows.append((number, cells))
    if table is None or not table.header:
        raise _fail("工作表为空：第一行应为标准表头")
    return table


def write(rows: Iterable[list[str]], header: Iterable[str]) -> bytes:
    """A one-sheet workbook; every cell is a string, so codes and postal codes keep their leading zeros."""
    import openpyxl
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet(SHEET_TITLE)
    header = list(header)
    for index, width in enumerate((14, 36, 10, 12, 18, 18, 30, 48, 10, 8)[: len(header)]):
        ws.column_dimensions[openpyxl.utils.get_column_letter(index + 1)].width = width
    ws.append(header)
    for row in rows:
        ws.append([ILLEGAL_CHARACTERS_RE.sub("", protect(c)) for c in row])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
