"""What real CardDAV clients send, replayed against the real app, checking every property each of them reads.

The request bodies and headers are those of the clients' sources: Thunderbird (CardDAVUtils.detectAddressBooks,
CardDAVDirectory.fetchAllFromServer / _getSyncToken / updateAllFromServerV2 / _multigetRequest), DAVx5
(DavResourceFinder, then sync-collection without address data and multigets in batches of ten), iOS and macOS
Contacts (principal properties at Depth 0, getctag, sync-collection with Depth 1) and Evolution (OPTIONS, getctag
and sync-token, sync-collection, multigets of a hundred).
"""

from __future__ import annotations

import pytest
import vobject

from directory.carddav.books import book_path, card_path, members
from tests.support.carddav import CARD, CS, DAV, NS, DavClient, DavWorld, multiget_body, sync_body

pytestmark = pytest.mark.asyncio(loop_scope="module")

HEBEI = "130000000000"
SHIJIAZHUANG = "130100000000"
CHANGAN = "130102000000"
OK = "HTTP/1.1 200 OK"


def propfind(props: str, ns: str = 'xmlns="DAV:"') -> str:
    return f"<propfind {ns}><prop>{props}</prop></propfind>"


async def test_thunderbird_discovers_from_the_root_and_syncs(dav_world: DavWorld) -> None:
    c = dav_world.editor
    # detectAddressBooks: for a URL without a path it goes to /.well-known/carddav (and follows, keeping the method)
    moved = await c.request("PROPFIND", "/.well-known/carddav", propfind("<current-user-principal/>"), "0")
    assert moved.status == 301 and moved.headers["Location"] == "/carddav/"
    body = propfind("<current-user-principal/>")
    root = (await c.request("PROPFIND", "/carddav/", body, "0")).multistatus()
    principal = root["/carddav/"].found[f"{DAV}current-user-principal"].findtext(f"{DAV}href")
    assert principal == f"/carddav/p/{HEBEI}/", "an editor of 河北 is led to 河北's principal"
    home_body = propfind("<card:addressbook-home-set/>", 'xmlns="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"')
    home = (await c.request("PROPFIND", principal, home_body, "0")).multistatus()
    home_url = home[principal].found[f"{CARD}addressbook-home-set"].findtext(f"{DAV}href")
    listing_body = propfind("<resourcetype/><displayname/><current-user-privilege-set/>")
    listing = (await c.request("PROPFIND", home_url or "", listing_body, "1")).multistatus()
    books = [r for r in listing.responses.values() if r.first_status == OK and r.found[f"{DAV}resourcetype"].find(
        f"{CARD}addressbook") is not None]
    assert [b.href for b in books] == [book_path(HEBEI)]
    assert books[0].text(f"{DAV}displayname") == "河北省流动人口服务机构通讯录"
    privilege_set = books[0].found[f"{DAV}current-user-privilege-set"]
    privileges = [p.tag for p in privilege_set.iter() if p.tag != f"{DAV}privilege"]
    assert privileges[1:] == [f"{DAV}read"], "read only: Thunderbird marks the book read-only"
    # fetchAllFromServer: Depth 1 with resourcetype, getetag, getctag; then ONE multiget of every href
    fetch_body = f'<propfind xmlns="DAV:" {NS}><prop><resourcetype/><getetag/><cs:getctag/></prop></propfind>'
    everything = (await c.request("PROPFIND", book_path(HEBEI), fetch_body, "1")).multistatus()
    cards = {h: r for h, r in everything.responses.items() if h.endswith(".vcf")}
    assert len(cards) == len(members(dav_world.holder.current, HEBEI)) > 2000
    assert all(r.first_status == OK and r.text(f"{DAV}getetag").startswith('"') for r in cards.values())
    got = await c.report(book_path(HEBEI), multiget_body(list(cards)), "1")
    assert set(got.responses) == set(cards)
    for href, r in got.responses.items():
        assert r.first_status == OK and r.text(f"{DAV}getetag") == cards[href].text(f"{DAV}getetag")
    card = vobject.readOne(got[card_path(HEBEI, CHANGAN)].text(f"{CARD}address-data"))
    assert card.uid.value == CHANGAN and card.version.value == "3.0"
    # _getSyncToken, then updateAllFromServerV2 with Depth 1 ("only Google seems to need this")
    token_body = f'<propfind xmlns="DAV:" {NS}><prop><displayname/><cs:getctag/><sync-token/></prop></propfind>'
    state = (await c.request("PROPFIND", book_path(HEBEI), token_body, "0")).multistatus()
    token = state[book_path(HEBEI)].text(f"{DAV}sync-token")
    assert ":" in token and token == state[book_path(HEBEI)].text(f"{CS}getctag")
    again = await c.report(book_path(HEBEI), sync_body(token), "1")
    assert again.responses == {} and again.sync_token == token
    # Thunderbird 102-115 asked for <cs:getetag/> in sync-collection and read any element named getetag
    older = await c.report(book_path(HEBEI), sync_body("", "<cs:getetag/><card:address-data/>"), "1")
    changan = older[card_path(HEBEI, CHANGAN)]
    assert changan.text(f"{CS}getetag") == cards[card_path(HEBEI, CHANGAN)].text(f"{DAV}getetag")


