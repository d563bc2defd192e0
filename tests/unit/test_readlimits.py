"""The scraping limit's token bucket: a request is refused only while the bucket is empty, what it returned is
charged afterwards, the bucket refills evenly over a minute, exempt readers are never limited, and an IPv6 reader
counts by its /64."""

from __future__ import annotations

import pytest

from directory.readlimits import ReadBudget, ReadLimited, exemptions, reader_key


def test_bucket_refuses_only_when_empty_and_refills_evenly() -> None:
    now = [0.0]
    budget = ReadBudget(600, clock=lambda: now[0])  # 10 entries a second
    budget.check("user:a")
    budget.charge("user:a", 900)  # one big answer is never cut short; it leaves the bucket at -300
    with pytest.raises(ReadLimited) as refused:
        budget.check("user:a")
    assert refused.value.status == 429 and refused.value.retry_after == 31
    budget.check("user:b")  # another reader is not affected
    now[0] = 30.0
    with pytest.raises(ReadLimited):
        budget.check("user:a")
    now[0] = 30.2
    budget.check("user:a")  # refilled past zero
    now[0] = 1000.0
    budget.charge("user:a", 600)
    with pytest.raises(ReadLimited):
        budget.check("user:a")  # a full minute's worth at once empties it


def test_exemptions_and_keys() -> None:
    exempt = exemptions("sync-account, 10.0.0.5, 2001:db8::1")
    budget = ReadBudget(1, exempt)
    for key in ("user:sync-account", reader_key(None, "10.0.0.5"), reader_key(None, "2001:db8::ffff")):
        budget.charge(key, 10_000)
        budget.check(key)
    assert reader_key(None, "2001:db8::1:2:3:4") == "addr:2001:db8::/64"
    assert reader_key("alice", "10.0.0.9") == "user:alice"
    off = ReadBudget(0)
    off.charge("user:x", 10**9)
    off.check("user:x")


def test_memory_is_bounded() -> None:
    now = [0.0]
    budget = ReadBudget(60, clock=lambda: now[0], max_keys=100)
    for i in range(1000):
        budget.charge(f"addr:{i}", 30)
    assert len(budget._buckets) <= 100
