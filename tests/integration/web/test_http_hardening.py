"""HTTP hardening of the web face: Secure cookies and HSTS with an https ``public_url``, SameSite=Strict, the Origin
check of state-changing requests, and no stack trace (nor the error's text) in any response."""

from __future__ import annotations

from aiohttp import web as aioweb

from directory import tokens
from tests.support.web import PASSWORD, WebFactory


async def test_https_public_url_means_secure_cookies_and_hsts(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url, web={"public_url": "https://txl.example.gov.cn"})
    resp = await w.client.get("/login")
    cookie = resp.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    plain = await web(sqlite_demo_url)
    resp = await plain.client.get("/login")
    assert "Secure" not in resp.headers["Set-Cookie"] and "SameSite=Strict" in resp.headers["Set-Cookie"]
    assert "Strict-Transport-Security" not in resp.headers


async def test_state_changing_requests_from_another_site_are_refused(web: WebFactory, sqlite_demo_url: str) -> None:
    # http here: the test client talks plain HTTP and would not send a Secure cookie back
    w = await web(sqlite_demo_url, web={"public_url": "http://txl.example.gov.cn:8080"})
    w.add_user("hebei", "editor", "13")
    token = await w.csrf("/login")
    form = {"username": "hebei", "password": PASSWORD, "csrf": token}
    for headers in ({"Origin": "https://evil.example"}, {"Referer": "https://evil.example/page"}, {"Origin": "null"}):
        resp = await w.client.post("/login", data=form, headers=headers, allow_redirects=False)
        assert resp.status == 403 and "Origin" in await resp.text(), headers
    assert w.store.list_sessions("hebei") == []
    for origin in ("http://txl.example.gov.cn:8080", str(w.client.make_url("")).rstrip("/")):
        w.client.session.cookie_jar.clear()
        form["csrf"] = await w.csrf("/login")
        resp = await w.client.post("/login", data=form, headers={"Origin": origin}, allow_redirects=False)
        assert resp.status == 303, origin
    # a script with a token sends no Origin and is not asked for one; a token is no browser credential
    _, token = tokens.issue(w.store, "hebei", "脚本", "test", scope="write")
    resp = await w.client.patch(
        "/api/v1/offices/130102000000",
        json={"position": "主任"},
        headers={"Authorization": f"Bearer {token}", "If-Match": "*", "Origin": "https://evil.example"},
    )
    assert resp.status == 200, await resp.text()


async def test_no_stack_trace_in_any_response(web: WebFactory, sqlite_demo_url: str) -> None:
    async def boom(request: aioweb.Request) -> aioweb.Response:
        raise RuntimeError("secret internal detail /srv/bohai/config.toml")

    def extend(app: aioweb.Application) -> None:
        app.router.add_get("/boom", boom)
        app.router.add_get("/api/v1/boom", boom)

    w = await web(sqlite_demo_url, extensions=(extend,))
    for path in ("/boom", "/api/v1/boom"):
        resp = await w.client.get(path)
        text = await resp.text()
        assert resp.status == 500
        assert "Traceback" not in text and "secret internal detail" not in text and "RuntimeError" not in text
        assert "服务器内部错误" in text