async def test_davx5_finds_a_read_only_book_and_syncs_in_batches(dav_world: DavWorld) -> None:
    c = dav_world.reader
    ns = 'xmlns="DAV:" xmlns:CARD="urn:ietf:params:xml:ns:carddav"'
    options = await c.request("OPTIONS", "/carddav/")
    assert "addressbook" in options.headers["DAV"].split(", ")
    found = (await c.request("PROPFIND", "/carddav/", propfind(
        "<resourcetype/><displayname/><CARD:addressbook-home-set/><current-user-principal/>", ns), "0")).multistatus()
    principal = found["/carddav/"].found[f"{DAV}current-user-principal"].findtext(f"{DAV}href")
    assert principal == "/carddav/p/all/", "an account without a province is led to all ten regions"
    home = (await c.request("PROPFIND", principal or "", propfind("<CARD:addressbook-home-set/>", ns), "0"))
    home_url = home.multistatus()[principal or ""].found[f"{CARD}addressbook-home-set"].findtext(f"{DAV}href")
    collection_props = (
        "<resourcetype/><displayname/><current-user-privilege-set/><CARD:addressbook-description/>"
        "<CARD:supported-address-data/><owner/><getctag xmlns='http://calendarserver.org/ns/'/><sync-token/>"
        "<supported-report-set/>"
    )
    listing = (await c.request("PROPFIND", home_url or "", propfind(collection_props, ns), "1")).multistatus()
    book = listing[book_path("all")]
    assert book.missing == set() and book.first_status == OK
    privileges = {p.tag for p in book.found[f"{DAV}current-user-privilege-set"].iter()}
    assert f"{DAV}write-content" not in privileges and f"{DAV}bind" not in privileges and f"{DAV}read" in privileges
    reports = {r.tag for r in book.found[f"{DAV}supported-report-set"].iter()}
    assert {f"{CARD}addressbook-multiget", f"{CARD}addressbook-query", f"{DAV}sync-collection"} <= reports
    assert book.found[f"{CARD}supported-address-data"][0].get("version") == "3.0"
    # initial sync-collection without address data, then multigets of ten
    first = await c.report(book_path("all"), sync_body("", "<d:getetag/>"))
    assert len(first.responses) == len(dav_world.holder.current.offices)
    batch = sorted(first.responses)[:10]
    got = await c.report(book_path("all"), multiget_body(batch, "<d:getcontenttype/><d:getetag/><card:address-data/>"))
    for href in batch:
        r = got[href]
        assert r.text(f"{DAV}getcontenttype") == "text/vcard; charset=utf-8"
        assert r.text(f"{DAV}getetag") == first[href].text(f"{DAV}getetag")
        assert "BEGIN:VCARD" in r.text(f"{CARD}address-data")


