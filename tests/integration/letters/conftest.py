"""Fixtures of the letters area: an injectable clock, a real SMTP sink, the letters pages behind a real login, and the
letters world (outbox, deadlines, inbound SMTP face). The helpers behind them are in ``tests.support.letters``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from directory.clock import ManualClock
from directory.store import Store
from tests.support.letters import Browser, World, due_clock, letters_browser, letters_world
from tests.support.mailsink import Sink, mail_sink


@pytest.fixture
def clock() -> ManualClock:
    return due_clock()


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    async with mail_sink() as s:
        yield s


@pytest.fixture
async def browser(store: Store) -> AsyncIterator[Browser]:
    async with letters_browser(store) as b:
        yield b


@pytest.fixture
async def world(store: Store, sink: Sink, clock: ManualClock) -> AsyncIterator[World]:
    async with letters_world(store, sink, clock) as w:
        yield w
