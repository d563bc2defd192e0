"""A real CardDAV client syncs a province book: vdirsyncer (its CardDAV storage and sync algorithm, in-process)
discovers the book from the server's root URL with an app password and fetches every card; after one office is
edited the next sync fetches that card only; after an office is removed its card is deleted locally."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio
import vobject
from aiohttp.test_utils import TestClient, TestServer

from directory.carddav.books import book_path, members
from directory.snapshot import SnapshotHolder
from directory.store import open_store
from directory.web.app import make_app
from directory.web.context import WebContext
from tests.support.carddav import Exchange, account_with_app_password, edit_office, recorder
from tests.support.databases import Templates
from tests.support.settings import service_settings

TIANJIN = "120000000000"
HEPING = "120101000000"  # 天津市 和平区
HEXI = "120103000000"  # 天津市 河西区


@pytest_asyncio.fixture
async def served(templates: Templates, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    url, _ = templates.copy("sqlite", True, tmp_path)
    store = open_store(url)
    secret = account_with_app_password(store, "tianjin", "editor", "12")
    holder = SnapshotHolder(store, templates.snapshot(url))
    log: list[Exchange] = []
    app = make_app(WebContext(service_settings(url), store, holder), (recorder(log),))
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield {"client": client, "store": store, "holder": holder, "secret": secret, "log": log}
    await client.close()
    store.close()


async def _sync(storage_args: dict[str, Any], local: Path, status: Any) -> None:
    from vdirsyncer.storage.dav import CardDAVStorage
    from vdirsyncer.storage.filesystem import FilesystemStorage
    from vdirsyncer.sync import sync

    remote = CardDAVStorage(**storage_args, read_only=True)
    await sync(remote, FilesystemStorage(str(local), ".vcf"), status, conflict_resolution="a wins")


def _fetched(log: list[Exchange]) -> int:
    fetched = sum(e.cards for e in log if e.method in ("REPORT", "GET"))
    log.clear()
    return fetched


async def test_vdirsyncer_discovers_syncs_and_follows_edits_and_removals(
    served: dict[str, Any], tmp_path: Path
) -> None:
    from vdirsyncer.storage.dav import CardDAVStorage
    from vdirsyncer.sync.status import SqliteStatus

    client, store, holder, log = served["client"], served["store"], served["holder"], served["log"]
    root = str(client.make_url("/"))
    local = tmp_path / "contacts"
    local.mkdir()
    status = SqliteStatus(str(tmp_path / "status.sqlite"))
    async with aiohttp.TCPConnector(limit=4) as connector:
        login = {"username": "tianjin", "password": served["secret"], "connector": connector}
        found = [args async for args in CardDAVStorage.discover(url=root, **login)]
        assert [str(a["url"]).removeprefix(root.rstrip("/")) for a in found] == [book_path(TIANJIN)]
        args = {**found[0], **login}
        await _sync(args, local, status)
        expected = set(members(holder.current, TIANJIN))
        assert {p.stem for p in local.iterdir()} == expected and _fetched(log) == len(expected)
        edit_office(store, HEPING, contact_name="林晓东")
        await holder.refresh()
        await _sync(args, local, status)
        assert _fetched(log) == 1, "only the edited card is fetched again"
        card = vobject.readOne((local / f"{HEPING}.vcf").read_text(encoding="utf-8"))
        assert card.n.value.family == "林晓东"
        store.remove_office(HEXI, "test")
        await holder.refresh()
        await _sync(args, local, status)
        assert _fetched(log) == 0 and {p.stem for p in local.iterdir()} == expected - {HEXI}
