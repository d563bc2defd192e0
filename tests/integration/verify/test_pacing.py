"""The outbox paces mail per destination domain: a paced domain gets at most its messages per window (the rest wait
in the queue, and go once the window has passed), other domains are not held up; a bad setting names the option.
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from directory.errors import SettingsError
from directory.store import Store
from liaison.mail.worker import OutboxWorker
from liaison.settings import Settings
from tests.support.letters import due_clock, queue, settings_for
from tests.support.mailsink import Sink


async def test_a_paced_domain_waits_and_others_go_on(store: Store, sink: Sink) -> None:
    settings = settings_for(store.url, sink, domain_limits="slow.example=3/60", domain_limit_default="100/60")
    clk = due_clock()
    slow = [f"o{i}@slow.example" for i in range(7)]
    fast = [f"o{i}@fast.example" for i in range(5)]
    queue(store, *slow, *fast)
    worker = OutboxWorker(store, settings, clock=clk)
    worker.start()
    try:
        await worker.wait_idle()
        first = sorted(m.rcpt_tos[0] for m in sink.drain())
        assert [a for a in first if a.endswith("@fast.example")] == sorted(fast)
        assert len([a for a in first if a.endswith("@slow.example")]) == 3
        clk.advance(30)
        await worker.wait_idle()
        assert sink.drain() == [], "still inside the window"
        clk.advance(31)
        await worker.wait_idle()
        assert len(sink.drain()) == 3
        clk.advance(61)
        await worker.wait_idle()
        last = sink.drain()
        assert len(last) == 1
    finally:
        await worker.aclose()


@pytest.mark.parametrize(
    ("changes", "option"),
    [
        ({"domain_limits": "qq.com:100/60"}, "liaison.domain_limits"),
        ({"domain_limits": "qq.com=0/60"}, "liaison.domain_limits"),
        ({"domain_limit_default": "100"}, "liaison.domain_limit_default"),
    ],
)
def test_bad_pacing_names_the_option(changes: dict[str, str], option: str) -> None:
    with pytest.raises(SettingsError, match=option.replace(".", r"\.")):
        Settings().replace(liaison=changes).check()


def test_pacing_parses() -> None:
    limits, default = Settings().replace(liaison={"domain_limits": "QQ.com=100/60，163.com=5/1"}).liaison.pacing()
    assert limits == {"qq.com": (100, 60), "163.com": (5, 1)} and default is None
    assert dt.timedelta(seconds=limits["qq.com"][1]) == dt.timedelta(minutes=1)
