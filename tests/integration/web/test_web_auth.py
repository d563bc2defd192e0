"""Login, sessions, CSRF, throttling, logout, tokens and anonymous_read, against the real app on a socket."""

from __future__ import annotations

from directory import accounts, tokens
from directory.web.auth import AUTH
from tests.support.web import CHANGAN, PASSWORD, WebFactory


async def test_login_cookie_flags_and_logout(web: WebFactory, sqlite_demo_url: str) -> None:
    secure = await web(sqlite_demo_url, web={"cookie_secure": True})
    assert "Secure" in (await secure.client.get("/login")).headers["Set-Cookie"]
    w = await web(sqlite_demo_url)
    w.add_user("hebei", "editor", "13")
    token = await w.csrf("/login")
    resp = await w.client.post(
        "/login",
        data={"username": "hebei", "password": PASSWORD, "csrf": token, "next": "/tree"},
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"] == "/tree"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    me = await (await w.client.get("/api/v1/me")).json()
    assert me["user"] == {"username": "hebei", "role": "editor", "province_code": "130000000000"}
    old_session = w.client.session.cookie_jar.filter_cookies(w.client.make_url("/"))["bohai_session"].value
    resp = await w.client.post("/logout", data={"csrf": await w.csrf("/")}, allow_redirects=False)
    assert resp.status == 303
    assert (await (await w.client.get("/api/v1/me")).json())["user"] is None
    # the logged-out cookie is dead even if replayed
    replay = await w.client.get("/api/v1/me", cookies={"bohai_session": old_session})
    assert (await replay.json())["user"] is None


async def test_bad_password_and_unknown_user_look_the_same(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url)
    w.add_user("hebei", "editor", "13")
    texts = []
    for username in ("hebei", "nobody"):
        token = await w.csrf("/login")
        resp = await w.client.post("/login", data={"username": username, "password": "wrong-pass", "csrf": token})
        assert resp.status == 401
        texts.append(await resp.text())
    assert all("用户名或密码不正确" in t for t in texts)


async def test_open_redirect_refused(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url)
    w.add_user("hebei", "editor", "13")
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        token = await w.csrf("/login")
        data = {"username": "hebei", "password": PASSWORD, "csrf": token, "next": target}
        resp = await w.client.post("/login", data=data, allow_redirects=False)
        assert resp.headers["Location"] == "/", target


async def test_csrf_rejected(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url)
    w.add_user("hebei", "editor", "13")
    # login without a token, or with a forged one
    for data in (
        {"username": "hebei", "password": PASSWORD},
        {"username": "hebei", "password": PASSWORD, "csrf": "0" * 40},
    ):
        await w.csrf("/login")
        resp = await w.client.post("/login", data=data, allow_redirects=False)
        assert resp.status == 403 and "CSRF" in await resp.text()
    await w.login("hebei")
    before, changes = w.office(CHANGAN), w.store.count_changes()
    form = {"unit_name": "跨站提交", "version": str(before["version"])}
    for extra in ({}, {"csrf": "deadbeef"}):
        resp = await w.client.post(f"/office/{CHANGAN}/edit", data={**form, **extra}, allow_redirects=False)
        assert resp.status == 403
    resp = await w.client.post(f"/office/{CHANGAN}/verify", data={}, allow_redirects=False)
    assert resp.status == 403
    # a token from another session does not work either
    other = await web(sqlite_demo_url)
    foreign = await other.csrf("/login")
    resp = await w.client.post(f"/office/{CHANGAN}/edit", data={**form, "csrf": foreign}, allow_redirects=False)
    assert resp.status == 403
    assert w.office(CHANGAN) == before and w.store.count_changes() == changes


async def test_repeated_failures_are_slowed_not_locked(web: WebFactory, db_url: str) -> None:
    w = await web(db_url, login={"free_failures": 2, "first_delay": 60})
    w.add_user("hebei", "editor", "13")
    guard = w.client.app[AUTH].logins.guard
    now = [1000.0]
    guard.clock = lambda: now[0]

    async def post(username: str, password: str) -> tuple[int, str, str]:
        token = await w.csrf("/login")
        resp = await w.client.post(
            "/login", data={"username": username, "password": password, "csrf": token}, allow_redirects=False
        )
        return resp.status, await resp.text(), resp.headers.get("Retry-After", "")

    for name in ("hebei", "nobody"):
        assert [(await post(name, "wrong-pass"))[0] for _ in range(2)] == [401, 401]
        status, text, retry = await post(name, PASSWORD)  # refused before the password is looked at
        assert (status, retry) == (429, "60") and "请 60 秒后再试" in text
    now[0] += 60
    status, _, _ = await post("hebei", PASSWORD)
    assert status == 303
    assert (await (await w.client.get("/api/v1/me")).json())["user"]["username"] == "hebei"
    account = w.store.get_account("hebei")
    assert account is not None and account["locked_until"] is None and account["failed_logins"] == 0


async def test_disabled_account_loses_session_and_token(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url)
    w.add_user("hebei", "editor", "13")
    await w.login("hebei")
    _, token = tokens.issue(w.store, "hebei", "脚本", "test", scope="write")
    accounts.set_disabled(w.store, "hebei", True, "test")
    assert (await (await w.client.get("/api/v1/me")).json())["user"] is None
    resp = await w.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 401
    token_form = await w.csrf("/login")
    resp = await w.client.post("/login", data={"username": "hebei", "password": PASSWORD, "csrf": token_form})
    assert resp.status == 401


async def test_tampered_cookie_is_anonymous(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url)
    w.add_user("root", "admin")
    await w.login("root")
    value = w.client.session.cookie_jar.filter_cookies(w.client.make_url("/"))["bohai_session"].value
    payload, _, mac = value.partition(".")
    import base64

    sid, _, exp = base64.urlsafe_b64decode(payload).decode().split("|")
    forged = base64.urlsafe_b64encode(f"{sid}|hebei|{exp}".encode()).decode() + "." + mac
    w.client.session.cookie_jar.clear()
    me = await (await w.client.get("/api/v1/me", cookies={"bohai_session": forged})).json()
    assert me["user"] is None


async def test_tokens_for_scripts(web: WebFactory, db_url: str) -> None:
    w = await web(db_url, web={"anonymous_read": False})
    w.add_user("script", "reader")
    first_id, token = tokens.issue(w.store, "script", "人事系统", "test")
    stored = w.store.list_tokens("script")
    assert token.startswith("bohai_") and token not in str(stored) and stored[0]["last_used_at"] is None
    ok = await w.client.get("/api/v1/regions", headers={"Authorization": f"Bearer {token}"})
    assert ok.status == 200 and len((await ok.json())["regions"]) == 10
    me = await (await w.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).json()
    assert me["user"] == {"username": "script", "role": "reader", "province_code": None}
    used = w.store.list_tokens("script")[0]
    assert used["last_used_at"] is not None and used["last_used_from"] == "127.0.0.1"
    for header in (f"Bearer {token}x", "Bearer ", "Basic abc", f"Bearer nobody.{token[6:]}", "Bearer " + "x" * 500):
        resp = await w.client.get("/api/v1/search", params={"q": "changan"}, headers={"Authorization": header})
        body = await resp.json()
        assert resp.status == 401 and body["ok"] is False and body["status"] == 401, header
    # several tokens live side by side; revoking one leaves the other
    _, second = tokens.issue(w.store, "script", "备用", "test")
    w.store.revoke_token(first_id, "test")
    resp = await w.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 401 and (await resp.json())["error"] == "访问令牌已吊销"
    resp = await w.client.get("/api/v1/me", headers={"Authorization": f"Bearer {second}"})
    assert (await resp.json())["user"]["username"] == "script"
    assert [h["action"] for h in w.store.history("token", str(first_id))] == ["revoke", "create"]


async def test_anonymous_read_off(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url, web={"anonymous_read": False})
    for path in ("/", f"/office/{CHANGAN}", "/tree", "/dashboard"):
        resp = await w.client.get(path, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"].startswith("/login?next="), path
    resp = await w.client.get("/api/v1/search", params={"q": "changan"})
    body = await resp.json()
    assert resp.status == 401 and body == {"ok": False, "error": body["error"], "errors": [], "status": 401}
    for path in ("/login", "/healthz", "/api/v1/openapi.json", "/static/app.css"):
        assert (await w.client.get(path)).status == 200, path
    w.add_user("reader", "reader")
    await w.login("reader")
    assert (await w.client.get(f"/office/{CHANGAN}")).status == 200
    assert (await w.client.get("/api/v1/search", params={"q": "changan"})).status == 200


def test_user_rules(store) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from directory.errors import Conflict, ValidationFailed

    with pytest.raises(ValidationFailed, match="账户参数不正确") as info:
        accounts.add_user(store, "ed", PASSWORD, "editor", None, "t")
    assert "编辑必须绑定一个省份" in info.value.errors[0].message
    with pytest.raises(ValidationFailed):
        accounts.add_user(store, "ed", PASSWORD, "editor", "44", "t")  # not one of the ten provinces
    with pytest.raises(ValidationFailed):
        accounts.add_user(store, "rd", PASSWORD, "reader", "13", "t")
    with pytest.raises(ValidationFailed):
        accounts.add_user(store, "ed", "short", "editor", "13", "t")
    with pytest.raises(ValidationFailed):
        accounts.add_user(store, "bad name", PASSWORD, "reader", None, "t")
    user = accounts.add_user(store, "ed", PASSWORD, "editor", "37", "t")
    assert user.can_edit("370102000000") and not user.can_edit(CHANGAN)
    assert accounts.User("a", "admin").can_edit(CHANGAN) and not accounts.User("r", "reader").can_edit(CHANGAN)
    with pytest.raises(Conflict):
        accounts.add_user(store, "ed", PASSWORD, "reader", None, "t")
    stored = store.get_account("ed")
    assert stored["password_hash"].startswith("$argon2id$") and PASSWORD not in stored["password_hash"]


async def test_plugged_in_pages_get_csrf_and_user(web: WebFactory, sqlite_demo_url: str) -> None:
    from aiohttp import web as aioweb

    from directory.web.auth import ACCOUNT, current_user, require_user

    calls: list[object] = []

    def extension(app: aioweb.Application) -> None:
        async def act(request: aioweb.Request) -> aioweb.Response:
            user = require_user(request, role="editor")
            calls.append((user.username, current_user(request) == user, request[ACCOUNT]["province_code"]))
            return aioweb.Response(text="done")

        app.router.add_post("/letters/act", act)

    w = await web(sqlite_demo_url, extensions=(extension,))
    w.add_user("hebei", "editor", "13")
    await w.login("hebei")
    resp = await w.client.post("/letters/act", data={"x": "1"})
    assert resp.status == 403 and "CSRF" in await resp.text() and calls == []
    resp = await w.client.post("/letters/act", json={"x": 1})
    assert resp.status == 403 and calls == []
    token = await w.csrf()
    assert (await w.client.post("/letters/act", data={"csrf": token})).status == 200
    assert (await w.client.post("/letters/act", headers={"X-CSRF-Token": token})).status == 200
    _, api_token = tokens.issue(w.store, "hebei", "脚本", "test", scope="write")
    w.client.session.cookie_jar.clear()
    resp = await w.client.post("/letters/act", headers={"Authorization": f"Bearer {api_token}"})
    assert resp.status == 200
    assert calls == [("hebei", True, "130000000000")] * 3
