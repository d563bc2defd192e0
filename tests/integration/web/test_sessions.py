"""Sessions kept in the database: ended on every instance at once and across restarts, by logout, disable, a
password change, a 2FA reset and "sign out everywhere"; idle and absolute timeouts; one's sessions and login history.

Two instances are two apps (each with its own store, pool and memory) on one PostgreSQL database, as two processes of
``bohai serve`` would be; a cookie made on A is replayed on B like a second browser tab routed elsewhere would.
"""

from __future__ import annotations

import datetime as dt

from directory import accounts, clock, twofactor
from directory.clock import ManualClock
from tests.support.web import PASSWORD, WebFactory


async def test_logout_and_disable_on_a_refuse_the_cookie_on_b(web: WebFactory, pg_demo_url: str) -> None:
    a = await web(pg_demo_url)
    b = await web(pg_demo_url)
    a.add_user("hebei", "editor", "13")
    await a.login("hebei")
    cookie = a.cookie()
    assert await b.me(cookie) == "hebei"  # the session made on A is good on B
    resp = await a.client.post("/logout", data={"csrf": await a.csrf("/")}, allow_redirects=False)
    assert resp.status == 303
    assert await b.refused(cookie), "a logout on A did not end the session on B"
    assert await a.me(cookie) is None

    await a.login("hebei")
    cookie = a.cookie()
    assert await b.me(cookie) == "hebei"
    await a.store.run(accounts.set_disabled, a.store, "hebei", True, "test")
    assert await b.refused(cookie), "disabling on A did not end the session on B"
    await a.store.run(accounts.set_disabled, a.store, "hebei", False, "test")
    assert await b.me(cookie) is None  # enabling again does not bring an ended session back


async def test_a_logged_out_cookie_stays_refused_after_a_restart(web: WebFactory, pg_demo_url: str) -> None:
    a = await web(pg_demo_url)
    a.add_user("hebei", "editor", "13")
    await a.login("hebei")
    kept = a.cookie()
    a.client.session.cookie_jar.clear()
    await a.login("hebei")
    ended = a.cookie()
    await a.client.post("/logout", data={"csrf": await a.csrf("/")})
    await a.client.close()  # the instance stops; nothing of it is left in memory
    a.store.close()
    restarted = await web(pg_demo_url)
    assert await restarted.me(ended) is None
    assert await restarted.me(kept) == "hebei"  # a session nobody ended survives the restart


async def test_a_password_change_ends_the_other_sessions(web: WebFactory, pg_demo_url: str) -> None:
    a = await web(pg_demo_url)
    b = await web(pg_demo_url)
    a.add_user("hebei", "editor", "13")
    await b.login("hebei")
    other = b.cookie()
    await a.login("hebei")
    form = {
        "csrf": await a.csrf("/account/password"),
        "current": PASSWORD,
        "new": "Another-pass-9",
        "again": "Another-pass-9",
    }
    resp = await a.client.post("/account/password", data=form)
    assert resp.status == 200 and "密码已修改" in await resp.text()
    assert await a.refused(other), "the other session outlived the password change"
    assert await b.me(a.cookie()) == "hebei"  # the browser that changed it goes on, on every instance
    assert (await a.client.get("/account")).status == 200


async def test_2fa_reset_by_the_security_administrator_ends_the_sessions(web: WebFactory, pg_demo_url: str) -> None:
    a = await web(pg_demo_url)
    b = await web(pg_demo_url)
    a.add_user("hebei", "editor", "13")
    a.add_user("sec", "secadmin")
    await a.login("hebei")
    victim = a.cookie()
    await a.store.run(twofactor.begin, a.store, "hebei", "hebei")
    await b.login("sec")
    resp = await b.client.post(
        "/admin/security/hebei/reset-2fa", data={"csrf": await b.csrf("/admin/security")}, allow_redirects=False
    )
    assert resp.status == 303
    assert await a.refused(victim)
    account = a.store.get_account("hebei")
    assert account is not None and account["totp_secret"] is None
    assert next(r["action"] for r in a.store.history("account", "hebei")) == "2fa_reset"


async def test_idle_and_absolute_timeouts(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url, security={"session_idle_minutes": 30, "session_max_hours": 12})
    w.add_user("hebei", "editor", "13")
    with clock.use(ManualClock(clock.system_now())) as now:
        assert isinstance(now, ManualClock)
        await w.login("hebei")
        cookie = w.cookie()
        now.advance(minutes=29)
        assert await w.me(cookie) == "hebei"
        now.advance(minutes=29)  # 29 minutes after the last request: still within the idle time
        assert await w.me(cookie) == "hebei"
        now.advance(minutes=30, seconds=1)
        assert await w.me(cookie) is None, "a session idle for over 30 minutes was accepted"

        w.client.session.cookie_jar.clear()
        await w.login("hebei")
        cookie = w.cookie()
        for _ in range(11 * 3 + 2):  # busy all day: a request every 20 minutes for 11 h 40 min
            now.advance(minutes=20)
            assert await w.me(cookie) == "hebei"
        now.advance(minutes=20)  # 12 h after the login
        assert await w.me(cookie) is None, "a session older than 12 hours was accepted"
        ended = {r["end_reason"] for r in w.store.list_sessions("hebei")}
        assert ended == set()  # ended sessions are no longer listed as live


async def test_own_sessions_history_and_sign_out_everywhere(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url)
    w.add_user("hebei", "editor", "13")
    token = await w.csrf("/login")
    resp = await w.client.post("/login", data={"username": "hebei", "password": "wrong-pass", "csrf": token})
    assert resp.status == 401
    await w.login("hebei")
    first = w.cookie()
    w.client.session.cookie_jar.clear()
    await w.login("hebei")
    page = await (await w.client.get("/account/security")).text()
    assert page.count("（本次）") == 1 and page.count('<td data-label="登录时间">') == 2
    assert "失败（密码错误）" in page and page.count("成功（密码登录）") == 2
    history = w.store.login_history("hebei")
    assert [(h["success"], h["detail"]) for h in history] == [
        (True, "password"),
        (True, "password"),
        (False, "wrong_password"),
    ]
    resp = await w.client.post(
        "/account/security/signout-all", data={"csrf": await w.csrf("/account/security")}, allow_redirects=False
    )
    assert resp.status == 303 and resp.headers["Location"] == "/login"
    assert await w.me(first) is None
    assert (await w.client.get("/account", allow_redirects=False)).status == 303  # this browser too
    assert w.store.list_sessions("hebei") == []
    actions = [r["action"] for r in w.store.history("account", "hebei")]
    assert "login" in actions and "sessions_end" in actions


async def test_sessions_are_stored_hashed(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url)
    w.add_user("hebei", "editor", "13")
    await w.login("hebei")
    rows = w.store.list_sessions("hebei")
    assert len(rows) == 1 and len(rows[0]["id_hash"]) == 64
    assert rows[0]["expires_at"] - rows[0]["created_at"] == dt.timedelta(hours=12)
