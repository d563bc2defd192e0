"""Header values of outgoing mail built from stored text: mailboxes whose display name cannot add an address, and
one-line subjects.

Owns: :func:`mailbox` — an :class:`email.headerregistry.Address`, so the email package quotes or RFC 2047-encodes
the display name and ``国务院办公厅 <gb@gov.example>`` stays a name instead of becoming a second mailbox (never
``formataddr`` of raw strings) — and :func:`one_line` for Subject. Both pass the text through
:func:`directory.textrules.clean_line` first. Values are checked when they are entered; this is the second line of
defence, so that a value stored before those rules (or a setting) can neither inject a header nor make a message
impossible to build, which would stop its letter or reminder.

For inbound mail it owns :func:`raw_values`, :func:`from_addresses` and :func:`message_id`: header values as sent,
read without the email package's structured parsing, which raises on hostile input (an encoded line break in a
display name, a Message-ID of ``<<>>``), so that one such message is stored and answered like any other instead of
failing its whole delivery with a temporary error that the sender would retry for days.
"""

from __future__ import annotations

from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import Message
from email.utils import getaddresses

from directory.textrules import clean_line


def one_line(text: str) -> str:
    """``text`` fit for an unstructured header such as Subject (no line breaks or invisible controls)."""
    return clean_line(text)


def mailbox(display_name: str, addr_spec: str) -> Address:
    """One mailbox; ``addr_spec`` must be one plain address, else ValueError (zh-CN, with the address)."""
    try:
        return Address(display_name=clean_line(display_name), addr_spec=addr_spec.strip())
    except (ValueError, IndexError, HeaderParseError) as exc:
        shown = addr_spec.encode("unicode_escape").decode("ascii")[:300]
        raise ValueError(f"邮件地址无效：{shown}") from exc


def raw_values(msg: Message, name: str) -> list[str]:
    """Every value of header ``name`` as it was sent (encoded words left encoded), unfolded to one line."""
    wanted = name.lower()
    return [" ".join(str(value).split()) for key, value in msg.raw_items() if key.lower() == wanted]


def from_addresses(msg: Message) -> list[str]:
    """The addresses of the From header, lower case, in order; a display name cannot disturb them."""
    return [address.strip().lower() for _, address in getaddresses(raw_values(msg, "From")) if "@" in address]


def message_id(msg: Message) -> str:
    """The Message-ID as sent ("" without one); ``<<>>`` would make the email package's own parser raise."""
    found = raw_values(msg, "Message-ID")
    return found[0] if found else ""
