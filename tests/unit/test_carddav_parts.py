"""CardDAV's pure parts: vCard lines folded at 75 octets between whole characters, display names of offices that
share a name, the addressbook-query filter, request parsing that refuses DTDs, book membership and paths."""

from __future__ import annotations

import pytest
import vobject

from directory.carddav import books, davxml, query
from directory.errors import Precondition, ValidationFailed
from directory.exchange.vcard import card_30, display_name
from directory.snapshot import Snapshot
from directory.validate import OfficeData
from tests.support.exchange_data import snapshot_of

CHANGAN = "130102000000"
QIAOXI = "130104000000"
LIXIA = "370102000000"
LONG = "河北省石家庄市长安区流动人口服务管理中心（" + "很长的名称" * 12 + "）"


def _snap() -> Snapshot:
    return snapshot_of(
        [
            OfficeData(CHANGAN, LONG, contact_name="张伟", phone="+8631187654321", email="a@b.example"),
            OfficeData(QIAOXI, "城关镇服务站", contact_name="李娜", fax="+8631187650000"),
            OfficeData(LIXIA, "城关镇服务站"),
        ]
    )


def test_lines_are_folded_at_75_octets_between_characters() -> None:
    snap = _snap()
    text = card_30(snap, snap.offices[CHANGAN])
    lines = text.split("\r\n")
    assert lines[-1] == "" and all(len(line.encode("utf-8")) <= 75 for line in lines)
    assert any(line.startswith(" ") for line in lines), "the long name was folded"
    card = vobject.readOne(text)
    assert card.fn.value == LONG and card.uid.value == CHANGAN and card.n.value.family == "张伟"


def test_offices_sharing_a_name_are_told_apart_by_the_region_above() -> None:
    snap = _snap()
    assert display_name(snap, snap.offices[CHANGAN]) == LONG
    assert display_name(snap, snap.offices[QIAOXI]) == "城关镇服务站（石家庄市）"
    assert display_name(snap, snap.offices[LIXIA]) == "城关镇服务站（济南市）"
    assert "ORG:城关镇服务站（济南市）\r\n" in card_30(snap, snap.offices[LIXIA])


def _filter(xml: str) -> query.Filter:
    root = davxml.parse(f'<f xmlns="urn:ietf:params:xml:ns:carddav">{xml}</f>'.encode())
    return query.parse_filter(root)


def test_query_filters() -> None:
    snap = _snap()
    changan, qiaoxi = snap.offices[CHANGAN], snap.offices[QIAOXI]

    def hits(xml: str) -> set[str]:
        test = _filter(xml)
        return {o.region_code for o in (changan, qiaoxi) if query.matches(test, o, display_name(snap, o))}

    assert hits("") == {CHANGAN, QIAOXI}
    assert hits('<prop-filter name="TEL"><text-match>0311 8765-4321</text-match></prop-filter>') == {CHANGAN}
    assert hits('<prop-filter name="FN"><text-match match-type="starts-with">城关</text-match></prop-filter>') == {
        QIAOXI
    }
    assert hits('<prop-filter name="EMAIL"><is-not-defined/></prop-filter>') == {QIAOXI}
    assert hits('<prop-filter name="EMAIL"/>') == {CHANGAN}
    negated = '<prop-filter name="N"><text-match negate-condition="yes">张</text-match></prop-filter>'
    assert hits(negated) == {QIAOXI}
    both = '<prop-filter name="N"><text-match>张</text-match></prop-filter><prop-filter name="FN"><text-match>城关'
    assert hits(f'{both}</text-match></prop-filter>') == {CHANGAN, QIAOXI}
    octet = '<prop-filter name="EMAIL"><text-match collation="i;octet" match-type="equals">A@B.example</text-match>'
    assert hits(octet + "</prop-filter>") == set()
    assert hits(octet.replace("i;octet", "i;ascii-casemap") + "</prop-filter>") == {CHANGAN}
    with pytest.raises(Precondition):
        _filter('<prop-filter name="TEL"><param-filter name="TYPE"/></prop-filter>')


def test_allof_needs_every_prop_filter() -> None:
    snap = _snap()
    root = davxml.parse(
        b'<f xmlns="urn:ietf:params:xml:ns:carddav" test="allof"><prop-filter name="N"><text-match>\xe5\xbc\xa0'
        b'</text-match></prop-filter><prop-filter name="FAX"/></f>'
    )
    test = query.parse_filter(root)
    assert test.allof and not query.matches(test, snap.offices[CHANGAN], LONG)


def test_request_parsing_refuses_dtds_and_reports_bad_xml() -> None:
    assert davxml.parse(b"  ") is None
    for body in (b'<!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>', b"<a><b></a>"):
        with pytest.raises(ValidationFailed):
            davxml.parse(body)


def test_paths_and_membership() -> None:
    snap = _snap()
    assert books.resolve(snap, "/carddav/") == books.Target("root")
    assert books.resolve(snap, "/carddav/p/130100000000/book/130102000000.vcf") == books.Target(
        "card", "130100000000", CHANGAN
    )
    for bad in ("/carddav/p/130102000000/", "/carddav/p/all/x/", "/carddav/p/all/book/1.vcf", "/other/"):
        assert books.resolve(snap, bad) is None, bad
    assert books.in_book(snap, "130000000000", CHANGAN) and not books.in_book(snap, "370000000000", CHANGAN)
    assert list(books.members(snap, "130100000000")) == [CHANGAN, QIAOXI]
    assert list(books.members(snap, books.ALL)) == [CHANGAN, QIAOXI, LIXIA]
    assert books.book_name(snap, "130100000000") == "河北省石家庄市流动人口服务机构通讯录"
