"""``accounts.Logins``, the one password check of every face, on SQLite and PostgreSQL: equal work and answers for
every refusal, the length cap, and the bounded hash pool."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest

from directory import accounts
from directory.errors import AuthenticationFailed, Busy
from directory.settings import Settings
from directory.store import Store

PASSWORD = "correct horse 13"


@pytest.fixture
async def logins(store: Store) -> AsyncIterator[accounts.Logins]:
    accounts.add_user(store, "hebei", PASSWORD, "editor", "13", "test")
    accounts.add_user(store, "gone", PASSWORD, "reader", None, "test")
    accounts.set_disabled(store, "gone", True, "test")
    made = accounts.Logins(store, Settings().replace(login={"hash_workers": 1, "hash_queue": 0}).login)
    yield made
    made.close()


async def refusal(logins: accounts.Logins, username: str, password: str) -> tuple[str, int]:
    """The message of the refusal and how many argon2 checks it cost."""
    before = logins.hashes.checks
    with pytest.raises(AuthenticationFailed) as info:
        await logins.login(username, password, f"192.0.2.{len(username)}", "test")
    return str(info.value), logins.hashes.checks - before


async def test_every_refusal_costs_one_hash_and_reads_the_same(logins: accounts.Logins) -> None:
    answers = {
        "wrong password": await refusal(logins, "hebei", "wrong-pass"),
        "unknown name": await refusal(logins, "nobody", "wrong-pass"),
        "disabled account, right password": await refusal(logins, "gone", PASSWORD),
        "impossible name": await refusal(logins, "uid=x,ou=accounts", "wrong-pass"),
    }
    assert set(answers.values()) == {(accounts.BAD_LOGIN, 1)}, answers
    user = await logins.login("hebei", PASSWORD, "192.0.2.1", "test")
    assert user.username == "hebei" and user.province_code == "130000000000"


async def test_overlong_passwords_are_refused_without_hashing(logins: accounts.Logins) -> None:
    for password in (PASSWORD + "x" * accounts.MAX_PASSWORD, "p" * 1_000_000):
        assert await refusal(logins, "hebei", password) == (accounts.BAD_LOGIN, 0)


async def test_a_full_hash_pool_answers_busy_and_counts_nothing(logins: accounts.Logins) -> None:
    release = threading.Event()
    holder = asyncio.ensure_future(logins.hashes.run(release.wait, 30))
    await asyncio.sleep(0)  # one turn of the loop: the holder takes the pool's only place
    try:
        assert logins.hashes.taken == 1
        with pytest.raises(Busy):
            await logins.login("hebei", PASSWORD, "192.0.2.1", "test")
        assert ("hebei", "192.0.2.1") not in logins.guard.pairs
        assert not logins.guard.accounts.over("hebei", logins.guard.clock())
    finally:
        release.set()
        await holder
    assert (await logins.login("hebei", PASSWORD, "192.0.2.1", "test")).username == "hebei"


async def test_logins_are_shared_by_every_face_of_a_store(store: Store) -> None:
    first = accounts.logins_for(store, Settings().login)
    assert accounts.logins_for(store, Settings().replace(login={"free_failures": 9}).login) is first
