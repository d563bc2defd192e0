"""Fixtures of the verification-campaign tests: a real SMTP sink (the helpers are in ``tests.support.verify``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.mailsink import Sink, mail_sink


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    async with mail_sink() as s:
        yield s
