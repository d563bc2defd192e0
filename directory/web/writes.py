"""Writes of the JSON API: one office by ``PUT``/``PATCH`` with optimistic locking, and the import of a template file.

Owns: the ETag of an office (``"v<version>"``, the version every edit raises, so it names exactly what a write may
overwrite), the preconditions of a write (``If-Match`` required: 428 without it, 412 when stale; ``If-None-Match:
*`` creates an office where none is), JSON Merge Patch (RFC 7396) onto an office's eight fields and its liaison
flag, and ``POST /api/v1/import`` (the standard template as CSV or XLSX; a dry run answering the same counts as
``bohai import`` unless ``?apply=true``). Values go through the same rules as the web form and the import
(``validate.clean_office``: 422 with one error per field); rights are the caller's (``User.can_edit``, which a
token's scope and province narrow); every write is an ordinary audited edit whose actor names the token used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from directory import exchange
from directory.accounts import User
from directory.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    TooLarge,
    Unprocessable,
    ValidationFailed,
)
from directory.models import OFFICE_FIELDS
from directory.regions import PROVINCES
from directory.snapshot import RegionView
from directory.validate import clean_office, display_phone
from directory.web.api import etag, office_json
from directory.web.auth import require_user
from directory.web.context import CTX
from directory.web.imports import file_field, parsed
from directory.web.pages import AreaCodes

MAX_OFFICE_BODY = 64 * 1024
FIELDS = tuple(name for name, _ in OFFICE_FIELDS)
LIAISON = "liaison_officer"
WRITABLE = frozenset((*FIELDS, LIAISON))
# Keys of an office's JSON that a client may send back unchanged (a GET edited and PUT whole); never written.
READ_ONLY = frozenset(
    ("region_code", "region_path", "level", "demo", "version", "routing_address", "email_status", "verified_at",
     "verified_by", "updated_at", "updated_by", "contacts")
)  # fmt: skip
JSON_TYPES = ("application/json", "application/merge-patch+json")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _tags(header: str) -> list[str]:
    return [t.strip().removeprefix("W/") for t in header.split(",") if t.strip()]


def _expected_version(request: web.Request, current: Mapping[str, Any] | None) -> int:
    """The version the client's precondition names: the current one, or 0 for "must not exist yet"."""
    if_match, if_none = request.headers.get("If-Match"), request.headers.get("If-None-Match")
    if if_match is None and if_none is None:
        raise PreconditionRequired("写入需要 If-Match 头（先 GET 该单位，取响应的 ETag）；新建单位用 If-None-Match: *")
    if if_match is not None:
        if current is None:
            raise PreconditionFailed("该单位不存在（可能已被删除）；新建单位请用 If-None-Match: *")
        tags = _tags(if_match)
        if "*" not in tags and etag(current["version"]) not in tags:
            raise PreconditionFailed(f"该单位已被修改（当前 ETag {etag(current['version'])}），请重新读取后再写")
        return int(current["version"])
    if _tags(if_none or "") != ["*"]:
        raise PreconditionFailed("If-None-Match 只支持 *（仅当该单位尚不存在时新建）")
    if current is not None:
        raise PreconditionFailed(f"该单位已存在（当前 ETag {etag(current['version'])}），修改请用 If-Match")
    return 0


async def _body(request: web.Request) -> dict[str, Any]:
    kind = request.content_type
    allowed = JSON_TYPES if request.method == "PATCH" else JSON_TYPES[:1]
    if kind not in allowed:
        raise ValidationFailed(
            [FieldError("Content-Type", f"应为 {' 或 '.join(allowed)}", value=kind[:80])], "请求内容类型不正确"
        )
    raw = await request.content.read(MAX_OFFICE_BODY + 1)
    if len(raw) > MAX_OFFICE_BODY:
        raise TooLarge(f"单位数据最多 {MAX_OFFICE_BODY} 字节，未做任何更改")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationFailed([FieldError("body", f"不是有效的 UTF-8 JSON：{exc}")], "请求内容无法解析") from None
    if not isinstance(body, dict):
        raise ValidationFailed([FieldError("body", "应为一个 JSON 对象（各字段的名称与值）")], "请求内容无法解析")
    return body


