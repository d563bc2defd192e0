"""What an arriving message says about itself: RFC 3464 delivery reports, auto-submitted markers, references.

Owns: :func:`parse_dsn` (the first per-recipient block of a report), :func:`dsn_recipients` (every recipient a report
names, RFC 3461 xtext decoded), :func:`is_auto` (RFC 3834 and the common vendor markers), :func:`referenced_ids`
(In-Reply-To and References) and :func:`addresses`. Pure functions over parsed messages; the inbound face decides.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass
from email.message import Message

MSGID = re.compile(r"<[^<>\s]{1,250}>")


@dataclass
class Bounce:
    failed: bool
    text: str
    recipient: str = ""


def parse_dsn(msg: Message) -> Bounce | None:
    """RFC 3464: the first per-recipient block's Action/Status/Diagnostic-Code; None if not a delivery report."""
    if msg.get_content_type() != "multipart/report":
        return None
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        if not isinstance(blocks, list):
            return None
        for block in blocks[1:] or blocks:
            if not isinstance(block, Message):
                continue
            action = str(block.get("Action", "")).strip().lower()
            if not action:
                continue
            status = str(block.get("Status", "")).strip()
            diag = " ".join(str(block.get("Diagnostic-Code", "")).split())
            rcpt = str(block.get("Final-Recipient", "")).partition(";")[2].strip()
            failed = action == "failed" or status.startswith("5")
            return Bounce(failed, f"{status} {diag}".strip() or action, rcpt)
    return None


def referenced_ids(msg: Message) -> list[str]:
    text = f"{msg.get('In-Reply-To', '')} {msg.get('References', '')}"
    return MSGID.findall(text)[:100]


AUTO_PRECEDENCE = ("auto_reply", "bulk", "junk", "list")


def is_auto(msg: Message) -> bool:
    """Mail sent by a machine (RFC 3834 ``Auto-Submitted``, ``X-Autoreply``/``X-Autorespond``, ``Precedence``)."""
    auto = str(msg.get("Auto-Submitted", "no")).strip().lower()
    if auto not in ("", "no"):
        return True
    if msg.get("X-Autoreply") is not None or msg.get("X-Autorespond") is not None:
        return True
    return str(msg.get("Precedence", "")).strip().lower() in AUTO_PRECEDENCE


def dsn_recipients(msg: Message) -> set[str]:
    """Final-Recipient and Original-Recipient addresses of every per-recipient block of an RFC 3464 report."""
    found: set[str] = set()
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        for block in blocks if isinstance(blocks, list) else []:
            if isinstance(block, Message):
                for name in ("Final-Recipient", "Original-Recipient"):
                    value = str(block.get(name, "")).partition(";")[2].strip().lower()
                    if value:
                        found.update({value, xtext_decode(value)})
    return found


def xtext_decode(value: str) -> str:
    """RFC 3461 xtext: ``+XX`` back to the byte (Original-Recipient carries the ORCPT we sent)."""
    return re.sub(r"\+([0-9a-fA-F]{2})", lambda m: chr(int(m[1], 16)), value)


def addresses(*values: str) -> set[str]:
    return {a.lower() for _, a in email.utils.getaddresses([v for v in values if v]) if "@" in a}
