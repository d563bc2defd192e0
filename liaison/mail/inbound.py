"""Inbound SMTP face (aiosmtpd): role addresses, replies, bounces, and addresses other parts register.

Owns: the RCPT policy — only ``<region code>@<domain>`` of an office with e-mail, ``bounces+<token>@<domain>`` of a
message we sent, and the extra local parts the composition root passes in (``postmaster``, the meetings organiser
address); everything else, other domains included, is refused at RCPT, so this is never an open relay — and the DATA
handling: hooks first (``async (store, message, mail_from, rcpt_tos) -> bool``, e.g. meetings' iMIP REPLY), then bounces
(only an RFC 3464 report whose Final-/Original-Recipient is the address we sent to marks the delivery bounced and flags
the office's e-mail — not for forwards; auto-replies and anything else are archived only), replies
(In-Reply-To/References handed to the ``on_reply`` handlers — letters marks its deliveries replied, only from the office
the delivery went to —, never for auto mail; a bounce of a sent message goes to the ``on_bounce`` handlers) and
forwarding of role mail (to a retired region's code too, while its alias lasts) through the outbox to the office's
current e-mail: re-headed so that it cannot impersonate its sender (see :mod:`liaison.mail.forward`), stored once
however many mailboxes it goes to, one forward per mailbox, and within the hourly forward quotas of the sender and the
client (see :mod:`liaison.mail.limits`; a recipient or message beyond them gets 450). The message is stored (and
anything it causes committed) before the 250 answer; a message refused by a quota leaves nothing behind.

The server: at most ``[smtp] max_connections`` sessions, ``max_connections_per_client`` of them from one client
address, each closed after ``idle_timeout`` seconds without a command.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.policy
import email.utils
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage, Message
from typing import Protocol, cast

import sqlalchemy as sa
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.engine import Connection

from directory import clock
from directory.snapshot import OfficeView, Snapshot
from directory.store import Store
from liaison.mail import authcheck, bodies, forward, limits, outbox
from liaison.mail.dsn import addresses, dsn_recipients, is_auto, parse_dsn, referenced_ids
from liaison.mail.headers import message_id, raw_values
from liaison.mail.models import inbound_t, outbox_t
from liaison.settings import Settings

log = logging.getLogger(__name__)
Hook = Callable[[Store, EmailMessage, str, list[str]], Awaitable[bool]]
SenderCheck = Callable[[Mapping[str, object]], bool]


class BounceHandler(Protocol):
    """Told, inside the inbound transaction, that outbox row ``outbox_id`` bounced with ``text``."""

    def __call__(self, conn: Connection, outbox_id: int, text: str) -> object: ...


class ReplyHandler(Protocol):
    """Told, inside the inbound transaction, of a reply to ``message_ids``; returns the ids of what it marked.

    ``sender_ok`` says whether a delivery row (with ``address``, ``region_code``, ``via_code``) went to the sender.
    """

    def __call__(
        self, conn: Connection, message_ids: Sequence[str], at: dt.datetime, *, sender_ok: SenderCheck
    ) -> Sequence[int]: ...


REGION_CODE = re.compile(r"^[0-9]{12}$")
MAX_RECIPIENTS = 50


class Refused(Exception):
    """A message that must not be taken (a forward quota): nothing is stored, ``answer`` goes to the client."""

    def __init__(self, answer: str) -> None:
        super().__init__(answer)
        self.answer = answer


def is_role(address: str) -> bool:
    return REGION_CODE.match(address.rpartition("@")[0]) is not None


@dataclass
class Inbound:
    """The protocol-free core: decides, stores and acts; the aiosmtpd handler only maps its answers to SMTP."""

    store: Store
    settings: Settings
    snapshot: Callable[[], Snapshot]
    local_parts: set[str] = field(default_factory=lambda: {"postmaster"})  # add more, e.g. "meetings"
    hooks: list[Hook] = field(default_factory=list)
    on_bounce: list[BounceHandler] = field(default_factory=list)  # e.g. letters: the delivery bounced
    on_reply: list[ReplyHandler] = field(default_factory=list)  # e.g. letters: the delivery was answered
    on_queued: Callable[[], None] = lambda: None
    dns: authcheck.Dns | None = None  # None: senders are not checked (SPF, DKIM, DMARC; see ``authcheck``)

    @property
    def domain(self) -> str:
        return self.settings.liaison.domain.lower()

    def check_recipient(self, address: str) -> str | None:
        """None if ``address`` is ours and live, else the SMTP refusal (ASCII)."""
        local, _, domain = address.rpartition("@")
        if domain.lower() != self.domain or not local:
            return "550 5.7.1 Relaying denied: this server accepts mail only for its own domain"
        if local.lower() in self.local_parts:
            return None
        if REGION_CODE.match(local):
            office = self.office_for(local)
            return None if office is not None and office.email else "550 5.1.1 No such office mailbox"
        token = outbox.parse_bounce_address(local)
        if token is not None and self._token_known(token):
            return None
        return "550 5.1.1 No such user here"

    def office_for(self, code: str) -> OfficeView | None:
        """The office of a role address's code, or of its successor while a retired code's alias lasts."""
        snap = self.snapshot()
        successor = None if code in snap.offices else self.store.alias_of(code)
        return snap.office(successor or code)

    def admit(self, address: str, mail_from: str, client: str, roles_before: int) -> str | None:
        """:meth:`check_recipient`, and for a role address also the forward quotas (with the role recipients
        already accepted in this transaction counted as forwards to come)."""
        refusal = self.check_recipient(address)
        if refusal is not None or not is_role(address):
            return refusal
        with self.store.read() as conn:
            sender = limits.sender_key(mail_from)
            return limits.refusal(conn, self.settings.smtp, sender, client, roles_before + 1, clock.now())

    def _token_known(self, token: str) -> bool:
        with self.store.read() as conn:
            return conn.execute(sa.select(outbox_t.c.id).where(outbox_t.c.token == token)).first() is not None

    async def deliver(self, raw: bytes, mail_from: str, rcpt_tos: list[str], client: str = "") -> str:
        parsed = message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        if self.dns is not None and self.settings.smtp.check_senders:  # the verdict goes on top of the message
            raw = await asyncio.to_thread(authcheck.checked, self.dns, self.settings, raw, parsed, mail_from, client)
        for hook in self.hooks:
            if await hook(self.store, parsed, mail_from, rcpt_tos):
                await self.store.run(self._record, raw, mail_from, rcpt_tos, parsed, "hook", "由扩展处理")
                return "250 2.0.0 OK: handled"
        try:
            flagged = await self.store.run(self._process, raw, mail_from, rcpt_tos, parsed, client)
        except Refused as refused:
            return refused.answer
        for code, note in flagged:
            await self.store.run(self.store.set_email_status, code, "bouncing", note, "退信")
        self.on_queued()
        return "250 2.0.0 OK: stored"

    def _record(self, raw: bytes, mail_from: str, rcpt: Sequence[str], msg: Message, kind: str, note: str) -> None:
        with self.store.begin() as conn:
            self._insert(conn, raw, mail_from, rcpt, msg, kind, note)

    def _insert(
        self,
        conn: Connection,
        raw: bytes,
        mail_from: str,
        rcpt: Sequence[str],
        msg: Message,
        kind: str,
        note: str,
        **counted: object,
    ) -> None:
        values = {
            **counted,
            "received_at": clock.now(),
            "mail_from": mail_from[:300],
            "rcpt_tos": ",".join(rcpt)[:3000],
            "message_id": message_id(msg)[:300],
            "kind": kind,
            "note": note[:1000],
            "raw": raw,
        }
        conn.execute(sa.insert(inbound_t).values(**values))

    def _process(
        self, raw: bytes, mail_from: str, rcpt_tos: list[str], msg: EmailMessage, client: str
    ) -> list[tuple[str, str]]:
        """Store the message and act on it in one transaction; returns offices whose e-mail must be flagged.

        Raises :class:`Refused` (and nothing is written) when its forwards would exceed a quota."""
        flagged: list[tuple[str, str]] = []
        notes: list[str] = []
        kinds: list[str] = []
        targets: dict[str, list[str]] = {}  # office mailbox → the role addresses that lead there
        with self.store.begin() as conn:
            for rcpt in dict.fromkeys(r.lower() for r in rcpt_tos):
                local = rcpt.rpartition("@")[0]
                token = outbox.parse_bounce_address(local)
                if token is not None:
                    kinds.append("bounce")
                    notes.append(self._bounce(conn, token, msg, mail_from, flagged))
                elif REGION_CODE.match(local):
                    kinds.append("role")
                    notes.append(self._role(conn, local, msg, mail_from, targets))
                else:
                    kinds.append("local")
            sender = limits.sender_key(mail_from)
            refusal = limits.refusal(conn, self.settings.smtp, sender, client, len(targets), clock.now())
            if refusal is not None:
                raise Refused(refusal)
            self._forward(conn, raw, msg, mail_from, targets)
            kind = kinds[0] if len(set(kinds)) == 1 else "mixed"
            counted = {"sender_key": sender, "client_key": client, "forwards": len(targets)}
            self._insert(conn, raw, mail_from, rcpt_tos, msg, kind, "；".join(notes), **counted)
        return flagged

    def _bounce(
        self, conn: Connection, token: str, msg: Message, mail_from: str, flagged: list[tuple[str, str]]
    ) -> str:
        report = parse_dsn(msg)
        if report is None:
            return "自动回复，仅存档" if is_auto(msg) or mail_from in ("", "<>") else "非退信报告，仅存档"
        if not report.failed:
            return "延迟通知，仅存档"
        row = outbox.by_token(conn, token)
        if row is None:
            return "退信对应的邮件不存在"
        recipient = str(row["recipient"]).lower()
        if recipient not in dsn_recipients(msg):
            return f"退信报告的收件人与原邮件（{recipient}）不符，仅存档"
        outbox.mark_bounced(conn, token, report.text)
        if row["kind"] == "forward":  # the office's mailbox refused someone else's mail: do not flag the office
            return f"转发的邮件被退回：{report.text}"
        for handler in self.on_bounce:
            handler(conn, int(row["id"]), report.text)
        for office in self.snapshot().offices.values():
            if office.email and office.email.lower() == recipient:
                flagged.append((office.region_code, f"退信：{report.text}"[:1000]))
        return f"退信：{report.text}"

    def _from_office(self, senders: set[str]) -> SenderCheck:
        """Whether a delivery's office (or the office that passes it on) is among ``senders``."""

        def ok(delivery: Mapping[str, object]) -> bool:
            known = {str(delivery["address"]).lower()}
            for code in {str(delivery["region_code"]), str(delivery["via_code"])}:
                known.add(f"{code}@{self.domain}")
                office = self.snapshot().office(code)
                if office is not None and office.email:
                    known.add(office.email.lower())
            return bool(known & senders)

        return ok

    def _role(
        self, conn: Connection, code: str, msg: EmailMessage, mail_from: str, targets: dict[str, list[str]]
    ) -> str:
        note = ""
        if not is_auto(msg) and mail_from not in ("", "<>"):
            senders = addresses(*raw_values(msg, "From"), mail_from)
            ids, now, ok = referenced_ids(msg), clock.now(), self._from_office(senders)
            replied = [i for handler in self.on_reply for i in handler(conn, ids, now, sender_ok=ok)]
            note = f"回复了投递 {replied}；" if replied else ""
        office = self.office_for(code)
        role = f"{code}@{self.domain}"
        if office is None or not office.email or office.email.lower().endswith("@" + self.domain):
            return note + "单位无可转发的邮箱"
        if any(str(v).strip().lower() == role for v in msg.get_all("Delivered-To", [])):
            return note + "检测到邮件回环，未转发"
        targets.setdefault(office.email.lower(), []).append(role)
        return note + f"已转发至 {office.email}"

    def _forward(
        self, conn: Connection, raw: bytes, msg: EmailMessage, mail_from: str, targets: Mapping[str, list[str]]
    ) -> None:
        """One forward per mailbox, all ending with the same re-headed message, which is stored once."""
        if not targets:
            return
        shared = bodies.store(conn, forward.reheaded(raw, msg, mail_from, self.domain))
        forward_id = message_id(msg) or email.utils.make_msgid(domain=self.domain)
        for mailbox, roles in targets.items():
            head = forward.trace_head(roles)
            code = roles[0].partition("@")[0]
            outbox.enqueue_raw(
                conn, head, message_id=forward_id, recipient=mailbox, kind="forward", ref=code, shared=shared
            )


