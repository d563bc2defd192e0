"""LDAP PDUs (RFC 4511): decoding of requests, including every filter type and controls, and encoding of responses.

Owns: the request dataclasses, the filter tree, ``decode_message`` (one framed LDAPMessage → ``Message``; any fault
→ ``BerError``), result codes and protocol tags, and the encoders of responses and response controls. The control
values of paged results, server-side sort and VLV are decoded here too. No directory knowledge.
"""

from __future__ import annotations

import functools
from typing import Any

from directory.ldap.ber import (
    BerError,
    LimitExceeded,
    children,
    dec_bool,
    dec_int,
    dec_str,
    enc_bool,
    enc_enum,
    enc_int,
    enc_str,
    header,
    read_tlv,
    seq,
    tlv,
)
from directory.ldap.filtertree import (
    DEFAULT_LIMITS,
    DecodeLimits,
    Filter,
    Terms,
    assertion_text,
    decode_filter,
    fixed_elements,
)
from directory.ldap.record import record

# protocol op tags
BIND_REQ, BIND_RESP, UNBIND_REQ = 0x60, 0x61, 0x42
SEARCH_REQ, SEARCH_ENTRY, SEARCH_DONE = 0x63, 0x64, 0x65
MODIFY_REQ, ADD_REQ, DEL_REQ, MODDN_REQ = 0x66, 0x68, 0x4A, 0x6C
COMPARE_REQ, COMPARE_RESP = 0x6E, 0x6F
ABANDON_REQ, EXTENDED_REQ, EXTENDED_RESP = 0x50, 0x77, 0x78
WRITE_RESPONSES = {MODIFY_REQ: 0x67, ADD_REQ: 0x69, DEL_REQ: 0x6B, MODDN_REQ: 0x6D}

# result codes
SUCCESS, OPERATIONS_ERROR, PROTOCOL_ERROR, TIME_LIMIT, SIZE_LIMIT = 0, 1, 2, 3, 4
ADMIN_LIMIT_EXCEEDED = 11
COMPARE_FALSE, COMPARE_TRUE, AUTH_METHOD_NOT_SUPPORTED = 5, 6, 7
UNAVAILABLE_CRITICAL_EXTENSION, NO_SUCH_ATTRIBUTE, UNDEFINED_ATTRIBUTE_TYPE = 12, 16, 17
NO_SUCH_OBJECT, INVALID_DN_SYNTAX, INVALID_CREDENTIALS, INSUFFICIENT_ACCESS = 32, 34, 49, 50
BUSY, UNAVAILABLE, UNWILLING_TO_PERFORM, SORT_CONTROL_MISSING, OFFSET_RANGE_ERROR = 51, 52, 53, 60, 61
OTHER = 80

# OIDs
OID_PAGED = "1.2.840.113556.1.4.319"
OID_SORT_REQ, OID_SORT_RESP = "1.2.840.113556.1.4.473", "1.2.840.113556.1.4.474"
OID_VLV_REQ, OID_VLV_RESP = "2.16.840.1.113730.3.4.9", "2.16.840.1.113730.3.4.10"
OID_WHOAMI = "1.3.6.1.4.1.4203.1.11.3"
OID_STARTTLS = "1.3.6.1.4.1.1466.20037"
OID_NOTICE_OF_DISCONNECTION = "1.3.6.1.4.1.1466.20036"

MAX_CONTROLS = 32  # per message; clients send at most three or four


# -- requests --------------------------------------------------------------------------------------------------


@record
class Control:
    oid: str
    critical: bool
    value: bytes | None


@record
class BindRequest:
    version: int
    name: str
    simple: bool  # False: SASL
    password: bytes


@record
class SearchRequest:
    base: str
    scope: int  # 0 base, 1 one level, 2 subtree (3 subordinates is answered like 2 below the base)
    deref: int
    size_limit: int
    time_limit: int
    types_only: bool
    filter: Filter
    attributes: tuple[str, ...]


@record
class CompareRequest:
    dn: str
    attr: str
    value: str


@record
class ExtendedRequest:
    oid: str
    value: bytes | None


@record
class AbandonRequest:
    msgid: int


@record
class UnbindRequest:
    pass


@record
class WriteRequest:
    """Add, Modify, Delete or ModifyDN: never performed, answered with unwillingToPerform."""

    tag: int


@record
class UnknownRequest:
    tag: int


@record
class RefusedRequest:
    """A request decoded only far enough to see that it exceeds a limit; answered with adminLimitExceeded."""

    tag: int  # the protocol op tag of the request
    text: str


Request = (
    BindRequest
    | SearchRequest
    | CompareRequest
    | ExtendedRequest
    | AbandonRequest
    | UnbindRequest
    | WriteRequest
    | UnknownRequest
    | RefusedRequest
)


@record
class Message:
    msgid: int
    op: Request
    controls: tuple[Control, ...] = ()


