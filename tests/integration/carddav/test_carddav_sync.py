"""sync-collection over the durable change log: tokens are URIs that never expire, a book sees only its own
region's changes and removals (and an office created again), and ETags and ctags move with edits — on SQLite and
PostgreSQL, as the log and the counter are SQL of both. Unknown tokens: see test_carddav_hostile."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
import vobject
from aiohttp.test_utils import TestClient, TestServer

from directory.carddav.books import book_path, card_path
from directory.snapshot import SnapshotHolder
from directory.store import open_store
from directory.validate import OfficeData
from directory.web.app import make_app
from directory.web.context import WebContext
from tests.support.carddav import CARD, CS, DAV, DavClient, account_with_app_password, basic, edit_office, sync_body
from tests.support.databases import Templates
from tests.support.settings import service_settings

SHIJIAZHUANG = "130100000000"
CHANGAN = "130102000000"
QIAOXI = "130104000000"  # 石家庄市 桥西区
TANGSHAN_LUNAN = "130202000000"  # 唐山市 路南区: in 河北's book, not in 石家庄's
LIXIA = "370102000000"  # 山东省 济南市 历下区


@pytest_asyncio.fixture
async def dav(templates: Templates, demo_url: str) -> AsyncIterator[tuple[DavClient, Any, Any]]:
    store = open_store(demo_url)
    secret = account_with_app_password(store, "reader")
    holder = SnapshotHolder(store, templates.snapshot(demo_url))
    client: TestClient[Any, Any] = TestClient(
        TestServer(make_app(WebContext(service_settings(demo_url), store, holder)), host="127.0.0.1")
    )
    await client.start_server()
    yield DavClient(client, basic("reader", secret)), store, holder
    await client.close()
    store.close()


async def test_changes_since_a_token_stay_in_the_book(dav: tuple[DavClient, Any, Any]) -> None:
    c, store, holder = dav
    book = book_path(SHIJIAZHUANG)
    initial = await c.report(book, sync_body("", "<d:getetag/>"))
    token = initial.sync_token or ""
    old_etag = initial[card_path(SHIJIAZHUANG, CHANGAN)].text(f"{DAV}getetag")
    ctag = (await c.propfind(book, "<cs:getctag/>"))[book].text(f"{CS}getctag")
    edit_office(store, CHANGAN, phone="0311-66668888")
    edit_office(store, TANGSHAN_LUNAN, position="科长")  # another city: not in this book
    edit_office(store, LIXIA, position="科长")  # another province
    store.remove_office(QIAOXI, "test")
    await holder.refresh()
    delta = await c.report(book, sync_body(token))
    assert set(delta.responses) == {card_path(SHIJIAZHUANG, CHANGAN), card_path(SHIJIAZHUANG, QIAOXI)}
    changed = delta[card_path(SHIJIAZHUANG, CHANGAN)]
    assert changed.first_status == "HTTP/1.1 200 OK" and changed.text(f"{DAV}getetag") != old_etag
    card = vobject.readOne(changed.text(f"{CARD}address-data"))
    assert [t.value for t in card.contents["tel"] if "VOICE" in t.params["TYPE"]] == ["0311-66668888"]
    assert delta[card_path(SHIJIAZHUANG, QIAOXI)].status == "HTTP/1.1 404 Not Found"
    new_token = delta.sync_token or ""
    assert new_token != token and (await c.propfind(book, "<cs:getctag/>"))[book].text(f"{CS}getctag") != ctag
    got = await c.request("GET", card_path(SHIJIAZHUANG, CHANGAN))
    assert got.headers["ETag"] == changed.text(f"{DAV}getetag"), "one ETag in REPORT and GET"
    assert (await c.request("GET", card_path(SHIJIAZHUANG, QIAOXI))).status == 404
    # the old token still works (tokens never expire) and the new one sees nothing new
    assert set((await c.report(book, sync_body(token))).responses) == set(delta.responses)
    quiet = await c.report(book, sync_body(new_token), depth="1")
    assert quiet.responses == {} and quiet.sync_token == new_token
    province = await c.report(book_path("130000000000"), sync_body(token, "<d:getetag/>"))
    assert card_path("130000000000", TANGSHAN_LUNAN) in province.responses
    assert not any(LIXIA in href for href in province.responses)
    # removed, then created again: the card comes back
    store.save_office(OfficeData(region_code=QIAOXI, unit_name="桥西区流动人口服务中心"), "test", expected_version=None)
    await holder.refresh()
    back = await c.report(book, sync_body(new_token, "<d:getetag/>"))
    assert set(back.responses) == {card_path(SHIJIAZHUANG, QIAOXI)}
    assert back[card_path(SHIJIAZHUANG, QIAOXI)].first_status == "HTTP/1.1 200 OK"