def _checked_keys(body: Mapping[str, Any], code: str) -> list[FieldError]:
    errors = [
        FieldError(key[:60], "未知字段；可写字段：" + "、".join(sorted(WRITABLE)))
        for key in body
        if key not in WRITABLE and key not in READ_ONLY
    ]
    if body.get("region_code", code) != code:
        errors.append(FieldError("region_code", "与地址中的区划代码不一致", value=str(body["region_code"])[:20]))
    for key in FIELDS:
        if key in body and body[key] is not None and not isinstance(body[key], str):
            errors.append(FieldError(key, "应为文本（字符串）或 null", value=str(body[key])[:40]))
    if body.get(LIAISON) is not None and not isinstance(body.get(LIAISON), bool):
        errors.append(FieldError(LIAISON, "应为 true、false 或 null", value=str(body[LIAISON])[:20]))
    return errors


def _current_values(office: Mapping[str, Any] | None) -> dict[str, Any]:
    if office is None:
        return {name: "" for name in FIELDS}
    values = {name: office[name] or "" for name in FIELDS}
    values["phone"], values["fax"] = display_phone(values["phone"]), display_phone(values["fax"])
    return {**values, LIAISON: bool(office["liaison"])}


def _merged(request: web.Request, body: Mapping[str, Any], office: Mapping[str, Any] | None) -> dict[str, Any]:
    """The office's new values: the body alone for PUT (absent fields empty), merged onto the current for PATCH."""
    values: dict[str, Any] = _current_values(office) if request.method == "PATCH" else {n: "" for n in FIELDS}
    for key in WRITABLE.intersection(body):
        values[key] = body[key] if body[key] is not None else ("" if key in FIELDS else None)
    return values


def _writer(request: web.Request, code: str) -> tuple[User, RegionView]:
    user = require_user(request)
    region = request.app[CTX].holder.current.region(code)
    if region is None:
        raise NotFound(f"区划代码 {code} 不存在")
    if not user.can_edit(code):
        raise Forbidden(_refusal(user, region))
    return user, region


def _refusal(user: User, region: RegionView) -> str:
    if user.token_label and user.role == "reader":
        return "此访问令牌或其所属账户没有写权限（只读）"
    if user.role == "editor":
        return f"只能修改本省（{user.province_name}）的单位；{region.path_text} 不在其中"
    return "此账户没有修改权限（只读）"


async def office_write(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    user, _ = _writer(request, code)
    body = await _body(request)
    store = request.app[CTX].store
    office = await store.run(store.get_office, code)
    expected = _expected_version(request, office)
    errors = _checked_keys(body, code)
    if errors:
        raise Unprocessable(errors, "请求中有不正确的字段，未做任何更改")
    values = _merged(request, body, office)
    raw = {**{k: values[k] for k in FIELDS}, "region_code": code}
    if values.get(LIAISON) is not None:
        raw["liaison"] = "是" if values[LIAISON] else "否"
    snap = request.app[CTX].holder.current
    cleaned = clean_office(raw, known_region=snap.regions, area_code_for=AreaCodes())
    if cleaned.data is None:
        raise Unprocessable(cleaned.errors, "数据校验未通过，未做任何更改")
    try:
        saved = await store.run(store.save_office, cleaned.data, user.actor, expected_version=expected)
    except Conflict as exc:
        raise PreconditionFailed(f"{exc}（在读取与写入之间被他人修改）") from None
    await request.app[CTX].holder.refresh()
    return _office_response(request, code, saved, created=office is None, warnings=cleaned.warnings)


def _office_response(
    request: web.Request, code: str, saved: Mapping[str, Any], *, created: bool, warnings: list[FieldError]
) -> web.Response:
    snap = request.app[CTX].holder.current
    view, region = snap.office(code), snap.region(code)
    data: dict[str, Any] = {"ok": True, "changed": bool(saved["_changed"])}
    if view is not None and region is not None:
        data["office"] = office_json(view, region, request.app[CTX].settings.routing_domain, staff=True)
    data["warnings"] = [_error_dict(w) for w in warnings]
    text = json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))
    response = web.Response(text=text, status=201 if created else 200, content_type="application/json")
    response.headers["ETag"] = etag(int(saved["version"]))
    return response


