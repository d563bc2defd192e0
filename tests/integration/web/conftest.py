"""Fixtures of the web face's tests (see ``tests/support/web.py``): ``web`` starts the real app on 127.0.0.1:0."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from directory.snapshot import SnapshotHolder
from directory.store import Store, open_store
from directory.web.app import make_app
from directory.web.context import Extension, WebContext
from tests.support.databases import Templates
from tests.support.settings import service_settings
from tests.support.web import Web, WebFactory


@pytest.fixture
async def web(templates: Templates) -> AsyncIterator[WebFactory]:
    opened: list[tuple[TestClient[Any, Any], Store]] = []

    async def make(url: str, extensions: tuple[Extension, ...] = (), **changes: dict[str, Any]) -> Web:
        settings = service_settings(**changes)
        store = open_store(url)
        holder = SnapshotHolder(store, templates.snapshot(url))
        client: TestClient[Any, Any] = TestClient(
            TestServer(make_app(WebContext(settings, store, holder), extensions), host="127.0.0.1")
        )
        await client.start_server()
        opened.append((client, store))
        return Web(client, store, holder, settings)

    yield make
    for client, store in reversed(opened):
        await client.close()
        store.close()
