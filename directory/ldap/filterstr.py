"""RFC 4515 filter strings → filter trees, for tests, benchmarks and tools that talk to the server.

Owns: ``parse_filter("(|(cn=*v*)(mail=v*))")`` with escapes (``\\2a``), every filter type including extensible
match (``attr:rule:=value``, ``:dn``). Raises ``ValueError`` naming the position of a syntax error.
"""

from __future__ import annotations

from directory.ldap.filtertree import And, Compare, Extensible, Filter, Not, Or, Present, Substrings


def _unescape(raw: str) -> str:
    out = bytearray()
    i = 0
    data = raw.encode("utf-8")
    while i < len(data):
        if data[i] == 0x5C:
            try:
                out.append(int(data[i + 1 : i + 3].decode("ascii"), 16))
            except ValueError as exc:
                raise ValueError(f"bad escape in {raw!r}") from exc
            i += 3
        else:
            out.append(data[i])
            i += 1
    return out.decode("utf-8", "replace")


def parse_filter(text: str) -> Filter:
    s = text.strip()
    if not s.startswith("("):
        s = f"({s})"
    f, pos = _parse(s, 0)
    if pos != len(s):
        raise ValueError(f"trailing characters at {pos} in {text!r}")
    return f


def _parse(s: str, i: int) -> tuple[Filter, int]:
    if i >= len(s) or s[i] != "(":
        raise ValueError(f"expected '(' at {i} in {s!r}")
    i += 1
    if i < len(s) and s[i] in "&|":
        op, i = s[i], i + 1
        items = []
        while i < len(s) and s[i] == "(":
            item, i = _parse(s, i)
            items.append(item)
        if not items or i >= len(s) or s[i] != ")":
            raise ValueError(f"bad and/or at {i} in {s!r}")
        return (And(tuple(items)) if op == "&" else Or(tuple(items))), i + 1
    if i < len(s) and s[i] == "!":
        item, i = _parse(s, i + 1)
        if i >= len(s) or s[i] != ")":
            raise ValueError(f"expected ')' at {i} in {s!r}")
        return Not(item), i + 1
    end = s.find(")", i)
    if end < 0:
        raise ValueError(f"unclosed item at {i} in {s!r}")
    return _item(s[i:end]), end + 1


def _item(item: str) -> Filter:
    for op in ("~=", ">=", "<=", ":="):
        attr, found, value = item.partition(op)
        if found and "=" not in attr:
            if op == ":=":
                return _extensible(attr, _unescape(value))
            return Compare(op, attr, _unescape(value))
    attr, found, raw = item.partition("=")
    if not found or not attr:
        raise ValueError(f"bad filter item {item!r}")
    if raw == "*":
        return Present(attr)
    if "*" not in raw:
        return Compare("=", attr, _unescape(raw))
    pieces = raw.split("*")
    initial = _unescape(pieces[0]) if pieces[0] else None
    final = _unescape(pieces[-1]) if pieces[-1] else None
    return Substrings(attr, initial, tuple(_unescape(p) for p in pieces[1:-1] if p), final)


def _extensible(spec: str, value: str) -> Extensible:
    parts = spec.split(":")
    dn = "dn" in (p.lower() for p in parts[1:])
    rest = [p for p in parts[1:] if p.lower() != "dn"]
    return Extensible(rest[0] if rest else None, parts[0] or None, value, dn)
