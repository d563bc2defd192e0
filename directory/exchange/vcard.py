"""vCard export: 3.0 UTF-8 (vobject) for most address books, and the 2.1 variant Outlook imports.

Owns: one card per office — FN/ORG/N = unit name, TITLE, work voice and fax TEL, EMAIL, work ADR, a NOTE with the
contact person and the region path, and a UID stable per region code — in both dialects. The Outlook variant is
written by hand: VERSION:2.1, ``CHARSET=UTF-8`` on every property with non-ASCII text, CRLF line ends, no folding.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import vobject

from directory.snapshot import OfficeView, Snapshot
from directory.validate import display_phone

UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "bohai-liaison.example")
COUNTRY = "中国"


def card_uid(region_code: str) -> str:
    return f"urn:uuid:{uuid.uuid5(UID_NAMESPACE, 'office:' + region_code)}"


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


def card_30(snap: Snapshot, office: OfficeView) -> str:
    card = vobject.vCard()
    card.add("uid").value = card_uid(office.region_code)
    card.add("fn").value = office.unit_name
    card.add("n").value = vobject.vcard.Name(family=office.unit_name)
    card.add("org").value = [office.unit_name]
    if office.position:
        card.add("title").value = office.position
    for stored, kind in ((office.phone, "VOICE"), (office.fax, "FAX")):
        if stored:
            tel = card.add("tel")
            tel.value = display_phone(stored)
            tel.type_paramlist = ["WORK", kind]
    if office.email:
        mail = card.add("email")
        mail.value = office.email
        mail.type_param = "INTERNET"
    if office.address or office.postal_code:
        city, province = _locality(snap, office)
        adr = card.add("adr")
        adr.value = vobject.vcard.Address(
            street=office.address, city=city, region=province, code=office.postal_code, country=COUNTRY
        )
        adr.type_param = "WORK"
    card.add("note").value = "\n".join(_note(snap, office))
    text: str = card.serialize()
    return text


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
