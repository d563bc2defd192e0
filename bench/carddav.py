"""CardDAV sync against Radicale serving the same vCards from its own storage, in the same run.

Run: ``.venv/bin/python bench/carddav.py [--repeats N]`` (prints one JSON line; needs the ``bench`` extra,
``pip install -e '.[bench]'``, for Radicale). It starts ``bohai serve --demo`` on a fresh SQLite database (http face
only, loopback, port 0) and makes an account with an app password; writes the cards of the largest province book
and of the all-regions book, as our server serves them, into a Radicale storage folder (one ``.vcf`` per card and
the address-book props) and starts Radicale on it (auth none, its own filesystem storage and item cache). Both
servers are single subprocesses; the client (aiohttp, one connection) runs in this process on the same cores.

Figures per book and server: an initial sync as Thunderbird does it — PROPFIND Depth 1 (resourcetype, getetag)
and one addressbook-multiget of every href (getetag, address-data) — cold (the first after start) and warm (median
of ``--repeats``), as cards per second; then an incremental sync after 10 edits: sync-collection from the token
before the edits (ours: offices edited through the store; Radicale: ten card files rewritten), the first request's
latency (after the server's Snapshot has caught up with the edits: rebuilding it is paid once per edit, by
whoever asks first; ``incremental_right_after_5_edits_ms`` is a sync that raced that rebuild) and the median of
repeats. ``healthz_during_cold_sync``: ``/healthz`` probed every 20 ms during the cold sync
(Radicale answers it too, with a 404), how long other requests wait behind a big sync. Goals: ≥ 2× Radicale's
cards/s on the initial sync, incremental under 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib.util
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from directory import accounts, apppasswords  # noqa: E402
from directory.carddav.books import ALL, CardCache, book_path, members  # noqa: E402
from directory.snapshot import SnapshotHolder  # noqa: E402
from directory.store import Store, open_store  # noqa: E402
from directory.validate import OfficeData  # noqa: E402

NS = 'xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"'
LIST = f"<d:propfind {NS}><d:prop><d:resourcetype/><d:getetag/></d:prop></d:propfind>"
EDITS = 10


def start(args: list[str], env: dict[str, str], ready: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        args, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    url = ""
    for _ in range(500):  # bounded: start-up lines before the ready line
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"server exited before ready: {args}")
        if line.startswith("http listening on "):
            url = line.split()[-1]
        if ready in line:
            return proc, url
    raise SystemExit("no ready line")


def start_radicale(port: int, folder: Path) -> subprocess.Popen[bytes]:
    """Radicale on ``port``, quiet (its per-request log would cost it time), ready when the port answers."""
    args = [sys.executable, "-m", "radicale", "--server-hosts", f"127.0.0.1:{port}", "--auth-type", "none"]
    args += ["--storage-filesystem-folder", str(folder), "--logging-level", "warning"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):  # bounded: up to 30 s
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit("Radicale did not start")


def note(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def multiget(hrefs: list[str]) -> str:
    items = "".join(f"<d:href>{h}</d:href>" for h in hrefs)
    return (
        f"<card:addressbook-multiget {NS}><d:prop><d:getetag/><card:address-data/></d:prop>{items}"
        "</card:addressbook-multiget>"
    )


def sync_body(token: str) -> str:
    return (
        f"<d:sync-collection {NS}><d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level>"
        "<d:prop><d:getetag/><card:address-data/></d:prop></d:sync-collection>"
    )


async def dav(session: aiohttp.ClientSession, method: str, url: str, body: str, depth: str) -> bytes:
    async with session.request(method, url, data=body.encode(), headers={"Depth": depth}) as resp:
        data = await resp.read()
        if resp.status != 207:
            raise SystemExit(f"{method} {url}: {resp.status} {data[:300]!r}")
        return data


async def initial_sync(session: aiohttp.ClientSession, base: str, book: str) -> tuple[float, int]:
    """PROPFIND Depth 1 + one multiget of every href: (seconds, cards received)."""
    import xml.etree.ElementTree as ET

    started = time.perf_counter()
    listing = ET.fromstring(await dav(session, "PROPFIND", base + book, LIST, "1"))
    hrefs = [h.text or "" for h in listing.iter("{DAV:}href") if (h.text or "").endswith(".vcf")]
    got = await dav(session, "REPORT", base + book, multiget(hrefs), "1")
    elapsed = time.perf_counter() - started
    return elapsed, got.count(b"BEGIN:VCARD")


async def token_of(session: aiohttp.ClientSession, url: str) -> str:
    import xml.etree.ElementTree as ET

    body = await dav(session, "REPORT", url, sync_body(""), "0")
    return ET.fromstring(body).findtext("{DAV:}sync-token") or ""


async def incremental(session: aiohttp.ClientSession, url: str, token: str, repeats: int) -> dict[str, Any]:
    times, cards = [], 0
    for _ in range(repeats + 1):
        started = time.perf_counter()
        body = await dav(session, "REPORT", url, sync_body(token), "0")
        times.append((time.perf_counter() - started) * 1000)
        cards = body.count(b"BEGIN:VCARD")
    median = statistics.median(times[1:] or times)
    return {"cards": cards, "first_ms": round(times[0], 2), "median_ms": round(median, 2)}


async def caught_up(session: aiohttp.ClientSession, base: str, generation: int) -> None:
    """Wait until the server's Snapshot has the edits (its watcher polls the change counter), so that the sync
    is timed and not the Snapshot's rebuild, which every edit costs once whoever asks first."""
    async with aiohttp.ClientSession() as plain:  # /healthz takes no CardDAV login
        for _ in range(200):  # bounded: the watcher polls every 0.5 s
            async with plain.get(base + "/healthz") as resp:
                if (await resp.json())["generation"] >= generation:
                    return
            await asyncio.sleep(0.05)
    raise SystemExit("the server did not catch up with the edits")


