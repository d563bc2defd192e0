"""The login-failure policy, the after-login redirect and CSRF at the web face, over real sockets.

Different client addresses are real: Linux answers on all of 127.0.0.0/8, so a client session bound to 127.0.0.2
reaches the server on 127.0.0.1 and the server sees 127.0.0.2 as the peer.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

import aiohttp
import pytest

from directory.ldap.service import start_ldap
from tests.support.web import CHANGAN, CSRF_RE, PASSWORD, Web, WebFactory

BAD = "用户名或密码不正确"


async def attempt(w: Web, username: str, password: str, source: str = "127.0.0.1", **form: str) -> tuple[int, str]:
    """One login in a fresh browser session from ``source``: (status, the page's alert text or Location)."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    jar = aiohttp.CookieJar(unsafe=True)  # the server is an IP address; browsers keep its cookies too
    async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as session:
        page = await session.get(w.client.make_url("/login"))
        token = CSRF_RE.search(await page.text())
        assert token, "no CSRF field on /login"
        data = {"username": username, "password": password, "csrf": token[1], **form}
        resp = await session.post(w.client.make_url("/login"), data=data, allow_redirects=False)
        if resp.status == 303:
            return resp.status, resp.headers["Location"]
        alert = re.search(r'role="alert">([^<]*)<', await resp.text())
        return resp.status, alert[1] if alert else ""


def without_numbers(text: str) -> str:
    return re.sub(r"\d+", "N", text)


async def test_failures_from_elsewhere_never_lock_the_owner_out(web: WebFactory, db_url: str) -> None:
    w = await web(db_url)
    w.add_user("hebei", "editor", "13")
    for i in range(8):  # more than the old five-strike lock, spread over addresses
        status, _ = await attempt(w, "hebei", f"guess-{i}", source=f"127.0.0.{2 + i % 4}")
        assert status == 401
    status, location = await attempt(w, "hebei", PASSWORD, source="127.0.0.1")
    assert (status, location) == (303, "/")
    account = w.store.get_account("hebei")
    assert account is not None and account["locked_until"] is None


async def test_unknown_and_real_accounts_get_the_same_answers(web: WebFactory, db_url: str) -> None:
    w = await web(db_url)
    w.add_user("hebei", "editor", "13")
    answers: dict[str, list[tuple[int, str]]] = {}
    for name in ("hebei", "nobody"):
        seen = []
        for i in range(6):
            status, text = await attempt(w, name, "wrong-pass", source=f"127.0.0.{2 + i}")
            seen.append((status, without_numbers(text)))
        answers[name] = seen
    assert answers["hebei"] == answers["nobody"]
    assert all(text == BAD for _, text in answers["hebei"])


@pytest.mark.parametrize(
    "target",
    [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "/ /evil.example",
        "/\\evil.example",
        "\t//evil.example",
        "//evil.example",
        "https://evil.example/",
        "http:evil.example",
        "/\u2028/evil.example",
        "/\x00/evil.example",
    ],
)
async def test_login_redirect_stays_on_this_site(web: WebFactory, sqlite_demo_url: str, target: str) -> None:
    w = await web(sqlite_demo_url)
    w.add_user("hebei", "editor", "13")
    page = await w.client.get("/login", params={"next": target})
    assert page.status == 200
    assert 'name="next" value="/"' in await page.text()
    status, location = await attempt(w, "hebei", PASSWORD, next=target)
    assert (status, location) == (303, "/")


async def test_login_redirect_keeps_a_local_path(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url)
    w.add_user("hebei", "editor", "13")
    status, location = await attempt(w, "hebei", PASSWORD, next=f"/office/{CHANGAN}?saved=1")
    assert (status, location) == (303, f"/office/{CHANGAN}?saved=1")
    status, location = await attempt(w, "hebei", PASSWORD, next="/tree/130000000000#河北")
    assert status == 303 and location == "/tree/130000000000#%E6%B2%B3%E5%8C%97"


async def test_csrf_is_checked_when_the_authorization_header_is_empty(web: WebFactory, sqlite_demo_url: str) -> None:
    from aiohttp import web as aioweb

    calls: list[str] = []

    def extension(app: aioweb.Application) -> None:
        async def act(request: aioweb.Request) -> aioweb.Response:
            calls.append(request.method)
            return aioweb.Response(text="done")

        app.router.add_post("/letters/act", act)

    w = await web(sqlite_demo_url, extensions=(extension,))
    w.add_user("hebei", "editor", "13")
    await w.login("hebei")
    before, changes = w.office(CHANGAN), w.store.count_changes()
    for header in ("", " "):
        resp = await w.client.post(
            f"/office/{CHANGAN}/verify", data={}, headers={"Authorization": header}, allow_redirects=False
        )
        assert resp.status in (401, 403), header
        resp = await w.client.post("/letters/act", data={"x": "1"}, headers={"Authorization": header})
        assert resp.status in (401, 403), header
    assert calls == []
    assert w.office(CHANGAN) == before and w.store.count_changes() == changes


async def test_every_login_failure_is_logged(
    web: WebFactory, sqlite_demo_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    w = await web(sqlite_demo_url)
    w.add_user("hebei", "editor", "13")
    caplog.set_level(logging.INFO)
    for name in ("hebei", "nobody"):
        assert (await attempt(w, name, "wrong-pass", source="127.0.0.9"))[0] == 401
    failures = [r.getMessage() for r in caplog.records if "login failed" in r.getMessage()]
    assert len(failures) == 2
    assert all("127.0.0.9" in text and "web" in text for text in failures)
    assert "'hebei'" in failures[0] and "'nobody'" in failures[1]


async def test_editors_names_are_shown_only_to_staff(web: WebFactory, sqlite_demo_url: str) -> None:
    import ldap3

    w = await web(sqlite_demo_url)
    w.add_user("zhang-editor", "editor", "13")
    w.add_user("li-reader", "reader")
    await w.login("zhang-editor")
    token = await w.csrf(f"/office/{CHANGAN}")
    resp = await w.client.post(f"/office/{CHANGAN}/verify", data={"csrf": token}, allow_redirects=False)
    assert resp.status == 303
    row = w.office(CHANGAN)
    form = {k: row[k] for k in ("unit_name", "contact_name", "position", "email", "address", "postal_code")}
    form.update(phone="0311-86001234", fax="", version=str(row["version"]), csrf=await w.csrf())
    resp = await w.client.post(f"/office/{CHANGAN}/edit", data=form, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    await w.holder.refresh()
    paths = [
        f"/office/{CHANGAN}",
        f"/api/v1/offices/{CHANGAN}",
        f"/api/v1/offices/{CHANGAN}/history",
        "/api/v1/offices?region=130100000000",
    ]
    w.client.session.cookie_jar.clear()
    for path in paths:
        resp = await w.client.get(path)
        assert resp.status == 200 and "zhang-editor" not in await resp.text(), path
    settings = w.settings.replace(ldap={"port": 0})
    server, urls = await start_ldap(settings.ldap, w.holder, w.store)
    try:
        port = int(urls["ldap"].rsplit(":", 1)[1])

        def everything() -> str:
            conn = ldap3.Connection(ldap3.Server("127.0.0.1", port, get_info=ldap3.NONE), auto_bind=True)
            try:
                conn.search(settings.ldap.base_dn, f"(uid={CHANGAN})", attributes=["*", "+"])
                assert conn.entries
                return "".join(e.entry_to_ldif() for e in conn.entries)
            finally:
                conn.unbind()

        assert "zhang-editor" not in await asyncio.to_thread(everything)
    finally:
        await server.close()
    await w.login("li-reader")  # any logged-in staff member sees who changed what
    for path in paths[:3]:
        resp = await w.client.get(path)
        assert "zhang-editor" in await resp.text(), path


async def test_bogus_logins_do_not_starve_office_pages(web: WebFactory, db_url: str) -> None:
    w = await web(db_url)
    # distinct unknown names from one address: each one is a fresh guess, so the argon2 work is really done
    logins = [asyncio.create_task(attempt(w, f"nobody-{i}", "wrong-pass")) for i in range(24)]
    await asyncio.wait(logins, return_when=asyncio.FIRST_COMPLETED)
    started = time.monotonic()
    page = await asyncio.wait_for(w.client.get(f"/office/{CHANGAN}"), 60)
    waited = time.monotonic() - started
    assert page.status == 200
    statuses: list[Any] = [status for status, _ in await asyncio.gather(*logins)]
    assert set(statuses) <= {401, 503} and 401 in statuses
    assert waited < 10.0, f"office page took {waited:.1f}s behind the password checks"
