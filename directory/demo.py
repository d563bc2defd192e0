"""Deterministic demo contacts, clearly marked as demo.

Owns: generating one office per bundled region with fake people (common surnames and given names), phones with the
city's real area code, e-mail under the reserved ``demo.bohai.example`` domain, the city's general postal code,
and one liaison officer per province. Every row has ``demo=True`` and the unit name carries no real person's data.
The same code always yields the same office, on every machine.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator

from directory import regions as bundled
from directory.validate import OfficeData, parse_phone, to_e164

DEMO_DOMAIN = "demo.bohai.example"
DEMO_NOTE = "演示"

SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏"
    "卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯"
    "邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
)
GIVEN = (
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀兰",
    "霞",
    "平",
    "刚",
    "桂英",
    "建华",
    "建国",
    "志强",
    "海燕",
    "晓东",
    "春梅",
    "立新",
    "红霞",
    "文博",
    "子涵",
    "浩然",
    "雨轩",
    "欣怡",
    "思远",
    "国庆",
    "建军",
    "玉兰",
    "秀英",
    "德明",
    "宏伟",
    "振华",
    "丽娟",
    "晓燕",
    "海涛",
    "志刚",
    "永红",
    "淑珍",
    "文静",
)
POSITIONS = ("主任", "副主任", "科长", "副科长", "专干", "办事员")
STREETS = ("人民路", "建设路", "解放路", "中山路", "和平路", "新华路", "胜利街", "文化路", "光明街", "朝阳路")


def _rng(code: str, salt: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{salt}:{code}".encode()).digest()[:8], "big")


def person_name(code: str, salt: str = "name") -> str:
    n = _rng(code, salt)
    return SURNAMES[n % len(SURNAMES)] + GIVEN[(n // 1000) % len(GIVEN)]


def unit_name(division: bundled.Division) -> str:
    if division.level == "province":
        return f"{division.name}流动人口服务管理领导小组办公室"
    if division.level in ("city", "county"):
        return f"{division.name}流动人口服务管理中心"
    return f"{division.name}流动人口服务站"


@functools.cache
def _lengths(area: str) -> tuple[int, ...]:
    """Subscriber-number lengths the numbering plan accepts under this area code (8, or 7, or both)."""
    return tuple(n for n in (8, 7) if parse_phone(f"{area}-{'6' * n}") is not None) or (8,)


def _phone(code: str, area: str, salt: str) -> str:
    """A valid-looking landline under the city's real area code."""
    n = _rng(code, salt)
    for length in _lengths(area):
        for attempt in range(10):
            subscriber = str(2 + (n + attempt) % 7) + f"{(n // 10 + attempt) % 10 ** (length - 1):0{length - 1}d}"
            num = parse_phone(f"{area}-{subscriber}")
            if num is not None:
                return to_e164(num)
    return ""  # pragma: no cover - every bundled area code accepts one of the forms above


def office_for(division: bundled.Division) -> OfficeData:
    city = bundled.phone_city(division.code, bundled.parent_map())
    area = city.area_code if city else "010"
    postal = city.postal_code if city else ""
    n = _rng(division.code, "office")
    has_email = division.level != "township" or n % 20 != 0  # about 5% of townships lack e-mail
    has_fax = division.level != "township" or n % 4 != 0  # about 25% of townships lack a fax
    path = "".join(bundled.path_names(division.code))
    return OfficeData(
        region_code=division.code,
        unit_name=unit_name(division),
        contact_name=person_name(division.code),
        position=f"{POSITIONS[n % len(POSITIONS)]}（{DEMO_NOTE}）",
        phone=_phone(division.code, area, "phone"),
        fax=_phone(division.code, area, "fax") if has_fax else "",
        email=f"r{division.code}@{DEMO_DOMAIN}" if has_email else "",
        address=f"{path}{STREETS[n % len(STREETS)]}{n % 300 + 1}号",
        postal_code=postal,
        liaison=division.level == "province",
    )


def demo_offices() -> Iterator[OfficeData]:
    for division in bundled.divisions():
        yield office_for(division)


def demo_contacts() -> Iterator[dict[str, str]]:
    """A second person (副主任) with an own e-mail at every office above township level."""
    parents = bundled.parent_map()
    for division in bundled.divisions():
        if division.level == "township":
            continue
        city = bundled.phone_city(division.code, parents)
        yield {
            "region_code": division.code,
            "name": person_name(division.code, "deputy"),
            "position": f"副主任（{DEMO_NOTE}）",
            "phone": _phone(division.code, city.area_code if city else "010", "deputy"),
            "email": f"c{division.code}@{DEMO_DOMAIN}",
        }
