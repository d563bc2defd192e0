"""The bundled division tree and the deterministic demo data."""

from __future__ import annotations

from collections import Counter

from directory import demo, regions
from directory.validate import clean_office, parse_phone


def test_bundled_counts_match_the_source_note() -> None:
    divs = regions.divisions()
    assert len(divs) == 15404 == regions.division_count()
    levels = Counter(d.level for d in divs)
    assert levels == {"province": 10, "city": 103, "county": 1078, "township": 14213}
    assert {d.code[:2] for d in divs if d.level == "province"} == set(regions.PROVINCES)
    assert regions.SOURCE_LINE in (regions.DATA_DIR / "SOURCE.md").read_text(encoding="utf-8")


def test_phone_city_walks_up() -> None:
    parents = regions.parent_map()
    assert regions.phone_city("130102001000", parents).area_code == "0311"  # type: ignore[union-attr]
    assert regions.phone_city("110101001000", parents).area_code == "010"  # type: ignore[union-attr]
    assert regions.phone_city("419001000000", parents).area_code == "0391"  # type: ignore[union-attr]
    assert regions.path_names("130102000000") == ["河北省", "石家庄市", "长安区"]


def test_demo_is_deterministic_valid_and_marked() -> None:
    first = list(demo.demo_offices())
    assert first == list(demo.demo_offices())
    assert len(first) == 15404
    known = regions.by_code()
    for office in first[::97]:
        cleaned = clean_office({**office.fields(), "region_code": office.region_code}, known_region=known)
        assert not cleaned.errors, cleaned.errors
        assert office.email == "" or office.email.endswith("@demo.bohai.example")
        assert "演示" in office.position
    liaisons = [o for o in first if o.liaison]
    assert sorted(o.region_code[:2] for o in liaisons) == sorted(regions.PROVINCES)
    sjz = demo.office_for(known["130102001000"])
    num = parse_phone(sjz.phone.replace("+86", "0"))
    assert num is not None and str(num.national_number).startswith("311")
    assert sum(1 for o in first if not o.email) > 100  # some townships lack e-mail, as in real life
    assert all(o.phone.startswith("+86") for o in first)  # every demo office has a valid phone


def test_bundled_region_pinyin_is_current_and_complete() -> None:
    """data/region_pinyin.csv covers every bundled name and equals what pypinyin's phrase reading gives now."""
    import json
    import os
    import subprocess
    import sys

    from directory import pinyin

    table = pinyin._bundled()
    names = sorted({d.name for d in regions.divisions()})
    assert set(table) == set(names)
    assert table["长安区"] == ("changanqu", "caq")
    sample = names[::97]
    code = (
        "import json, sys; from directory.pinyin import _keys; "
        "print(json.dumps([_keys(n) for n in json.loads(sys.stdin.read())]))"
    )
    env = {**os.environ, "PYPINYIN_NO_PHRASES": ""}  # empty: pypinyin loads its phrase dictionary
    out = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(sample), capture_output=True, text=True, env=env, check=True
    )
    assert [tuple(k) for k in json.loads(out.stdout)] == [table[n] for n in sample]
