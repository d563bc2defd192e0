"""CSV in the standard template: reading with encoding detection, writing for Excel.

Owns: turning CSV bytes into a ``Table`` (UTF-8 with or without BOM, UTF-16 with BOM, else GB18030; comma or tab
separated) with clear errors for text that is not CSV, and writing rows as UTF-8 with BOM and CRLF, which Excel
opens with the Chinese text intact.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable

from directory.errors import FieldError, ValidationFailed
from directory.exchange.table import Table, protect

MAX_FIELD_CHARS = 10_000
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def _fail(message: str) -> ValidationFailed:
    return ValidationFailed([FieldError("file", message)], message)


def decode(data: bytes) -> str:
    """The text of a CSV file: BOM first, then strict UTF-8, then GB18030; anything else is refused."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                raise _fail(f"文件以 {encoding.upper()} 标记开头，但第 {exc.start} 字节处内容无法解码") from exc
    if b"\x00" in data:
        raise _fail("文件含有二进制内容，不是 CSV 或 XLSX 文件")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise _fail("无法识别文件编码：CSV 文件应为 UTF-8 或 GB18030（GBK）编码") from exc


def _delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    return "\t" if first.count("\t") > first.count(",") else ","


def read(data: bytes, *, max_rows: int) -> Table:
    """Parse CSV bytes into a Table; blank lines are skipped but keep their row numbers."""
    text = decode(data)
    if "\x00" in text:
        raise _fail("文件含有二进制内容，不是 CSV 或 XLSX 文件")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    table: Table | None = None
    try:
        for number, cells in enumerate(reader, start=1):
            if any(len(c) > MAX_FIELD_CHARS for c in cells):
                raise _fail(f"第{number}行有超过 {MAX_FIELD_CHARS} 个字符的单元格")
            if table is None:
                table = Table([c.strip().lstrip("\ufeff") for c in cells])
            elif any(c.strip() for c in cells):
                if len(table.rows) >= max_rows:
                    raise _fail(f"数据行过多：最多 {max_rows} 行")
                table.rows.append((number, cells))
    except csv.Error as exc:
        raise _fail(f"CSV 格式错误（第{reader.line_num}行）：{exc}") from exc
    if table is None:
        raise _fail("文件为空：第一行应为标准表头")
    return table


def write(rows: Iterable[list[str]], header: Iterable[str]) -> bytes:
    """UTF-8 with BOM, CRLF, every cell protected against formula injection."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(list(header))
    for row in rows:
        writer.writerow([protect(c) for c in row])
    return codecs.BOM_UTF8 + out.getvalue().encode("utf-8")
