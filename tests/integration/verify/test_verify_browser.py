"""Done-when, in a real browser (Debian chromium via Playwright) against the whole service started in-process with the
demo directory: a 河北 editor starts a campaign for 石家庄市 from the web page; every office with e-mail receives
exactly one notice in an aiosmtpd sink; one office opens its link and presses 信息无误 (the date is stamped); another
corrects its phone, the editor approves, and the new phone is in web search and LDAP within one second; a third
office's correction is rejected and nothing changes. No page of the office sets a cookie, and no log line carries a
token. Screenshots go to the test's tmp folder (and to ``$BOHAI_SCREENSHOTS``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from directory import accounts, clock
from liaison.service import Running, start
from liaison.verify import campaign
from tests.support.browser import keep
from tests.support.ldap import ldap_values
from tests.support.mailsink import Sink, mail_sink
from tests.support.settings import service_settings
from tests.support.verify import TOKEN_RE, text_of
from tests.support.web import PASSWORD

pytestmark = pytest.mark.slow

CITY = "130100000000"


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    async with mail_sink() as s:
        yield s


@pytest.fixture
async def running(sqlite_demo_url: str, sink: Sink) -> AsyncIterator[Running]:
    settings = service_settings(
        sqlite_demo_url, sink=sink, smtp={"enabled": False}, liaison={"outbox_poll_interval": 60, "outbox_batch": 200}
    )
    r = await start(settings, report=lambda line: None)
    yield r
    await r.aclose()


async def test_campaign_for_shijiazhuang_in_browser(
    running: Running, browser: object, sink: Sink, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from playwright.async_api import Browser, expect

    caplog.set_level(logging.DEBUG)
    assert isinstance(browser, Browser)
    assert running.outbox is not None
    base = running.urls["http"]
    store = running.store
    snap = running.holder.current
    await store.run(accounts.add_user, store, "hebei", PASSWORD, "editor", "13", "test")
    with_email = {
        o.email: o.region_code
        for o in campaign.offices_in(snap, CITY)
        if campaign.channel_of(o, running.settings)[0] == "email"  # type: ignore[arg-type]
    }
    assert len(with_email) > 200

    # the editor starts the campaign from the web page
    editor = await browser.new_page(viewport={"width": 1200, "height": 900}, locale="zh-CN")
    await editor.goto(f"{base}/login?next=/verify")
    await editor.get_by_label("用户名").fill("hebei")
    await editor.get_by_label("密码").fill(PASSWORD)
    await editor.get_by_role("button", name="登录").click()
    await editor.get_by_label("区划代码（省、市、县）").fill(CITY)
    await editor.get_by_label("期限（工作日）").fill("10")
    await editor.get_by_role("button", name="发起核对").click()
    await expect(editor.locator("h1")).to_contain_text("石家庄市通讯录信息核对（进行中）")
    offices = len(campaign.offices_in(snap, CITY))
    await expect(editor.locator('#counts td[data-state="pending"]')).to_have_text(str(offices))
    shot = tmp_path / "campaign.png"
    await editor.screenshot(path=str(shot), full_page=False)
    keep(shot)

    # every office with e-mail receives exactly one notice
    await running.outbox.wait_idle(timeout=120)
    received = sink.drain()
    recipients = [m.rcpt_tos[0] for m in received]
    assert sorted(recipients) == sorted(with_email), "exactly one notice per office with e-mail"
    links = {}
    for m in received:
        found = TOKEN_RE.search(text_of(m.message))
        assert found is not None
        links[with_email[m.rcpt_tos[0]]] = found[1]
    first, second, third = sorted(code for code in links if code.endswith("000") and code[6:9] != "000")[:3]

    # the first office: 信息无误
    office_page = await (await browser.new_context(locale="zh-CN")).new_page()
    await office_page.goto(f"{base}/check?t={links[first]}")
    await expect(office_page.locator("h1")).to_contain_text(snap.offices[first].unit_name)
    shot = tmp_path / "check.png"
    await office_page.screenshot(path=str(shot), full_page=True)
    keep(shot)
    await office_page.get_by_role("button", name="信息无误").click()
    await expect(office_page.locator("#done")).to_contain_text("本单位自助核对")
    assert await office_page.context.cookies() == [], "the self-service page sets no cookie"
    row = await store.run(store.get_office, first)
    assert row is not None and row["verified_by"] == "本单位自助核对"
    assert clock.local_date(clock.aware(row["verified_at"])) == clock.today()
    await office_page.goto(f"{base}/office/{first}")
    stamp = f"{clock.shown(clock.today())}（本单位自助核对）"
    await expect(office_page.locator("#f-verified")).to_contain_text(stamp)
    ldap_port = int(running.urls["ldap"].rsplit(":", 1)[1])
    assert f"信息核对：{stamp}" in await store.run(ldap_values, ldap_port, first, "description")
    api = await office_page.request.get(f"{base}/api/v1/offices/{first}")
    assert (await api.json())["office"]["verified_by"] == "本单位自助核对"

    # the second office corrects its phone; the third proposes something the editor rejects
    new_phone = "0311-89997766"
    for code, phone in ((second, new_phone), (third, "0311-89995544")):
        await office_page.goto(f"{base}/check?t={links[code]}")
        await office_page.locator("#c-phone").fill(phone)
        await office_page.get_by_role("button", name="提交更正").click()
        await expect(office_page.locator("#done")).to_contain_text("更正已提交")
    assert (await store.run(store.get_office, second) or {})["phone"] != "+8631189997766"
    before_third = await store.run(store.get_office, third)

    await editor.goto(f"{base}/verify/queue")
    section = editor.locator(f'section[data-code="{second}"]')
    await expect(section.locator("tr.changed")).to_contain_text(snap.offices[second].phone_display)
    await expect(section.get_by_label("联系电话")).to_have_value(new_phone)
    shot = tmp_path / "queue.png"
    await editor.screenshot(path=str(shot), full_page=True)
    keep(shot)
    async with editor.expect_response(lambda r: "/verify/corrections/" in r.url) as approved:
        clicked = time.monotonic()
        await section.get_by_role("button", name="采纳", exact=True).click()
    assert (await approved.value).status == 303
    assert await store.run(ldap_values, ldap_port, second, "telephoneNumber") == [new_phone]
    seen, took = clock.system_now(), time.monotonic() - clicked
    history = await store.run(store.history, "office", second)
    committed = clock.aware(next(h["at"] for h in history if h["action"] == "update" and h["actor"] == "web:hebei"))
    visible = (seen - committed).total_seconds()
    assert visible < 1.0, f"in LDAP {visible:.2f} s after the approval was written ({took:.2f} s after the click)"
    await expect(editor.locator(f'section[data-code="{second}"]')).to_have_count(0)
    search_page = await browser.new_page()
    await search_page.goto(base + "/")
    await search_page.locator("#q").fill("89997766")
    await expect(search_page.locator(f'#results a[href="/office/{second}"]')).to_be_visible(timeout=1000)

    section = editor.locator(f'section[data-code="{third}"]')
    await section.get_by_label("不采纳的原因").fill("号码与本单位登记的不一致")
    await section.get_by_role("button", name="不采纳").click()
    await expect(editor.locator(f'section[data-code="{third}"]')).to_have_count(0)
    assert await store.run(store.get_office, third) == before_third
    await running.outbox.wait_idle(timeout=60)
    decisions = {m.rcpt_tos[0]: text_of(m.message) for m in sink.drain()}
    assert "已由省级编辑审核采纳" in decisions[snap.offices[second].email]
    assert "号码与本单位登记的不一致" in decisions[snap.offices[third].email]

    for token in links.values():
        assert token not in caplog.text, "a token never appears in the logs"
