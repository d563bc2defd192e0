"""Every page and API route answers on the demo directory (SQLite), with the right content type."""

from __future__ import annotations

import vobject

from directory.validate import OfficeData
from tests.support.web import CHANGAN, WebFactory


async def test_pages_render(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url)
    for path, needle in [
        ("/", "查找单位"),
        ("/?q=changan", "长安区"),
        ("/tree", "河北省"),
        ("/tree/130000000000", "石家庄市"),
        (f"/office/{CHANGAN}", "修改记录"),
        (f"/office/{CHANGAN}/print", "打印后请以系统最新信息为准"),
        ("/dashboard", "数据质量"),
        ("/dashboard/130000000000", "河北省 数据质量"),
        ("/login", "工作人员登录"),
    ]:
        resp = await w.client.get(path)
        text = await resp.text()
        assert resp.status == 200, (path, text[:500])
        assert needle in text, path
        assert resp.headers["Content-Type"].startswith("text/html")


async def test_vcard_downloads(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url)
    office = w.holder.current.offices[CHANGAN]
    resp = await w.client.get(f"/office/{CHANGAN}/vcard")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/vcard")
    assert f'filename="{CHANGAN}.vcf"' in resp.headers["Content-Disposition"]
    card = vobject.readOne(await resp.text())
    assert card.fn.value == office.unit_name and card.email.value == office.email
    resp = await w.client.get(f"/office/{CHANGAN}/vcard", params={"variant": "outlook"})
    text = (await resp.read()).decode("utf-8")
    assert text.startswith("BEGIN:VCARD\r\nVERSION:2.1\r\n") and f"FN;CHARSET=UTF-8:{office.unit_name}" in text
    assert (await w.client.get("/office/130102999999/vcard")).status == 404


async def test_dashboard_lists_problems(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url)

    async def no_email_cell() -> str:
        tree = await (await w.client.get("/tree/130100000000")).text()
        return tree.split(f'href="/tree/{CHANGAN}"')[1].split("</tr>")[0].split("<td")[4]

    before = await no_email_cell()
    row = w.office(CHANGAN)
    data = OfficeData(
        **{k: row[k] for k in ("region_code", "unit_name", "contact_name", "position", "phone", "address")}
    )
    w.store.save_office(data, "test", expected_version=row["version"])  # e-mail and fax now empty
    bouncing = "130104000000"  # 桥西区
    w.store.set_email_status(bouncing, "bouncing", "550 5.1.1 <x>: user unknown", "test")
    await w.holder.refresh()
    text = await (await w.client.get("/dashboard/130000000000")).text()
    no_email = text.split("缺少电子邮箱")[1].split("</details>")[0]
    assert f"/office/{CHANGAN}" in no_email and f"/office/{bouncing}" not in no_email
    bounced = text.split("电子邮箱退信")[1].split("</details>")[0]
    assert f"/office/{bouncing}" in bounced and "550 5.1.1 &lt;x&gt;: user unknown" in bounced
    office_page = await (await w.client.get(f"/office/{CHANGAN}")).text()
    assert "不在邮件客户端自动补全中" in office_page
    count = int(before.split(">")[1].split("<")[0])
    assert (await no_email_cell()).startswith(f' class="num warn">{count + 1}</td>')  # one more without e-mail
    overview = await (await w.client.get("/dashboard")).text()
    assert "未指定" not in overview  # the demo has a liaison officer in every province
    officer = w.holder.current.liaison_officer("130000000000")
    assert officer is not None
    lo = w.office(officer.region_code)
    unmark = OfficeData(**{k: lo[k] for k in ("region_code", "unit_name", "phone")}, liaison=False)
    w.store.save_office(unmark, "test", expected_version=lo["version"])
    await w.holder.refresh()
    overview = await (await w.client.get("/dashboard")).text()
    hebei = overview.split('href="/dashboard/130000000000"')[1].split("</tr>")[0]
    assert "未指定" in hebei and overview.count("未指定") == 1
    assert "本省尚未指定联络员" in await (await w.client.get("/dashboard/130000000000")).text()
