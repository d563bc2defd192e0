"""The asyncio LDAP server: connections, framing, dispatch of operations, binds, StartTLS and limits.

Owns: ``LdapServer`` (listeners for ldap:// and ldaps://, the connection count; binds are judged by the
``authenticate`` seam it is given — the accounts' one login check with its throttling — and answered through
``results``, the one table of result codes) and ``Connection`` (one asyncio.Protocol per client:
frames PDUs under ``max_pdu_size``, dispatches each operation to one small ``handle_<op>`` method with
``handle_unknown`` as fallback, closes idle connections, and answers a malformed PDU with a Notice of Disconnection
that closes only that connection). Searches go to ``search.Searcher`` over the current Snapshot's index, paced by
one ``pacing.Pacer`` so that a heavy search runs in slices between which the event loop serves everyone else; a
search over the decoding limits is answered with adminLimitExceeded. Nothing here knows the DIT, and nothing here
reads accounts or hashes passwords.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from directory.errors import AuthenticationFailed, BohaiError, Busy, Throttled
from directory.ldap import filtertree as ft
from directory.ldap import messages as m
from directory.ldap import ops
from directory.ldap.backend import DirectoryIndex
from directory.ldap.ber import BerError, frame_size
from directory.ldap.pacing import Job, Pacer
from directory.ldap.paging import PagedResults
from directory.ldap.results import result_of
from directory.ldap.search import Limits, Outcome, Searcher
from directory.privacy import ANONYMOUS, Viewer, viewer_of
from directory.readlimits import ReadBudget, exemptions, reader_key
from directory.settings import LdapSettings

log = logging.getLogger(__name__)
MAX_PENDING = 256  # requests queued behind a running bind or StartTLS
# A bind refused without judging the password (throttled, or the hash pool full) is answered after this pause, the
# connection's later requests waiting behind it: answered at once, 200 connections flooding binds made the loop do
# over a thousand answers a second, and every other face waited.
REFUSED_BIND_HOLD = 1.0


class Authenticate(Protocol):
    """Judges a simple bind: returns if ``password`` is right for ``dn``, else raises a domain error
    (``AuthenticationFailed``, ``Throttled``, ``Busy``, ``StorageError``) that ``results`` maps to a code."""

    def __call__(self, dn: str, password: str, client_address: str) -> Awaitable[object]: ...


@dataclass
class LdapServer:
    settings: LdapSettings
    index: Callable[[], DirectoryIndex]
    authenticate: Authenticate | None = None  # None: no account can bind (anonymous binds only)
    tls: ssl.SSLContext | None = None
    searcher: Searcher = field(init=False)
    connections: set[Connection] = field(default_factory=set)
    servers: list[asyncio.Server] = field(default_factory=list)

    def __post_init__(self) -> None:
        s = self.settings
        self.reads = ReadBudget(s.entries_per_minute, exemptions(s.entries_exempt))  # the scraping limit
        self.pacer = Pacer()
        self.decode_limits = ft.DecodeLimits(s.max_filter_bytes, s.max_filter_terms, s.max_search_attributes)
        paged = PagedResults(s.paged_budget_bytes, s.paged_sets_per_connection, s.paged_idle_timeout)
        self.searcher = Searcher(
            self.index, Limits(s.size_limit, s.time_limit), self.tls is not None, paged=paged, due=self.pacer.due
        )

    def protocol(self) -> Connection:
        return Connection(self)

    async def listen(self, host: str, port: int, *, ldaps: bool = False) -> str:
        """Start one listener; returns its URL with the bound port."""
        ctx = self.tls if ldaps else None
        server = await asyncio.get_running_loop().create_server(self.protocol, host, port, ssl=ctx)
        self.servers.append(server)
        sock_host, sock_port = server.sockets[0].getsockname()[:2]
        shown = f"[{sock_host}]" if ":" in sock_host else sock_host
        return f"{'ldaps' if ldaps else 'ldap'}://{shown}:{sock_port}"

    async def close(self) -> None:
        for server in self.servers:
            server.close()
        for conn in list(self.connections):
            conn.abort()
        for server in self.servers:
            await server.wait_closed()
        self.servers.clear()


class Connection(asyncio.Protocol):
    """One client connection; operations of one connection are answered in order."""

    def __init__(self, server: LdapServer) -> None:
        self.server = server
        self.settings = server.settings
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.pending: collections.deque[m.Message] = collections.deque()
        self.busy = False
        self.work: asyncio.Task[None] | None = None  # the running bind or StartTLS, if any
        self.bound_dn = ""
        self.viewer: Viewer = ANONYMOUS  # what this connection's bind may see of personal data
        self.account = ""  # the bound account's name (the scraping limit counts by it, else by address)
        self.peer = "?"
        self.search_job: tuple[int, Job[Outcome]] | None = None  # (message ID, job) of a search under way
        self.tls_active = False
        self.last_activity = time.monotonic()
        self.idle_handle: asyncio.TimerHandle | None = None
        self.closed = False
        self.write_paused = False  # the client does not read: stop reading its requests until it does

    # -- connection lifecycle ----------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio.Transport subclasses
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else "?"
        self.tls_active = transport.get_extra_info("sslcontext") is not None
        if len(self.server.connections) >= self.settings.max_connections:
            self.disconnect(m.BUSY, "连接数已达上限 (too many connections)")
            return
        self.server.connections.add(self)
        self._arm_idle()

    def pause_writing(self) -> None:
        """Backpressure: a client that does not read its results gets no more requests read (memory stays
        bounded by one result plus the socket buffers), instead of results piling up in our write buffer."""
        self.write_paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()
            self._drain_pending()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        if self.idle_handle is not None:
            self.idle_handle.cancel()
        if self.search_job is not None:
            self.search_job[1].cancel()
        self.server.searcher.paged.forget(self)

    def _arm_idle(self) -> None:
        timeout = self.settings.idle_timeout
        if timeout > 0 and not self.closed:
            delay = self.last_activity + timeout - time.monotonic()
            self.idle_handle = asyncio.get_running_loop().call_later(max(delay, 0.01), self._idle_check)

    def _idle_check(self) -> None:
        if time.monotonic() - self.last_activity >= self.settings.idle_timeout and not self.busy:
            self.disconnect(m.UNAVAILABLE, "空闲超时 (idle timeout)")
        else:
            self._arm_idle()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def disconnect(self, code: int, text: str) -> None:
        """Notice of Disconnection (RFC 4511 §4.4.1), then close only this connection."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(m.notice_of_disconnection(code, text))
            self.transport.close()
        self.closed = True
        self.buffer.clear()
        self.pending.clear()

    def send(self, msgid: int, op: bytes, controls: bytes = b"") -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(m.message(msgid, op, controls))

    # -- input ---------------------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.last_activity = time.monotonic()
        self.buffer += data
        try:
            while not self.closed and not self.write_paused:
                size = frame_size(self.buffer, self.settings.max_pdu_size)
                if size is None:
                    break
                pdu = bytes(self.buffer[:size])
                del self.buffer[:size]
                self.receive(m.decode_message(pdu, self.server.decode_limits))
        except BerError as exc:
            log.info("ldap: malformed PDU from %s: %s", self.peer, exc)
            self.disconnect(m.PROTOCOL_ERROR, f"协议错误 (malformed PDU): {exc}")

    def receive(self, msg: m.Message) -> None:
        if isinstance(msg.op, m.AbandonRequest):
            self.handle_abandon(msg)
        elif self.busy:
            if len(self.pending) >= MAX_PENDING:
                self.disconnect(m.BUSY, "排队的请求过多 (too many requests queued during a bind)")
                return
            self.pending.append(msg)
        else:
            self.dispatch(msg)

    def dispatch(self, msg: m.Message) -> None:
        name = ops.HANDLERS.get(type(msg.op), "handle_unknown")
        handler: Callable[[m.Message], None] = getattr(self, name)
        try:
            handler(msg)
        except Exception:  # a bug answers this request with 80, the server keeps serving
            log.exception("ldap: %s failed", m.describe(msg.op))
            self.send(msg.msgid, ops.error_op(msg.op, m.OTHER, "服务器内部错误 (internal error)"))

    def _run_async(self, msg: m.Message, work: Callable[[m.Message], Any]) -> None:
        """Run an operation that awaits (bind, StartTLS); later requests wait in ``pending``."""
        self.busy = True

        async def runner() -> None:
            try:
                await work(msg)
            except Exception as exc:
                code, text = result_of(exc)
                if code == m.OTHER:
                    log.exception("ldap: %s failed", m.describe(msg.op))
                self.send(msg.msgid, ops.error_op(msg.op, code, text))
            finally:
                self.busy = False
                self._drain_pending()

        self.work = asyncio.get_running_loop().create_task(runner())

    def _drain_pending(self) -> None:
        while self.pending and not self.busy and not self.closed and not self.write_paused:
            self.dispatch(self.pending.popleft())
        if not self.busy and not self.closed and self.buffer:
            self.data_received(b"")

    # -- operations ----------------------------------------------------------------------------------------------

    def handle_bind(self, msg: m.Message) -> None:
        req = msg.op
        assert isinstance(req, m.BindRequest)
        answer = ops.bind_without_password_check(req)
        if answer is None:
            self.bound_dn, self.viewer, self.account = "", ANONYMOUS, ""
            self._run_async(msg, self._bind_account)
            return
        if req.version in (2, 3) and req.simple:
            self.bound_dn, self.viewer, self.account = "", ANONYMOUS, ""  # any simple bind ends the previous one
        self.send(msg.msgid, answer)

    async def _bind_account(self, msg: m.Message) -> None:
        req = msg.op
        assert isinstance(req, m.BindRequest)
        password = req.password.decode("utf-8", "replace")
        try:
            if self.server.authenticate is None:
                raise AuthenticationFailed("no accounts")
            who = await self.server.authenticate(req.name, password, self.peer)
        except BohaiError as exc:
            code, text = result_of(exc)
            if isinstance(exc, (Throttled, Busy)):
                await asyncio.sleep(REFUSED_BIND_HOLD)
            self.send(msg.msgid, m.result(m.BIND_RESP, code, text))
            return
        self.bound_dn, self.viewer = req.name, viewer_of(who)
        self.account = getattr(who, "username", "")
        self.send(msg.msgid, m.result(m.BIND_RESP, m.SUCCESS))

    def handle_search(self, msg: m.Message) -> None:
        req = msg.op
        assert isinstance(req, m.SearchRequest)
        if not self.settings.anonymous_search and not self.bound_dn and not ops.public(req):
            text = "匿名查询已关闭，请先绑定 (anonymous search disabled; bind first)"
            self.send(msg.msgid, m.result(m.SEARCH_DONE, m.INSUFFICIENT_ACCESS, text))
            return
        if (refusal := self.server.reads.refusal(reader_key(self.account, self.peer))) is not None:
            self.send(msg.msgid, m.result(m.SEARCH_DONE, m.ADMIN_LIMIT_EXCEEDED, refusal))
            return
        steps = self.server.searcher.steps(req, msg.controls, self)
        finished, out = self.server.pacer.first(steps)
        if finished:
            assert out is not None
            self._answer_search(msg, out)
            return
        self.busy = True  # later requests of this connection wait until this search is answered
        job = self.server.pacer.later(steps, lambda out, exc: self._searched(msg, out, exc))
        self.search_job = (msg.msgid, job)

    def _searched(self, msg: m.Message, out: Outcome | None, exc: BaseException | None) -> None:
        self.search_job = None
        self.busy = False
        if exc is not None:
            log.error("ldap: %s failed", m.describe(msg.op), exc_info=exc)
            self.send(msg.msgid, ops.error_op(msg.op, m.OTHER, "服务器内部错误 (internal error)"))
        elif out is not None and not self.closed:
            self._answer_search(msg, out)
        self._drain_pending()

    def _answer_search(self, msg: m.Message, out: Outcome) -> None:
        assert self.transport is not None
        self.server.reads.charge(reader_key(self.account, self.peer), len(out.entries))
        done = m.result(m.SEARCH_DONE, out.code, out.text, out.matched)
        answer = m.search_answer(msg.msgid, out.entries, done, m.controls(*out.controls))
        if not self.transport.is_closing():
            self.transport.write(answer)

    def handle_refused(self, msg: m.Message) -> None:
        req = msg.op
        assert isinstance(req, m.RefusedRequest)
        log.info("ldap: %s from %s refused: %s", m.describe(req), self.peer, req.text)
        tag = ops.RESPONSE_TAGS_BY_OP.get(req.tag, m.EXTENDED_RESP)
        self.send(msg.msgid, m.result(tag, m.ADMIN_LIMIT_EXCEEDED, req.text))

    def handle_compare(self, msg: m.Message) -> None:
        req = msg.op
        assert isinstance(req, m.CompareRequest)
        if not self.settings.anonymous_search and not self.bound_dn:
            text = "匿名查询已关闭，请先绑定 (anonymous search disabled; bind first)"
            self.send(msg.msgid, m.result(m.COMPARE_RESP, m.INSUFFICIENT_ACCESS, text))
            return
        code, text, matched = self.server.searcher.compare(req, self)
        self.send(msg.msgid, m.result(m.COMPARE_RESP, code, text, matched))

    def handle_extended(self, msg: m.Message) -> None:
        req = msg.op
        assert isinstance(req, m.ExtendedRequest)
        if req.oid == m.OID_WHOAMI:
            authz = f"dn:{self.bound_dn}" if self.bound_dn else ""
            self.send(msg.msgid, m.extended_response(m.SUCCESS, value=authz.encode("utf-8")))
        elif req.oid == m.OID_STARTTLS:
            self.start_tls(msg)
        else:
            text = f"不支持的扩展操作 (unsupported extended operation) {req.oid}"
            self.send(msg.msgid, m.extended_response(m.PROTOCOL_ERROR, text))

    def start_tls(self, msg: m.Message) -> None:
        ctx = self.server.tls
        if ctx is None:
            self.send(msg.msgid, m.extended_response(m.UNAVAILABLE, "未配置 TLS 证书 (TLS not configured)"))
        elif self.tls_active or self.pending or self.buffer:
            self.send(msg.msgid, m.extended_response(m.OPERATIONS_ERROR, "TLS 已启用或仍有未完成的请求"))
        else:
            assert self.transport is not None
            self.transport.pause_reading()
            self.send(msg.msgid, m.extended_response(m.SUCCESS, name=m.OID_STARTTLS))
            self._run_async(msg, self._upgrade)

    async def _upgrade(self, msg: m.Message) -> None:
        assert self.transport is not None and self.server.tls is not None
        new = await ops.upgrade(self.transport, self, self.server.tls, self.peer)
        if new is None:
            self.abort()
            return
        self.transport = new  # type: ignore[assignment]
        self.tls_active = True

    def handle_abandon(self, msg: m.Message) -> None:
        req = msg.op
        assert isinstance(req, m.AbandonRequest)
        self.pending = collections.deque(p for p in self.pending if p.msgid != req.msgid)
        if self.search_job is not None and self.search_job[0] == req.msgid:  # no answer to an abandoned search
            self.search_job[1].cancel()
            self.search_job = None
            self.busy = False
            asyncio.get_running_loop().call_soon(self._drain_pending)

    def handle_unbind(self, msg: m.Message) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def handle_write(self, msg: m.Message) -> None:
        req = msg.op
        assert isinstance(req, m.WriteRequest)
        text = "目录通过 LDAP 只读，请在网页上修改 (the directory is read-only over LDAP)"
        self.send(msg.msgid, m.result(m.WRITE_RESPONSES[req.tag], m.UNWILLING_TO_PERFORM, text))

    def handle_unknown(self, msg: m.Message) -> None:
        tag = getattr(msg.op, "tag", 0)
        self.disconnect(m.PROTOCOL_ERROR, f"未知操作 (unknown operation tag 0x{tag:02x})")
