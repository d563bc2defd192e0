"""XLSX workbooks in the standard template (openpyxl).

Owns: reading the first sheet of a workbook into a ``Table`` — read-only, values as stored: a formula is never
evaluated; a formula cell is recorded in ``Table.formulas`` and reported as an error of that cell (its text must
never become office data) — with checks against zip bombs and files that are not
workbooks, and writing rows as a one-sheet workbook whose cells are all text (protected against formula injection).

Reading is budgeted, because a small file can describe millions of rows (no ``<dimension>``, millions of empty
``<row/>`` elements, or one row numbered 1048576 after row 1): the sheet XML is pulled element by element and every
row counts — blank rows, skipped row numbers and repeated ones included — against ``MAX_SCANNED_ROWS``, every cell
against ``MAX_SCANNED_CELLS``; every few hundred XML events the reading thread's CPU time is checked against
``TIME_BUDGET`` seconds (CPU time, not wall time, so that a busy machine does not refuse a good file); a row may hold
at most ``MAX_CELLS_PER_ROW`` cells, and the shared strings at most ``MAX_SHARED_STRINGS_BYTES``. Each limit stops
the read with an error naming it. The counted limits come first; the clock is the backstop.
Rows are parsed by openpyxl's own row parser (``openpyxl.worksheet._reader``), only the loop around it is ours, and
opening the workbook skips openpyxl's scan of the sheet for its size (without ``<dimension>`` it reads it all).
"""

from __future__ import annotations

import datetime as dt
import io
import time
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any

from directory.errors import FieldError, TooLarge, ValidationFailed
from directory.exchange.table import Table, protect

MAX_UNZIPPED_BYTES = 300 * 1024 * 1024
MAX_SHARED_STRINGS_BYTES = 64 * 1024 * 1024
MAX_COLUMNS = 100
MAX_SCANNED_ROWS = 100_000  # the template allows 50,000 data rows (importer.MAX_ROWS)
MAX_SCANNED_CELLS = 2_000_000  # 50,000 rows of 40 cells; the template has 10
MAX_CELLS_PER_ROW = 16_384  # Excel's own column limit
TIME_BUDGET = 120.0  # CPU seconds of the reading thread; a slow server parses ~15,000 cells a second
SHEET_TITLE = "通讯录"


def _fail(message: str) -> ValidationFailed:
    return ValidationFailed([FieldError("file", message)], message)


