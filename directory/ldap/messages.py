"""LDAP PDUs (RFC 4511): decoding of requests, including every filter type and controls, and encoding of responses.

Owns: the request dataclasses, the filter tree, ``decode_message`` (one framed LDAPMessage → ``Message``; any fault
→ ``BerError``), result codes and protocol tags, and the encoders of responses and response controls. The control
values of paged results, server-side sort and VLV are decoded here too. No directory knowledge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    read_tlv,
    seq,
    tlv,
)

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

MAX_FILTER_DEPTH = 64
MAX_CONTROLS = 32  # per message; clients send at most three or four
MAX_SORT_KEYS = 16  # per server-side sort control; each key is one more sort of the result


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """How much of a search request the decoder reads (``[ldap]`` settings). A search over a limit is not decoded
    further and is answered with adminLimitExceeded, so an oversized filter costs no more than an allowed one."""

    filter_bytes: int = 65536
    filter_terms: int = 256  # filter elements: and/or/not, each assertion, each piece of a substring assertion
    attributes: int = 256  # attribute selectors of one search


DEFAULT_LIMITS = DecodeLimits()


# -- filters ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Filter


@dataclass(frozen=True, slots=True)
class Compare:
    """equalityMatch, greaterOrEqual, lessOrEqual and approxMatch: ``op`` is one of ``= >= <= ~=``."""

    op: str
    attr: str
    value: str


@dataclass(frozen=True, slots=True)
class Substrings:
    attr: str
    initial: str | None
    any: tuple[str, ...]
    final: str | None


@dataclass(frozen=True, slots=True)
class Present:
    attr: str


@dataclass(frozen=True, slots=True)
class Extensible:
    rule: str | None
    attr: str | None
    value: str
    dn_attributes: bool


Filter = And | Or | Not | Compare | Substrings | Present | Extensible
_COMPARE_TAGS = {0xA3: "=", 0xA5: ">=", 0xA6: "<=", 0xA8: "~="}


def _value(buf: bytes, s: int, e: int) -> str:
    """Assertion values are octet strings; invalid UTF-8 is kept visible but can never match."""
    return buf[s:e].decode("utf-8", "replace")


class _Terms:
    """What is left of a filter's element budget while it is decoded."""

    __slots__ = ("left", "limit")

    def __init__(self, limit: int) -> None:
        self.left = self.limit = limit

    def spend(self, n: int = 1) -> None:
        self.left -= n
        if self.left < 0:
            raise LimitExceeded(f"过滤器元素过多，上限 {self.limit} 个 (filter has more than {self.limit} terms)")

    def elements(self, buf: bytes, s: int, e: int) -> list[tuple[int, int, int]]:
        """The TLVs of a list whose every element costs at least one term; read no further than the budget."""
        try:
            return children(buf, s, e, self.left + 1)
        except LimitExceeded:
            self.spend(self.left + 1)
            raise


def _fixed(buf: bytes, s: int, e: int, most: int, what: str) -> list[tuple[int, int, int]]:
    """The TLVs of a construct of at most ``most`` elements: more is malformed, not a limit."""
    try:
        return children(buf, s, e, most)
    except LimitExceeded as exc:
        raise BerError(f"bad {what}") from exc


def decode_filter(buf: bytes, tag: int, s: int, e: int, depth: int = 0, terms: _Terms | None = None) -> Filter:
    """The filter in ``buf[s:e]``; with ``terms``, more elements than it allows raise ``LimitExceeded``."""
    if depth > MAX_FILTER_DEPTH:
        raise BerError("filter nested too deeply")
    budget = terms if terms is not None else _Terms(1 << 62)
    budget.spend()
    if tag in (0xA0, 0xA1):
        parts = budget.elements(buf, s, e)
        items = tuple(decode_filter(buf, t, cs, ce, depth + 1, budget) for t, cs, ce in parts)
        if not items:
            raise BerError("empty and/or filter")
        return And(items) if tag == 0xA0 else Or(items)
    if tag == 0xA2:
        inner = _fixed(buf, s, e, 2, "not filter")
        if len(inner) != 1:
            raise BerError("not filter must hold one filter")
        return Not(decode_filter(buf, *inner[0], depth + 1, terms=budget))
    if tag in _COMPARE_TAGS:
        parts = _fixed(buf, s, e, 3, "attribute value assertion")
        if len(parts) != 2 or parts[0][0] != 0x04 or parts[1][0] != 0x04:
            raise BerError("bad attribute value assertion")
        return Compare(_COMPARE_TAGS[tag], dec_str(buf, parts[0][1], parts[0][2]), _value(buf, *parts[1][1:]))
    if tag == 0x87:
        return Present(dec_str(buf, s, e))
    if tag == 0xA4:
        return _substrings(buf, s, e, budget)
    if tag == 0xA9:
        return _extensible(buf, s, e)
    raise BerError(f"unknown filter tag 0x{tag:02x}")


