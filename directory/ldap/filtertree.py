"""The LDAP search filter tree (RFC 4511 section 4.5.1) and its decoder.

Owns: the filter dataclasses (``And`` … ``Extensible``, ``Filter``), ``decode_filter`` with its element budget
(``Terms``) and the search-request limits the decoder honours (``DecodeLimits``), plus the two small BER readers the
request decoders share (``fixed_elements``, ``assertion_text``). No directory knowledge.
"""

from __future__ import annotations

from directory.ldap.ber import BerError, LimitExceeded, children, dec_bool, dec_str
from directory.ldap.record import record

MAX_FILTER_DEPTH = 64


@record
class DecodeLimits:
    """How much of a search request the decoder reads (``[ldap]`` settings). A search over a limit is not decoded
    further and is answered with adminLimitExceeded, so an oversized filter costs no more than an allowed one."""

    filter_bytes: int = 65536
    filter_terms: int = 256  # filter elements: and/or/not, each assertion, each piece of a substring assertion
    attributes: int = 256  # attribute selectors of one search


DEFAULT_LIMITS = DecodeLimits()


@record
class And:
    items: tuple[Filter, ...]


@record
class Or:
    items: tuple[Filter, ...]


@record
class Not:
    item: Filter


@record
class Compare:
    """equalityMatch, greaterOrEqual, lessOrEqual and approxMatch: ``op`` is one of ``= >= <= ~=``."""

    op: str
    attr: str
    value: str


@record
class Substrings:
    attr: str
    initial: str | None
    any: tuple[str, ...]
    final: str | None


@record
class Present:
    attr: str


@record
class Extensible:
    rule: str | None
    attr: str | None
    value: str
    dn_attributes: bool


Filter = And | Or | Not | Compare | Substrings | Present | Extensible
COMPARE_TAGS = {0xA3: "=", 0xA5: ">=", 0xA6: "<=", 0xA8: "~="}


def assertion_text(buf: bytes, s: int, e: int) -> str:
    """Assertion values are octet strings; invalid UTF-8 is kept visible but can never match."""
    return buf[s:e].decode("utf-8", "replace")


class Terms:
    """What is left of a filter's element budget while it is decoded."""

    __slots__ = ("left", "limit")

    def __init__(self, limit: int) -> None:
        self.left = self.limit = limit

    def spend(self, n: int = 1) -> None:
        self.left -= n
        if self.left < 0:
            raise LimitExceeded(f"过滤器元素过多，上限 {self.limit} 个 (filter has more than {self.limit} terms)")

    def elements(self, buf: bytes, s: int, e: int) -> list[tuple[int, int, int]]:
        """The TLVs of a list whose every element costs at least one term; read no further than the budget."""
        try:
            return children(buf, s, e, self.left + 1)
        except LimitExceeded:
            self.spend(self.left + 1)
            raise


def fixed_elements(buf: bytes, s: int, e: int, most: int, what: str) -> list[tuple[int, int, int]]:
    """The TLVs of a construct of at most ``most`` elements: more is malformed, not a limit."""
    try:
        return children(buf, s, e, most)
    except LimitExceeded as exc:
        raise BerError(f"bad {what}") from exc


def decode_filter(buf: bytes, tag: int, s: int, e: int, depth: int = 0, terms: Terms | None = None) -> Filter:
    """The filter in ``buf[s:e]``; with ``terms``, more elements than it allows raise ``LimitExceeded``."""
    if depth > MAX_FILTER_DEPTH:
        raise BerError("filter nested too deeply")
    budget = terms if terms is not None else Terms(1 << 62)
    budget.spend()
    if tag in (0xA0, 0xA1):
        parts = budget.elements(buf, s, e)
        items = tuple(decode_filter(buf, t, cs, ce, depth + 1, budget) for t, cs, ce in parts)
        if not items:
            raise BerError("empty and/or filter")
        return And(items) if tag == 0xA0 else Or(items)
    if tag == 0xA2:
        inner = fixed_elements(buf, s, e, 2, "not filter")
        if len(inner) != 1:
            raise BerError("not filter must hold one filter")
        return Not(decode_filter(buf, *inner[0], depth + 1, terms=budget))
    if tag in COMPARE_TAGS:
        parts = fixed_elements(buf, s, e, 3, "attribute value assertion")
        if len(parts) != 2 or parts[0][0] != 0x04 or parts[1][0] != 0x04:
            raise BerError("bad attribute value assertion")
        return Compare(COMPARE_TAGS[tag], dec_str(buf, parts[0][1], parts[0][2]), assertion_text(buf, *parts[1][1:]))
    if tag == 0x87:
        return Present(dec_str(buf, s, e))
    if tag == 0xA4:
        return _substrings(buf, s, e, budget)
    if tag == 0xA9:
        return _extensible(buf, s, e)
    raise BerError(f"unknown filter tag 0x{tag:02x}")


def _substrings(buf: bytes, s: int, e: int, terms: Terms) -> Substrings:
    parts = fixed_elements(buf, s, e, 3, "substrings filter")
    if len(parts) != 2 or parts[0][0] != 0x04 or parts[1][0] != 0x30:
        raise BerError("bad substrings filter")
    initial: str | None = None
    final: str | None = None
    anys: list[str] = []
    terms.left += 1  # the assertion was counted once already: its first piece is that term
    pieces = terms.elements(buf, parts[1][1], parts[1][2])
    if not pieces:
        raise BerError("substrings filter without substrings")
    terms.spend(len(pieces))
    for i, (t, ps, pe) in enumerate(pieces):
        if t == 0x80 and i == 0:
            initial = assertion_text(buf, ps, pe)
        elif t == 0x81:
            anys.append(assertion_text(buf, ps, pe))
        elif t == 0x82 and i == len(pieces) - 1:
            final = assertion_text(buf, ps, pe)
        else:
            raise BerError("misplaced substring component")
    return Substrings(dec_str(buf, parts[0][1], parts[0][2]), initial, tuple(anys), final)


def _extensible(buf: bytes, s: int, e: int) -> Extensible:
    rule: str | None = None
    attr: str | None = None
    value: str | None = None
    dn_attrs = False
    for t, ps, pe in fixed_elements(buf, s, e, 4, "extensible match"):
        if t == 0x81:
            rule = dec_str(buf, ps, pe)
        elif t == 0x82:
            attr = dec_str(buf, ps, pe)
        elif t == 0x83:
            value = assertion_text(buf, ps, pe)
        elif t == 0x84:
            dn_attrs = dec_bool(buf, ps, pe)
        else:
            raise BerError("bad extensible match component")
    if value is None or (rule is None and attr is None):
        raise BerError("extensible match needs a value and a rule or type")
    return Extensible(rule, attr, value, dn_attrs)
