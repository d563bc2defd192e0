"""Validation of office values: phones (E.164 stored, national form shown), postal code, e-mail, region, name."""

from __future__ import annotations

import pytest

from directory import regions
from directory.validate import clean_office, display_phone, parse_phone, phone_digits, to_e164

KNOWN = {d.code: d for d in regions.divisions()}


@pytest.mark.parametrize(
    ("text", "stored", "shown"),
    [
        ("0311-87654321", "+8631187654321", "0311-87654321"),
        ("031187654321", "+8631187654321", "0311-87654321"),
        ("+86 311 8765 4321", "+8631187654321", "0311-87654321"),
        ("(0311)87654321", "+8631187654321", "0311-87654321"),
        ("010-62345678", "+861062345678", "010-62345678"),
        ("13800138000", "+8613800138000", "13800138000"),
        ("0311-87654321-8001", "+8631187654321;ext=8001", "0311-87654321-8001"),
        ("0311-87654321转8001", "+8631187654321;ext=8001", "0311-87654321-8001"),
    ],
)
def test_phone_forms(text: str, stored: str, shown: str) -> None:
    num = parse_phone(text)
    assert num is not None
    assert to_e164(num) == stored
    assert display_phone(stored) == shown
    assert parse_phone(shown) is not None and to_e164(parse_phone(shown)) == stored  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["87654321", "12345", "abc", "0311-123"])
def test_bad_phones(text: str) -> None:
    assert parse_phone(text) is None


def test_phone_digits_forms() -> None:
    assert phone_digits("+8631187654321") == ("031187654321", "31187654321", "8631187654321")


def _raw(**kw: str) -> dict[str, str]:
    base = {"region_code": "130102000000", "unit_name": "长安区流动人口服务管理中心", "phone": "0311-87654321"}
    base.update(kw)
    return base


def test_clean_office_normalises() -> None:
    c = clean_office(_raw(email="Office@Example.ORG", postal_code="050000", region_code="130102"), known_region=KNOWN)
    assert not c.errors
    assert c.data is not None
    assert c.data.region_code == "130102000000"
    assert c.data.phone == "+8631187654321"
    assert c.data.email == "office@example.org"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("region_code", "999999999999", "不存在"),
        ("region_code", "13x", "12位数字"),
        ("unit_name", "", "不能为空"),
        ("phone", "12345", "无法识别"),
        ("fax", "fax me", "无法识别"),
        ("email", "not-an-email", "格式不正确"),
        ("postal_code", "05000", "6位数字"),
        ("address", "x" * 301, "过长"),
    ],
)
def test_each_bad_field_has_a_message(field: str, value: str, message: str) -> None:
    c = clean_office(_raw(**{field: value}), known_region=KNOWN, row=7)
    assert c.data is None
    assert any(e.field == field and message in e.message for e in c.errors), c.errors
    err = next(e for e in c.errors if e.field == field)
    assert err.row == 7 and err.column
    assert "第7行" in str(err)


def test_area_code_mismatch_is_a_warning_only() -> None:
    area = {"130102000000": "0311"}
    c = clean_office(_raw(phone="010-62345678"), known_region=KNOWN, area_code_for=area)
    assert c.data is not None
    assert [w.field for w in c.warnings] == ["phone"]
    assert "0311" in c.warnings[0].message


def test_liaison_column() -> None:
    assert clean_office(_raw(liaison="是"), known_region=KNOWN).data.liaison is True  # type: ignore[union-attr]
    assert clean_office(_raw(liaison="否"), known_region=KNOWN).data.liaison is False  # type: ignore[union-attr]
    assert clean_office(_raw(liaison="也许"), known_region=KNOWN).errors


def test_one_error_per_cell() -> None:
    from directory.validate import clean_office

    cleaned = clean_office(
        {"region_code": "130102000000", "unit_name": "x", "postal_code": "0500001", "phone": "1" * 70}, row=7
    )
    assert [(e.row, e.column, e.message) for e in cleaned.errors] == [
        (7, "联系电话", "过长（最多60个字符）"),
        (7, "邮政编码", "过长（最多6个字符）"),
    ]
