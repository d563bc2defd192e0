"""The DIT of DESIGN §4 built from a Snapshot."""

from __future__ import annotations

from directory import dit
from directory.snapshot import build
from tests.support.snapshots import office_row, region_row


def _snap() -> object:
    regions = [
        region_row("130000000000", "河北省", "province", None),
        region_row("130100000000", "石家庄市", "city", "130000000000"),
        region_row("130102000000", "长安区", "county", "130100000000"),
    ]
    office = office_row(
        1,
        "130102000000",
        unit_name="长安区流动人口服务管理中心",
        contact_name="张伟",
        position="主任",
        phone="+8631187654321",
        fax="+8631187654322",
        email="ca@example.org",
        address="中山东路1号$东楼",
        postal_code="050000",
    )
    contact = {"id": 7, "office_id": 1, "name": "李娜", "position": "科员", "phone": "", "email": "ln@example.org"}
    return build(regions, [office], [contact | {"demo": False}], 1)


def test_entries_shape() -> None:
    snap = _snap()
    base = "dc=bohai,dc=example"
    all_entries = list(dit.entries(snap, base))  # type: ignore[arg-type]
    dns = [e.dn for e in all_entries]
    assert dns == [
        base,
        "ou=130000000000,dc=bohai,dc=example",
        "ou=130100000000,ou=130000000000,dc=bohai,dc=example",
        "ou=130102000000,ou=130100000000,ou=130000000000,dc=bohai,dc=example",
        "uid=130102000000,ou=130102000000,ou=130100000000,ou=130000000000,dc=bohai,dc=example",
        "uid=130102000000-7,ou=130102000000,ou=130100000000,ou=130000000000,dc=bohai,dc=example",
    ]
    card = all_entries[4]
    assert card.attrs["objectClass"] == ["top", "person", "organizationalPerson", "inetOrgPerson"]
    assert card.first("cn") == card.first("sn") == "长安区流动人口服务管理中心"
    assert card.first("givenName") == "张伟" and card.first("title") == "主任"
    assert card.first("telephoneNumber") == "0311-87654321"
    assert card.first("facsimileTelephoneNumber") == "0311-87654322"
    assert card.first("postalAddress") == "中山东路1号\\24东楼"
    assert card.first("l") == "石家庄市" and card.first("st") == "河北省"
    assert card.first("o") == "河北省石家庄市长安区"
    assert all_entries[3].attrs["ou"] == ["130102000000", "长安区"]
    assert all_entries[5].first("description") == "长安区流动人口服务管理中心"


def test_escape_dn_value() -> None:
    assert dit.escape_dn_value("a,b+c") == "a\\,b\\+c"
    assert dit.escape_dn_value(" #x ") == "\\ #x\\ "


def test_multi_line_address_uses_dollar_lines_and_one_line_street() -> None:
    snap = _snap()
    office = snap.offices["130102000000"]  # type: ignore[attr-defined]
    import dataclasses

    two_lines = dataclasses.replace(office, address="中山东路1号\n东楼 302室")
    entry = dit.office_entry(snap, two_lines, "dc=bohai,dc=example")  # type: ignore[arg-type]
    assert entry.first("postalAddress") == "中山东路1号$东楼 302室"
    assert entry.first("street") == "中山东路1号 东楼 302室"
