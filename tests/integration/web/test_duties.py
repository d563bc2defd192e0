"""Separate duties and their commands: the roles and which combine, the old ``admin``, what a token of each role
may do, ``bohai user role``, ``bohai user 2fa reset`` and ``bohai user signout``, and ``bohai serve --demo`` with the
second factor off (said at start)."""

from __future__ import annotations

import pytest

from directory import accounts, tokens, twofactor, websessions
from directory.accounts import User
from directory.errors import ValidationFailed
from directory.settings import SecuritySettings
from directory.store import Store, open_store
from liaison.service import start
from tests.support.fixtures import Cli
from tests.support.settings import service_settings
from tests.support.web import PASSWORD


def test_roles_and_which_combine() -> None:
    assert accounts.parse_role("admin") == "secadmin,sysadmin"
    assert accounts.parse_role("sysadmin+secadmin") == accounts.parse_role("secadmin, sysadmin") == "secadmin,sysadmin"
    for bad, words in [("auditor,sysadmin", "三员分立"), ("auditor+secadmin", "三员分立"), ("editor,sysadmin", "只有"),
                       ("root", "角色只能是"), ("", "角色只能是")]:  # fmt: skip
        with pytest.raises(ValidationFailed) as caught:
            accounts.parse_role(bad)
        assert words in caught.value.errors[0].message, bad
    both = User("x", "secadmin,sysadmin")
    assert both.can_manage_accounts and both.can_manage_security and not both.can_read_audit
    auditor = User("a", "auditor")
    assert auditor.can_read_audit and not auditor.can_write and not auditor.changes_anything
    assert not auditor.can_edit("130102000000")
    secadmin = User("s", "secadmin")
    assert secadmin.changes_anything and not secadmin.can_write and not secadmin.can_edit("130102000000")
    assert User("e", "editor", "130000000000").can_edit("130102000000")
    assert not User("e", "editor", "130000000000").can_edit("370102000000")
    assert User("legacy", "admin").is_sysadmin and User("legacy", "admin").is_secadmin


def test_what_a_write_token_of_each_role_may_do() -> None:
    def rights(user: User, province: str | None = None) -> tuple[str, str | None]:
        effective = tokens.effective_user(user, "write", province, "t")
        return effective.role, effective.province_code

    assert rights(User("s", "sysadmin")) == ("sysadmin", None)
    assert rights(User("s", "sysadmin"), "370000000000") == ("editor", "370000000000")
    assert rights(User("b", "secadmin,sysadmin")) == ("sysadmin", None)  # security duties need a person
    assert rights(User("c", "secadmin")) == ("reader", None)
    assert rights(User("a", "auditor")) == ("reader", None)
    assert rights(User("e", "editor", "130000000000"), "370000000000")[0] == "reader"


def _session(store: Store, name: str) -> str:
    account = store.get_account(name)
    assert account is not None
    sid, _ = websessions.start(store, accounts.user_of(account), SecuritySettings(), client="t", user_agent="t")
    return sid


def test_cli_role_2fa_reset_and_signout(bohai: Cli, db_url: str) -> None:
    code, _, err = bohai("add", "alice", "--role", "sysadmin", "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 0, err
    code, _, err = bohai("role", "alice", "--role", "auditor,sysadmin")
    assert code == 1 and "三员分立" in err
    store = open_store(db_url)
    try:
        sid = _session(store, "alice")
        code, out, err = bohai("role", "alice", "--role", "auditor")
        assert code == 0 and "审计员" in out, err
        assert websessions.check(store, sid, "alice", SecuritySettings()) is None  # new rights: log in again
        twofactor.begin(store, "alice", "alice")
        sid = _session(store, "alice")
        code, out, err = bohai("2fa", "reset", "alice")
        assert code == 0 and "已重置" in out, err
        account = store.get_account("alice")
        assert account is not None and account["totp_secret"] is None
        assert websessions.check(store, sid, "alice", SecuritySettings()) is None
        sid = _session(store, "alice")
        code, out, err = bohai("signout", "alice")
        assert code == 0 and "1 个" in out, err
        assert websessions.check(store, sid, "alice", SecuritySettings()) is None
        code, _, err = bohai("2fa", "reset", "nobody")
        assert code == 1 and "用户不存在" in err
    finally:
        store.close()


async def test_demo_runs_without_the_second_factor_and_says_so(sqlite_demo_url: str) -> None:
    settings = service_settings(sqlite_demo_url, ldap={"enabled": False}, smtp={"enabled": False})
    settings = settings.replace(security={"require_2fa": True})
    lines: list[str] = []
    running = await start(settings, with_demo=True, report=lines.append)
    try:
        assert running.settings.security.require_2fa is False
        assert any("require_2fa = false" in line and "演示" in line for line in lines), lines
    finally:
        await running.aclose()
    plain: list[str] = []
    running = await start(settings, report=plain.append)
    try:
        assert running.settings.security.require_2fa is True
        assert not any("require_2fa" in line for line in plain)
    finally:
        await running.aclose()
