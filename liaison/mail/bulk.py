"""Plain-text mails built fast, for queueing thousands at once (a campaign's notices).

Owns: :class:`PlainTemplate` — the headers every message of a batch shares (From, MIME and content headers,
``Auto-Submitted``, Date) are built once by the ``email`` package, and each message adds only its own To, Subject
(RFC 2047, UTF-8 base64 encoded-words) and Message-ID and its body (UTF-8, base64, 76-character lines). The
``email`` package's header folding costs milliseconds per message; this is the same bytes' shape in microseconds.
Only what is safe in a header is accepted: a To address that is one plain ASCII addr-spec and a Subject without
line breaks or control characters; anything else raises ValueError (the caller builds that one the slow way).
"""

from __future__ import annotations

import base64
import email.policy
import email.utils
import re
from email.headerregistry import Address
from email.message import EmailMessage

from liaison.mail import headers

_ADDR = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_WORD_BYTES = 42  # 42 bytes → 56 base64 characters: "Subject: " and one encoded-word fit in 78 columns
CRLF = b"\r\n"


def encoded_words(text: str) -> bytes:
    """``text`` as RFC 2047 encoded-words (UTF-8, base64), one per folded line, never splitting a character."""
    if text.isascii() and text.isprintable() and len(text) < 70 and "=?" not in text:
        return text.encode("ascii")
    words: list[bytes] = []
    chunk = b""
    for ch in text:
        b = ch.encode("utf-8")
        if len(chunk) + len(b) > _WORD_BYTES:
            words.append(chunk)
            chunk = b""
        chunk += b
    if chunk:
        words.append(chunk)
    return b"\r\n ".join(b"=?utf-8?b?" + base64.b64encode(w) + b"?=" for w in words)


class PlainTemplate:
    """The shared part of a batch of plain-text messages from one sender."""

    def __init__(self, sender: Address | str, *, domain: str) -> None:
        shared = EmailMessage()
        shared["From"] = sender
        shared["Date"] = email.utils.formatdate(localtime=False)
        shared["Auto-Submitted"] = "auto-generated"
        shared.set_content("x", charset="utf-8", cte="base64")
        raw = shared.as_bytes(policy=email.policy.SMTP)
        self.head = raw[: raw.index(b"\r\n\r\n") + 2]
        self.domain = domain

    def build(self, to: str, subject: str, text: str) -> tuple[bytes, str]:
        """The message's bytes and its Message-ID."""
        if not _ADDR.match(to):
            raise ValueError(f"not one plain address: {to!r}")
        if headers.one_line(subject) != subject:
            raise ValueError("subject holds characters not allowed in a header")
        message_id = email.utils.make_msgid(domain=self.domain)
        body = base64.encodebytes(text.encode("utf-8")).replace(b"\n", CRLF)
        own = b"To: " + to.encode("ascii") + CRLF + b"Subject: " + encoded_words(subject) + CRLF
        own += b"Message-ID: " + message_id.encode("ascii") + CRLF
        return own + self.head + CRLF + body, message_id
