"""Web pages of the letters area: letters home (sent and received), compose form, letter detail, deadline boards.

Owns: thin aiohttp handlers over :mod:`liaison.letters`, added to the directory's app by :func:`extension` (via
``service.web_extensions``). Pages are pages of the web face: ``directory.web.render`` (base layout, navigation,
the user and the CSRF token; templates ``templates/letters/pages/*.html``, autoescaped), ``require_user`` for login,
and the web face's error page for every ``BohaiError``. The auth middleware checks the CSRF field of every POST
before a handler here runs. Offices are chosen with the office picker (``directory.web.picker``) and shown by name.

Who may do what: every logged-in user may read letters and boards; admins send from any office, editors only from
offices of their own province (``User.can_edit``), readers never send. A letter to more than
``CONFIRM_ABOVE`` offices is sent only after the sender confirms the count on the form.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from directory import clock
from directory.errors import FieldError, Forbidden, NotFound, TooLarge, ValidationFailed
from directory.profiles import home_office
from directory.settings import PROJECT_ROOT
from directory.snapshot import Snapshot
from directory.store import Store
from directory.web.auth import User, require_user
from directory.web.context import CTX
from directory.web.pages import MAX_FIELD
from directory.web.picker import chosen, named, office_name
from directory.web.render import add_nav, redirect, register_templates, render
from liaison import routing
from liaison import settings as liaison_settings
from liaison.letters import compose
from liaison.letters import store as letter_store
from liaison.settings import Settings
from liaison.workdays.store import load_calendar

NAV = ("/letters", "联络函")
TEMPLATES = PROJECT_ROOT / "templates" / "letters"
CONFIRM_ABOVE = 20  # a letter to more offices than this needs the sender to confirm the count first
LEVELS = {"township": "乡级（乡、镇、街道）", "county": "县级", "city": "地级"}
FIELDS = ("from", "to", "under", "level", "template", "subject", "body", "in_reply_to", "reply_within")


def _sender(request: web.Request) -> User:
    user = require_user(request)
    if not user.can_write:
        raise Forbidden("只有管理员和编辑可以发函")
    return user


def _scope(user: User) -> str:
    """The code prefix of the letters a user's lists show: an editor's province, everything for the others."""
    return (user.province_code or "")[:2] if user.province_code and not user.is_sysadmin else ""


async def _form(request: web.Request) -> MultiDictProxy[Any]:
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, str) and len(value) > MAX_FIELD and key != "body":
            raise TooLarge(f"“{key[:40]}”过长（最多 {MAX_FIELD} 个字符），未做任何更改")
        if isinstance(value, str) and len(value) > compose.MAX_BODY:
            raise TooLarge(f"正文过长（最多 {compose.MAX_BODY} 个字），未做任何更改")
    return form


def _compose_page(
    request: web.Request,
    values: Mapping[str, Any],
    errors: list[FieldError],
    *,
    status: int = 200,
    confirm: list[tuple[str, str]] | None = None,
) -> web.Response:
    by_field: dict[str, list[str]] = {}
    other: list[str] = []
    for e in errors:
        (by_field.setdefault(e.field, []) if e.field in FIELDS else other).append(
            e.text if e.field in FIELDS else str(e)
        )
    first = next((f for f in FIELDS if f in by_field), "")
    context = {
        "v": values,
        "errors": by_field,
        "other_errors": other,
        "first": first,
        "templates": compose.LETTER_TEMPLATES,
        "levels": LEVELS,
        "confirm": confirm,
        "confirm_above": CONFIRM_ABOVE,
    }
    return render(request, "letters/pages/compose.html", context, status=status)


async def compose_form(request: web.Request) -> web.Response:
    user = _sender(request)
    ctx = request.app[CTX]
    account = await ctx.store.run(ctx.store.get_account, user.username)
    snap = ctx.holder.current
    home = home_office(account)
    sender = [home] if home and snap.office(home) is not None else []
    to = [c for c in request.query.getall("to", []) if snap.office(c) is not None][:50]
    values = {
        "from": named(snap, sender),
        "to": named(snap, to),
        "under": [],
        "level": "township",
        "in_reply_to": request.query.get("reply_to", "")[:64],
    }
    return _compose_page(request, values, [])


def _read_draft(
    form: MultiDictProxy[Any], user: User, snap: Snapshot
) -> tuple[compose.Draft | None, dict[str, Any], list[FieldError]]:
    """The draft a compose form describes, the values to show again, and the errors (field by field)."""
    text = {k: str(form.get(k, "")) for k in ("level", "template", "subject", "body", "in_reply_to", "reply_within")}
    senders, errors = chosen(form, "from", "发函单位")
    to, more = chosen(form, "to", "收函单位")
    under, more2 = chosen(form, "under", "该区划下的全部单位")
    errors += more + more2
    values: dict[str, Any] = {**text, "from": named(snap, senders), "to": named(snap, to), "under": named(snap, under)}
    if len(senders) != 1:
        errors.append(FieldError("from", "请选定一个发函单位" if not senders else "发函单位只能有一个"))
    elif not user.can_edit(senders[0]):
        raise Forbidden("编辑只能以本省单位名义发函")
    within = text["reply_within"].strip()
    if within and not within.isdigit():
        errors.append(FieldError("reply_within", "请填写 1 至 60 之间的整数（工作日），不要求回复就空着", value=within))
    recipients = list(to)
    if len(under) > 1:
        errors.append(FieldError("under", "只能选一个区划"))
    elif under:
        level = text["level"] if text["level"] in LEVELS else "township"
        found = routing.offices_under(snap, under[0], level)
        if not found:
            errors.append(FieldError("under", f"该区划下没有{LEVELS[level]}单位"))
        recipients += found
    if not recipients and not any(e.field in ("to", "under") for e in errors):
        errors.append(FieldError("to", "请至少选一个收函单位（或选一个区划，发给其下全部单位）"))
    body = text["body"]
    if text["template"]:
        if text["template"] not in compose.LETTER_TEMPLATES:
            errors.append(FieldError("template", "请从列表中选择模板"))
        elif text["template"] == "fankui" and not text["in_reply_to"].strip():
            errors.append(FieldError("in_reply_to", "反馈函须填写所回复的函号"))
        elif not errors:
            context = {"topic": text["subject"].strip(), "details": body.strip(), "ref": text["in_reply_to"].strip()}
            try:
                body = compose.render_template(text["template"], context)
            except ValidationFailed as exc:
                errors += exc.errors
    if errors:
        return None, values, errors
    draft = compose.Draft(
        from_code=senders[0],
        to=list(dict.fromkeys(recipients)),
        subject=text["subject"],
        body=body,
        reply_within=int(within) if within else None,
        in_reply_to=text["in_reply_to"].strip(),
        template=text["template"],
        actor=f"web:{user.username}",
        role="admin" if user.is_sysadmin else "editor",  # the letters' ceiling of recipients per role
    )
    return draft, values, []


async def compose_post(request: web.Request) -> web.Response:
    user = _sender(request)
    ctx = request.app[CTX]
    form = await _form(request)
    snap = ctx.holder.current
    draft, values, errors = _read_draft(form, user, snap)
    if draft is None:
        return _compose_page(request, values, errors, status=400)
    if len(draft.to) > CONFIRM_ABOVE and form.get("confirmed") != str(len(draft.to)):
        return _compose_page(request, values, [], confirm=named(snap, draft.to))
    try:
        sent = await ctx.store.run(_send, ctx.store, liaison_settings.of(ctx.settings), snap, draft)
    except ValidationFailed as exc:
        return _compose_page(request, values, exc.errors, status=400)
    request.app[LETTERS].wake()
    return redirect(f"/letters/{sent.id}?sent=1")


def _send(store: Store, settings: Settings, snap: Snapshot, draft: compose.Draft) -> compose.Sent:
    """Runs in the store's thread: the calendar is read fresh, so a newly loaded notice counts at once."""
    return compose.send_letter(store, settings, snap, draft, calendar=load_calendar(store))


