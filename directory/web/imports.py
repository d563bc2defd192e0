"""Upload import and export downloads of the web face, over the ``directory.exchange`` pipeline.

Owns: the upload page for the standard CSV/XLSX template (editors: their own province's subtree; admins: any
scope), the dry-run report page that lists every bad cell (row, column, reason) and the warnings, the apply step
(only for a plan without errors, by the same user, within ``PENDING_SECONDS``; all-or-nothing in the store), and
``/export/{code}/{fmt}`` downloads (csv, xlsx, vcard, vcard-outlook, ldif) of a region's subtree.

Reading and checking an uploaded file runs in a thread of its own (``PARSER``, one at a time), never in the store's
executor: on SQLite that is the single thread every page's queries wait for, and a spreadsheet may take up to
``directory.exchange.xlsx.TIME_BUDGET`` seconds. Only the preview and the apply step, which need the database, run
there.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from directory import clock, exchange
from directory.errors import FieldError, NotFound, ValidationFailed
from directory.exchange import export, xlsx
from directory.exchange.table import EXPORT_HEADER
from directory.models import LEVEL_NAMES
from directory.privacy import viewer_of
from directory.regions import PROVINCES
from directory.store.upsert import UpsertPlan
from directory.validate import FIELD_LABELS
from directory.web.auth import check_csrf, require_user
from directory.web.context import CTX
from directory.web.history import shown_value
from directory.web.reads import charge_reads, check_reads
from directory.web.render import attachment, render

PENDING_SECONDS = 1800
MAX_PENDING = 50
UPLOAD_SUFFIXES = (".csv", ".xlsx")


@dataclass
class Pending:
    username: str
    filename: str
    scope: str | None
    plan: exchange.ImportPlan
    expires: float


@dataclass
class PendingImports:
    """Checked uploads waiting for "apply", by an unguessable id; bounded and expiring."""

    items: dict[str, Pending] = field(default_factory=dict)

    def add(self, pending: Pending) -> str:
        now = time.time()
        for key in [k for k, p in self.items.items() if p.expires < now]:
            del self.items[key]
        while len(self.items) >= MAX_PENDING:
            del self.items[next(iter(self.items))]
        key = secrets.token_urlsafe(16)
        self.items[key] = pending
        return key

    def take(self, key: str, username: str) -> Pending:
        pending = self.items.get(key)
        if pending is None or pending.expires < time.time() or pending.username != username:
            raise NotFound("该导入检查结果不存在或已过期，请重新上传文件")
        del self.items[key]
        return pending


PENDING = web.AppKey("pending_imports", PendingImports)
PARSER = web.AppKey("import_parser", ThreadPoolExecutor)
T = TypeVar("T")


async def parsed(request: web.Request, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in the import parser's thread (see the module docstring)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(request.app[PARSER], functools.partial(fn, *args))


def _scope(user_role: str, user_province: str | None, requested: str) -> str | None:
    if user_role == "editor":
        return user_province
    if requested and requested[:2] in PROVINCES:
        return requested[:2].ljust(12, "0")
    return None


async def upload_form(request: web.Request) -> web.Response:
    user = require_user(request, role="editor")
    context = {"provinces": PROVINCES, "scope_fixed": user.role == "editor", "error": ""}
    return render(request, "web/import.html", context)


MAX_DIFF_ROWS = 2000  # offices listed field by field on the report page; the counts cover all


@dataclass(frozen=True)
class OfficeDiff:
    code: str
    name: str
    created: bool
    fields: list[tuple[str, str, str]]  # (label, old, new) as a person reads them


def diff_of(plan: UpsertPlan) -> list[OfficeDiff]:
    """Every office an import would create or change, with old → new per field."""
    out = []
    for w in plan.writes[:MAX_DIFF_ROWS]:
        before = w.before or {}
        keys = [k for k in w.values if k in FIELD_LABELS and k != "region_code"]
        fields = [(FIELD_LABELS[k], shown_value(k, before.get(k)), shown_value(k, w.values[k])) for k in keys
                  if w.before is None or before.get(k) != w.values[k]]  # fmt: skip
        if w.before is None:
            fields = [f for f in fields if f[2]]
        name = str(w.values.get("unit_name") or before.get("unit_name") or w.code)
        out.append(OfficeDiff(w.code, name, w.before is None, fields))
    return out


def row_names(table: exchange.Table, snap: Any) -> dict[int, str]:
    """Each data row's office as a person knows it (the unit-name cell, else the office of the code cell)."""
    header = [h.strip() for h in table.header]
    name_at = header.index("单位名称") if "单位名称" in header else -1
    code_at = header.index("区划代码") if "区划代码" in header else -1
    out: dict[int, str] = {}
    for number, cells in table.rows:
        name = cells[name_at].strip() if 0 <= name_at < len(cells) else ""
        if not name and 0 <= code_at < len(cells):
            office = snap.office(cells[code_at].strip())
            name = office.unit_name if office else ""
        out[number] = name[:60]
    return out


def column_letters(table: exchange.Table) -> dict[str, str]:
    """Excel's column letter of each header label (A, B, …)."""
    from openpyxl.utils import get_column_letter

    return {h.strip(): get_column_letter(i + 1) for i, h in enumerate(table.header) if i < 16384}


async def file_field(request: web.Request) -> tuple[dict[str, str], bytes, str]:
    form: dict[str, str] = {}
    data, filename = b"", ""
    post = await request.post()
    for key, value in post.items():
        if isinstance(value, str):
            form[key] = value[:200]
        elif key == "file" and isinstance(value, web.FileField):
            filename = value.filename or ""
            data = value.file.read()
    return form, data, filename


