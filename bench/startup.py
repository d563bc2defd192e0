"""Start-up: how soon ``bohai serve --demo`` answers, against the cost of merely reading the data, and its memory.

Run: ``.venv/bin/python bench/startup.py`` (``--runs N`` warm starts per size; prints one JSON line). For the ten
regions (15,404 offices) and the synthetic national directory (46,578; see ``bench/scale.py``), each in a SQLite file
in a temp folder:

- ``reference_s``: a fresh ``python`` that imports SQLAlchemy, fetches every office row and exits (median of runs);
- ``cold``: the first ``bohai serve --demo`` (no start-up image yet: it builds every index, then saves the image);
- ``warm``: restarts with the image (median of runs).

For each start: ``answers_s`` is the time from spawning the process until an LDAP search (Thunderbird's contains
filter with a size limit), an HTTP search (``/api/v1/search``) and ``/healthz`` have all been answered, each sent the
moment its face reports its address; ``peak_rss_mb`` is the process's VmHWM after those answers and 200 more HTTP
searches. ``goal`` holds the issue's targets: warm answers within 5x the reference, peak RSS under 200 MB (ten regions)
and 350 MB (national).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ldap import one_search  # noqa: E402
from bench.scale import build_db, serve_env, vmhwm  # noqa: E402
from directory.ldap import client as lc  # noqa: E402
from directory.ldap import messages as m  # noqa: E402
from directory.ldap.filterstr import parse_filter  # noqa: E402

RSS_GOAL_MB = {"ten_regions": 200, "national_synthetic": 350}
RATIO_GOAL = 5.0
REFERENCE = """
import sys
import sqlalchemy as sa
engine = sa.create_engine(sys.argv[1])
with engine.connect() as conn:
    rows = conn.execute(sa.text("SELECT * FROM office")).fetchall()
assert rows
"""
CONTAINS = "(|(cn=*长安*)(mail=*长安*)(givenName=*长安*)(sn=*长安*))"
BASE = "dc=bohai,dc=example"


def reference(url: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", REFERENCE, url], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


async def ldap_answer(port: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    req = m.SearchRequest(BASE, 2, 0, 50, 0, False, parse_filter(CONTAINS), ("cn", "mail"))
    entries, code = await one_search(reader, writer, lc.encode_message(1, lc.encode_search(req)))
    writer.close()
    if code not in (0, 4):  # success, or sizeLimitExceeded with the first 50
        raise RuntimeError(f"LDAP search answered with result code {code}")
    return entries


async def http_get(url: str) -> bytes:
    host, _, rest = url.removeprefix("http://").partition("/")
    h, _, p = host.rpartition(":")
    reader, writer = await asyncio.open_connection(h, int(p))
    writer.write(f"GET /{rest} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    body = await reader.read()
    writer.close()
    if not body.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"{url}: {body[:80]!r}")
    return body


async def one_start(url: str) -> dict[str, Any]:
    env = serve_env(url)
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "liaison.cli", "serve", "--demo", env=env, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    answered: dict[str, float] = {}
    tasks: list[asyncio.Task[None]] = []
    http = ""
    from_image = False

    async def answer(name: str, coro: Any) -> None:
        await coro
        answered[name] = time.perf_counter() - t0

    try:
        async with asyncio.timeout(300):
            while True:
                line = (await proc.stdout.readline()).decode()
                if not line:
                    raise SystemExit("bohai serve exited before ready")
                from_image |= line.startswith("start-up image:")
                if line.startswith("http listening on "):
                    http = line.split()[-1]
                    tasks.append(asyncio.create_task(answer("healthz", http_get(f"{http}/healthz"))))
                    q = urllib.parse.quote("长安")
                    tasks.append(asyncio.create_task(answer("http_search", http_get(f"{http}/api/v1/search?q={q}"))))
                if line.startswith("ldap listening on "):
                    port = int(line.strip().rsplit(":", 1)[1])
                    tasks.append(asyncio.create_task(answer("ldap_search", ldap_answer(port))))
                if line.startswith("ready"):
                    break
            ready = time.perf_counter() - t0
            await asyncio.gather(*tasks)
            for q in ("张", "石家庄", "0311", "王", "长安区", "办公室", "李", "河北") * 25:
                await http_get(f"{http}/api/v1/search?q={urllib.parse.quote(q)}")
            rss = vmhwm(proc.pid)
    finally:
        proc.terminate()
        await proc.wait()  # a stop saves the image if it is behind
    return {
        "from_image": from_image,
        "answers_s": round(max(answered.values()), 3),
        "ready_line_s": round(ready, 3),
        "each_s": {k: round(v, 3) for k, v in sorted(answered.items())},
        "peak_rss_mb": round(rss, 1),
    }


def measure(label: str, url: str, runs: int) -> dict[str, Any]:
    ref = reference(url, runs)
    cold = asyncio.run(one_start(url))
    warms = [asyncio.run(one_start(url)) for _ in range(runs)]
    if not all(w["from_image"] for w in warms):
        raise SystemExit(f"{label}: a warm start did not take the start-up image")
    answers = statistics.median(w["answers_s"] for w in warms)
    rss = max(w["peak_rss_mb"] for w in warms)
    return {
        "reference_s": round(ref, 3),
        "cold": cold,
        "warm": warms,
        "warm_answers_median_s": answers,
        "warm_over_reference": round(answers / ref, 2),
        "cold_over_reference": round(cold["answers_s"] / ref, 2),
        "goal": {
            "warm_answers_within_5x": answers / ref <= RATIO_GOAL,
            f"warm_peak_rss_under_{RSS_GOAL_MB[label]}_mb": rss < RSS_GOAL_MB[label],
            f"cold_peak_rss_under_{RSS_GOAL_MB[label]}_mb": cold["peak_rss_mb"] < RSS_GOAL_MB[label],
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="warm starts (and reference runs) per size")
    ap.add_argument("--sizes", default="ten_regions,national_synthetic")
    args = ap.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bohai-startup-") as tmp:
        for label in args.sizes.split(","):
            url = f"sqlite:///{tmp}/{label}.sqlite3"
            offices = build_db(url, label == "national_synthetic")
            results[label] = {"offices": offices, **measure(label, url, args.runs)}
    print(
        json.dumps(
            {
                "bench": "startup",
                "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
                **results,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
