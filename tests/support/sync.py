"""Helpers for the publish and pull tests: a config file naming a slapd target, and reading its entries back."""

from __future__ import annotations

from pathlib import Path

from tests.support.slapd import Slapd


def publish_config(
    folder: Path, server: Slapd, base_dn: str, *, password: str | None = None, url: str = "", **extra: str
) -> Path:
    """A config file with ``[publish.hebei]`` (河北, OpenLDAP flavour) pointing at ``server``; ``extra`` adds options
    (TOML literals)."""
    secret = folder / "publish.secret"
    secret.write_text((server.password if password is None else password) + "\n", encoding="utf-8")
    lines = [
        "[publish.hebei]",
        f'url = "{url or server.url}"',
        f'bind_dn = "{server.root_dn}"',
        f'password_file = "{secret}"',
        f'base_dn = "{base_dn}"',
        'regions = ["13"]',
        *(f"{k} = {v}" for k, v in extra.items()),
    ]
    path = folder / "publish.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


MAPPING = """\
# a province's own directory: which LDAP attribute holds which of our fields
employeeNumber = "region_code"
o = "unit_name"
cn = "contact_name"
title = "position"
telephoneNumber = "phone"
facsimileTelephoneNumber = "fax"
mail = "email"
street = "address"
postalCode = "postal_code"
"""


def province_entry(base: str, code: str, unit: str, contact: str, phone: str = "0351-7654321") -> str:
    """One person entry of a province's directory, as simple LDIF (see ``Slapd.add_ldif``)."""
    return (
        f"dn: cn={contact},{base}\nobjectClass: inetOrgPerson\ncn: {contact}\nsn: {contact[:1]}\n"
        f"employeeNumber: {code}\no: {unit}\ntitle: 主任\ntelephoneNumber: {phone}\nmail: {code}@sx.example.org\n"
        f"street: 府西街{code[-4:]}号\npostalCode: 030000\n"
    )


def pull_config(folder: Path, server: Slapd, base_dn: str, **extra: str) -> Path:
    """A config file with ``[pull.shanxi]`` (province 14) reading ``base_dn`` of ``server`` with :data:`MAPPING`."""
    (folder / "mapping.toml").write_text(MAPPING, encoding="utf-8")
    (folder / "pull.secret").write_text(server.password, encoding="utf-8")
    lines = [
        "[pull.shanxi]",
        f'url = "{server.url}"',
        f'bind_dn = "{server.root_dn}"',
        f'password_file = "{folder / "pull.secret"}"',
        f'base_dn = "{base_dn}"',
        'filter = "(objectClass=inetOrgPerson)"',
        f'mapping = "{folder / "mapping.toml"}"',
        'province = "14"',
        *(f"{k} = {v}" for k, v in extra.items()),
    ]
    path = folder / "pull.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
