"""The account page (``/account``): who is logged in, and the app passwords of their CardDAV devices.

Owns: listing an account's app passwords, making one (its secret shown once, on the answer to the form, never
stored or shown again) and revoking one — for the logged-in user's own account only; the rules are
``directory.apppasswords``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from directory import apppasswords
from directory.errors import NotFound
from directory.web import render
from directory.web.auth import require_user
from directory.web.clients import facts
from directory.web.context import CTX


async def _page(request: web.Request, **extra: Any) -> web.Response:
    user = require_user(request)
    store = request.app[CTX].store
    rows = await store.run(apppasswords.listed, store, user.username)
    context = {"passwords": rows, "facts": facts(request.app[CTX].settings), "new": None, **extra}
    return render.render(request, "web/account.html", context)


async def account_page(request: web.Request) -> web.Response:
    return await _page(request)


async def add_app_password(request: web.Request) -> web.Response:
    user = require_user(request)
    form = await request.post()
    store = request.app[CTX].store
    label = str(form.get("label", ""))
    new = await store.run(apppasswords.add, store, user.username, label, user.username)
    return await _page(request, new=new)


async def revoke_app_password(request: web.Request) -> web.Response:
    user = require_user(request)
    store = request.app[CTX].store
    try:
        password_id = int(request.match_info["id"])
    except ValueError:
        raise NotFound("没有这个应用密码") from None
    await store.run(apppasswords.revoke, store, user.username, password_id, user.username)
    return render.redirect("/account")


def setup(app: web.Application) -> None:
    app.router.add_get("/account", account_page)
    app.router.add_post("/account/app-passwords", add_app_password)
    app.router.add_post("/account/app-passwords/{id:\\d{1,12}}/revoke", revoke_app_password)
