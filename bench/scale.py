"""How cost grows with the size of the directory: the ten regions (15,404 offices) and a national-scale directory.

Run: ``.venv/bin/python bench/scale.py`` (prints one JSON line). For each size it builds a SQLite directory in a temp
folder, starts ``bohai serve`` on it (every face on port 0) and measures the start-up time until ``ready``, the
peak RSS (VmHWM) after start-up and after 300 searches over the JSON API, the time to rebuild the Snapshot (with
every face's derived indexes) after one edit, and search latency in-process.

The national-scale directory is synthetic: the real ten-region tree is copied under the codes of the other 21
provincial-level regions (names kept, province rows renamed 合成省NN), giving about 47,000 offices. It exists only in
the benchmark's temp database and is never shipped or shown as real.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from directory import demo, regions  # noqa: E402
from directory.search import search  # noqa: E402
from directory.snapshot import SnapshotHolder  # noqa: E402
from directory.store import open_store, region_t  # noqa: E402
from liaison.service import load_demo  # noqa: E402

OTHER_PROVINCES = (
    "31",
    "32",
    "33",
    "34",
    "35",
    "36",
    "42",
    "43",
    "44",
    "45",
    "46",
    "50",
    "51",
    "52",
    "53",
    "54",
    "61",
    "62",
    "63",
    "64",
    "65",
)


def synthetic_divisions() -> list[regions.Division]:
    sources = sorted(regions.PROVINCES)
    out: list[regions.Division] = []
    for n, prefix in enumerate(OTHER_PROVINCES):
        src = sources[n % len(sources)]
        for d in regions.divisions():
            if d.code[:2] != src:
                continue
            name = f"合成省{prefix}" if d.level == "province" else d.name
            out.append(
                regions.Division(
                    prefix + d.code[2:],
                    name,
                    d.level,
                    prefix + d.parent_code[2:] if d.parent_code else None,
                    prefix + d.province_code[2:],
                )
            )
    return out


def build_db(url: str, national: bool) -> int:
    store = open_store(url)
    try:
        load_demo(store)
        if national:
            extra = synthetic_divisions()
            with store.begin() as conn:
                conn.execute(sa.insert(region_t), [dataclasses.asdict(d) for d in extra])
            store.upsert_offices([demo.office_for(d) for d in extra], "bench", demo=True)
        return store.count_offices()
    finally:
        store.close()


def vmhwm(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


def serve_env(url: str) -> dict[str, str]:
    """The environment of a ``bohai serve`` on ``url`` with every face on a port the system picks."""
    return {
        **os.environ,
        "BOHAI_DATABASE_URL": url,
        "BOHAI_HTTP_PORT": "0",
        "BOHAI_LDAP_PORT": "0",
        "BOHAI_SMTP_PORT": "0",
        "PYTHONUNBUFFERED": "1",
    }


def measure_serve(url: str, queries: list[str]) -> dict[str, float]:
    env = serve_env(url)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "liaison.cli", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        http = ""
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("http listening on "):
                http = line.split()[-1]
            if line.startswith("ready"):
                break
        startup = time.perf_counter() - t0
        rss_ready = vmhwm(proc.pid)
        for q in queries[:300]:
            with urllib.request.urlopen(f"{http}/api/v1/search?q={urllib.parse.quote(q)}", timeout=30) as r:
                r.read()
        return {
            "startup_s": round(startup, 2),
            "peak_rss_ready_mb": round(rss_ready, 1),
            "peak_rss_after_searches_mb": round(vmhwm(proc.pid), 1),
        }
    finally:
        proc.terminate()
        proc.wait(60)


def measure_in_process(url: str) -> tuple[dict[str, float], list[str]]:
    from bench.search import percentile, query_mix
    from directory.search import SearchIndexer

    store = open_store(url)
    try:
        holder = SnapshotHolder(store)
        holder.register("search", SearchIndexer())
        queries = query_mix(holder.current)
        times = []
        for q in queries:
            t = time.perf_counter()
            search(holder.current, q)
            times.append((time.perf_counter() - t) * 1000)
        data = demo.office_for(regions.by_code()["130102000000"])
        store.upsert_offices([dataclasses.replace(data, contact_name="改名测试")], "bench")
        t = time.perf_counter()
        holder.refresh_sync()
        rebuild = time.perf_counter() - t
        return {
            "search_p50_ms": round(statistics.median(times), 3),
            "search_p99_ms": round(percentile(times, 99), 3),
            "snapshot_rebuild_after_edit_s": round(rebuild, 3),
        }, queries
    finally:
        store.close()


def main() -> None:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, national in (("ten_regions", False), ("national_synthetic", True)):
            url = f"sqlite:///{tmp}/{label}.sqlite3"
            offices = build_db(url, national)
            figures, queries = measure_in_process(url)
            results[label] = {"offices": offices, **figures, **measure_serve(url, queries)}
    ratio = {
        k: round(results["national_synthetic"][k] / results["ten_regions"][k], 2)
        for k in results["ten_regions"]
        if isinstance(results["ten_regions"][k], float) and results["ten_regions"][k]
    }
    print(
        json.dumps(
            {
                "bench": "scale",
                "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
                **results,
                "national_over_ten_regions": ratio,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
