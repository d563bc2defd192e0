"""HTML pages of the web face: search, tree browse, office page, editing, data quality, login.

Owns: one small handler per page. Handlers read the current Snapshot (never the database) for display, call the
store for writes and history, and refresh the Snapshot after every successful write so that the change is in
search at once. Access: reading follows ``[web] anonymous_read``; writing needs a user whose ``can_edit`` covers
the office's region (editors: their own province). Every form carries and checks the CSRF token.
"""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

from aiohttp import web

from directory import accounts, clock, privacy, quality, regions
from directory.errors import AuthenticationFailed, Busy, Conflict, FieldError, Forbidden, NotFound, Throttled, TooLarge
from directory.exchange.vcard import card_30, vcards_outlook
from directory.models import OFFICE_FIELDS
from directory.privacy import Viewer, office_for, viewer_of
from directory.search import search
from directory.snapshot import OfficeView, RegionView, Snapshot
from directory.sync import state as sync_state
from directory.validate import FIELD_LABELS, clean_office
from directory.web import auth
from directory.web.auth import check_csrf, current_user, require_user, safe_next
from directory.web.context import CTX, WebContext
from directory.web.history import history_row, shown_value
from directory.web.render import attachment, redirect, render

MAX_FIELD = 2000  # characters per form field; more is refused with 413 before anything is checked or written
HINTS = {
    "phone": "带区号的固定电话（如 0311-87654321，分机写“转 123”）或手机号码",
    "fax": "带区号的传真号码",
    "email": "没有邮箱的单位不会出现在邮件客户端的地址自动补全中",
    "postal_code": "6位数字",
}


def _ctx(request: web.Request) -> WebContext:
    return request.app[CTX]


def _snap(request: web.Request) -> Snapshot:
    return _ctx(request).holder.current


def _region(snap: Snapshot, code: str) -> RegionView:
    region = snap.region(code)
    if region is None:
        raise NotFound(f"区划代码 {code} 不存在")
    return region


async def read_form(request: web.Request) -> dict[str, str]:
    """The posted text fields; any field over ``MAX_FIELD`` characters is refused (413) before use."""
    data = await request.post()
    out: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, str):
            if len(value) > MAX_FIELD:
                raise TooLarge(f"字段“{key[:40]}”过长（最多 {MAX_FIELD} 个字符），未做任何更改")
            out[key] = value
    return out


# -- search, tree, office ------------------------------------------------------------------------------------------


async def search_page(request: web.Request) -> web.Response:
    q = request.query.get("q", "")[:200]
    limit = _ctx(request).settings.web.search_limit
    result = search(_snap(request), q, limit, _viewer(request)) if q.strip() else None
    return render(request, "web/search.html", {"q": q, "result": result, "limit": limit})


def _viewer(request: web.Request) -> Viewer:
    return viewer_of(current_user(request))


def _shown_office(request: web.Request, office: OfficeView | None) -> OfficeView | None:
    """``office`` as the request's reader may see it (mobiles masked by :mod:`directory.privacy`)."""
    return office_for(office, _viewer(request)) if office is not None else None


def _children(snap: Snapshot, region: RegionView | None) -> list[RegionView]:
    if region is None:
        return sorted(snap.provinces(), key=lambda r: r.code)
    return [snap.regions[c] for c in region.children if c in snap.regions]


async def tree_page(request: web.Request) -> web.Response:
    snap = _snap(request)
    code = request.match_info.get("code")
    region = _region(snap, code) if code else None
    counts = quality.subtree_counts(snap, clock.today())
    children = _children(snap, region)
    context = {
        "region": region,
        "ancestors": snap.ancestors(region.code) if region else [],
        "office": _shown_office(request, snap.office(region.code)) if region else None,
        "children": [
            (child, counts[child.code], _shown_office(request, snap.office(child.code))) for child in children
        ],
        "total": counts[region.code] if region else None,
        "stale_days": quality.STALE_DAYS,
    }
    return render(request, "web/tree.html", context)


