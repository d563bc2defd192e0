"""The ``fax`` transport: RFC 3192 addresses (``FAX=+8631187654321@<gateway>``) handed to the relay by SMTP.

Owns: building and checking RFC 3192 fax addresses from stored numbers (phonenumbers, E.164) and refusing to send
anything else through the gateway. The relay (Postfix) routes the gateway's domain to the e-mail-to-fax service.
"""

from __future__ import annotations

import re

import phonenumbers

from directory.validate import from_stored
from liaison.mail.transports import Envelope, Outcome
from liaison.mail.transports.smtp import SmtpTransport
from liaison.settings import Settings

FAX_ADDRESS = re.compile(r"^FAX=\+[1-9][0-9]{6,14}@[A-Za-z0-9.-]+$")


def fax_address(stored_number: str, gateway: str) -> str | None:
    """``FAX=+<E.164 digits>@gateway`` for a stored fax number, or None when there is no usable number or gateway."""
    if not gateway or not stored_number:
        return None
    number = from_stored(stored_number)
    if number is None or not phonenumbers.is_possible_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return f"FAX={e164}@{gateway}"


class FaxTransport:
    def __init__(self, smtp: SmtpTransport, gateway: str) -> None:
        self.smtp = smtp
        self.gateway = gateway.lower()

    async def send(self, envelope: Envelope) -> Outcome:
        if not FAX_ADDRESS.match(envelope.recipient) or not envelope.recipient.lower().endswith("@" + self.gateway):
            return Outcome("permanent", 553, f"不是本传真网关的 RFC 3192 地址：{envelope.recipient}")
        return await self.smtp.send(envelope)

    async def aclose(self) -> None:
        await self.smtp.aclose()


def create(settings: Settings) -> FaxTransport:
    return FaxTransport(SmtpTransport(settings.relay), settings.fax.gateway)
