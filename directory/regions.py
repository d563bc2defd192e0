"""The bundled NBS 2023 division tree and the city area-code/postal-code table (pure, read-only data).

Owns: reading ``directory/data/divisions.csv`` and ``city_phone_postal.csv`` (sources in ``data/SOURCE.md``), and
the small questions asked of them: a region's path, its "phone city" (the unit whose area code applies).
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
DIVISIONS_CSV = DATA_DIR / "divisions.csv"
CITY_TABLE_CSV = DATA_DIR / "city_phone_postal.csv"
SOURCE_LINE = "国家统计局 统计用区划代码（2023）"

PROVINCES: dict[str, str] = {
    "11": "北京市",
    "12": "天津市",
    "13": "河北省",
    "14": "山西省",
    "15": "内蒙古自治区",
    "21": "辽宁省",
    "22": "吉林省",
    "23": "黑龙江省",
    "37": "山东省",
    "41": "河南省",
}


@dataclass(frozen=True, slots=True)
class Division:
    code: str
    name: str
    level: str
    parent_code: str | None
    province_code: str


@dataclass(frozen=True, slots=True)
class CityInfo:
    code: str
    name: str
    area_code: str
    postal_code: str


@functools.cache
def divisions() -> tuple[Division, ...]:
    """All 15,404 bundled divisions, sorted by code."""
    with DIVISIONS_CSV.open(encoding="utf-8", newline="") as fh:
        return tuple(
            Division(r["code"], r["name"], r["level"], r["parent_code"] or None, r["province_code"])
            for r in csv.DictReader(fh)
        )


@functools.cache
def division_count() -> int:
    """How many divisions the bundled table has (its data lines), without building them."""
    with DIVISIONS_CSV.open("rb") as fh:
        return sum(1 for line in fh if line.strip()) - 1


@functools.cache
def city_table() -> dict[str, CityInfo]:
    """City code (or 北京/天津 province code, or 济源 county code) → area code and postal code."""
    with CITY_TABLE_CSV.open(encoding="utf-8", newline="") as fh:
        return {
            r["city_code"]: CityInfo(r["city_code"], r["city_name"], r["area_code"], r["postal_code"])
            for r in csv.DictReader(fh)
        }


def normalize_code(text: str) -> str | None:
    """Accept a 2/4/6/9/12-digit division code and return the 12-digit form, or None if it is not one."""
    t = text.strip()
    if not t.isdigit() or not t.isascii() or len(t) not in (2, 4, 6, 9, 12):
        return None
    return t.ljust(12, "0")


def phone_city(code: str, parent_of: dict[str, str | None]) -> CityInfo | None:
    """The area-code unit for a region: walk up until a code in the city table is met."""
    table = city_table()
    current: str | None = code
    while current is not None:
        if current in table:
            return table[current]
        current = parent_of.get(current)
    return None


@functools.cache
def parent_map() -> dict[str, str | None]:
    return {d.code: d.parent_code for d in divisions()}


@functools.cache
def by_code() -> dict[str, Division]:
    return {d.code: d for d in divisions()}


def path_names(code: str) -> list[str]:
    """Names from the province down to the region itself, e.g. ['河北省', '石家庄市', '长安区']."""
    table = by_code()
    names: list[str] = []
    current: str | None = code
    while current is not None and current in table:
        names.append(table[current].name)
        current = table[current].parent_code
    return names[::-1]
