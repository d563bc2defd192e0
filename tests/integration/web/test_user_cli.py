"""`bohai user add|passwd|list|disable|token` through the CLI's ``main`` on a real database (SQLite, PostgreSQL),
plus one run of the installed entry point as a subprocess."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from directory import accounts, tokens
from directory.settings import LoginSettings
from directory.store import Store, open_store


def login(store: Store, username: str, password: str) -> accounts.User:
    """The password check every face uses (web login, LDAP bind)."""
    logins = accounts.Logins(store, LoginSettings())
    try:
        return asyncio.run(logins.login(username, password, "127.0.0.1", "test"))
    finally:
        logins.close()


def test_user_commands(bohai, db_url: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = bohai(
        "add", "hebei", "--role", "editor", "--province", "13", "--password-stdin", stdin="first pass 1\n"
    )
    assert code == 0 and "已创建用户 hebei（编辑，省份 河北省）" in out, err
    code, _, err = bohai("add", "hebei", "--role", "reader", "--password-stdin", stdin="first pass 1\n")
    assert code == 1 and "用户 hebei 已存在" in err
    code, _, err = bohai("add", "nobody", "--role", "editor", "--password-stdin", stdin="first pass 1\n")
    assert code == 1 and "编辑必须绑定一个省份" in err
    code, _, err = bohai("add", "short", "--password-stdin", stdin="abc\n")
    assert code == 1 and "密码至少12个字符" in err
    code, _, err = bohai("passwd", "hebei", "--password-stdin", stdin="second pass 2\n")
    assert code == 0, err
    code, token, err = bohai("token", "add", "hebei", "--label", "人事系统", "--scope", "write", "--expires", "30")
    token = token.strip()
    assert code == 0 and token.startswith("bohai_") and "只显示这一次" in err, err
    code, _, err = bohai("token", "add", "hebei", "--label", "越权", "--province", "37")
    assert code == 1 and "编辑只能为本省（河北省）创建令牌" in err
    code, out, _ = bohai("token", "list", "hebei")
    fields = out.split("\n")[0].split("\t")
    assert code == 0 and fields[:6] == ["1", "hebei", "人事系统", "读写", "全部", "有效"], out
    assert fields[6].startswith("到期：") and "年" in fields[6] and fields[7] == "最近使用：从未使用"
    code, out, _ = bohai("list")
    listed = out.split("\n")[0].split("\t")
    assert code == 0 and listed == ["hebei", "编辑", "河北省", "正常", "密码有效", "双因素未启用", "本单位 —"]
    store = open_store(db_url)
    try:
        user = tokens.authenticate(store, token, "127.0.0.1")
        assert (user.username, user.role, user.token_label) == ("hebei", "editor", "人事系统")
        user = login(store, "hebei", "second pass 2")
        assert user.province_code == "130000000000"
        code, out, _ = bohai("disable", "hebei")
        assert code == 0 and "已停用用户 hebei" in out
        assert [t["revoked_at"] is not None for t in store.list_tokens("hebei")] == [True]
        code, out, _ = bohai("token", "list")
        assert code == 0 and "\t已吊销\t" in out
        assert "已停用" in bohai("list")[1]
        code, _, err = bohai("disable", "ghost")
        assert code == 1 and "用户 ghost 不存在" in err
        assert [h["action"] for h in store.history("account", "hebei")][-1] == "create"
    finally:
        store.close()


def test_entry_point_reads_password_from_stdin(sqlite_demo_url: str) -> None:
    env = {**os.environ, "BOHAI_DATABASE_URL": sqlite_demo_url}
    args = [sys.executable, "-m", "liaison.cli", "user", "add", "root", "--role", "admin", "--password-stdin"]
    r = subprocess.run(args, input="root pass 123\n", capture_output=True, text=True, env=env, timeout=120)
    # the old all-powerful role is read as both administering roles, with a warning to split them
    assert r.returncode == 0 and "已创建用户 root（系统管理员、安全管理员）" in r.stdout, r.stderr
    assert "三员分立" in r.stderr
    store = open_store(sqlite_demo_url)
    try:
        assert login(store, "root", "root pass 123").role == "secadmin,sysadmin"
    finally:
        store.close()


def test_without_a_terminal_the_cli_says_what_to_do(sqlite_demo_url: str) -> None:
    """No terminal and no --password-stdin: a sentence naming the option, exit 1, no traceback, no account; the help
    speaks Chinese, argparse's own headings included."""
    env = {**os.environ, "BOHAI_DATABASE_URL": sqlite_demo_url}
    args = [sys.executable, "-m", "liaison.cli", "user", "add", "clerk", "--role", "reader"]
    r = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 1 and "--password-stdin" in r.stderr and "Traceback" not in r.stderr, r.stderr
    store = open_store(sqlite_demo_url)
    try:
        assert store.get_account("clerk") is None
    finally:
        store.close()
    r = subprocess.run([*args[:5], "--help"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("用法：") and "选项" in r.stdout and "显示本帮助并退出" in r.stdout
    assert "usage:" not in r.stdout and "options:" not in r.stdout
    r = subprocess.run([*args[:6], "--colour"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and "错误：无法识别的参数：--colour" in r.stderr and "unrecognized" not in r.stderr
