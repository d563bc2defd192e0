"""Client set-up pages (``/help/…``), the one-tap Apple profile and the QR codes of the web face.

Owns: the facts a client needs, taken from the settings (the public address of ``[web] public_url`` for the
CardDAV URL and the LDAP host; ``[ldap]`` port, TLS mode and base DN), a page per client (Thunderbird, Outlook,
Foxmail, Apple Mail and Contacts, iPhone, Android with DAVx5), the ``.mobileconfig`` (``plistlib``) that adds the
CardDAV book and the LDAP directory in one tap, and QR codes (``segno``, SVG): one that opens the phone set-up
page, and one per office holding its vCard, so any phone can save one office without an account or an app.
"""

from __future__ import annotations

import functools
import io
import plistlib
import urllib.parse
import uuid
from dataclasses import dataclass

import segno
from aiohttp import web

from directory.carddav import books
from directory.errors import NotFound
from directory.exchange.vcard import card_30
from directory.privacy import office_for, viewer_of
from directory.settings import Settings
from directory.web import render
from directory.web.auth import current_user
from directory.web.context import CTX

CLIENTS = {
    "iphone": "iPhone / iPad",
    "android": "Android 手机（DAVx5）",
    "apple": "Mac 上的“通讯录”和“邮件”",
    "thunderbird": "Thunderbird",
    "outlook": "Outlook",
    "foxmail": "Foxmail",
}
PROFILE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "profiles.bohai-liaison.example")
MOBILECONFIG = "application/x-apple-aspen-config"


@dataclass(frozen=True)
class ServerFacts:
    """What a client is told to enter, all from the settings."""

    public_url: str
    host: str
    https: bool
    port: int
    carddav_url: str
    ldap_host: str
    ldap_port: int
    ldap_tls: str  # LDAPS, StartTLS or 无
    base_dn: str
    public_url_set: bool


def facts(settings: Settings) -> ServerFacts:
    public = settings.public_url()
    parts = urllib.parse.urlsplit(public)
    https = parts.scheme == "https"
    host = parts.hostname or settings.http.host
    ldap = settings.ldap
    tls = "LDAPS" if ldap.ldaps_enabled else ("StartTLS" if ldap.tls_cert else "无")
    port = ldap.ldaps_port if ldap.ldaps_enabled else ldap.port
    return ServerFacts(
        public,
        host,
        https,
        parts.port or (443 if https else 80),
        f"{public}{books.ROOT}",
        host,
        port,
        tls,
        ldap.base_dn,
        bool(settings.configured_public_url()),
    )


def _views(request: web.Request) -> list[tuple[str, str]]:
    """(name, principal URL) of the all-regions view and each province, for the pages' table."""
    snap = request.app[CTX].holder.current
    public = request.app[CTX].settings.public_url()
    rows = [(books.book_name(snap, books.ALL), public + books.principal_path(books.ALL))]
    rows += [(books.book_name(snap, p.code), public + books.principal_path(p.code)) for p in snap.provinces()]
    return rows


def _home_url(request: web.Request) -> str:
    user = current_user(request)
    view = books.home_view(user) if user is not None else books.ALL
    return request.app[CTX].settings.public_url() + books.principal_path(view)


async def help_index(request: web.Request) -> web.Response:
    context = {"clients": CLIENTS, "facts": facts(request.app[CTX].settings), "views": _views(request)}
    return render.render(request, "web/help.html", {**context, "home_url": _home_url(request)})


async def help_client(request: web.Request) -> web.Response:
    client = request.match_info["client"]
    if client not in CLIENTS:
        raise NotFound(f"没有“{client[:40]}”的设置说明")
    user = current_user(request)
    context = {"client": client, "title": CLIENTS[client], "facts": facts(request.app[CTX].settings)}
    context |= {"views": _views(request), "home_url": _home_url(request), "username": user.username if user else ""}
    return render.render(request, "web/help_client.html", context)


