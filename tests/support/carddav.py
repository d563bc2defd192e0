"""Helpers of the CardDAV tests: a small WebDAV client over the real app, and an independent multistatus reader.

``DavClient`` sends what a client sends (method, path, Depth, body) with HTTP Basic; ``Multistatus`` reads an
answer as clients do — per ``response``: its href, the response-level status, the first ``status`` in document
order (all Thunderbird reads), and the properties of the 200 and 404 propstats. ``DavWorld`` is what the
``dav_world`` fixture (tests/integration/carddav/conftest.py) gives: one app over a copy of the demo directory with
two accounts and their app passwords. ``recorder`` counts the cards each exchange carried; ``edit_office`` saves one
office as an editor's form would.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from aiohttp.test_utils import TestClient

from directory import accounts, apppasswords
from directory.store import Store

DAV = "{DAV:}"
CARD = "{urn:ietf:params:xml:ns:carddav}"
CS = "{http://calendarserver.org/ns/}"
NS = 'xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav" xmlns:cs="http://calendarserver.org/ns/"'
PASSWORD = "correct horse 13"


def basic(username: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode("ascii")


def account_with_app_password(store: Store, username: str, role: str = "reader", province: str | None = None) -> str:
    """A new account and one app password of it; the secret."""
    accounts.add_user(store, username, PASSWORD, role, province, "test")
    return apppasswords.add(store, username, "测试设备", "test").secret


@dataclass
class DavResponse:
    href: str
    status: str | None  # the response-level status (sync removals, multiget misses)
    first_status: str | None  # the first <status> in document order: Thunderbird reads only this one
    found: dict[str, ET.Element] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)

    def text(self, tag: str) -> str:
        return "".join(self.found[tag].itertext())


@dataclass
class Multistatus:
    responses: dict[str, DavResponse]
    sync_token: str | None
    root: ET.Element

    def __getitem__(self, href: str) -> DavResponse:
        return self.responses[href]


def parse_multistatus(body: bytes) -> Multistatus:
    root = ET.fromstring(body)
    assert root.tag == f"{DAV}multistatus", root.tag
    responses = {}
    for r in root.findall(f"{DAV}response"):
        href = r.findtext(f"{DAV}href") or ""
        first = next((e.text for e in r.iter(f"{DAV}status")), None)
        out = DavResponse(href, r.findtext(f"{DAV}status"), first)
        for ps in r.findall(f"{DAV}propstat"):
            ok = (ps.findtext(f"{DAV}status") or "").startswith("HTTP/1.1 200")
            for prop in ps.find(f"{DAV}prop") or []:
                if ok:
                    out.found[prop.tag] = prop
                else:
                    out.missing.add(prop.tag)
        assert href not in responses, f"two responses for {href}"
        responses[href] = out
    return Multistatus(responses, root.findtext(f"{DAV}sync-token"), root)


@dataclass
class DavReply:
    status: int
    headers: Any
    body: bytes

    def multistatus(self) -> Multistatus:
        assert self.status == 207, (self.status, self.body[:500])
        assert self.headers["Content-Type"].startswith("application/xml")
        return parse_multistatus(self.body)


@dataclass
class DavClient:
    client: TestClient[Any, Any]
    authorization: str | None

    async def request(
        self, method: str, path: str, body: str | bytes = b"", depth: str | None = None, **headers: str
    ) -> DavReply:
        sent = dict(headers)
        if self.authorization:
            sent["Authorization"] = self.authorization
        if depth is not None:
            sent["Depth"] = depth
        if body:
            sent.setdefault("Content-Type", "application/xml; charset=utf-8")
        data = body.encode("utf-8") if isinstance(body, str) else body
        resp = await self.client.request(method, path, data=data, headers=sent, allow_redirects=False)
        return DavReply(resp.status, resp.headers, await resp.read())

    async def propfind(self, path: str, props: str, depth: str = "0") -> Multistatus:
        body = f'<?xml version="1.0" encoding="utf-8"?><d:propfind {NS}><d:prop>{props}</d:prop></d:propfind>'
        return (await self.request("PROPFIND", path, body, depth)).multistatus()

    async def report(self, path: str, body: str, depth: str | None = None) -> Multistatus:
        return (await self.request("REPORT", path, body, depth)).multistatus()

    def as_user(self, authorization: str | None) -> DavClient:
        return DavClient(self.client, authorization)


def multiget_body(hrefs: list[str], props: str = "<d:getetag/><card:address-data/>") -> str:
    items = "".join(f"<d:href>{h}</d:href>" for h in hrefs)
    return f"<card:addressbook-multiget {NS}><d:prop>{props}</d:prop>{items}</card:addressbook-multiget>"


def sync_body(token: str, props: str = "<d:getetag/><card:address-data/>") -> str:
    return (
        f'<d:sync-collection {NS}><d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level>'
        f"<d:prop>{props}</d:prop></d:sync-collection>"
    )


@dataclass
class DavWorld:
    """One running app over its own copy of the demo directory, with two accounts and their app passwords:
    ``editor`` (editor of 河北 13, discovery leads to the 河北 book) and ``reader`` (no province: all regions)."""

    client: TestClient[Any, Any]
    store: Store
    holder: Any
    editor: DavClient
    reader: DavClient
    editor_secret: str
    reader_secret: str


def edit_office(store: Store, code: str, **changes: Any) -> None:
    """Save one office with some fields changed, as an editor's form would."""
    import dataclasses

    from directory.validate import OfficeData

    office = store.get_office(code)
    assert office is not None
    fields = {f.name: office[f.name] for f in dataclasses.fields(OfficeData) if f.name in office}
    store.save_office(OfficeData(**{**fields, **changes}), "test", expected_version=office["version"])


@dataclass
class Exchange:
    method: str
    path: str
    status: int
    cards: int  # vCards in the answer (address-data elements, or one for a GET of a card)


def recorder(log: list[Exchange]) -> Any:
    """An extension that records every CardDAV exchange of the app, for tests that count what a client fetched."""
    from aiohttp import web

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        response: web.StreamResponse = await handler(request)
        if request.path.startswith("/carddav"):
            body = response.body if isinstance(response, web.Response) and isinstance(response.body, bytes) else b""
            cards = body.count(b"<card:address-data>") or body.count(b"BEGIN:VCARD")
            log.append(Exchange(request.method, request.path, response.status, cards))
        return response

    def extend(app: web.Application) -> None:
        app.middlewares.append(record)

    return extend
