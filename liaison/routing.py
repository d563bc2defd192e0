"""Routing of letters to offices. Pure: works on a Snapshot, no I/O.

Owns: the channel rule — the office's e-mail; if it has none or it is flagged bouncing, its fax through the
e-mail-to-fax gateway (RFC 3192 address); if neither, the nearest ancestor office that can be reached, with a note
saying so (the note is printed on the letter) — the liaison-officer copy, and expanding "all offices of a level under
a region" into region codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from directory.errors import FieldError, NotFound, ValidationFailed
from directory.models import LEVEL_NAMES
from directory.snapshot import OfficeView, Snapshot
from liaison.mail.transports.fax import fax_address

Channel = Literal["email", "fax"]


@dataclass(frozen=True)
class Route:
    region_code: str  # the office addressed
    via_code: str  # the office reached
    channel: Channel
    address: str
    note: str = ""  # zh-CN; empty when the addressed office is reached directly


def direct_channel(office: OfficeView, fax_gateway: str) -> tuple[Channel, str] | None:
    """The office's own channel: usable e-mail, else fax through the gateway, else None."""
    if office.email and office.email_status != "bouncing":
        return "email", office.email
    address = fax_address(office.fax, fax_gateway)
    if address:
        return "fax", address
    return None


def _why(office: OfficeView | None, name: str) -> str:
    if office is None:
        return f"{name}尚无单位记录"
    if office.email and office.email_status == "bouncing":
        return f"{office.unit_name}电子邮箱退信且无可用传真"
    return f"{office.unit_name}无可用电子邮箱和传真"


def route(snap: Snapshot, region_code: str, *, fax_gateway: str) -> Route:
    """How a letter to ``region_code``'s office travels; NotFound when no office up the tree is reachable."""
    region = snap.region(region_code)
    if region is None:
        raise NotFound(f"区划代码 {region_code} 不存在")
    office = snap.office(region_code)
    direct = direct_channel(office, fax_gateway) if office is not None else None
    if direct is not None:
        return Route(region_code, region_code, direct[0], direct[1])
    for ancestor in reversed(snap.ancestors(region_code)):
        parent = snap.office(ancestor.code)
        found = direct_channel(parent, fax_gateway) if parent is not None else None
        if parent is not None and found is not None:
            note = f"因{_why(office, region.name)}，本函经{parent.unit_name}转交{region.name}。"
            return Route(region_code, ancestor.code, found[0], found[1], note)
    raise NotFound(f"{region.path_text}及其上级均无可用的电子邮箱或传真，无法送达")


def liaison_copy(snap: Snapshot, region_code: str, *, fax_gateway: str) -> Route | None:
    """A copy to the recipient province's liaison officer (联络员), unless that is the addressed office itself."""
    officer = snap.liaison_officer(region_code[:2] + "0" * 10)
    if officer is None or officer.region_code == region_code:
        return None
    found = direct_channel(officer, fax_gateway)
    if found is None:
        return None
    return Route(region_code, officer.region_code, found[0], found[1], f"抄送{officer.unit_name}（省联络员）")


def offices_under(snap: Snapshot, region_code: str, level: str) -> list[str]:
    """Region codes of every office of ``level`` under ``region_code`` (e.g. every township of 石家庄市)."""
    if level not in LEVEL_NAMES:
        raise ValidationFailed([FieldError("level", f"级别应为 {'、'.join(LEVEL_NAMES)} 之一", value=level)])
    if snap.region(region_code) is None:
        raise NotFound(f"区划代码 {region_code} 不存在")
    return [r.code for r in snap.descendants(region_code) if r.level == level and r.code in snap.offices]