async def healthz_during(base: str, work: Any) -> tuple[Any, dict[str, float]]:
    """Run ``work`` while probing ``/healthz`` every 20 ms: how long other requests wait behind a big sync."""
    latencies: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        async with aiohttp.ClientSession() as plain:
            while not done.is_set():
                started = time.perf_counter()
                async with plain.get(base + "/healthz") as resp:
                    await resp.read()
                latencies.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(0.02)

    prober = asyncio.create_task(probe())
    try:
        result = await work
    finally:
        done.set()
        await prober
    ordered = sorted(latencies) or [0.0]
    return result, {
        "probes": len(latencies),
        "p50_ms": round(ordered[len(ordered) // 2], 2),
        "max_ms": round(ordered[-1], 2),
    }


async def books_figures(
    session: aiohttp.ClientSession, base: str, books: dict[str, str], repeats: int
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, path in books.items():
        (cold, cards), probes = await healthz_during(base, initial_sync(session, base, path))
        warm = statistics.median([(await initial_sync(session, base, path))[0] for _ in range(repeats)])
        out[name] = {
            "cards": cards,
            "cold_s": round(cold, 3),
            "warm_s": round(warm, 3),
            "cold_cards_per_s": round(cards / cold),
            "warm_cards_per_s": round(cards / warm),
            "healthz_during_cold_sync": probes,
        }
    return out


def edit_offices(store: Store, codes: list[str]) -> None:
    for code in codes:
        row = store.get_office(code)
        assert row is not None
        fields = {k: row[k] for k in ("unit_name", "contact_name", "position", "phone", "fax", "email", "address")}
        data = OfficeData(region_code=code, **{**fields, "position": (row["position"] or "") + "（调整）"})
        store.save_office(data, "bench", expected_version=row["version"])


def write_radicale_books(folder: Path, store: Store, views: dict[str, str]) -> dict[str, list[str]]:
    """The same cards our server serves, one file each, in Radicale's storage layout; the codes per book."""
    snap = SnapshotHolder(store).current
    cache = CardCache()
    written = {}
    for name, view in views.items():
        book = folder / "collection-root" / "bench" / name
        book.mkdir(parents=True)
        (book / ".Radicale.props").write_text(json.dumps({"tag": "VADDRESSBOOK", "D:displayname": name}))
        codes = list(members(snap, view))
        for code in codes:
            (book / f"{code}.vcf").write_bytes(cache.card(snap, snap.offices[code]).data)
        written[name] = codes
    return written


def rewrite_radicale_cards(folder: Path, book: str, codes: list[str]) -> None:
    for code in codes:
        path = folder / "collection-root" / "bench" / book / f"{code}.vcf"
        text = path.read_text(encoding="utf-8").replace("END:VCARD", "TITLE:调整\r\nEND:VCARD")
        path.write_text(text, encoding="utf-8")


async def measure(ours: str, radicale: str, secret: str, store: Store, folder: Path, opts: Any) -> dict[str, Any]:
    snap = SnapshotHolder(store).current
    largest = max((r.code for r in snap.provinces()), key=lambda c: len(members(snap, c)))
    ours_books = {"largest_province": book_path(largest), "all_regions": book_path(ALL)}
    radicale_books = {"largest_province": "/bench/largest_province/", "all_regions": "/bench/all_regions/"}
    auth = {"Authorization": "Basic " + base64.b64encode(f"bench:{secret}".encode()).decode("ascii")}
    edited = list(members(snap, largest))[1 : 1 + EDITS]
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(headers=auth, timeout=timeout, connector=aiohttp.TCPConnector(limit=1)) as s:
        note("initial syncs: ours")
        figures: dict[str, Any] = {"ours": await books_figures(s, ours, ours_books, opts.repeats)}
        note("initial syncs: Radicale")
        figures["radicale"] = await books_figures(s, radicale, radicale_books, opts.repeats)
        note("incremental syncs")
        token = await token_of(s, ours + ours_books["largest_province"])
        edit_offices(store, edited[:5])
        racing = await incremental(s, ours + ours_books["largest_province"], token, 0)
        edit_offices(store, edited[5:])
        await caught_up(s, ours, store.generation())
        figures["ours"]["incremental_after_10_edits"] = await incremental(
            s, ours + ours_books["largest_province"], token, opts.repeats
        )
        figures["ours"]["incremental_right_after_5_edits_ms"] = racing["first_ms"]
        rtoken = await token_of(s, radicale + radicale_books["largest_province"])
        rewrite_radicale_cards(folder, "largest_province", edited)
        figures["radicale"]["incremental_after_10_edits"] = await incremental(
            s, radicale + radicale_books["largest_province"], rtoken, opts.repeats
        )
    figures["largest_province"] = largest
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args()
    if importlib.util.find_spec("radicale") is None:
        raise SystemExit("Radicale is not installed: .venv/bin/pip install -e '.[bench]'")
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/bench.sqlite3"
        env = {
            "BOHAI_DATABASE_URL": db,
            "BOHAI_HTTP_PORT": "0",
            "BOHAI_LDAP_ENABLED": "false",
            "BOHAI_SMTP_ENABLED": "false",
            # A whole-book sync reads thousands of cards at once, past the scraping limit a person's browsing is
            # held to ([web] entries_per_minute); Radicale has none, so it is off here (staff syncs are exempted by
            # account in a real deployment: [web] entries_exempt).
            "BOHAI_WEB_ENTRIES_PER_MINUTE": "0",
            "PYTHONUNBUFFERED": "1",
        }
        note("starting bohai serve --demo")
        serve, ours = start([sys.executable, "-m", "liaison.cli", "serve", "--demo"], env, "ready")
        store = open_store(db)
        port = free_port()
        radicale: subprocess.Popen[bytes] | None = None
        try:
            accounts.add_user(store, "bench", "bench password 1", "reader", None, "bench")
            secret = apppasswords.add(store, "bench", "bench", "bench").secret
            folder = Path(tmp) / "radicale"
            write_radicale_books(folder, store, {"largest_province": _largest(store), "all_regions": ALL})
            note("starting Radicale")
            radicale = start_radicale(port, folder)
            figures = asyncio.run(measure(ours, f"http://127.0.0.1:{port}", secret, store, folder, opts))
        finally:
            store.close()
            serve.terminate()
            serve.wait(30)
            if radicale is not None:
                radicale.terminate()
                radicale.wait(30)
    print(json.dumps(summary(figures, opts), ensure_ascii=False))


def _largest(store: Store) -> str:
    snap = SnapshotHolder(store).current
    return max((r.code for r in snap.provinces()), key=lambda c: len(members(snap, c)))


def summary(figures: dict[str, Any], opts: Any) -> dict[str, Any]:
    ratios = {
        book: round(figures["ours"][book]["warm_cards_per_s"] / figures["radicale"][book]["warm_cards_per_s"], 2)
        for book in ("largest_province", "all_regions")
    }
    cold = {
        book: round(figures["ours"][book]["cold_cards_per_s"] / figures["radicale"][book]["cold_cards_per_s"], 2)
        for book in ("largest_province", "all_regions")
    }
    incremental = figures["ours"]["incremental_after_10_edits"]
    return {
        "bench": "carddav",
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "repeats": opts.repeats,
        **figures,
        "warm_ratio_ours_to_radicale": ratios,
        "cold_ratio_ours_to_radicale": cold,
        "goal": {"initial_sync_ratio": 2.0, "incremental_ms": 50.0},
        "goal_met": {
            "initial_sync": all(r >= 2.0 for r in ratios.values()),
            "incremental": incremental["first_ms"] < 50.0 and incremental["cards"] == EDITS,
        },
    }


if __name__ == "__main__":
    main()
