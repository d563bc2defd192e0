"""Editing offices through the web on SQLite and PostgreSQL: roles, validation, optimistic locking, audit, search."""

from __future__ import annotations

from directory.search import search
from directory.validate import OfficeData
from tests.support.web import CHANGAN, LIXIA, Web, WebFactory


def form_of(w: Web, code: str, **changes: str) -> dict[str, str]:
    row = w.office(code)
    values = {k: row[k] for k in ("unit_name", "contact_name", "position", "email", "address", "postal_code")}
    values.update(phone="0311-86001234", fax="", version=str(row["version"]))
    values.update(changes)
    return values


async def post_edit(w: Web, code: str, values: dict[str, str], csrf: str | None = None) -> tuple[int, str]:
    token = csrf if csrf is not None else await w.csrf("/login")
    resp = await w.client.post(f"/office/{code}/edit", data={**values, "csrf": token}, allow_redirects=False)
    return resp.status, await resp.text()


async def test_editor_edits_own_province_and_search_sees_it(web: WebFactory, demo_url: str) -> None:
    w = await web(demo_url)
    w.add_user("hebei", "editor", "13")
    await w.login("hebei")
    before = w.office(CHANGAN)
    changes_before = w.store.count_changes()

    async def changan_phone() -> str:
        body = await (await w.client.get("/api/v1/search", params={"q": "长安区"})).json()
        return str(next(h["phone"] for h in body["hits"] if h["region_code"] == CHANGAN))

    assert await changan_phone() != "0311-86004321"  # also fills the response cache of this Snapshot
    status, _ = await post_edit(w, CHANGAN, form_of(w, CHANGAN, phone="0311 8600 4321"))
    assert status == 303
    after = w.office(CHANGAN)
    assert after["phone"] == "+8631186004321"
    assert after["version"] == before["version"] + 1 and after["updated_by"] == "hebei"
    assert w.store.count_changes() == changes_before + 1
    # visible in search at once (the handler refreshed the Snapshot), and in the history on the office page
    hits = search(w.holder.current, "0311-86004321").hits
    assert [h.office.region_code for h in hits] == [CHANGAN]
    api = await (await w.client.get("/api/v1/search", params={"q": "86004321"})).json()
    assert [h["region_code"] for h in api["hits"]] == [CHANGAN] and api["hits"][0]["phone"] == "0311-86004321"
    assert await changan_phone() == "0311-86004321"  # the same query is not served from the old cache
    page = await (await w.client.get(f"/office/{CHANGAN}")).text()
    assert "0311-86004321" in page and "hebei" in page
    history = w.store.history("office", CHANGAN)
    assert history[0]["actor"] == "hebei" and history[0]["after"]["phone"] == "+8631186004321"


async def test_editor_cannot_edit_other_province(web: WebFactory, demo_url: str) -> None:
    w = await web(demo_url)
    w.add_user("hebei", "editor", "13")
    await w.login("hebei")
    before, changes = w.office(LIXIA), w.store.count_changes()
    resp = await w.client.get(f"/office/{LIXIA}/edit")
    assert resp.status == 403 and "无权修改" in await resp.text()
    status, text = await post_edit(w, LIXIA, form_of(w, LIXIA, unit_name="被篡改"))
    assert status == 403 and "山东省" in text
    resp = await w.client.post(f"/office/{LIXIA}/verify", data={"csrf": await w.csrf("/login")}, allow_redirects=False)
    assert resp.status == 403
    assert w.office(LIXIA) == before and w.store.count_changes() == changes
    office_page = await (await w.client.get(f"/office/{LIXIA}")).text()
    assert f"/office/{LIXIA}/edit" not in office_page  # no edit button either


