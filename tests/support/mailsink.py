"""A real SMTP sink for tests and benchmarks: aiosmtpd on 127.0.0.1, port 0, in the caller's event loop.

Each accepted message goes into ``sink.queue`` (an asyncio.Queue of :class:`Received`), so tests await mail instead
of sleeping. ``sink.answers`` makes chosen recipients fail at RCPT: ``{"x@y": ["451 try later"]}`` answers 451 once
and then accepts; ``{"x@y": ["550 no such user"] * 99}`` keeps failing. ``dsn=True`` advertises DSN (RFC 3461) and
accepts its parameters, which are kept in ``mail_options`` / ``rcpt_options``.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

DSN_PARAMS = {"RET", "ENVID", "NOTIFY", "ORCPT"}


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    mail_options: list[str]
    rcpt_options: list[str]

    @property
    def message(self) -> EmailMessage:
        msg = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


class _DsnSMTP(SMTP):
    def _getparams(self, params: Any) -> Any:
        result = super()._getparams(params)
        return None if result is None else {k: v for k, v in result.items() if k not in DSN_PARAMS}


@dataclass
class Sink:
    host: str = "127.0.0.1"
    port: int = 0
    dsn: bool = False
    queue: asyncio.Queue[Received] = field(default_factory=asyncio.Queue)
    answers: dict[str, list[str]] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.dsn:
            responses.insert(len(responses) - 1, "250-DSN")
        return responses

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        planned = self.answers.get(address)
        if planned:
            answer = planned.pop(0)
            self.refused.append((address, answer))
            return answer
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        self.queue.put_nowait(
            Received(
                str(envelope.mail_from),
                list(envelope.rcpt_tos),
                data,
                list(envelope.mail_options),
                list(envelope.rcpt_options),
            )
        )
        return "250 OK queued"

    async def get(self, timeout: float = 30.0) -> Received:
        return await asyncio.wait_for(self.queue.get(), timeout)

    def drain(self) -> list[Received]:
        """Everything received so far, without waiting."""
        return [self.queue.get_nowait() for _ in range(self.queue.qsize())]


@asynccontextmanager
async def mail_sink(*, dsn: bool = False, sink: Sink | None = None) -> AsyncIterator[Sink]:
    """Start a sink on a free port of 127.0.0.1; ``sink.port`` is the bound port. A ``sink`` of the test's own
    (a subclass, or one with a chosen ``port``) is served instead of a new one; its ``dsn`` is then its own."""
    handler = Sink(dsn=dsn) if sink is None else sink
    loop = asyncio.get_running_loop()
    cls = _DsnSMTP if handler.dsn else SMTP
    server = await loop.create_server(lambda: cls(handler, hostname="sink.test"), "127.0.0.1", handler.port)
    handler.port = int(server.sockets[0].getsockname()[1])
    try:
        yield handler
    finally:
        server.close()
        await server.wait_closed()


@dataclass
class Arrivals:
    """The Message-IDs that reached ``sink``, each with how often it came (a message sent twice counts 2)."""

    sink: Sink
    seen: collections.Counter[str] = field(default_factory=collections.Counter)

    async def receive(self) -> None:
        """Wait for the next message (at most a minute) and count it."""
        got = await self.sink.get(timeout=60)
        self.seen[str(got.message["Message-ID"])] += 1
