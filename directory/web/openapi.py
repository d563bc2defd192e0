"""The OpenAPI 3 document of ``/api/v1``: every read and write, its parameters, bodies with examples and errors.

Owns only the document (served by ``web.api``); what the operations do is ``web.api`` (reads) and ``web.writes``.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


async def document(request: web.Request) -> web.Response:
    return web.json_response(OPENAPI, dumps=lambda v: json.dumps(v, ensure_ascii=False))


def _op(summary: str, params: list[dict[str, Any]], ok: str = "成功") -> dict[str, Any]:
    return {
        "summary": summary,
        "parameters": params,
        "responses": {
            "200": {"description": ok, "content": {"application/json": {"schema": {"type": "object"}}}},
            "default": {
                "description": "错误",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
    }


def _q(name: str, desc: str, *, required: bool = False, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": desc, "schema": {"type": kind}}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


_ETAG_HEADER = {"ETag": {"description": '单位的版本，如 "v7"；写入时放在 If-Match 头', "schema": {"type": "string"}}}
_OFFICE_OK = {
    "description": "成功",
    "headers": _ETAG_HEADER,
    "content": {"application/json": {"schema": {"type": "object"}}},
}
_GET_OFFICE = {"200": _OFFICE_OK, "default": _error("错误")}
_MERGE = "application/merge-patch+json"
_OFFICE_EXAMPLE = {"phone": "0311-87654321", "contact_name": "张伟", "position": "主任"}
_OFFICE_SCHEMA = {
    "type": "object",
    "properties": {
        **{
            name: {"type": "string", "nullable": True}
            for name in ("unit_name", "contact_name", "position", "phone", "fax", "email", "address", "postal_code")
        },
        "liaison_officer": {"type": "boolean", "nullable": True},
    },
}
_WRITE_ERRORS = {
    "400": _error("请求内容无法解析（不是 JSON 对象或内容类型不对）"),
    "401": _error("未登录或令牌无效、已吊销、已过期"),
    "403": _error("无权修改该单位（只读令牌、读者账户，或不在令牌/账户的省份内）"),
    "404": _error("区划代码不存在"),
    "412": _error("If-Match 的版本已不是当前版本（他人已修改），或 If-None-Match: * 而单位已存在"),
    "413": _error("请求内容过大"),
    "422": _error("字段校验未通过：errors 列出每个字段及原因，未做任何更改"),
    "428": _error("缺少 If-Match（或新建时的 If-None-Match: *）"),
}
_PRECONDITIONS = [
    {
        "name": "If-Match",
        "in": "header",
        "required": False,
        "description": "GET 该单位得到的 ETag（修改时必填）",
        "schema": {"type": "string"},
        "example": '"v7"',
    },
    {
        "name": "If-None-Match",
        "in": "header",
        "required": False,
        "description": "新建单位时为 *",
        "schema": {"type": "string"},
        "example": "*",
    },
]


def _write_op(summary: str, media: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "security": [{"bearer": []}],
        "parameters": [_CODE, *_PRECONDITIONS],
        "requestBody": {
            "required": True,
            "content": {media: {"schema": _OFFICE_SCHEMA, "example": _OFFICE_EXAMPLE}},
        },
        "responses": {"200": _OFFICE_OK, "201": {**_OFFICE_OK, "description": "已新建"}, **_WRITE_ERRORS},
    }


_IMPORT_OP = {
    "summary": "导入标准模板（CSV 或 XLSX）：默认只试运行并返回将新增/更新的数量；apply=true 时写入（全部或全不）",
    "security": [{"bearer": []}],
    "parameters": [
        {
            "name": "apply",
            "in": "query",
            "description": "true 写入；默认 false 只试运行",
            "schema": {"type": "boolean"},
        },
        {
            "name": "province",
            "in": "query",
            "description": "管理员可限定省份（编辑固定为本省）",
            "schema": {"type": "string"},
        },
        {
            "name": "filename",
            "in": "query",
            "description": "文件名（仅用于判断类型，可省略）",
            "schema": {"type": "string"},
        },
    ],
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "example": "区划代码,单位名称,联系人,职务,联系电话,传真号码,电子邮箱,工作地址,邮政编码\n",
            },
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                "schema": {"type": "string", "format": "binary"}
            },
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
            },
        },
    },
    "responses": {
        "200": {
            "description": "试运行或写入的结果：counts（created、updated、unchanged）、changed、warnings",
            "content": {
                "application/json": {
                    "schema": {"type": "object"},
                    "example": {
                        "ok": True,
                        "applied": False,
                        "rows": 2,
                        "counts": {"created": 1, "updated": 1, "unchanged": 0},
                    },
                }
            },
        },
        **{k: v for k, v in _WRITE_ERRORS.items() if k not in ("404", "412", "428")},
    },
}

_CODE = {
    "name": "code",
    "in": "path",
    "required": True,
    "description": "12位区划代码",
    "schema": {"type": "string", "pattern": "^\\d{12}$"},
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "环渤海通讯联络服务 API",
        "version": "1",
        "description": "流动人口服务管理单位通讯录：读取，及持写权限令牌的写入（If-Match 乐观锁）",
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{}, {"bearer": []}],
    "paths": {
        "/search": {
            "get": _op("查找单位", [_q("q", "查询词", required=True), _q("limit", "最多结果数", kind="integer")])
        },
        "/regions": {"get": _op("省级区划列表", [])},
        "/regions/{code}": {"get": _op("区划、下级区划与数据质量", [_CODE])},
        "/offices": {
            "get": _op(
                "区划下的全部单位",
                [
                    _q("region", "区划代码", required=True),
                    _q("limit", "每页条数", kind="integer"),
                    _q("offset", "起始位置", kind="integer"),
                ],
            )
        },
        "/offices/{code}": {
            "get": {**_op("单位详情（响应头 ETag 为写入时 If-Match 所需的版本）", [_CODE]), "responses": _GET_OFFICE},
            "put": _write_op("整体写入一个单位（未给出的字段置空；新建用 If-None-Match: *）", "application/json"),
            "patch": _write_op("部分修改一个单位（JSON Merge Patch，RFC 7396；null 清空该字段）", _MERGE),
        },
        "/offices/{code}/history": {"get": _op("单位修改记录", [_CODE])},
        "/export": {
            "get": _op(
                "导出区划下的单位（需要登录，记入审计，带导出者与时间；手机号码按读者权限隐去中间四位）",
                [_q("region", "区划代码", required=True), _q("format", "json 或 vcard")],
            )
        },
        "/me": {"get": _op("当前用户", [])},
        "/import": {"post": _IMPORT_OP},
    },
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "bohai user token add 用户名 --label 名称"}
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["ok", "error", "errors", "status"],
                "properties": {
                    "ok": {"type": "boolean", "enum": [False]},
                    "error": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "object"}},
                    "status": {"type": "integer"},
                },
            }
        },
    },
}