def _error_dict(error: FieldError) -> dict[str, Any]:
    return {"field": error.field, "message": error.message, "row": error.row, "column": error.column,
            "value": error.value}  # fmt: skip


# -- import -----------------------------------------------------------------------------------------------------


async def _upload(request: web.Request) -> tuple[bytes, str]:
    """The file of an import request: a multipart ``file`` field, or the body itself named by its type."""
    if request.content_type == "multipart/form-data":
        _, data, filename = await file_field(request)
        if not filename:
            raise ValidationFailed([FieldError("file", "缺少文件字段 file")], "没有收到可导入的文件")
        return data, filename
    names = {"text/csv": "upload.csv", XLSX_TYPE: "upload.xlsx", "application/octet-stream": "upload"}
    if request.content_type not in names:
        wanted = "text/csv、" + XLSX_TYPE + " 或 multipart/form-data"
        error = FieldError("Content-Type", f"应为 {wanted}", value=request.content_type[:80])
        raise ValidationFailed([error], "请求内容类型不正确")
    return await request.read(), request.query.get("filename") or names[request.content_type]


def _scope(user: User, request: web.Request) -> str | None:
    requested = request.query.get("province", "")
    if requested and requested[:2] not in PROVINCES:
        raise ValidationFailed([FieldError("province", "省份代码不正确", value=requested[:12])], "参数不正确")
    if user.role == "editor":
        if requested and user.province_code and requested[:2] != user.province_code[:2]:
            raise Forbidden(f"只能导入本省（{user.province_name}）的单位")
        return user.province_code
    return requested[:2].ljust(12, "0") if requested else None


async def api_import(request: web.Request) -> web.Response:
    user = require_user(request, role="editor")
    apply = request.query.get("apply", "false")
    if apply not in ("true", "false"):
        raise ValidationFailed([FieldError("apply", "应为 true 或 false", value=apply[:10])], "参数 apply 不正确")
    scope = _scope(user, request)
    data, filename = await _upload(request)
    ctx = request.app[CTX]
    table = await parsed(request, exchange.read_rows, data, filename)
    plan = await parsed(request, exchange.check_rows, table, ctx.holder.current.regions, scope)
    if not plan.ok:
        raise Unprocessable(plan.errors, f"文件中有 {len(plan.errors)} 处错误，未写入任何数据")
    if apply == "true":
        result = await ctx.store.run(exchange.apply, ctx.store, plan, user.actor)
        await ctx.holder.refresh()
    else:
        result = await ctx.store.run(exchange.preview, ctx.store, plan)
    counts = {"created": result.created, "updated": result.updated, "unchanged": result.unchanged}
    body = {"ok": True, "applied": apply == "true", "rows": plan.rows, "counts": counts,
            "changed": list(result.changed_codes), "warnings": [_error_dict(w) for w in plan.warnings]}  # fmt: skip
    return web.json_response(body, dumps=lambda v: json.dumps(v, ensure_ascii=False))


def setup(app: web.Application) -> None:
    app.router.add_put("/api/v1/offices/{code:\\d{12}}", office_write)
    app.router.add_patch("/api/v1/offices/{code:\\d{12}}", office_write)
    app.router.add_post("/api/v1/import", api_import)
