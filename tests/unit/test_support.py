"""The test support itself, where a mistake would hide defects or slow every test down."""

from __future__ import annotations

import gc
import weakref

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.support.fixtures import forget_apps


class Context:
    """Stands for what an app holds: store, Snapshot, indexes."""


CONTEXT = web.AppKey("context", Context)


@web.middleware
async def passthrough(request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:
    return await handler(request)


async def test_forget_apps_frees_a_closed_app_and_its_context() -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(middlewares=[passthrough])
    app.router.add_get("/", hello)
    context = app[CONTEXT] = Context()
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert (await client.get("/")).status == 200  # a request through the middleware chain
    freed = weakref.ref(context)
    del app, context, client
    forget_apps()
    gc.collect()
    assert freed() is None
