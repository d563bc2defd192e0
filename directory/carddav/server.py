"""The CardDAV face's HTTP side in the web app: routes, HTTP Basic with app passwords, methods, errors.

Owns: ``setup(app)`` (``/.well-known/carddav`` → 301 to ``/carddav/``; TbSync breaks on 302), one handler per
method dispatched by name with a fallback (``handle_propfind``, ``handle_report``, ``handle_get``, …,
``handle_unknown`` 405), the login (every method but OPTIONS needs ``Authorization: Basic`` with an account name
and one of its app passwords; otherwise a 401 challenge, never ``DAV:unauthenticated``, which DAVx5 does not
understand), writes refused with 403 and the ``need-privileges`` precondition, bounded request bodies read by
this face (``[carddav] max_body_size``), and the one mapping of the error tree to CardDAV answers: plain Chinese
text, or a ``DAV:error`` body for a failed precondition.
"""

from __future__ import annotations

import base64
import binascii
import logging
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable

from aiohttp import web

from directory.apppasswords import AppPasswordLogins
from directory.carddav import books, davxml, props, reports
from directory.carddav.books import CardCache, Target
from directory.carddav.props import Dav
from directory.carddav.sync import SyncTokens
from directory.errors import (
    AuthenticationFailed,
    BohaiError,
    FieldError,
    NotFound,
    Precondition,
    TooLarge,
    ValidationFailed,
)
from directory.privacy import viewer_of
from directory.web import auth
from directory.web.context import CTX
from directory.web.reads import charge_reads, check_reads

log = logging.getLogger(__name__)
REALM = 'Basic realm="Bohai Liaison CardDAV", charset="UTF-8"'
DAV_HEADER = "1, 3, addressbook"
ALLOW = "OPTIONS, GET, HEAD, PROPFIND, REPORT"
WRITES = frozenset(
    {"PUT", "DELETE", "PROPPATCH", "MKCOL", "MKCALENDAR", "MOVE", "COPY", "LOCK", "UNLOCK", "POST", "PATCH", "ACL"}
    | {"BIND", "UNBIND", "REBIND", "LINK", "UNLINK"}
)
XML = "application/xml"
MAX_AUTH_HEADER = 1024
Handler = Callable[[web.Request, Dav, Target], Awaitable[web.StreamResponse]]


class CardDav:
    """The face's state: app-password logins, the card cache and the sync tokens, over the app's context."""

    def __init__(self, app: web.Application) -> None:
        ctx = app[CTX]
        self.settings = ctx.settings.carddav
        self.holder = ctx.holder
        self.logins = AppPasswordLogins(ctx.store)
        self.caches: dict[str, CardCache] = {}  # one per viewer class: cards differ in masked mobiles
        self.tokens = SyncTokens(ctx.store, ctx.holder)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._dispatch(request)
        except BohaiError as exc:
            return _error_response(exc)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.method == "OPTIONS":
            return web.Response(status=200, headers={"DAV": DAV_HEADER, "Allow": ALLOW})
        user = await self._login(request)
        viewer = viewer_of(user)
        cache = self.caches.get(viewer.key) or self.caches.setdefault(viewer.key, CardCache(viewer))
        dav = Dav(self.holder.current, user, cache, self.tokens)
        reader = check_reads(request)
        if request.method in WRITES:  # anywhere: a client creating a card learns the book is read-only
            return await self.handle_write(request, dav, Target("root"))
        path = request.path if request.path != "/carddav" else books.ROOT
        target = books.resolve(dav.snap, path)
        if target is None:
            raise NotFound("没有这个通讯录资源")
        handler: Handler = getattr(self, f"handle_{request.method.lower()}", self.handle_unknown)
        response = await handler(request, dav, target)
        charge_reads(request, reader, dav.sent[0])
        return response

    async def _login(self, request: web.Request) -> auth.User:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded or len(header) > MAX_AUTH_HEADER:
            raise AuthenticationFailed("请用用户名和应用密码登录（HTTP Basic）")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthenticationFailed("Authorization 头无法解码") from None
        username, _, password = decoded.partition(":")
        return await self.logins.login(username, password, request.remote or "?")

    # -- methods -------------------------------------------------------------------------------------------------

    async def handle_propfind(self, request: web.Request, dav: Dav, target: Target) -> web.StreamResponse:
        depth = _depth(request)
        root = davxml.parse(await self._body(request))
        asked, names_only = _propfind_request(root)
        path = _canonical(target)
        parts = [props.one(dav, path, target, asked, names_only)]
        if depth == "1":
            children = await _children(dav, target)
            parts += await dav.work(len(children), _answers, dav, children, asked, names_only)
        return _multistatus(davxml.multistatus(parts))

    async def handle_report(self, request: web.Request, dav: Dav, target: Target) -> web.StreamResponse:
        body = await self._body(request)
        root = await dav.work(len(body) // 64, davxml.parse, body)  # a multiget of thousands of hrefs: a thread
        return _multistatus(await reports.run(dav, target, root, self.settings.max_hrefs))

    async def handle_get(self, request: web.Request, dav: Dav, target: Target) -> web.StreamResponse:
        if target.kind != "card":
            text = "这是环渤海通讯联络服务的 CardDAV 通讯录地址，请在通讯录应用中添加，设置方法见 /help/"
            return web.Response(text=text, content_type="text/plain", charset="utf-8")
        if target.code not in dav.snap.offices or not books.in_book(dav.snap, target.view, target.code):
            raise NotFound("通讯录中没有这张名片")
        card = dav.served(target.code)
        if request.headers.get("If-None-Match") == card.etag:
            return web.Response(status=304, headers={"ETag": card.etag})
        return web.Response(body=card.data, headers={"ETag": card.etag, "Content-Type": props.CONTENT_TYPE})

    handle_head = handle_get

    async def handle_write(self, request: web.Request, dav: Dav, target: Target) -> web.StreamResponse:
        raise Precondition(davxml.qname(davxml.DAV, "need-privileges"), "通讯录是只读的：请在网页上修改单位信息")

    async def handle_unknown(self, request: web.Request, dav: Dav, target: Target) -> web.StreamResponse:
        text = f"CardDAV 通讯录不支持 {request.method[:20]} 请求"
        return web.Response(status=405, text=text, charset="utf-8", headers={"Allow": ALLOW})

    async def _body(self, request: web.Request) -> bytes:
        """The request body, at most ``[carddav] max_body_size`` bytes (declared or sent chunked)."""
        limit = self.settings.max_body_size
        if request.content_length is not None and request.content_length > limit:
            raise TooLarge(f"请求内容过大（{request.content_length} 字节，上限 {limit} 字节），未做任何处理")
        chunks, size = [], 0
        while chunk := await request.content.readany():
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"请求内容过大（超过上限 {limit} 字节），未做任何处理")
            chunks.append(chunk)
        return b"".join(chunks)


