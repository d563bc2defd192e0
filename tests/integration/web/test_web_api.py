"""The JSON API: results, the OpenAPI document, the error shape on every error, body limits, metrics."""

from __future__ import annotations

import json
from typing import Any

import vobject
from aiohttp import FormData
from aiohttp import web as aioweb

from directory.search import search
from directory.web.api import search_body
from directory.web.openapi import OPENAPI
from tests.support.web import CHANGAN, PASSWORD, WebFactory

ERROR_KEYS = {"ok", "error", "errors", "status"}


async def check_error(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = await resp.json()
    assert set(body) == ERROR_KEYS and body["ok"] is False and body["status"] == status and body["error"]
    return body


def boom(app: aioweb.Application) -> None:
    async def fail(request: aioweb.Request) -> aioweb.Response:
        raise RuntimeError("secret internal detail")

    app.router.add_get("/api/v1/boom", fail)
    app.router.add_get("/boom", fail)


async def test_error_shape_on_every_api_error(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url, extensions=(boom,), http={"max_body_size": 1000})
    c = w.client
    await check_error(await c.get("/api/v1/nothing-here"), 404)
    await check_error(await c.get("/api/v1/offices/999999999999"), 404)
    await check_error(await c.get("/api/v1/regions/999999999999"), 404)
    await check_error(await c.post("/api/v1/search", data="x"), 405)
    await check_error(await c.post("/api/v1/search", data="x" * 5000), 413)
    bad = await check_error(await c.get("/api/v1/search", params={"q": "a", "limit": "many"}), 400)
    assert bad["errors"][0]["field"] == "limit"
    await check_error(await c.get("/api/v1/search", params={"q": "a", "limit": "0"}), 400)
    await check_error(await c.get("/api/v1/search", params={"q": "x" * 201}), 400)
    await check_error(await c.get("/api/v1/offices"), 400)
    await check_error(await c.get("/api/v1/export", params={"region": CHANGAN, "format": "exe"}), 400)
    await check_error(await c.get("/api/v1/me", headers={"Authorization": "Bearer nope.nope"}), 401)
    crash = await check_error(await c.get("/api/v1/boom"), 500)
    assert "secret" not in crash["error"]
    # pages get HTML error pages for the same errors
    for path, status in (("/nothing-here", 404), ("/boom", 500), ("/office/999999999999", 404)):
        resp = await c.get(path)
        assert resp.status == status and resp.headers["Content-Type"].startswith("text/html"), path
        assert "secret" not in await resp.text()
    # every error of the API is documented with the same schema
    assert set(OPENAPI["components"]["schemas"]["Error"]["required"]) == ERROR_KEYS


async def test_openapi_documents_every_api_route_and_method(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url)
    doc = await (await w.client.get("/api/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.") and doc["servers"] == [{"url": "/api/v1"}]
    routes = {
        (r.resource.canonical.removeprefix("/api/v1").replace("{code:\\d{12}}", "{code}"), r.method.lower())
        for r in w.client.app.router.routes()  # type: ignore[union-attr]
        if r.resource is not None and r.resource.canonical.startswith("/api/v1/") and r.method != "HEAD"
    }
    routes.discard(("/openapi.json", "get"))
    assert routes == {(path, method) for path, ops in doc["paths"].items() for method in ops}


async def test_search_regions_offices_history_export(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url)
    c = w.client
    body = await (await c.get("/api/v1/search", params={"q": "changan", "limit": "5"})).json()
    assert body["ok"] is True and body["terms"] == ["changan"] and len(body["hits"]) == 5 and body["total"] >= 5
    assert CHANGAN in [h["region_code"] for h in body["hits"]]
    assert {"unit_name", "region_path", "phone", "fax", "email", "address", "postal_code", "score"} <= set(
        body["hits"][0]
    )
    regions = (await (await c.get("/api/v1/regions")).json())["regions"]
    assert [r["name"] for r in regions][:3] == ["北京市", "天津市", "河北省"] and len(regions) == 10
    sjz = await (await c.get("/api/v1/regions/130100000000")).json()
    assert CHANGAN in [r["code"] for r in sjz["children"]] and sjz["quality"]["offices"] >= len(sjz["children"])
    page = await (
        await c.get("/api/v1/offices", params={"region": "130100000000", "limit": "10", "offset": "5"})
    ).json()
    assert page["total"] == sjz["quality"]["offices"] and len(page["offices"]) == 10 and page["offset"] == 5
    office = (await (await c.get(f"/api/v1/offices/{CHANGAN}")).json())["office"]
    assert office["routing_address"] == f"{CHANGAN}@liaison.bohai.example" and office["region_path"][-1] == "长安区"
    history = (await (await c.get(f"/api/v1/offices/{CHANGAN}/history")).json())["history"]
    assert history and history[-1]["action"] == "create"
    refused = await c.get("/api/v1/export", params={"region": CHANGAN})
    assert refused.status == 401, "bulk exports need a login"
    w.add_user("reader1", "reader")
    await w.login("reader1")
    export = await (await c.get("/api/v1/export", params={"region": CHANGAN})).json()
    assert export["exported"]["by"] == "reader1"
    assert export["offices"][0]["region_code"] == CHANGAN
    all_under = [o["region_code"] for o in export["offices"]]
    assert all(code.startswith("130102") for code in all_under) and CHANGAN in all_under
    vcf = await c.get("/api/v1/export", params={"region": CHANGAN, "format": "vcard"})
    cards = list(vobject.readComponents(await vcf.text()))
    assert len(cards) == len(all_under) and cards[0].fn.value == office["unit_name"]
    assert cards[0].contents["x-bohai-exported"][0].value.startswith("reader1 ")
    assert "reader1" in vcf.headers["Content-Disposition"]


async def test_search_body_matches_search_and_is_cached(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url)
    snap = w.holder.current
    for q in ("changan", "石家庄 长安", "0311", "zzzz-nothing"):
        body = await (await w.client.get("/api/v1/search", params={"q": q, "limit": "7"})).json()
        expected = search(snap, q, 7)
        assert body["hits"] == [json.loads(json.dumps(h.as_dict(), ensure_ascii=False)) for h in expected.hits], q
        assert body["total"] == expected.total and body["query"] == q
    assert search_body(snap, "changan", 7) is search_body(snap, "changan", 7)  # the same bytes from the cache


async def test_body_and_field_limits_write_nothing(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url, http={"max_body_size": 20_000})
    w.add_user("root", "admin")
    await w.login("root")
    before, changes = w.office(CHANGAN), w.store.count_changes()
    token = await w.csrf()
    form = {"unit_name": "新名称", "version": str(before["version"]), "csrf": token}
    # declared too big
    resp = await w.client.post(f"/office/{CHANGAN}/edit", data={**form, "address": "长" * 30_000})
    assert resp.status == 413 and "过大" in await resp.text()

    # streamed without Content-Length (chunked): aiohttp stops reading at the limit
    async def chunks():  # type: ignore[no-untyped-def]
        yield f"csrf={token}&version={before['version']}&unit_name=".encode()
        for _ in range(50):
            yield b"x" * 1000

    resp = await w.client.post(
        f"/office/{CHANGAN}/edit", data=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert resp.status == 413
    # one oversized field in a body that is within the limit
    resp = await w.client.post(f"/office/{CHANGAN}/edit", data={**form, "position": "x" * 3000})
    assert resp.status == 413 and "position" in await resp.text()
    # a large upload-like multipart body
    upload = FormData({"username": "root", "password": PASSWORD})
    upload.add_field("file", b"\0" * 50_000, filename="big.xlsx")
    resp = await w.client.post("/login", data=upload)
    assert resp.status == 413
    assert w.office(CHANGAN) == before and w.store.count_changes() == changes


async def test_metrics_and_health(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url)
    for _ in range(3):
        assert (await w.client.get("/api/v1/search", params={"q": "changan"})).status == 200
    await w.client.get(f"/office/{CHANGAN}")
    await w.client.get("/no/such/page")
    text = await (await w.client.get("/metrics")).text()
    assert 'bohai_http_requests_total{method="GET",route="/api/v1/search",status="200"} 3' in text
    assert 'bohai_http_requests_total{method="GET",route="/office/{code}",status="200"} 1' in text
    assert 'route="unmatched",status="404"} 1' in text
    assert 'bohai_http_request_seconds_count{route="/api/v1/search"} 3' in text
    assert f"bohai_snapshot_offices {len(w.holder.current.offices)}" in text
    assert f"bohai_snapshot_generation {w.holder.current.generation}" in text
    health = await (await w.client.get("/healthz")).json()
    assert health["ok"] is True and health["offices"] == len(w.holder.current.offices) == 15404
