"""Active Directory without a domain controller: ldap3's offline AD 2012 R2 schema and a MOCK_SYNC connection.

``allowed_attributes`` walks a class, its superiors and the auxiliary classes of its DIT content rule (AD lists
``mailRecipient`` there, which brings ``info``), as a real AD checks an add. MOCK_SYNC itself checks attribute names
only, so the shape tests check classes and single values against the schema themselves.
"""

from __future__ import annotations

from typing import Any

import ldap3

ADMIN = "cn=admin,dc=ad,dc=example"
ADMIN_PASSWORD = "mock-secret"
CONTACTS = "ou=bohai,dc=ad,dc=example"


def ad_schema() -> Any:
    return ldap3.Server("mock-ad", get_info=ldap3.OFFLINE_AD_2012_R2).schema


def allowed_attributes(schema: Any, object_class: str) -> tuple[set[str], set[str]]:
    """(may, must) attribute names (lower case) of ``object_class`` in ``schema``."""
    may: set[str] = set()
    must: set[str] = set()
    todo, seen = [object_class], set()
    rules = schema.dit_content_rules or {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        oc = schema.object_classes[name]
        may |= {a.lower() for a in oc.may_contain or []}
        must |= {a.lower() for a in oc.must_contain or []}
        todo += list(oc.superior or [])
        rule = rules.get(name)
        if rule is not None:
            may |= {a.lower() for a in rule.may_contain or []}
            todo += list(rule.auxiliary_classes or [])
    return may, must


def mock_ad() -> Any:
    """A bound MOCK_SYNC connection to an empty ``ou=bohai`` in a mock AD with the offline schema."""
    server = ldap3.Server("mock-ad", get_info=ldap3.OFFLINE_AD_2012_R2)
    conn = ldap3.Connection(server, ADMIN, ADMIN_PASSWORD, client_strategy=ldap3.MOCK_SYNC, raise_exceptions=True)
    conn.strategy.add_entry(ADMIN, {"userPassword": ADMIN_PASSWORD, "sn": "admin", "objectClass": "person"})
    conn.strategy.add_entry("dc=ad,dc=example", {"objectClass": ["top", "domain"]})
    conn.strategy.add_entry(CONTACTS, {"objectClass": ["top", "organizationalUnit"], "ou": "bohai"})
    conn.bind()
    return conn
