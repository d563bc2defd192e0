"""The aiohttp application of the web face.

Owns: building the ``web.Application`` (routes, middlewares, the page renderer, the shared state of
``directory.web.context``) from the settings, the store and the Snapshot holder, and the one mapping of the
``directory.errors`` tree (and aiohttp's HTTP errors) to responses: an HTML error page for pages, the JSON shape
``{ok: false, error, errors, status}`` for every ``/api/`` path (404, 405, 413 and 500 included). Upper layers
(liaison) plug their own pages in through ``extensions`` (templates and navigation via ``directory.web.render``).

Middlewares, outermost first: metrics (sees the final status) → errors → body-size guard → session/auth.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from directory.carddav import server as carddav
from directory.errors import BohaiError, TooLarge
from directory.readlimits import ReadBudget, ReadLimited, exemptions
from directory.search import SearchIndexer
from directory.settings import PROJECT_ROOT
from directory.sync import state as sync_state
from directory.web import (
    account,
    api,
    auth,
    clients,
    hardening,
    imports,
    metrics,
    pages,
    render,
    reports,
    security,
    writes,
)
from directory.web.context import CTX, HEALTH, METRICS, READS, Extension, WebContext

log = logging.getLogger(__name__)
STATIC = PROJECT_ROOT / "templates" / "web" / "static"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


HTTP_MESSAGES = {
    400: "请求不正确",
    401: "需要登录",
    403: "没有权限",
    404: "页面或资源不存在",
    405: "不支持该请求方法",
    413: "请求内容过大，未做任何更改",
    415: "不支持的内容类型",
}


async def healthz(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    snap = ctx.holder.current
    checks = {name: check() for name, check in request.app[HEALTH].items()}
    ok = all(bool(c.get("ok")) for c in checks.values())
    body: dict[str, object] = {"ok": ok, "generation": snap.generation, "offices": len(snap.offices)}
    body.update({"regions": len(snap.regions), **({"checks": checks} if checks else {})})
    return web.json_response(body, status=200 if ok else 503)


async def metrics_page(request: web.Request) -> web.Response:
    snap = request.app[CTX].holder.current
    extra = {
        "bohai_snapshot_generation": float(snap.generation),
        "bohai_snapshot_offices": float(len(snap.offices)),
        "bohai_snapshot_regions": float(len(snap.regions)),
        "bohai_snapshot_age_seconds": time.time() - snap.built_at.timestamp(),
    }
    states = await request.app[CTX].store.run(sync_state.all_states, request.app[CTX].store)
    text = request.app[METRICS].render(extra) + sync_state.metrics_text(states)
    return web.Response(text=text, content_type="text/plain", charset="utf-8", headers={"X-Robots-Tag": "none"})


# -- errors ----------------------------------------------------------------------------------------------------


def error_response(
    request: web.Request, status: int, message: str, errors: list[dict[str, object]]
) -> web.StreamResponse:
    if auth.is_api(request):
        body = {"ok": False, "error": message, "errors": errors, "status": status}
        return web.json_response(body, status=status, dumps=_dumps)
    context = {"status": status, "message": message, "errors": errors}
    try:
        return render.render(request, "web/error.html", context, status=status)
    except Exception:  # the error page itself must not fail
        log.exception("error page failed")
        return web.Response(text=f"{status} {message}", status=status, content_type="text/plain")


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = HTTP_MESSAGES.get(exc.status, exc.reason)
        if exc.status == 413:
            message = f"请求内容过大（上限 {request.app[CTX].settings.http.max_body_size} 字节），未做任何更改"
        return error_response(request, exc.status, message, [])
    except BohaiError as exc:
        details = [dataclasses.asdict(e) for e in getattr(exc, "errors", [])]
        response = error_response(request, exc.status, str(exc) or HTTP_MESSAGES.get(exc.status, ""), details)
        if isinstance(exc, ReadLimited):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(request, 500, "服务器内部错误，请联系管理员", [])


@web.middleware
async def body_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a declared oversized body before reading it (aiohttp also stops reading at the same limit)."""
    limit = request.app[CTX].settings.http.max_body_size
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"请求内容过大（{request.content_length} 字节，上限 {limit} 字节），未做任何更改")
    return await handler(request)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    hardening.headers(request.app[CTX].settings, response)


# -- the app -------------------------------------------------------------------------------------------------------


async def _startup(app: web.Application) -> None:
    ctx = app[CTX]
    await auth.load_secret(app[auth.AUTH])
    await asyncio.to_thread(ctx.holder.register, "search", SearchIndexer())


def make_app(ctx: WebContext, extensions: Iterable[Extension] = ()) -> web.Application:
    app = web.Application(
        client_max_size=ctx.settings.http.max_body_size,
        middlewares=[],
    )
    app[CTX] = ctx
    app[METRICS] = metrics.Metrics()
    app[READS] = ReadBudget(ctx.settings.web.entries_per_minute, exemptions(ctx.settings.web.entries_exempt))
    app[HEALTH] = {}
    app[auth.AUTH] = auth.AuthState(ctx.settings, ctx.store)
    render.setup(app)
    app.middlewares.extend([metrics.middleware(app[METRICS]), errors_middleware, body_limit, auth.middleware()])
    app.on_startup.append(_startup)
    app.on_response_prepare.append(_security_headers)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_static("/static/", STATIC, append_version=False)
    pages.setup(app)
    api.setup(app)
    imports.setup(app)
    writes.setup(app)
    carddav.setup(app)
    clients.setup(app)
    account.setup(app)
    reports.setup(app)
    security.setup(app)
    render.add_nav(app, "/help/", "客户端设置")
    for extend in extensions:
        extend(app)
    return app
