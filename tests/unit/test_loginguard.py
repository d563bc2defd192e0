"""The login-failure policy on its own, with a clock the test moves: delays, ceilings, in-flight counting."""

from __future__ import annotations

import pytest

from directory.errors import Throttled
from directory.loginguard import LoginGuard
from directory.settings import LoginSettings, Settings


def guard(**changes: object) -> tuple[LoginGuard, list[float]]:
    now = [1000.0]
    settings: LoginSettings = Settings().replace(login=changes).login
    return LoginGuard(settings, clock=lambda: now[0]), now


def fail(g: LoginGuard, account: str, address: str) -> None:
    g.failed(g.begin(account, address))


def test_failures_of_one_name_and_address_wait_longer_each_time() -> None:
    g, now = guard(free_failures=2, first_delay=1, max_delay=8)
    fail(g, "hebei", "a")
    fail(g, "hebei", "a")
    waits = []
    for _ in range(6):
        waits.append(g.retry_after("hebei", "a"))
        with pytest.raises(Throttled):
            g.begin("hebei", "a")
        now[0] += waits[-1]
        fail(g, "hebei", "a")
    assert waits == [1, 2, 4, 8, 8, 8]
    assert g.retry_after("hebei", "b") == 0 and g.retry_after("other", "a") == 0


def test_a_success_forgets_the_pair_and_time_forgets_failures() -> None:
    g, now = guard(free_failures=1, first_delay=5, forget_seconds=60)
    fail(g, "hebei", "a")
    fail(g, "hebei", "b")
    now[0] += 5
    g.succeeded(g.begin("hebei", "a"))
    assert g.retry_after("hebei", "a") == 0 and ("hebei", "a") not in g.pairs
    assert g.retry_after("hebei", "b") == 0
    fail(g, "hebei", "b")
    assert g.retry_after("hebei", "b") > 0
    now[0] += 60
    assert g.retry_after("hebei", "b") == 0
    assert not g.accounts.over("hebei", now[0]) and not g.accounts.times


def test_attempts_count_from_the_moment_they_begin() -> None:
    g, _ = guard(free_failures=3, first_delay=1)
    in_flight = [g.begin("hebei", "a") for _ in range(3)]  # none has finished
    with pytest.raises(Throttled):
        g.begin("hebei", "a")
    g.undo(in_flight[-1])  # not judged (server busy): as if it never began
    g.failed(g.begin("hebei", "a"))
    with pytest.raises(Throttled):
        g.begin("hebei", "a")


def test_the_account_ceiling_slows_guessers_but_the_owner_still_gets_in() -> None:
    g, now = guard(free_failures=3, account_failures=6, slow_delay=30, address_failures=0)
    for i in range(6):
        fail(g, "hebei", f"10.0.0.{i}")
    assert g.accounts.over("hebei", now[0])
    # an address that has failed on the account waits the slow delay even below its own free failures
    now[0] += 1
    assert g.retry_after("hebei", "10.0.0.1") == pytest.approx(29)
    # the owner, from an address without failures, may try at once, as often as an unknown name would be
    owner = g.begin("hebei", "192.0.2.9")
    g.succeeded(owner)
    assert g.retry_after("hebei", "192.0.2.9") == 0
    # but a second attempt of a fresh address while the first is in flight waits
    g.begin("hebei", "192.0.2.10")
    assert g.retry_after("hebei", "192.0.2.10") == pytest.approx(30)
    # the ceiling is about the account: other names from the same addresses are not slowed
    assert g.retry_after("other", "10.0.0.1") == 0


def test_the_address_ceiling_slows_password_spraying() -> None:
    g, now = guard(address_failures=5, slow_delay=20, account_failures=0)
    for i in range(5):
        fail(g, f"user{i}", "10.0.0.1")
    with pytest.raises(Throttled) as info:
        g.begin("user99", "10.0.0.1")
    assert info.value.retry_after == 20
    assert g.retry_after("user99", "10.0.0.2") == 0
    now[0] += 20
    fail(g, "user99", "10.0.0.1")
    assert g.retry_after("user100", "10.0.0.1") == 20


def test_unknown_and_real_names_are_counted_alike_and_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import directory.loginguard as lg

    monkeypatch.setattr(lg, "MAX_ENTRIES", 50)
    g, _ = guard(free_failures=0, first_delay=3)
    for name in ("hebei", "nobody-at-all"):
        fail(g, name, "a")
        assert g.retry_after(name, "a") == 3
    for i in range(500):
        fail(g, f"n{i}", f"10.0.{i // 250}.{i % 250}")
    assert len(g.pairs) <= 50 and len(g.accounts.times) <= 50 and len(g.addresses.times) <= 50
    long_name = "x" * 10_000
    fail(g, long_name, "a")
    assert all(len(name) <= lg.MAX_NAME for name, _ in g.pairs)
