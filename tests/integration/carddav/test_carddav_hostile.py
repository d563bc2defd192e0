"""Hostile input to the CardDAV face: XML bombs and external entities, bodies over the limit (declared and chunked),
too many hrefs, unknown reports and methods, writes, bad filters, unknown sync tokens, paths that try to reach
outside a book, and real clients' bodies mangled at random. Each gets a clear answer, nothing is written, and the
server keeps answering."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from directory.carddav.books import book_path, card_path
from tests.support.carddav import NS, DavWorld, multiget_body, sync_body

pytestmark = pytest.mark.asyncio(loop_scope="module")

HEBEI = "130000000000"
CHANGAN = "130102000000"
LIXIA = "370102000000"
BOOK = book_path(HEBEI)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10))
    + f']><d:propfind {NS}><d:prop><d:displayname>&lol9;</d:displayname></d:prop></d:propfind>'
)
EXTERNAL = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
    f"<d:propfind {NS}><d:prop><d:displayname>&secret;</d:displayname></d:prop></d:propfind>"
)


async def _still_answers(world: DavWorld) -> None:
    reply = await world.editor.request("PROPFIND", BOOK, b"", "0")
    assert reply.status == 207


async def test_xml_bombs_and_bad_xml_are_refused(dav_world: DavWorld) -> None:
    c = dav_world.editor
    for body, expected in ((LAUGHS, "DTD"), (EXTERNAL, "DTD"), ("<d:propfind", "不是合法的 XML")):
        reply = await c.request("PROPFIND", BOOK, body, "0")
        assert reply.status == 400 and expected in reply.body.decode(), reply.body.decode()
        assert b"root:" not in reply.body
    deep = "<a>" * 50_000 + "</a>" * 50_000
    assert (await c.request("PROPFIND", BOOK, deep, "0")).status == 400  # not a DAV:propfind
    assert (await c.request("REPORT", BOOK, deep)).status == 403  # not a report this book knows
    wrong_root = f"<d:mkcol {NS}/>"
    reply = await c.request("PROPFIND", BOOK, wrong_root, "0")
    assert reply.status == 400 and "DAV:propfind" in reply.body.decode()
    assert (await c.request("PROPFIND", BOOK, b"", "2")).status == 400
    await _still_answers(dav_world)


async def test_bodies_over_the_limit(dav_world: DavWorld) -> None:
    c = dav_world.editor
    limit = 4 * 1024 * 1024
    big = b"<x>" + b" " * limit + b"</x>"
    reply = await c.request("REPORT", BOOK, big)
    assert reply.status == 413 and f"上限 {limit} 字节" in reply.body.decode()

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(80):
            yield b" " * 65536

    sent = await dav_world.client.request(
        "REPORT", BOOK, data=chunks(), headers={"Authorization": c.authorization or "", "Depth": "0"}
    )
    assert sent.status == 413 and "上限" in await sent.text()
    many = [card_path(HEBEI, CHANGAN)] * 20_001
    reply = await c.request("REPORT", BOOK, multiget_body(many, "<d:getetag/>"))
    assert reply.status == 413 and "20000" in reply.body.decode()
    await _still_answers(dav_world)


async def test_reports_methods_and_writes(dav_world: DavWorld) -> None:
    c = dav_world.editor
    unknown = '<x:free-busy-query xmlns:x="urn:ietf:params:xml:ns:caldav"/>'
    for path, body in ((BOOK, unknown), (f"/carddav/p/{HEBEI}/", multiget_body([])), (BOOK, b"")):
        reply = await c.request("REPORT", path, body)
        assert reply.status == 403 and b"<d:supported-report/>" in reply.body, (path, reply.body)
    before = dav_world.store.get_office(CHANGAN)
    vcard = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nFN:假单位\r\nEND:VCARD\r\n"
    for method, path, body in (
        ("PUT", card_path(HEBEI, CHANGAN), vcard),
        ("PUT", card_path(HEBEI, "130102999999"), vcard),
        ("DELETE", card_path(HEBEI, CHANGAN), ""),
        ("DELETE", BOOK, ""),
        ("PROPPATCH", BOOK, f"<d:propertyupdate {NS}><d:set><d:prop><d:displayname>x</d:displayname></d:prop>"
                            "</d:set></d:propertyupdate>"),
        ("MKCOL", f"/carddav/p/{HEBEI}/", ""),
        ("MOVE", card_path(HEBEI, CHANGAN), ""),
        ("POST", BOOK, vcard),
        ("MKCALENDAR", f"/carddav/p/{HEBEI}/cal/", ""),
    ):
        reply = await c.request(method, path, body)
        assert reply.status == 403 and b"<d:need-privileges/>" in reply.body, (method, path)
        assert "只读" in reply.body.decode()
    assert (await c.as_user(None).request("DELETE", card_path(HEBEI, CHANGAN))).status == 401
    reply = await c.request("SEARCH", BOOK)
    assert reply.status == 405 and "PROPFIND" in reply.headers["Allow"]
    assert dav_world.store.get_office(CHANGAN) == before
    head = await c.request("HEAD", card_path(HEBEI, CHANGAN))
    assert head.status == 200 and head.body == b"" and head.headers["ETag"]


async def test_bad_filters(dav_world: DavWorld) -> None:
    c = dav_world.editor

    def query(inner: str) -> str:
        return f"<card:addressbook-query {NS}><d:prop><d:getetag/></d:prop><card:filter>{inner}</card:filter>" \
               "</card:addressbook-query>"

    cases = (
        ('<card:prop-filter name="TEL"><card:param-filter name="TYPE"/></card:prop-filter>', 403, b"supported-filter"),
        ('<card:prop-filter name="FN"><card:text-match collation="i;klingon">a</card:text-match></card:prop-filter>',
         403, b"supported-collation"),
        ('<card:prop-filter name="FN">' + "<card:text-match>a</card:text-match>" * 33 + "</card:prop-filter>", 400,
         "最多 32".encode()),
        ('<card:prop-filter name="FN"><card:text-match>' + "长" * 201 + "</card:text-match></card:prop-filter>", 400,
         "过长".encode()),
        ('<card:prop-filter name="FN"><card:text-match match-type="regex">.*</card:text-match></card:prop-filter>',
         400, "匹配方式".encode()),
    )
    for inner, status, said in cases:
        reply = await c.request("REPORT", BOOK, query(inner))
        assert reply.status == status and said in reply.body, (inner[:60], reply.body)
    limited = (
        f"<card:addressbook-query {NS}><d:prop><d:getetag/></d:prop><card:filter/>"
        "<card:limit><card:nresults>3</card:nresults></card:limit></card:addressbook-query>"
    )
    got = await c.report(BOOK, limited)
    assert len([h for h in got.responses if h.endswith(".vcf")]) == 3
    assert got[BOOK].status == "HTTP/1.1 507 Insufficient Storage"
    for nonsense in ("9" * 5000, "-1", "٣", "x"):  # ignored: the whole book, as without a limit
        unlimited = await c.report(BOOK, limited.replace(">3<", f">{nonsense}<"))
        assert BOOK not in unlimited.responses and len(unlimited.responses) > 2000


async def test_unknown_sync_tokens(dav_world: DavWorld) -> None:
    c = dav_world.editor
    good = (await c.report(BOOK, sync_body("", "<d:getetag/>"))).sync_token or ""
    db = good.removeprefix("urn:bohai:sync:").split("-")[0]
    for token in (
        "urn:bohai:sync:00000000-1",  # another database's
        "http://example.org/sync/1",
        f"urn:bohai:sync:{db}-99999999",  # newer than the server
        f"urn:bohai:sync:{db}-" + "9" * 40,
        "<&>" * 2000,
    ):
        reply = await c.request("REPORT", BOOK, sync_body(token.replace("<&>", "&lt;&amp;&gt;")))
        assert reply.status == 403 and reply.headers["Content-Type"].startswith("application/xml"), token[:40]
        assert b"<d:valid-sync-token/>" in reply.body and b"<d:error" in reply.body


async def test_nothing_outside_the_book_leaks(dav_world: DavWorld) -> None:
    c = dav_world.editor
    outside = [
        card_path(HEBEI, LIXIA),  # an office of 山东 named under 河北's book
        f"/carddav/p/370000000000/book/{LIXIA}.vcf",  # another book's card
        "http://evil.example/carddav/p/130000000000/book/130102000000.vcf/../../../370000000000/book/x",
        f"{BOOK}../../370000000000/book/{LIXIA}.vcf",
        f"{BOOK}%2e%2e/{LIXIA}.vcf",
        "",
    ]
    got = await c.report(BOOK, multiget_body([*outside, card_path(HEBEI, CHANGAN)], "<card:address-data/>"))
    for href in outside:
        assert got[href].status == "HTTP/1.1 404 Not Found" and not got[href].found, href
    assert got[card_path(HEBEI, CHANGAN)].found
    alone = await c.request("REPORT", BOOK, multiget_body(outside, "<card:address-data/>"))
    assert b"BEGIN:VCARD" not in alone.body and "历下".encode() not in alone.body
    for path in (card_path(HEBEI, LIXIA), "/carddav/p/130102000000/", "/carddav/p/999999999999/book/",
                 "/carddav/x/", "/carddav/p/all/book/extra/", f"/carddav/p/{HEBEI}/book/{CHANGAN}.vcf.bak"):
        assert (await c.request("GET", path)).status == 404, path
    listing = await c.propfind(BOOK, "<d:getetag/>", "1")
    assert not [h for h in listing.responses if not h.startswith(BOOK)]
    assert all(h[len(BOOK):][:2] == "13" for h in listing.responses if h != BOOK)


async def test_mangled_client_bodies_never_crash(dav_world: DavWorld) -> None:
    """Real clients' bodies with bytes flipped, cut, repeated or spliced: every answer is a deliberate one."""
    seeds = [
        f"<d:propfind {NS}><d:prop><d:resourcetype/><d:getetag/><cs:getctag/></d:prop></d:propfind>",
        multiget_body([card_path(HEBEI, CHANGAN), card_path(HEBEI, LIXIA)]),
        sync_body("urn:bohai:sync:00000000-1"),
        f"<card:addressbook-query {NS}><d:prop><d:getetag/></d:prop><card:filter><card:prop-filter name=\"FN\">"
        "<card:text-match>长安</card:text-match></card:prop-filter></card:filter></card:addressbook-query>",
    ]
    rng = random.Random(14)
    for case in range(240):
        body = bytearray(seeds[case % len(seeds)].encode("utf-8"))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(body))
            kind = rng.randrange(4)
            if kind == 0:
                body[at] = rng.randrange(256)
            elif kind == 1:
                del body[at:]
            elif kind == 2:
                body[at:at] = body[at : at + rng.randint(1, 40)] * rng.randint(1, 5)
            else:
                body[at:at] = rng.choice([b"<!DOCTYPE x>", b"&x;", b"<d:href>", b"\x00", b"]]>", b"<![CDATA["])
            if not body:
                body = bytearray(b"<")
        method = "REPORT" if case % 2 else "PROPFIND"
        reply = await dav_world.editor.request(method, BOOK, bytes(body), rng.choice(["0", "1"]))
        assert reply.status in (207, 400, 403), (method, bytes(body)[:200], reply.status, reply.body[:200])
    await _still_answers(dav_world)
