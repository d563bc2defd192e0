"""Letters pages in the web face (real app on 127.0.0.1:0, real login form and session): staff-only, compose →
queued letter, CSRF on the form, escaping, editor limits, the deadline board."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from directory import accounts
from directory.snapshot import SnapshotHolder
from directory.store import Store
from directory.validate import OfficeData
from directory.web.app import make_app
from directory.web.context import WebContext
from liaison.letters import web as letters_web
from liaison.mail import outbox
from liaison.settings import Settings
from tests.support.web import CSRF_RE, PASSWORD

USERS = {"admin": ("admin", None), "hebei": ("editor", "13"), "beijing": ("editor", "11"), "reader": ("reader", None)}


class Browser:
    def __init__(self, client: TestClient[Any, Any], woken: list[int]) -> None:
        self.client, self.woken = client, woken

    async def csrf(self, path: str) -> str:
        resp = await self.client.get(path)
        m = CSRF_RE.search(await resp.text())
        assert m, f"no CSRF field on {path}"
        return m[1]

    async def login(self, username: str) -> None:
        await self.client.post("/logout", data={"csrf": await self.csrf("/login")})
        data = {"username": username, "password": PASSWORD, "csrf": await self.csrf("/login")}
        resp = await self.client.post("/login", data=data, allow_redirects=False)
        assert resp.status == 303, await resp.text()

    async def send(self, form: dict[str, str]) -> Any:
        token = await self.csrf("/login")
        return await self.client.post("/letters/new", data={**form, "csrf": token}, allow_redirects=False)


@pytest.fixture
async def browser(store: Store) -> AsyncIterator[Browser]:
    store.upsert_offices(
        [
            OfficeData("130100000000", "石家庄市流动人口服务管理办公室", email="sjz@hebei.example"),
            OfficeData("110101000000", "东城区流动人口服务管理办公室", email="dc@beijing.example"),
        ],
        "test",
    )
    for name, (role, province) in USERS.items():
        accounts.add_user(store, name, PASSWORD, role, province, "test")
    woken: list[int] = []
    settings = Settings().replace(database={"url": store.url}, http={"port": 0})
    app = make_app(WebContext(settings, store, SnapshotHolder(store)), [letters_web.extension(lambda: woken.append(1))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NotAppKeyWarning: no plain string keys on the app or the request
        async with TestClient(TestServer(app, host="127.0.0.1")) as c:
            yield Browser(c, woken)


FORM = {
    "from": "130100000000",
    "to": "110101000000",
    "subject": "关于核查的函",
    "body": "请协助核查。",
    "reply_within": "7",
}


async def test_anonymous_and_readers_cannot_send(browser: Browser, store: Store) -> None:
    c = browser.client
    resp = await c.get("/letters/new", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/login?next=")
    assert (await c.get("/letters/board/110000000000", allow_redirects=False)).status == 303
    assert (await browser.send(FORM)).status == 303  # to the login page, nothing queued
    await browser.login("reader")
    resp = await browser.send(FORM)
    assert resp.status == 403 and "只有管理员和编辑可以发函" in await resp.text()
    assert outbox.counts(store) == {} and browser.woken == []


async def test_form_without_csrf_is_refused(browser: Browser, store: Store) -> None:
    await browser.login("admin")
    resp = await browser.client.post("/letters/new", data=FORM)
    assert resp.status == 403 and "CSRF" in await resp.text()
    assert outbox.counts(store) == {}


async def test_compose_sends_and_shows(browser: Browser, store: Store) -> None:
    await browser.login("hebei")
    form = await browser.client.get("/letters/new")
    text = await form.text()
    assert form.status == 200 and "写联络函" in text and 'name="csrf"' in text and 'href="/letters/new"' in text
    assert "hebei（编辑 · 河北省）" in text  # the web face's base layout with the user
    resp = await browser.send(FORM)
    assert resp.status == 303 and browser.woken == [1]
    await browser.login("reader")
    page = await browser.client.get(resp.headers["Location"])
    text = await page.text()
    assert "渤联〔" in text and "dc@beijing.example" in text and "待发" in text
    assert outbox.counts(store) == {"queued": 1}
    await browser.login("beijing")
    board = await (await browser.client.get("/letters/board/110000000000")).text()
    assert "关于核查的函" in board and "未到期（1）" in board  # 7 working days are more than 3 days ahead


async def test_bad_form_is_shown_again_escaped(browser: Browser, store: Store) -> None:
    await browser.login("admin")
    bad = {**FORM, "subject": "", "body": "<script>alert(1)</script>", "to": "999999999999"}
    resp = await browser.send(bad)
    text = await resp.text()
    assert resp.status == 400 and "区划代码不存在" in text and "标题不能为空" in text
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert outbox.counts(store) == {} and browser.woken == []


async def test_editor_sends_only_for_own_province(browser: Browser, store: Store) -> None:
    await browser.login("beijing")
    resp = await browser.send(FORM)
    assert resp.status == 403 and "本省" in await resp.text()
    await browser.login("admin")
    resp = await browser.client.get("/letters/board/130100000000")
    assert resp.status == 404 and "省级区划 130100000000 不存在" in await resp.text()
    assert outbox.counts(store) == {}
