"""Web pages of the letters area: compose form, letter detail, deadline board per province.

Owns: thin aiohttp handlers over :mod:`liaison.letters` and :mod:`liaison.deadlines`, added to the directory's app by
:func:`extension` (via ``service.web_extensions``). Pages are pages of the web face: ``directory.web.render``
(base layout, navigation, the user and the CSRF token; templates ``templates/letters/pages/*.html``, autoescaped),
``require_user`` for login, and the web face's error page for every ``BohaiError``. The auth middleware checks the
CSRF field of every POST before a handler here runs.

Who may do what: every logged-in user may read letters and boards; admins send from any office, editors only from
offices of their own province (``User.can_edit``), readers never send.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

from directory import clock
from directory.errors import FieldError, Forbidden, NotFound, ValidationFailed
from directory.settings import PROJECT_ROOT
from directory.snapshot import Snapshot
from directory.store import Store
from directory.web.auth import User, require_user
from directory.web.context import CTX
from directory.web.render import add_nav, redirect, register_templates, render
from liaison import routing
from liaison import settings as liaison_settings
from liaison.letters import compose
from liaison.letters import store as letter_store
from liaison.settings import Settings
from liaison.workdays.store import load_calendar

NAV = ("/letters/new", "联络函")
TEMPLATES = PROJECT_ROOT / "templates" / "letters"


def _sender(request: web.Request) -> User:
    user = require_user(request)
    if not user.can_write:
        raise Forbidden("只有管理员和编辑可以发函")
    return user


def _compose(request: web.Request, form: Mapping[str, str], errors: list[str], status: int = 200) -> web.Response:
    context = {"form": form, "errors": errors, "templates": compose.LETTER_TEMPLATES}
    return render(request, "letters/pages/compose.html", context, status=status)


async def compose_form(request: web.Request) -> web.Response:
    _sender(request)
    return _compose(request, {}, [])


def _draft(form: Mapping[str, str], user: User) -> compose.Draft:
    sender = form.get("from", "").strip()
    if not user.can_edit(sender):
        raise Forbidden("编辑只能以本省单位名义发函")
    within = form.get("reply_within", "").strip()
    if within and not within.isdigit():
        raise ValidationFailed([FieldError("reply_within", "应为整数", value=within)])
    return compose.Draft(
        from_code=sender,
        to=form.get("to", "").split(),
        subject=form.get("subject", ""),
        body=form.get("body", ""),
        reply_within=int(within) if within else None,
        actor=f"web:{user.username}",
        role="admin" if user.is_sysadmin else "editor",  # the letters' ceiling of recipients per role
    )


async def compose_post(request: web.Request) -> web.Response:
    user = _sender(request)
    ctx = request.app[CTX]
    form = {k: str(v) for k, v in (await request.post()).items() if isinstance(v, str)}
    try:
        draft = _draft(form, user)
        snap = ctx.holder.current
        if form.get("under"):
            draft.to = [*draft.to, *routing.offices_under(snap, form["under"].strip(), form.get("level", "township"))]
        sent = await ctx.store.run(_send, ctx.store, liaison_settings.of(ctx.settings), snap, draft)
    except ValidationFailed as exc:
        errors = [str(e) for e in exc.errors]
        return _compose(request, form, errors, status=400)
    request.app[LETTERS].wake()
    return redirect(f"/letters/{sent.id}")


def _send(store: Store, settings: Settings, snap: Snapshot, draft: compose.Draft) -> compose.Sent:
    """Runs in the store's thread: the calendar is read fresh, so a newly loaded notice counts at once."""
    return compose.send_letter(store, settings, snap, draft, calendar=load_calendar(store))


async def letter_detail(request: web.Request) -> web.Response:
    require_user(request)
    ctx = request.app[CTX]
    letter = await ctx.store.run(letter_store.get_letter, ctx.store, request.match_info["key"])
    return render(request, "letters/pages/detail.html", {"letter": letter, "states": compose.STATE_NAMES})


async def board(request: web.Request) -> web.Response:
    require_user(request)
    ctx = request.app[CTX]
    province = request.match_info["province"]
    region = ctx.holder.current.region(province)
    if region is None or region.level != "province":
        raise NotFound(f"省级区划 {province} 不存在")
    today = clock.local_date(clock.now())
    rows = await ctx.store.run(letter_store.board, ctx.store, province, today)
    context = {"province": region.name, "code": province, "board": rows, "today": today, "states": compose.STATE_NAMES}
    return render(request, "letters/pages/board.html", context)


@dataclass(frozen=True)
class LettersWeb:
    wake: Callable[[], None]


LETTERS = web.AppKey("letters", LettersWeb)


def extension(wake: Callable[[], None]) -> Callable[[web.Application], None]:
    """The web extension: routes under /letters; ``wake`` nudges the outbox worker after a letter was queued."""

    def extend(app: web.Application) -> None:
        app[LETTERS] = LettersWeb(wake)
        register_templates(app, "letters", TEMPLATES)
        add_nav(app, *NAV)
        app.router.add_get("/letters/new", compose_form)
        app.router.add_post("/letters/new", compose_post)
        app.router.add_get("/letters/board/{province:[0-9]{12}}", board)
        app.router.add_get("/letters/{key:[0-9]+}", letter_detail)

    return extend
