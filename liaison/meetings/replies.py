"""iMIP replies arriving by mail at the organiser address (an inbound hook for ``liaison.inbound``).

Owns: recognising a METHOD:REPLY calendar in a message sent to the organiser address and applying each answer only
when the message's From address — and the envelope sender, when there is one — is the answering ATTENDEE, that
person is on the meeting's list, the reply's SEQUENCE is not older than the meeting's last time change, and the
sender passed the inbound checks (``liaison.mail.authcheck``: else each answer is recorded as unverified for the
organiser and not counted);
anything else (another sender, an unknown UID, a cancelled meeting, a stale answer) changes nothing and is logged.
The hook has the inbound hook signature ``async (store, message, mail_from, rcpt_tos) -> bool``; ``True`` means
the message was a reply to the organiser address and needs no further handling.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from email.message import EmailMessage, Message

from directory.errors import ValidationFailed
from directory.store import Store
from liaison.mail import authcheck
from liaison.mail.headers import from_addresses
from liaison.meetings import ical, rules
from liaison.meetings import store as meeting_store
from liaison.settings import Settings

log = logging.getLogger(__name__)
Hook = Callable[[Store, EmailMessage, str, Sequence[str]], Awaitable[bool]]
MAX_CALENDAR_BYTES = 256 * 1024


def calendar_parts(message: Message) -> list[bytes]:
    """The text/calendar (and application/ics) bodies of a message, each at most 256 KiB."""
    out = []
    for part in message.walk():
        if part.get_content_type() in ("text/calendar", "application/ics"):
            data = part.get_payload(decode=True)
            if isinstance(data, bytes) and len(data) <= MAX_CALENDAR_BYTES:
                out.append(data)
    return out


def sender_of(message: Message) -> str:
    """The one From address (lower case), or "" when there is none or more than one."""
    found = from_addresses(message)
    return found[0] if len(found) == 1 else ""


def apply_reply(
    store: Store, message: Message, mail_from: str = "", verdict: authcheck.Verdict | None = None
) -> list[str]:
    """Apply the answers of a REPLY message; returns a line per answer saying what happened (for logs and tests).

    ``mail_from`` is the SMTP envelope sender; when given (not the null sender) it must be the attendee as well.
    ``verdict`` is the inbound check of the sender (None: not checked); an untrusted one counts no answer and
    records each as unverified for the organiser."""
    sender = sender_of(message)
    envelope = mail_from.strip().strip("<>").lower()
    if envelope and envelope != sender:
        return [f"ignored: envelope sender {envelope} is not the From address {sender or '(none)'}"]
    report: list[str] = []
    for data in calendar_parts(message):
        try:
            replies = ical.parse_reply(data)
        except ValidationFailed:
            continue
        for reply in replies:
            if verdict is not None and not verdict.trusted():
                report.append(_unverified(store, sender, reply, verdict))
            else:
                report.append(_apply_one(store, sender, reply))
    return report


def _unverified(store: Store, sender: str, reply: ical.Reply, verdict: authcheck.Verdict) -> str:
    meeting = meeting_store.find_by_uid(store, reply.uid)
    if meeting is None:
        return f"ignored: no meeting with UID {reply.uid}"
    why = f"spf={verdict.spf} dkim={verdict.dkim} dmarc={verdict.dmarc}" + (
        f" (p={verdict.policy})" if verdict.policy else ""
    )
    after = {"email": reply.email, "partstat": reply.partstat, "authentication": why}
    with store.begin() as conn:
        store.audit(conn, f"imip:{sender or '?'}", "meeting", str(meeting.id), "reply_unverified", None, after)
    return f"unverified: {reply.email} {reply.partstat} for meeting {meeting.id} not counted ({why})"


def _apply_one(store: Store, sender: str, reply: ical.Reply) -> str:
    if not sender or reply.email != sender:
        return f"ignored: From {sender or '(none)'} is not the attendee {reply.email}"
    meeting = meeting_store.find_by_uid(store, reply.uid)
    if meeting is None:
        return f"ignored: no meeting with UID {reply.uid}"
    if reply.sequence > meeting.sequence:
        return f"ignored: SEQUENCE {reply.sequence} is newer than the meeting's {meeting.sequence}"
    if reply.sequence < meeting.time_sequence:
        return f"ignored: SEQUENCE {reply.sequence} answers a time changed at SEQUENCE {meeting.time_sequence}"
    if not rules.set_partstat(store, meeting.id, reply.email, reply.partstat, via="imip", sequence=reply.sequence):
        return f"ignored: {reply.email} is not on the list of meeting {meeting.id} or it is cancelled"
    return f"applied: {reply.email} {reply.partstat} for meeting {meeting.id}"


def reply_hook(settings: Settings) -> Hook:
    """The inbound hook: handles messages to the organiser address that carry a METHOD:REPLY calendar."""
    organiser = rules.organiser_address(settings)
    authserv_id = authcheck.authserv_id(settings)

    async def hook(store: Store, message: EmailMessage, mail_from: str, rcpt_tos: Sequence[str]) -> bool:
        if organiser not in {r.lower() for r in rcpt_tos} or not calendar_parts(message):
            return False
        verdict = authcheck.recorded(message, authserv_id) if settings.smtp.check_senders else None
        for line in await store.run(apply_reply, store, message, mail_from, verdict):
            log.info("iMIP reply from %s: %s", mail_from, line)
        return True

    return hook
