"""Web pages of verification campaigns: the offices' self-service page (no account) and the editors' pages.

Owns: thin aiohttp handlers over :mod:`liaison.verify`, added to the directory's app by :func:`extension`.

``/check…`` is the self-service face: it authenticates itself (``own_authentication``), so it never sets a cookie;
the token travels in the query string of the link (``/check?t=…``, never in the path, which the error log names)
and in a hidden field of the page's two forms, which is also what stops cross-site posts (a forger does not know
it). Its answers are ``no-store`` and send no Referer. A fax office enters its region code and short code at
``/check/code``. Unknown tokens and codes answer 404, used, expired or closed ones 410, too many wrong ones 429.

``/verify…`` are the editors' pages behind the login: campaigns of the regions the user may edit (start, status,
close), and the queue of corrections and bounced notices with approve, edit-then-approve and reject.

``/dashboard/pictures[/<province>]`` shows the pictures of :mod:`liaison.verify.pictures` (readable like the
dashboard), each with its numbers in a table beside it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

from directory import clock
from directory.errors import FieldError, Forbidden, NotFound, ValidationFailed
from directory.models import OFFICE_FIELDS
from directory.quality import STALE_DAYS
from directory.settings import PROJECT_ROOT
from directory.snapshot import Snapshot
from directory.store import Store
from directory.web.auth import User, own_authentication, require_user
from directory.web.context import CTX
from directory.web.render import add_nav, redirect, register_templates, render
from liaison import settings as liaison_settings
from liaison.verify import answers, campaign, pictures
from liaison.verify import store as vstore
from liaison.workdays.store import load_calendar

NAV = ("/verify", "信息核对")
TEMPLATES = PROJECT_ROOT / "templates" / "verify"
FIELDS = answers.FIELDS
MAX_FORM_FIELD = 2000


@dataclass(frozen=True)
class VerifyWeb:
    wake: Callable[[], None]


VERIFY = web.AppKey("verify", VerifyWeb)


def _private(response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


async def _form(request: web.Request) -> dict[str, str]:
    data = await request.post()
    return {k: str(v)[:MAX_FORM_FIELD] for k, v in data.items() if isinstance(v, str)}


def _client(request: web.Request) -> str:
    return request.remote or "unknown"


# -- the self-service face --------------------------------------------------------------------------------------------


def _page(
    request: web.Request,
    found: answers.Found,
    form: Mapping[str, str] | None = None,
    errors: list[FieldError] | None = None,
) -> web.StreamResponse:
    snap = request.app[CTX].holder.current
    office = snap.office(found.item.region_code)
    if office is None:
        raise NotFound("该单位已不在通讯录中")
    region = snap.regions[office.region_code]
    values = dict(form) if form is not None else {name: getattr(office, name) for name in FIELDS}
    if form is None:
        values["phone"], values["fax"] = office.phone_display, office.fax_display
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    for e in errors or []:
        (by_field.setdefault(e.field, []) if e.field in FIELDS else general).append(e.message)
    context = {
        "office": office,
        "region": region,
        "secret": found.secret,
        "values": values,
        "labels": dict(OFFICE_FIELDS),
        "field_errors": by_field,
        "general_errors": general,
        "due": found.item.due_on,
        "open_correction": form is not None,
    }
    return _private(render(request, "verify/pages/check.html", context, status=400 if errors else 200))


async def _found(request: web.Request, form: Mapping[str, str]) -> answers.Found:
    ctx = request.app[CTX]
    settings = liaison_settings.of(ctx.settings)
    now = clock.now()
    if "t" in form:
        return await ctx.store.run(answers.by_token, ctx.store, settings, form["t"], _client(request), now)
    region_code, code = form.get("r", ""), form.get("c", "")
    return await ctx.store.run(answers.by_code, ctx.store, settings, region_code, code, _client(request), now)


async def check(request: web.Request) -> web.StreamResponse:
    token = request.query.get("t", "")
    return _page(request, await _found(request, {"t": token}))


async def code_form(request: web.Request) -> web.StreamResponse:
    return _private(render(request, "verify/pages/code.html", {"r": "", "error": ""}))


async def code_post(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    try:
        found = await _found(request, {"r": form.get("r", ""), "c": form.get("c", "")})
    except NotFound as exc:
        context = {"r": form.get("r", "")[:12], "error": str(exc)}
        return _private(render(request, "verify/pages/code.html", context, status=404))
    return _page(request, found)


async def confirm(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    found = await _found(request, await _form(request))
    await ctx.store.run(answers.confirm, ctx.store, found.item.id, clock.now())
    await ctx.holder.refresh()
    office = ctx.holder.current.office(found.item.region_code)
    context = {"office": office, "what": "confirmed", "today": clock.local_date(clock.now())}
    return _private(render(request, "verify/pages/done.html", context))


async def correct(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    form = await _form(request)
    found = await _found(request, form)
    values = {name: form.get(name, "") for name in FIELDS}
    snap = ctx.holder.current
    errors = await ctx.store.run(answers.correct, ctx.store, snap, found.item.id, values, clock.now())
    if errors:
        return _page(request, found, values, errors)
    context = {"office": snap.office(found.item.region_code), "what": "corrected", "today": clock.today()}
    return _private(render(request, "verify/pages/done.html", context))


# -- the editors' pages -----------------------------------------------------------------------------------------------


def _staff(request: web.Request) -> User:
    user = require_user(request)
    if not user.can_edit(user.province_code or "0" * 12):
        raise Forbidden("只有管理员和编辑可以发起和处理信息核对")
    return user


def _prefix(user: User) -> str:
    """The region-code prefix of what the user may see here: everything for administrators, else their province."""
    return "" if user.is_sysadmin else (user.province_code or "")[:2]


async def campaigns_page(request: web.Request) -> web.StreamResponse:
    user = _staff(request)
    return await _campaigns(request, user, {}, [])


async def _campaigns(
    request: web.Request, user: User, form: Mapping[str, str], errors: list[str], status: int = 200
) -> web.StreamResponse:
    ctx = request.app[CTX]

    def read() -> list[tuple[vstore.Campaign, dict[str, int]]]:
        with ctx.store.read() as conn:
            return [(c, vstore.counts(conn, c.id)) for c in vstore.campaigns(conn, _prefix(user))]

    rows = await ctx.store.run(read)
    context = {"rows": rows, "form": form, "errors": errors, "states": campaign.STATE_NAMES}
    return render(request, "verify/pages/campaigns.html", context, status=status)


async def start(request: web.Request) -> web.StreamResponse:
    user = _staff(request)
    ctx = request.app[CTX]
    form = await _form(request)
    region_code = form.get("region", "").strip()
    within = form.get("due_within", "").strip()
    if region_code == "all":  # spelled out: an empty field must not start a campaign of every office
        region_code = campaign.ALL
    elif not region_code:
        return await _campaigns(request, user, form, ["请填写区划代码（全部地区请填 all）"], status=400)
    if not user.can_edit(region_code):
        raise Forbidden("编辑只能对本省的区划发起信息核对")
    try:
        if not within.isdigit():
            raise ValidationFailed([FieldError("due_within", "核对期限应为工作日数（整数）", value=within[:20])])
        settings = liaison_settings.of(ctx.settings)

        def run() -> campaign.Started:
            return campaign.start_campaign(
                ctx.store, settings, ctx.holder.current, region_code=region_code, due_within=int(within),
                actor=f"web:{user.username}", editor=not user.is_sysadmin, calendar=load_calendar(ctx.store),
            )  # fmt: skip

        started = await ctx.store.run(run)
    except ValidationFailed as exc:
        return await _campaigns(request, user, form, [str(e) for e in exc.errors], status=400)
    request.app[VERIFY].wake()
    return redirect(f"/verify/{started.id}")


async def campaign_page(request: web.Request) -> web.StreamResponse:
    user = _staff(request)
    ctx = request.app[CTX]
    campaign_id = int(request.match_info["id"])

    def read() -> tuple[vstore.Campaign | None, list[vstore.Item], dict[str, int]]:
        with ctx.store.read() as conn:
            c = vstore.campaign(conn, campaign_id)
            if c is None:
                return None, [], {}
            return c, vstore.items(conn, campaign_id), vstore.counts(conn, campaign_id)

    c, items, counts = await ctx.store.run(read)
    if c is None or not user.can_edit(c.region_code):
        raise NotFound(f"信息核对 {campaign_id} 不存在")
    snap = ctx.holder.current
    context = {
        "c": c,
        "items": items,
        "counts": counts,
        "states": campaign.STATE_NAMES,
        "channels": campaign.CHANNEL_NAMES,
        "snap": snap,
        "phones": [i for i in items if i.channel == "phone" and i.state in campaign.SILENT],
        "shown": clock.shown,
    }
    return render(request, "verify/pages/campaign.html", context)


async def close(request: web.Request) -> web.StreamResponse:
    user = _staff(request)
    ctx = request.app[CTX]
    campaign_id = int(request.match_info["id"])

    def run() -> None:
        with ctx.store.read() as conn:
            c = vstore.campaign(conn, campaign_id)
        if c is None or not user.can_edit(c.region_code):
            raise NotFound(f"信息核对 {campaign_id} 不存在")
        campaign.close_campaign(ctx.store, campaign_id, f"web:{user.username}")

    await ctx.store.run(run)
    return redirect(f"/verify/{campaign_id}")


async def queue_page(request: web.Request) -> web.StreamResponse:
    user = _staff(request)
    return await _queue(request, user, {}, 200)


async def _queue(
    request: web.Request,
    user: User,
    problems: Mapping[int, list[FieldError]],
    status: int,
    edited: Mapping[int, Mapping[str, str]] | None = None,
) -> web.StreamResponse:
    ctx = request.app[CTX]
    snap = ctx.holder.current

    def read() -> tuple[list[answers.Pending], list[vstore.Item]]:
        with ctx.store.read() as conn:
            corrected = vstore.queue_items(conn, _prefix(user), ("corrected",))
            pending = answers.pending(conn, snap, [i for i in corrected if user.can_edit(i.region_code)])
            bounced = vstore.queue_items(conn, _prefix(user), ("bounced",))
        bounced = [i for i in bounced if user.can_edit(i.region_code)]
        return pending, bounced

    pending, bounced = await ctx.store.run(read)
    context = {
        "pending": pending,
        "bounced": bounced,
        "snap": snap,
        "problems": problems,
        "edited": edited or {},
        "shown": clock.shown,
    }
    return render(request, "verify/pages/queue.html", context, status=status)


async def decide(request: web.Request) -> web.StreamResponse:
    user = _staff(request)
    ctx = request.app[CTX]
    correction_id = int(request.match_info["id"])
    form = await _form(request)
    settings = liaison_settings.of(ctx.settings)
    snap = ctx.holder.current
    actor = f"web:{user.username}"

    def item_code() -> str:
        with ctx.store.read() as conn:
            c = vstore.correction(conn, correction_id)
            item = vstore.item(conn, c.item_id) if c is not None else None
        if item is None or not user.can_edit(item.region_code):
            raise NotFound(f"更正 {correction_id} 不存在")
        return item.region_code

    await ctx.store.run(item_code)
    action = form.get("action", "")
    try:
        if action == "approve":
            values = {name: form.get(name, "") for name in FIELDS}
            version = form.get("version", "")
            expected = int(version) if version.isdigit() else None
            await ctx.store.run(
                answers.approve, ctx.store, settings, snap, correction_id, values, actor, expected_version=expected
            )
        elif action == "reject":
            reason = form.get("reason", "")
            await ctx.store.run(answers.reject, ctx.store, settings, snap, correction_id, reason, actor)
        else:
            raise ValidationFailed([FieldError("action", "应为 approve 或 reject", value=action[:20])])
    except ValidationFailed as exc:
        values = {name: form.get(name, "") for name in FIELDS}
        return await _queue(request, user, {correction_id: list(exc.errors)}, 400, {correction_id: values})
    request.app[VERIFY].wake()
    await ctx.holder.refresh()
    return redirect("/verify/queue")


# -- pictures ---------------------------------------------------------------------------------------------------------


def campaign_response(store: Store, snap: Snapshot, scope: str, today: dt.date) -> pictures.Response | None:
    """The answers over time of the newest campaign touching ``scope`` (its offices under ``scope`` only)."""
    prefix = scope[:2]
    with store.read() as conn:
        latest = vstore.latest_touching(conn, prefix)
        if latest is None:
            return None
        started = clock.local_date(latest.created_at)
        until = min(today, latest.due_on + dt.timedelta(days=14))
        total, per_day = vstore.answers_per_day(conn, latest.id, pictures.day_bounds(started, until), prefix)
    return pictures.response(f"{latest.title}：已答复单位比例（按日）", total, started, per_day)


def render_pictures(store: Store, snap: Snapshot, scope: str, today: dt.date) -> pictures.Pictures:
    """Everything the pictures page shows (the figure the benchmark times)."""
    return pictures.pictures(snap, today, scope, campaign_response(store, snap, scope, today))


async def pictures_page(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    snap = ctx.holder.current
    scope = request.match_info.get("code", "")
    if scope:
        region = snap.region(scope)
        if region is None or region.level != "province":
            raise NotFound(f"省级区划 {scope} 不存在")
    result = await ctx.store.run(render_pictures, ctx.store, snap, scope, clock.today())
    context = {"p": result, "snap": snap, "stale_days": STALE_DAYS, "percent": pictures.percent}
    return render(request, "verify/pages/pictures.html", context)


def extension(wake: Callable[[], None]) -> Callable[[web.Application], None]:
    """The web extension: ``/check`` (self-service) and ``/verify`` (editors); ``wake`` nudges the outbox worker."""

    def extend(app: web.Application) -> None:
        app[VERIFY] = VerifyWeb(wake)
        register_templates(app, "verify", TEMPLATES)
        add_nav(app, *NAV)
        add_nav(app, "/dashboard/pictures", "核对图表")
        own_authentication(app, "/check")
        app.router.add_get("/check", check)
        app.router.add_get("/check/code", code_form)
        app.router.add_post("/check/code", code_post)
        app.router.add_post("/check/confirm", confirm)
        app.router.add_post("/check/correct", correct)
        app.router.add_get("/dashboard/pictures", pictures_page)
        app.router.add_get("/dashboard/pictures/{code:[0-9]{12}}", pictures_page)
        app.router.add_get("/verify", campaigns_page)
        app.router.add_post("/verify", start)
        app.router.add_get("/verify/queue", queue_page)
        app.router.add_get("/verify/{id:[0-9]{1,9}}", campaign_page)
        app.router.add_post("/verify/{id:[0-9]{1,9}}/close", close)
        app.router.add_post("/verify/corrections/{id:[0-9]{1,9}}", decide)

    return extend
