"""The audit MAC: HMAC-SHA256 and HMAC-SM3 (OpenSSL's SM3 and gmssl's agree on the standard's test vector), a row's
MAC covers every column and its predecessor's MAC, the same instant gives the same bytes from either database, and a
bad key file or option is refused naming the option."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from pathlib import Path

import pytest

from directory.auditmac import AuditKey, _GmsslSM3, canonical_row, key_of, load_key, sm3_factory
from directory.errors import SettingsError

ROW = {
    "chain": "a",
    "seq": 1,
    "at": dt.datetime(2026, 12, 6, 6, 0, tzinfo=dt.UTC),
    "actor": "editor",
    "entity": "office",
    "entity_key": "130102000000",
    "action": "update",
    "before": '{"phone": "+8613812341234"}',
    "after": '{"phone": "+8613812340000"}',
}


def _other(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value + dt.timedelta(microseconds=1)
    if isinstance(value, int):
        return value + 1
    return f"{value}x"


def test_sm3_implementations_agree_on_the_standard_vector() -> None:
    expected = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"  # GB/T 32905 example 1 ("abc")
    assert _GmsslSM3(b"abc").hexdigest() == expected
    try:
        hashlib.new("sm3")
    except ValueError:
        pytest.skip("this OpenSSL has no SM3; gmssl alone is used")
    assert sm3_factory()(b"abc").hexdigest() == expected
    a = AuditKey(b"k" * 32, "hmac-sm3")
    assert a.mac(b"x") == hmac.new(b"k" * 32, b"x", _GmsslSM3).hexdigest()


def test_row_mac_covers_every_column_and_the_chain() -> None:
    for algorithm in ("hmac-sha256", "hmac-sm3"):
        key = AuditKey(b"s" * 32, algorithm)
        mac = key.row_mac(ROW, "")
        for name in ("chain", "seq", "at", "actor", "entity", "entity_key", "action", "before", "after"):
            assert key.row_mac({**ROW, name: _other(ROW[name])}, "") != mac, (algorithm, name)
        assert key.row_mac(ROW, "prev") != mac
    assert AuditKey(b"s" * 32).row_mac(ROW, "") != AuditKey(b"t" * 32).row_mac(ROW, "")
    naive = {**ROW, "at": dt.datetime(2026, 12, 6, 6, 0)}  # SQLite hands UTC back naive
    beijing = {**ROW, "at": dt.datetime(2026, 12, 6, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))}
    assert canonical_row(naive, "") == canonical_row(ROW, "") == canonical_row(beijing, "")


def test_key_file_and_options_are_checked(tmp_path: Path) -> None:
    assert key_of("", "hmac-sha256", "a") is None
    good = tmp_path / "k"
    good.write_text("ab" * 32 + "\n")
    assert load_key(str(good), "hmac-sm3", "node-1").secret == bytes.fromhex("ab" * 32)
    short = tmp_path / "short"
    short.write_text("abcd")
    with pytest.raises(SettingsError, match=r"audit\.key_file"):
        load_key(str(short), "hmac-sha256", "a")
    with pytest.raises(SettingsError, match=r"audit\.key_file"):
        load_key(str(tmp_path / "missing"), "hmac-sha256", "a")
    with pytest.raises(SettingsError, match=r"audit\.algorithm"):
        key_of(str(good), "md5", "a")
    with pytest.raises(SettingsError, match=r"audit\.chain"):
        AuditKey(b"k" * 32, chain="bad chain")
