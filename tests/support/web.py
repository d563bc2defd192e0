"""Helpers of the web face's tests: the real app on a real socket (aiohttp TestServer on 127.0.0.1:0).

``web`` gives a factory: ``await web(url, **settings_changes)`` opens the store, builds the Snapshot and the app,
starts it and returns a ``Web`` with the client, store and holder; everything is closed after the test. Accounts
used by the tests are made with ``directory.accounts`` (argon2 hashing, as in production).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import FormData
from aiohttp.test_utils import TestClient

from directory import accounts
from directory.settings import Settings
from directory.snapshot import SnapshotHolder
from directory.store import Store

PASSWORD = "correct horse 13"
CHANGAN = "130102000000"  # 河北省 石家庄市 长安区
LIXIA = "370102000000"  # 山东省 济南市 历下区
CSRF_RE = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@dataclass
class Web:
    client: TestClient[Any, Any]
    store: Store
    holder: SnapshotHolder
    settings: Settings

    async def csrf(self, path: str = "/login") -> str:
        """The CSRF token of the current session, read from a page's form as a browser would."""
        resp = await self.client.get(path)
        m = CSRF_RE.search(await resp.text())
        assert m, f"no CSRF field on {path}"
        return m[1]

    async def login(self, username: str, password: str = PASSWORD) -> None:
        token = await self.csrf("/login")
        resp = await self.client.post(
            "/login", data={"username": username, "password": password, "csrf": token}, allow_redirects=False
        )
        assert resp.status == 303, await resp.text()

    def add_user(self, username: str, role: str, province: str | None = None) -> None:
        accounts.add_user(self.store, username, PASSWORD, role, province, "test")

    def office(self, code: str) -> dict[str, Any]:
        row = self.store.get_office(code)
        assert row is not None
        return row


WebFactory = Callable[..., Awaitable[Web]]


def upload(token: str, name: str, data: bytes) -> FormData:
    """The import form: ``data`` as the file ``name``, with the session's CSRF ``token``."""
    form = FormData({"csrf": token})
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    return form
