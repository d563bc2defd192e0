"""Scraping limits with their production default (5,000 entries a minute per reader): a real client's normal use
passes — a CardDAV initial sync of the largest province book, a burst of autocomplete searches, the office picker —
while paging through the whole directory (15,404 offices) over the API, anonymously or as one account, is refused
with 429 and Retry-After partway; a configured exemption lets a sync account through; LDAP answers a scraper's
paged walk with adminLimitExceeded while an Outlook-style paged browse of a few pages passes."""

from __future__ import annotations

import asyncio

import ldap3
import pytest

from directory import apppasswords
from directory.carddav import books
from directory.ldap.service import start_ldap
from tests.support.carddav import basic, multiget_body
from tests.support.web import WebFactory

LIMITS = {"web": {"entries_per_minute": 5000, "entries_exempt": "sync-robot"}}
HENAN = "410000000000"  # the largest province book of the demo data (2,785 offices)


async def page_everything(w: object, limit: int = 500) -> tuple[int, int, str | None]:
    """Page through every province's offices; (entries received, requests, Retry-After of the first 429)."""
    client = w.client  # type: ignore[attr-defined]
    received = requests = 0
    for province in ("11", "12", "13", "14", "15", "21", "22", "23", "37", "41"):
        offset = 0
        while True:
            resp = await client.get(
                "/api/v1/offices", params={"region": province + "0" * 10, "limit": str(limit), "offset": str(offset)}
            )
            requests += 1
            if resp.status == 429:
                return received, requests, resp.headers.get("Retry-After")
            assert resp.status == 200
            page = (await resp.json())["offices"]
            received += len(page)
            if len(page) < limit:
                break
            offset += limit
    return received, requests, None


@pytest.mark.slow
async def test_normal_use_passes_and_paging_everything_is_refused(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url, **LIMITS)
    c = w.client
    snap = w.holder.current
    assert len(snap.offices) > 15_000

    # a phone's initial sync of the largest province book: every card, one account
    w.add_user("henan-editor", "editor", "41")
    secret = apppasswords.add(w.store, "henan-editor", "手机", "test").secret
    auth = {"Authorization": basic("henan-editor", secret)}
    members = books.members(snap, HENAN)
    assert len(members) > 2500
    props = '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>'
    listing = await c.request("PROPFIND", books.book_path(HENAN), data=props, headers={**auth, "Depth": "1"})
    assert listing.status == 207
    hrefs = [books.card_path(HENAN, code) for code in members]
    for start in range(0, len(hrefs), 1000):  # as DAVx⁵ fetches: multigets of a few hundred to a thousand
        body = multiget_body(hrefs[start : start + 1000])
        got = await c.request("REPORT", books.book_path(HENAN), data=body, headers={**auth, "Depth": "1"})
        assert got.status == 207, start

    # autocomplete while typing, and the office picker, as another account
    w.add_user("li-reader", "reader")
    await w.login("li-reader")
    for n in range(60):
        prefix = "石家庄长安区"[: 1 + n % 6]
        assert (await c.get("/api/v1/search", params={"q": prefix, "limit": "20"})).status == 200
    assert (await c.get("/api/v1/offices", params={"region": "130100000000", "limit": "200"})).status == 200

    # the same reader paging through everything is stopped long before the end
    received, requests, retry = await page_everything(w)
    assert retry is not None and int(retry) >= 1 and requests > 1
    assert received < len(snap.offices)

    # anonymous: counted by address
    c.session.cookie_jar.clear()
    received, _, retry = await page_everything(w)
    assert retry is not None and received < len(snap.offices)

    # the exempt account pages through all of it
    w.add_user("sync-robot", "reader")
    await w.login("sync-robot")
    received, _, retry = await page_everything(w)
    assert retry is None and received == len(snap.offices)


@pytest.mark.slow
async def test_ldap_paged_browse_passes_and_a_scrapers_walk_is_refused(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url)
    settings = w.settings.replace(ldap={"port": 0, "entries_per_minute": 5000})
    server, urls = await start_ldap(settings.ldap, w.holder, w.store)
    port = int(urls["ldap"].rsplit(":", 1)[1])
    base = settings.ldap.base_dn

    def walk(pages: int | None) -> tuple[int, list[str]]:
        conn = ldap3.Connection(ldap3.Server("127.0.0.1", port, get_info=ldap3.NONE), auto_bind=True)
        received, results = 0, []
        cookie: bytes | None = None
        try:
            while True:
                conn.search(
                    base, "(objectClass=inetOrgPerson)", attributes=["cn", "mail"], paged_size=500, paged_cookie=cookie
                )
                results.append(conn.result["description"])
                if conn.result["result"] != 0:
                    break
                received += len(conn.entries)
                cookie = conn.result["controls"]["1.2.840.113556.1.4.319"]["value"]["cookie"]
                if not cookie or (pages is not None and len(results) >= pages):
                    break
        finally:
            conn.unbind()
        return received, results

    try:
        received, results = await asyncio.to_thread(walk, 3)  # Outlook showing the first screens of the list
        assert received == 1500 and set(results) == {"success"}
        received, results = await asyncio.to_thread(walk, None)  # the rest of the minute's budget, then refused
        assert results[-1] == "adminLimitExceeded" and received < 15_000
    finally:
        await server.close()