def _depth(request: web.Request) -> str:
    depth = request.headers.get("Depth", "0").strip().lower()
    if depth == "infinity":
        raise Precondition(davxml.qname(davxml.DAV, "propfind-finite-depth"), "不支持 Depth: infinity，请用 0 或 1")
    if depth not in ("0", "1"):
        raise ValidationFailed([FieldError("Depth", "Depth 头只能是 0、1")], "Depth 头只能是 0、1")
    return depth


def _propfind_request(root: ET.Element | None) -> tuple[list[str] | None, bool]:
    """(requested tags or None for allprop, names only) of a PROPFIND body; an empty body is allprop."""
    if root is None:
        return None, False
    if root.tag != davxml.qname(davxml.DAV, "propfind"):
        raise ValidationFailed([FieldError("body", "PROPFIND 正文应为 DAV:propfind")], "PROPFIND 正文应为 DAV:propfind")
    if root.find(davxml.qname(davxml.DAV, "propname")) is not None:
        return None, True
    prop = root.find(davxml.qname(davxml.DAV, "prop"))
    return ([child.tag for child in prop] if prop is not None else None), False


def _answers(dav: Dav, targets: list[Target], asked: list[str] | None, names_only: bool) -> list[str]:
    return [props.one(dav, _canonical(t), t, asked, names_only) for t in targets]


def _canonical(target: Target) -> str:
    paths = {
        "root": lambda: books.ROOT,
        "principals": lambda: books.PRINCIPALS,
        "principal": lambda: books.principal_path(target.view),
        "book": lambda: books.book_path(target.view),
        "card": lambda: books.card_path(target.view, target.code),
    }
    return paths[target.kind]()


async def _children(dav: Dav, target: Target) -> list[Target]:
    if target.kind == "root":
        return [Target("principal", books.home_view(dav.user))]
    if target.kind == "principal":
        return [Target("book", target.view)]
    if target.kind == "book":
        return [Target("card", target.view, code) for code in await dav.book(target.view)]
    return []


def _multistatus(body: bytes) -> web.Response:
    return web.Response(status=207, body=body, content_type=XML, charset="utf-8")


def _error_response(exc: BohaiError) -> web.Response:
    message = str(exc) or "请求未能完成"
    headers = {"WWW-Authenticate": REALM} if isinstance(exc, AuthenticationFailed) else {}
    if isinstance(exc, Precondition):
        body = davxml.error(exc.condition, message)
        return web.Response(status=exc.status, body=body, content_type=XML, charset="utf-8")
    return web.Response(status=exc.status, text=message, content_type="text/plain", charset="utf-8", headers=headers)


async def _well_known(request: web.Request) -> web.StreamResponse:
    raise web.HTTPMovedPermanently(books.ROOT)


def setup(app: web.Application) -> None:
    """Add the CardDAV routes to the web app (when ``[carddav] enabled``)."""
    if not app[CTX].settings.carddav.enabled:
        return
    face = CardDav(app)

    async def start(_app: web.Application) -> None:
        await face.tokens.load()

    app.on_startup.append(start)
    auth.own_authentication(app, "/carddav")
    auth.own_authentication(app, "/.well-known/carddav")
    app.router.add_route("*", "/.well-known/carddav", _well_known)
    app.router.add_route("*", "/carddav", face.handle)
    app.router.add_route("*", "/carddav/{tail:.*}", face.handle)
