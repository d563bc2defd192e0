"""Error reports on the web: "报告错误" on an office page, and the queue where that province's editors close them.

Owns: ``POST /office/<code>/report`` (any logged-in staff member; a short note and how to reach the reporter),
``GET /reports`` (an editor sees the open reports of the province, an admin all) and ``POST /reports/<id>/close``.
Mailing the editors is not the directory's business: the liaison layer, which owns the outbox, sets
``REPORT_MAIL`` to a function that queues one mail per editor with an address; without it reports only wait in the
queue. Rules: the note is 1–1000 characters of text (``textrules``), a reporter has at most
``MAX_OPEN_PER_REPORTER`` open reports, and nothing but the note, the contact and the reporter's name is kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from directory.errors import FieldError, Forbidden
from directory.store.reports import MAX_OPEN_PER_REPORTER
from directory.textrules import text_error
from directory.web.auth import check_csrf, require_user
from directory.web.context import CTX
from directory.web.pages import read_form
from directory.web.render import redirect, render

MAX_NOTE = 1000
REPORT_MAIL: web.AppKey[Callable[[dict[str, Any]], Awaitable[int]]] = web.AppKey("report_mail")


def _note_errors(note: str, contact: str) -> list[FieldError]:
    errors = []
    if not note.strip():
        errors.append(FieldError("message", "请写明哪一项有误、正确的应是什么"))
    elif len(note) > MAX_NOTE:
        errors.append(FieldError("message", f"最多 {MAX_NOTE} 个字"))
    elif (problem := text_error("message", "错误说明", note, multiline=True)) is not None:
        errors.append(problem)
    if len(contact) > 200 or (contact and text_error("contact", "联系方式", contact) is not None):
        errors.append(FieldError("contact", "联系方式最多 200 个字，只能填写一行"))
    return errors


async def report_post(request: web.Request) -> web.Response:
    user = require_user(request)
    form = await read_form(request)
    check_csrf(request, form)
    ctx = request.app[CTX]
    code = request.match_info["code"]
    office = ctx.holder.current.office(code)
    if office is None:
        raise Forbidden("该地区尚无单位记录，无法报告错误")
    note, contact = form.get("message", ""), form.get("contact", "").strip()
    errors = _note_errors(note, contact)
    if errors:
        context = {"office": office, "errors": {e.field: e.text for e in errors}, "v": form}
        return render(request, "web/report.html", context, status=400)
    if await ctx.store.run(ctx.store.open_reports_by, user.username) >= MAX_OPEN_PER_REPORTER:
        raise Forbidden(f"您已有 {MAX_OPEN_PER_REPORTER} 条错误报告待处理，请等编辑处理后再报告")
    report_id = await ctx.store.run(ctx.store.add_report, code, note.strip(), user.username, contact)
    mailed = 0
    mail = request.app.get(REPORT_MAIL)
    if mail is not None:
        report = {"id": report_id, "region_code": code, "message": note.strip(), "reporter": user.username,
                  "contact": contact, "unit_name": office.unit_name}  # fmt: skip
        mailed = await mail(report)
    return redirect(f"/office/{code}?reported={mailed}")


async def report_form(request: web.Request) -> web.Response:
    require_user(request)
    office = request.app[CTX].holder.current.office(request.match_info["code"])
    if office is None:
        raise Forbidden("该地区尚无单位记录，无法报告错误")
    return render(request, "web/report.html", {"office": office, "errors": {}, "v": {}})


def _prefix(request: web.Request) -> str:
    user = require_user(request)
    if user.is_sysadmin:
        return ""
    if user.can_write and user.province_code:
        return user.province_code[:2]
    raise Forbidden("只有编辑和管理员处理错误报告")


async def reports_page(request: web.Request) -> web.Response:
    prefix = _prefix(request)
    ctx = request.app[CTX]
    open_ = await ctx.store.run(ctx.store.reports, prefix)
    closed = await ctx.store.run(lambda: ctx.store.reports(prefix, closed=True, limit=30))
    snap = ctx.holder.current
    names = {r["region_code"]: (o.unit_name if (o := snap.office(r["region_code"])) else r["region_code"])
             for r in [*open_, *closed]}  # fmt: skip
    context = {"open": open_, "closed": closed, "names": names, "done": request.query.get("closed") == "1"}
    return render(request, "web/reports.html", context)


async def report_close(request: web.Request) -> web.Response:
    prefix = _prefix(request)
    user = require_user(request)
    form = await read_form(request)
    check_csrf(request, form)
    ctx = request.app[CTX]
    note = form.get("note", "").strip()[:500]
    await ctx.store.run(ctx.store.close_report, int(request.match_info["id"]), prefix, user.actor, note)
    return redirect("/reports?closed=1")


def setup(app: web.Application) -> None:
    app.router.add_get("/office/{code:\\d{12}}/report", report_form)
    app.router.add_post("/office/{code:\\d{12}}/report", report_post)
    app.router.add_get("/reports", reports_page)
    app.router.add_post("/reports/{id:\\d{1,9}}/close", report_close)
