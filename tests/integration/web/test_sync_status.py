"""The last run of each publish target and pull source — time, counts, error — on the dashboard (administrators
only: errors name servers) and in ``/metrics``; configured targets that never ran show as such."""

from __future__ import annotations

from directory.sync import state
from tests.support.web import WebFactory

TARGETS = {
    "publish": {"hebei": {"url": "ldap://127.0.0.1:1", "base_dn": "ou=bohai,dc=hebei,dc=example", "schedule": 60}},
    "pull": {"shanxi": {"url": "ldaps://dir.sx.example", "base_dn": "dc=sx", "mapping": "m.toml", "province": "14"}},
}


async def test_dashboard_and_metrics_show_the_last_sync(web: WebFactory, db_url: str) -> None:
    w = await web(db_url, **TARGETS)
    failed = state.Result("2026-12-06T03:04:05+00:00", full=False, added=3, error="无法连接 ldap://127.0.0.1:1：refused")
    state.save(w.store, "publish", "hebei", state.State(41, "", "", failed))

    anonymous = await (await w.client.get("/dashboard")).text()
    assert "目录同步" not in anonymous and "127.0.0.1:1" not in anonymous
    w.add_user("root", "admin")
    await w.login("root")
    page = await (await w.client.get("/dashboard")).text()
    section = page.split("<h2>目录同步</h2>")[1]
    hebei = section.split("<td>hebei</td>")[1].split("</tr>")[0]
    assert "2026年12月06日 11:04" in hebei and "失败" in hebei and "无法连接 ldap://127.0.0.1:1" in hebei
    assert "尚未运行" in section.split("<td>shanxi</td>")[1].split("</tr>")[0]

    metrics = await (await w.client.get("/metrics")).text()
    assert 'bohai_sync_last_run_ok{kind="publish",target="hebei"} 0\n' in metrics
    assert 'bohai_sync_last_run_added{kind="publish",target="hebei"} 3\n' in metrics
    assert 'bohai_sync_generation{kind="publish",target="hebei"} 41\n' in metrics
    assert 'target="shanxi"' not in metrics  # never ran: no figures to show
