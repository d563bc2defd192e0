"""The set-up pages, the Apple profile, the QR codes and the account page's app passwords, over a server whose
settings name a public address, LDAPS and a base DN: every page shows those values, the ``.mobileconfig`` parses
with ``plistlib`` and holds one CardDAV and one LDAP payload with them."""

from __future__ import annotations

import plistlib
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from directory.snapshot import SnapshotHolder
from directory.store import open_store
from directory.web.app import make_app
from directory.web.clients import CLIENTS
from directory.web.context import WebContext
from tests.support.carddav import PASSWORD, DavClient, account_with_app_password, basic
from tests.support.databases import Templates
from tests.support.settings import service_settings
from tests.support.web import Web

PUBLIC = "https://liaison.example.org"
BASE_DN = "dc=hbl,dc=example"
CHANGAN = "130102000000"
SECRET_RE = re.compile(r'<code class="secret">([a-z2-7-]+)</code>')


@pytest_asyncio.fixture
async def site(templates: Templates, sqlite_demo_url: str) -> AsyncIterator[Web]:
    settings = service_settings(
        sqlite_demo_url,
        web={"public_url": PUBLIC},
        ldap={"base_dn": BASE_DN, "ldaps_enabled": True, "ldaps_port": 636},
    )
    store = open_store(sqlite_demo_url)
    holder = SnapshotHolder(store, templates.snapshot(sqlite_demo_url))
    app = make_app(WebContext(settings, store, holder))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    # an https public_url makes the session cookie Secure: the client stands behind the TLS proxy here
    origin = str(server.make_url("/")).rstrip("/")
    jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=origin)
    client: TestClient[Any, Any] = TestClient(server, cookie_jar=jar)
    await client.start_server()
    yield Web(client, store, holder, settings)
    await client.close()
    store.close()


async def test_every_client_page_shows_this_servers_values(site: Web) -> None:
    c = site.client
    index = await (await c.get("/help/")).text()
    assert all(f'href="/help/{slug}"' in index for slug in CLIENTS)
    for slug in CLIENTS:
        resp = await c.get(f"/help/{slug}")
        page = await resp.text()
        assert resp.status == 200, slug
        assert f"{PUBLIC}/carddav/" in page and "liaison.example.org" in page and BASE_DN in page, slug
        assert '<dd id="ldap-tls">LDAPS</dd>' in page and '<code id="ldap-port">636</code>' in page, slug
        assert f"{PUBLIC}/carddav/p/130000000000/" in page and f"{PUBLIC}/carddav/p/all/" in page
    assert (await c.get("/help/blackberry")).status == 404
    for qr in ("/help/iphone/qr.svg", "/help/android/qr.svg", f"/office/{CHANGAN}/qr.svg"):
        resp = await c.get(qr)
        body = await resp.text()
        assert resp.status == 200 and resp.content_type == "image/svg+xml"
        assert body.startswith('<svg xmlns="http://www.w3.org/2000/svg"')  # else no browser shows the <img>
    phone = await (await c.get("/help/iphone/qr.svg")).text()
    card = await (await c.get(f"/office/{CHANGAN}/qr.svg")).text()
    assert phone != card and len(card) > len(phone), "the card's QR holds the whole vCard"
    assert (await c.get("/office/130102999999/qr.svg")).status == 404
    office_page = await (await c.get(f"/office/{CHANGAN}")).text()
    assert f'src="/office/{CHANGAN}/qr.svg"' in office_page