class Handler:
    """aiosmtpd hooks over :class:`Inbound` (one small method per SMTP command)."""

    def __init__(self, core: Inbound) -> None:
        self.core = core

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        roles = sum(1 for r in envelope.rcpt_tos if is_role(r))
        client = limits.client_key(session.peer)
        mail_from = str(envelope.mail_from or "")
        refusal = await self.core.store.run(self.core.admit, address, mail_from, client, roles)
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        try:
            client = limits.client_key(session.peer)
            return await self.core.deliver(raw, str(envelope.mail_from or ""), list(envelope.rcpt_tos), client)
        except Exception:
            log.exception("inbound message not stored")
            return "451 4.3.0 Temporary failure storing the message, try again later"


class _LimitedSMTP(SMTP):
    """aiosmtpd's protocol that answers ``421`` and hangs up when ``[smtp] max_connections`` are already open, or
    ``max_connections_per_client`` from the same client address."""

    def __init__(self, handler: Handler, gate: InboundServer, **kwargs: object) -> None:
        super().__init__(handler, **kwargs)  # type: ignore[arg-type]
        self._gate = gate
        self._refused = False
        self._client = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        s = self._gate.core.settings.smtp
        self._client = limits.client_key(transport.get_extra_info("peername"))
        refusal = None
        if self._gate.active >= s.max_connections:
            refusal = b"421 4.7.0 Too many connections, try again later\r\n"
        elif self._gate.per_client.get(self._client, 0) >= s.max_connections_per_client:
            refusal = b"421 4.7.0 Too many connections from your address, try again later\r\n"
        if refusal is not None:
            self._refused = True
            self._gate.refused += 1
            # asyncio's or uvloop's transport (uvloop's are not asyncio.WriteTransport subclasses)
            cast(asyncio.WriteTransport, transport).write(refusal)
            transport.close()
            return
        self._gate.active += 1
        self._gate.per_client[self._client] = self._gate.per_client.get(self._client, 0) + 1
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    def eof_received(self) -> bool | None:
        return None if self._refused else super().eof_received()

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        self._gate.active -= 1
        left = self._gate.per_client.pop(self._client, 1) - 1
        if left > 0:
            self._gate.per_client[self._client] = left
        super().connection_lost(error)


class InboundServer:
    """aiosmtpd's SMTP protocol on ``[smtp] host/port`` in the service's event loop, at most ``[smtp]
    max_connections`` sessions at once and ``max_connections_per_client`` from one client (more are answered ``421``
    and closed), each closed after ``idle_timeout`` seconds without a command."""

    def __init__(self, core: Inbound) -> None:
        self.core = core
        self._server: asyncio.Server | None = None
        self.active = 0
        self.refused = 0
        self.per_client: dict[str, int] = {}  # open sessions per client key (see limits.client_key)

    async def start(self) -> tuple[str, int]:
        s = self.core.settings.smtp
        handler = Handler(self.core)
        loop = asyncio.get_running_loop()

        def factory() -> SMTP:
            return _LimitedSMTP(
                handler,
                self,
                data_size_limit=s.max_message_size,
                hostname=self.core.domain,
                ident="Bohai Liaison",
                timeout=float(s.idle_timeout),
            )

        self._server = await loop.create_server(factory, s.host, s.port)
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
