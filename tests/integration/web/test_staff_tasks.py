"""Done-when: a 河北 editor's everyday tasks end to end in a real browser (Debian chromium), at a desktop size and
at a 360 px phone size, without typing a region code anywhere:

find and call an office; edit an office; import a changed sheet, reading the diff before confirming; write a letter
to two 山东 offices picked by pinyin (the first with the keyboard) and find it under 我发出的 with its deadline;
schedule a meeting and cancel it through the confirmation step. The database is checked after each step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from directory.exchange import csvfile
from directory.exchange.table import EXPORT_HEADER, office_row
from liaison.letters import store as letter_store
from liaison.meetings import store as meeting_store
from tests.support.browser import SIZES, keep, staff_page
from tests.support.staffweb import CHANGAN, LIXIA, SHIZHONG, StaffSite

pytestmark = pytest.mark.slow


async def _shot(page: Any, tmp_path: Path, name: str) -> None:
    shot = tmp_path / name
    await page.screenshot(path=str(shot), full_page=True)
    keep(shot)


@pytest.mark.parametrize("size", list(SIZES))
async def test_an_editors_day(site: StaffSite, browser: Any, size: str, tmp_path: Path) -> None:
    from playwright.async_api import expect

    page = await staff_page(browser, site.base, "hebei", SIZES[size])
    store, base = site.store, site.base

    # find and call an office
    await page.goto(base + "/")
    await page.locator("#q").press_sequentially("lixiaqu", delay=20)
    await page.locator(f'#results a[href="/office/{LIXIA}"]').click()
    await expect(page.locator("h1")).to_contain_text("历下区")
    call = page.locator("#f-phone a[href^='tel:']")
    await expect(call).to_be_visible()
    assert (await call.get_attribute("href") or "").startswith("tel:0531")

    # edit an office of one's own province
    await page.goto(f"{base}/office/{CHANGAN}")
    await page.get_by_role("link", name="修改").click()
    await page.get_by_label("联系电话").fill("0311-86001122")
    await page.get_by_role("button", name="保存").click()
    await expect(page.locator(".alert.ok")).to_contain_text("已保存")
    assert (await store.run(store.get_office, CHANGAN) or {})["phone"] == "+8631186001122"

    # import a changed sheet: the report shows old → new before anything is written
    office = site.running.holder.current.office(CHANGAN)
    assert office is not None
    row = office_row(office)
    row[EXPORT_HEADER.index("联系电话")] = "0311-86003344"
    sheet = tmp_path / "石家庄长安区.csv"
    sheet.write_bytes(csvfile.write([row], EXPORT_HEADER))
    await page.goto(base + "/import")
    await expect(page.get_by_role("link", name="下载导入模板（Excel）")).to_be_visible()
    await page.get_by_label("文件").set_input_files(str(sheet))
    await page.get_by_role("button", name="检查文件（不写入）").click()
    diff = page.locator("table.diff")
    await expect(diff).to_contain_text("长安区")
    await expect(diff.locator("del")).to_contain_text("0311-86001122")
    await expect(diff.locator("ins")).to_contain_text("0311-86003344")
    assert (await store.run(store.get_office, CHANGAN) or {})["phone"] == "+8631186001122"  # not yet
    await _shot(page, tmp_path, f"import-{size}.png")
    await page.get_by_role("button", name="确认导入").click()
    await expect(page.locator("h1")).to_contain_text("导入")
    assert (await store.run(store.get_office, CHANGAN) or {})["phone"] == "+8631186003344"
    await page.goto(f"{base}/office/{CHANGAN}")
    await expect(page.locator("table.history tbody tr").first).to_contain_text("导入（石家庄长安区.csv）")

    # a letter to two 山东 offices picked by pinyin; the sender is one's own office already
    await page.goto(base + "/letters/new")
    await expect(page.locator(".picker[data-name=from] .chip")).to_contain_text("石家庄市")
    to = page.locator("#to_text")
    await to.press_sequentially("lixiaqu", delay=20)
    await expect(page.locator("#to-list li[role=option]").first).to_contain_text("历下区")
    await to.press("ArrowDown")
    await to.press("Enter")
    await to.press_sequentially("jinan shizhong", delay=20)
    await page.locator("#to-list li[role=option]", has_text=SHIZHONG).click()
    chips = page.locator(".picker[data-name=to] .chip")
    await expect(chips).to_have_count(2)
    await page.get_by_label("标题").fill("关于协查流动人口居住信息的函")
    await page.get_by_label("正文").fill("请协助核查有关人员的居住登记情况。")
    await page.get_by_label("要求回复（工作日）").fill("10")
    await _shot(page, tmp_path, f"compose-{size}.png")
    await page.get_by_role("button", name="发出（排队发送）").click()
    await expect(page.locator(".alert.ok")).to_contain_text("已排队发送至 2 个单位")
    await expect(page.locator(".alert.ok")).to_contain_text("历下区流动人口服务管理中心")
    sent = await store.run(letter_store.sent_letters, store, "13")
    assert [d.region_code for d in sent[0].deliveries] == [LIXIA, SHIZHONG]
    deadline = sent[0].deliveries[0].deadline
    assert deadline is not None
    await page.goto(base + "/letters")
    await expect(page.get_by_role("link", name="我发出的")).to_have_attribute("aria-current", "page")
    mine = page.locator("table.cards tbody tr", has_text="关于协查流动人口居住信息的函")
    await expect(mine).to_contain_text(f"{deadline.year}年{deadline.month:02d}月{deadline.day:02d}日前回复")

    # schedule a meeting, then cancel it through the confirmation step
    await page.goto(base + "/meetings/new")
    await page.get_by_label("会议名称").fill("环渤海流动人口服务联席会议")
    await page.get_by_label("地点").fill("石家庄市")
    await page.get_by_label("开始时间（北京时间）").fill("2027-04-20T09:00")
    await page.get_by_label("结束时间（北京时间）").fill("2027-04-20T17:00")
    await page.get_by_role("button", name="创建并发送邀请").click()
    await expect(page.locator(".alert.ok")).to_contain_text("邀请已排队发送给")
    meeting_id = int(page.url.split("/meetings/")[1].split("?")[0])
    await page.get_by_role("link", name="取消会议…").click()
    await expect(page.locator("h1")).to_contain_text("确认取消会议")
    assert not (await store.run(meeting_store.get_meeting, store, meeting_id)).cancelled
    await page.get_by_role("button", name="确认取消并通知全体").click()
    await expect(page.locator(".alert.ok")).to_contain_text("会议已取消")
    assert (await store.run(meeting_store.get_meeting, store, meeting_id)).cancelled
