"""What the CardDAV face serves, in terms of the Snapshot: views, their URLs, their members and their cards.

Owns: the URL scheme (``/carddav/p/<view>/`` a principal holding exactly one book ``…/book/``, cards
``…/book/<region code>.vcf``; macOS reads only an account's first book and iOS syncs every book of a principal,
so each view gets a principal of its own), which views exist (every province and city, and ``all`` for the ten
regions), a book's Chinese name and members (an office is in the book of each province or city above it), the
view discovery leads an account to, and :class:`CardCache`, each card's bytes and strong ETag kept per unchanged
OfficeView object (the Snapshot keeps unchanged offices as the same objects, so an edit re-renders one card).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from directory.accounts import User
from directory.exchange.vcard import card_30, display_name
from directory.privacy import EVERYTHING, Viewer, office_for
from directory.snapshot import OfficeView, Snapshot

ALL = "all"
ROOT = "/carddav/"
PRINCIPALS = "/carddav/p/"
BOOK_LEVELS = ("province", "city")
ALL_NAME = "环渤海十省区市流动人口服务机构通讯录"
MAX_PATH = 300


@dataclass(frozen=True, slots=True)
class Target:
    """What a request path names: ``kind`` is root, principals, principal, book or card."""

    kind: str
    view: str = ""
    code: str = ""


def principal_path(view: str) -> str:
    return f"{PRINCIPALS}{view}/"


def book_path(view: str) -> str:
    return f"{PRINCIPALS}{view}/book/"


def card_path(view: str, code: str) -> str:
    return f"{PRINCIPALS}{view}/book/{code}.vcf"


def is_view(snap: Snapshot, view: str) -> bool:
    region = snap.regions.get(view)
    return view == ALL or (region is not None and region.level in BOOK_LEVELS)


def resolve(snap: Snapshot, path: str) -> Target | None:
    """The target of a decoded request path, or None (404) for anything this face does not serve."""
    if len(path) > MAX_PATH or not path.startswith(ROOT):
        return None
    parts = path[len(ROOT) :].split("/")
    if parts[-1] == "":
        parts.pop()
    if not parts:
        return Target("root")
    if parts[0] != "p":
        return None
    if len(parts) == 1:
        return Target("principals")
    view = parts[1]
    if not is_view(snap, view) or len(parts) > 4 or (len(parts) > 2 and parts[2] != "book"):
        return None
    if len(parts) == 2:
        return Target("principal", view)
    if len(parts) == 3:
        return Target("book", view)
    code = parts[3].removesuffix(".vcf")
    return Target("card", view, code) if parts[3].endswith(".vcf") and code.isdigit() and len(code) == 12 else None


def home_view(user: User) -> str:
    """The view discovery from the root leads to: the account's province, else all ten regions."""
    return user.province_code if user.province_code else ALL


def book_name(snap: Snapshot, view: str) -> str:
    if view == ALL:
        return ALL_NAME
    region = snap.regions[view]
    return "".join(region.path) + "流动人口服务机构通讯录"


def principal_name(snap: Snapshot, view: str) -> str:
    return "环渤海十省区市" if view == ALL else "".join(snap.regions[view].path)


def _members(snap: Snapshot) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {ALL: []}
    for code in sorted(snap.offices):
        found[ALL].append(code)
        for above in _chain(snap, code):
            found.setdefault(above, []).append(code)
    return {view: tuple(codes) for view, codes in found.items()}


def _chain(snap: Snapshot, code: str) -> list[str]:
    """The province and city regions at or above ``code`` (at most four steps up the tree)."""
    out = []
    region = snap.regions.get(code)
    while region is not None:
        if region.level in BOOK_LEVELS:
            out.append(region.code)
        region = snap.regions.get(region.parent_code) if region.parent_code else None
    return out


def members(snap: Snapshot, view: str) -> Sequence[str]:
    """The region codes of the offices in the book of ``view``, sorted (built once per Snapshot)."""
    return snap.derived("carddav.members", _members).get(view, ())


def in_book(snap: Snapshot, view: str, code: str) -> bool:
    """Whether an office at ``code`` (present or removed) belongs in the book of ``view``."""
    return view == ALL or view in _chain(snap, code)


@dataclass(frozen=True, slots=True)
class Card:
    office: OfficeView
    name: str
    data: bytes
    xml: str  # the text escaped for ``address-data``
    etag: str  # strong, quoted: the same in PROPFIND, REPORT and GET


class CardCache:
    """Cards rendered once per OfficeView object and display name, shared by every Snapshot of a process (at most
    one entry per region code: a removed office's card stays until the region gets an office again)."""

    def __init__(self, viewer: Viewer = EVERYTHING) -> None:
        self._cards: dict[str, Card] = {}
        self._lock = threading.Lock()
        self.viewer = viewer  # the cards show the offices as this viewer class may see them (directory.privacy)

    def shown(self, office: OfficeView) -> OfficeView:
        return office_for(office, self.viewer)

    def card(self, snap: Snapshot, office: OfficeView) -> Card:
        office = self.shown(office)
        name = display_name(snap, office)
        found = self._cards.get(office.region_code)
        if found is not None and found.office is office and found.name == name:
            return found
        return self._render(snap, office, name)

    def stale(self, snap: Snapshot, codes: Sequence[str]) -> list[str]:
        """The offices among ``codes`` whose card is not rendered yet for this Snapshot."""
        out = []
        for code in codes:
            office, found = self.shown(snap.offices[code]), self._cards.get(code)
            if found is None or found.office is not office or found.name != display_name(snap, office):
                out.append(code)
        return out

    def warm_stale(self, snap: Snapshot, codes: Sequence[str]) -> None:
        """Render the cards of ``codes`` not made yet (in a thread for a whole book: ~40 µs a card)."""
        for code in self.stale(snap, codes):
            self.card(snap, snap.offices[code])

    def _render(self, snap: Snapshot, office: OfficeView, name: str) -> Card:
        text = card_30(snap, office)
        data = text.encode("utf-8")
        card = Card(office, name, data, escape(text), '"' + hashlib.sha256(data).hexdigest()[:32] + '"')
        with self._lock:
            self._cards[office.region_code] = card
        return card