def _names(snap: Snapshot) -> Callable[[str], str]:
    return lambda code: office_name(snap, code)


async def letter_detail(request: web.Request) -> web.Response:
    user = require_user(request)
    ctx = request.app[CTX]
    letter = await ctx.store.run(letter_store.get_letter, ctx.store, request.match_info["key"])
    snap = ctx.holder.current
    addressed = [d for d in letter.deliveries if not d.is_copy]
    context = {
        "letter": letter,
        "states": compose.STATE_NAMES,
        "name": _names(snap),
        "just_sent": request.query.get("sent") == "1",
        "addressed": addressed,
        "can_reply": user.can_write,
    }
    return render(request, "letters/pages/detail.html", context)


async def letters_home(request: web.Request) -> web.Response:
    user = require_user(request)
    ctx = request.app[CTX]
    prefix = _scope(user)
    view = "received" if request.query.get("view") == "received" else "sent"
    if view == "sent":
        letters = await ctx.store.run(letter_store.sent_letters, ctx.store, prefix)
        deliveries: list[letter_store.Delivery] = []
    else:
        letters = []
        deliveries = await ctx.store.run(letter_store.received, ctx.store, prefix)
    context = {
        "view": view,
        "letters": letters,
        "deliveries": deliveries,
        "states": compose.STATE_NAMES,
        "name": _names(ctx.holder.current),
        "scope": user.province_name if prefix else "全部省份",
        "board_code": user.province_code,
        "can_send": user.can_write,
        "today": clock.today(),
    }
    return render(request, "letters/pages/home.html", context)


async def board(request: web.Request) -> web.Response:
    require_user(request)
    ctx = request.app[CTX]
    province = request.match_info["province"]
    region = ctx.holder.current.region(province)
    if region is None or region.level != "province":
        raise NotFound(f"省级区划 {province} 不存在")
    side = "from" if request.query.get("side") == "from" else "to"
    today = clock.today()
    rows = await ctx.store.run(lambda: letter_store.board(ctx.store, province, today, side=side))
    context = {
        "province": region.name,
        "code": province,
        "board": rows,
        "today": today,
        "states": compose.STATE_NAMES,
        "side": side,
        "name": _names(ctx.holder.current),
    }
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
        app.router.add_get("/letters", letters_home)
        app.router.add_get("/letters/new", compose_form)
        app.router.add_post("/letters/new", compose_post)
        app.router.add_get("/letters/board/{province:[0-9]{12}}", board)
        app.router.add_get("/letters/{key:[0-9]+}", letter_detail)

    return extend
