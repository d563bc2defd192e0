"""Validation and normalisation of office data (phone and fax, postal code, e-mail, region, unit name).

Owns: the rules every entry path shares (import, web forms, API): one function, ``clean_office``, turns raw text
into an ``OfficeData`` plus field errors (nothing is stored) and warnings (stored anyway). Messages are zh-CN.
Phones are stored as E.164 (``+8631187654321``, extension as ``;ext=8001``) and shown in the national form
(``0311-87654321``, ``0311-87654321-8001``).

The character rules of every text field are :mod:`directory.textrules`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import phonenumbers

from directory import buildcaches
from directory.errors import FieldError, label_fields
from directory.models import OFFICE_FIELDS
from directory.textrules import text_error

FIELD_LABELS: dict[str, str] = {
    "region_code": "区划代码",
    **dict(OFFICE_FIELDS),
    "liaison": "联络员",
    "phone_public": "公开工作号码",
}
label_fields(FIELD_LABELS)
MAX_LENGTHS: dict[str, int] = {
    "unit_name": 200,
    "contact_name": 100,
    "position": 100,
    "phone": 60,
    "fax": 60,
    "email": 254,
    "address": 300,
    "postal_code": 6,
}

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL_RE = re.compile(rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{_LABEL}(?:\.{_LABEL})+$")
_EXT_RE = re.compile(r"^(?P<main>.*\d)\s*(?:-|转|分机|ext\.?|x|#)\s*(?P<ext>\d{1,6})$", re.IGNORECASE)


@dataclass(frozen=True)
class OfficeData:
    """One office's values, validated and normalised (phones in E.164)."""

    region_code: str
    unit_name: str
    contact_name: str = ""
    position: str = ""
    phone: str = ""
    fax: str = ""
    email: str = ""
    address: str = ""
    postal_code: str = ""
    liaison: bool | None = None  # None: leave the flag as it is
    phone_public: bool | None = None  # the mobile is a public work number; None: leave the mark as it is

    def fields(self) -> dict[str, str]:
        return {name: getattr(self, name) for name, _ in OFFICE_FIELDS}


@dataclass
class Cleaned:
    data: OfficeData | None
    errors: list[FieldError] = field(default_factory=list)
    warnings: list[FieldError] = field(default_factory=list)


def parse_phone(text: str) -> phonenumbers.PhoneNumber | None:
    """Parse a Chinese landline or mobile number in any common form; None if it is not a valid number."""
    t = text.strip().replace("（", "(").replace("）", ")").replace("－", "-").replace("—", "-")
    if not t:
        return None
    candidates = [t]
    m = _EXT_RE.match(t)
    if m:
        candidates.append(f"{m['main']} ext. {m['ext']}")
    for cand in candidates:
        try:
            num = phonenumbers.parse(cand, "CN")
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(num):
            return num
    return None


def to_e164(num: phonenumbers.PhoneNumber) -> str:
    e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    return f"{e164};ext={num.extension}" if num.extension else e164


def from_stored(stored: str) -> phonenumbers.PhoneNumber | None:
    if not stored:
        return None
    main, _, ext = stored.partition(";ext=")
    try:
        num = phonenumbers.parse(main, None)
    except phonenumbers.NumberParseException:
        return None
    if ext:
        num.extension = ext
    return num


def area_code_of(num: phonenumbers.PhoneNumber) -> str | None:
    """'0311' for a Shijiazhuang landline, None for a mobile or a foreign number."""
    if num.country_code != 86:
        return None
    n = str(num.national_number)
    length = phonenumbers.length_of_geographical_area_code(num)
    return "0" + n[:length] if length else None


@buildcaches.cache(maxsize=262144)
def display_phone(stored: str) -> str:
    """The familiar national form: ``0311-87654321``, ``13800138000``, ``0311-87654321-8001``."""
    num = from_stored(stored)
    if num is None:
        return stored
    if num.country_code != 86:
        return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    n = str(num.national_number)
    area = area_code_of(num)
    text = f"{area}-{n[len(area) - 1 :]}" if area else n
    return f"{text}-{num.extension}" if num.extension else text


@buildcaches.cache(maxsize=262144)
def phone_digits(stored: str) -> tuple[str, ...]:
    """Digit strings a user may type for this number: national (with 0), without 0, and with 86 (cached)."""
    num = from_stored(stored)
    if num is None:
        return ()
    n = str(num.national_number)
    return ("0" + n, n, f"86{n}") if area_code_of(num) else (n, f"86{n}")


def _clean_text(raw: Mapping[str, object], name: str, errors: list[FieldError], where: dict[str, object]) -> str:
    value = raw.get(name)
    text = "" if value is None else str(value)
    text = text.strip()
    row = where.get("row")
    bad = text_error(name, FIELD_LABELS.get(name, name), text, row=row if isinstance(row, int) else None)
    if bad is not None:
        errors.append(bad)
    if len(text) > MAX_LENGTHS.get(name, 1000):
        errors.append(_err(name, f"过长（最多{MAX_LENGTHS[name]}个字符）", text[:40] + "…", where))
    return text


