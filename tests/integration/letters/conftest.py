"""Fixtures of the letters area: an injectable clock, a real SMTP sink, settings pointing the relay at it."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest

from liaison.settings import Settings
from tests.support.mailsink import Sink, mail_sink


class Clock:
    """A clock the test moves by hand (aware UTC); it starts a minute ahead so rows queued just now are due."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    async with mail_sink() as s:
        yield s


def settings_for(url: str, sink: Sink, **liaison: object) -> Settings:
    return Settings().replace(
        database={"url": url},
        relay={"host": "127.0.0.1", "port": sink.port, "timeout": 10},
        fax={"gateway": "fax.gw.example"},
        liaison={"outbox_poll_interval": 60, **liaison},
        http={"port": 0},
        ldap={"port": 0},
        smtp={"port": 0},
    )
