"""Distinguished names (RFC 4514): parsing with escapes and normalisation for lookups.

Owns: ``normalize_dn`` — attribute names mapped to their canonical key, values unescaped and prepared like the
attribute's equality rule, so ``UID=130102000000, OU=…`` finds the same entry as the DN the server returned.
"""

from __future__ import annotations

from directory.ldap import schema
from directory.ldap.filters import prepare


class DnError(ValueError):
    """A DN that does not follow RFC 4514."""


def _split(text: str, sep: str) -> list[str]:
    if "\\" not in text:
        return text.split(sep)
    parts, current, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            current.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value
    out = bytearray()
    i = 0
    while i < len(value):
        ch = value[i]
        if ch != "\\":
            out += ch.encode("utf-8")
            i += 1
            continue
        pair = value[i + 1 : i + 3]
        if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
            out.append(int(pair, 16))
            i += 3
        elif i + 1 < len(value):
            out += value[i + 1].encode("utf-8")
            i += 2
        else:
            raise DnError("DN ends with a lone backslash")
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DnError("escaped DN value is not UTF-8") from exc


def _escape(value: str) -> str:
    if value.isalnum():
        return value
    return "".join("\\" + ch if ch in ',+="\\<>;' else ch for ch in value)


def _ava(text: str) -> str:
    name, eq, value = text.partition("=")
    name = name.strip()
    if not eq or not name or not all(c.isalnum() or c in "-." for c in name):
        raise DnError(f"bad attribute in RDN {text!r}")
    at = schema.lookup(name)
    key = at.key if at else name.lower()
    raw = value.strip()
    if raw.startswith("#"):
        prepared = raw.lower()
    else:
        unescaped = _unescape(raw)
        prepared = prepare(at.kind, unescaped) if at else unescaped.casefold().strip()
    return f"{key}={_escape(prepared)}"


def normalize_dn(dn: str) -> str:
    """Canonical form of a DN for lookups; raises DnError for a syntactically bad DN."""
    if not dn.strip():
        return ""
    rdns = []
    for rdn in _split(dn, ","):
        if not rdn.strip():
            raise DnError("empty RDN")
        rdns.append("+".join(sorted(_ava(a) for a in _split(rdn, "+"))))
    return ",".join(rdns)


def parent_dn(normalized: str) -> str:
    parts = _split(normalized, ",")
    return ",".join(parts[1:])
