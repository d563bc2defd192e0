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

import aiohttp
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient

from directory import accounts, clock, websessions
from directory.settings import Settings
from directory.snapshot import SnapshotHolder
from directory.store import Store
from directory.web import auth
from directory.web.auth import COOKIE

PASSWORD = "correct horse 13"
CHANGAN = "130102000000"  # 河北省 石家庄市 长安区
LIXIA = "370102000000"  # 山东省 济南市 历下区
CSRF_RE = re.compile(r'name="csrf" value="([0-9a-f]+)"')


class FormLogin:
    """``csrf`` and ``login`` for a test client ``self.client`` of the web face: the CSRF token read from a page's
    form as a browser would, and a login through the form (after logging out whoever was logged in)."""

    client: TestClient[Any, Any]

    async def csrf(self, path: str = "/login") -> str:
        resp = await self.client.get(path)
        m = CSRF_RE.search(await resp.text())
        assert m, f"no CSRF field on {path}"
        return m[1]

    async def login(self, username: str) -> None:
        await self.client.post("/logout", data={"csrf": await self.csrf("/login")})
        data = {"username": username, "password": PASSWORD, "csrf": await self.csrf("/login")}
        resp = await self.client.post("/login", data=data, allow_redirects=False)
        assert resp.status == 303, await resp.text()


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

    def cookie(self) -> str:
        """The session cookie this client holds now."""
        return self.client.session.cookie_jar.filter_cookies(self.client.make_url("/"))[COOKIE].value

    async def me(self, cookie: str) -> str | None:
        """Who ``cookie`` logs in as on this instance (None: refused), as a script replaying it would see."""
        # a client of its own that keeps no cookies: the answer's new anonymous cookie must not replace this one's
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as other:
            headers = {"Cookie": f"{COOKIE}={cookie}"}
            async with other.get(self.client.make_url("/api/v1/me"), headers=headers) as resp:
                user = (await resp.json())["user"]
        return user["username"] if user else None

    async def refused(self, cookie: str) -> bool:
        """Whether ``cookie`` is refused here now. Sessions are checked in the database on every request, so an
        ending committed on any instance is seen by the next request: nothing to wait for."""
        return await self.me(cookie) is None

    def office(self, code: str) -> dict[str, Any]:
        row = self.store.get_office(code)
        assert row is not None
        return row


def session_for(app: web.Application, username: str | None) -> tuple[str, str]:
    """A session cookie and its CSRF token made directly (no password, no argon2): a logged-in session of
    ``username`` in the database, or an anonymous one for None. For tests that make many requests as many roles."""
    state = app[auth.AUTH]
    if username is None:
        s = auth.Session(websessions.new_id(), None, int(clock.now().timestamp()) + 3600)
    else:
        account = state.store.get_account(username)
        assert account is not None
        sid, expires = websessions.start(
            state.store, accounts.user_of(account), state.settings.security, client="127.0.0.1", user_agent="matrix"
        )
        s = auth.Session(sid, username, int(expires.timestamp()))
    return auth.encode_cookie(state, s), auth.csrf_for(state, s.sid)


WebFactory = Callable[..., Awaitable[Web]]


def upload(token: str, name: str, data: bytes) -> FormData:
    """The import form: ``data`` as the file ``name``, with the session's CSRF ``token``."""
    form = FormData({"csrf": token})
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    return form
