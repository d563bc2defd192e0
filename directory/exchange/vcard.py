"""vCard export: 3.0 UTF-8 for address books and CardDAV, and the 2.1 variant Outlook imports.

Owns: one card per office, the same for downloads, exports and the CardDAV books — ``UID`` the region code,
``FN`` and ``ORG`` the unit name (with the county added where two offices share a name, so that a phone's list
tells them apart), ``N`` the contact person, ``X-ABShowAs:COMPANY`` (Apple shows the organisation, not the person),
TITLE, work voice and fax TEL, EMAIL, work ADR with postal code, a NOTE with the contact person and the region
path, no photo. Both dialects are written by hand: 3.0 with RFC 6350 escaping and lines folded at 75 octets
between whole UTF-8 characters, CRLF; 2.1 with ``CHARSET=UTF-8`` on every property with non-ASCII text, no folding.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from directory.snapshot import OfficeView, Snapshot
from directory.validate import display_phone

COUNTRY = "中国"
FOLD_OCTETS = 75


def card_uid(region_code: str) -> str:
    """The card's UID, also the basename of its CardDAV href: the region code never changes."""
    return region_code


def _note(snap: Snapshot, office: OfficeView) -> list[str]:
    lines = []
    if office.contact_name:
        lines.append(f"联系人：{office.contact_name}" + (f"（{office.position}）" if office.position else ""))
    region = snap.regions.get(office.region_code)
    path = " ".join(region.path) if region else ""
    lines.append(f"区划：{path}（{office.region_code}）")
    if office.liaison:
        lines.append("本单位联系人为本省联络员")
    return lines


def _locality(snap: Snapshot, office: OfficeView) -> tuple[str, str]:
    region = snap.regions.get(office.region_code)
    if region is None:
        return "", ""
    city = region.path[1] if len(region.path) > 1 else region.path[0]
    return city, region.path[0]


def _name_counts(snap: Snapshot) -> Counter[str]:
    return Counter(o.unit_name for o in snap.offices.values())


def display_name(snap: Snapshot, office: OfficeView) -> str:
    """The unit name, with the name of the region above it where another office has the same name."""
    if snap.derived("vcard.names", _name_counts)[office.unit_name] < 2:
        return office.unit_name
    region = snap.regions.get(office.region_code)
    above = region.path[-2] if region is not None and len(region.path) > 1 else ""
    return f"{office.unit_name}（{above}）" if above else office.unit_name


TEXT_ESCAPES = str.maketrans({"\\": "\\\\", ",": "\\,", ";": "\\;", "\n": "\\n", "\r": ""})


def property_line(name: str, value: str) -> str:
    """One vCard 3.0 property with its value escaped, folded, ending in CRLF."""
    return _fold(f"{name}:{_escape(value)}")


def _escape(value: str) -> str:
    return value.translate(TEXT_ESCAPES)


def _fold(line: str) -> str:
    """The line folded at 75 octets, never inside a UTF-8 character (vobject folds by characters)."""
    data = line.encode("utf-8")
    if len(data) <= FOLD_OCTETS:
        return line + "\r\n"
    parts, start, width = [], 0, FOLD_OCTETS
    while len(data) - start > width:
        end = start + width
        while data[end] & 0xC0 == 0x80:  # a continuation byte: fold before the character it belongs to
            end -= 1
        parts.append(data[start:end])
        start, width = end, FOLD_OCTETS - 1  # a continuation line starts with the folding space
    parts.append(data[start:])
    return b"\r\n ".join(parts).decode("utf-8") + "\r\n"


def _address(snap: Snapshot, office: OfficeView) -> str:
    city, province = _locality(snap, office)
    parts = ("", "", office.address, city, province, office.postal_code, COUNTRY)
    return ";".join(_escape(p) for p in parts)


def _lines_30(snap: Snapshot, office: OfficeView) -> list[str]:
    name = _escape(display_name(snap, office))
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{card_uid(office.region_code)}", f"FN:{name}"]
    lines += [f"N:{_escape(office.contact_name)};;;;", f"ORG:{name}", "X-ABShowAs:COMPANY"]
    if office.position:
        lines.append(f"TITLE:{_escape(office.position)}")
    for stored, kind in ((office.phone, "VOICE"), (office.fax, "FAX")):
        if stored:
            lines.append(f"TEL;TYPE=WORK,{kind}:{_escape(display_phone(stored))}")
    if office.email:
        lines.append(f"EMAIL;TYPE=INTERNET:{_escape(office.email)}")
    if office.address or office.postal_code:
        lines.append(f"ADR;TYPE=WORK:{_address(snap, office)}")
    lines += [f"NOTE:{_escape(chr(10).join(_note(snap, office)))}", "END:VCARD"]
    return lines


def card_30(snap: Snapshot, office: OfficeView) -> str:
    return "".join(_fold(line) for line in _lines_30(snap, office))


def vcards_30(snap: Snapshot, offices: Iterable[OfficeView]) -> bytes:
    return "".join(card_30(snap, o) for o in offices).encode("utf-8")


def _escape_21(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;").replace("\r", " ").replace("\n", " ")


def _line_21(name: str, value: str, params: tuple[str, ...] = ()) -> str:
    if not value.isascii():
        params = (*params, "CHARSET=UTF-8")
    return ";".join((name, *params)) + ":" + value


def card_21(snap: Snapshot, office: OfficeView) -> list[str]:
    unit = _escape_21(office.unit_name)
    lines = ["BEGIN:VCARD", "VERSION:2.1", _line_21("N", f"{unit};;;;"), _line_21("FN", unit), _line_21("ORG", unit)]
    if office.position:
        lines.append(_line_21("TITLE", _escape_21(office.position)))
    if office.phone:
        lines.append(_line_21("TEL", display_phone(office.phone), ("WORK", "VOICE")))
    if office.fax:
        lines.append(_line_21("TEL", display_phone(office.fax), ("WORK", "FAX")))
    if office.email:
        lines.append(_line_21("EMAIL", _escape_21(office.email), ("PREF", "INTERNET")))
    if office.address or office.postal_code:
        city, province = _locality(snap, office)
        parts = ("", "", office.address, city, province, office.postal_code, COUNTRY)
        lines.append(_line_21("ADR", ";".join(_escape_21(p) for p in parts), ("WORK",)))
    lines.append(_line_21("NOTE", _escape_21("；".join(_note(snap, office)))))
    lines += [_line_21("UID", card_uid(office.region_code)), "END:VCARD"]
    return lines


def vcards_outlook(snap: Snapshot, offices: Iterable[OfficeView]) -> bytes:
    lines = [line for office in offices for line in card_21(snap, office)]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8") if lines else b""
