"""Web pages of the letters area: compose form, letter detail, deadline board per province.

Owns: thin aiohttp handlers over :mod:`liaison.letters` and :mod:`liaison.deadlines`, added to the directory's app by
:func:`extension` (via ``service.web_extensions``). Rendering uses ``templates/letters/*.html.j2`` with autoescape.

Auth: these pages are staff-only. The login/roles middleware (``directory/web/auth.py``, another branch) must set
``request["account"]`` to the logged-in account mapping (``username``, ``role``, ``province_code``) and check CSRF on
POST; until it does, every handler here answers 403, so nothing can be sent anonymously. Editors may send only from
offices of their own province (``province_code``); admins from any office; readers may read only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from aiohttp import web

from directory.errors import BohaiError, FieldError, Forbidden, ValidationFailed
from directory.web.app import CTX
from liaison import deadlines, letters, routing
from liaison.workdays import Calendar

ACCOUNT_KEY = "account"
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(letters.TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
)
CalendarSource = Callable[[], Calendar | None]


def _account(request: web.Request, *, write: bool = False) -> Mapping[str, Any]:
    account = request.get(ACCOUNT_KEY)
    if not isinstance(account, Mapping):
        raise Forbidden("需要登录后使用联络函功能")
    if write and account.get("role") not in ("admin", "editor"):
        raise Forbidden("只有管理员和编辑可以发函")
    return account


def _page(name: str, status: int = 200, **context: Any) -> web.Response:
    html = _env.get_template(f"letters/{name}.html.j2").render(**context)
    return web.Response(text=html, content_type="text/html", charset="utf-8", status=status)


def _error_page(exc: BohaiError) -> web.Response:
    errors = [str(e) for e in exc.errors] if isinstance(exc, ValidationFailed) else []
    return _page("error", status=exc.status, message=str(exc), errors=errors)


async def compose_form(request: web.Request) -> web.Response:
    _account(request, write=True)
    return _page("compose", form={}, errors=[], templates=letters.LETTER_TEMPLATES)


def _draft(form: Mapping[str, str], account: Mapping[str, Any]) -> letters.Draft:
    sender = form.get("from", "").strip()
    if account.get("role") == "editor" and not sender.startswith(str(account.get("province_code") or "")[:2] or "-"):
        raise Forbidden("编辑只能以本省单位名义发函")
    within = form.get("reply_within", "").strip()
    if within and not within.isdigit():
        raise ValidationFailed([FieldError("reply_within", "应为整数", value=within)])
    return letters.Draft(
        from_code=sender,
        to=form.get("to", "").split(),
        subject=form.get("subject", ""),
        body=form.get("body", ""),
        reply_within=int(within) if within else None,
        actor=str(account.get("username", "web")),
    )


async def compose_post(request: web.Request) -> web.Response:
    account = _account(request, write=True)
    ctx = request.app[CTX]
    form = {k: str(v) for k, v in (await request.post()).items() if isinstance(v, str)}
    try:
        draft = _draft(form, account)
        snap = ctx.holder.current
        if form.get("under"):
            draft.to = [*draft.to, *routing.offices_under(snap, form["under"].strip(), form.get("level", "township"))]
        cal = request.app[LETTERS].calendar()
        sent = await ctx.store.run(letters.send_letter, ctx.store, ctx.settings, snap, draft, calendar=cal)
    except ValidationFailed as exc:
        errors = [str(e) for e in exc.errors]
        return _page("compose", status=400, form=form, errors=errors, templates=letters.LETTER_TEMPLATES)
    request.app[LETTERS].wake()
    raise web.HTTPSeeOther(f"/letters/{sent.id}")


async def letter_detail(request: web.Request) -> web.Response:
    _account(request)
    ctx = request.app[CTX]
    letter = await ctx.store.run(deadlines.get_letter, ctx.store, request.match_info["key"])
    return _page("detail", letter=letter, states=STATE_NAMES)


async def board(request: web.Request) -> web.Response:
    _account(request)
    ctx = request.app[CTX]
    province = request.match_info["province"]
    region = ctx.holder.current.region(province)
    if region is None or region.level != "province":
        return _page("error", status=404, message=f"省级区划 {province} 不存在", errors=[])
    today = letters.today_in_china(dt.datetime.now(dt.UTC))
    rows = await ctx.store.run(deadlines.board, ctx.store, province, today)
    return _page("board", province=region.name, code=province, board=rows, today=today, states=STATE_NAMES)


STATE_NAMES = {
    "queued": "待发",
    "sent": "已发",
    "deferred": "重试中",
    "failed": "失败",
    "bounced": "退信",
    "replied": "已回复",
    "overdue": "逾期",
}


@web.middleware
async def _errors(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except BohaiError as exc:
        if not request.path.startswith("/letters"):
            raise
        return _error_page(exc)


@dataclass(frozen=True)
class LettersWeb:
    calendar: CalendarSource
    wake: Callable[[], None]


LETTERS = web.AppKey("letters", LettersWeb)


def extension(calendar: CalendarSource, wake: Callable[[], None]) -> Callable[[web.Application], None]:
    """The web extension: routes under /letters; ``wake`` nudges the outbox worker after a letter was queued."""

    def extend(app: web.Application) -> None:
        app[LETTERS] = LettersWeb(calendar, wake)
        app.middlewares.append(_errors)
        app.router.add_get("/letters/new", compose_form)
        app.router.add_post("/letters/new", compose_post)
        app.router.add_get("/letters/board/{province:[0-9]{12}}", board)
        app.router.add_get("/letters/{key:[0-9]+}", letter_detail)

    return extend
