"""The ``smtp`` transport: hands each message to the configured relay with aiosmtplib over one kept connection.

Owns: connecting (optional STARTTLS and login), reusing the connection, DSN options only when the relay
advertises DSN (RFC 3461: ``RET=HDRS ENVID=<token>``, ``NOTIFY=FAILURE,DELAY ORCPT``), and mapping the relay's
answers to an :class:`Outcome` (2xx sent, 4xx and network trouble temporary, 5xx permanent with the text), and
DKIM-signing each message when a key is configured (:class:`DkimSigner`, dkimpy).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosmtplib

from directory.errors import SettingsError
from liaison.mail.transports import Envelope, Outcome
from liaison.settings import RelaySettings, Settings

_TEMPORARY_NETWORK = (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError, aiosmtplib.SMTPTimeoutError)


def xtext(value: str) -> str:
    """RFC 3461 §4: ``+XX`` (upper-case hex) for ``+``, ``=`` and every byte outside 0x21–0x7E (UTF-8 bytes)."""
    out = []
    for byte in value.encode("utf-8"):
        out.append(f"+{byte:02X}" if byte in (0x2B, 0x3D) or not 0x21 <= byte <= 0x7E else chr(byte))
    return "".join(out)


def _outcome(code: int, text: str) -> Outcome:
    if 200 <= code < 300:
        return Outcome("sent", code, text)
    return Outcome("temporary" if code < 500 else "permanent", code, f"{code} {text}".strip())


class DkimSigner:
    """Signs outgoing messages with the configured key (``[relay] dkim_*``), so receivers can check our mail."""

    HEADERS = (b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"reply-to", b"in-reply-to", b"references")

    def __init__(self, key_file: str, selector: str, domain: str) -> None:
        path = Path(key_file).expanduser()
        try:
            self.key = path.read_bytes()
        except OSError as exc:
            raise SettingsError(f"relay.dkim_key_file: cannot read {path}: {exc.strerror or exc}") from None
        if not selector:
            raise SettingsError("relay.dkim_selector: required with relay.dkim_key_file")
        self.selector, self.domain = selector.encode("ascii"), domain.encode("ascii")

    def sign(self, data: bytes) -> bytes:
        import dkim

        header: bytes = dkim.sign(data, self.selector, self.domain, self.key, include_headers=list(self.HEADERS))
        return header + data


class SmtpTransport:
    def __init__(self, relay: RelaySettings, signer: DkimSigner | None = None) -> None:
        self.relay = relay
        self.signer = signer
        self._smtp: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()

    async def _connection(self) -> aiosmtplib.SMTP:
        if self._smtp is not None and self._smtp.is_connected:
            return self._smtp
        r = self.relay
        smtp = aiosmtplib.SMTP(hostname=r.host, port=r.port, timeout=r.timeout, start_tls=r.starttls)
        await smtp.connect()
        if smtp.last_ehlo_response is None:
            await smtp.ehlo()  # learn the extensions (DSN) before the first MAIL
        if r.username:
            await smtp.login(r.username, r.password)
        self._smtp = smtp
        return smtp

    def offers_dsn(self) -> bool:
        return self._smtp is not None and self._smtp.supports_extension("dsn")

    async def send(self, envelope: Envelope) -> Outcome:
        async with self._lock:
            try:
                return await self._send(envelope)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                first = exc.recipients[0]
                return _outcome(first.code, first.message)
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code in (-1, 0):
                    await self._drop()
                    return Outcome("temporary", 421, f"中继连接失败：{exc.message}")
                return _outcome(exc.code, exc.message)
            except (*_TEMPORARY_NETWORK, OSError) as exc:
                await self._drop()
                return Outcome("temporary", 421, f"中继连接失败：{exc}")

    async def _send(self, envelope: Envelope) -> Outcome:
        smtp = await self._connection()
        mail_options: list[str] = []
        rcpt_options: list[str] = []
        if smtp.supports_extension("dsn"):
            mail_options = ["RET=HDRS", f"ENVID={envelope.token}"]
            rcpt_options = ["NOTIFY=FAILURE,DELAY", f"ORCPT=rfc822;{xtext(envelope.recipient)}"]
        data = envelope.data if self.signer is None else self.signer.sign(envelope.data)
        _, response = await smtp.sendmail(
            envelope.mail_from,
            [envelope.recipient],
            data,
            mail_options=mail_options,
            rcpt_options=rcpt_options,
        )
        return Outcome("sent", 250, response)

    async def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    async def aclose(self) -> None:
        async with self._lock:
            smtp, self._smtp = self._smtp, None
            if smtp is not None and smtp.is_connected:
                try:
                    await smtp.quit()
                except (aiosmtplib.SMTPException, OSError):
                    smtp.close()


def create(settings: Settings) -> SmtpTransport:
    r = settings.relay
    signer = (
        DkimSigner(r.dkim_key_file, r.dkim_selector, r.dkim_domain or settings.liaison.domain)
        if r.dkim_key_file
        else None
    )
    return SmtpTransport(r, signer)
