"""The import pipeline shared by ``bohai import`` and the web face: read → check → apply.

Owns: recognising the file type from its bytes (XLSX, CSV; old .xls, other binaries and wrong extensions are
refused with a clear reason), size and row caps, header checks (missing column = error, extra column = warning),
per-row validation through ``validate.clean_office`` with Excel row numbers, file-level rules (a region code at most
once, one 联络员 per province, the ``--province`` subtree), and the all-or-nothing write through
``store.upsert_offices``. A plan with any error is never applied.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from directory import regions as bundled
from directory.errors import FieldError, NotFound, TooLarge, ValidationFailed
from directory.exchange import csvfile, xlsx
from directory.exchange.table import ALL_KEYS, EXPORT_ONLY, FLAGS, HEADER, LIAISON_COLUMN, Table, unprotect
from directory.regions import PROVINCES
from directory.store import Store, UpsertResult
from directory.validate import FIELD_LABELS, OfficeData, clean_office

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 50_000
Progress = Callable[[int, int], None]

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_BINARY_MAGIC = {b"%PDF": "PDF", b"\x89PNG": "PNG 图片", b"\xff\xd8\xff": "JPEG 图片", b"GIF8": "GIF 图片"}


@dataclass
class ImportPlan:
    """The checked content of a file: offices to upsert, or the errors that stop it; warnings never stop it."""

    items: list[OfficeData] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    warnings: list[FieldError] = field(default_factory=list)
    rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def _file_error(message: str) -> ValidationFailed:
    return ValidationFailed([FieldError("file", message)], message)


def _kind(data: bytes, filename: str) -> str:
    """'xlsx' or 'csv' from the content; the extension only has to agree with it."""
    suffix = Path(filename).suffix.lower()
    if data.startswith(_OLE_MAGIC):
        raise _file_error("不支持旧版 Excel（.xls）文件，请在 Excel 中另存为 .xlsx 或 CSV 后再导入")
    for magic, what in _BINARY_MAGIC.items():
        if data.startswith(magic):
            raise _file_error(f"文件内容是 {what}，不是 CSV 或 XLSX 文件")
    if data.startswith(_ZIP_MAGIC):
        if suffix not in ("", ".xlsx", ".xlsm"):
            raise _file_error(f"文件扩展名为 {suffix}，但内容是 XLSX/ZIP；请核对文件")
        return "xlsx"
    if suffix in (".xlsx", ".xlsm"):
        raise _file_error(f"文件扩展名为 {suffix}，但内容不是 XLSX 工作簿")
    if suffix not in ("", ".csv", ".txt", ".tsv"):
        raise _file_error(f"不支持的文件类型 {suffix}：请导入 CSV 或 XLSX 文件")
    return "csv"


def read_rows(source: bytes | str | Path, filename: str | None = None, *, max_rows: int = MAX_ROWS) -> Table:
    """Read a CSV or XLSX file (a path, or the uploaded bytes with their file name) into a Table."""
    if isinstance(source, bytes):
        data, name = source, filename or ""
    else:
        path = Path(source)
        name = filename or path.name
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise TooLarge(_too_large(size))
            data = path.read_bytes()
        except OSError as exc:
            raise NotFound(f"无法读取文件 {path}：{exc.strerror}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise TooLarge(_too_large(len(data)))
    if not data.strip():
        raise _file_error("文件为空：第一行应为标准表头")
    if _kind(data, name) == "xlsx":
        return xlsx.read(data, max_rows=max_rows)
    return csvfile.read(data, max_rows=max_rows)


def _too_large(size: int) -> str:
    return f"文件过大（{size / 1024 / 1024:.1f} MB）：最大 {MAX_FILE_BYTES // (1024 * 1024)} MB"


def _header_columns(header: list[str], plan: ImportPlan) -> dict[str, int]:
    """Field key → column index; missing required columns are errors, unknown ones warnings."""
    columns: dict[str, int] = {}
    for index, label in enumerate(header):
        key = ALL_KEYS.get(label)
        if key is None:
            if label and label not in EXPORT_ONLY:  # e.g. 确认日期 of our own export: information, never imported
                plan.warnings.append(FieldError("header", "未知的列，已忽略", row=1, column=label))
            continue
        if key in columns:
            plan.errors.append(FieldError("header", "列名重复", row=1, column=label))
        columns[key] = index
    for label in HEADER:
        if ALL_KEYS[label] not in columns:
            plan.errors.append(FieldError("header", "缺少必需的列（第一行应为标准表头）", row=1, column=label))
    return columns


@functools.cache
def area_codes() -> dict[str, str]:
    """Region code → its city's area code, for every bundled region the table covers."""
    parents = bundled.parent_map()
    out = {}
    for division in bundled.divisions():
        city = bundled.phone_city(division.code, parents)
        if city is not None:
            out[division.code] = city.area_code
    return out


def scope_code(text: str) -> str:
    """The 12-digit code of a ``--province`` argument (2-digit province or any region code); unknown is an error."""
    code = bundled.normalize_code(text)
    if code is None or code not in bundled.by_code():
        raise NotFound(f"区划代码 {text} 不存在")
    return code


def _in_scope(code: str, scope: str) -> bool:
    parents = bundled.parent_map()
    current: str | None = code
    for _ in range(8):  # the tree is at most four levels deep
        if current is None:
            return False
        if current == scope:
            return True
        current = parents.get(current)
    return False


