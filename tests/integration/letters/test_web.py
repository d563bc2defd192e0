"""Letters pages in the web face (aiohttp TestClient): staff-only, compose → queued letter, escaping, editor limits,
the deadline board. The login middleware lives on another branch; here a two-line middleware sets
``request["account"]`` the way it will."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from directory.settings import Settings
from directory.snapshot import SnapshotHolder
from directory.store import Store
from directory.validate import OfficeData
from directory.web.app import WebContext, make_app
from liaison import outbox
from liaison import web as letters_web

ACCOUNTS = {
    "admin": {"username": "admin", "role": "admin", "province_code": None},
    "hebei": {"username": "hb", "role": "editor", "province_code": "130000000000"},
    "beijing": {"username": "bj", "role": "editor", "province_code": "110000000000"},
    "reader": {"username": "r", "role": "reader", "province_code": None},
}


def as_account(request: web.Request) -> None:
    who = request.headers.get("X-Test-Account")
    if who:
        request[letters_web.ACCOUNT_KEY] = ACCOUNTS[who]


@pytest.fixture
async def client(store: Store) -> AsyncIterator[tuple[TestClient[Any, Any], list[int]]]:
    store.upsert_offices(
        [
            OfficeData("130100000000", "石家庄市流动人口服务管理办公室", email="sjz@hebei.example"),
            OfficeData("110101000000", "东城区流动人口服务管理办公室", email="dc@beijing.example"),
        ],
        "test",
    )
    woken: list[int] = []

    @web.middleware
    async def fake_login(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        as_account(request)
        response: web.StreamResponse = await handler(request)
        return response

    settings = Settings().replace(database={"url": store.url})
    ctx = WebContext(settings, store, SnapshotHolder(store))
    ext = letters_web.extension(lambda: None, lambda: woken.append(1))
    app = make_app(ctx, [lambda a: a.middlewares.append(fake_login), ext])
    async with TestClient(TestServer(app)) as c:
        yield c, woken


FORM = {
    "from": "130100000000",
    "to": "110101000000",
    "subject": "关于核查的函",
    "body": "请协助核查。",
    "reply_within": "7",
}


async def test_anonymous_and_readers_cannot_send(client: tuple[TestClient[Any, Any], list[int]]) -> None:
    c, _ = client
    assert (await c.get("/letters/new")).status == 403
    resp = await c.post("/letters/new", data=FORM)
    assert resp.status == 403 and "登录" in await resp.text()
    assert (await c.post("/letters/new", data=FORM, headers={"X-Test-Account": "reader"})).status == 403
    assert (await c.get("/letters/board/110000000000")).status == 403


async def test_compose_sends_and_shows(client: tuple[TestClient[Any, Any], list[int]], store: Store) -> None:
    c, woken = client
    form = await c.get("/letters/new", headers={"X-Test-Account": "hebei"})
    assert form.status == 200 and "写联络函" in await form.text()
    resp = await c.post("/letters/new", data=FORM, headers={"X-Test-Account": "hebei"}, allow_redirects=False)
    assert resp.status == 303 and woken == [1]
    page = await c.get(resp.headers["Location"], headers={"X-Test-Account": "reader"})
    text = await page.text()
    assert "渤联〔" in text and "dc@beijing.example" in text and "待发" in text
    assert outbox.counts(store) == {"queued": 1}
    board = await (await c.get("/letters/board/110000000000", headers={"X-Test-Account": "beijing"})).text()
    assert "关于核查的函" in board and "未到期（1）" in board  # 7 working days are more than 3 days ahead


async def test_bad_form_is_shown_again_escaped(client: tuple[TestClient[Any, Any], list[int]], store: Store) -> None:
    c, woken = client
    bad = {**FORM, "subject": "", "body": "<script>alert(1)</script>", "to": "999999999999"}
    resp = await c.post("/letters/new", data=bad, headers={"X-Test-Account": "admin"})
    text = await resp.text()
    assert resp.status == 400 and "区划代码不存在" in text and "标题不能为空" in text
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert outbox.counts(store) == {} and woken == []


async def test_editor_sends_only_for_own_province(client: tuple[TestClient[Any, Any], list[int]], store: Store) -> None:
    c, _ = client
    resp = await c.post("/letters/new", data=FORM, headers={"X-Test-Account": "beijing"})
    assert resp.status == 403 and "本省" in await resp.text()
    assert (await c.get("/letters/board/130100000000", headers={"X-Test-Account": "admin"})).status == 404
    assert outbox.counts(store) == {}
