"""Pure parts of the web face: vCards (3.0 and the Outlook 2.1 variant) and the data-quality figures."""

from __future__ import annotations

import datetime as dt

from directory import quality
from directory.snapshot import build
from tests.support.snapshots import office_row, region_row

NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
REGIONS = [
    region_row("130000000000", "河北省", "province", None),
    region_row("130100000000", "石家庄市", "city", "130000000000"),
    region_row("130102000000", "长安区", "county", "130100000000"),
    region_row("130104000000", "桥西区", "county", "130100000000"),
]


def office(i: int, code: str, **values: object) -> dict[str, object]:
    """A fully filled-in office, verified and updated at NOW, unless ``values`` say otherwise."""
    filled: dict[str, object] = {
        "unit_name": f"单位{i}; 测试",
        "contact_name": "张三",
        "position": "科长",
        "phone": "+8631187654321;ext=12",
        "fax": "+8631187654322",
        "email": f"u{i}@example.org",
        "address": "河北省石家庄市长安区中山东路1号\n2楼",
        "postal_code": "050000",
        "verified_at": NOW,
        "updated_at": NOW,
        "updated_by": "t",
    }
    return office_row(i, code, **{**filled, **values})


def snapshot():  # type: ignore[no-untyped-def]
    offices = [
        office(1, "130100000000", liaison=True),
        office(2, "130102000000", email="", fax=""),
        office(3, "130104000000", email_status="bouncing", verified_at=NOW - dt.timedelta(days=181)),
    ]
    return build(REGIONS, offices, [], 1)


def test_quality_counts_and_report() -> None:
    snap = snapshot()
    today = NOW.date()
    counts = quality.subtree_counts(snap, today)
    top = counts["130000000000"]
    assert (top.regions, top.offices, top.no_email, top.no_fax, top.stale, top.bouncing) == (4, 3, 1, 1, 1, 1)
    assert counts["130102000000"].no_email == 1 and counts["130104000000"].no_email == 0
    report = quality.province_report(snap, "130000000000", today)
    assert [o.region_code for o in report.problems["no_email"]] == ["130102000000"]
    assert [o.region_code for o in report.problems["stale"]] == ["130104000000"]
    assert [o.region_code for o in report.problems["bouncing"]] == ["130104000000"]
    assert report.liaison_missing is False
    assert quality.province_report(
        build(REGIONS, [office(2, "130102000000")], [], 1), "130000000000", today
    ).liaison_missing
    # the same snapshot and day are computed once
    assert quality.subtree_counts(snap, today) is counts


def test_search_cache_is_bounded_by_entries_and_bytes() -> None:
    from directory.web.api import SearchCache

    cache = SearchCache(size=3, max_bytes=100)
    cache.put(("a", 20), b"x" * 40)
    cache.put(("b", 20), b"y" * 40)
    assert cache.get(("a", 20)) == b"x" * 40  # now the most recent
    cache.put(("c", 20), b"z" * 40)  # 120 bytes > 100: the least recently used ("b") goes
    assert cache.get(("b", 20)) is None and cache.get(("a", 20)) and cache.get(("c", 20))
    assert cache.bytes == 80
    cache.put(("d", 20), b"w" * 101)  # larger than the whole budget: not kept, nothing evicted
    assert cache.get(("d", 20)) is None and cache.bytes == 80
    for key in ("e", "f", "g"):
        cache.put((key, 20), b"v")
    assert len(cache.entries) == 3 and cache.bytes == 3