def check_rows(
    table: Table,
    known_regions: Mapping[str, object] | None = None,
    scope: str | None = None,
    *,
    progress: Progress | None = None,
) -> ImportPlan:
    """Validate every row; the plan holds all errors and warnings in row order, and the items only if none failed."""
    plan = ImportPlan(rows=len(table.rows))
    columns = _header_columns(table.header, plan)
    if plan.errors:
        return plan
    known = known_regions if known_regions is not None else bundled.by_code()
    _cell_rules(table, columns, plan)
    seen: dict[str, int] = {}
    liaison_rows: dict[str, int] = {}
    total = len(table.rows)
    code_index = columns.get("region_code", 0)
    for done, (number, cells) in enumerate(table.rows, start=1):
        if code_index < len(cells) and EXAMPLE_MARK in cells[code_index]:
            message = "这是模板中的示例行，请删除本行后再导入"
            plan.errors.append(FieldError("row", message, row=number, column=FIELD_LABELS["region_code"]))
            continue
        raw: dict[str, object] = {
            key: unprotect(cells[i]) if i < len(cells) else "" for key, i in columns.items() if key not in FLAGS
        }
        for flag in FLAGS:
            if flag in columns:
                i = columns[flag]
                raw[flag] = cells[i] if i < len(cells) else ""
        cleaned = clean_office(raw, known_region=known, area_code_for=area_codes(), row=number)
        plan.errors.extend(cleaned.errors)
        plan.warnings.extend(cleaned.warnings)
        if cleaned.data is not None:
            _file_rules(cleaned.data, number, scope, seen, liaison_rows, plan)
        if progress is not None and (done % 500 == 0 or done == total):
            progress(done, total)
    if plan.errors:
        plan.items = []
    return plan


def _cell_rules(table: Table, columns: dict[str, int], plan: ImportPlan) -> None:
    """Errors no value check can see: formula cells (never evaluated, never stored) and rows cut short.

    A short row is refused rather than read as empty cells, because an upsert would blank the office's other fields.
    """
    labels = {i: table.header[i] for i in columns.values() if i < len(table.header)}
    for number, index in table.formulas:
        if index in labels:
            message = "单元格是公式（公式不会被计算，也不会作为数据保存）；请复制后“粘贴为数值”再导入"
            plan.errors.append(FieldError("cell", message, row=number, column=labels[index]))
    needed = max(i for key, i in columns.items() if key not in FLAGS) + 1
    for number, cells in table.rows:
        if len(cells) < needed:
            missing = [labels[i] for i in sorted(labels) if i >= len(cells) and i < needed]
            message = f"本行只有 {len(cells)} 列，缺少：{'、'.join(missing)}（整行补齐后再导入；空值请留空单元格）"
            plan.errors.append(FieldError("row", message, row=number, column=missing[0] if missing else None))


EXAMPLE_MARK = "示例"  # the template's example row carries it in its region-code cell; the import refuses that row


def _scope_name(scope: str) -> str:
    """How a person reads an import's scope: 河北省, or the region's name and code."""
    if scope.endswith("0" * 10) and scope[:2] in PROVINCES:
        return PROVINCES[scope[:2]]
    region = bundled.by_code().get(scope)
    name = getattr(region, "name", "")
    return f"{name}（{scope}）" if name else f"区划 {scope}"


def _file_rules(
    data: OfficeData,
    number: int,
    scope: str | None,
    seen: dict[str, int],
    liaison_rows: dict[str, int],
    plan: ImportPlan,
) -> None:
    label = FIELD_LABELS["region_code"]
    if scope is not None and not _in_scope(data.region_code, scope):
        plan.errors.append(
            FieldError("region_code", f"不属于{_scope_name(scope)}", row=number, column=label, value=data.region_code)
        )
    if data.region_code in seen:
        message = f"区划代码与第{seen[data.region_code]}行重复"
        plan.errors.append(FieldError("region_code", message, row=number, column=label, value=data.region_code))
    else:
        seen[data.region_code] = number
    if data.liaison:
        province = data.region_code[:2]
        if province in liaison_rows:
            message = f"每个省只能有一个联络员，第{liaison_rows[province]}行已标记"
            plan.errors.append(FieldError("liaison", message, row=number, column=LIAISON_COLUMN, value="是"))
        else:
            liaison_rows[province] = number
    plan.items.append(data)


def apply(store: Store, plan: ImportPlan, actor: str) -> UpsertResult:
    """Write a checked plan in one transaction; a plan with errors is refused and nothing is written."""
    if plan.errors:
        raise ValidationFailed(plan.errors, "文件中有错误，未写入任何数据")
    return store.upsert_offices(plan.items, actor)


def preview(store: Store, plan: ImportPlan) -> UpsertResult:
    """What :func:`apply` would do, read-only (for ``--dry-run`` and the web face's confirmation page)."""
    if plan.errors:
        raise ValidationFailed(plan.errors, "文件中有错误，未写入任何数据")
    return store.preview_upsert(plan.items)


def import_file(
    store: Store,
    source: bytes | str | Path,
    actor: str,
    *,
    filename: str | None = None,
    scope: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> tuple[ImportPlan, UpsertResult]:
    """Read, check and (unless ``dry_run``) apply one file; raises ValidationFailed listing every error."""
    table = read_rows(source, filename)
    plan = check_rows(table, scope=scope, progress=progress)
    result = preview(store, plan) if dry_run else apply(store, plan, actor)
    return plan, result