def _substrings(buf: bytes, s: int, e: int, terms: _Terms) -> Substrings:
    parts = _fixed(buf, s, e, 3, "substrings filter")
    if len(parts) != 2 or parts[0][0] != 0x04 or parts[1][0] != 0x30:
        raise BerError("bad substrings filter")
    initial: str | None = None
    final: str | None = None
    anys: list[str] = []
    terms.left += 1  # the assertion was counted once already: its first piece is that term
    pieces = terms.elements(buf, parts[1][1], parts[1][2])
    if not pieces:
        raise BerError("substrings filter without substrings")
    terms.spend(len(pieces))
    for i, (t, ps, pe) in enumerate(pieces):
        if t == 0x80 and i == 0:
            initial = _value(buf, ps, pe)
        elif t == 0x81:
            anys.append(_value(buf, ps, pe))
        elif t == 0x82 and i == len(pieces) - 1:
            final = _value(buf, ps, pe)
        else:
            raise BerError("misplaced substring component")
    return Substrings(dec_str(buf, parts[0][1], parts[0][2]), initial, tuple(anys), final)


def _extensible(buf: bytes, s: int, e: int) -> Extensible:
    rule: str | None = None
    attr: str | None = None
    value: str | None = None
    dn_attrs = False
    for t, ps, pe in _fixed(buf, s, e, 4, "extensible match"):
        if t == 0x81:
            rule = dec_str(buf, ps, pe)
        elif t == 0x82:
            attr = dec_str(buf, ps, pe)
        elif t == 0x83:
            value = _value(buf, ps, pe)
        elif t == 0x84:
            dn_attrs = dec_bool(buf, ps, pe)
        else:
            raise BerError("bad extensible match component")
    if value is None or (rule is None and attr is None):
        raise BerError("extensible match needs a value and a rule or type")
    return Extensible(rule, attr, value, dn_attrs)


# -- requests --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Control:
    oid: str
    critical: bool
    value: bytes | None


@dataclass(frozen=True, slots=True)
class BindRequest:
    version: int
    name: str
    simple: bool  # False: SASL
    password: bytes


@dataclass(frozen=True, slots=True)
class SearchRequest:
    base: str
    scope: int  # 0 base, 1 one level, 2 subtree (3 subordinates is answered like 2 below the base)
    deref: int
    size_limit: int
    time_limit: int
    types_only: bool
    filter: Filter
    attributes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CompareRequest:
    dn: str
    attr: str
    value: str


@dataclass(frozen=True, slots=True)
class ExtendedRequest:
    oid: str
    value: bytes | None


@dataclass(frozen=True, slots=True)
class AbandonRequest:
    msgid: int


@dataclass(frozen=True, slots=True)
class UnbindRequest:
    pass


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """Add, Modify, Delete or ModifyDN: never performed, answered with unwillingToPerform."""

    tag: int


@dataclass(frozen=True, slots=True)
class UnknownRequest:
    tag: int


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class Message:
    msgid: int
    op: Request
    controls: tuple[Control, ...] = field(default=())


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
    parts = _fixed(buf, s, e, 3, "bind request")
    if len(parts) != 3 or parts[0][0] != 0x02 or parts[1][0] != 0x04:
        raise BerError("bad bind request")
    version = dec_int(buf, parts[0][1], parts[0][2])
    auth_tag, a_s, a_e = parts[2]
    if auth_tag not in (0x80, 0xA3):
        raise BerError("bad bind authentication choice")
    return BindRequest(version, dec_str(buf, parts[1][1], parts[1][2]), auth_tag == 0x80, buf[a_s:a_e])


def _search(buf: bytes, s: int, e: int, limits: DecodeLimits) -> SearchRequest:
    parts = _fixed(buf, s, e, 8, "search request")
    expected = (0x04, 0x0A, 0x0A, 0x02, 0x02, 0x01)
    if len(parts) != 8 or tuple(p[0] for p in parts[:6]) != expected or parts[7][0] != 0x30:
        raise BerError("bad search request")
    base = dec_str(buf, parts[0][1], parts[0][2])
    scope, deref, size, time = (dec_int(buf, p[1], p[2]) for p in parts[1:5])
    if scope not in (0, 1, 2, 3) or deref not in (0, 1, 2, 3) or size < 0 or time < 0:
        raise BerError("search scope, deref or limits out of range")
    f_tag, f_s, f_e = parts[6]
    if f_e - f_s > limits.filter_bytes:
        raise LimitExceeded(
            f"过滤器过大：{f_e - f_s} 字节，上限 {limits.filter_bytes} 字节 "
            f"(filter of {f_e - f_s} bytes exceeds the limit of {limits.filter_bytes})"
        )
    try:
        selectors = children(buf, parts[7][1], parts[7][2], limits.attributes)
    except LimitExceeded as exc:
        raise LimitExceeded(
            f"请求的属性过多，上限 {limits.attributes} 个 (more than {limits.attributes} attributes requested)"
        ) from exc
    attrs = []
    for t, a_s, a_e in selectors:
        if t != 0x04:
            raise BerError("attribute selector must be an octet string")
        attrs.append(dec_str(buf, a_s, a_e))
    filt = decode_filter(buf, f_tag, f_s, f_e, 0, _Terms(limits.filter_terms))
    return SearchRequest(base, scope, deref, size, time, dec_bool(buf, parts[5][1], parts[5][2]), filt, tuple(attrs))


