"""Pulling a province's own directory (a tree in a real slapd) into ours: its entries become the province's offices
by the import's rules — every bad value named with its DN and nothing written — a second pull with one changed
entry changes one office, and offices the source lacks are removed only with ``delete_missing``.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import ldap3
import pytest

from directory.store import Store, open_store
from directory.sync import pull, state
from liaison import settings as liaison_settings
from liaison.cli import main
from tests.support.slapd import Slapd
from tests.support.sync import province_entry, pull_config

SOURCE = [
    ("140000000000", "山西省流动人口服务管理办公室", "王山"),
    ("140100000000", "太原市流动人口服务中心", "李原"),
    ("140105000000", "小店区流动人口服务站", "赵店"),
    ("140106000000", "迎泽区流动人口服务站", "钱泽"),
]
_ous = itertools.count()
OURS = """\
dn: uid=130102000000,{base}
objectClass: inetOrgPerson
uid: 130102000000
cn: 长安区流动人口服务管理中心
sn: 长安区流动人口服务管理中心
employeeNumber: 130102000000
employeeType: bohai-liaison
"""


def source_tree(slapd: Slapd, extra: str = "") -> str:
    base = f"ou=src{next(_ous)},{slapd.suffix}"
    entries = [province_entry(base, *row) for row in SOURCE]
    head = f"dn: {base}\nobjectClass: organizationalUnit\nou: {base[3:].split(',')[0]}\n"
    slapd.add_ldif("\n".join([head, *entries, extra.format(base=base)]))
    return base


def test_pull_makes_the_province_offices_and_a_second_pull_changes_one(
    slapd: Slapd, store: Store, tmp_path: Path
) -> None:
    base = source_tree(slapd, OURS)  # with an entry we published there, of another province: skipped, no error
    settings = liaison_settings.load(pull_config(tmp_path, slapd, base), env={})
    source = settings.pull["shanxi"]

    dry = pull.run(store, "shanxi", source, dry_run=True, actor="pull:shanxi")
    assert (dry.read, dry.created, store.count_offices()) == (4, 4, 0)
    assert dry.warnings == ["跳过 1 个由本服务发布到该目录的条目"]

    first = pull.run(store, "shanxi", source, dry_run=False, actor="pull:shanxi")
    assert (first.created, first.updated) == (4, 0)
    office = store.get_office("140105000000")
    assert office is not None and office["unit_name"] == "小店区流动人口服务站" and office["contact_name"] == "赵店"
    assert office["phone"] == "+863517654321" and office["email"] == "140105000000@sx.example.org"
    assert store.history("office", "140105000000")[0]["actor"] == "pull:shanxi"

    conn = slapd.connection()
    conn.modify(f"cn=李原,{base}", {"telephoneNumber": [(ldap3.MODIFY_REPLACE, ["0351-1234567"])]})
    second = pull.run(store, "shanxi", source, dry_run=False, actor="pull:shanxi")
    assert (second.created, second.updated, second.unchanged) == (0, 1, 3)
    changed = store.history("office", "140100000000")[0]
    assert changed["before"]["phone"] == "+863517654321" and changed["after"]["phone"] == "+863511234567"

    conn.delete(f"cn=钱泽,{base}")
    conn.unbind()
    kept = pull.run(store, "shanxi", source, dry_run=False, actor="pull:shanxi")
    assert kept.removed == 0 and store.get_office("140106000000") is not None
    deleting = liaison_settings.load(pull_config(tmp_path, slapd, base, delete_missing="true"), env={})
    gone = pull.run(store, "shanxi", deleting.pull["shanxi"], dry_run=False, actor="pull:shanxi")
    assert gone.removed == 1 and store.get_office("140106000000") is None
    last = state.load(store, "pull", "shanxi").last
    assert last is not None and last.ok and last.deleted == 1


BAD = """\
dn: cn=坏号码,{base}
objectClass: inetOrgPerson
cn: 坏号码
sn: 坏
employeeNumber: 140107000000
o: 杏花岭区服务站
telephoneNumber: 12345
"""


def test_a_bad_value_is_named_with_its_dn_and_nothing_is_written(
    slapd: Slapd,
    sqlite_demo_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = source_tree(slapd)
    slapd.add_ldif(BAD.format(base=base) + "\n" + province_entry(base, "130102000000", "长安区（河北）", "孙河"))
    monkeypatch.setenv("BOHAI_DATABASE_URL", sqlite_demo_url)
    assert main(["--config", str(pull_config(tmp_path, slapd, base)), "pull", "shanxi"]) == 1
    err = capsys.readouterr().err
    assert f"cn=坏号码,{base}：联系电话：" in err and "12345" in err
    assert f"cn=孙河,{base}：区划代码：不属于本来源负责的省份 14" in err
    db = open_store(sqlite_demo_url)
    try:
        office = db.get_office("140105000000")
        assert office is not None and office["contact_name"] != "赵店"  # the good entries were not written either
        assert not any(row["actor"].startswith("pull") for row in db.history("office", "140105000000"))
        last = state.load(db, "pull", "shanxi").last
        assert last is not None and "未写入任何数据" in last.error
    finally:
        db.close()
