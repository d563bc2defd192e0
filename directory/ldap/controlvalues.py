"""The values of the paged results (RFC 2696), server-side sort (RFC 2891) and VLV controls.

Owns: decoding the request control values (``decode_paged``, ``decode_sort`` → ``SortKey``, ``decode_vlv`` →
``VlvRequest``) and encoding the response control values (``paged_control``, ``sort_control``, ``vlv_control``).
"""

from __future__ import annotations

from dataclasses import dataclass

from directory.ldap.ber import BerError, children, dec_bool, dec_int, dec_str, enc_enum, enc_int, enc_str, read_tlv, seq
from directory.ldap.filtertree import assertion_text, fixed_elements
from directory.ldap.messages import OID_PAGED, OID_SORT_RESP, OID_VLV_RESP, control

MAX_SORT_KEYS = 16  # per server-side sort control; each key is one more sort of the result


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
        fields = fixed_elements(value, s, e, 3, "sort key")
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
        target = fixed_elements(value, s, e, 2, "VLV byOffset")
        if len(target) != 2 or target[0][0] != 0x02 or target[1][0] != 0x02:
            raise BerError("bad VLV byOffset")
        offset, count = (dec_int(value, p[1], p[2]) for p in target)
        return VlvRequest(before, after, offset, count, None, context)
    if t == 0x81:
        return VlvRequest(before, after, None, 0, assertion_text(value, s, e), context)
    raise BerError("bad VLV target")


# -- responses -------------------------------------------------------------------------------------------------


def paged_control(size: int, cookie: bytes) -> bytes:
    return control(OID_PAGED, seq(enc_int(size), enc_str(cookie)))


def sort_control(code: int, attr: str | None = None) -> bytes:
    return control(OID_SORT_RESP, seq(enc_enum(code), enc_str(attr, 0x80) if attr else b""))


def vlv_control(position: int, count: int, code: int, context: bytes | None) -> bytes:
    ctx = enc_str(context) if context is not None else b""
    return control(OID_VLV_RESP, seq(enc_int(position), enc_int(count), enc_enum(code), ctx))