async def test_the_apple_profile_holds_carddav_and_ldap(site: Web) -> None:
    site.add_user("hebei", "editor", "13")
    await site.login("hebei")
    resp = await site.client.get("/help/bohai.mobileconfig")
    assert resp.status == 200 and resp.content_type == "application/x-apple-aspen-config"
    profile = plistlib.loads(await resp.read())
    assert profile["PayloadType"] == "Configuration" and "河北省" in profile["PayloadDisplayName"]
    payloads = {p["PayloadType"]: p for p in profile["PayloadContent"]}
    assert set(payloads) == {"com.apple.carddav.account", "com.apple.ldap.account"}
    card = payloads["com.apple.carddav.account"]
    assert (card["CardDAVHostName"], card["CardDAVPort"], card["CardDAVUseSSL"]) == ("liaison.example.org", 443, True)
    assert card["CardDAVPrincipalURL"] == "/carddav/p/130000000000/" and card["CardDAVUsername"] == "hebei"
    ldap = payloads["com.apple.ldap.account"]
    assert ldap["LDAPAccountHostName"] == "liaison.example.org" and ldap["LDAPAccountUseSSL"] is True
    assert ldap["LDAPSearchSettings"][0]["LDAPSearchSettingSearchBase"] == BASE_DN
    assert len({p["PayloadUUID"] for p in (profile, card, ldap)}) == 3
    city = plistlib.loads(await (await site.client.get("/help/bohai.mobileconfig?view=130100000000")).read())
    assert city["PayloadContent"][0]["CardDAVPrincipalURL"] == "/carddav/p/130100000000/"
    assert (await site.client.get("/help/bohai.mobileconfig?view=130102000000")).status == 404


async def test_the_account_page_makes_shows_once_and_revokes(site: Web) -> None:
    site.add_user("hebei", "editor", "13")
    site.add_user("other", "reader")
    await site.login("hebei")
    c = site.client
    csrf = await site.csrf("/account")
    made = await c.post("/account/app-passwords", data={"label": "手机", "csrf": csrf})
    page = await made.text()
    found = SECRET_RE.search(page)
    assert made.status == 200 and found, page[:2000]
    secret = found[1]
    again = await (await c.get("/account")).text()
    assert "手机" in again and secret not in again, "the secret is shown once"
    dav = DavClient(c, basic("hebei", secret))
    assert (await dav.request("PROPFIND", "/carddav/", b"", "0")).status == 207
    assert (await c.post("/account/app-passwords", data={"label": "", "csrf": csrf})).status == 400
    assert (await c.post("/account/app-passwords", data={"label": "平板"})).status == 403, "CSRF is checked"
    (row,) = [r for r in site.store.list_app_passwords("hebei") if r["label"] == "手机"]
    await c.post("/logout", data={"csrf": await site.csrf("/account")})
    await site.login("other", PASSWORD)
    refused = await c.post(f"/account/app-passwords/{row['id']}/revoke", data={"csrf": await site.csrf("/account")})
    assert refused.status == 404, "another account's app password cannot be revoked"
    assert (await dav.request("PROPFIND", "/carddav/", b"", "0")).status == 207
    await c.post("/logout", data={"csrf": await site.csrf("/account")})
    await site.login("hebei")
    revoked = await c.post(f"/account/app-passwords/{row['id']}/revoke", data={"csrf": await site.csrf("/account")},
                           allow_redirects=False)
    assert revoked.status == 303
    assert (await dav.request("PROPFIND", "/carddav/", b"", "0")).status == 401


async def test_carddav_keeps_its_own_login_when_anonymous_reading_is_off(
    templates: Templates, sqlite_demo_url: str
) -> None:
    settings = service_settings(sqlite_demo_url, web={"anonymous_read": False})
    store = open_store(sqlite_demo_url)
    secret = account_with_app_password(store, "hebei", "editor", "13")
    app = make_app(WebContext(settings, store, SnapshotHolder(store, templates.snapshot(sqlite_demo_url))))
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        dav = DavClient(client, basic("hebei", secret))
        moved = await dav.request("PROPFIND", "/.well-known/carddav", b"", "0")
        assert moved.status == 301 and moved.headers["Location"] == "/carddav/"
        assert (await dav.request("PROPFIND", "/carddav/", b"", "0")).status == 207
        challenged = await dav.as_user(None).request("PROPFIND", "/carddav/", b"", "0")
        assert challenged.status == 401 and challenged.headers["WWW-Authenticate"].startswith("Basic")
        assert (await client.get("/help/", allow_redirects=False)).status == 303, "pages still need a login"
        assert (await dav.request("GET", "/office/130102000000/qr.svg")).status != 200, "no app password on pages"
    finally:
        await client.close()
        store.close()
