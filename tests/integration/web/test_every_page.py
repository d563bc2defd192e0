"""Done-when: every page of the site, as each kind of visitor, on a 360 px phone: no sideways scrolling, controls a
finger can hit (44 px), no serious or critical axe-core violation, and nothing staff must not read (UTC or ISO
times, Python quoting, internal names, stack or relay text).

The pages come from the web app's own router (``page_paths``), so a page added later is checked without touching
this file. One test per visitor, so the workers share the load; each collects every problem before failing, and
the message is the whole matrix.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.browser import PHONE, axe, axe_installed, overflow, small_targets, staff_page
from tests.support.staffweb import StaffSite, page_paths, text_problems


@pytest.mark.slow
@pytest.mark.parametrize("who", [None, "reader", "hebei", "admin"], ids=["anonymous", "reader", "editor", "admin"])
async def test_every_page_fits_a_phone_and_reads_plainly(site: StaffSite, browser: Any, who: str | None) -> None:
    axe_installed()
    page = await staff_page(browser, site.base, who, PHONE)
    problems: list[str] = []
    visited = []
    for path in page_paths(site):
        response = await page.goto(site.base + path)
        status = response.status if response is not None else 0
        visited.append(f"{status} {path}")
        if status >= 500:
            problems.append(f"{path}: HTTP {status}")
        if (wide := await overflow(page)) > 0:
            problems.append(f"{path}: {wide} px wider than the phone")
        if small := await small_targets(page):
            problems.append(f"{path}: tap targets under 44 px: {small[:5]}")
        problems += [f"{path}: axe {v}" for v in await axe(page)]
        problems += [f"{path}: {p}" for p in text_problems(await page.locator("body").inner_text())]
    print(f"\n{who or 'anonymous'} at 360 px:\n  " + "\n  ".join(visited))
    assert len(visited) >= 30
    assert not problems, "\n".join(problems)
