"""The character rules of text fields (directory.validate): line breaks, controls, bidirectional and invisible
characters are refused in single-line fields with a message naming the field (and row and column in imports);
bodies keep their line breaks; what scripts need (Mongolian, Indic and Arabic-script joiners, emoji) stays; a
trailing line break from Excel is dropped silently; stored values are made fit by ``clean_line``."""

from __future__ import annotations

import pytest

from directory import regions
from directory.exchange.importer import check_rows, read_rows
from directory.exchange.table import HEADER
from directory.textrules import clean_line, first_bad_character, text_error
from directory.validate import clean_office

KNOWN = {d.code: d for d in regions.divisions()}
NAME = "长安区流动人口服务管理中心"

REFUSED = {
    "LF": "\n",
    "CR": "\r",
    "VT": "\x0b",
    "NEL": "\x85",
    "LINE SEPARATOR": "\u2028",
    "PARAGRAPH SEPARATOR": "\u2029",
    "NUL": "\x00",
    "TAB": "\t",
    "DEL": "\x7f",
    "C1 CSI": "\x9b",
    "RLO": "\u202e",
    "LRE": "\u202a",
    "RLI": "\u2067",
    "PDI": "\u2069",
    "RLM": "\u200f",
    "ALM": "\u061c",
    "ZWSP": "\u200b",
    "BOM": "\ufeff",
    "WORD JOINER": "\u2060",
    "SOFT HYPHEN": "\u00ad",
    "TAG": "\U000e0041",
    "lone surrogate": "\ud800",
    "noncharacter": "\ufffe",
    "plane noncharacter": "\U0001ffff",
    "HANGUL FILLER": "\u3164",
    "CGJ": "\u034f",
}


def _raw(**kw: str) -> dict[str, str]:
    return {"region_code": "130102000000", "unit_name": NAME, "phone": "0311-87654321", **kw}


@pytest.mark.parametrize("char", REFUSED.values(), ids=REFUSED.keys())
@pytest.mark.parametrize(("field", "label"), [("unit_name", "单位名称"), ("contact_name", "联系人"),
                                              ("position", "职务"), ("address", "工作地址")])  # fmt: skip
def test_single_line_fields_refuse_breaks_controls_bidi_and_invisible_characters(
    field: str, label: str, char: str
) -> None:
    value = f"石家庄{char}办公室"
    cleaned = clean_office(_raw(**{field: value}), known_region=KNOWN, row=5)
    assert cleaned.data is None
    (err,) = [e for e in cleaned.errors if e.field == field]
    assert err.row == 5 and err.column == label
    assert err.message.startswith(f"{label}含有不允许的") and f"U+{ord(char):04X}" in err.message
    assert err.value is not None and char not in err.value  # shown escaped, never raw


@pytest.mark.parametrize(
    "value",
    [
        "ᠮᠣᠩᠭᠣᠯ ᠤᠯᠤᠰ",  # Mongolian
        "ᠭ᠋ᠠ ᠨ᠌ᠠ ᠳ᠍ᠠ",  # free variation selectors U+180B–U+180D
        "ᠬᠠᠷ\u180eᠠ",  # Mongolian vowel separator between Mongolian letters
        "ᠬᠣᠲᠠ\u202fᠶᠢᠨ",  # narrow no-break space before a Mongolian suffix
        "क्\u200dष",  # ZWJ in Devanagari
        "می\u200cخواهم",  # ZWNJ in Persian
        "👨\u200d👩\u200d👧",  # an emoji ZWJ sequence
        "❤\ufe0f\u200d🔥",  # variation selector before a ZWJ
        "\ue000记办公室",  # private use: rare characters of names
        "𠀀𪚥办公室",  # CJK extension B
        "石家庄市\u3000流动人口办公室",  # ideographic space
    ],
)
def test_what_scripts_need_stays(value: str) -> None:
    cleaned = clean_office(_raw(unit_name=value), known_region=KNOWN)
    assert cleaned.data is not None, cleaned.errors
    assert cleaned.data.unit_name == value


@pytest.mark.parametrize(
    "value",
    ["国务\u200d院", "国务院\u200c办公厅", "Office\u200dA", "\u200dक", "क\u200d", "石家庄\u180eᠠ", "ᠠ\u180e"],
)
def test_joiners_outside_the_scripts_that_need_them_are_refused(value: str) -> None:
    assert first_bad_character(value) is not None


def test_a_trailing_line_break_from_excel_is_dropped_silently() -> None:
    cleaned = clean_office(_raw(unit_name=f"\r\n {NAME}\r\n", address="中华南大街1号\n"), known_region=KNOWN)
    assert cleaned.data is not None and not cleaned.errors
    assert (cleaned.data.unit_name, cleaned.data.address) == (NAME, "中华南大街1号")


def test_an_import_names_row_and_column_of_a_cell_typed_with_alt_enter() -> None:
    header = ",".join(HEADER)
    rows = [f"130102000000,{NAME},张三,科长,0311-87654321,,a@example.org,\"中华南大街\n1号\",050000",
            "130104000000,\"桥西区\u202e流动人口\",李四,,0311-87654322,,,,"]  # fmt: skip
    plan = check_rows(read_rows(("\r\n".join([header, *rows]) + "\r\n").encode(), "offices.csv"), KNOWN)
    assert not plan.items
    assert [(e.row, e.column) for e in plan.errors] == [(2, "工作地址"), (3, "单位名称")]
    assert "U+000A" in plan.errors[0].message and "只能填写一行" in plan.errors[0].message
    assert "双向文本控制字符 U+202E" in plan.errors[1].message


@pytest.mark.parametrize("char", ["\n", "\r\n", "\t", "\u2028", "\u2029", "\u200b", "\u200f", "\u200d"])
def test_multi_line_fields_keep_line_breaks(char: str) -> None:
    assert text_error("body", "正文", f"第一段{char}第二段", multiline=True) is None


@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\x00", "\x1b", "\ud800", "\uffff"])
def test_multi_line_fields_refuse_overrides_controls_and_surrogates(char: str) -> None:
    err = text_error("body", "正文", f"第一段\n{char}第二段", multiline=True)
    assert err is not None and err.field == "body" and "正文含有不允许的" in err.message
    assert f"U+{ord(char):04X}" in err.message


@pytest.mark.parametrize(
    ("stored", "cleaned"),
    [
        ("石家庄市\n流动人口服务管理办公室", "石家庄市 流动人口服务管理办公室"),
        ("石家庄市 \r\n\r\n 办公室\t", "石家庄市 办公室"),
        ("国务院\u202e办公厅\u200b", "国务院办公厅"),
        ("a\u2028b\u2029c\x85d", "a b c d"),
        ("\ufeff石家庄\x00市\ud800", "石家庄市"),
        ("ᠬᠠᠷ\u180eᠠ क्\u200dष", "ᠬᠠᠷ\u180eᠠ क्\u200dष"),
        ("ا\u200b\u200dب", "اب"),  # the joiner's neighbour was invisible: both go
    ],
)
def test_clean_line_makes_stored_values_fit(stored: str, cleaned: str) -> None:
    assert clean_line(stored) == cleaned
    assert first_bad_character(clean_line(stored)) is None
