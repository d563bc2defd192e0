"""Many adds in flight at once on a connection ldap3 opened and bound: the first full publish of a target.

ldap3 builds and encodes every request through pyasn1 and waits for each answer: ~3 ms of CPU per entry, five
times ``ldapadd``. Here AddRequests are encoded with our own BER encoder (``directory.ldap.client``) and written
on ldap3's socket (plain or TLS) with up to ``WINDOW`` unanswered, and the AddResponses are read back in order.
Owns only that; ldap3 keeps the connection, the bind, StartTLS and every other operation. Message IDs start far
above ldap3's own, and no ldap3 operation runs while a batch is in flight.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from directory.dit import Entry
from directory.errors import SyncFailed
from directory.ldap.ber import BerError, children, dec_int, dec_str, frame_size, read_tlv
from directory.ldap.client import encode_add, encode_message

WINDOW = 64  # unanswered adds at most
FIRST_ID = 1 << 30
MAX_RESPONSE = 1 << 20
ADD_RESPONSE = 0x69


class Failed(Exception):
    """An add that the server refused: its position in the batch, the result code and the server's text."""

    def __init__(self, index: int, code: int, text: str) -> None:
        super().__init__(text)
        self.index, self.code, self.text = index, code, text


def add_all(sock: Any, entries: Sequence[Entry]) -> None:
    """Add every entry, at most ``WINDOW`` unanswered; raises :class:`Failed` for the first refusal (the ones sent
    after it are answered and counted as done or not by the server, as ldapadd -c would) or ``SyncFailed`` when the
    connection breaks."""
    reader = _Reader(sock)
    sent = answered = 0
    first: Failed | None = None
    while answered < len(entries):
        while first is None and sent < len(entries) and sent - answered < WINDOW:
            e = entries[sent]
            sock.sendall(encode_message(FIRST_ID + sent, encode_add(e.dn, e.attrs)))
            sent += 1
        msgid, code, text = reader.next_result()
        index = msgid - FIRST_ID
        if code != 0 and first is None:
            first = Failed(index, code, text)
        answered += 1
        if first is not None and answered == sent:
            raise first


class _Reader:
    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.buf = bytearray()

    def next_result(self) -> tuple[int, int, str]:
        """(message ID, result code, diagnostic text) of the next AddResponse."""
        while True:
            try:
                size = frame_size(self.buf, MAX_RESPONSE)
            except BerError as exc:
                raise SyncFailed(f"服务器的应答无法解析：{exc}") from None
            if size is not None:
                frame = bytes(self.buf[:size])
                del self.buf[:size]
                return _result(frame)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SyncFailed("服务器在写入过程中断开了连接")
            self.buf += chunk


def _result(frame: bytes) -> tuple[int, int, str]:
    try:
        parts = children(frame, *_inside(frame))
        msgid = dec_int(frame, parts[0][1], parts[0][2])
        tag, start, end = parts[1]
        if tag != ADD_RESPONSE:  # e.g. a notice of disconnection (message ID 0)
            raise SyncFailed(f"服务器发来意外的应答（标记 0x{tag:02x}），写入中止")
        fields = children(frame, start, end)
        code = dec_int(frame, fields[0][1], fields[0][2])
        text = dec_str(frame, fields[2][1], fields[2][2]) if len(fields) > 2 else ""
    except (BerError, IndexError) as exc:
        raise SyncFailed(f"服务器的应答无法解析：{exc}") from None
    return msgid, code, text


def _inside(frame: bytes) -> tuple[int, int]:
    _tag, start, end = read_tlv(frame, 0, len(frame))
    return start, end
