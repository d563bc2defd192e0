"""Validation and normalisation of office data (phone and fax, postal code, e-mail, region, unit name) and the
character rules of every text field.

Owns: the rules every entry path shares (import, web forms, API): one function, ``clean_office``, turns raw text
into an ``OfficeData`` plus field errors (nothing is stored) and warnings (stored anyway). Messages are zh-CN.
Phones are stored as E.164 (``+8631187654321``, extension as ``;ext=8001``) and shown in the national form
(``0311-87654321``, ``0311-87654321-8001``).

Text fields (:func:`text_error`, also used by letters and meetings; :func:`clean_line` for stored values and
mail headers). A *single-line* field (office names, positions, addresses, contact names, letter subjects, meeting
titles and places, file names) may not contain:

- line breaks: CR, LF, VT, FF, NEL (U+0085), U+2028, U+2029 — they end a mail header (header injection, or a
  ``ValueError`` that stopped whole outbox rounds), and an Excel cell typed with Alt+Enter carries one;
- any other control character (Unicode category Cc: C0, DEL, C1), TAB included;
- lone surrogates (Cs; they cannot be stored as UTF-8) and noncharacters (U+FDD0–U+FDEF, U+xxFFFE/U+xxFFFF);
- format characters (Cf): bidirectional embeddings, overrides, isolates and marks (U+202A–U+202E,
  U+2066–U+2069, U+200E/U+200F, U+061C), zero-width space/no-break space (U+200B, U+FEFF), word joiner and
  invisible operators (U+2060–U+2064), soft hyphen, tags, …, with two exceptions that scripts need:
  ZWNJ/ZWJ (U+200C/U+200D) between two letters, marks or symbols of which neither is ASCII nor CJK (Han,
  kana, Hangul, full-width forms) — Arabic-script, Indic and Mongolian joining, emoji sequences — and the
  Mongolian vowel separator U+180E between two Mongolian characters (U+1800–U+18AF);
- the invisible fillers U+034F, U+115F, U+1160, U+3164 and U+FFA0 (not Cf, but blank lookalikes).

Kept: every letter, mark (so Mongolian free variation selectors U+180B–U+180D/U+180F and all variation
selectors), number, punctuation, symbol and space separator (NBSP, U+3000, Mongolian's U+202F), private-use
characters (rare characters of Chinese names still live there) and code points unassigned in Python's Unicode
tables (newer CJK extensions). A *multi-line* field (letter bodies, meeting agendas and notes) keeps TAB, CR, LF,
U+2028 and U+2029 and all format characters except the bidirectional embeddings, overrides and isolates
(U+202A–U+202E, U+2066–U+2069), which can make a text display in an order other than it reads.

Refuse or normalise: leading and trailing white space, line breaks included (a cell ending in Alt+Enter), is
removed silently — it is invisible and nothing is lost. Everything else above is refused with a message naming
the field (and, in imports, the row and column): whether a break inside a name stood for a space or for nothing,
or whether a zero-width character was a typing slip or a lookalike, cannot be known, and a value that appears as
a mail's sender must not change without its editor seeing it. Only values already stored are normalised, by
:func:`clean_line` (migration 0002, reported per office) and when a header is built from them.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

import phonenumbers

from directory.errors import FieldError
from directory.models import OFFICE_FIELDS

FIELD_LABELS: dict[str, str] = {"region_code": "区划代码", **dict(OFFICE_FIELDS), "liaison": "联络员"}
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
LINE_BREAKS = "\n\r\x0b\x0c\x85\u2028\u2029"
MULTILINE_KEEPS = "\t\n\r\u2028\u2029"
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_BIDI_MARKS = frozenset("\u200e\u200f\u061c")
_FILLERS = frozenset("\u034f\u115f\u1160\u3164\uffa0")
_FILLER_RE = re.compile("[" + "".join(sorted(_FILLERS)) + "]")
_JOINERS = frozenset("\u200c\u200d")
_MVS = "\u180e"
# Hangul jamo, Han (with CJK symbols, kana, Bopomofo), Hangul, compatibility ideographs, CJK and full-width forms.
_CJK_RANGES = ((0x1100, 0x11FF), (0x2E80, 0x9FFF), (0xAC00, 0xD7AF), (0xF900, 0xFAFF), (0xFE30, 0xFE4F),
               (0xFF00, 0xFFEF), (0x20000, 0x3FFFF))  # fmt: skip
_LINE_RUN_RE = re.compile(r"\s*(?:\r\n|[\n\r\x0b\x0c\x85\u2028\u2029\t])\s*")


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


@functools.lru_cache(maxsize=262144)
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


@functools.lru_cache(maxsize=262144)
def phone_digits(stored: str) -> tuple[str, ...]:
    """Digit strings a user may type for this number: national (with 0), without 0, and with 86 (cached)."""
    num = from_stored(stored)
    if num is None:
        return ()
    n = str(num.national_number)
    return ("0" + n, n, f"86{n}") if area_code_of(num) else (n, f"86{n}")


# -- text fields (rules in the module docstring) -----------------------------------------------------------------


def _joins(before: str, after: str) -> bool:
    """ZWNJ/ZWJ between these two characters serve a script (not ASCII, not CJK; letters, marks or symbols)."""
    for c in (before, after):
        cp = ord(c)
        if cp < 0x80 or any(lo <= cp <= hi for lo, hi in _CJK_RANGES):
            return False
        if unicodedata.category(c)[0] not in "LMS":
            return False
    return True


def _mongolian(c: str) -> bool:
    return 0x1800 <= ord(c) <= 0x18AF


def _noncharacter(cp: int) -> bool:
    return 0xFDD0 <= cp <= 0xFDEF or cp & 0xFFFE == 0xFFFE


def _what(text: str, i: int, multiline: bool) -> str | None:
    """What makes ``text[i]`` unfit for the field (zh-CN), or None when it may stay."""
    c = text[i]
    if multiline and c in MULTILINE_KEEPS:
        return None
    category = unicodedata.category(c)
    if c in LINE_BREAKS:
        return "控制字符" if category == "Cc" else "换行符"
    if category == "Cc":
        return "控制字符"
    if category == "Cs":
        return "代理码位（无效字符）"
    if _noncharacter(ord(c)):
        return "非字符码位"
    if c in _BIDI_CONTROLS:
        return "双向文本控制字符"
    if multiline:
        return None
    if c in _BIDI_MARKS:
        return "双向文本标记"
    if category == "Cf":
        before, after = text[i - 1 : i], text[i + 1 : i + 2]
        if before and after and c in _JOINERS and _joins(before, after):
            return None
        if before and after and c == _MVS and _mongolian(before) and _mongolian(after):
            return None
        return "不可见的格式字符"
    if c in _FILLERS:
        return "不可见的填充字符"
    return None


def first_bad_character(text: str, *, multiline: bool = False) -> tuple[int, str] | None:
    """Index and zh-CN kind of the first character the text rules refuse, or None."""
    if text.isprintable() and not _FILLER_RE.search(text):  # fast path: no Cc, Cf, Cs, Zl, Zp, Cn, Co at all
        return None
    for i in range(len(text)):
        what = _what(text, i, multiline)
        if what is not None:
            return i, what
    return None


def text_error(
    name: str, label: str, text: str, *, multiline: bool = False, row: int | None = None
) -> FieldError | None:
    """The field error for the first character of ``text`` the rules refuse, naming the field; None if clean."""
    found = first_bad_character(text, multiline=multiline)
    if found is None:
        return None
    index, what = found
    hint = "（换行、回车、NUL 等）" if what == "控制字符" else ""
    if text[index] in LINE_BREAKS and not multiline:
        hint = "（只能填写一行，请删除换行）"
    message = f"{label}含有不允许的{what} U+{ord(text[index]):04X}{hint}"
    return FieldError(name, message, row=row, column=label if row is not None else None, value=visible(text)[:80])


def visible(text: str, *, multiline: bool = False) -> str:
    """``text`` with each refused character written as its escape (``\\n``, ``\\u202e``), for error messages."""
    return "".join(
        c if _what(text, i, multiline) is None else c.encode("unicode_escape").decode("ascii")
        for i, c in enumerate(text)
    )


def clean_line(text: str) -> str:
    """``text`` made fit for a single-line field: each run of line breaks or tabs (with the white space around
    it) becomes one space, every other refused character is dropped, and the ends are stripped."""
    text = _LINE_RUN_RE.sub(" ", text)
    kept = [c for i, c in enumerate(text) if _what(text, i, False) is None]
    out = "".join(kept)
    while (found := first_bad_character(out)) is not None:  # dropping one may strand a joiner
        out = out[: found[0]] + out[found[0] + 1 :]
    return out.strip()


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
    )
    return Cleaned(data, errors, warnings)
