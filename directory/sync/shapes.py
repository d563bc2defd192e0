"""The entries a publish writes, per flavour of target directory (pure functions over a Snapshot).

Owns: the ownership marker, the RDN and the attributes of each office's entry, flat under the target's base DN.

* ``openldap``: the card of our own LDAP face (``directory.dit.office_entry``: ``inetOrgPerson``, ``cn``=``sn``=
  unit name …) with RDN ``uid=<region code>`` and the marker ``employeeType: bohai-liaison``.
* ``ad``: the ``contact`` class with RDN ``cn=<region code>`` (unit names repeat — 28 offices are called 城关镇 —
  and AD needs a unique ``cn``), ``displayName`` the unit name with its county, and the office's DN in our own
  directory in ``msDS-SourceObjectDN`` (the marker). AD limits lengths (``rangeUpper``); a value that does not fit
  is cut to the limit less one and ends with "…", and its full text is kept in ``info`` as ``属性: 值`` lines.
  Lengths count UTF-16 code units, as AD does (a Chinese character is one, a character outside the BMP two).

Only entries that carry the marker are ever modified or deleted (see ``plan``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from directory import dit
from directory.snapshot import OfficeView, RegionView, Snapshot
from directory.validate import display_phone

MARKER = "bohai-liaison"
ELLIPSIS = "…"
AD_CLASSES = ("top", "person", "organizationalPerson", "contact")
# rangeUpper of the AD attributes we write (MS-ADSC), in UTF-16 code units
AD_LIMITS: Mapping[str, int] = {
    "cn": 64,
    "displayName": 256,
    "givenName": 64,
    "company": 64,
    "department": 64,
    "title": 128,
    "telephoneNumber": 64,
    "facsimileTelephoneNumber": 64,
    "mail": 256,
    "streetAddress": 1024,
    "postalCode": 40,
    "l": 128,
    "st": 128,
    "description": 1024,
    "info": 1024,
}
OPENLDAP_MANAGED = (
    "cn", "sn", "givenName", "title", "mail", "telephoneNumber", "facsimileTelephoneNumber", "street",
    "postalAddress", "postalCode", "l", "st", "o", "ou", "description", "employeeType",
)  # fmt: skip
AD_MANAGED = (*(name for name in AD_LIMITS if name != "cn"), "msDS-SourceObjectDN")


@dataclass(frozen=True)
class Flavour:
    """What differs between kinds of target: the RDN attribute, the marker, the attributes we own."""

    name: str
    rdn: str
    object_class: str
    marker_attr: str
    managed: tuple[str, ...]

    def dn(self, code: str, base_dn: str) -> str:
        return f"{self.rdn}={code},{base_dn}"

    def owned_filter(self) -> str:
        value = MARKER if self.name == "openldap" else "*"
        return f"(&(objectClass={self.object_class})({self.marker_attr}={value}))"

    def is_ours(self, attrs: Mapping[str, list[str]], source_base: str) -> bool:
        values = attrs.get(self.marker_attr.lower(), [])
        if self.name == "openldap":
            return MARKER in values
        return any(v.lower().endswith("," + source_base.lower()) for v in values)

    def key_of(self, dn: str) -> str:
        """The region code in an entry's RDN ("" when the RDN is not ours)."""
        first = dn.split(",", 1)[0]
        name, _, value = first.partition("=")
        return value.strip() if name.strip().lower() == self.rdn and value.strip().isdigit() else ""


OPENLDAP = Flavour("openldap", "uid", "inetOrgPerson", "employeeType", OPENLDAP_MANAGED)
AD = Flavour("ad", "cn", "contact", "msDS-SourceObjectDN", AD_MANAGED)
FLAVOURS = {f.name: f for f in (OPENLDAP, AD)}


def entry(flavour: Flavour, snap: Snapshot, office: OfficeView, base_dn: str, source_base: str) -> dit.Entry:
    """The entry of ``office`` in a target of ``flavour`` under ``base_dn``; ``source_base`` is our own base DN."""
    if flavour.name == "openldap":
        return openldap_entry(snap, office, base_dn)
    return ad_entry(snap, office, base_dn, source_base)


def openldap_entry(snap: Snapshot, office: OfficeView, base_dn: str) -> dit.Entry:
    card = dit.office_entry(snap, office, base_dn)
    attrs = {**card.attrs, "employeeType": [MARKER]}
    return dit.Entry(OPENLDAP.dn(office.region_code, base_dn), attrs)


def ad_entry(snap: Snapshot, office: OfficeView, base_dn: str, source_base: str) -> dit.Entry:
    region = snap.regions[office.region_code]
    wanted: dict[str, str] = {
        "displayName": f"{office.unit_name}（{county_of(snap, region)}）",
        "givenName": office.contact_name,
        "company": office.unit_name,
        "department": "".join(region.path),
        "title": office.position,
        "telephoneNumber": display_phone(office.phone) if office.phone else "",
        "facsimileTelephoneNumber": display_phone(office.fax) if office.fax else "",
        "mail": office.email if office.email.isascii() else "",
        "streetAddress": office.address,
        "postalCode": office.postal_code,
        "l": dit.office_entry(snap, office, source_base).first("l") or "",
        "st": region.path[0],
    }
    attrs, notes = fit_ad(wanted)
    attrs["objectClass"] = list(AD_CLASSES)
    attrs["cn"] = [office.region_code]
    attrs["msDS-SourceObjectDN"] = [dit.office_dn(snap, office, source_base)]
    if notes:
        attrs["info"] = [cut("\n".join(notes), AD_LIMITS["info"])]
    return dit.Entry(AD.dn(office.region_code, base_dn), attrs)


def county_of(snap: Snapshot, region: RegionView) -> str:
    """The name of the county (县级) an office's region lies in — itself for a county — else the region's path."""
    for r in (region, *reversed(snap.ancestors(region.code))):
        if r.level == "county":
            return r.name
    return "".join(region.path)


def fit_ad(values: Mapping[str, str]) -> tuple[dict[str, list[str]], list[str]]:
    """AD attributes within their lengths, and an ``info`` line with the full text of each value that was cut."""
    attrs: dict[str, list[str]] = {}
    notes: list[str] = []
    for name, value in values.items():
        if not value:
            continue
        fitted = cut(value, AD_LIMITS[name])
        attrs[name] = [fitted]
        if fitted != value:
            notes.append(f"{name}: {value}")
    return attrs, notes


def units(text: str) -> int:
    """Length as AD counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def cut(text: str, limit: int) -> str:
    """``text`` if it fits ``limit``, else its longest prefix that fits with "…" appended."""
    if units(text) <= limit:
        return text
    out: list[str] = []
    used = 0
    for ch in text:
        size = units(ch)
        if used + size > limit - 1:
            break
        out.append(ch)
        used += size
    return "".join(out) + ELLIPSIS
