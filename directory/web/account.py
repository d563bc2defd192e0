"""The account page (``/account``): who one is, one's API tokens and the app passwords of one's CardDAV devices.

Owns only the page and its forms — create (the secret shown once, on the answer to the form, never stored or shown
again), list, revoke — for the logged-in user's own account; the rules are :mod:`directory.tokens` and
:mod:`directory.apppasswords`. Only a session login reaches it: a script's token cannot make or revoke credentials.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from directory import apppasswords, profiles, tokens
from directory.accounts import User
from directory.errors import FieldError, Forbidden, NotFound, ValidationFailed
from directory.regions import PROVINCES
from directory.web.auth import check_csrf, require_user
from directory.web.clients import facts
from directory.web.context import CTX
from directory.web.pages import read_form
from directory.web.picker import chosen, named
from directory.web.render import redirect, render


def _session_user(request: web.Request) -> User:
    user = require_user(request)
    if user.token_label:
        raise Forbidden("访问令牌不能管理令牌；请登录网页后在“我的账户”页操作")
    return user


async def _page(request: web.Request, user: User, status: int = 200, **extra: Any) -> web.Response:
    store = request.app[CTX].store
    rows = await store.run(store.list_tokens, user.username)
    passwords = await store.run(apppasswords.listed, store, user.username)
    listed = [{**row, "state": tokens.state(row), "scope_name": tokens.SCOPES.get(row["scope"], row["scope"]),
               "province_name": PROVINCES.get((row["province_code"] or "")[:2], "全部")} for row in rows]  # fmt: skip
    provinces = PROVINCES if user.is_sysadmin else {}
    account = await store.run(store.get_account, user.username) or {}
    snap = request.app[CTX].holder.current
    home = account.get("office_code")
    profile: dict[str, Any] = {"office": named(snap, [home]) if home else [], "email": account.get("email") or "",
               "errors": {}, "saved": request.query.get("profile") == "1"}  # fmt: skip
    context = {"tokens": listed, "scopes": tokens.SCOPES, "provinces": provinces, "errors": [], "new_token": "",
               "new_id": 0, "values": {}, "revoked": request.query.get("revoked") == "1", "passwords": passwords,
               "facts": facts(request.app[CTX].settings), "new": None, "profile": profile, **extra}  # fmt: skip
    return render(request, "web/account.html", context, status=status)


async def account_page(request: web.Request) -> web.Response:
    return await _page(request, _session_user(request))


def _expires(text: str) -> int | None:
    if not text.strip():
        return None
    try:
        return int(text)
    except ValueError:
        raise ValidationFailed([FieldError("expires", "有效天数应为整数", value=text[:10])], "令牌参数不正确") from None


async def token_add(request: web.Request) -> web.Response:
    user = _session_user(request)
    form = await read_form(request)
    check_csrf(request, form)
    store = request.app[CTX].store
    try:
        token_id, token = await store.run(
            lambda: tokens.issue(
                store,
                user.username,
                form.get("label", ""),
                user.username,
                scope=form.get("scope", "read"),
                province=form.get("province") or None,
                expires_days=_expires(form.get("expires", "")),
            )
        )
    except ValidationFailed as exc:
        return await _page(request, user, 400, errors=exc.errors, values=form)
    return await _page(request, user, new_token=token, new_id=token_id)


async def token_revoke(request: web.Request) -> web.StreamResponse:
    user = _session_user(request)
    form = await read_form(request)
    check_csrf(request, form)
    store = request.app[CTX].store
    mine = {row["id"] for row in await store.run(store.list_tokens, user.username)}
    token_id = int(form["id"]) if form.get("id", "").isdigit() else -1
    if token_id not in mine:
        raise NotFound("没有这个令牌（只能吊销自己的令牌）")
    await store.run(store.revoke_token, token_id, user.username)
    raise web.HTTPSeeOther("/account?revoked=1")


async def add_app_password(request: web.Request) -> web.Response:
    user = _session_user(request)
    form = await read_form(request)
    check_csrf(request, form)
    store = request.app[CTX].store
    new = await store.run(apppasswords.add, store, user.username, form.get("label", ""), user.username)
    return await _page(request, user, new=new)


async def revoke_app_password(request: web.Request) -> web.StreamResponse:
    user = _session_user(request)
    check_csrf(request, await read_form(request))
    store = request.app[CTX].store
    await store.run(apppasswords.revoke, store, user.username, int(request.match_info["id"]), user.username)
    return redirect("/account")


async def profile_save(request: web.Request) -> web.StreamResponse:
    """One's own office (the default sender) and mail address."""
    user = _session_user(request)
    raw = await request.post()
    form = await read_form(request)
    check_csrf(request, form)
    ctx = request.app[CTX]
    codes, errors = chosen(raw, "office", "本单位")
    if len(codes) > 1:
        errors.append(FieldError("office", "本单位只能选一个"))
    if not errors:
        try:
            await ctx.store.run(
                lambda: profiles.set_profile(
                    ctx.store, user.username, user.actor, office_code=codes[0] if codes else "",
                    email=form.get("email", ""),
                )
            )  # fmt: skip
            return redirect("/account?profile=1")
        except ValidationFailed as exc:
            errors = exc.errors
    profile = {"office": named(ctx.holder.current, codes[:1]), "email": form.get("email", ""), "saved": False,
               "errors": {("office" if e.field == "office_code" else e.field): e.text for e in errors}}  # fmt: skip
    return await _page(request, user, 400, profile=profile)


def setup(app: web.Application) -> None:
    app.router.add_get("/account", account_page)
    app.router.add_post("/account/profile", profile_save)
    app.router.add_post("/account/tokens", token_add)
    app.router.add_post("/account/tokens/revoke", token_revoke)
    app.router.add_post("/account/app-passwords", add_app_password)
    app.router.add_post("/account/app-passwords/{id:\\d{1,12}}/revoke", revoke_app_password)
