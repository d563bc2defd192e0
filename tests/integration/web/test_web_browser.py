"""Done-when: a real browser (Debian chromium via Playwright) against the whole service started in-process.

A 河北 editor logs in, finds 长安区 by typing ``changan`` (live results from the JSON API), edits the office's phone,
sees the change in search and in the history; the same editor gets a 403 page for a 山东 office (the database is
unchanged); an anonymous visitor cannot edit. Screenshots of the search and office pages go to the test's tmp folder
(and to ``$BOHAI_SCREENSHOTS`` when set) for a person to look at.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from directory import accounts
from directory.search import search
from liaison.service import Running, start
from tests.support.browser import keep
from tests.support.settings import service_settings
from tests.support.web import CHANGAN, LIXIA, PASSWORD


@pytest.fixture
async def running(sqlite_demo_url: str) -> AsyncIterator[Running]:
    settings = service_settings(sqlite_demo_url, ldap={"enabled": False}, smtp={"enabled": False})
    r = await start(settings, report=lambda line: None)
    yield r
    await r.aclose()


async def test_editor_in_browser(running: Running, browser: object, tmp_path: Path) -> None:
    from playwright.async_api import Browser, expect

    assert isinstance(browser, Browser)
    base = running.urls["http"]
    store = running.store
    await store.run(accounts.add_user, store, "hebei", PASSWORD, "editor", "13", "test")
    page = await browser.new_page(viewport={"width": 1200, "height": 900}, locale="zh-CN")

    await page.goto(f"{base}/login")
    await page.get_by_label("用户名").fill("hebei")
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page.locator(".who")).to_contain_text("hebei（编辑 · 河北省）")

    # live search while typing
    await page.goto(base + "/")
    await page.locator("#q").press_sequentially("changan", delay=30)
    office_link = page.locator(f'#results a[href="/office/{CHANGAN}"]')
    await expect(office_link).to_be_visible()
    await expect(page.locator("#summary")).to_contain_text("共")
    await expect(page.locator("#results .path").first).to_contain_text("长安")
    shot = tmp_path / "search.png"
    await page.screenshot(path=str(shot), full_page=False)
    keep(shot)

    # office page, then edit the phone
    await office_link.click()
    await expect(page.locator("h1")).to_contain_text("长安区")
    await expect(page.locator("#f-phone a[href^='tel:']")).to_be_visible()
    shot = tmp_path / "office.png"
    await page.screenshot(path=str(shot), full_page=True)
    keep(shot)
    await page.get_by_role("link", name="修改").click()
    await page.get_by_label("联系电话").fill("0311-86007788")
    await page.get_by_role("button", name="保存").click()
    await expect(page.locator(".alert.ok")).to_contain_text("已保存")
    await expect(page.locator("#f-phone")).to_contain_text("0311-86007788")
    await expect(page.locator("table.history tbody tr").first).to_contain_text("hebei")
    await expect(page.locator("table.history tbody tr").first).to_contain_text("0311-86007788")
    row = await store.run(store.get_office, CHANGAN)
    assert row is not None and row["phone"] == "+8631186007788"

    # the new number is found by search at once
    await page.goto(base + "/")
    await page.locator("#q").press_sequentially("86007788", delay=20)
    await expect(page.locator(f'#results a[href="/office/{CHANGAN}"]')).to_be_visible()
    assert [h.office.region_code for h in search(running.holder.current, "86007788").hits] == [CHANGAN]

    # a 山东 office: 403 page and nothing written
    before = await store.run(store.get_office, LIXIA)
    changes = await store.run(store.count_changes)
    response = await page.goto(f"{base}/office/{LIXIA}/edit")
    assert response is not None and response.status == 403
    await expect(page.locator("h1")).to_contain_text("没有权限")
    await page.goto(f"{base}/office/{LIXIA}")
    await expect(page.get_by_role("link", name="修改")).to_have_count(0)
    assert await store.run(store.get_office, LIXIA) == before
    assert await store.run(store.count_changes) == changes

    # anonymous: no edit button, the edit URL leads to the login page
    anon = await browser.new_page()
    await anon.goto(f"{base}/office/{CHANGAN}")
    await expect(anon.get_by_role("link", name="修改")).to_have_count(0)
    await anon.goto(f"{base}/office/{CHANGAN}/edit")
    await expect(anon.locator("h1")).to_contain_text("工作人员登录")
    assert "/login?next=" in anon.url
