"""Pinyin keys of names for search: full pinyin without tones and the initials (长安区 → changanqu, caq).

Owns: how a name becomes pinyin. Region names come from ``data/region_pinyin.csv``, made once from the bundled
division tree with pypinyin's phrase dictionary (so 长安 reads chang'an); ``python -m directory.pinyin`` makes it
again. Other names (people, new regions) are converted at run time with pypinyin's single-character readings only:
its phrase dictionary costs ~45 MB of memory in every process, and people's names gain little from it.
"""

from __future__ import annotations

import csv
import os
import sys

os.environ.setdefault("PYPINYIN_NO_PHRASES", "true")  # must precede the first import of pypinyin
os.environ.setdefault("PYPINYIN_NO_DICT_COPY", "true")  # a second copy is for custom readings, which we never add


from directory import buildcaches, regions

REGION_PINYIN_CSV = regions.DATA_DIR / "region_pinyin.csv"


def _keys(text: str) -> tuple[str, str]:
    from pypinyin import Style, lazy_pinyin  # its dictionaries load on first use: a start from an image needs none

    syllables = [s.lower() for s in lazy_pinyin(text, style=Style.NORMAL, errors="ignore")]
    syllables = [s for s in syllables if s.isascii() and s.isalpha()]
    return "".join(syllables), "".join(s[0] for s in syllables)


@buildcaches.cache(maxsize=1)
def _bundled() -> dict[str, tuple[str, str]]:
    with REGION_PINYIN_CSV.open(encoding="utf-8", newline="") as fh:
        return {r["name"]: (r["full"], r["initials"]) for r in csv.DictReader(fh)}


@buildcaches.cache(maxsize=65536)
def pinyin_keys(text: str) -> tuple[str, str]:
    """Full pinyin and initials of a name; bundled region names use their phrase-aware reading."""
    return _bundled().get(text) or _keys(text)


def write_region_table() -> int:
    """Rewrite ``data/region_pinyin.csv``; run in a process without PYPINYIN_NO_PHRASES (see ``__main__``)."""
    names = sorted({d.name for d in regions.divisions()})
    with REGION_PINYIN_CSV.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["name", "full", "initials"])
        for name in names:
            writer.writerow([name, *_keys(name)])
    return len(names)


if __name__ == "__main__":
    if os.environ.get("PYPINYIN_NO_PHRASES") == "true" and not os.environ.get("_BOHAI_PINYIN_CHILD"):
        import subprocess

        env = {k: v for k, v in os.environ.items() if k != "PYPINYIN_NO_PHRASES"}
        env["PYPINYIN_NO_PHRASES"] = ""  # empty: pypinyin loads its phrase dictionary
        env["_BOHAI_PINYIN_CHILD"] = "1"
        sys.exit(subprocess.call([sys.executable, "-m", "directory.pinyin"], env=env))
    print(f"{write_region_table()} region names written to {REGION_PINYIN_CSV}")
