"""The aiohttp application of the web face.

Owns: building the ``web.Application`` (routes, middlewares, templates, shared state keys) from the settings, the
store and the Snapshot holder. Upper layers (liaison) plug their own pages in through ``extensions``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiohttp import web

from directory.settings import Settings
from directory.snapshot import SnapshotHolder
from directory.store import Store


@dataclass(frozen=True)
class WebContext:
    settings: Settings
    store: Store
    holder: SnapshotHolder


CTX = web.AppKey("ctx", WebContext)
Extension = Callable[[web.Application], None]


async def healthz(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    snap = ctx.holder.current
    return web.json_response(
        {"ok": True, "generation": snap.generation, "offices": len(snap.offices), "regions": len(snap.regions)}
    )


def make_app(ctx: WebContext, extensions: Iterable[Extension] = ()) -> web.Application:
    app = web.Application(client_max_size=ctx.settings.http.max_body_size)
    app[CTX] = ctx
    app.router.add_get("/healthz", healthz)
    for extend in extensions:
        extend(app)
    return app
