"""The pure parts of directory sync: what a plan adds, modifies, deletes and leaves alone (only entries with our
marker), its summary, the RDN keys, and the checks of a pull's mapping file."""

from __future__ import annotations

from pathlib import Path

import pytest

from directory.dit import Entry
from directory.errors import SettingsError
from directory.sync.plan import diff, summary
from directory.sync.pull import load_mapping
from directory.sync.shapes import AD, MARKER, OPENLDAP

BASE = "ou=bohai,dc=x"
SOURCE = "dc=bohai,dc=example"


def card(code: str, cn: str) -> Entry:
    return Entry(f"uid={code},{BASE}", {"cn": [cn], "sn": [cn], "employeeType": [MARKER]})


def test_diff_adds_modifies_deletes_only_ours_and_reports_conflicts() -> None:
    wanted = {"1": card("1", "new"), "2": card("2", "same"), "3": card("3", "theirs"), "5": card("5", "changed")}
    present = {
        "2": ("uid=2,OU=Bohai,DC=x", {"cn": ["same"], "sn": ["same"], "employeetype": [MARKER]}),
        "3": (f"uid=3,{BASE}", {"cn": ["someone"], "sn": ["else"]}),
        "4": (f"uid=4,{BASE}", {"cn": ["gone"], "employeetype": [MARKER]}),
        "5": (f"uid=5,{BASE}", {"cn": ["old"], "sn": ["changed"], "givenname": ["x"], "employeetype": [MARKER]}),
        "6": (f"uid=6,{BASE}", {"cn": ["not ours, not wanted"]}),
    }
    plan = diff(OPENLDAP, wanted, present, SOURCE)
    assert [e.dn for e in plan.adds] == [f"uid=1,{BASE}"]
    assert [(m.dn, m.changes) for m in plan.modifies] == [(f"uid=5,{BASE}", {"cn": ["changed"], "givenName": []})]
    assert plan.deletes == [f"uid=4,{BASE}"] and plan.conflicts == [f"uid=3,{BASE}"]
    lines = summary(plan, shown=1)
    assert lines[0] == "新增 1，修改 1，删除 1" and f"  冲突（不属于本服务，未改动）：uid=3,{BASE}" in lines


def test_summary_names_the_first_entries_and_counts_the_rest() -> None:
    wanted = {str(i): card(str(i), "x") for i in range(7)}
    lines = summary(diff(OPENLDAP, wanted, {}, SOURCE))
    assert lines[1:] == [*(f"  新增：uid={i},{BASE}" for i in range(5)), "  新增：……另有 2 个"]


def test_rdn_keys_and_ad_ownership() -> None:
    assert OPENLDAP.key_of(f"uid=130102000000,{BASE}") == "130102000000"
    assert OPENLDAP.key_of(f"uid=alice,{BASE}") == "" and OPENLDAP.key_of(f"cn=130102000000,{BASE}") == ""
    assert AD.key_of("CN=130102000000,OU=bohai,DC=ad") == "130102000000"
    ours = {"msds-sourceobjectdn": [f"uid=1,ou=1,{SOURCE}"]}
    assert AD.is_ours(ours, SOURCE) and not AD.is_ours(ours, "dc=other,dc=example") and not AD.is_ours({}, SOURCE)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('o = "unit_name"\n', "必须有一个属性映射到 region_code"),
        ('uid = "region_code"\ncn = "name"\n', "cn 应映射到以下字段之一"),
        ('uid = "region_code"\no = "unit_name"\nou = "unit_name"\n', "字段 unit_name 被映射了不止一次"),
        ("uid = region_code\n", "不是有效的 UTF-8 TOML"),
    ],
)
def test_a_bad_mapping_file_is_refused_naming_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match=message):
        load_mapping(str(path), "pull.sx.mapping")
    assert load_mapping_ok(tmp_path) == {"uid": "region_code", "o": "unit_name"}


def load_mapping_ok(folder: Path) -> dict[str, str]:
    path = folder / "ok.toml"
    path.write_text('uid = "region_code"\no = "unit_name"\n', encoding="utf-8")
    return load_mapping(str(path), "pull.sx.mapping")
