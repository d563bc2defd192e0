"""Done-when: a real browser (Debian chromium via Playwright) enrols an editor's second factor from the QR page and
logs in with password and code; a wrong code is refused and counted, a recovery code works once.

The whole service runs in-process with ``[security] require_2fa = true``; the service's clock is a ManualClock, moved
30 s between codes, because each 30-second code is good once (on every instance).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pyotp
import pytest

from directory import accounts, clock
from directory.clock import ManualClock
from liaison.service import Running, start
from tests.support.settings import service_settings
from tests.support.web import PASSWORD


@pytest.fixture
async def running(sqlite_demo_url: str) -> AsyncIterator[Running]:
    settings = service_settings(
        sqlite_demo_url,
        ldap={"enabled": False},
        smtp={"enabled": False},
        security={"require_2fa": True},
        login={"first_delay": 120.0},  # the wait after the free failures outlasts the test, whatever the load
    )
    r = await start(settings, report=lambda line: None)
    yield r
    await r.aclose()


async def test_editor_enrols_and_logs_in_with_a_code(running: Running, browser: object, tmp_path: Path) -> None:
    from playwright.async_api import Browser, Page, expect

    assert isinstance(browser, Browser)
    base = running.urls["http"]
    store = running.store
    await store.run(accounts.add_user, store, "hebei", PASSWORD, "editor", "13", "test")
    page = await browser.new_page(viewport={"width": 1000, "height": 900}, locale="zh-CN")

    async def password_step(target: Page) -> None:
        await target.goto(f"{base}/login")
        await target.get_by_label("用户名").fill("hebei")
        await target.get_by_label("密码").fill(PASSWORD)
        await target.get_by_role("button", name="登录").click()

    async def logout() -> None:
        await page.get_by_role("button", name="退出").click()
        await expect(page.locator(".who")).to_contain_text("登录")

    with clock.use(ManualClock(clock.system_now())) as now:
        assert isinstance(now, ManualClock)
        # the password alone leads to the enrolment page, and nowhere else
        await password_step(page)
        await expect(page).to_have_url(f"{base}/account/2fa")
        await expect(page.locator(".alert.bad")).to_contain_text("必须先设置双因素认证")
        await page.goto(f"{base}/office/130102000000/edit")
        await expect(page).to_have_url(f"{base}/account/2fa")
        qr = page.locator("#totp-qr")
        await expect(qr).to_be_visible()
        assert (await qr.get_attribute("src") or "").startswith("data:image/svg+xml")
        assert await qr.evaluate("img => img.naturalWidth") > 50  # the browser drew the QR code
        shot = tmp_path / "enrol.png"
        await page.screenshot(path=str(shot))
        secret = (await page.locator("#totp-secret").inner_text()).strip()
        totp = pyotp.TOTP(secret)
        await page.get_by_label("验证码").fill(totp.at(now()))
        await page.get_by_role("button", name="启用").click()
        codes = [c.strip() for c in await page.locator("#recovery-codes li").all_inner_texts()]
        assert len(codes) == 10 and len(set(codes)) == 10
        await page.goto(f"{base}/office/130102000000/edit")  # enrolled: the pages open
        await expect(page.get_by_label("联系电话")).to_be_visible()
        await logout()

        # password, then a wrong code: refused and counted; then the right code
        now.advance(seconds=31)
        await password_step(page)
        await expect(page).to_have_url(f"{base}/login/2fa?next=%2F")
        right = totp.at(now())
        await page.get_by_label("验证码").fill("000000" if right != "000000" else "111111")
        await page.get_by_role("button", name="验证").click()
        await expect(page.locator(".alert.bad")).to_contain_text("验证码不正确")
        history = await store.run(store.login_history, "hebei")
        assert (history[0]["success"], history[0]["detail"]) == (False, "wrong_code")
        await page.get_by_label("验证码").fill(right)
        await page.get_by_role("button", name="验证").click()
        await expect(page.locator(".who")).to_contain_text("hebei（编辑 · 河北省）")
        await logout()

        # the same code again (same 30 s): refused; a recovery code works once
        await password_step(page)
        await page.get_by_label("验证码").fill(right)
        await page.get_by_role("button", name="验证").click()
        await expect(page.locator(".alert.bad")).to_contain_text("验证码不正确")
        await page.get_by_label("验证码").fill(codes[3])
        await page.get_by_role("button", name="验证").click()
        await expect(page.locator(".who")).to_contain_text("hebei（编辑 · 河北省）")
        await logout()
        await password_step(page)
        await page.get_by_label("验证码").fill(codes[3])
        await page.get_by_role("button", name="验证").click()
        await expect(page.locator(".alert.bad")).to_contain_text("验证码不正确")
        assert await store.run(store.unused_recovery_codes, "hebei") == 9
        details = [(h["success"], h["detail"]) for h in await store.run(store.login_history, "hebei")]
        assert details[:4] == [(False, "wrong_code"), (True, "recovery"), (False, "wrong_code"), (True, "totp")]
        # wrong codes count like wrong passwords (the login guard): after three in a row the fourth must wait
        for _ in range(2):
            await page.get_by_label("验证码").fill("000000" if totp.at(now()) != "000000" else "111111")
            await page.get_by_role("button", name="验证").click()
            await expect(page.locator(".alert.bad")).to_contain_text("验证码不正确")
        await page.get_by_label("验证码").fill(totp.at(now()))  # even the right code, now
        await page.get_by_role("button", name="验证").click()
        await expect(page.locator(".alert.bad")).to_contain_text("尝试过于频繁")
        await expect(page.locator(".who")).not_to_contain_text("hebei")
