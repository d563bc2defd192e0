"""The password policy on the web (``/account/password``) and the CLI (``bohai user add|passwd|list``): length or
three classes, no reuse of the last five, expiry after 90 days with a warning a week ahead; one test per rule."""

from __future__ import annotations

import pytest

from directory import clock, passwords
from directory.clock import ManualClock
from directory.errors import ValidationFailed
from directory.settings import SecuritySettings
from tests.support.fixtures import Cli
from tests.support.web import PASSWORD, Web, WebFactory


async def _change(w: Web, current: str, new: str) -> tuple[int, str]:
    form = {"csrf": await w.csrf("/account/password"), "current": current, "new": new, "again": new}
    resp = await w.client.post("/account/password", data=form)
    return resp.status, await resp.text()


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("abcdefghijk", False),  # 11 of one class
        ("abcdefghijkl", True),  # 12 of anything
        ("Abcdef1", False),  # three classes but only 7
        ("abcdefg1", False),  # 8 but two classes
        ("Abcdefg1", True),  # 8 with lower, upper, digit
        ("abcdef1!", True),  # 8 with lower, digit, other
    ],
)
def test_length_or_three_classes(password: str, ok: bool) -> None:
    if ok:
        passwords.check_password_rules(password)
    else:
        with pytest.raises(ValidationFailed, match="密码不符合要求"):
            passwords.check_password_rules(password)


async def test_web_refuses_a_weak_password(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url)
    w.add_user("hebei", "editor", "13")
    await w.login("hebei")
    status, page = await _change(w, PASSWORD, "abcdefg1")
    assert status == 400 and "三类" in page
    status, page = await _change(w, "not-the-password", "Good-pass-123")
    assert status == 400 and "当前密码不正确" in page
    status, page = await _change(w, PASSWORD, "Abcdefg1")
    assert status == 200 and "密码已修改" in page


async def test_web_refuses_the_last_five(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url)
    w.add_user("hebei", "editor", "13")
    await w.login("hebei")
    status, page = await _change(w, PASSWORD, PASSWORD)
    assert status == 400 and "最近5次" in page
    current = PASSWORD
    for n in range(1, 5):  # four new ones: PASSWORD is now the fifth most recent
        status, _ = await _change(w, current, f"Rotation-{n}-pass")
        assert status == 200
        current = f"Rotation-{n}-pass"
    status, page = await _change(w, current, PASSWORD)
    assert status == 400 and "最近5次" in page
    status, _ = await _change(w, current, "Rotation-5-pass")
    assert status == 200
    status, page = await _change(w, "Rotation-5-pass", PASSWORD)  # now six back: allowed again
    assert status == 200, page


async def test_web_expiry_warns_then_forces_a_change(web: WebFactory, sqlite_demo_url: str) -> None:
    w = await web(sqlite_demo_url)
    w.add_user("hebei", "editor", "13")
    with clock.use(ManualClock(clock.system_now())) as now:
        assert isinstance(now, ManualClock)
        now.advance(days=84)
        await w.login("hebei")
        page = await (await w.client.get("/account/password")).text()
        assert "密码将在 6 天后过期" in page
        account = await w.client.get("/account")  # still usable during the warning, with the warning on every page
        assert account.status == 200 and "您的密码将在 6 天后过期" in await account.text()
        now.advance(days=6, seconds=1)
        w.client.session.cookie_jar.clear()
        await w.login("hebei")  # the password is right: the login works, and leads to the change only
        resp = await w.client.get("/account", allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == "/account/password"
        api = await w.client.get("/api/v1/me")
        assert api.status == 403 and "密码已过期" in (await api.json())["error"]
        resp = await w.client.get(f"/office/{'130102000000'}/edit", allow_redirects=False)
        assert resp.headers["Location"] == "/account/password"
        token = await w.csrf("/account/password")
        resp = await w.client.post("/office/130102000000/verify", data={"csrf": token}, allow_redirects=False)
        assert resp.status == 403 and "密码已过期" in await resp.text()
        page = await (await w.client.get("/account/password")).text()
        assert "密码已过期" in page
        status, _ = await _change(w, PASSWORD, "Fresh-pass-2027")
        assert status == 200
        assert (await w.client.get("/account", allow_redirects=False)).status == 200


def test_cli_add_and_passwd_follow_the_policy(bohai: Cli) -> None:
    code, _, err = bohai("add", "weak", "--password-stdin", stdin="abcdefg1\n")
    assert code == 1 and "三类" in err
    code, out, err = bohai("add", "ok", "--password-stdin", stdin="Abcdefg1\n")
    assert code == 0, err
    code, _, err = bohai("passwd", "ok", "--password-stdin", stdin="short\n")
    assert code == 1 and "密码至少12个字符" in err
    code, _, err = bohai("passwd", "ok", "--password-stdin", stdin="Abcdefg1\n")
    assert code == 1 and "最近5次" in err
    code, out, err = bohai("passwd", "ok", "--password-stdin", stdin="a long new passphrase\n")
    assert code == 0 and "已修改用户 ok 的密码" in out, err


def test_cli_list_shows_the_expiry(bohai: Cli) -> None:
    code, _, err = bohai("add", "ok", "--password-stdin", stdin="Abcdefg1\n")
    assert code == 0, err
    with clock.use(ManualClock(clock.system_now())) as now:
        assert isinstance(now, ManualClock)
        code, out, _ = bohai("list")
        assert "密码有效" in out
        now.advance(days=85)
        code, out, _ = bohai("list")
        assert "密码5天后过期" in out
        now.advance(days=6)
        code, out, _ = bohai("list")
        assert "密码已过期" in out


def test_expiry_can_be_switched_off() -> None:
    never = SecuritySettings(password_max_age_days=0)
    age = passwords.password_age(clock.system_now().replace(year=2000), never)
    assert not age.expired and age.days_left is None
