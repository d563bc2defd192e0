"""The audit trail's message authentication: the key, the algorithm and the canonical form of one audit row.

Owns: reading the key from ``[audit] key_file`` (outside the database), the MAC algorithms (HMAC-SHA256, and
HMAC-SM3 for 密码应用安全性评估 — OpenSSL's SM3 through ``hashlib`` where it has it, else the pure-Python ``gmssl``),
the canonical bytes of a row (every stored column but the id, and the previous row's MAC, so a row is chained to
its predecessor in its chain), the key's public fingerprint, and the signature of an archive. Pure: no SQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from directory.errors import SettingsError

ALGORITHMS = ("hmac-sha256", "hmac-sm3")
CHAIN_NAME = re.compile(r"[A-Za-z0-9_.-]{1,40}")
ROW_FIELDS = ("at", "actor", "entity", "entity_key", "action", "before", "after")


class _GmsslSM3:
    """A hashlib-like SM3 object over gmssl's one-shot function, enough for :mod:`hmac`."""

    name = "sm3"
    digest_size = 32
    block_size = 64

    def __init__(self, data: bytes = b"") -> None:
        self._data = bytearray(data)

    def update(self, data: bytes) -> None:
        self._data += data

    def copy(self) -> _GmsslSM3:
        return _GmsslSM3(bytes(self._data))

    def digest(self) -> bytes:
        from gmssl import func, sm3

        return bytes.fromhex(sm3.sm3_hash(func.bytes_to_list(bytes(self._data))))

    def hexdigest(self) -> str:
        return self.digest().hex()


def sm3_factory(prefer_openssl: bool = True) -> Callable[..., Any]:
    """A constructor of SM3 hash objects: OpenSSL's when ``hashlib`` offers it, else gmssl's."""
    if prefer_openssl:
        try:
            hashlib.new("sm3")
        except ValueError:
            pass
        else:
            return lambda data=b"": hashlib.new("sm3", data)
    return _GmsslSM3


@dataclass(frozen=True)
class AuditKey:
    """The secret and algorithm every audit row's MAC is made with, and the chain this process writes to."""

    secret: bytes
    algorithm: str = "hmac-sha256"
    chain: str = "main"
    source: str = ""  # where the key came from, for messages ("" = the database's own, see store)

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise SettingsError(f"audit.algorithm: expected one of {', '.join(ALGORITHMS)}, got {self.algorithm!r}")
        if len(self.secret) < 16:
            raise SettingsError("audit.key_file: the key must hold at least 16 bytes")
        if not CHAIN_NAME.fullmatch(self.chain):
            raise SettingsError(f"audit.chain: 1-40 letters, digits, '.', '_' or '-', got {self.chain!r}")

    def _digest(self) -> Callable[..., Any]:
        return sm3_factory() if self.algorithm == "hmac-sm3" else hashlib.sha256

    def mac(self, data: bytes) -> str:
        return hmac.new(self.secret, data, self._digest()).hexdigest()

    def key_id(self) -> str:
        """A public fingerprint of key and algorithm (which key wrote a chain, without revealing it)."""
        return self.mac(b"bohai audit key id")[:16]

    def row_mac(self, row: Mapping[str, Any], prev_mac: str) -> str:
        return self.mac(canonical_row(row, prev_mac))

    def sign(self, payload: bytes) -> str:
        """The signature of an archive's payload (a MAC under a key derived for archives only)."""
        sub = hmac.new(self.secret, b"bohai audit archive", self._digest()).digest()
        return hmac.new(sub, payload, self._digest()).hexdigest()

    def with_chain(self, chain: str) -> AuditKey:
        return AuditKey(self.secret, self.algorithm, chain, self.source)


def canonical_row(row: Mapping[str, Any], prev_mac: str) -> bytes:
    """The bytes a row's MAC covers: chain, seq, the stored columns (time as UTC ISO text) and the previous MAC."""
    values: list[Any] = [row["chain"], int(row["seq"])]
    for name in ROW_FIELDS:
        value = row[name]
        values.append(iso_utc(value) if name == "at" else value)
    values.append(prev_mac)
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode()


def iso_utc(value: dt.datetime) -> str:
    """One text for the same instant whichever database returned it (aware or naive UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")


def load_key(key_file: str, algorithm: str, chain: str) -> AuditKey:
    """The key in ``key_file`` (hex, base64-free raw text or bytes; at least 16 bytes); errors name the option."""
    path = Path(key_file).expanduser()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"audit.key_file: cannot read {path}: {exc.strerror or exc}") from None
    text = raw.strip()
    try:
        secret = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        secret = text
    return AuditKey(secret, algorithm, chain, source=str(path))


def new_key_text() -> str:
    """A fresh key for a key file: 32 random bytes as hex."""
    return secrets.token_hex(32) + "\n"


def key_of(key_file: str, algorithm: str, chain: str) -> AuditKey | None:
    """The key of the ``[audit]`` options, or None when no key file is set (the database's own key is used)."""
    if algorithm not in ALGORITHMS:
        raise SettingsError(f"audit.algorithm: expected one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    return load_key(key_file, algorithm, chain) if key_file else None
