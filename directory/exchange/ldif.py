"""LDIF export (RFC 2849) of the DIT entries built by ``directory.dit``.

Owns: the LDIF text form only — ``dn``/attribute lines with base64 (``::``) for values that are not
SAFE-STRINGs (non-ASCII, leading space/colon/``<``, trailing space, CR/LF/NUL), lines folded at 76 octets, one blank
line between entries. OpenLDAP's ``slapadd`` loads the result. There is no ``version: 1`` line: slapadd (2.5) rejects
it in either position RFC 2849 allows ("entry -1 has no dn" / "str2ad(version): attribute type undefined"), and
slapcat does not write one; ldapadd, python-ldap and ldap3 read LDIF without it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator

from directory.dit import Entry

LINE_WIDTH = 76


def is_safe(value: str) -> bool:
    """RFC 2849 SAFE-STRING (plus: no trailing space, which some tools strip)."""
    if not value:
        return True
    if not value.isascii() or value[0] in " :<" or value.endswith(" "):
        return False
    return not any(ch in value for ch in "\x00\r\n")


def attr_line(name: str, value: str) -> str:
    if is_safe(value):
        return f"{name}: {value}"
    return f"{name}:: {base64.b64encode(value.encode('utf-8')).decode('ascii')}"


def fold(line: str, width: int = LINE_WIDTH) -> Iterator[str]:
    """Split a (pure ASCII) line into the first ``width`` chars and continuations starting with one space."""
    yield line[:width]
    rest = line[width:]
    while rest:
        yield " " + rest[: width - 1]
        rest = rest[width - 1 :]


def entry_lines(entry: Entry) -> Iterator[str]:
    yield from fold(attr_line("dn", entry.dn))
    for name, values in entry.attrs.items():
        for value in values:
            yield from fold(attr_line(name, value))


def render(entries: Iterable[Entry]) -> Iterator[str]:
    """The LDIF text in chunks, one per entry, separated by blank lines."""
    separator = ""
    for entry in entries:
        yield separator + "\n".join(entry_lines(entry)) + "\n"
        separator = "\n"