def profile(settings: Settings, view: str, view_name: str, username: str) -> bytes:
    """The Apple configuration profile: one CardDAV and one LDAP payload with this server's values."""
    f = facts(settings)
    ident = f"bohai.{f.host}"
    carddav = {
        "PayloadType": "com.apple.carddav.account",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{ident}.carddav.{view}",
        "PayloadUUID": _uuid(f"{ident}.carddav.{view}"),
        "PayloadDisplayName": "通讯录（CardDAV）",
        "CardDAVAccountDescription": view_name,
        "CardDAVHostName": f.host,
        "CardDAVPort": f.port,
        "CardDAVUseSSL": f.https,
        "CardDAVPrincipalURL": books.principal_path(view),
    }
    if username:
        carddav["CardDAVUsername"] = username
    search = {
        "LDAPSearchSettingDescription": "环渤海通讯录",
        "LDAPSearchSettingSearchBase": f.base_dn,
        "LDAPSearchSettingScope": "LDAPSearchSettingScopeSubtree",
    }
    ldap = {
        "PayloadType": "com.apple.ldap.account",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{ident}.ldap",
        "PayloadUUID": _uuid(f"{ident}.ldap"),
        "PayloadDisplayName": "通讯录查询（LDAP）",
        "LDAPAccountDescription": "环渤海通讯录查询",
        "LDAPAccountHostName": f.ldap_host,
        "LDAPAccountUseSSL": f.ldap_tls == "LDAPS",
        "LDAPSearchSettings": [search],
    }
    outer = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": ident,
        "PayloadUUID": _uuid(f"{ident}.{view}"),
        "PayloadDisplayName": f"环渤海通讯联络服务：{view_name}",
        "PayloadDescription": "添加只读通讯录（CardDAV，需输入应用密码）和通讯录查询（LDAP）。",
        "PayloadOrganization": "环渤海通讯联络服务",
        "PayloadContent": [carddav, ldap],
    }
    return plistlib.dumps(outer)


def _uuid(name: str) -> str:
    return str(uuid.uuid5(PROFILE_NAMESPACE, name)).upper()


async def mobileconfig(request: web.Request) -> web.Response:
    """``/help/bohai.mobileconfig?view=<code|all>`` (default: the visitor's own province, else all regions)."""
    ctx = request.app[CTX]
    user = current_user(request)
    view = request.query.get("view") or (books.home_view(user) if user is not None else books.ALL)
    if not books.is_view(ctx.holder.current, view):
        raise NotFound("没有这个通讯录（view 应为省、市的区划代码或 all）")
    name = books.book_name(ctx.holder.current, view)
    body = profile(ctx.settings, view, name, user.username if user else "")
    disposition = f'attachment; filename="bohai-{view}.mobileconfig"'
    return web.Response(body=body, content_type=MOBILECONFIG, headers={"Content-Disposition": disposition})


@functools.lru_cache(maxsize=2048)
def qr_svg(text: str) -> str:
    """A QR code of ``text`` as a standalone SVG document (cached: making one takes ~0.1 s of pure Python).

    Standalone, not inline: a browser shows an ``<img>`` of an SVG only if the document names the SVG namespace."""
    out = io.BytesIO()
    segno.make(text, error="l" if len(text) > 200 else "m").save(out, kind="svg", scale=3, border=2, xmldecl=False)
    return out.getvalue().decode("utf-8")


def _svg(text: str) -> web.Response:
    headers = {"Cache-Control": "private, max-age=300"}
    return web.Response(text=qr_svg(text), content_type="image/svg+xml", headers=headers)


async def help_qr(request: web.Request) -> web.Response:
    client = request.match_info["client"]
    if client not in ("iphone", "android"):
        raise NotFound("只有手机设置页有二维码")
    return _svg(f"{request.app[CTX].settings.public_url()}/help/{client}")


async def office_qr(request: web.Request) -> web.Response:
    """The office's vCard as a QR code: a phone camera offers to save the contact, no account or app needed."""
    snap = request.app[CTX].holder.current
    office = snap.office(request.match_info["code"])
    if office is None:
        raise NotFound("该地区没有单位记录")
    return _svg(card_30(snap, office_for(office, viewer_of(current_user(request)))))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/help/", help_index)
    r.add_get("/help/bohai.mobileconfig", mobileconfig)
    r.add_get("/help/{client:[a-z]+}", help_client)
    r.add_get("/help/{client:[a-z]+}/qr.svg", help_qr)
    r.add_get("/office/{code:\\d{12}}/qr.svg", office_qr)
