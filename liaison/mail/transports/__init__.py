"""Outbound transports, chosen by name (Radicale-style ``load``): ``smtp`` (the relay), ``fax`` (RFC 3192 addresses
through the relay to the e-mail-to-fax gateway) and ``null`` (accept and keep nothing, for trials).

Owns: the transport interface (:class:`Transport`: ``send(Envelope) -> Outcome``, ``aclose()``) and :func:`load`.
An :class:`Outcome` says ``sent``, ``temporary`` (4xx or network trouble: retry later) or ``permanent`` (5xx: fail,
keep the server's text).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Literal, Protocol

from directory.errors import SettingsError
from liaison.settings import Settings

NAMES = ("smtp", "fax", "null")


@dataclass(frozen=True)
class Envelope:
    mail_from: str
    recipient: str
    data: bytes
    token: str  # ENVID for DSN


@dataclass(frozen=True)
class Outcome:
    status: Literal["sent", "temporary", "permanent"]
    code: int = 250
    text: str = ""


class Transport(Protocol):
    async def send(self, envelope: Envelope) -> Outcome: ...

    async def aclose(self) -> None: ...


def load(name: str, settings: Settings) -> Transport:
    """The transport called ``name`` (``smtp``, ``fax`` or ``null``), configured from ``settings``."""
    if name not in NAMES:
        raise SettingsError(f"liaison.transport: unknown transport {name!r}; known: {', '.join(NAMES)}")
    module = importlib.import_module(f"liaison.mail.transports.{name}")
    transport: Transport = module.create(settings)
    return transport
