"""Search-API throughput and latency under concurrent load, next to a trivial aiohttp handler in the same run.

Run: ``.venv/bin/python bench/http_search.py [--requests N] [--concurrency C]`` (prints one JSON line). It starts
``bohai serve --demo`` on a fresh SQLite database in a temp folder (only the http face, port 0, loopback) and a
trivial aiohttp server (one handler answering a small JSON object, same aiohttp, same process model) as a second
subprocess; then an aiohttp client in this process sends the same number of requests to each with C concurrent
connections: to ``/api/v1/search?q=…`` with the deterministic query mix of ``bench/search.py``, and to the trivial
handler. Both servers are single-process; client and servers share the machine's cores. Goal: the search API
serves ≥ 50% of the trivial handler's requests per second.
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

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from directory.snapshot import SnapshotHolder  # noqa: E402
from directory.store import open_store  # noqa: E402

TRIVIAL = """
import sys
from aiohttp import web

async def handler(request):
    return web.json_response({"ok": True, "hits": []})

app = web.Application()
app.router.add_get("/trivial", handler)
runner = web.AppRunner(app, access_log=None)

async def main():
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(f"http listening on http://127.0.0.1:{port}", flush=True)
    print("ready", flush=True)
    import asyncio
    await asyncio.Event().wait()

import asyncio
asyncio.run(main())
"""


def start(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        args, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    url = ""
    for _ in range(200):  # bounded: a handful of lines before "ready"
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"server exited before ready: {args}")
        if line.startswith("http listening on "):
            url = line.split()[-1]
        if line.startswith("ready"):
            return proc, url
    raise SystemExit("no ready line")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def load(urls: list[str], concurrency: int) -> dict[str, float]:
    """Send every URL once with ``concurrency`` connections; requests/s and latency percentiles."""
    latencies: list[float] = []
    errors = 0
    position = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal position, errors
            while position < len(urls):
                url = urls[position]
                position += 1
                t = time.perf_counter()
                async with session.get(url) as resp:
                    await resp.read()
                    errors += resp.status != 200
                latencies.append((time.perf_counter() - t) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
    }


async def measure(search_url: str, trivial_url: str, queries: list[str], n: int, concurrency: int) -> dict[str, object]:
    """Trivial handler; then every distinct query once (each a cache miss: full ranking and encoding); then ``n``
    requests cycling over the same queries again (served from the per-Snapshot response cache)."""
    distinct = [f"{search_url}/api/v1/search?limit=20&q={urllib.parse.quote(q)}" for q in dict.fromkeys(queries)]
    repeated = (distinct * (n // len(distinct) + 1))[:n]
    trivial_urls = [f"{trivial_url}/trivial"] * n
    warm = [f"{search_url}/api/v1/search?limit=20&q=warm{i}" for i in range(300)]  # not in the mix
    await load(warm, concurrency)
    await load(trivial_urls[:300], concurrency)
    trivial = await load(trivial_urls, concurrency)
    cold = await load(distinct, concurrency)
    hot = await load(repeated, concurrency)
    return {"trivial": trivial, "search_distinct_queries": cold, "search_repeated_queries": hot}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=16)
    opts = parser.parse_args()
    from search import query_mix  # bench/search.py: the same deterministic query mix

    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/bench.sqlite3"
        env = {
            "BOHAI_DATABASE_URL": db,
            "BOHAI_HTTP_PORT": "0",
            "BOHAI_WEB_SEARCH_LIMIT": "50",
            # The scraping limit ([web] entries_per_minute) would answer 429 once the one client address read its
            # minute's budget, and a 429 is cheaper than a search: off, so every request measured is a search.
            "BOHAI_WEB_ENTRIES_PER_MINUTE": "0",
            "BOHAI_LDAP_ENABLED": "false",
            "BOHAI_SMTP_ENABLED": "false",
            "PYTHONUNBUFFERED": "1",
        }
        serve, search_url = start([sys.executable, "-m", "liaison.cli", "serve", "--demo"], env)
        trivial_proc, trivial_url = start([sys.executable, "-c", TRIVIAL], {})
        try:
            store = open_store(db)
            queries = query_mix(SnapshotHolder(store).current)
            store.close()
            figures = asyncio.run(measure(search_url, trivial_url, queries, opts.requests, opts.concurrency))
        finally:
            for proc in (serve, trivial_proc):
                proc.terminate()
                proc.wait(30)
    trivial_rps = figures["trivial"]["rps"]  # type: ignore[index]
    ratios = {
        name: round(figures[name]["rps"] / trivial_rps, 3)  # type: ignore[index]
        for name in ("search_distinct_queries", "search_repeated_queries")
    }
    print(
        json.dumps(
            {
                "bench": "http_search",
                "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
                "concurrency": opts.concurrency,
                **figures,
                "rps_vs_trivial": ratios,
                "goal": {"rps_vs_trivial": 0.5},
                "goal_met": {name: ratio >= 0.5 for name, ratio in ratios.items()},
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
