"""App passwords: ``bohai user app-password add|list|revoke`` on SQLite and PostgreSQL, and what a secret opens:
the CardDAV books of its own account only — never the web login, the API, or another account's books."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable

import pytest

from directory import accounts, apppasswords
from directory.store import open_store
from liaison.cli import main
from tests.support.carddav import PASSWORD, DavWorld, basic

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def bohai(db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    monkeypatch.setenv("BOHAI_DATABASE_URL", db_url)

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(""))
        code = main(["user", "app-password", *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_app_password_commands(bohai: Run, db_url: str) -> None:
    store = open_store(db_url)
    try:
        accounts.add_user(store, "hebei", PASSWORD, "editor", "13", "test")
        code, secret, err = bohai("add", "hebei", "--label", "手机")
        secret = secret.strip()
        assert code == 0 and len(apppasswords.normalize(secret)) == 32 and "只显示一次" in err, err
        assert bohai("add", "hebei", "--label", "办公室电脑")[0] == 0
        code, out, _ = bohai("list", "hebei")
        lines = out.strip().split("\n")
        assert code == 0 and [line.split("\t")[1] for line in lines] == ["手机", "办公室电脑"]
        assert secret not in out and "从未使用" in out
        assert apppasswords.secret_hash(secret) not in str(store.history("account", "hebei")), "no secret in audit"
        code, _, err = bohai("add", "hebei", "--label", "a\nb")
        assert code == 1 and "设备名称" in err
        code, _, err = bohai("add", "nobody", "--label", "手机")
        assert code == 1 and "用户 nobody 不存在" in err
        first_id = lines[0].split("\t")[0]
        code, out, _ = bohai("revoke", "hebei", first_id)
        assert code == 0 and "手机" in out
        code, _, err = bohai("revoke", "hebei", first_id)
        assert code == 1 and f"没有编号为 {first_id} 的应用密码" in err
        assert [r["label"] for r in store.list_app_passwords("hebei")] == ["办公室电脑"]
    finally:
        store.close()


in_module_loop = pytest.mark.asyncio(loop_scope="module")


@in_module_loop
async def test_a_secret_opens_only_its_own_accounts_books(dav_world: DavWorld) -> None:
    c = dav_world.editor
    book = "/carddav/p/130000000000/book/"
    assert (await c.request("PROPFIND", book, b"", "0")).status == 207
    refused = [
        basic("reader", dav_world.editor_secret),  # another account's secret
        basic("hebei", dav_world.reader_secret),
        basic("hebei", PASSWORD),  # the staff password: would bypass the web login's policy
        basic("hebei", ""),
        basic("hebei", "x" * 5000),
        "Basic !!!not-base64",
        "Bearer " + dav_world.editor_secret,
        None,
    ]
    for authorization in refused:
        reply = await c.as_user(authorization).request("PROPFIND", book, b"", "0")
        assert reply.status == 401, authorization
        assert reply.headers["WWW-Authenticate"].startswith("Basic realm=")
        assert dav_world.editor_secret.encode() not in reply.body
    typed = dav_world.editor_secret.upper().replace("-", " ")  # as a phone keyboard may type it
    assert (await c.as_user(basic("hebei", typed)).request("PROPFIND", book, b"", "0")).status == 207


@in_module_loop
async def test_a_secret_is_not_a_web_or_api_credential(dav_world: DavWorld) -> None:
    client = dav_world.client
    page = await client.get("/login")
    csrf = (await page.text()).split('name="csrf" value="')[1].split('"')[0]
    form = {"username": "hebei", "password": dav_world.editor_secret, "csrf": csrf}
    login = await client.post("/login", data=form, allow_redirects=False)
    assert login.status != 303, "an app password never logs in to the web face"
    for header in ("Bearer " + dav_world.editor_secret, "Bearer hebei." + dav_world.editor_secret):
        assert (await client.get("/api/v1/me", headers={"Authorization": header})).status == 401


@in_module_loop
async def test_revoked_and_disabled_are_refused(dav_world: DavWorld) -> None:
    store = dav_world.store
    accounts.add_user(store, "shanxi", PASSWORD, "reader", None, "test")
    kept = apppasswords.add(store, "shanxi", "手机", "test")
    gone = apppasswords.add(store, "shanxi", "平板", "test")
    apppasswords.revoke(store, "shanxi", gone.id, "test")
    c = dav_world.editor
    assert (await c.as_user(basic("shanxi", kept.secret)).request("PROPFIND", "/carddav/", b"", "0")).status == 207
    assert (await c.as_user(basic("shanxi", gone.secret)).request("PROPFIND", "/carddav/", b"", "0")).status == 401
    assert store.list_app_passwords("shanxi")[0]["last_used_at"] is not None
    accounts.set_disabled(store, "shanxi", True, "test")
    assert (await c.as_user(basic("shanxi", kept.secret)).request("PROPFIND", "/carddav/", b"", "0")).status == 401