def _office_context(request: web.Request, code: str) -> dict[str, Any]:
    snap = _snap(request)
    region = _region(snap, code)
    office = _shown_office(request, snap.office(code))
    user = current_user(request)
    return {
        "region": region,
        "ancestors": snap.ancestors(code),
        "office": office,
        "routing_address": office.routing_address(_ctx(request).settings.routing_domain) if office else "",
        "can_edit": bool(user and user.can_edit(code)),
        "stale": bool(office and quality.is_stale(office, clock.today())),
        "stale_days": quality.STALE_DAYS,
        "liaison_officer": _shown_office(request, snap.liaison_officer(region.province_code)),
    }


async def office_page(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    context = _office_context(request, code)
    store = _ctx(request).store
    staff = current_user(request) is not None  # who changed what is for staff, not for anonymous readers
    office = _snap(request).office(code)
    mask = functools.partial(
        privacy.shown_phone, region_code=code, public=bool(office and office.phone_public), viewer=_viewer(request)
    )
    context["history"] = [history_row(r, staff, mask) for r in await store.run(store.history, "office", code)]
    context["show_editors"] = staff
    context["saved"] = request.query.get("saved") == "1"
    reported = request.query.get("reported", "")
    context["reported"] = int(reported) if reported.isdigit() and len(reported) < 4 else None
    context["warnings"] = [FIELD_LABELS.get(w, w) for w in request.query.get("warn", "").split(",") if w]
    return render(request, "web/office.html", context)


async def office_print(request: web.Request) -> web.Response:
    return render(request, "web/office_print.html", _office_context(request, request.match_info["code"]))


async def office_vcard(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    snap = _snap(request)
    region = _region(snap, code)
    office = _shown_office(request, snap.office(code))
    if office is None:
        raise NotFound(f"{region.path_text} 没有单位记录")
    outlook = request.query.get("variant") == "outlook"
    text = vcards_outlook(snap, [office]).decode("utf-8") if outlook else card_30(snap, office)
    name = f"{code}{'-outlook' if outlook else ''}.vcf"
    return web.Response(
        body=text.encode("utf-8"),
        content_type="text/vcard" if not outlook else "text/x-vcard",
        charset="utf-8",
        headers={"Content-Disposition": attachment(f"{office.unit_name}.vcf", name)},
    )


# -- editing -------------------------------------------------------------------------------------------------------


def _editable(request: web.Request, code: str) -> tuple[accounts.User, RegionView, OfficeView | None]:
    user = require_user(request)
    snap = _snap(request)
    region = _region(snap, code)
    if not user.can_edit(code):
        where = f"（{user.province_name}）" if user.province_name else ""
        raise Forbidden(f"您的账户{where}无权修改 {region.path_text} 的单位信息")
    return user, region, snap.office(code)


def _form_values(office: OfficeView | None) -> dict[str, str]:
    if office is None:
        return {name: "" for name, _ in OFFICE_FIELDS} | {"liaison": "", "phone_public": ""}
    values = {name: getattr(office, name) for name, _ in OFFICE_FIELDS}
    values.update(phone=office.phone_display, fax=office.fax_display, liaison="是" if office.liaison else "")
    values["phone_public"] = "是" if office.phone_public else ""
    return values


def _edit(request: web.Request, region: RegionView, office: OfficeView | None, **extra: Any) -> dict[str, Any]:
    values = extra.pop("values", None) or _form_values(office)
    errors: dict[str, list[str]] = {}
    for err in extra.pop("errors", []):
        errors.setdefault(err.field, []).append(err.message)
    return {
        "region": region,
        "office": office,
        "fields": [
            (name, label, values.get(name, ""), errors.get(name, []), HINTS.get(name, ""))
            for name, label in OFFICE_FIELDS
        ],
        "liaison": values.get("liaison") == "是",
        "phone_public": values.get("phone_public") == "是",
        "version": extra.pop("version", office.version if office else 0),
        "has_errors": bool(errors),
        "first": next((name for name, _ in OFFICE_FIELDS if name in errors), ""),
        "other_errors": [m for k, msgs in errors.items() if k not in dict(OFFICE_FIELDS) for m in msgs],
        **extra,
    }


async def edit_form(request: web.Request) -> web.Response:
    _, region, office = _editable(request, request.match_info["code"])
    return render(request, "web/edit.html", _edit(request, region, office))


async def edit_save(request: web.Request) -> web.StreamResponse:
    code = request.match_info["code"]
    user, region, office = _editable(request, code)
    form = await read_form(request)
    check_csrf(request, form)
    values = {name: form.get(name, "") for name, _ in OFFICE_FIELDS}
    values["liaison"] = "是" if form.get("liaison") else "否"
    values["phone_public"] = "是" if form.get("phone_public") else "否"
    try:
        version = int(form.get("version", ""))
    except ValueError:
        version = -1
    cleaned = clean_office(
        {**values, "region_code": code}, known_region=_snap(request).regions, area_code_for=AreaCodes()
    )
    if cleaned.data is None or version < 0:
        errors = cleaned.errors or [FieldError("version", "表单缺少版本号，请重新打开编辑页面")]
        page = _edit(request, region, office, values=values, errors=errors, version=max(version, 0))
        return render(request, "web/edit.html", page, status=400)
    ctx = _ctx(request)
    try:
        await ctx.store.run(ctx.store.save_office, cleaned.data, user.username, expected_version=version)
    except Conflict as exc:
        return render(request, "web/conflict.html", _conflict(request, region, values, exc), status=409)
    await ctx.holder.refresh()
    warn = ",".join(sorted({w.field for w in cleaned.warnings}))
    return redirect(f"/office/{code}?saved=1" + (f"&warn={warn}" if warn else ""))


def _conflict(request: web.Request, region: RegionView, mine: dict[str, str], exc: Conflict) -> dict[str, Any]:
    current = exc.current
    rows = []
    for name, label in OFFICE_FIELDS:
        theirs = shown_value(name, current.get(name))
        rows.append((label, mine.get(name, ""), theirs, mine.get(name, "").strip() != theirs))
    version = current.get("version")
    page = _edit(request, region, None, values=mine, version=version if isinstance(version, int) else 0)
    return {
        **page,
        "rows": rows,
        "message": str(exc),
        "theirs_by": current.get("updated_by", ""),
        "theirs_at": current.get("updated_at"),
    }


async def verify(request: web.Request) -> web.StreamResponse:
    code = request.match_info["code"]
    user, _, office = _editable(request, code)
    check_csrf(request, await read_form(request))
    if office is None:
        raise NotFound("该地区还没有单位记录，无法确认")
    ctx = _ctx(request)
    await ctx.store.run(ctx.store.verify_office, code, user.username)
    await ctx.holder.refresh()
    return redirect(f"/office/{code}?saved=1")


class AreaCodes(Mapping[str, str]):
    """Region code → its city's telephone area code, looked up lazily from the bundled tables."""

    def __getitem__(self, code: str) -> str:
        info = regions.phone_city(code, regions.parent_map())
        if info is None or not info.area_code:
            raise KeyError(code)
        return info.area_code

    def __iter__(self) -> Iterator[str]:
        return iter(regions.parent_map())

    def __len__(self) -> int:
        return len(regions.parent_map())


# -- data quality --------------------------------------------------------------------------------------------------


async def dashboard(request: web.Request) -> web.Response:
    snap = _snap(request)
    today = clock.today()
    counts = quality.subtree_counts(snap, today)
    rows = [(p, counts[p.code], snap.liaison_officer(p.code)) for p in sorted(snap.provinces(), key=lambda r: r.code)]
    sync = await _sync_states(request)
    return render(request, "web/dashboard.html", {"rows": rows, "stale_days": quality.STALE_DAYS, "sync": sync})


async def _sync_states(request: web.Request) -> list[tuple[str, str, sync_state.State]]:
    """(kind, name, state) of every publish target and pull source, for administrators only (errors name servers)."""
    user = current_user(request)
    if user is None or not user.is_sysadmin:
        return []
    ctx = _ctx(request)
    states = await ctx.store.run(sync_state.all_states, ctx.store)
    configured = [("publish", name) for name in ctx.settings.publish] + [("pull", name) for name in ctx.settings.pull]
    keys = dict.fromkeys([*(tuple(k.split(":", 1)) for k in states), *configured])
    return [(kind, name, states.get(f"{kind}:{name}", sync_state.State())) for kind, name in sorted(keys)]


async def dashboard_province(request: web.Request) -> web.Response:
    snap = _snap(request)
    region = _region(snap, request.match_info["code"])
    if region.level != "province":
        raise NotFound(f"{region.path_text} 不是省级区划")
    report = quality.province_report(snap, region.code, clock.today())
    return render(
        request, "web/dashboard_province.html", {"report": report, "problems": quality.PROBLEMS, "snap": snap}
    )


# -- login ---------------------------------------------------------------------------------------------------------


async def login_form(request: web.Request) -> web.Response:
    store = _ctx(request).store
    none_yet = not await store.run(store.has_accounts)
    context = {"next": safe_next(request.query.get("next")), "error": "", "username": "", "no_accounts": none_yet}
    return render(request, "web/login.html", context)


async def login_post(request: web.Request) -> web.StreamResponse:
    """The password step: a second-factor account goes on to ``/login/2fa`` half logged in; else logged in."""
    form = await read_form(request)
    check_csrf(request, form)
    username, password = form.get("username", "").strip(), form.get("password", "")
    logins = request.app[auth.AUTH].logins
    store = _ctx(request).store
    client = request.remote or "?"
    target = safe_next(form.get("next"))
    try:
        user = await logins.login(username, password, client, "web")
    except (AuthenticationFailed, Throttled, Busy) as exc:
        if isinstance(exc, AuthenticationFailed) and accounts.USERNAME_RE.match(username):
            await store.run(store.record_login, username, client, False, "wrong_password")
        context = {"next": target, "error": str(exc), "username": username}
        response = render(request, "web/login.html", context, status=exc.status)
        if isinstance(exc, Throttled):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    account = await store.run(store.get_account, user.username)
    if account is not None and account.get("totp_enabled_at") is not None:
        await auth.login(request, user, stage="password")
        return redirect("/login/2fa?next=" + urllib.parse.quote(target, safe=""))
    await store.run(store.record_login, user.username, client, True, "password")
    await auth.login(request, user)
    return redirect(target)


async def logout_post(request: web.Request) -> web.StreamResponse:
    check_csrf(request, await read_form(request))
    await auth.logout(request)
    return redirect("/")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/", search_page, name="search")
    r.add_get("/tree", tree_page)
    r.add_get("/tree/{code:\\d{12}}", tree_page)
    r.add_get("/office/{code:\\d{12}}", office_page)
    r.add_get("/office/{code:\\d{12}}/print", office_print)
    r.add_get("/office/{code:\\d{12}}/vcard", office_vcard)
    r.add_get("/office/{code:\\d{12}}/edit", edit_form)
    r.add_post("/office/{code:\\d{12}}/edit", edit_save)
    r.add_post("/office/{code:\\d{12}}/verify", verify)
    r.add_get("/dashboard", dashboard)
    r.add_get("/dashboard/{code:\\d{12}}", dashboard_province)
    r.add_get("/login", login_form)
    r.add_post("/login", login_post)
    r.add_post("/logout", logout_post)
