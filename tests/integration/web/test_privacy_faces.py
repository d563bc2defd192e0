"""Mobiles are personal: one office's mobile looked up through every face — web page and search, JSON API and
search, LDAP entry and ``telephoneNumber`` filter, CardDAV card, export file — by an anonymous reader, a reader of
another province and an editor of the office's own province: masked, masked, whole; searching by the hidden digits
finds nothing for whoever sees the number masked. An office may mark its mobile a public work number, which every
signed-in reader then sees whole (anonymous readers still do not)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import ldap3
import pytest

from directory import apppasswords
from directory.carddav import books
from directory.ldap.service import start_ldap
from directory.validate import OfficeData
from tests.support.carddav import basic
from tests.support.web import PASSWORD, Web, WebFactory

CHANGAN = "130102000000"
MOBILE = "13812341234"
MASKED = "138****1234"
CONTACT_MOBILE = "13998765432"
CONTACT_MASKED = "139****5432"
OFFICE = OfficeData(CHANGAN, "长安区流动人口服务管理中心", "张伟", "主任", "+86" + MOBILE, "", "ca@example.org")


async def ldap_look(w: Web, port: int, who: str | None) -> tuple[list[str], int]:
    """The office entry's telephoneNumber and how many entries a filter on the whole number finds."""
    base = w.settings.ldap.base_dn

    def run() -> tuple[list[str], int]:
        server = ldap3.Server("127.0.0.1", port, get_info=ldap3.NONE)
        user = f"uid={who},ou=accounts,{base}" if who else None
        conn = ldap3.Connection(server, user=user, password=PASSWORD if who else None, auto_bind=True)
        try:
            conn.search(base, f"(uid={CHANGAN})", attributes=["telephoneNumber"])
            phones = [str(v) for e in conn.entries for v in e.telephoneNumber.values]
            conn.search(base, f"(telephoneNumber=*{MOBILE}*)", attributes=["uid"])
            found = len(conn.entries)
            conn.search(base, f"(telephoneNumber={MOBILE})", attributes=["uid"])
            return phones, found + len(conn.entries)
        finally:
            conn.unbind()

    return await asyncio.to_thread(run)


async def look(w: Web, port: int, who: str | None, app_secret: str | None) -> dict[str, Any]:
    """What ``who`` (None: anonymous) sees of the mobile through each face."""
    c = w.client
    c.session.cookie_jar.clear()
    if who:
        await w.login(who)
    seen: dict[str, Any] = {}
    seen["page"] = await (await c.get(f"/office/{CHANGAN}")).text()
    seen["qr"] = await (await c.get(f"/office/{CHANGAN}/qr.svg")).text()  # the office's vCard as a QR code
    seen["web_search"] = await (await c.get("/", params={"q": MOBILE})).text()
    seen["api"] = (await (await c.get(f"/api/v1/offices/{CHANGAN}")).json())["office"]
    seen["api_search"] = await (await c.get("/api/v1/search", params={"q": MOBILE})).json()
    seen["api_contact_search"] = await (await c.get("/api/v1/search", params={"q": CONTACT_MOBILE})).json()
    seen["ldap"] = await ldap_look(w, port, who)
    headers = {"Authorization": basic(who, app_secret)} if who and app_secret else {}
    card = await c.get(books.card_path("130000000000", CHANGAN), headers=headers)
    seen["card_status"], seen["card"] = card.status, await card.text()
    export = await c.get(f"/export/{CHANGAN}/csv", allow_redirects=False)
    seen["export_status"], seen["export"] = export.status, (await export.read()).decode("utf-8-sig")
    seen["export_name"] = export.headers.get("Content-Disposition", "")
    return seen


def assert_masked(seen: dict[str, Any], *, anonymous: bool) -> None:
    assert MASKED in seen["page"] and MOBILE not in seen["page"]
    assert "共 0 个结果" in seen["web_search"] and f"/office/{CHANGAN}" not in seen["web_search"]
    assert seen["api"]["phone"] == MASKED and seen["api"]["contacts"][0]["phone"] == CONTACT_MASKED
    assert seen["api_search"]["total"] == 0 and seen["api_contact_search"]["total"] == 0
    assert seen["ldap"] == ([MASKED], 0)
    if anonymous:
        assert seen["card_status"] == 401  # CardDAV has no anonymous readers at all
        assert seen["export_status"] == 303 and MOBILE not in seen["export"]  # to the login page
    else:
        assert seen["card_status"] == 200 and MASKED in seen["card"] and MOBILE not in seen["card"]
        assert seen["export_status"] == 200 and MASKED in seen["export"] and MOBILE not in seen["export"]


def assert_whole(seen: dict[str, Any]) -> None:
    assert MOBILE in seen["page"] and MASKED not in seen["page"]
    assert f"/office/{CHANGAN}" in seen["web_search"]
    assert seen["api"]["phone"] == MOBILE and seen["api"]["contacts"][0]["phone"] == CONTACT_MOBILE
    assert seen["api_search"]["total"] == 1 and seen["api_contact_search"]["total"] == 1
    assert seen["ldap"] == ([MOBILE], 2)
    assert seen["card_status"] == 200 and MOBILE in seen["card"]
    assert seen["export_status"] == 200 and MOBILE in seen["export"]


@pytest.mark.slow
async def test_one_mobile_through_every_face(web: WebFactory, db_url: str) -> None:
    w = await web(db_url)
    await w.store.run(w.store.upsert_offices, [OFFICE], "test")
    await w.store.run(w.store.add_contact, CHANGAN, "李娜", "test", position="干事", phone="+86" + CONTACT_MOBILE)
    await w.holder.refresh()
    secrets: dict[str, str] = {}
    for name, role, province in (("other-editor", "editor", "37"), ("own-editor", "editor", "13")):
        w.add_user(name, role, province)
        secrets[name] = apppasswords.add(w.store, name, "手机", "test").secret
    server, urls = await start_ldap(w.settings.replace(ldap={"port": 0}).ldap, w.holder, w.store)
    try:
        port = int(urls["ldap"].rsplit(":", 1)[1])
        anonymous = await look(w, port, None, None)
        assert_masked(anonymous, anonymous=True)
        other = await look(w, port, "other-editor", secrets["other-editor"])
        assert_masked(other, anonymous=False)
        assert "other-editor" in other["export_name"]  # the CSV's watermark is its name
        own = await look(w, port, "own-editor", secrets["own-editor"])
        assert_whole(own)
        assert anonymous["qr"] == other["qr"] != own["qr"]  # the QR code holds the card each of them may see

        # a public work number: whole to every signed-in reader, never to anonymous ones
        await w.store.run(w.store.upsert_offices, [dataclasses.replace(OFFICE, phone_public=True)], "test")
        await w.holder.refresh()
        public = await look(w, port, "other-editor", secrets["other-editor"])
        assert public["api"]["phone"] == MOBILE and public["ldap"][0] == [MOBILE]
        assert public["api"]["contacts"][0]["phone"] == CONTACT_MASKED  # a contact's own mobile stays private
        assert MOBILE in public["export"] and MOBILE in public["card"]
        anonymous = await look(w, port, None, None)
        assert anonymous["api"]["phone"] == MASKED and anonymous["ldap"] == ([MASKED], 0)
    finally:
        await server.close()
