"""vCards of one office for the office page's download buttons.

Owns: the web face's vCard writer until ``directory/exchange/vcard.py`` (branch core) is merged — vCard 3.0 in UTF-8
written with vobject, and the Outlook variant (vCard 2.1 with ``CHARSET=UTF-8`` on every text property, which
Outlook's import needs to show Chinese). Both carry the unit as ORG/FN, the contact person as N, title, phones,
fax, e-mail and the work address.
"""

from __future__ import annotations

import vobject

from directory.snapshot import OfficeView, RegionView


def vcard30(office: OfficeView, region: RegionView) -> str:
    card = vobject.vCard()
    card.add("fn").value = office.unit_name
    card.add("n").value = vobject.vcard.Name(family=office.contact_name or office.unit_name)
    card.add("org").value = [office.unit_name]
    if office.position:
        card.add("title").value = office.position
    _phone(card, office.phone, "WORK")
    _phone(card, office.fax, "FAX")
    if office.email:
        email = card.add("email")
        email.value = office.email
        email.type_param = "INTERNET"
    adr = card.add("adr")
    adr.value = vobject.vcard.Address(street=office.address, region="".join(region.path), code=office.postal_code)
    adr.type_param = "WORK"
    card.add("note").value = f"区划代码 {office.region_code}；{region.path_text}"
    text: str = card.serialize()
    return text


def _phone(card: vobject.base.Component, stored: str, kind: str) -> None:
    if stored:
        tel = card.add("tel")
        tel.value = stored.replace(";ext=", " 转 ")
        tel.type_param = kind


def _esc21(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace("\r", "").replace("\n", " ")


def vcard21(office: OfficeView, region: RegionView) -> str:
    """vCard 2.1 for Outlook: UTF-8 declared per property, CRLF line ends."""
    u = ";CHARSET=UTF-8"
    lines = [
        "BEGIN:VCARD",
        "VERSION:2.1",
        f"N{u}:{_esc21(office.contact_name or office.unit_name)};;;;",
        f"FN{u}:{_esc21(office.unit_name)}",
        f"ORG{u}:{_esc21(office.unit_name)}",
    ]
    if office.position:
        lines.append(f"TITLE{u}:{_esc21(office.position)}")
    if office.phone:
        lines.append(f"TEL;WORK;VOICE:{office.phone.replace(';ext=', ' 转 ')}")
    if office.fax:
        lines.append(f"TEL;WORK;FAX:{office.fax.replace(';ext=', ' 转 ')}")
    if office.email:
        lines.append(f"EMAIL;PREF;INTERNET:{office.email}")
    street, area, code = _esc21(office.address), _esc21("".join(region.path)), office.postal_code
    lines.append(f"ADR;WORK{u}:;;{street};;{area};{code};中国")
    lines.append(f"NOTE{u}:{_esc21('区划代码 ' + office.region_code + '；' + region.path_text)}")
    lines.append("END:VCARD")
    return "\r\n".join(lines) + "\r\n"
