"""Scripts that write through ``/api/v1``: scoped tokens, ETag preconditions, merge patches, the import endpoint.

The first test serves the LDAP face over the web app's read model, as ``bohai serve`` does, so that an accepted
write is checked in web search and in LDAP.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from typing import Any

import pytest

from directory import clock, exchange, tokens
from directory.ldap.service import start_ldap
from liaison.cli import main
from tests.support.ldap import ldap_settings, ldap_values
from tests.support.web import CHANGAN, WebFactory

JINAN = "370102000000"  # 历下区, 山东
QIAOXI = "130104000000"
NO_OFFICE_YET = "130102001000"  # a township of 长安区, without an office in an empty directory


def _bearer(token: str, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **more}


async def test_an_editor_token_edits_its_province_and_the_edit_is_in_search_and_ldap(
    web: WebFactory, sqlite_demo_url: str
) -> None:
    """On SQLite only: the writes themselves run on both engines in the tests below."""
    w = await web(sqlite_demo_url)
    server, urls = await start_ldap(ldap_settings(port=0), w.holder, None)
    try:
        w.add_user("hebei", "editor", "13")
        _, token = tokens.issue(w.store, "hebei", "人事系统", "test", scope="write")
        port = int(urls["ldap"].rsplit(":", 1)[1])
        http, url = w.client, f"/api/v1/offices/{CHANGAN}"
        resp = await http.get(url)
        old_tag = resp.headers["ETag"]
        assert resp.status == 200 and old_tag == f'"v{(await resp.json())["office"]["version"]}"'
        resp = await http.patch(url, json={"phone": "0311-87000001"}, headers=_bearer(token))
        body = await resp.json()
        assert resp.status == 428 and body["ok"] is False and "If-Match" in body["error"]
        bad = {"phone": "12", "email": "not-an-address"}
        resp = await http.patch(url, json=bad, headers=_bearer(token, **{"If-Match": old_tag}))
        body = await resp.json()
        assert resp.status == 422 and {e["field"] for e in body["errors"]} == {"phone", "email"}, body
        assert body["status"] == 422 and all(e["message"] for e in body["errors"])
        good = {"phone": "0311-87000001"}
        resp = await http.patch(url, json=good, headers=_bearer(token, **{"If-Match": old_tag}))
        body = await resp.json()
        assert resp.status == 200 and body["office"]["phone"] == "0311-87000001", body
        new_tag = resp.headers["ETag"]
        assert new_tag != old_tag and new_tag == f'"v{body["office"]["version"]}"'
        # visible at once: the write answers only after this instance's read model has the new version
        resp = await http.get("/api/v1/search", params={"q": "0311-87000001"})
        assert [h["region_code"] for h in (await resp.json())["hits"]] == [CHANGAN]
        assert await asyncio.to_thread(ldap_values, port, CHANGAN, "telephoneNumber") == ["0311-87000001"]
        resp = await http.patch(url, json=good, headers=_bearer(token, **{"If-Match": old_tag}))
        assert resp.status == 412 and "已被修改" in (await resp.json())["error"]
        jinan_tag = (await http.get(f"/api/v1/offices/{JINAN}")).headers["ETag"]
        resp = await http.patch(
            f"/api/v1/offices/{JINAN}", json=good, headers=_bearer(token, **{"If-Match": jinan_tag})
        )
        body = await resp.json()
        assert resp.status == 403 and "只能修改本省（河北省）的单位" in body["error"], body
        history = w.store.history("office", CHANGAN)
        assert history[0]["actor"] == "hebei（令牌：人事系统）" and history[0]["action"] == "update"
        assert w.office(JINAN)["version"] == int(jinan_tag.strip('"v'))
    finally:
        await server.close()


async def test_read_tokens_readers_and_dead_tokens_cannot_write(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url)
    w.add_user("hebei", "editor", "13")
    w.add_user("reader", "reader")
    w.add_user("root", "admin")
    issued = {
        "read token of an editor": tokens.issue(w.store, "hebei", "只读", "t", scope="read")[1],
        "write token of a reader": tokens.issue(w.store, "reader", "读者", "t", scope="write")[1],
        "admin token limited to 山东": tokens.issue(w.store, "root", "山东", "t", scope="write", province="37")[1],
    }
    tag = (await w.client.get(f"/api/v1/offices/{CHANGAN}")).headers["ETag"]
    for what, token in issued.items():
        resp = await w.client.patch(
            f"/api/v1/offices/{CHANGAN}", json={"position": "主任"}, headers=_bearer(token, **{"If-Match": tag})
        )
        assert resp.status == 403 and (await resp.json())["status"] == 403, what
        if "山东" not in what:  # that token may import 山东's offices
            headers = _bearer(token, **{"Content-Type": "text/csv"})
            assert (await w.client.post("/api/v1/import", data=b"x", headers=headers)).status == 403, what
    revoked_id, revoked = tokens.issue(w.store, "hebei", "已吊销", "t", scope="write")
    w.store.revoke_token(revoked_id, "t")
    _, expiring = tokens.issue(w.store, "hebei", "一天", "t", scope="write", expires_days=1)
    for token, message in ((revoked, "访问令牌已吊销"), (expiring, "访问令牌已过期"), ("bohai_forged", "访问令牌无效")):
        with clock.use(_two_days_later()):
            resp = await w.client.patch(
                f"/api/v1/offices/{CHANGAN}", json={"position": "主任"}, headers=_bearer(token, **{"If-Match": tag})
            )
        assert resp.status == 401 and (await resp.json())["error"] == message
    resp = await w.client.put(f"/api/v1/offices/{CHANGAN}", json={"unit_name": "x"}, headers={"If-Match": tag})
    assert resp.status == 401  # anonymous
    assert w.office(CHANGAN)["version"] == int(tag.strip('"v'))


def _two_days_later() -> Any:
    import datetime as dt

    return clock.now() + dt.timedelta(days=2)


async def test_put_replaces_the_whole_office_and_creates_only_where_none_is(web: WebFactory, db_url: str) -> None:
    w = await web(db_url)
    w.add_user("root", "admin")
    _, token = tokens.issue(w.store, "root", "脚本", "t", scope="write")
    url = f"/api/v1/offices/{NO_OFFICE_YET}"
    whole = {"unit_name": "建北街道流动人口服务站", "phone": "0311-86000000", "email": "jb@example.org"}
    resp = await w.client.put(url, json=whole, headers=_bearer(token, **{"If-Match": '"v1"'}))
    assert resp.status == 412 and "If-None-Match" in (await resp.json())["error"]
    resp = await w.client.put(url, json=whole, headers=_bearer(token, **{"If-None-Match": "*"}))
    body = await resp.json()
    assert resp.status == 201 and resp.headers["ETag"] == '"v1"' and body["office"]["unit_name"] == whole["unit_name"]
    resp = await w.client.put(url, json=whole, headers=_bearer(token, **{"If-None-Match": "*"}))
    assert resp.status == 412 and "已存在" in (await resp.json())["error"]
    # PUT is the whole office: what it leaves out is emptied; a merge patch's null empties one field
    resp = await w.client.put(url, json={"unit_name": "建北街道"}, headers=_bearer(token, **{"If-Match": '"v1"'}))
    office = (await resp.json())["office"]
    assert resp.status == 200 and (office["unit_name"], office["phone"], office["email"]) == ("建北街道", "", "")
    patch = {"email": "jb@example.org", "fax": "0311-86000001"}
    resp = await w.client.patch(url, json=patch, headers=_bearer(token, **{"If-Match": resp.headers["ETag"]}))
    assert (await resp.json())["office"]["fax"] == "0311-86000001"
    headers = _bearer(token, **{"If-Match": resp.headers["ETag"], "Content-Type": "application/merge-patch+json"})
    resp = await w.client.patch(url, data=b'{"fax": null}', headers=headers)
    office = (await resp.json())["office"]
    assert resp.status == 200 and office["fax"] == "" and office["email"] == "jb@example.org"
    refused = {
        b'{"unit_name": 5}': "unit_name",
        b'{"colour": "red"}': "colour",
        b'{"region_code": "370102000000"}': "region_code",
        b'{"liaison_officer": "yes"}': "liaison_officer",
    }
    tag = resp.headers["ETag"]
    for raw, field in refused.items():
        resp = await w.client.patch(url, data=raw, headers={**headers, "If-Match": tag})
        body = await resp.json()
        assert resp.status == 422 and [e["field"] for e in body["errors"]] == [field], raw
    for raw in (b"[1]", b"{", '{"a": "\ud800"}'.encode("utf-8", "surrogatepass")):
        resp = await w.client.patch(url, data=raw, headers={**headers, "If-Match": tag})
        assert resp.status == 400, raw
    resp = await w.client.patch(url, data=b"{}", headers={**headers, "If-Match": tag, "Content-Type": "text/plain"})
    assert resp.status == 400 and (await resp.json())["errors"][0]["field"] == "Content-Type"
    assert [h["action"] for h in w.store.history("office", NO_OFFICE_YET)] == ["update"] * 3 + ["create"]


def _cli_import(db_url: str, path: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    monkeypatch.setenv("BOHAI_DATABASE_URL", db_url)
    code = main(["import", path, "--dry-run"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out.strip()


async def test_the_import_endpoint_counts_as_the_cli_and_writes_nothing_on_a_bad_cell(
    web: WebFactory,
    demo_url: str,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    w = await web(demo_url)
    w.add_user("hebei", "editor", "13")
    _, token = tokens.issue(w.store, "hebei", "同步", "t", scope="write")
    exported = exchange.render(w.holder.current, "csv", root="130100000000").decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(exported)))
    rows[1][3] = "新联系人"  # one changed office
    vacant, unit = rows[2][0], rows[2][1]
    w.store.remove_office(vacant, "test")  # and one office the file brings back
    text = "\n".join(",".join(r) for r in rows) + "\n"
    path = tmp_path / "shijiazhuang.csv"
    path.write_text(text, encoding="utf-8")
    cli = await asyncio.to_thread(_cli_import, demo_url, str(path), monkeypatch, capsys)
    csv_headers = _bearer(token, **{"Content-Type": "text/csv"})
    dry = await (await w.client.post("/api/v1/import", data=text.encode(), headers=csv_headers)).json()
    counts = dry["counts"]
    assert dry["applied"] is False and (counts["created"], counts["updated"]) == (1, 1)
    assert (
        cli
        == f"试运行（未写入任何数据）：新增 {counts['created']}，更新 {counts['updated']}，未变 {counts['unchanged']}"
    )
    generation = w.store.generation()
    bad = text.replace(f"{vacant},{unit},", f"{vacant},,")
    resp = await w.client.post("/api/v1/import?apply=true", data=bad.encode(), headers=csv_headers)
    body = await resp.json()
    assert resp.status == 422 and body["errors"][0]["column"] == "单位名称" and body["errors"][0]["row"] == 3
    assert w.store.generation() == generation, "a file with a bad cell writes nothing"
    resp = await w.client.post("/api/v1/import?apply=true", data=text.encode(), headers=csv_headers)
    applied = await resp.json()
    assert resp.status == 200 and applied["applied"] is True and applied["counts"] == counts
    assert w.office(vacant)["unit_name"] == unit
    assert w.store.history("office", vacant)[0]["actor"] == "hebei（令牌：同步）"
    again = await asyncio.to_thread(_cli_import, demo_url, str(path), monkeypatch, capsys)
    total = counts["created"] + counts["updated"] + counts["unchanged"]
    assert again == f"试运行（未写入任何数据）：新增 0，更新 0，未变 {total}"
    resp = await w.client.post("/api/v1/import?province=37", data=text.encode(), headers=csv_headers)
    assert resp.status == 403


async def test_the_openapi_document_validates_and_lists_every_write(web: WebFactory, sqlite_demo_url: str) -> None:
    from openapi_spec_validator import validate

    w = await web(sqlite_demo_url)
    document = await (await w.client.get("/api/v1/openapi.json")).json()
    validate(document)
    office = document["paths"]["/offices/{code}"]
    assert {"get", "put", "patch"} <= set(office) and "post" in document["paths"]["/import"]
    for method in ("put", "patch"):
        responses = office[method]["responses"]
        assert {"200", "401", "403", "412", "422", "428"} <= set(responses), method
        assert office[method]["requestBody"]["content"], method


async def test_the_account_page_makes_shows_once_lists_and_revokes_ones_own_tokens(
    web: WebFactory, sqlite_demo_url: str
) -> None:
    w = await web(sqlite_demo_url)
    w.add_user("hebei", "editor", "13")
    w.add_user("other", "editor", "13")
    _, others = tokens.issue(w.store, "other", "别人的", "t", scope="write")
    others_id = w.store.list_tokens("other")[0]["id"]
    await w.login("hebei")
    csrf = await w.csrf("/account")
    resp = await w.client.post("/account/tokens", data={"csrf": csrf, "label": "", "scope": "write"})
    assert resp.status == 400 and "请给令牌起一个" in await resp.text()
    form = {"csrf": csrf, "label": "OA 同步", "scope": "write", "expires": "30"}
    page = await (await w.client.post("/account/tokens", data=form)).text()
    shown = re.search(r'<code class="secret">(bohai_[^<]+)</code>', page)
    assert shown is not None and "只显示这一次" in page
    token = shown[1]
    again = await (await w.client.get("/account")).text()
    assert token not in again and "OA 同步" in again and "读写" in again and "从未使用" in again
    me = await (await w.client.get("/api/v1/me", headers=_bearer(token))).json()
    assert me["user"]["username"] == "hebei"
    listed = w.store.list_tokens("hebei")[0]
    resp = await w.client.post("/account/tokens", data=form, headers=_bearer(token))
    assert resp.status == 403  # a token cannot make tokens
    resp = await w.client.post("/account/tokens/revoke", data={"csrf": csrf, "id": str(others_id)})
    assert resp.status == 404 and tokens.authenticate(w.store, others, "t").username == "other"
    resp = await w.client.post("/account/tokens/revoke", data={"csrf": csrf, "id": str(listed["id"])})
    assert resp.status == 200 and "令牌已吊销" in await resp.text()
    assert (await w.client.get("/api/v1/me", headers=_bearer(token))).status == 401