def _check_zip(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
            unzipped = sum(info.file_size for info in zf.infolist())
            strings = sum(i.file_size for i in zf.infolist() if i.filename.lower() == "xl/sharedstrings.xml")
    except zipfile.BadZipFile as exc:
        raise _fail("XLSX 文件已损坏（不是有效的 ZIP 压缩包）") from exc
    if "xl/workbook.xml" not in names:
        raise _fail("压缩包中没有工作簿（xl/workbook.xml），不是 XLSX 文件")
    if unzipped > MAX_UNZIPPED_BYTES:
        raise TooLarge(f"XLSX 解压后超过 {MAX_UNZIPPED_BYTES // (1024 * 1024)} MB，拒绝读取")
    if strings > MAX_SHARED_STRINGS_BYTES:
        raise TooLarge(f"XLSX 的共享字符串表解压后超过 {MAX_SHARED_STRINGS_BYTES // (1024 * 1024)} MB，拒绝读取")


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


class Budget:
    """The row and time budget of one read; ``rows(n)`` counts rows, ``tick()`` checks the clock."""

    def __init__(self, max_rows: int, seconds: float, max_cells: int = MAX_SCANNED_CELLS) -> None:
        self.max_rows, self.seconds, self.max_cells = max_rows, seconds, max_cells
        self.deadline = time.thread_time() + seconds
        self.scanned = self.cells = 0

    def rows(self, n: int) -> None:
        self.scanned += n
        if self.scanned > self.max_rows:
            raise _fail(
                f"工作表的行数（含空行）超过读取上限 {self.max_rows} 行（MAX_SCANNED_ROWS）："
                "请删除数据末尾和中间多余的空行，或拆分文件后再导入"
            )
        self.tick()

    def cell(self) -> None:
        self.cells += 1
        if self.cells > self.max_cells:
            raise _fail(
                f"工作表的单元格超过读取上限 {self.max_cells} 个（MAX_SCANNED_CELLS）：请删除多余的列和格式后再导入"
            )

    def tick(self) -> None:
        if time.thread_time() > self.deadline:
            raise _fail(
                f"XLSX 读取超过时间上限 {self.seconds:g} 秒（TIME_BUDGET，按读取线程的 CPU 时间计），已停止："
                "请删除多余的空行和格式，或另存为 CSV 后再导入"
            )


def read(
    data: bytes,
    *,
    max_rows: int,
    max_scanned_rows: int = MAX_SCANNED_ROWS,
    max_scanned_cells: int = MAX_SCANNED_CELLS,
    time_budget: float = TIME_BUDGET,
) -> Table:
    """The first sheet as a Table; completely empty rows are skipped but keep their numbers."""
    budget = Budget(max_scanned_rows, time_budget, max_scanned_cells)
    _check_zip(data)
    try:
        wb = _load(data)
    except Exception as exc:  # openpyxl raises many kinds for a broken workbook
        raise _fail(f"XLSX 文件无法读取：{type(exc).__name__}: {str(exc)[:200]}") from exc
    try:
        budget.tick()
        return _read_sheet(_rows(wb, wb.worksheets[0], budget), max_rows, budget) if wb.worksheets else Table([])
    finally:
        wb.close()


def _load(data: bytes) -> Any:
    """openpyxl's read-only workbook, except that opening it does not scan each sheet for its size: without a
    ``<dimension>`` element openpyxl reads the whole sheet XML there, outside any budget (we need no size)."""
    # imported when used: openpyxl costs ~16 MB that a running service rarely needs
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    class Sheet(ReadOnlyWorksheet):  # type: ignore[misc]
        def _get_size(self) -> None:
            return None

    class Reader(ExcelReader):  # type: ignore[misc]
        def read_worksheets(self) -> None:  # the read-only part of openpyxl's own, with Sheet
            for sheet, rel in self.parser.find_sheets():
                if rel.target not in self.valid_files:
                    continue
                if "chartsheet" in rel.Type:
                    self.read_chartsheet(sheet, rel)
                    continue
                ws = Sheet(self.wb, sheet.name, rel.target, self.shared_strings)
                ws.sheet_state = sheet.state
                self.wb._sheets.append(ws)

    reader = Reader(io.BytesIO(data), read_only=True, data_only=False)
    reader.read()
    return reader.wb


def _rows(wb: Any, ws: Any, budget: Budget) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """(row number, cells) of every ``<row>`` of the sheet, parsed by openpyxl's row parser; what is not a row is
    dropped as soon as it has been read, and the budget is checked while the XML is pulled."""
    from openpyxl.worksheet._reader import CELL_TAG, ROW_TAG, WorkSheetParser
    from openpyxl.xml.functions import iterparse

    with ws._get_source() as src:
        parser = WorkSheetParser(
            src, ws._shared_strings, data_only=False, epoch=wb.epoch,
            date_formats=wb._date_formats, timedelta_formats=wb._timedelta_formats,
        )  # fmt: skip
        in_row, cells, label = False, 0, ""
        opened: list[Any] = []  # the elements started and not yet ended, outermost first
        for events, (event, element) in enumerate(iterparse(src, events=("start", "end"))):
            if events % 512 == 0:
                budget.tick()
            if event == "start":
                opened.append(element)
                if element.tag == ROW_TAG:
                    in_row, cells, label = True, 0, str(element.get("r") or parser.row_counter + 1)[:20]
                elif element.tag == CELL_TAG:
                    cells += 1
                    budget.cell()
                    if cells > MAX_CELLS_PER_ROW:
                        raise _fail(f"工作表第 {label} 行的单元格超过 {MAX_CELLS_PER_ROW} 个（MAX_CELLS_PER_ROW）")
                continue
            opened.pop()
            if element.tag == ROW_TAG:
                in_row = False
                yield parser.parse_row(element)
            elif in_row:
                continue  # a part of a cell: the row parser reads it when the row ends
            # Read: off the tree at once. Kept under their parent, the rows and whatever else a sheet holds (millions
            # of empty elements, say) would all stay in memory until the sheet ends, and the cyclic collector would
            # walk them again and again, holding up the event loop of the service for each full collection.
            element.clear()
            if opened:
                opened[-1].remove(element)


def _read_sheet(rows: Iterator[tuple[int, list[dict[str, Any]]]], max_rows: int, budget: Budget) -> Table:
    table: Table | None = None
    last = 0
    for number, row in rows:
        budget.rows(max(1, number - last))  # rows the file skips are blank rows like any other
        if number <= last:  # a row number again or going back: ignored, as openpyxl's own reader does
            continue
        if table is None and number > 1:
            table = Table([])  # row 1 is missing: no header
        last = number
        cells = [""] * MAX_COLUMNS
        formulas = []
        for cell in row:
            column = int(cell.get("column") or 0)
            if 1 <= column <= MAX_COLUMNS:
                cells[column - 1] = cell_text(cell.get("value"))
                if cell.get("data_type") == "f":
                    formulas.append((number, column - 1))
        if table is None:
            table = Table([c.strip() for c in cells])
            while table.header and not table.header[-1]:
                table.header.pop()
            continue
        table.formulas.extend(formulas)
        if any(c.strip() for c in cells):
            if len(table.rows) >= max_rows:
                raise _fail(f"数据行过多：最多 {max_rows} 行")
            table.rows.append((number, cells))
    if table is None or not table.header:
        raise _fail("工作表为空：第一行应为标准表头")
    return table


def write(
    rows: Iterable[list[str]],
    header: Iterable[str],
    *,
    exported: str = "",
    extra: Iterable[tuple[str, list[str], Iterable[list[str]]]] = (),
) -> bytes:
    """A workbook of the standard sheet and any ``extra`` sheets (title, header, rows); every cell is a string, so
    codes and postal codes keep their leading zeros. ``exported`` (who and when) goes into the document properties,
    where no import reads it."""
    import openpyxl
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    wb = openpyxl.Workbook(write_only=True)
    if exported:
        wb.properties.creator = exported.split(" ")[0][:60]
        wb.properties.description = f"X-BOHAI-EXPORTED: {exported}"
        wb.properties.keywords = "X-BOHAI-EXPORTED"
    ws = wb.create_sheet(SHEET_TITLE)
    header = list(header)
    for index, width in enumerate((14, 36, 10, 12, 18, 18, 30, 48, 10, 8)[: len(header)]):
        ws.column_dimensions[openpyxl.utils.get_column_letter(index + 1)].width = width
    ws.append(header)
    for row in rows:
        ws.append([ILLEGAL_CHARACTERS_RE.sub("", protect(c)) for c in row])
    for title, extra_header, extra_rows in extra:
        sheet = wb.create_sheet(title)
        sheet.append(extra_header)
        for row in extra_rows:
            sheet.append([ILLEGAL_CHARACTERS_RE.sub("", protect(c)) for c in row])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
