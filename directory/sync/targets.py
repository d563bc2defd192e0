"""The options of a ``[publish.NAME]`` target and a ``[pull.NAME]`` source, and their checks.

Owns the two table classes that ``directory.settings`` loads into ``Settings.publish`` and ``Settings.pull`` (named
tables, see there) and the field metadata with its checks: ldap:// URLs, shares, choices, region and province codes,
required options. No ldap3 here: loading settings never needs it.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from directory.errors import SettingsError

LDAP_URL: Mapping[str, Any] = types.MappingProxyType({"ldap_url": True, "required": True})
"""Field metadata: the option is an ldap:// or ldaps:// URL (required)."""
REQUIRED: Mapping[str, Any] = types.MappingProxyType({"required": True})
"""Field metadata: the option must not be empty."""
SHARE: Mapping[str, Any] = types.MappingProxyType({"share": True})
"""Field metadata: a share between 0 and 1."""
REGION_CODES: Mapping[str, Any] = types.MappingProxyType({"region_codes": True})
"""Field metadata: a list of 2- or 12-digit region codes."""
PROVINCE: Mapping[str, Any] = types.MappingProxyType({"province": True, "required": True})
"""Field metadata: a 2-digit province code (required)."""
FLAVOUR: Mapping[str, Any] = types.MappingProxyType({"choices": ("openldap", "ad")})
"""Field metadata: the kind of directory a publish target is."""

_LDAP_URL = re.compile(r"ldaps?://[^\s/?#]+/?")


@dataclass(frozen=True)
class PublishTarget:
    """One ``[publish.NAME]`` table: a directory our offices are written into (see docs/sync.md)."""

    url: str = field(default="", metadata=LDAP_URL)
    starttls: bool = False
    bind_dn: str = ""
    password_file: str = ""
    base_dn: str = field(default="", metadata=REQUIRED)
    flavour: str = field(default="openldap", metadata=FLAVOUR)
    regions: tuple[str, ...] = field(default=(), metadata=REGION_CODES)
    schedule: int = 0
    max_delete_share: float = field(default=0.1, metadata=SHARE)


@dataclass(frozen=True)
class PullSource:
    """One ``[pull.NAME]`` table: a province's directory whose entries become that province's offices."""

    url: str = field(default="", metadata=LDAP_URL)
    starttls: bool = False
    bind_dn: str = ""
    password_file: str = ""
    base_dn: str = field(default="", metadata=REQUIRED)
    filter: str = "(objectClass=*)"
    mapping: str = field(default="", metadata=REQUIRED)
    province: str = field(default="", metadata=PROVINCE)
    delete_missing: bool = False
    schedule: int = 0


def check_target_option(meta: Mapping[str, Any], value: Any, fail: Callable[[str], SettingsError]) -> None:
    """The checks of publish and pull options (see the metadata constants)."""
    if meta.get("ldap_url") and value and not _LDAP_URL.fullmatch(value):
        raise fail("expected an ldap:// or ldaps:// URL")
    if meta.get("share") and not 0 <= value <= 1:
        raise fail("expected a share between 0 and 1 (e.g. 0.1 for 10%)")
    if "choices" in meta and value not in meta["choices"]:
        raise fail(f"expected one of {', '.join(meta['choices'])}")
    if meta.get("province") and value and not (len(value) == 2 and value.isdigit()):
        raise fail("expected a 2-digit province code, e.g. 13")
    if meta.get("region_codes"):
        bad = [code for code in value if not (len(code) in (2, 12) and code.isdigit() and code.isascii())]
        if bad:
            raise fail(f"expected 2- or 12-digit region codes, not {', '.join(bad)}")
