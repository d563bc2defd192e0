"""The LDAP schema this server serves: attribute types (names, aliases, matching kind) and object classes.

Owns: ``lookup(name)`` (any name, alias or OID → ``AttributeType`` or None for unknown attributes), the object class
hierarchy used to match ``objectClass`` with superclasses, and the RFC 4512 descriptions published in
``cn=Subschema`` — only what the server really holds and matches.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

DIRECTORY_STRING = "1.3.6.1.4.1.1466.115.121.1.15"
IA5_STRING = "1.3.6.1.4.1.1466.115.121.1.26"
PHONE = "1.3.6.1.4.1.1466.115.121.1.50"
OID_SYNTAX = "1.3.6.1.4.1.1466.115.121.1.38"
DN_SYNTAX = "1.3.6.1.4.1.1466.115.121.1.12"
POSTAL = "1.3.6.1.4.1.1466.115.121.1.41"
BOOLEAN = "1.3.6.1.4.1.1466.115.121.1.7"


@dataclass(frozen=True, slots=True)
class AttributeType:
    oid: str
    names: tuple[str, ...]
    kind: str  # string | phone | oc | dn | bool
    syntax: str
    operational: bool = False
    sup: str | None = None

    @property
    def name(self) -> str:
        return self.names[0]

    @property
    def key(self) -> str:
        # interned: the key is a dict key in every indexed entry; one shared string object, not ~500,000 copies
        return sys.intern(self.names[0].lower())

    def description(self) -> str:
        names = f"'{self.names[0]}'" if len(self.names) == 1 else "( " + " ".join(f"'{n}'" for n in self.names) + " )"
        rules = {
            "string": "EQUALITY caseIgnoreMatch ORDERING caseIgnoreOrderingMatch SUBSTR caseIgnoreSubstringsMatch",
            "phone": "EQUALITY telephoneNumberMatch SUBSTR telephoneNumberSubstringsMatch",
            "oc": "EQUALITY objectIdentifierMatch",
            "dn": "EQUALITY distinguishedNameMatch",
            "bool": "EQUALITY booleanMatch",
        }[self.kind]
        if self.syntax == IA5_STRING:
            rules = "EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch"
        tail = " NO-USER-MODIFICATION USAGE directoryOperation" if self.operational else ""
        single = " SINGLE-VALUE" if self.operational else ""
        return f"( {self.oid} NAME {names} {rules} SYNTAX {self.syntax}{single}{tail} )"


ATTRIBUTES = (
    AttributeType("2.5.4.0", ("objectClass",), "oc", OID_SYNTAX),
    AttributeType("2.5.4.41", ("name",), "string", DIRECTORY_STRING),
    AttributeType("2.5.4.3", ("cn", "commonName"), "string", DIRECTORY_STRING, sup="name"),
    AttributeType("2.5.4.4", ("sn", "surname"), "string", DIRECTORY_STRING, sup="name"),
    AttributeType("2.5.4.42", ("givenName", "gn"), "string", DIRECTORY_STRING, sup="name"),
    AttributeType("2.5.4.12", ("title",), "string", DIRECTORY_STRING, sup="name"),
    AttributeType("2.5.4.7", ("l", "localityName"), "string", DIRECTORY_STRING, sup="name"),
    AttributeType("2.5.4.8", ("st", "stateOrProvinceName"), "string", DIRECTORY_STRING, sup="name"),
    AttributeType("2.5.4.10", ("o", "organizationName"), "string", DIRECTORY_STRING, sup="name"),
    AttributeType("2.5.4.11", ("ou", "organizationalUnitName"), "string", DIRECTORY_STRING, sup="name"),
    AttributeType("0.9.2342.19200300.100.1.3", ("mail", "rfc822Mailbox"), "string", IA5_STRING),
    AttributeType("0.9.2342.19200300.100.1.1", ("uid", "userid"), "string", DIRECTORY_STRING),
    AttributeType("0.9.2342.19200300.100.1.25", ("dc", "domainComponent"), "string", IA5_STRING),
    AttributeType("2.5.4.20", ("telephoneNumber",), "phone", PHONE),
    AttributeType("2.5.4.23", ("facsimileTelephoneNumber", "fax"), "phone", PHONE),
    AttributeType("2.5.4.9", ("street", "streetAddress"), "string", DIRECTORY_STRING),
    AttributeType("2.5.4.16", ("postalAddress",), "string", POSTAL),
    AttributeType("2.5.4.17", ("postalCode",), "string", DIRECTORY_STRING),
    AttributeType("2.5.4.13", ("description",), "string", DIRECTORY_STRING),
    AttributeType("1.3.6.1.1.20", ("entryDN",), "dn", DN_SYNTAX, operational=True),
    AttributeType("2.5.18.10", ("subschemaSubentry",), "dn", DN_SYNTAX, operational=True),
    AttributeType("2.5.18.9", ("hasSubordinates",), "bool", BOOLEAN, operational=True),
)
OPERATIONAL_EXTRA = (  # subschema and Root DSE attributes: readable, but not matched in filters beyond presence
    "( 2.5.21.6 NAME 'objectClasses' EQUALITY objectIdentifierFirstComponentMatch "
    "SYNTAX 1.3.6.1.4.1.1466.115.121.1.37 USAGE directoryOperation )",
    "( 2.5.21.5 NAME 'attributeTypes' EQUALITY objectIdentifierFirstComponentMatch "
    "SYNTAX 1.3.6.1.4.1.1466.115.121.1.3 USAGE directoryOperation )",
    "( 1.3.6.1.4.1.1466.101.120.16 NAME 'ldapSyntaxes' EQUALITY objectIdentifierFirstComponentMatch "
    "SYNTAX 1.3.6.1.4.1.1466.115.121.1.54 USAGE directoryOperation )",
    "( 2.5.21.4 NAME 'matchingRules' EQUALITY objectIdentifierFirstComponentMatch "
    "SYNTAX 1.3.6.1.4.1.1466.115.121.1.30 USAGE directoryOperation )",
)

OBJECT_CLASSES = (
    "( 2.5.6.0 NAME 'top' ABSTRACT MUST objectClass )",
    "( 2.5.6.6 NAME 'person' SUP top STRUCTURAL MUST ( sn $ cn ) MAY ( telephoneNumber $ description ) )",
    "( 2.5.6.7 NAME 'organizationalPerson' SUP person STRUCTURAL MAY ( title $ ou $ st $ l $ street $ "
    "postalAddress $ postalCode $ facsimileTelephoneNumber ) )",
    "( 2.16.840.1.113730.3.2.2 NAME 'inetOrgPerson' SUP organizationalPerson STRUCTURAL "
    "MAY ( givenName $ mail $ o $ uid ) )",
    "( 2.5.6.5 NAME 'organizationalUnit' SUP top STRUCTURAL MUST ou MAY ( description $ st $ l ) )",
    "( 2.5.6.4 NAME 'organization' SUP top STRUCTURAL MUST o MAY description )",
    "( 1.3.6.1.4.1.1466.344 NAME 'dcObject' SUP top AUXILIARY MUST dc )",
    "( 2.5.20.1 NAME 'subschema' AUXILIARY MAY ( objectClasses $ attributeTypes $ ldapSyntaxes $ matchingRules ) )",
)
SUPERCLASSES = {
    "inetorgperson": ("organizationalperson", "person", "top"),
    "organizationalperson": ("person", "top"),
    "person": ("top",),
    "organizationalunit": ("top",),
    "organization": ("top",),
    "dcobject": ("top",),
    "subschema": (),
}
CLASS_OIDS = {
    "2.5.6.0": "top",
    "2.5.6.6": "person",
    "2.5.6.7": "organizationalperson",
    "2.16.840.1.113730.3.2.2": "inetorgperson",
    "2.5.6.5": "organizationalunit",
    "2.5.6.4": "organization",
}
SYNTAXES = (
    f"( {DIRECTORY_STRING} DESC 'Directory String' )",
    f"( {IA5_STRING} DESC 'IA5 String' )",
    f"( {PHONE} DESC 'Telephone Number' )",
    f"( {OID_SYNTAX} DESC 'OID' )",
    f"( {DN_SYNTAX} DESC 'DN' )",
    f"( {POSTAL} DESC 'Postal Address' )",
    f"( {BOOLEAN} DESC 'Boolean' )",
)
MATCHING_RULES = (
    f"( 2.5.13.2 NAME 'caseIgnoreMatch' SYNTAX {DIRECTORY_STRING} )",
    f"( 2.5.13.3 NAME 'caseIgnoreOrderingMatch' SYNTAX {DIRECTORY_STRING} )",
    "( 2.5.13.4 NAME 'caseIgnoreSubstringsMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.58 )",
    f"( 1.3.6.1.4.1.1466.109.114.2 NAME 'caseIgnoreIA5Match' SYNTAX {IA5_STRING} )",
    "( 1.3.6.1.4.1.4203.1.2.1 NAME 'caseIgnoreIA5SubstringsMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.58 )",
    f"( 2.5.13.20 NAME 'telephoneNumberMatch' SYNTAX {PHONE} )",
    "( 2.5.13.21 NAME 'telephoneNumberSubstringsMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.58 )",
    f"( 2.5.13.0 NAME 'objectIdentifierMatch' SYNTAX {OID_SYNTAX} )",
    f"( 2.5.13.1 NAME 'distinguishedNameMatch' SYNTAX {DN_SYNTAX} )",
    f"( 2.5.13.13 NAME 'booleanMatch' SYNTAX {BOOLEAN} )",
)

_BY_NAME: dict[str, AttributeType] = {}
for _at in ATTRIBUTES:
    _BY_NAME[_at.oid] = _at
    for _n in _at.names:
        _BY_NAME[_n.lower()] = _at


def lookup(name: str) -> AttributeType | None:
    """The attribute type for a name, alias or OID (options such as ``;lang-zh`` are ignored); None if unknown."""
    base = name.split(";", 1)[0].strip().lower()
    return _BY_NAME.get(base)


def object_class_closure(values: list[str]) -> tuple[str, ...]:
    """Lowercased object classes of an entry with all their superclasses (so ``person`` matches inetOrgPerson)."""
    out: list[str] = []
    for v in values:
        for name in (v.lower(), *SUPERCLASSES.get(v.lower(), ())):
            if name not in out:
                out.append(name)
    return tuple(out)


def subschema_attributes() -> dict[str, list[str]]:
    return {
        "objectClass": ["top", "subschema"],
        "cn": ["Subschema"],
        "objectClasses": list(OBJECT_CLASSES),
        "attributeTypes": [at.description() for at in ATTRIBUTES] + list(OPERATIONAL_EXTRA),
        "ldapSyntaxes": list(SYNTAXES),
        "matchingRules": list(MATCHING_RULES),
    }
