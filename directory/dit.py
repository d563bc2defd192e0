"""The LDAP directory information tree (DESIGN §4) as plain data, shared by the LDAP server and LDIF export.

Owns: DNs and attribute values of the base entry, the region ``organizationalUnit`` entries (keyed by code), one
``inetOrgPerson`` card per office (``uid=<region code>``, also the local part of its role address) and one per extra
contact that has its own e-mail. Pure functions over a Snapshot; no protocol code, no encoding.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from directory import clock
from directory.snapshot import ContactView, OfficeView, RegionView, Snapshot
from directory.validate import display_phone

PERSON_CLASSES = ("top", "person", "organizationalPerson", "inetOrgPerson")
DIRECTORY_NAME = "环渤海流动人口服务通讯录"


@dataclass(frozen=True, slots=True)
class Entry:
    dn: str
    attrs: dict[str, list[str]]  # attribute name (canonical case) → values, in a stable order

    def first(self, name: str) -> str | None:
        values = self.attrs.get(name)
        return values[0] if values else None


def escape_dn_value(value: str) -> str:
    """RFC 4514 escaping of an attribute value inside a DN."""
    out = []
    for i, ch in enumerate(value):
        if ch in ',+"\\<>;=' or (ch == "#" and i == 0) or (ch == " " and i in (0, len(value) - 1)):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def postal_address(*lines: str) -> str:
    """RFC 4517 PostalAddress: lines joined by ``$``, with ``\\`` and ``$`` escaped."""
    return "$".join(line.replace("\\", "\\5C").replace("$", "\\24") for line in lines if line)


def region_dn(snap: Snapshot, code: str, base_dn: str) -> str:
    parts = [f"ou={r.code}" for r in reversed([*snap.ancestors(code), snap.regions[code]])]
    return ",".join([*parts, base_dn])


def office_dn(snap: Snapshot, office: OfficeView, base_dn: str) -> str:
    return f"uid={office.region_code},{region_dn(snap, office.region_code, base_dn)}"


def contact_uid(office: OfficeView, contact: ContactView) -> str:
    return f"{office.region_code}-{contact.id}"


def base_entry(base_dn: str) -> Entry:
    rdn_attr, _, rdn_value = base_dn.split(",", 1)[0].partition("=")
    attrs: dict[str, list[str]] = {"objectClass": ["top", "dcObject", "organization"], "o": [DIRECTORY_NAME]}
    if rdn_attr.strip().lower() == "dc":
        attrs["dc"] = [rdn_value.strip()]
    return Entry(base_dn, attrs)


def _locality(snap: Snapshot, region: RegionView) -> str:
    """The city (地级) name a region lies in; for municipal districts and provinces, the nearest named unit."""
    chain = [*snap.ancestors(region.code), region]
    for r in chain:
        if r.level == "city":
            return r.name
    return chain[1].name if len(chain) > 1 else region.name


def region_entry(snap: Snapshot, region: RegionView, base_dn: str) -> Entry:
    province = snap.regions[region.province_code].name if region.province_code in snap.regions else region.path[0]
    attrs = {
        "objectClass": ["top", "organizationalUnit"],
        "ou": [region.code, region.name],
        "description": [" ".join(region.path)],
        "st": [province],
    }
    if region.level != "province":
        attrs["l"] = [_locality(snap, region)]
    return Entry(region_dn(snap, region.code, base_dn), attrs)


def _phone(stored: str) -> list[str]:
    return [display_phone(stored)] if stored else []


def confirmed_text(office: OfficeView) -> str:
    """How old the entry is, for people reading it in a mail client: "信息核对：2026年10月08日（本单位自助核对）"."""
    if office.verified_at is None:
        return ""
    day = clock.shown_day(office.verified_at)
    return f"信息核对：{day}（{office.verified_by}）" if office.verified_by else f"信息核对：{day}"


def office_entry(snap: Snapshot, office: OfficeView, base_dn: str, confirmed_attribute: str = "") -> Entry:
    """An office's entry; ``confirmed_attribute`` (e.g. ``description``, ``[ldap] confirmed_attribute``) also
    carries :func:`confirmed_text`."""
    region = snap.regions[office.region_code]
    description = f"联系人：{office.contact_name}" if office.contact_name else ""
    if office.position:
        description += f"（{office.position}）" if description else f"职务：{office.position}"
    attrs: dict[str, list[str]] = {
        "objectClass": list(PERSON_CLASSES),
        "uid": [office.region_code, *snap.aliases.get(office.region_code, ())],  # old codes: role addresses
        "cn": [office.unit_name],
        "sn": [office.unit_name],
        "givenName": [office.contact_name] if office.contact_name else [],
        "title": [office.position] if office.position else [],
        "mail": [office.email] if office.email and office.email.isascii() else [],
        "telephoneNumber": _phone(office.phone),
        "facsimileTelephoneNumber": _phone(office.fax),
        "street": [" ".join(office.address.split())] if office.address else [],
        "postalAddress": [postal_address(*office.address.splitlines())] if office.address else [],
        "postalCode": [office.postal_code] if office.postal_code else [],
        "l": [_locality(snap, region)],
        "st": [region.path[0]],
        "o": ["".join(region.path)],
        "ou": [office.unit_name],
        "description": [description] if description else [],
    }
    confirmed = confirmed_text(office) if confirmed_attribute else ""
    if confirmed:
        attrs[confirmed_attribute] = [*attrs.get(confirmed_attribute, []), confirmed]
    return Entry(office_dn(snap, office, base_dn), {k: v for k, v in attrs.items() if v})


def contact_entry(snap: Snapshot, office: OfficeView, contact: ContactView, base_dn: str) -> Entry:
    region = snap.regions[office.region_code]
    attrs: dict[str, list[str]] = {
        "objectClass": list(PERSON_CLASSES),
        "uid": [contact_uid(office, contact)],
        "cn": [contact.name],
        "sn": [contact.name[:1]],
        "givenName": [contact.name[1:]] if len(contact.name) > 1 else [],
        "title": [contact.position] if contact.position else [],
        "mail": [contact.email],
        "telephoneNumber": _phone(contact.phone),
        "street": [" ".join(office.address.split())] if office.address else [],
        "postalCode": [office.postal_code] if office.postal_code else [],
        "l": [_locality(snap, region)],
        "st": [region.path[0]],
        "o": ["".join(region.path)],
        "ou": [office.unit_name],
        "description": [office.unit_name],
    }
    dn = f"uid={contact_uid(office, contact)},{region_dn(snap, office.region_code, base_dn)}"
    return Entry(dn, {k: v for k, v in attrs.items() if v})


def entries(snap: Snapshot, base_dn: str, root: str | None = None) -> Iterator[Entry]:
    """Every entry, parents before children: the base (unless ``root`` is given), regions, offices, contacts.

    ``root`` limits the walk to one region's subtree (for a per-region export).
    """
    if root is None:
        yield base_entry(base_dn)
        roots = [r.code for r in snap.provinces()]
    else:
        roots = [root]
    for top in roots:
        for region in snap.descendants(top):
            yield region_entry(snap, region, base_dn)
            office = snap.offices.get(region.code)
            if office is None:
                continue
            yield office_entry(snap, office, base_dn)
            for contact in office.contacts:
                if contact.email and contact.email.isascii():
                    yield contact_entry(snap, office, contact, base_dn)
