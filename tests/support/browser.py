"""The real browser of the web tests: Debian's chromium driven by Playwright, and what the tests measure in a page.

``browser`` (a fixture, loaded by ``conftest.py``) launches chromium once per test with the flags this machine's
closed network needs. ``staff_page`` opens a page at a size (desktop 1280×900, phone 360×800) and logs in through
the login form. ``overflow`` is how far a page is wider than its viewport (0: no horizontal scrolling);
``small_targets`` lists visible controls lower than 44 px; ``axe`` runs axe-core (from the npm registry, installed
by ``./dev test`` into ``tests/browser-tools``) in the page and returns its serious and critical violations. The
contexts bypass the site's Content-Security-Policy only so that axe-core's script can be injected; the site's own
pages never need it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.need import need, need_tool
from tests.support.web import PASSWORD

BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 800}
SIZES = {"desktop": DESKTOP, "phone": PHONE}
AXE = Path(__file__).resolve().parents[1] / "browser-tools" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    chromium = need_tool("chromium", "chromium")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=chromium, args=BROWSER_ARGS, headless=True)
        yield b
        await b.close()


async def staff_page(browser: Any, base: str, username: str | None, size: dict[str, int]) -> Any:
    """A new page of its own context at ``size``, logged in as ``username`` through the form (None: anonymous)."""
    from playwright.async_api import expect

    context = await browser.new_context(viewport=size, locale="zh-CN", bypass_csp=True, has_touch=size is PHONE)
    page = await context.new_page()
    if username is not None:
        await page.goto(f"{base}/login")
        await page.get_by_label("用户名").fill(username)
        await page.get_by_label("密码").fill(PASSWORD)
        await page.get_by_role("button", name="登录").click()
        await expect(page.locator(".who")).to_contain_text(username)
    return page


async def overflow(page: Any) -> int:
    """Pixels by which the page is wider than its viewport (0 when nothing scrolls sideways)."""
    return int(await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"))


async def small_targets(page: Any) -> list[str]:
    """Visible buttons, inputs, selects and navigation links lower than 44 px (links inside text are exempt)."""
    found: list[str] = await page.evaluate(
        """() => Array.from(document.querySelectorAll(
              'button, .button, input:not([type=hidden]):not([type=checkbox]):not([type=radio]):not([type=file]),'
              + ' select, nav a, summary'))
            .filter(e => { const r = e.getBoundingClientRect();
                           return r.width > 0 && r.height > 0 && r.height < 43.5; })
            .map(e => e.tagName.toLowerCase() + ':'
                      + (e.textContent || e.getAttribute('name') || '').trim().slice(0, 20)
                      + ' ' + Math.round(e.getBoundingClientRect().height) + 'px')"""
    )
    return found


def axe_installed() -> None:
    need(AXE.exists(), "axe-core (npm ci --prefix tests/browser-tools, which ./dev test runs; needs Node.js and npm)")


async def axe(page: Any) -> list[str]:
    """axe-core's serious and critical violations of the page, as ``rule: n nodes (first target)``."""
    await page.add_script_tag(path=str(AXE))
    found: list[str] = await page.evaluate(
        """() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
              .filter(v => v.impact === 'serious' || v.impact === 'critical')
              .map(v => v.id + ': ' + v.nodes.length + ' (' + v.nodes[0].target.join(' ') + ')'))"""
    )
    return found


def keep(shot: Path) -> None:
    """Copy a screenshot to ``$BOHAI_SCREENSHOTS`` when set, for a person to look at."""
    target = os.environ.get("BOHAI_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / shot.name)
