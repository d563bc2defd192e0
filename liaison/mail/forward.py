"""How a message to a role address is passed on to the office's own mailbox.

Owns: re-heading the original (:func:`reheaded`) and the per-mailbox trace lines (:func:`trace_head`). A forward
must not impersonate its sender: the receiving office would otherwise see mail "from" anyone at all, delivered by
our relay. So the visible From becomes ``"<original sender> via 渤海联络" <noreply@<liaison domain>>`` and the original
From (or the original Reply-To, when the sender gave one) goes into Reply-To, so that answering still reaches the
sender; ``X-Original-From`` keeps the original From for the record.

Everything else is kept byte for byte: the body and the original's other header lines, in their order. The header
lines we drop are From, Sender, Reply-To, Return-Path and X-Original-From (replaced by ours), and DKIM-Signature.

DKIM: the original signature covers From (RFC 6376 requires it), so it cannot verify after the From changed; it is
removed rather than left to fail. The forward's From is in the liaison domain, so for DMARC alignment the relay
should sign outgoing mail with ``d=<liaison domain>`` (e.g. Postfix with OpenDKIM), and SPF passes for the envelope
sender ``bounces+<token>@<liaison domain>`` when the relay is in the domain's SPF record. The original's
authentication is not carried over (ARC sealing would be the place for that, in the front MTA).
"""

from __future__ import annotations

import email.policy
import re
import unicodedata
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import getaddresses

FROM_LOCAL_PART = "noreply"
VIA = "渤海联络"
MAX_NAME = 60
DROPPED = frozenset({b"from", b"sender", b"reply-to", b"return-path", b"x-original-from", b"dkim-signature"})
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:")


def split(raw: bytes) -> tuple[list[bytes], bytes]:
    """The header fields (each with its folded continuation lines and line ends) and everything after them."""
    if raw.startswith((b"\r\n", b"\n")):
        return [], raw
    end = _HEADER_END.search(raw)
    cut = len(raw) if end is None else end.start() + (2 if raw[end.start() : end.start() + 1] == b"\r" else 1)
    head, body = raw[:cut], raw[cut:]
    fields: list[bytes] = []
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
    return fields, body


def field_name(line: bytes) -> bytes:
    match = _NAME.match(line)
    return match[1].lower() if match else b""


def field_value(line: bytes) -> bytes:
    """A field's value as it came, unfolded to one line (still encoded as the sender wrote it)."""
    value = line.partition(b":")[2]
    return b" ".join(value.split())


def shown_name(msg: Message, mail_from: str) -> str:
    """Who the original claims to be, as one clean line: the From display name (or address), else the envelope
    sender; controls, format characters (bidi overrides, zero-width) and line breaks are dropped."""
    try:
        found = getaddresses([str(v) for v in msg.get_all("From", [])])
    except Exception:  # a From the parser cannot read still gets forwarded
        found = []
    name, address = found[0] if found else ("", "")
    text = name.strip() or address.strip() or mail_from.strip().strip("<>") or "未知发件人"
    clean = "".join(c if unicodedata.category(c)[0] not in "CZ" else " " for c in text)
    return " ".join(clean.split())[:MAX_NAME] or "未知发件人"


def from_header(name: str, domain: str) -> bytes:
    """``From: "<name> via 渤海联络" <noreply@domain>`` encoded for SMTP: the name can never add an address."""
    holder = EmailMessage(policy=email.policy.SMTP)
    holder["From"] = Address(display_name=f"{name} via {VIA}", username=FROM_LOCAL_PART, domain=domain)
    head = holder.as_bytes()
    return head[: head.index(b"\r\n\r\n") + 2]


def reheaded(raw: bytes, msg: Message, mail_from: str, domain: str) -> bytes:
    """The forward of ``raw`` (parsed as ``msg``): our From, the sender in Reply-To, the rest as it came."""
    fields, body = split(raw)
    by_name: dict[bytes, bytes] = {}
    for line in fields:
        by_name.setdefault(field_name(line), line)
    answer_to = by_name.get(b"reply-to") or by_name.get(b"from")
    ours = [from_header(shown_name(msg, mail_from), domain)]
    if answer_to is not None and field_value(answer_to):
        ours.append(b"Reply-To: " + field_value(answer_to) + b"\r\n")
    elif mail_from.strip("<> "):
        ours.append(b"Reply-To: <" + mail_from.strip("<> ").encode("ascii", "replace") + b">\r\n")
    if b"from" in by_name and field_value(by_name[b"from"]):
        ours.append(b"X-Original-From: " + field_value(by_name[b"from"]) + b"\r\n")
    kept = [line for line in fields if field_name(line) not in DROPPED]
    return b"".join(ours + kept) + body


def trace_head(roles: list[str]) -> bytes:
    """``Delivered-To``/``X-Original-To`` for each role address that led to this mailbox (loops are seen by them)."""
    return b"".join(f"Delivered-To: {r}\r\nX-Original-To: {r}\r\n".encode("ascii") for r in roles)