def _compare(buf: bytes, s: int, e: int) -> CompareRequest:
    parts = _fixed(buf, s, e, 2, "compare request")
    if len(parts) != 2 or parts[0][0] != 0x04 or parts[1][0] != 0x30:
        raise BerError("bad compare request")
    ava = _fixed(buf, parts[1][1], parts[1][2], 2, "compare assertion")
    if len(ava) != 2 or ava[0][0] != 0x04 or ava[1][0] != 0x04:
        raise BerError("bad compare assertion")
    return CompareRequest(
        dec_str(buf, parts[0][1], parts[0][2]), dec_str(buf, ava[0][1], ava[0][2]), _value(buf, *ava[1][1:])
    )


def _extended(buf: bytes, s: int, e: int) -> ExtendedRequest:
    parts = _fixed(buf, s, e, 2, "extended request")
    if not parts or parts[0][0] != 0x80 or len(parts) > 2 or (len(parts) == 2 and parts[1][0] != 0x81):
        raise BerError("bad extended request")
    value = buf[parts[1][1] : parts[1][2]] if len(parts) == 2 else None
    return ExtendedRequest(dec_str(buf, parts[0][1], parts[0][2]), value)


# -- control values --------------------------------------------------------------------------------------------


def _value_parts(value: bytes | None, what: str, most: int = 4) -> list[tuple[int, int, int]]:
    if not value:
        raise BerError(f"{what} control without a value")
    tag, s, e = read_tlv(value, 0, len(value))
    if tag != 0x30 or e != len(value):
        raise BerError(f"bad {what} control value")
    try:
        return children(value, s, e, most)
    except BerError as exc:
        raise BerError(f"bad {what} control value: {exc}") from exc


def decode_paged(value: bytes | None) -> tuple[int, bytes]:
    parts = _value_parts(value, "paged results")
    assert value is not None
    if len(parts) != 2 or parts[0][0] != 0x02 or parts[1][0] != 0x04:
        raise BerError("bad paged results control value")
    return dec_int(value, parts[0][1], parts[0][2]), value[parts[1][1] : parts[1][2]]


@dataclass(frozen=True, slots=True)
class SortKey:
    attr: str
    rule: str | None
    reverse: bool


def decode_sort(value: bytes | None) -> tuple[SortKey, ...]:
    keys = []
    parts = _value_parts(value, "sort", MAX_SORT_KEYS)
    assert value is not None
    for t, s, e in parts:
        fields = _fixed(value, s, e, 3, "sort key")
        if t != 0x30 or not fields or fields[0][0] != 0x04:
            raise BerError("bad sort key")
        rule: str | None = None
        reverse = False
        for ft, fs, fe in fields[1:]:
            if ft == 0x80:
                rule = dec_str(value, fs, fe)
            elif ft == 0x81:
                reverse = dec_bool(value, fs, fe)
            else:
                raise BerError("bad sort key field")
        keys.append(SortKey(dec_str(value, fields[0][1], fields[0][2]), rule, reverse))
    if not keys:
        raise BerError("sort control without keys")
    return tuple(keys)


@dataclass(frozen=True, slots=True)
class VlvRequest:
    before: int
    after: int
    offset: int | None  # byOffset target (1-based), or None when by value
    content_count: int
    value: str | None  # greaterThanOrEqual target
    context: bytes | None


