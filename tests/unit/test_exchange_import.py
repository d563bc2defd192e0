"""Import, pure part: file-type detection, encodings, header rules, row checks and injection protection."""

from __future__ import annotations

import codecs
import io
import zipfile

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from directory.errors import NotFound, TooLarge, ValidationFailed
from directory.exchange import importer
from directory.exchange.importer import check_rows, read_rows, scope_code
from directory.exchange.progress import ProgressBar
from directory.exchange.table import HEADER, protect, unprotect

HEAD = ",".join(HEADER)
CHANGAN = (
    "130102000000,长安区流动人口服务管理中心,张伟,主任,0311-87654321,0311-87654322,ca@example.org,中山东路1号,050000"
)
QIAOXI = "130104000000,桥西区流动人口服务管理中心,李娜,科长,0311-86660000,,qx@example.org,新华路2号,050000"


def csv_bytes(*lines: str, encoding: str = "utf-8") -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def xlsx_bytes(*rows: list[object]) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def only_error(exc: pytest.ExceptionInfo[ValidationFailed]) -> str:
    assert len(exc.value.errors) == 1
    return exc.value.errors[0].message


# -- encodings and file types ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        csv_bytes(HEAD, CHANGAN),
        codecs.BOM_UTF8 + csv_bytes(HEAD, CHANGAN),
        csv_bytes(HEAD, CHANGAN, encoding="gb18030"),
        codecs.BOM_UTF16_LE + csv_bytes(HEAD.replace(",", "\t"), CHANGAN.replace(",", "\t"), encoding="utf-16-le"),
    ],
    ids=["utf8", "utf8-bom", "gb18030", "utf16-tab"],
)
def test_csv_encodings_are_detected(data: bytes) -> None:
    table = read_rows(data, "offices.csv")
    assert table.header == list(HEADER)
    plan = check_rows(table)
    assert plan.ok, plan.errors
    assert plan.items[0].unit_name == "长安区流动人口服务管理中心"
    assert plan.items[0].phone == "+8631187654321"


