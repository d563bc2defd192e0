"""Client-side LDAP request encoders: for tests, benchmarks and tools; the server only decodes requests.

Owns: ``encode_filter``, ``encode_search``, ``encode_bind``, ``encode_add`` (also used by ``directory.sync`` to
pipeline adds), ``encode_message`` and the request controls of paged results, server-side sort and VLV.
"""

from __future__ import annotations

from directory.ldap.ber import enc_bool, enc_enum, enc_int, enc_str, seq, tlv
from directory.ldap.controlvalues import SortKey
from directory.ldap.filtertree import COMPARE_TAGS, And, Compare, Filter, Not, Or, Present, Substrings
from directory.ldap.messages import (
    ADD_REQ,
    BIND_REQ,
    OID_PAGED,
    OID_SORT_REQ,
    OID_VLV_REQ,
    SEARCH_REQ,
    Control,
    SearchRequest,
    controls,
    message,
)


def encode_filter(f: Filter) -> bytes:
    if isinstance(f, And | Or):
        return tlv(0xA0 if isinstance(f, And) else 0xA1, b"".join(encode_filter(i) for i in f.items))
    if isinstance(f, Not):
        return tlv(0xA2, encode_filter(f.item))
    if isinstance(f, Compare):
        tag = {v: k for k, v in COMPARE_TAGS.items()}[f.op]
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


def encode_add(dn: str, attrs: dict[str, list[str]]) -> bytes:
    """An AddRequest of ``dn`` with the non-empty attributes of ``attrs``."""
    listed = [
        seq(enc_str(name), seq(*(enc_str(v) for v in values), tag=0x31)) for name, values in attrs.items() if values
    ]
    return tlv(ADD_REQ, enc_str(dn) + seq(*listed))


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