async def test_reader_and_anonymous_cannot_edit(web: WebFactory, demo_url: str) -> None:
    w = await web(demo_url)
    w.add_user("reader", "reader")
    before, changes = w.office(CHANGAN), w.store.count_changes()
    resp = await w.client.get(f"/office/{CHANGAN}/edit", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/login?next=")
    status, _ = await post_edit(w, CHANGAN, form_of(w, CHANGAN, unit_name="匿名修改"))
    assert status == 303
    await w.login("reader")
    status, _ = await post_edit(w, CHANGAN, form_of(w, CHANGAN, unit_name="只读修改"))
    assert status == 403
    assert w.office(CHANGAN) == before and w.store.count_changes() == changes + 1  # the login, audited


async def test_admin_edits_anywhere_and_confirms(web: WebFactory, demo_url: str) -> None:
    w = await web(demo_url)
    w.add_user("root", "admin")
    await w.login("root")
    status, _ = await post_edit(w, LIXIA, form_of(w, LIXIA, contact_name="王五"))
    assert status == 303 and w.office(LIXIA)["contact_name"] == "王五"
    old = w.office(LIXIA)["verified_at"]
    resp = await w.client.post(f"/office/{LIXIA}/verify", data={"csrf": await w.csrf("/login")}, allow_redirects=False)
    assert resp.status == 303
    assert w.office(LIXIA)["verified_at"] > old
    assert w.store.history("office", LIXIA)[0]["action"] == "verify"


async def test_validation_errors_next_to_fields(web: WebFactory, demo_url: str) -> None:
    w = await web(demo_url)
    w.add_user("hebei", "editor", "13")
    await w.login("hebei")
    before, changes = w.office(CHANGAN), w.store.count_changes()
    bad = form_of(w, CHANGAN, unit_name="", phone="12", email="not-mail", postal_code="12ab")
    status, text = await post_edit(w, CHANGAN, bad)
    assert status == 400
    for field, message in [
        ("unit_name", "单位名称不能为空"),
        ("phone", "联系电话无法识别"),
        ("email", "电子邮箱格式不正确"),
        ("postal_code", "邮政编码应为6位数字"),
    ]:
        assert f'<span class="error" id="err-{field}">{message}' in text, field
    assert 'value="not-mail"' in text  # the user's input is kept
    assert w.office(CHANGAN) == before and w.store.count_changes() == changes


async def test_conflict_page_shows_both_versions(web: WebFactory, demo_url: str) -> None:
    w = await web(demo_url)
    w.add_user("hebei", "editor", "13")
    await w.login("hebei")
    mine = form_of(w, CHANGAN, contact_name="我的修改")
    row = w.office(CHANGAN)
    # someone else saves in between (another session, through the store)
    other = OfficeData(**{k: row[k] for k in OfficeData.__dataclass_fields__ if k != "liaison"}, liaison=None)
    other = OfficeData(**{**other.__dict__, "contact_name": "他人修改"})
    w.store.save_office(other, "other", expected_version=row["version"])
    status, text = await post_edit(w, CHANGAN, mine)
    assert status == 409
    assert "我的修改" in text and "他人修改" in text and "other" in text and "保存冲突" in text
    assert w.office(CHANGAN)["contact_name"] == "他人修改"  # never a silent overwrite
    # the conflict page's form carries the current version: submitting it deliberately wins
    version = w.office(CHANGAN)["version"]
    assert f'name="version" value="{version}"' in text
    status, _ = await post_edit(w, CHANGAN, {**mine, "version": str(version)})
    assert status == 303 and w.office(CHANGAN)["contact_name"] == "我的修改"


async def test_new_office_for_empty_region(web: WebFactory, db_url: str) -> None:
    w = await web(db_url)
    w.add_user("hebei", "editor", "130000000000")
    await w.login("hebei")
    page = await (await w.client.get(f"/office/{CHANGAN}")).text()
    assert "该地区尚无单位记录" in page and "登记单位" in page
    values = {
        "unit_name": "长安区流动人口服务中心",
        "phone": "0311-86001111",
        "email": "ca@example.org",
        "version": "0",
    }
    status, _ = await post_edit(w, CHANGAN, values)
    assert status == 303
    assert w.office(CHANGAN)["unit_name"] == "长安区流动人口服务中心"
    assert w.holder.current.office(CHANGAN) is not None


XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


async def test_free_text_is_escaped_everywhere(web: WebFactory, demo_url: str) -> None:
    w = await web(demo_url)
    w.add_user("root", "admin")
    await w.login("root")
    values = form_of(
        w, CHANGAN, unit_name="单位" + XSS, contact_name="人" + XSS[:90], position="职" + XSS[:90], address="址" + XSS
    )
    status, _ = await post_edit(w, CHANGAN, values)
    assert status == 303
    pages = [
        f"/office/{CHANGAN}",
        f"/office/{CHANGAN}/print",
        f"/office/{CHANGAN}/edit",
        "/?q=changan",
        f"/tree/{CHANGAN}",
    ]
    for path in pages:
        text = await (await w.client.get(path)).text()
        assert "<script>alert" not in text and "<img src=x" not in text, path
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in text, path
    # a bad value echoed back on the form and the error list is escaped too
    status, text = await post_edit(w, CHANGAN, {**form_of(w, CHANGAN), "email": XSS[:60]})
    assert status == 400 and "<script>alert" not in text and "&lt;script&gt;" in text
    # the JSON API returns the raw text as data (JSON strings are not HTML)
    api = await (await w.client.get(f"/api/v1/offices/{CHANGAN}")).json()
    assert api["office"]["unit_name"] == "单位" + XSS
