"""Who sees a mobile number whole: the one rule every face applies when it shows an office to a reader.

Owns: :class:`Viewer` (anonymous, a signed-in reader of one province or of none, or one who sees everything), the
test of a stored number being a mainland mobile (``+861…``, 11 digits), its masked form (``138****1234``), and
:func:`office_for`, the office as a viewer may see it. A mobile is whole to a viewer of the office's own province
and to administrators; to other signed-in readers only when the office marked it a public work number
(``Office.phone_public``); never to anonymous readers. The masked form holds no searchable digits, so a face that
matches against the shown office (search, LDAP filters, CardDAV queries) cannot find a number by its hidden digits.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from directory.accounts import User
from directory.snapshot import ContactView, OfficeView, Snapshot
from directory.validate import phone_digits

MOBILE = re.compile(r"\+861[3-9][0-9]{9}")


@dataclass(frozen=True)
class Viewer:
    """The part of a reader that decides what they see of personal data."""

    signed_in: bool
    province: str = ""  # two digits, "" for none
    everything: bool = False

    @property
    def key(self) -> str:
        """A short name of the viewer's class; viewers of one class see exactly the same."""
        if self.everything:
            return "all"
        if not self.signed_in:
            return "anon"
        return f"p{self.province}" if self.province else "signed"

    def whole(self, region_code: str, public: bool) -> bool:
        """Whether a mobile of the office ``region_code`` (``public``: marked a public work number) shows whole."""
        if self.everything:
            return True
        if not self.signed_in:
            return False
        return public or (bool(self.province) and region_code[:2] == self.province)


ANONYMOUS = Viewer(False)
EVERYTHING = Viewer(True, everything=True)


def viewer_of(user: object) -> Viewer:
    """The viewer a face's user is (None, or anything but a :class:`User`: anonymous)."""
    if not isinstance(user, User):
        return ANONYMOUS
    if user.role == "admin":
        return EVERYTHING
    return Viewer(True, (user.province_code or "")[:2])


def is_mobile(stored: str) -> bool:
    return MOBILE.fullmatch(stored) is not None


def masked(stored: str) -> str:
    """``+8613812341234`` → ``138****1234``."""
    national = stored[3:]
    return f"{national[:3]}****{national[-4:]}"


def shown_phone(stored: str, region_code: str, public: bool, viewer: Viewer) -> str:
    """The stored number as ``viewer`` may see it (stored form when whole, masked otherwise)."""
    if not is_mobile(stored) or viewer.whole(region_code, public):
        return stored
    return masked(stored)


def office_for(office: OfficeView, viewer: Viewer) -> OfficeView:
    """``office`` as ``viewer`` may see it: the same object when nothing is hidden (the common case), else one
    copy per office and viewer class (so caches keyed by the object keep working)."""
    if viewer.everything:
        return office
    if not is_mobile(office.phone) and not any(is_mobile(c.phone) for c in office.contacts):
        return office
    return _masked_office(office, viewer)


@functools.lru_cache(maxsize=65536)
def _masked_office(office: OfficeView, viewer: Viewer) -> OfficeView:
    code = office.region_code
    phone = shown_phone(office.phone, code, office.phone_public, viewer)
    # Other contacts' mobiles are never marked public: whole only in their own province.
    contacts = tuple(_contact(c, code, viewer) for c in office.contacts)
    if phone == office.phone and all(a is b for a, b in zip(contacts, office.contacts, strict=True)):
        return office
    return dataclasses.replace(office, phone=phone, contacts=contacts)


def _contact(contact: ContactView, code: str, viewer: Viewer) -> ContactView:
    phone = shown_phone(contact.phone, code, False, viewer)
    return contact if phone == contact.phone else dataclasses.replace(contact, phone=phone)


def snapshot_for(snap: Snapshot, viewer: Viewer) -> Snapshot:
    """A Snapshot of the offices as ``viewer`` may see them (for whole-directory renderings such as exports); the
    same object for a viewer who sees everything. Derived indexes are not carried over."""
    if viewer.everything:
        return snap
    offices = {code: office_for(o, viewer) for code, o in snap.offices.items()}
    return Snapshot(snap.generation, snap.regions, offices, snap.built_at, aliases=snap.aliases)


def hider(offices: Sequence[OfficeView | None], snap: Snapshot, viewer: Viewer) -> Callable[[str, set[int]], set[int]]:
    """For search: the positions (indexes into ``offices``) a digits term finds only through numbers ``viewer``
    sees masked, so that searching by a hidden number's digits finds nothing."""

    def hide(term: str, matched: set[int]) -> set[int]:
        if not term.isdigit():
            return set()
        out = set()
        for i in matched:
            whole = offices[i]
            if whole is None:
                continue
            shown = office_for(whole, viewer)
            if shown is not whole and _only_hidden(term, whole, shown, snap):
                out.add(i)
        return out

    return hide


def _digits_of(o: OfficeView) -> list[str]:
    return [*phone_digits(o.phone), *phone_digits(o.fax), *(d for c in o.contacts for d in phone_digits(c.phone))]


def _only_hidden(term: str, whole: OfficeView, shown: OfficeView, snap: Snapshot) -> bool:
    if not any(term in d for d in _digits_of(whole)):
        return False  # found by something else (region or postal code)
    if any(term in d for d in _digits_of(shown)) or whole.postal_code.startswith(term):
        return False
    codes = [whole.region_code, *(r.code for r in snap.ancestors(whole.region_code))]
    return not any(code.startswith(term) for code in codes)