def decode_message(buf: bytes, limits: DecodeLimits = DEFAULT_LIMITS) -> Message:
    """One complete LDAPMessage (as framed by ``ber.frame_size``); a search over ``limits`` becomes a
    ``RefusedRequest``."""
    tag, s, e = read_tlv(buf, 0, len(buf))
    if tag != 0x30 or e != len(buf):
        raise BerError("LDAPMessage is not one SEQUENCE")
    parts = children(buf, s, e, 3)
    if len(parts) < 2 or len(parts) > 3 or parts[0][0] != 0x02:
        raise BerError("LDAPMessage needs a messageID and one operation")
    msgid = dec_int(buf, parts[0][1], parts[0][2])
    if not 0 <= msgid <= 0x7FFFFFFF:
        raise BerError("messageID out of range")
    controls: tuple[Control, ...] = ()
    if len(parts) == 3:
        if parts[2][0] != 0xA0:
            raise BerError("unexpected element after the operation")
        controls = _controls(buf, parts[2][1], parts[2][2])
    return Message(msgid, _operation(buf, *parts[1], limits), controls)


def _controls(buf: bytes, s: int, e: int) -> tuple[Control, ...]:
    out = []
    for t, cs, ce in children(buf, s, e, MAX_CONTROLS):
        fields = children(buf, cs, ce, 3)
        if t != 0x30 or not fields or fields[0][0] != 0x04 or len(fields) > 3:
            raise BerError("bad control")
        critical = False
        value: bytes | None = None
        for ft, fs, fe in fields[1:]:
            if ft == 0x01 and value is None:
                critical = dec_bool(buf, fs, fe)
            elif ft == 0x04 and value is None:
                value = buf[fs:fe]
            else:
                raise BerError("bad control field")
        out.append(Control(dec_str(buf, fields[0][1], fields[0][2]), critical, value))
    return tuple(out)


def _operation(buf: bytes, tag: int, s: int, e: int, limits: DecodeLimits) -> Request:
    if tag == SEARCH_REQ:
        try:
            return _search(buf, s, e, limits)
        except LimitExceeded as exc:
            return RefusedRequest(tag, str(exc))
    if tag == BIND_REQ:
        return _bind(buf, s, e)
    if tag == UNBIND_REQ:
        return UnbindRequest()
    if tag == ABANDON_REQ:
        return AbandonRequest(dec_int(buf, s, e))
    if tag == EXTENDED_REQ:
        return _extended(buf, s, e)
    if tag == COMPARE_REQ:
        return _compare(buf, s, e)
    if tag in WRITE_RESPONSES:
        return WriteRequest(tag)
    return UnknownRequest(tag)


def _bind(buf: bytes, s: int, e: int) -> BindRequest:
    parts = fixed_elements(buf, s, e, 3, "bind request")
    if len(parts) != 3 or parts[0][0] != 0x02 or parts[1][0] != 0x04:
        raise BerError("bad bind request")
    version = dec_int(buf, parts[0][1], parts[0][2])
    auth_tag, a_s, a_e = parts[2]
    if auth_tag not in (0x80, 0xA3):
        raise BerError("bad bind authentication choice")
    return BindRequest(version, dec_str(buf, parts[1][1], parts[1][2]), auth_tag == 0x80, buf[a_s:a_e])


_SEARCH_TAGS = (0x04, 0x0A, 0x0A, 0x02, 0x02, 0x01, 0x30)  # baseObject … typesOnly, then the attribute list


def _search(buf: bytes, s: int, e: int, limits: DecodeLimits) -> SearchRequest:
    parts = fixed_elements(buf, s, e, 8, "search request")
    if len(parts) != 8:
        raise BerError("bad search request")
    (t0, bs, be), (t1, ss, se), (t2, ds, de), (t3, zs, ze), (t4, ts, te), (t5, os, oe), filt, (t7, a_s, a_e) = parts
    if (t0, t1, t2, t3, t4, t5, t7) != _SEARCH_TAGS:
        raise BerError("bad search request")
    scope = dec_int(buf, ss, se)
    deref = dec_int(buf, ds, de)
    size = dec_int(buf, zs, ze)
    time = dec_int(buf, ts, te)
    if scope not in (0, 1, 2, 3) or deref not in (0, 1, 2, 3) or size < 0 or time < 0:
        raise BerError("search scope, deref or limits out of range")
    f_tag, f_s, f_e = filt
    if f_e - f_s > limits.filter_bytes:
        raise LimitExceeded(
            f"过滤器过大：{f_e - f_s} 字节，上限 {limits.filter_bytes} 字节 "
            f"(filter of {f_e - f_s} bytes exceeds the limit of {limits.filter_bytes})"
        )
    try:
        selectors = children(buf, a_s, a_e, limits.attributes)
    except LimitExceeded as exc:
        raise LimitExceeded(
            f"请求的属性过多，上限 {limits.attributes} 个 (more than {limits.attributes} attributes requested)"
        ) from exc
    for t, _, _ in selectors:
        if t != 0x04:
            raise BerError("attribute selector must be an octet string")
    attrs = tuple(dec_str(buf, a, b) for _, a, b in selectors)
    return SearchRequest(
        dec_str(buf, bs, be),
        scope,
        deref,
        size,
        time,
        dec_bool(buf, os, oe),
        decode_filter(buf, f_tag, f_s, f_e, 0, Terms(limits.filter_terms)),
        attrs,
    )


