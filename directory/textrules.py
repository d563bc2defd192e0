"""The character rules of every text field: what a single-line and a multi-line field may contain.

Owns: :func:`text_error` (also used by letters and meetings), :func:`first_bad_character`, :func:`visible` and
:func:`clean_line` (for stored values and mail headers), and the character tables behind them.

A *single-line* field (office names, positions, addresses, contact names, letter subjects, meeting
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

import re
import unicodedata

from directory.errors import FieldError

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
