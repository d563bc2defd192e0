"""`bohai user add|passwd|list|disable|token` as a subprocess on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys

from directory import accounts
from directory.store import open_store


def bohai(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BOHAI_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "liaison.cli", "user", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_user_commands(db_url: str) -> None:
    r = bohai(
        db_url, "add", "hebei", "--role", "editor", "--province", "13", "--password-stdin", stdin="first pass 1\n"
    )
    assert r.returncode == 0, r.stderr
    assert "已创建用户 hebei（编辑，省份 河北省）" in r.stdout
    r = bohai(db_url, "add", "hebei", "--role", "reader", "--password-stdin", stdin="first pass 1\n")
    assert r.returncode == 1 and "用户 hebei 已存在" in r.stderr
    r = bohai(db_url, "add", "nobody", "--role", "editor", "--password-stdin", stdin="first pass 1\n")
    assert r.returncode == 1 and "编辑必须绑定一个省份" in r.stderr
    r = bohai(db_url, "add", "short", "--password-stdin", stdin="abc\n")
    assert r.returncode == 1 and "密码至少8个字符" in r.stderr
    r = bohai(db_url, "passwd", "hebei", "--password-stdin", stdin="second pass 2\n")
    assert r.returncode == 0, r.stderr
    r = bohai(db_url, "token", "hebei")
    token = r.stdout.strip()
    assert r.returncode == 0 and token.startswith("hebei.") and "只显示一次" in r.stderr
    r = bohai(db_url, "list")
    assert r.returncode == 0 and r.stdout.split("\n")[0].split("\t") == ["hebei", "编辑", "河北省", "正常", "有令牌"]
    store = open_store(db_url)
    try:
        assert accounts.user_for_token(store, token).username == "hebei"
        user = accounts.authenticate(store, "hebei", "second pass 2", attempts=5, lock_seconds=60)
        assert user.province_code == "130000000000"
        r = bohai(db_url, "disable", "hebei")
        assert r.returncode == 0 and "已停用用户 hebei" in r.stdout
        assert store.get_account("hebei")["api_token_hash"] is None  # type: ignore[index]
        assert "已停用" in bohai(db_url, "list").stdout
        r = bohai(db_url, "disable", "ghost")
        assert r.returncode == 1 and "用户 ghost 不存在" in r.stderr
        assert [h["action"] for h in store.history("account", "hebei")][-1] == "create"
    finally:
        store.close()
