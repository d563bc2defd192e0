"""Letters pages in the web face (real app on 127.0.0.1:0, real login form and session): staff-only, compose →
queued letter, CSRF on the form, escaping, editor limits, the deadline board."""

from __future__ import annotations

from directory.store import Store
from liaison.mail import outbox
from tests.support.letters import FORM, Browser


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
    assert form.status == 200 and "写联络函" in text and 'name="csrf"' in text and 'href="/letters"' in text
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