def _err(name: str, message: str, value: str, where: Mapping[str, object]) -> FieldError:
    row = where.get("row")
    return FieldError(
        field=name,
        message=message,
        row=row if isinstance(row, int) else None,
        column=FIELD_LABELS.get(name, name) if row is not None else None,
        value=value,
    )


def clean_phone(name: str, text: str, errors: list[FieldError], where: Mapping[str, object]) -> str:
    return _clean_phone(name, text, errors, where)[0]


def _clean_phone(
    name: str, text: str, errors: list[FieldError], where: Mapping[str, object]
) -> tuple[str, phonenumbers.PhoneNumber | None]:
    """The stored (E.164) form and the parsed number, so callers need not parse it again."""
    if not text:
        return "", None
    num = parse_phone(text)
    if num is None:
        label = FIELD_LABELS[name]
        errors.append(_err(name, f"{label}无法识别，应为带区号的固定电话（如 0311-87654321）或手机号码", text, where))
        return "", None
    return to_e164(num), num


def _first_per_field(errors: list[FieldError]) -> list[FieldError]:
    """One error per cell: the first found (e.g. "too long" wins over "not 6 digits" for the same value)."""
    seen: set[str] = set()
    out = []
    for err in errors:
        if err.field not in seen:
            seen.add(err.field)
            out.append(err)
    return out


def parse_liaison(text: str) -> bool | None:
    t = text.strip().lower()
    if t in {"是", "y", "yes", "1", "true", "√"}:
        return True
    if t in {"否", "n", "no", "0", "false", ""}:
        return False if t else None
    raise ValueError(t)


def clean_office(
    raw: Mapping[str, object],
    *,
    known_region: Mapping[str, object] | None = None,
    area_code_for: Mapping[str, str] | None = None,
    row: int | None = None,
) -> Cleaned:
    """Validate one office's raw values (keys: region_code and the eight field names, optional liaison).

    ``known_region`` is any mapping whose keys are the existing 12-digit region codes; ``area_code_for`` maps a
    region code to its city's area code, for the (warning-only) consistency check.
    """
    from directory.regions import normalize_code

    where: dict[str, object] = {"row": row}
    errors: list[FieldError] = []
    warnings: list[FieldError] = []
    code_text = _clean_text(raw, "region_code", errors, where)
    code = normalize_code(code_text)
    if not code_text:
        errors.append(_err("region_code", "区划代码不能为空", code_text, where))
    elif code is None:
        errors.append(_err("region_code", "区划代码应为12位数字（或2/4/6/9位简写）", code_text, where))
    elif known_region is not None and code not in known_region:
        errors.append(_err("region_code", "区划代码不存在于行政区划表", code_text, where))
    texts = {name: _clean_text(raw, name, errors, where) for name, _ in OFFICE_FIELDS}
    if not texts["unit_name"]:
        errors.append(_err("unit_name", "单位名称不能为空", "", where))
    phone, phone_num = _clean_phone("phone", texts["phone"], errors, where)
    fax, fax_num = _clean_phone("fax", texts["fax"], errors, where)
    email = texts["email"]
    if email and not _EMAIL_RE.match(email):
        errors.append(_err("email", "电子邮箱格式不正确", email, where))
    postal = texts["postal_code"]
    if postal and not (len(postal) == 6 and postal.isdigit() and postal.isascii()):
        errors.append(_err("postal_code", "邮政编码应为6位数字", postal, where))
    liaison: bool | None = None
    if "liaison" in raw and raw.get("liaison") is not None:
        try:
            liaison = parse_liaison(str(raw.get("liaison")))
        except ValueError:
            errors.append(_err("liaison", "联络员一列只能填“是”或“否”", str(raw.get("liaison")), where))
    phone_public: bool | None = None
    if "phone_public" in raw and raw.get("phone_public") is not None:
        try:
            phone_public = parse_liaison(str(raw.get("phone_public")))
        except ValueError:
            text = str(raw.get("phone_public"))
            errors.append(_err("phone_public", "公开工作号码一列只能填“是”或“否”", text, where))
    if code and area_code_for is not None and code in area_code_for:
        expected = area_code_for[code]
        for name, num in (("phone", phone_num), ("fax", fax_num)):
            got = area_code_of(num) if num is not None else None
            if got and got != expected:
                warnings.append(_err(name, f"区号 {got} 与所在城市区号 {expected} 不一致", texts[name], where))
    if errors:
        return Cleaned(None, _first_per_field(errors), warnings)
    assert code is not None
    data = OfficeData(
        region_code=code,
        unit_name=texts["unit_name"],
        contact_name=texts["contact_name"],
        position=texts["position"],
        phone=phone,
        fax=fax,
        email=email.lower() if email.isascii() else email,
        address=texts["address"],
        postal_code=postal,
        liaison=liaison,
        phone_public=phone_public,
    )
    return Cleaned(data, errors, warnings)
