"""The ``null`` transport: every message counts as sent and goes nowhere (trials, benchmarks of the queue alone)."""

from __future__ import annotations

from liaison.mail.transports import Envelope, Outcome
from liaison.settings import Settings


class NullTransport:
    def __init__(self) -> None:
        self.count = 0

    async def send(self, envelope: Envelope) -> Outcome:
        self.count += 1
        return Outcome("sent", 250, "null transport: discarded")

    async def aclose(self) -> None:
        return None


def create(settings: Settings) -> NullTransport:
    return NullTransport()
