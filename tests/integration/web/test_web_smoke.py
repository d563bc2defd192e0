"""Every page and API route answers on the demo directory (SQLite), with the right content type."""

from __future__ import annotations

from tests.integration.web.helpers import CHANGAN, WebFactory


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
