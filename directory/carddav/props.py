"""WebDAV and CardDAV properties of every resource the CardDAV face serves, and one response per resource.

Owns: which properties each kind of resource has (root, principal collection, principal, book, card) and their
values, the ``allprop`` set, and writing one ``DAV:response`` for a requested property list (found ones in the
200 propstat first, unknown ones in a 404 propstat). What clients read here: ``current-user-principal`` →
``addressbook-home-set`` → ``resourcetype`` (discovery); ``current-user-privilege-set`` listing only ``read``
(DAVx5 treats a book as writable otherwise); ``getctag`` (macOS fetches nothing without it), ``sync-token``,
``supported-report-set``; per card a strong ``getetag`` equal to GET's ETag and ``getcontenttype``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import ParamSpec, TypeVar

from directory import clock
from directory.accounts import User
from directory.carddav import books
from directory.carddav.books import Card, CardCache, Target
from directory.carddav.davxml import CARD, CS, DAV, href, propstats, qname, response
from directory.carddav.sync import SyncTokens
from directory.snapshot import Snapshot

CONTENT_TYPE = "text/vcard; charset=utf-8"
MAX_RESOURCE_SIZE = 64 * 1024
INLINE_CARDS = 64  # cards one request may render on the event loop; more are made in a thread
READ_ONLY = "<d:privilege><d:read/></d:privilege>"
REPORTS = "".join(
    f"<d:supported-report><d:report>{r}</d:report></d:supported-report>"
    for r in ("<card:addressbook-multiget/>", "<card:addressbook-query/>", "<d:sync-collection/>")
)
ADDRESS_DATA = qname(CARD, "address-data")
P = ParamSpec("P")
T = TypeVar("T")
ADDRESS_TYPE = '<card:address-data-type content-type="text/vcard" version="3.0"/>'


@dataclass
class Dav:
    """One request's view of the face: the Snapshot it reads, who asks, the card cache and the sync tokens."""

    snap: Snapshot
    user: User
    cache: CardCache
    tokens: SyncTokens
    sent: list[int] = field(default_factory=lambda: [0])  # cards whose data the request sends (the scraping limit)

    def card(self, code: str) -> Card:
        return self.cache.card(self.snap, self.snap.offices[code])

    def served(self, code: str) -> Card:
        """The card of ``code`` for sending its data."""
        self.sent[0] += 1
        return self.card(code)

    async def book(self, view: str) -> Sequence[str]:
        """The members of ``view``'s book with their cards ready (see :meth:`ready`)."""
        codes = await asyncio.to_thread(books.members, self.snap, view)
        await self.ready(codes)
        return codes

    async def work(self, count: int, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn`` over ``count`` cards: on the event loop for a few, in a thread for many, so that a book of
        thousands of cards (parsing the multiget, writing the answer) never holds the other requests up for long."""
        if count <= INLINE_CARDS:
            return fn(*args, **kwargs)
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def ready(self, codes: Sequence[str]) -> None:
        """Render the cards of ``codes`` that are not made yet, in a thread when there are many: a first sync of
        a whole book after start or after a large import would otherwise stop the event loop for a second."""
        if len(codes) > INLINE_CARDS:
            await asyncio.to_thread(self.cache.warm_stale, self.snap, codes)

    def token(self) -> str:
        return self.tokens.token(self.snap.generation)


Getter = Callable[[Dav, Target], str]


def _d(name: str) -> str:
    return qname(DAV, name)


def _principal(d: Dav, t: Target) -> str:
    return href(books.principal_path(t.view or books.home_view(d.user)))


COMMON: dict[str, Getter] = {
    _d("current-user-principal"): _principal,
    _d("current-user-privilege-set"): lambda d, t: READ_ONLY,
    _d("principal-collection-set"): lambda d, t: href(books.PRINCIPALS),
}
ROOT: dict[str, Getter] = {
    **COMMON,
    _d("resourcetype"): lambda d, t: "<d:collection/>",
    _d("displayname"): lambda d, t: "环渤海通讯联络服务",
    _d("principal-URL"): _principal,
    qname(CARD, "addressbook-home-set"): _principal,
}
PRINCIPALS: dict[str, Getter] = {
    **COMMON,
    _d("resourcetype"): lambda d, t: "<d:collection/>",
    _d("displayname"): lambda d, t: "通讯录",
}
PRINCIPAL: dict[str, Getter] = {
    **COMMON,
    _d("resourcetype"): lambda d, t: "<d:collection/><d:principal/>",
    _d("displayname"): lambda d, t: books.principal_name(d.snap, t.view),
    _d("principal-URL"): _principal,
    qname(CARD, "addressbook-home-set"): _principal,
    _d("supported-report-set"): lambda d, t: "",
}
BOOK: dict[str, Getter] = {
    **COMMON,
    _d("resourcetype"): lambda d, t: "<d:collection/><card:addressbook/>",
    _d("displayname"): lambda d, t: books.book_name(d.snap, t.view),
    qname(CARD, "addressbook-description"): lambda d, t: "环渤海通讯联络服务 · 只读通讯录",
    qname(CS, "getctag"): lambda d, t: d.token(),
    _d("sync-token"): lambda d, t: d.token(),
    _d("supported-report-set"): lambda d, t: REPORTS,
    qname(CARD, "supported-address-data"): lambda d, t: ADDRESS_TYPE,
    qname(CARD, "max-resource-size"): lambda d, t: str(MAX_RESOURCE_SIZE),
    _d("owner"): lambda d, t: href(books.principal_path(t.view)),
}
CARD_PROPS: dict[str, Getter] = {
    _d("current-user-privilege-set"): lambda d, t: READ_ONLY,
    _d("resourcetype"): lambda d, t: "",
    _d("getetag"): lambda d, t: d.card(t.code).etag,
    # Thunderbird 102-115 ask for getetag in the calendarserver namespace in sync-collection and read any element
    # named getetag: without this a changed card would never be updated there
    qname(CS, "getetag"): lambda d, t: d.card(t.code).etag,
    _d("getcontenttype"): lambda d, t: CONTENT_TYPE,
    _d("getcontentlength"): lambda d, t: str(len(d.card(t.code).data)),
    _d("getlastmodified"): lambda d, t: format_datetime(clock.aware(d.snap.offices[t.code].updated_at), usegmt=True),
    _d("displayname"): lambda d, t: d.card(t.code).name,
    ADDRESS_DATA: lambda d, t: d.served(t.code).xml,
}
BY_KIND: Mapping[str, dict[str, Getter]] = {
    "root": ROOT,
    "principals": PRINCIPALS,
    "principal": PRINCIPAL,
    "book": BOOK,
    "card": CARD_PROPS,
}
NOT_IN_ALLPROP = frozenset({ADDRESS_DATA, qname(CS, "getetag")})


def one(dav: Dav, path: str, target: Target, wanted: Iterable[str] | None, names_only: bool = False) -> str:
    """The ``DAV:response`` of one resource: ``wanted`` tags (None: allprop), or only their names (propname)."""
    table = BY_KIND[target.kind]
    if wanted is None:
        wanted = [tag for tag in table if tag not in NOT_IN_ALLPROP]
    found: dict[str, str] = {}
    missing: list[str] = []
    for tag in wanted:
        getter = table.get(tag)
        if getter is None:
            missing.append(tag)
        else:
            found[tag] = "" if names_only else getter(dav, target)
    return response(path, propstats(found, missing))
