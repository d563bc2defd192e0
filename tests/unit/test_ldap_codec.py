"""BER codec and LDAP PDUs: exact bytes, strict decoding, filter round trips (hypothesis)."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from directory.ldap import client as lc
from directory.ldap import controlvalues as cv
from directory.ldap import filtertree as ft
from directory.ldap import messages as m
from directory.ldap.ber import BerError, enc_int, enc_len, frame_size, read_tlv, tlv
from directory.ldap.filterstr import parse_filter
from tests.support.ldap import filter_trees


def test_lengths_and_integers_encode_as_der() -> None:
    assert enc_len(5) == b"\x05"
    assert enc_len(200) == b"\x81\xc8"
    assert enc_len(70000) == b"\x83\x01\x11\x70"
    assert enc_int(0) == b"\x02\x01\x00"
    assert enc_int(127) == b"\x02\x01\x7f"
    assert enc_int(128) == b"\x02\x02\x00\x80"
    assert enc_int(-1) == b"\x02\x01\xff"


def test_decoded_requests_are_frozen_records_that_compare_and_hash_by_value() -> None:
    a = ft.Substrings("cn", None, ("王芳",), None)
    same = ft.Substrings("cn", None, ("王芳",), None)
    assert a == same and hash(a) == hash(same) and a is not same
    assert a != ft.Substrings("sn", None, ("王芳",), None)
    assert ft.And((a,)) != ft.Or((a,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.attr = "sn"  # type: ignore[misc]
    assert m.Message(3, m.UnbindRequest()).controls == ()
    assert pickle.loads(pickle.dumps(a)) == a


@pytest.mark.parametrize("size", [0, 1, 120, 124, 125, 250, 251, 252, 253, 300, 65_000, 65_530, 65_531, 70_000])
def test_a_search_answer_frames_each_entry_as_one_message(size: int) -> None:
    """Entries of every length class (short, one and two length bytes, and more) are framed as whole messages."""
    entry = m.entry_op("cn=x", b"\x30" + enc_len(size) + b"a" * size)
    done = m.result(m.SEARCH_DONE, m.SUCCESS)
    for msgid in (5, 300, 70_000):
        answer = m.search_answer(msgid, [entry, entry], done)
        pdus = []
        while answer:
            n = frame_size(answer, 1 << 20)
            assert n is not None
            pdus.append(answer[:n])
            answer = answer[n:]
        assert len(pdus) == 3
        assert pdus[0] == pdus[1] == m.message(msgid, entry)
        assert pdus[2] == m.message(msgid, done)


def test_bind_request_bytes_match_the_rfc_layout() -> None:
    pdu = lc.encode_message(1, lc.encode_bind())
    assert pdu == bytes.fromhex("300c020101600702010304008000")
    msg = m.decode_message(pdu)
    assert msg.msgid == 1 and msg.op == m.BindRequest(3, "", True, b"")


def test_framing_waits_for_whole_pdus_and_refuses_oversized_or_non_sequence() -> None:
    pdu = lc.encode_message(7, lc.encode_bind("cn=x", "pw"))
    assert frame_size(pdu[:1], 100) is None
    assert frame_size(pdu[:-1], 100) is None
    assert frame_size(pdu + b"\x30", 100) == len(pdu)
    with pytest.raises(BerError, match="exceeds the limit"):
        frame_size(b"\x30\x84\x00\x10\x00\x00", 1024)
    with pytest.raises(BerError, match="must be a SEQUENCE"):
        frame_size(b"\x02\x01\x00", 1024)


@pytest.mark.parametrize(
    "bad",
    [
        b"\x30\x80\x02\x01\x01\x42\x00\x00\x00",  # indefinite length
        b"\x30\x05\x02\x01\x01\x42\x05",  # child longer than container
        b"\x30\x03\x02\x01\x01",  # no operation
        b"\x30\x06\x02\x01\x01\x1f\x01\x00",  # multi-byte tag
        b"\x30\x07\x02\x02\x01\x01\x60\x01\x00",  # bind body malformed
    ],
)
def test_malformed_messages_raise_ber_error(bad: bytes) -> None:
    with pytest.raises(BerError):
        m.decode_message(bad)


def test_read_tlv_checks_bounds() -> None:
    with pytest.raises(BerError):
        read_tlv(b"\x04\x05abc", 0, 5)
    assert read_tlv(b"\x04\x03abc", 0, 5) == (4, 2, 5)


def test_nested_and_or_filters_from_outlook_decode() -> None:
    text = "(&(mail=*)(|(mail=张*)(|(cn=张*)(|(sn=张*)(givenName=张*)))))"
    f = parse_filter(text)
    req = m.SearchRequest("dc=bohai,dc=example", 2, 0, 100, 0, False, f, ("cn", "mail"))
    msg = m.decode_message(lc.encode_message(3, lc.encode_search(req)))
    assert msg.op == req
    assert isinstance(msg.op, m.SearchRequest)
    inner = msg.op.filter
    assert isinstance(inner, ft.And) and isinstance(inner.items[1], ft.Or)


def test_filter_string_escapes_and_every_type() -> None:
    f = parse_filter("(&(cn=a\\2ab*)(!(sn<=z))(o>=a)(title~=主任)(uid:caseExactMatch:=x)(ou:dn:=y))")
    assert isinstance(f, ft.And)
    assert f.items[0] == ft.Substrings("cn", "a*b", (), None)
    assert f.items[3] == ft.Compare("~=", "title", "主任")
    assert f.items[4] == ft.Extensible("caseExactMatch", "uid", "x", False)
    assert f.items[5] == ft.Extensible(None, "ou", "y", True)
    with pytest.raises(ValueError, match="at 8"):
        parse_filter("(&(cn=a)")


def test_controls_decode_and_response_controls_encode() -> None:
    ctrls = (lc.paged_request(50, b"ck"), lc.sort_request(cv.SortKey("cn", None, True)), lc.vlv_request(0, 19, 1, 0))
    msg = m.decode_message(lc.encode_message(2, lc.encode_bind(), ctrls))
    assert [c.oid for c in msg.controls] == [m.OID_PAGED, m.OID_SORT_REQ, m.OID_VLV_REQ]
    assert cv.decode_paged(msg.controls[0].value) == (50, b"ck")
    assert cv.decode_sort(msg.controls[1].value) == (cv.SortKey("cn", None, True),)
    assert cv.decode_vlv(msg.controls[2].value) == cv.VlvRequest(0, 19, 1, 0, None, None)
    assert msg.controls[2].critical
    with pytest.raises(BerError):
        cv.decode_paged(b"\x30\x03\x02\x01\x05")


_attr = st.sampled_from(["cn", "mail", "givenName", "mozillaNickname", "objectClass", "telephoneNumber"])
_val = st.text(alphabet="张王李市区ab c*()\\-0123456789", max_size=6)
filters = filter_trees(_attr, _val, max_leaves=12, extensible=True)


@settings(max_examples=300, deadline=None)
@given(filters)
def test_any_filter_round_trips_through_ber(f: ft.Filter) -> None:
    enc = lc.encode_filter(f)
    tag, s, e = read_tlv(enc, 0, len(enc))
    assert e == len(enc)
    assert ft.decode_filter(enc, tag, s, e) == f


def test_deeply_nested_filter_is_refused() -> None:
    enc = lc.encode_filter(ft.Present("cn"))
    for _ in range(ft.MAX_FILTER_DEPTH + 2):
        enc = tlv(0xA2, enc)
    tag, s, e = read_tlv(enc, 0, len(enc))
    with pytest.raises(BerError, match="too deeply"):
        ft.decode_filter(enc, tag, s, e)
