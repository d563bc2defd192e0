"""Fixtures of the CardDAV tests: ``dav_world`` is one app over a copy of the demo directory per test module
(the tests of a module only read, or edit offices no other test of the module looks at)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from directory.snapshot import SnapshotHolder
from directory.store import open_store
from directory.web.app import make_app
from directory.web.context import WebContext
from tests.support.carddav import DavClient, DavWorld, account_with_app_password, basic
from tests.support.databases import Templates
from tests.support.settings import service_settings


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def dav_world(templates: Templates, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DavWorld]:
    url, _ = templates.copy("sqlite", True, tmp_path_factory.mktemp("carddav"))
    store = open_store(url)
    editor_secret = account_with_app_password(store, "hebei", "editor", "13")
    reader_secret = account_with_app_password(store, "reader")
    holder = SnapshotHolder(store, templates.snapshot(url))
    app = make_app(WebContext(service_settings(url), store, holder))
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    editor = DavClient(client, basic("hebei", editor_secret))
    reader = DavClient(client, basic("reader", reader_secret))
    yield DavWorld(client, store, holder, editor, reader, editor_secret, reader_secret)
    await client.close()
    store.close()