def decode_vlv(value: bytes | None) -> VlvRequest:
    parts = _value_parts(value, "VLV")
    assert value is not None
    if len(parts) not in (3, 4) or parts[0][0] != 0x02 or parts[1][0] != 0x02:
        raise BerError("bad VLV control value")
    before, after = dec_int(value, parts[0][1], parts[0][2]), dec_int(value, parts[1][1], parts[1][2])
    t, s, e = parts[2]
    context = value[parts[3][1] : parts[3][2]] if len(parts) == 4 else None
    if before < 0 or after < 0:
        raise BerError("negative VLV counts")
    if t == 0xA0:
        target = _fixed(value, s, e, 2, "VLV byOffset")
        if len(target) != 2 or target[0][0] != 0x02 or target[1][0] != 0x02:
            raise BerError("bad VLV byOffset")
        offset, count = (dec_int(value, p[1], p[2]) for p in target)
        return VlvRequest(before, after, offset, count, None, context)
    if t == 0x81:
        return VlvRequest(before, after, None, 0, _value(value, s, e), context)
    raise BerError("bad VLV target")


# -- responses -------------------------------------------------------------------------------------------------


def message(msgid: int, op: bytes, controls: bytes = b"") -> bytes:
    return seq(enc_int(msgid), op, controls)


def result(tag: int, code: int, text: str = "", matched: str = "", extra: bytes = b"") -> bytes:
    return tlv(tag, enc_enum(code) + enc_str(matched) + enc_str(text) + extra)


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


def paged_control(size: int, cookie: bytes) -> bytes:
    return control(OID_PAGED, seq(enc_int(size), enc_str(cookie)))


def sort_control(code: int, attr: str | None = None) -> bytes:
    return control(OID_SORT_RESP, seq(enc_enum(code), enc_str(attr, 0x80) if attr else b""))


def vlv_control(position: int, count: int, code: int, context: bytes | None) -> bytes:
    ctx = enc_str(context) if context is not None else b""
    return control(OID_VLV_RESP, seq(enc_int(position), enc_int(count), enc_enum(code), ctx))


def describe(op: Any) -> str:
    """Short name of a request for logs."""
    return type(op).__name__


# -- request encoders (for tests, benchmarks and tools; the server only decodes requests) ---------------------


def encode_filter(f: Filter) -> bytes:
    if isinstance(f, And | Or):
        return tlv(0xA0 if isinstance(f, And) else 0xA1, b"".join(encode_filter(i) for i in f.items))
    if isinstance(f, Not):
        return tlv(0xA2, encode_filter(f.item))
    if isinstance(f, Compare):
        tag = {v: k for k, v in _COMPARE_TAGS.items()}[f.op]
        return tlv(tag, enc_str(f.attr) + enc_str(f.value))
    if isinstance(f, Present):
        return enc_str(f.attr, 0x87)
    if isinstance(f, Substrings):
        pieces = (enc_str(f.initial, 0x80) if f.initial is not None else b"") + b"".join(
            enc_str(a, 0x81) for a in f.any
        )
        pieces += enc_str(f.final, 0x82) if f.final is not None else b""
        return tlv(0xA4, enc_str(f.attr) + seq(pieces))
    parts = (enc_str(f.rule, 0x81) if f.rule else b"") + (enc_str(f.attr, 0x82) if f.attr else b"")
    return tlv(0xA9, parts + enc_str(f.value, 0x83) + (enc_bool(True, 0x84) if f.dn_attributes else b""))


def encode_search(req: SearchRequest) -> bytes:
    body = enc_str(req.base) + enc_enum(req.scope) + enc_enum(req.deref) + enc_int(req.size_limit)
    body += enc_int(req.time_limit) + enc_bool(req.types_only) + encode_filter(req.filter)
    return tlv(SEARCH_REQ, body + seq(*(enc_str(a) for a in req.attributes)))


def encode_bind(name: str = "", password: str = "", version: int = 3) -> bytes:
    return tlv(BIND_REQ, enc_int(version) + enc_str(name) + enc_str(password, 0x80))


def encode_control(c: Control) -> bytes:
    value = enc_str(c.value) if c.value is not None else b""
    return seq(enc_str(c.oid), enc_bool(True) if c.critical else b"", value)


def encode_message(msgid: int, op: bytes, ctrls: tuple[Control, ...] = ()) -> bytes:
    return message(msgid, op, controls(*(encode_control(c) for c in ctrls)))


def paged_request(size: int, cookie: bytes = b"", critical: bool = False) -> Control:
    return Control(OID_PAGED, critical, seq(enc_int(size), enc_str(cookie)))


def sort_request(*keys: SortKey, critical: bool = False) -> Control:
    encoded = [
        seq(enc_str(k.attr), enc_str(k.rule, 0x80) if k.rule else b"", enc_bool(True, 0x81) if k.reverse else b"")
        for k in keys
    ]
    return Control(OID_SORT_REQ, critical, seq(*encoded))


def vlv_request(before: int, after: int, offset: int, count: int, critical: bool = True) -> Control:
    target = tlv(0xA0, enc_int(offset) + enc_int(count))
    return Control(OID_VLV_REQ, critical, seq(enc_int(before), enc_int(after), target))