def test_gb18030_is_really_not_utf8() -> None:
    data = csv_bytes(HEAD, CHANGAN, encoding="gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert read_rows(data, "x.csv").rows[0][1][1] == "长安区流动人口服务管理中心"


@pytest.mark.parametrize(
    ("data", "name", "needle"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "old.xls", "旧版 Excel"),
        (b"%PDF-1.7\n" + bytes(100), "offices.csv", "PDF"),
        (b"\x89PNG\r\n\x1a\n" + bytes(50), "offices.xlsx", "PNG"),
        (bytes(range(256)) * 4, "junk.csv", "二进制"),
        (b"abc,\xff\xff,def\r\n", "junk.csv", "编码"),
        (csv_bytes(HEAD, CHANGAN), "offices.xlsx", "内容不是 XLSX"),
        (b"PK\x03\x04" + bytes(100), "offices.xlsx", "已损坏"),
        (b"", "empty.csv", "文件为空"),
        (b" \r\n", "blank.csv", "文件为空"),
        (csv_bytes(HEAD), "offices.json", "不支持的文件类型"),
    ],
    ids=["xls", "pdf", "png", "binary", "bad-encoding", "csv-named-xlsx", "broken-zip", "empty", "blank", "json"],
)
def test_wrong_files_get_a_clear_error(data: bytes, name: str, needle: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        read_rows(data, name)
    assert needle in only_error(exc)


def test_zip_that_is_not_a_workbook() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(ValidationFailed) as exc:
        read_rows(out.getvalue(), "offices.xlsx")
    assert "xl/workbook.xml" in only_error(exc)


def test_size_and_row_caps(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setattr(importer, "MAX_FILE_BYTES", 1000)
    with pytest.raises(TooLarge, match="文件过大"):
        read_rows(csv_bytes(HEAD, *[CHANGAN] * 20), "big.csv")
    monkeypatch.undo()
    with pytest.raises(ValidationFailed, match="数据行过多"):
        read_rows(csv_bytes(HEAD, CHANGAN, QIAOXI), "two.csv", max_rows=1)
    with pytest.raises(ValidationFailed, match="数据行过多"):
        read_rows(xlsx_bytes(list(HEADER), CHANGAN.split(","), QIAOXI.split(",")), "two.xlsx", max_rows=1)


def test_missing_file_is_not_found(tmp_path: object) -> None:
    with pytest.raises(NotFound, match="无法读取文件"):
        read_rows("/nonexistent/offices.csv")


# -- header -----------------------------------------------------------------------------------------------------


def test_missing_column_is_an_error_naming_it() -> None:
    head = HEAD.replace(",传真号码", "")
    line = CHANGAN.replace(",0311-87654322", "")
    plan = check_rows(read_rows(csv_bytes(head, line), "x.csv"))
    assert [(e.row, e.column) for e in plan.errors] == [(1, "传真号码")]
    assert "缺少必需的列" in plan.errors[0].message
    assert plan.items == []


def test_extra_column_is_ignored_with_a_warning_and_columns_may_be_reordered() -> None:
    head = "备注," + HEAD.replace("区划代码,单位名称", "单位名称,区划代码")
    fields = CHANGAN.split(",")
    fields[0], fields[1] = fields[1], fields[0]
    plan = check_rows(read_rows(csv_bytes(head, "随便写," + ",".join(fields)), "x.csv"))
    assert plan.ok
    assert [(w.row, w.column, w.message) for w in plan.warnings] == [(1, "备注", "未知的列，已忽略")]
    assert plan.items[0].region_code == "130102000000"


def test_duplicate_header_column_is_an_error() -> None:
    plan = check_rows(read_rows(csv_bytes(HEAD + ",电子邮箱", CHANGAN + ",x@example.org"), "x.csv"))
    assert [(e.row, e.column, e.message) for e in plan.errors] == [(1, "电子邮箱", "列名重复")]


# -- rows -------------------------------------------------------------------------------------------------------


def test_every_bad_cell_is_listed_with_excel_row_and_column() -> None:
    bad = CHANGAN.replace("0311-87654321", "12345").replace("050000", "5000")
    rows = [HEAD, QIAOXI, "", bad, QIAOXI.replace("130104000000", "139999999999")]
    plan = check_rows(read_rows(csv_bytes(*rows), "x.csv"))
    assert [(e.row, e.column) for e in plan.errors] == [(4, "联系电话"), (4, "邮政编码"), (5, "区划代码")]
    assert plan.items == []
    assert "第4行“联系电话”列" in str(plan.errors[0])


def test_duplicate_region_code_in_the_file_names_the_first_row() -> None:
    plan = check_rows(read_rows(csv_bytes(HEAD, CHANGAN, QIAOXI, CHANGAN), "x.csv"))
    assert [(e.row, e.column, e.message) for e in plan.errors] == [(4, "区划代码", "区划代码与第2行重复")]


def test_one_liaison_officer_per_province_in_a_file() -> None:
    head = HEAD + ",联络员"
    plan = check_rows(read_rows(csv_bytes(head, CHANGAN + ",是", QIAOXI + ",是"), "x.csv"))
    assert [(e.row, e.column) for e in plan.errors] == [(3, "联络员")]
    plan = check_rows(read_rows(csv_bytes(head, CHANGAN + ",是", QIAOXI + ",否"), "x.csv"))
    assert [d.liaison for d in plan.items] == [True, False]
    plan = check_rows(read_rows(csv_bytes(head, CHANGAN + ",也许"), "x.csv"))
    assert [(e.row, e.column) for e in plan.errors] == [(2, "联络员")]


def test_area_code_mismatch_is_a_warning_only() -> None:
    plan = check_rows(read_rows(csv_bytes(HEAD, CHANGAN.replace("0311-87654321", "010-87654321")), "x.csv"))
    assert plan.ok
    assert [(w.row, w.column) for w in plan.warnings] == [(2, "联系电话")]


def test_province_scope() -> None:
    tianjin = "120101000000,和平区流动人口服务管理中心,王强,主任,022-27654321,,hp@example.org,南京路1号,300041"
    table = read_rows(csv_bytes(HEAD, CHANGAN, tianjin), "x.csv")
    plan = check_rows(table, scope=scope_code("13"))
    assert [(e.row, e.column) for e in plan.errors] == [(3, "区划代码")]
    assert plan.errors[0].message == "不属于河北省"
    assert check_rows(table, scope=scope_code("120000000000")).errors[0].row == 2
    assert check_rows(read_rows(csv_bytes(HEAD, CHANGAN), "x.csv"), scope=scope_code("1301")).ok
    with pytest.raises(NotFound):
        scope_code("99")


def test_control_characters_in_csv_are_errors() -> None:
    plan = check_rows(read_rows(csv_bytes(HEAD, CHANGAN.replace("张伟", "张\x07伟")), "x.csv"))
    assert [(e.row, e.column) for e in plan.errors] == [(2, "联系人")]


# -- XLSX values --------------------------------------------------------------------------------------------------


def test_xlsx_formula_cells_are_errors_never_evaluated_nor_stored() -> None:
    row: list[object] = CHANGAN.split(",")
    row[1] = '=HYPERLINK("http://evil.example","点我")'
    row[3] = "=1+1"
    table = read_rows(xlsx_bytes(list(HEADER), row), "f.xlsx")
    plan = check_rows(table)
    assert [(e.row, e.column) for e in plan.errors] == [(2, "单位名称"), (2, "职务")]
    assert all("公式" in e.message for e in plan.errors)
    assert plan.items == []


def test_short_csv_row_is_an_error_not_blanks() -> None:
    plan = check_rows(read_rows(csv_bytes(HEAD, "130102000000,桥"), "short.csv"))
    assert len(plan.errors) == 1 and plan.errors[0].row == 2
    assert "缺少" in plan.errors[0].message and "联系人" in plan.errors[0].message
    assert plan.items == []


def test_xlsx_numbers_and_blank_rows() -> None:
    row: list[object] = CHANGAN.split(",")
    row[0] = 130102000000
    table = read_rows(xlsx_bytes(list(HEADER), [], row), "n.xlsx")
    assert table.rows[0][0] == 3
    plan = check_rows(table)
    assert plan.ok and plan.items[0].region_code == "130102000000"


# -- injection protection -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["=1+1", "+86 311", "-5", "@SUM(A1)", "\tx", "\rx", "'=x", "'x", "''", "plain", ""])
def test_protect_marks_formula_starts_and_unprotect_restores(value: str) -> None:
    shown = protect(value)
    dangerous = value[:1] in ("=", "+", "-", "@", "\t", "\r", "'")
    assert shown == ("'" + value if dangerous else value)
    assert unprotect(shown) == value


@given(st.text(max_size=20))
def test_protect_round_trips_any_text(value: str) -> None:
    assert unprotect(protect(value)) == value
    assert not protect(value).startswith(("=", "+", "-", "@", "\t", "\r"))


def test_unprotect_leaves_an_apostrophe_that_protects_nothing() -> None:
    assert unprotect("'s Gravenhage") == "'s Gravenhage"


# -- progress -------------------------------------------------------------------------------------------------------


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal_only() -> None:
    tty, pipe = _Tty(), io.StringIO()
    table = read_rows(csv_bytes(HEAD, CHANGAN, QIAOXI), "x.csv")
    for stream in (tty, pipe):
        bar = ProgressBar(stream, "校验")
        check_rows(table, progress=bar)
        bar.close()
    assert tty.getvalue() == "\r校验 [##############################] 2/2\n"
    assert pipe.getvalue() == ""
