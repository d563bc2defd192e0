"""The DIT of DESIGN §4 built from a Snapshot."""

from __future__ import annotations

from directory import dit
from directory.snapshot import build


def _snap() -> object:
    regions = [
        {
            "code": "130000000000",
            "name": "河北省",
            "level": "province",
            "parent_code": None,
            "province_code": "130000000000",
        },
        {
            "code": "130100000000",
            "name": "石家庄市",
            "level": "city",
            "parent_code": "130000000000",
            "province_code": "130000000000",
        },
        {
            "code": "130102000000",
            "name": "长安区",
            "level": "county",
            "parent_code": "130100000000",
            "province_code": "130000000000",
        },
    ]
    office = {
        "id": 1,
        "region_code": "130102000000",
        "unit_name": "长安区流动人口服务管理中心",
        "contact_name": "张伟",
        "position": "主任",
        "phone": "+8631187654321",
        "fax": "+8631187654322",
        "email": "ca@example.org",
        "address": "中山东路1号$东楼",
        "postal_code": "050000",
        "liaison": False,
        "email_status": "ok",
        "email_status_note": "",
        "verified_at": None,
        "demo": False,
        "version": 1,
        "updated_at": None,
        "updated_by": "",
    }
    contact = {
        "id": 7,
        "office_id": 1,
        "name": "李娜",
        "position": "科员",
        "phone": "",
        "email": "ln@example.org",
        "demo": False,
    }
    return build(regions, [office], [contact], 1)


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
