"""Search latency over the full demo directory, and the peak memory of ``bohai serve --demo``.

Run: ``.venv/bin/python bench/search.py`` (prints one JSON line). It builds a fresh SQLite demo directory in a temp
folder, then times a fixed, deterministic mix of 1,000 queries of the kinds staff type (region names and paths,
pinyin and initials, contact names, phone fragments, e-mail, postal codes, codes) through ``directory.search``,
and finally starts ``bohai serve --demo`` on that database with every face on port 0 and reads its peak RSS
(VmHWM) after it is ready and has answered searches; ``serve_demo_first_run_peak_rss_mb`` is the same for the quick
start's first run on a new database (schema, regions and demo data created by the service itself). Goals: search
p99 < 5 ms; peak RSS < 300 MB (both).
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from directory.pinyin import pinyin_keys  # noqa: E402
from directory.search import index, search  # noqa: E402
from directory.snapshot import Snapshot, SnapshotHolder  # noqa: E402
from directory.store import open_store  # noqa: E402
from liaison.service import load_demo  # noqa: E402


def query_mix(snap: Snapshot, n: int = 1000) -> list[str]:
    rng = random.Random(20261130)
    offices = sorted(snap.offices.values(), key=lambda o: o.region_code)
    kinds = [
        lambda o, r: r.name,
        lambda o, r: r.name[:2],
        lambda o, r: " ".join(r.path[-2:]) if len(r.path) > 1 else r.name,
        lambda o, r: pinyin_keys(r.name)[0],
        lambda o, r: pinyin_keys(r.name)[0][:5],
        lambda o, r: pinyin_keys(r.name)[1],
        lambda o, r: o.contact_name,
        lambda o, r: pinyin_keys(o.contact_name)[0],
        lambda o, r: o.phone_display,
        lambda o, r: o.phone_display[-8:-3],
        lambda o, r: o.email or o.unit_name,
        lambda o, r: o.postal_code,
        lambda o, r: o.region_code[:6],
    ]
    out = []
    for i in range(n):
        o = rng.choice(offices)
        out.append(kinds[i % len(kinds)](o, snap.regions[o.region_code]))
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def peak_rss_of_serve(db_url: str, queries: list[str]) -> float:
    env = {
        **os.environ,
        "BOHAI_DATABASE_URL": db_url,
        "BOHAI_HTTP_PORT": "0",
        "BOHAI_LDAP_PORT": "0",
        "BOHAI_SMTP_PORT": "0",
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "liaison.cli", "serve", "--demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = None
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("http listening on "):
                url = line.split()[-1]
            if line.startswith("ready"):
                break
        for q in queries[:200] if url else ():
            with urllib.request.urlopen(f"{url}/api/v1/search?q={urllib.parse.quote(q)}", timeout=10) as r:
                r.read()
        status = Path(f"/proc/{proc.pid}/status").read_text()
        hwm = next(line for line in status.splitlines() if line.startswith("VmHWM"))
        return int(hwm.split()[1]) / 1024
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        first_run_rss = peak_rss_of_serve(f"sqlite:///{tmp}/first.sqlite3", [])  # creates schema, regions and demo
        url = f"sqlite:///{tmp}/bench.sqlite3"
        store = open_store(url)
        load_demo(store)
        t0 = time.perf_counter()
        holder = SnapshotHolder(store)
        snapshot_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        index(holder.current)
        index_s = time.perf_counter() - t0
        queries = query_mix(holder.current)
        for q in queries[:50]:  # warm caches
            search(holder.current, q)
        times = []
        empty = 0
        for q in queries:
            t = time.perf_counter()
            result = search(holder.current, q)
            times.append((time.perf_counter() - t) * 1000)
            empty += not result.hits
        store.close()
        rss = peak_rss_of_serve(url, queries)
    print(
        json.dumps(
            {
                "bench": "search",
                "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
                "offices": len(holder.current.offices),
                "queries": len(queries),
                "queries_without_hits": empty,
                "p50_ms": round(statistics.median(times), 3),
                "p99_ms": round(percentile(times, 99), 3),
                "max_ms": round(max(times), 3),
                "snapshot_build_s": round(snapshot_s, 3),
                "index_build_s": round(index_s, 3),
                "serve_demo_peak_rss_mb": round(rss, 1),
                "serve_demo_first_run_peak_rss_mb": round(first_run_rss, 1),
                "goals": {"p99_ms": 5, "serve_demo_peak_rss_mb": 300},
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
