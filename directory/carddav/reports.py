"""The REPORTs of a CardDAV book: ``addressbook-multiget``, ``addressbook-query`` and ``sync-collection``.

Owns: reading each report's body (the requested properties, hrefs, filter, limit, sync token) and answering it
as a multistatus over the book's members only: a multiget href outside the book, even of an existing office,
is a 404 like an unknown one. Thunderbird sends one multiget with every href of a book, so the href count is
bounded by ``[carddav] max_hrefs`` (20,000 by default, above the largest book), not by a small batch size. An
unknown report is the RFC's 403 ``supported-report``.
"""

from __future__ import annotations

import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterable, Sequence

from directory.carddav import books, props, query
from directory.carddav.books import Target
from directory.carddav.davxml import CARD, DAV, gone, multistatus, qname, response, status, text
from directory.carddav.props import Dav
from directory.errors import Precondition, TooLarge

DEFAULT_PROPS = (qname(DAV, "getetag"),)
SUPPORTED_REPORT = qname(DAV, "supported-report")


def wanted(root: ET.Element) -> list[str] | None:
    """The properties a report asks for (None: allprop); ``getetag`` alone when it names none."""
    if root.find(qname(DAV, "allprop")) is not None:
        return None
    prop = root.find(qname(DAV, "prop"))
    if prop is None:
        return list(DEFAULT_PROPS)
    return [child.tag for child in prop]


def _cards(dav: Dav, view: str, codes: Iterable[str], asked: list[str] | None) -> list[str]:
    return [props.one(dav, books.card_path(view, code), Target("card", view, code), asked) for code in codes]


def _card_of_href(dav: Dav, view: str, raw: str) -> str | None:
    """The region code a multiget href names in this book, or None."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(urllib.parse.urljoin(books.book_path(view), raw)).path)
    target = books.resolve(dav.snap, path)
    if target is None or target.kind != "card" or target.view != view or target.code not in dav.snap.offices:
        return None
    return target.code if books.in_book(dav.snap, view, target.code) else None


async def multiget(dav: Dav, view: str, root: ET.Element, max_hrefs: int) -> bytes:
    hrefs = root.findall(qname(DAV, "href"))
    if len(hrefs) > max_hrefs:
        raise TooLarge(f"一次最多取 {max_hrefs} 张名片（请求了 {len(hrefs)} 张），未做任何处理")
    asked = wanted(root)
    found = await dav.work(len(hrefs), _resolve_hrefs, dav, view, hrefs)
    await dav.ready([code for _, code in found if code is not None])
    return await dav.work(len(found), _multiget_answer, dav, view, found, asked)


def _resolve_hrefs(dav: Dav, view: str, hrefs: list[ET.Element]) -> list[tuple[str, str | None]]:
    raws = ((h.text or "").strip() for h in hrefs)
    return [(raw, _card_of_href(dav, view, raw) if raw else None) for raw in raws]


def _multiget_answer(dav: Dav, view: str, found: list[tuple[str, str | None]], asked: list[str] | None) -> bytes:
    return multistatus(
        gone(raw) if code is None else props.one(dav, raw, Target("card", view, code), asked) for raw, code in found
    )


def _limit(root: ET.Element) -> int | None:
    found = (root.findtext(f"{qname(CARD, 'limit')}/{qname(CARD, 'nresults')}") or "").strip()
    return int(found) if found.isascii() and found.isdigit() and len(found) <= 9 else None


def _query_hits(dav: Dav, members: Sequence[str], test: query.Filter) -> list[str]:
    return [c for c in members if query.matches(test, dav.cache.shown(dav.snap.offices[c]), dav.card(c).name)]


async def addressbook_query(dav: Dav, view: str, root: ET.Element, max_hrefs: int) -> bytes:
    test = query.parse_filter(root.find(qname(CARD, "filter")))
    limit = _limit(root)
    members = await dav.book(view)
    hits = await dav.work(len(members), _query_hits, dav, members, test)
    parts = await dav.work(len(hits[:limit]), _cards, dav, view, hits[:limit], wanted(root))
    if limit is not None and len(hits) > limit:  # RFC 6352 §8.6.1: say the answer was cut
        parts.append(response(books.book_path(view), status(507)))
    return multistatus(parts)


async def sync_collection(dav: Dav, view: str, root: ET.Element, max_hrefs: int) -> bytes:
    """Every card for an empty token; else the cards changed and removed since it (from the change log)."""
    token = (root.findtext(qname(DAV, "sync-token")) or "").strip()
    asked = wanted(root)
    if not token:
        codes = await dav.book(view)
        parts = await dav.work(len(codes), _cards, dav, view, codes, asked)
        return multistatus(parts, f"<d:sync-token>{text(dav.token())}</d:sync-token>")
    delta = await dav.tokens.since(view, token)
    dav = Dav(delta.snap, dav.user, dav.cache, dav.tokens, dav.sent)
    await dav.ready(delta.changed)
    parts = _cards(dav, view, delta.changed, asked) + [gone(books.card_path(view, c)) for c in delta.removed]
    return multistatus(parts, f"<d:sync-token>{text(delta.token)}</d:sync-token>")


Report = Callable[[Dav, str, ET.Element, int], Awaitable[bytes]]
REPORTS: dict[str, Report] = {
    qname(CARD, "addressbook-multiget"): multiget,
    qname(CARD, "addressbook-query"): addressbook_query,
    qname(DAV, "sync-collection"): sync_collection,
}


async def run(dav: Dav, target: Target, root: ET.Element | None, max_hrefs: int) -> bytes:
    """The answer to a REPORT on ``target``; reports other than the book's three are refused (403)."""
    report = REPORTS.get(root.tag) if root is not None else None
    if root is None or report is None or target.kind != "book":
        name = root.tag if root is not None else "（空）"
        message = f"不支持的报告 {name[:80]}：通讯录只支持 addressbook-multiget、addressbook-query、sync-collection"
        raise Precondition(SUPPORTED_REPORT, message)
    return await report(dav, target.view, root, max_hrefs)
