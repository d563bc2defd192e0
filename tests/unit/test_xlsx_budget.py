"""Reading a spreadsheet is budgeted: rows (blank, skipped and repeated ones included), cells and time each stop the
read with an error naming the limit, however the sheet XML spells its rows; ordinary workbooks read as before."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from directory.errors import ValidationFailed
from directory.exchange import xlsx
from directory.exchange.table import HEADER
from tests.support.spreadsheets import deflated, workbook


def refused(data: bytes, **limits: float) -> str:
    with pytest.raises(ValidationFailed) as caught:
        xlsx.read(data, max_rows=50_000, **limits)  # type: ignore[arg-type]
    return str(caught.value.errors[0])


def test_millions_of_blank_rows_stop_at_the_row_budget_quickly() -> None:
    data = deflated(workbook([b"<row/>" * 100_000] * 30))  # 3,000,000 rows without a dimension
    assert len(data) < 100_000
    started = time.monotonic()
    message = refused(data)
    assert "MAX_SCANNED_ROWS" in message and str(xlsx.MAX_SCANNED_ROWS) in message
    assert time.monotonic() - started < xlsx.TIME_BUDGET


def test_a_far_row_number_counts_the_rows_it_skips() -> None:
    message = refused(workbook([b'<row r="1048576"><c t="inlineStr"><is><t>x</t></is></c></row>']))
    assert "MAX_SCANNED_ROWS" in message


def test_repeated_row_numbers_count_too() -> None:
    """openpyxl skips a row numbered like an earlier one without a word; each still costs parsing."""
    message = refused(workbook([b'<row r="2"/>' * 1000]), max_scanned_rows=500)
    assert "MAX_SCANNED_ROWS" in message and "500" in message


def test_cells_and_time_are_budgeted() -> None:
    wide = workbook([b"<row>" + b"<c/>" * (xlsx.MAX_CELLS_PER_ROW + 1) + b"</row>"])
    assert "MAX_CELLS_PER_ROW" in refused(wide)
    many = workbook([b"<row>" + b"<c/>" * 50 + b"</row>"] * 40)
    assert "MAX_SCANNED_CELLS" in refused(many, max_scanned_cells=1000)
    assert "TIME_BUDGET" in refused(many, time_budget=0)


def test_ordinary_workbook_reads_as_before_with_gaps_kept() -> None:
    gap = b'<row r="10"><c t="inlineStr"><is><t>130102000000</t></is></c></row>'
    table = xlsx.read(workbook([gap], data_rows=3), max_rows=10)
    assert table.header == list(HEADER)
    assert [n for n, _ in table.rows] == [2, 3, 4, 10]
    assert table.rows[-1][1][0] == "130102000000" and len(table.rows[-1][1]) == xlsx.MAX_COLUMNS


def test_what_has_been_read_is_not_kept_while_the_sheet_goes_on() -> None:
    """Neither rows nor other elements pile up under their parent until the sheet ends: a sheet of 300,000 empty
    elements that are not rows (counted by no row or cell budget) reads in memory that does not grow with them."""
    data = deflated(workbook([b"<x/>" * 100_000] * 3))
    tracemalloc.start()
    try:
        table = xlsx.read(data, max_rows=10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [n for n, _ in table.rows] == [2]
    assert peak < 8 * 1024 * 1024, f"{peak / 1024 / 1024:.0f} MB for 300,000 elements already read"