async def test_ios_and_macos_contacts(dav_world: DavWorld) -> None:
    c = dav_world.editor
    city = f"/carddav/p/{SHIJIAZHUANG}/"  # the URL a set-up page gives for one city
    principal_props = (
        "<A:current-user-principal/><A:principal-URL/><B:addressbook-home-set/><A:displayname/>"
        "<C:email-address-set/><A:resource-id/><A:supported-report-set/><A:principal-collection-set/>"
    )
    ns = 'xmlns:A="DAV:" xmlns:B="urn:ietf:params:xml:ns:carddav" xmlns:C="http://calendarserver.org/ns/"'
    body = f"<A:propfind {ns}><A:prop>{principal_props}</A:prop></A:propfind>"
    found = (await c.request("PROPFIND", city, body, "0")).multistatus()[city]
    assert found.first_status == OK, "the 200 propstat comes first"
    assert found.found[f"{DAV}current-user-principal"].findtext(f"{DAV}href") == city, "each view is its own account"
    assert found.found[f"{CARD}addressbook-home-set"].findtext(f"{DAV}href") == city
    assert {f"{CS}email-address-set", f"{DAV}resource-id"} <= found.missing
    listing = (await c.request("PROPFIND", city, f"<A:propfind {ns}><A:prop><A:resourcetype/><C:getctag/>"
                                                  "<A:sync-token/><A:displayname/></A:prop></A:propfind>", "1"))
    ms = listing.multistatus()
    assert [h for h, r in ms.responses.items() if r.found[f"{DAV}resourcetype"].find(f"{CARD}addressbook")
            is not None] == [book_path(SHIJIAZHUANG)], "exactly one book per principal (macOS reads only the first)"
    assert ms[book_path(SHIJIAZHUANG)].text(f"{CS}getctag")
    # iOS sends sync-collection with Depth 1 and asks for etags only
    synced = await c.report(book_path(SHIJIAZHUANG), sync_body("", "<d:getetag/>"), "1")
    assert set(synced.responses) == {card_path(SHIJIAZHUANG, code) for code in members(
        dav_world.holder.current, SHIJIAZHUANG)}
    assert all(code.startswith("1301") for code in (h.rsplit("/", 1)[1][:12] for h in synced.responses))
    etag = synced[card_path(SHIJIAZHUANG, CHANGAN)].text(f"{DAV}getetag")
    got = await c.request("GET", card_path(SHIJIAZHUANG, CHANGAN))
    assert got.status == 200 and got.headers["ETag"] == etag and got.headers["Content-Type"] == (
        "text/vcard; charset=utf-8")
    assert b"X-ABShowAs:COMPANY\r\n" in got.body and b"PHOTO" not in got.body
    assert (await c.request("GET", card_path(SHIJIAZHUANG, CHANGAN), **{"If-None-Match": etag})).status == 304


async def test_evolution(dav_world: DavWorld) -> None:
    c = dav_world.editor
    options = await c.request("OPTIONS", book_path(HEBEI))
    assert options.status == 200 and options.headers["DAV"] == "1, 3, addressbook"
    state = await c.propfind(book_path(HEBEI), "<cs:getctag/><d:sync-token/><d:resourcetype/>")
    token = state[book_path(HEBEI)].text(f"{DAV}sync-token")
    assert token.startswith("urn:bohai:sync:"), "Evolution ignores tokens without ':' or '/'"
    listed = await c.report(book_path(HEBEI), sync_body("", "<d:getetag/>"))
    assert listed.sync_token == token
    hundred = sorted(listed.responses)[:100]
    got = await c.report(book_path(HEBEI), multiget_body(hundred))
    assert set(got.responses) == set(hundred)
    query = (
        f'<card:addressbook-query {NS}><d:prop><d:getetag/><card:address-data/></d:prop>'
        '<card:filter test="anyof"><card:prop-filter name="FN"><card:text-match collation="i;unicode-casemap" '
        'match-type="contains">长安区</card:text-match></card:prop-filter><card:prop-filter name="TEL">'
        '<card:text-match match-type="contains">0311 2111 4012</card:text-match></card:prop-filter></card:filter>'
        "</card:addressbook-query>"
    )
    hits = await c.report(book_path(HEBEI), query, "1")
    assert card_path(HEBEI, CHANGAN) in hits.responses
    for r in hits.responses.values():
        text = r.text(f"{CARD}address-data")
        assert "长安区" in text or "0311-21114012" in text


async def test_depth_and_allprop_and_propname(dav_world: DavWorld) -> None:
    c: DavClient = dav_world.editor
    empty = (await c.request("PROPFIND", book_path(HEBEI), b"", "0")).multistatus()[book_path(HEBEI)]
    assert f"{CS}getctag" in empty.found and f"{CARD}address-data" not in empty.found
    names = await c.request("PROPFIND", card_path(HEBEI, CHANGAN), f"<d:propfind {NS}><d:propname/></d:propfind>")
    assert all(e.text is None and len(e) == 0 for e in names.multistatus()[card_path(HEBEI, CHANGAN)].found.values())
    infinite = await c.request("PROPFIND", book_path(HEBEI), b"", "infinity")
    assert infinite.status == 403 and b"propfind-finite-depth" in infinite.body
