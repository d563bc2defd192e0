"""The AD flavour's entries against ldap3's offline AD schema: the ``contact`` class allows every attribute we
write, single-valued ones get one value, every value fits its AD length (a long one cut by the rule, its full text
in ``info``), ``cn`` is unique though unit names repeat; and a publish into a mock AD then plans nothing more.
"""

from __future__ import annotations

from directory.snapshot import Snapshot, build
from directory.sync.connect import Remote
from directory.sync.plan import diff
from directory.sync.publish import apply
from directory.sync.shapes import AD, AD_LIMITS, ELLIPSIS, ad_entry, cut, units
from tests.support.adschema import CONTACTS, ad_schema, allowed_attributes, mock_ad
from tests.support.snapshots import office_row, region_row

SOURCE_BASE = "dc=bohai,dc=example"
LONG_NAME = "石家庄市长安区流动人口服务管理中心暨外来务工人员综合服务大厅及社区网格化管理工作站联合办公室" * 2  # > 64


def snapshot() -> Snapshot:
    regions = [
        region_row("130000000000", "河北省", "province", None),
        region_row("130100000000", "石家庄市", "city", "130000000000"),
        region_row("130102000000", "长安区", "county", "130100000000"),
        region_row("130102001000", "城关镇", "township", "130102000000"),
        region_row("130104000000", "桥西区", "county", "130100000000"),
        region_row("130104001000", "城关镇", "township", "130104000000"),
    ]
    offices = [
        office_row(1, "130100000000", unit_name="石家庄市流动人口服务管理办公室", phone="+8631186012345"),
        office_row(2, "130102000000", unit_name=LONG_NAME, email="ca@example.org", address="中山东路1号" * 300),
        office_row(3, "130102001000", unit_name="城关镇", contact_name="张伟", position="主任", postal_code="050000"),
        office_row(4, "130104001000", unit_name="城关镇", fax="+8631187654321"),
    ]
    return build(regions, offices, [], generation=1)


def test_entries_fit_the_contact_class_and_the_ad_lengths() -> None:
    schema = ad_schema()
    may, must = allowed_attributes(schema, "contact")
    snap = snapshot()
    entries = [ad_entry(snap, office, CONTACTS, SOURCE_BASE) for office in snap.offices.values()]
    for entry in entries:
        names = {name.lower() for name in entry.attrs}
        assert names <= may | must, names - may - must
        assert {"cn", "objectclass"} <= names
        for name, values in entry.attrs.items():
            if schema.attribute_types[name].single_value:
                assert len(values) == 1, name
            if name in AD_LIMITS:
                assert all(units(v) <= AD_LIMITS[name] for v in values), name
    assert len({e.attrs["cn"][0] for e in entries}) == len(entries)  # two 城关镇, two cn
    by_cn = {e.attrs["cn"][0]: e for e in entries}
    assert by_cn["130102001000"].attrs["displayName"] == ["城关镇（长安区）"]
    assert by_cn["130104001000"].attrs["displayName"] == ["城关镇（桥西区）"]
    long = by_cn["130102000000"].attrs
    assert long["company"][0].endswith(ELLIPSIS) and units(long["company"][0]) == 64
    assert f"company: {LONG_NAME}" in long["info"][0]
    source_dn = "uid=130102000000,ou=130102000000,ou=130100000000,ou=130000000000," + SOURCE_BASE
    assert long["msDS-SourceObjectDN"] == [source_dn]
    assert "info" not in by_cn["130102001000"].attrs


def test_cut_counts_utf16_units_and_never_splits_a_character() -> None:
    assert cut("短", 64) == "短"
    assert cut("甲" * 65, 64) == "甲" * 63 + ELLIPSIS
    astral = "𠀀" * 40  # outside the BMP: two units each in AD's count
    fitted = cut(astral, 64)
    assert units(fitted) <= 64 and fitted == "𠀀" * 31 + ELLIPSIS


def test_publish_into_a_mock_ad_then_plans_nothing() -> None:
    snap = snapshot()
    remote = Remote(mock_ad(), "mock://ad")
    wanted = {code: ad_entry(snap, office, CONTACTS, SOURCE_BASE) for code, office in snap.offices.items()}
    first = diff(AD, wanted, {}, SOURCE_BASE)
    apply(remote, first)
    found = remote.read(CONTACTS, "(objectClass=*)", ["*"])
    present = {AD.key_of(dn): (dn, attrs) for dn, attrs in found if AD.key_of(dn)}  # the mock's LEVEL has the base
    assert set(present) == set(wanted)
    assert diff(AD, wanted, present, SOURCE_BASE).empty
    owned = list(remote.read(CONTACTS, AD.owned_filter(), ["cn"]))
    assert len(owned) == len(wanted)