async def upload_check(request: web.Request) -> web.Response:
    user = require_user(request, role="editor")
    form, data, filename = await file_field(request)
    check_csrf(request, form)
    if not data or not filename.lower().endswith(UPLOAD_SUFFIXES):
        error = FieldError("file", "请选择标准模板的 .xlsx 或 .csv 文件", value=filename[:80])
        raise ValidationFailed([error], "没有收到可导入的文件")
    ctx = request.app[CTX]
    scope = _scope(user.role, user.province_code, form.get("province", ""))
    table = await parsed(request, exchange.read_rows, data, filename)
    snap = ctx.holder.current
    plan = await parsed(request, exchange.check_rows, table, snap.regions, scope)
    upsert = await ctx.store.run(ctx.store.preview_plan, plan.items) if plan.ok else None
    pending = Pending(user.username, filename, scope, plan, time.time() + PENDING_SECONDS)
    key = request.app[PENDING].add(pending) if plan.ok else ""
    context = {
        "plan": plan,
        "preview": upsert.result() if upsert else None,
        "diff": diff_of(upsert) if upsert else [],
        "key": key,
        "filename": filename,
        "scope": scope,
        "names": row_names(table, snap),
        "letters": column_letters(table),
        "scope_fixed": user.role == "editor",
        "provinces": PROVINCES,
    }
    return render(request, "web/import_report.html", context, status=200 if plan.ok else 400)


async def upload_apply(request: web.Request) -> web.StreamResponse:
    user = require_user(request, role="editor")
    form = dict((await request.post()).items())
    check_csrf(request, form)
    key = form.get("key")
    pending = request.app[PENDING].take(key if isinstance(key, str) else "", user.username)
    ctx = request.app[CTX]
    actor = f"{user.actor} · 导入（{pending.filename[:80]}）"
    result = await ctx.store.run(exchange.apply, ctx.store, pending.plan, actor)
    await ctx.holder.refresh()
    context = {"result": result, "filename": pending.filename}
    return render(request, "web/import_done.html", context)


async def export_download(request: web.Request) -> web.Response:
    user = require_user(request)  # bulk exports are accountable: never anonymous
    code, fmt = request.match_info["code"], request.match_info["fmt"]
    snap = request.app[CTX].holder.current
    if code not in snap.regions:
        raise NotFound(f"区划代码 {code} 不存在")
    if fmt not in export.FORMATS:
        raise NotFound(f"未知的导出格式 {fmt}：可选 {', '.join(export.FORMATS)}")
    ctx = request.app[CTX]
    viewer = viewer_of(user)
    reader = check_reads(request)
    charge_reads(request, reader, len(export.offices_of(snap, code)))
    mark = export.Watermark(user.actor, clock.now())
    # a person reads the region and the date; the exporter and the moment are there too (CSV has no other place)
    stamp = mark.filename("", fmt).lstrip("-")
    name = f"{snap.regions[code].name}_通讯录_{clock.today().isoformat()}_{stamp}"
    fallback = mark.filename(code, fmt)

    def made() -> bytes:
        body = exchange.render(snap, fmt, root=code, base_dn=ctx.settings.ldap.base_dn, viewer=viewer, watermark=mark)
        ctx.store.record_export(user.actor, code, fmt, fallback, viewer.key)
        return body

    body = await ctx.store.run(made)
    headers = {"Content-Type": export.FORMATS[fmt], "Content-Disposition": attachment(name, fallback)}
    return web.Response(body=body, headers=headers)


async def template_download(request: web.Request) -> web.Response:
    """The standard template: the header, one example row marked 示例 (the import refuses it) and, on a second
    sheet, the region codes the user may import (an editor's province, else all ten)."""
    user = require_user(request, role="editor")
    snap = request.app[CTX].holder.current
    prefix = (user.province_code or "")[:2] if user.role == "editor" else ""
    example = ["示例（请删除本行）", "某某街道流动人口服务站", "示例联系人", "科长", "0311-12345678", "0311-12345679",
               "example@example.org", "某省某市某区某街道某路 1 号", "050000", "否"]  # fmt: skip
    regions = sorted((r for r in snap.regions.values() if r.code.startswith(prefix)), key=lambda r: r.code)
    codes = [[r.code, " › ".join(r.path), LEVEL_NAMES.get(r.level, r.level)] for r in regions]
    body = await parsed(
        request, lambda: xlsx.write([example], EXPORT_HEADER, extra=[("区划代码", ["区划代码", "区划", "层级"], codes)])
    )
    province = PROVINCES.get(prefix, "十省区市")
    name = f"{province}_导入模板_{clock.today().isoformat()}.xlsx"
    headers = {"Content-Type": export.FORMATS["xlsx"], "Content-Disposition": attachment(name, "template.xlsx")}
    return web.Response(body=body, headers=headers)


async def _stop_parser(app: web.Application) -> None:
    app[PARSER].shutdown(wait=False, cancel_futures=True)


def setup(app: web.Application) -> None:
    app[PENDING] = PendingImports()
    app[PARSER] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-parse")
    app.on_cleanup.append(_stop_parser)
    app.router.add_get("/import", upload_form)
    app.router.add_get("/import/template.xlsx", template_download)
    app.router.add_post("/import", upload_check)
    app.router.add_post("/import/apply", upload_apply)
    app.router.add_get("/export/{code:\\d{12}}/{fmt}", export_download)