def _compare(buf: bytes, s: int, e: int) -> CompareRequest:
    parts = fixed_elements(buf, s, e, 2, "compare request")
    if len(parts) != 2 or parts[0][0] != 0x04 or parts[1][0] != 0x30:
        raise BerError("bad compare request")
    ava = fixed_elements(buf, parts[1][1], parts[1][2], 2, "compare assertion")
    if len(ava) != 2 or ava[0][0] != 0x04 or ava[1][0] != 0x04:
        raise BerError("bad compare assertion")
    return CompareRequest(
        dec_str(buf, parts[0][1], parts[0][2]), dec_str(buf, ava[0][1], ava[0][2]), assertion_text(buf, *ava[1][1:])
    )


def _extended(buf: bytes, s: int, e: int) -> ExtendedRequest:
    parts = fixed_elements(buf, s, e, 2, "extended request")
    if not parts or parts[0][0] != 0x80 or len(parts) > 2 or (len(parts) == 2 and parts[1][0] != 0x81):
        raise BerError("bad extended request")
    value = buf[parts[1][1] : parts[1][2]] if len(parts) == 2 else None
    return ExtendedRequest(dec_str(buf, parts[0][1], parts[0][2]), value)


# -- responses -------------------------------------------------------------------------------------------------


def message(msgid: int, op: bytes, controls: bytes = b"") -> bytes:
    return seq(enc_int(msgid), op, controls)


_SEQ_SHORT = [header(0x30, n) for n in range(0x100)]  # an LDAPMessage SEQUENCE header of n < 256 content bytes
_SEQ_LONG = [bytes((0x30, 0x82, hi)) for hi in range(0x100)]  # ... of 256 ≤ n < 65536: this, then the low byte
_BYTE = [bytes((b,)) for b in range(0x100)]


def search_answer(msgid: int, entries: list[bytes], done: bytes, controls: bytes = b"") -> bytes:
    """Every message of a search's answer in one piece: each pre-encoded entry op framed as an LDAPMessage, then
    SearchResultDone with ``controls``."""
    msgid_enc = enc_int(msgid)
    size = len(msgid_enc)
    pieces: list[bytes] = []
    for op in entries:
        n = size + len(op)
        if n < 0x100:
            pieces += (_SEQ_SHORT[n], msgid_enc, op)
        elif n < 0x10000:  # most entries: the header in two pieces from tables (a third of the time of making it)
            pieces += (_SEQ_LONG[n >> 8], _BYTE[n & 0xFF], msgid_enc, op)
        else:
            pieces += (header(0x30, n), msgid_enc, op)
    pieces.append(seq(msgid_enc, done, controls))
    return b"".join(pieces)


def result(tag: int, code: int, text: str = "", matched: str = "", extra: bytes = b"") -> bytes:
    if not (text or matched or extra):
        return _bare_result(tag, code)
    return tlv(tag, enc_enum(code) + enc_str(matched) + enc_str(text) + extra)


@functools.cache  # most answers are a bare code (success); our tags × codes, never a client's text
def _bare_result(tag: int, code: int) -> bytes:
    return tlv(tag, enc_enum(code) + enc_str("") + enc_str(""))


def extended_response(code: int, text: str = "", name: str | None = None, value: bytes | None = None) -> bytes:
    extra = (enc_str(name, 0x8A) if name else b"") + (enc_str(value, 0x8B) if value is not None else b"")
    return result(EXTENDED_RESP, code, text, extra=extra)


def notice_of_disconnection(code: int, text: str) -> bytes:
    return message(0, extended_response(code, text, OID_NOTICE_OF_DISCONNECTION))


def encode_attribute(name: str, values: list[str] | tuple[str, ...], types_only: bool = False) -> bytes:
    vals = b"" if types_only else b"".join(enc_str(v) for v in values)
    return seq(enc_str(name), tlv(0x31, vals))


def entry_op(dn: str | bytes, attributes: bytes) -> bytes:
    return tlv(SEARCH_ENTRY, enc_str(dn) + tlv(0x30, attributes))


def controls(*encoded: bytes) -> bytes:
    return tlv(0xA0, b"".join(encoded)) if encoded else b""


def control(oid: str, value: bytes, critical: bool = False) -> bytes:
    return seq(enc_str(oid), enc_bool(True) if critical else b"", enc_str(value))


def describe(op: Any) -> str:
    """Short name of a request for logs."""
    return type(op).__name__
