"""The LDAP server's operation tables and TLS: which handler answers which request, the response tag of a request
answered with an error, which searches need no bind, the TLS context, and the StartTLS upgrade of a connection.

Owns nothing stateful; ``directory.ldap.server`` dispatches with these tables and calls :func:`upgrade` for StartTLS.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

from directory.ldap import messages as m
from directory.ldap.dn import DnError, normalize_dn

log = logging.getLogger("directory.ldap.server")


HANDLERS = {
    m.BindRequest: "handle_bind",
    m.SearchRequest: "handle_search",
    m.CompareRequest: "handle_compare",
    m.ExtendedRequest: "handle_extended",
    m.AbandonRequest: "handle_abandon",
    m.UnbindRequest: "handle_unbind",
    m.WriteRequest: "handle_write",
    m.RefusedRequest: "handle_refused",
}
RESPONSE_TAGS = {
    m.BindRequest: m.BIND_RESP,
    m.SearchRequest: m.SEARCH_DONE,
    m.CompareRequest: m.COMPARE_RESP,
    m.ExtendedRequest: m.EXTENDED_RESP,
}


RESPONSE_TAGS_BY_OP = {m.SEARCH_REQ: m.SEARCH_DONE}


def error_op(op: m.Request, code: int, text: str) -> bytes:
    tag = RESPONSE_TAGS.get(type(op), m.EXTENDED_RESP)
    return m.result(tag, code, text)


def public(req: m.SearchRequest) -> bool:
    """The Root DSE and the subschema are readable without a bind."""
    if req.scope != 0:
        return False
    try:
        return normalize_dn(req.base) in ("", "cn=subschema")
    except DnError:
        return False


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


async def upgrade(
    transport: asyncio.BaseTransport, protocol: asyncio.BaseProtocol, ctx: ssl.SSLContext, peer: str
) -> asyncio.BaseTransport | None:
    """The TLS transport that replaces ``transport`` after a StartTLS answer, or None when the handshake failed."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.start_tls(transport, protocol, ctx, server_side=True)  # type: ignore[arg-type]
    except (OSError, ssl.SSLError, ConnectionError) as exc:
        log.info("ldap: StartTLS with %s failed: %s", peer, exc)
        return None


def bind_without_password_check(req: m.BindRequest) -> bytes | None:
    """The answer to a bind that needs no password check (anonymous, or refused as it stands), else None."""
    if req.version not in (2, 3):
        return m.result(m.BIND_RESP, m.PROTOCOL_ERROR, f"不支持的协议版本 (version {req.version})")
    if not req.simple:
        return m.result(m.BIND_RESP, m.AUTH_METHOD_NOT_SUPPORTED, "仅支持简单绑定 (simple bind only)")
    if not req.name and not req.password:
        return m.result(m.BIND_RESP, m.SUCCESS)
    if not req.password:
        return m.result(m.BIND_RESP, m.UNWILLING_TO_PERFORM, "不允许无密码绑定 (unauthenticated bind refused)")
    return None
