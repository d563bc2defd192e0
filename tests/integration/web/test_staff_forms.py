"""The staff forms without a browser: what the pages promise holds for any client.

Without JavaScript the office picker takes region codes typed in its box and names a word it cannot place; a
letter to more than 20 offices is sent only after the count is confirmed; an error report on another province's
office waits in that province's queue, is mailed to its editors and is closed there (and nowhere else); the import
template's example row is refused by the import and its second sheet lists the province's codes; downloads are
named by region and date.
"""

from __future__ import annotations

import io
import urllib.parse

import openpyxl

from directory import accounts, clock, profiles
from liaison.letters import store as letter_store
from tests.support.mailsink import Sink
from tests.support.staffweb import LIXIA, SENDER, SHIZHONG, StaffSite, staff_client
from tests.support.web import PASSWORD

LETTER = {"subject": "关于核查的函", "body": "请协助核查。", "reply_within": "7"}


async def test_picker_without_javascript_and_the_confirmation_above_twenty(site: StaffSite) -> None:
    store = site.store
    async with staff_client(site, "hebei") as staff:
        status, page, _ = await staff.get("/letters/new")
        assert status == 200 and 'value="130100000000"' in page and "石家庄市流动人口服务管理中心" in page
        before = len(await store.run(letter_store.sent_letters, store, "13"))
        form = {**LETTER, "from": SENDER, "to_text": f"{LIXIA} 济南市中区"}
        status, page, _ = await staff.post("/letters/new", form)
        assert status == 400 and "“济南市中区”还没有选定" in page and 'aria-invalid="true"' in page
        assert "历下区流动人口服务管理中心" in page  # the code typed is kept, shown as a chip with its name
        status, _, location = await staff.post("/letters/new", {**form, "to_text": f"{LIXIA} {SHIZHONG}"})
        assert status == 303 and location.endswith("?sent=1")
        assert len(await store.run(letter_store.sent_letters, store, "13")) == before + 1

        # every township of 济南市 (more than 20): first the count to confirm, nothing queued
        many = {**LETTER, "from": SENDER, "under": "370100000000", "level": "township"}
        status, page, _ = await staff.post("/letters/new", many)
        assert status == 200 and "请确认" in page
        count = int(page.split('name="confirmed" value="')[1].split('"')[0])
        assert count > 20 and f"确认发出（{count} 个单位）" in page
        assert len(await store.run(letter_store.sent_letters, store, "13")) == before + 1
        status, _, location = await staff.post("/letters/new", {**many, "confirmed": str(count)})
        assert status == 303
        newest = (await store.run(letter_store.sent_letters, store, "13"))[0]
        assert len(newest.deliveries) == count


async def test_error_report_waits_for_that_provinces_editors(site: StaffSite, site_sink: Sink) -> None:
    store = site.store
    await store.run(accounts.add_user, store, "shandong", PASSWORD, "editor", "37", "test")
    await store.run(lambda: profiles.set_profile(store, "shandong", "test", email="sd-editor@example.org"))
    async with staff_client(site, "hebei") as hebei:
        _, page, _ = await hebei.get(f"/office/{LIXIA}")
        assert "山东省的编辑" in page and f'href="/office/{LIXIA}/report"' in page
        status, page, _ = await hebei.post(f"/office/{LIXIA}/report", {"message": "", "contact": ""})
        assert status == 400 and "请写明哪一项有误" in page and 'aria-invalid="true"' in page
        form = {"message": "传真号码已停用", "contact": "0311-12345678"}
        status, _, location = await hebei.post(f"/office/{LIXIA}/report", form)
        assert status == 303 and location == f"/office/{LIXIA}?reported=1"
        _, page, _ = await hebei.get(location)
        assert "已邮件通知 1 位编辑" in page
        _, page, _ = await hebei.get("/reports")
        assert "传真号码已停用" not in page  # a 河北 editor's queue holds only 河北's offices
    report = next(r for r in await store.run(store.reports, "37") if r["message"] == "传真号码已停用")
    assert report["reporter"] == "hebei" and report["mailed"] == 1

    mail = None
    for _ in range(100):  # the seed's letters and meeting notices go out too; bounded
        received = await site_sink.get(timeout=30)
        if "sd-editor@example.org" in received.rcpt_tos:
            mail = received.message
            break
    assert mail is not None and "【错误报告】" in str(mail["Subject"])
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None and "传真号码已停用" in str(body.get_content())  # type: ignore[attr-defined]

    async with staff_client(site, "hebei") as hebei:
        status, _, _ = await hebei.post(f"/reports/{report['id']}/close", {"note": "已核实"})
        assert status == 404  # not 河北's to close
    async with staff_client(site, "shandong") as shandong:
        _, page, _ = await shandong.get("/reports")
        assert "传真号码已停用" in page and "0311-12345678" in page
        status, _, location = await shandong.post(f"/reports/{report['id']}/close", {"note": "已更正"})
        assert status == 303 and location == "/reports?closed=1"
    assert all(r["id"] != report["id"] for r in await store.run(store.reports, "37"))


async def test_template_and_download_names(site: StaffSite) -> None:
    async with staff_client(site, "hebei") as hebei:
        async with hebei.session.get(site.base + "/import/template.xlsx") as resp:
            assert resp.status == 200
            data = await resp.read()
            disposition = resp.headers["Content-Disposition"]
        assert urllib.parse.quote(f"河北省_导入模板_{clock.today().isoformat()}.xlsx") in disposition
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
        first, codes = book.worksheets[0], book.worksheets[1]
        rows = [[str(c.value or "") for c in r] for r in first.iter_rows()]
        assert rows[0][:2] == ["区划代码", "单位名称"] and "示例" in rows[1][0]
        listed = [str(r[0].value) for r in codes.iter_rows(min_row=2)]
        assert "130102000000" in listed and all(c.startswith("13") for c in listed)

        status, page, _ = await hebei.post_file("/import", "模板.xlsx", data)
        assert status == 400 and "这是模板中的示例行" in page and "第 2 行" in page and "A 列" in page

        async with hebei.session.get(site.base + "/export/130100000000/xlsx") as resp:
            disposition = resp.headers["Content-Disposition"]
        assert f"filename*=UTF-8''{urllib.parse.quote(f'石家庄市_通讯录_{clock.today().isoformat()}_')}" in disposition
        assert disposition.rstrip().endswith(".xlsx")
        async with hebei.session.get(site.base + f"/office/{LIXIA}/vcard") as resp:
            assert urllib.parse.quote("历下区流动人口服务管理中心.vcf") in resp.headers["Content-Disposition"]
