"""Hand-written BER codec for LDAP (RFC 4511 §5.1: definite lengths only, single-byte tags).

Owns: encoding of TLVs, integers, booleans, enumerations and octet strings; decoding of one TLV at a position with
strict bounds checks; framing of a byte stream into complete LDAPMessages under a size limit. Every decoding fault
raises ``BerError``; nothing here knows about LDAP operations.
"""

from __future__ import annotations


class BerError(ValueError):
    """Malformed or oversized BER data."""


class LimitExceeded(BerError):
    """Well-formed so far, but more elements than the decoder is willing to read (decoding stops at the limit, so
    an oversized request costs no more than one of the allowed size)."""


def enc_len(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(raw),)) + raw


def header(tag: int, n: int) -> bytes:
    """Tag and definite length of a TLV whose content is ``n`` bytes."""
    if n < 0x80:
        return bytes((tag, n))
    if n < 0x100:
        return bytes((tag, 0x81, n))
    if n < 0x10000:
        return bytes((tag, 0x82, n >> 8, n & 0xFF))
    return bytes((tag,)) + enc_len(n)


def tlv(tag: int, content: bytes) -> bytes:
    return header(tag, len(content)) + content


def enc_int(value: int, tag: int = 0x02) -> bytes:
    raw = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True)
    return tlv(tag, raw)


def enc_enum(value: int) -> bytes:
    return enc_int(value, 0x0A)


def enc_bool(value: bool, tag: int = 0x01) -> bytes:
    return bytes((tag, 1, 0xFF if value else 0))


def enc_str(value: str | bytes, tag: int = 0x04) -> bytes:
    return tlv(tag, value.encode("utf-8") if isinstance(value, str) else value)


def seq(*parts: bytes, tag: int = 0x30) -> bytes:
    return tlv(tag, b"".join(parts))


def read_tlv(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """The TLV at ``pos`` (which must lie within ``end``): (tag, content start, content end)."""
    if pos + 2 > end:
        raise BerError("truncated TLV header")
    tag = buf[pos]
    if tag & 0x1F == 0x1F:
        raise BerError(f"multi-byte tag 0x{tag:02x} not used by LDAP")
    first = buf[pos + 1]
    start = pos + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0:
            raise BerError("indefinite length is not allowed in LDAP")
        if count > 4 or start + count > end:
            raise BerError("bad length of length")
        length = int.from_bytes(buf[start : start + count], "big")
        start += count
    stop = start + length
    if stop > end:
        raise BerError("element longer than its container")
    return tag, start, stop


def children(buf: bytes, start: int, end: int, limit: int = -1) -> list[tuple[int, int, int]]:
    """All TLVs in ``buf[start:end]``, which must be filled exactly; more than ``limit`` (if ≥ 0) raises
    ``LimitExceeded`` before the rest is read."""
    out: list[tuple[int, int, int]] = []
    pos, left = start, limit
    while pos < end:
        if not left:
            raise LimitExceeded(f"more than {limit} elements")
        left -= 1
        # the short form (content under 128 bytes, a one-byte tag) read here: most elements of a request are
        tag = buf[pos]
        n = buf[pos + 1] if pos + 1 < end else 0x80
        if n < 0x80 and tag & 0x1F != 0x1F:
            e = pos + 2 + n
            if e > end:
                raise BerError("element longer than its container")
            out.append((tag, pos + 2, e))
            pos = e
        else:
            tag, s, pos = read_tlv(buf, pos, end)
            out.append((tag, s, pos))
    return out


def dec_int(buf: bytes, start: int, end: int) -> int:
    if end - start == 1:  # most integers of a request (message ID, scope, limits): read in place
        v = buf[start]
        return v - 0x100 if v & 0x80 else v
    if start == end or end - start > 8:
        raise BerError("integer of bad size")
    return int.from_bytes(buf[start:end], "big", signed=True)


def dec_bool(buf: bytes, start: int, end: int) -> bool:
    if end - start != 1:
        raise BerError("boolean of bad size")
    return buf[start] != 0


def dec_str(buf: bytes, start: int, end: int) -> str:
    try:
        return buf[start:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BerError("string is not UTF-8") from exc


def frame_size(buf: bytes | bytearray, max_size: int) -> int | None:
    """Bytes of the first complete LDAPMessage in ``buf``; None if more bytes are needed.

    Raises BerError if the stream does not start with a SEQUENCE or announces more than ``max_size`` bytes.
    """
    if len(buf) < 2:
        return None
    if buf[0] != 0x30:
        raise BerError(f"LDAPMessage must be a SEQUENCE, got tag 0x{buf[0]:02x}")
    first = buf[1]
    if first < 0x80:
        header, length = 2, first
    else:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise BerError("bad length of LDAPMessage")
        if len(buf) < 2 + count:
            return None
        header, length = 2 + count, int.from_bytes(buf[2 : 2 + count], "big")
    total = header + length
    if total > max_size:
        raise BerError(f"PDU of {total} bytes exceeds the limit of {max_size}")
    return total if len(buf) >= total else None
