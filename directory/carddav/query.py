"""The ``addressbook-query`` REPORT's filter (RFC 6352 §10.5): reading it, bounded, and testing a card against it.

Owns: the filter tree (``filter`` → ``prop-filter`` → ``text-match`` / ``is-not-defined``, ``anyof``/``allof``), the
collations (``i;unicode-casemap`` by case folding, ``i;ascii-casemap``, ``i;octet``), the four match types and
``negate-condition``, the values of a card's properties as the filter sees them (FN, ORG, N, TEL — also as bare
digits, so ``0311 8765`` finds ``0311-87654321`` — EMAIL, TITLE, ADR, UID), and the limits of one filter. A
``param-filter`` or an unknown collation is refused with the RFC's precondition; a property the cards never have
is simply not defined.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from directory.carddav.davxml import CARD, qname
from directory.errors import FieldError, Precondition, ValidationFailed
from directory.snapshot import OfficeView
from directory.validate import display_phone

COLLATIONS = ("i;unicode-casemap", "i;ascii-casemap", "i;octet")
MATCH_TYPES = ("equals", "contains", "starts-with", "ends-with")
MAX_PROP_FILTERS = 32
MAX_MATCHES = 32
MAX_TEXT = 200
PHONE_PUNCTUATION = str.maketrans("", "", " -()+.")


def _c(name: str) -> str:
    return qname(CARD, name)


@dataclass(frozen=True)
class TextMatch:
    needle: str
    collation: str
    match_type: str
    negate: bool


@dataclass(frozen=True)
class PropFilter:
    name: str
    allof: bool
    undefined: bool  # is-not-defined: matches cards without the property
    matches: tuple[TextMatch, ...]


@dataclass(frozen=True)
class Filter:
    allof: bool
    props: tuple[PropFilter, ...]


def _bad(message: str) -> ValidationFailed:
    return ValidationFailed([FieldError("filter", message)], message)


def parse_filter(element: ET.Element | None) -> Filter:
    """The filter of a query (an absent or empty filter matches every card)."""
    if element is None:
        return Filter(False, ())
    props = element.findall(_c("prop-filter"))
    if len(props) > MAX_PROP_FILTERS:
        raise _bad(f"查询条件过多（最多 {MAX_PROP_FILTERS} 个 prop-filter）")
    return Filter(element.get("test") == "allof", tuple(_prop_filter(p) for p in props))


def _prop_filter(element: ET.Element) -> PropFilter:
    name = (element.get("name") or "").upper()
    if not name or len(name) > 64:
        raise _bad("prop-filter 缺少 name 属性")
    if element.find(_c("param-filter")) is not None:
        raise Precondition(_c("supported-filter"), "不支持 param-filter 查询条件")
    matches = element.findall(_c("text-match"))
    if len(matches) > MAX_MATCHES:
        raise _bad(f"查询条件过多（每个属性最多 {MAX_MATCHES} 个 text-match）")
    undefined = element.find(_c("is-not-defined")) is not None
    return PropFilter(name, element.get("test") == "allof", undefined, tuple(_text_match(m) for m in matches))


def _text_match(element: ET.Element) -> TextMatch:
    needle = element.text or ""
    collation = element.get("collation", "i;unicode-casemap")
    match_type = element.get("match-type", "contains")
    if len(needle) > MAX_TEXT:
        raise _bad(f"查询文字过长（最多 {MAX_TEXT} 个字符）")
    if collation not in COLLATIONS:
        raise Precondition(_c("supported-collation"), f"不支持的比较规则 {collation[:40]!r}")
    if match_type not in MATCH_TYPES:
        raise _bad(f"不支持的匹配方式 {match_type[:40]!r}")
    return TextMatch(needle, collation, match_type, element.get("negate-condition") == "yes")


def values(office: OfficeView, name: str, display: str) -> list[str]:
    """The card's values of property ``name`` (``display``: its FN), empty when the card has none."""
    if name in ("FN", "ORG"):
        return [display]
    if name == "TEL":
        return [display_phone(p) for p in (office.phone, office.fax) if p]
    found = {"N": office.contact_name, "EMAIL": office.email, "TITLE": office.position, "UID": office.region_code}
    found["ADR"] = office.address
    value = found.get(name, "")
    return [value] if value else []


def _fold(value: str, collation: str) -> str:
    if collation == "i;unicode-casemap":
        return value.casefold()
    if collation == "i;ascii-casemap":
        return "".join(ch.lower() if ch.isascii() else ch for ch in value)
    return value


def _matches_one(match: TextMatch, value: str, phone: bool) -> bool:
    needle, hay = _fold(match.needle, match.collation), _fold(value, match.collation)
    bare = match.needle.translate(PHONE_PUNCTUATION)
    if phone and bare.isdigit():
        needle, hay = bare, value.translate(PHONE_PUNCTUATION)
    tests = {
        "equals": hay == needle,
        "contains": needle in hay,
        "starts-with": hay.startswith(needle),
        "ends-with": hay.endswith(needle),
    }
    return tests[match.match_type] != match.negate


def _prop_matches(prop: PropFilter, office: OfficeView, display: str) -> bool:
    found = values(office, prop.name, display)
    if prop.undefined:
        return not found
    if not prop.matches:
        return bool(found)
    phone = prop.name == "TEL"
    results = (any(_matches_one(m, v, phone) for v in found) for m in prop.matches)
    return all(results) if prop.allof else any(results)


def matches(query: Filter, office: OfficeView, display: str) -> bool:
    if not query.props:
        return True
    results = (_prop_matches(p, office, display) for p in query.props)
    return all(results) if query.allof else any(results)
