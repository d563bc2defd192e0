"""Benchmark: a verification campaign for every office of the demo directory (15,404) started and all its notices
queued (goal < 10 s), then the dashboard pictures of the full directory rendered, cold and warm (goal < 300 ms),
after two thirds of the offices answered over ten days. Prints one JSON line.

Usage: python bench/campaign.py [--db URL]   (default: a fresh SQLite file in a temporary folder; a PostgreSQL URL
must name an empty database)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from directory import clock
from directory.snapshot import SnapshotHolder
from liaison.database import open_store
from liaison.mail.models import outbox_t
from liaison.service import load_demo
from liaison.settings import Settings
from liaison.verify import campaign
from liaison.verify.models import item_t
from liaison.verify.web import render_pictures

GOAL_START_S = 10.0
GOAL_PICTURES_MS = 300.0


def answer_two_thirds(url: str, started: dt.datetime) -> int:
    """Two of every three items answered, spread over the ten days after the start (plain SQL: the figure timed is
    the rendering, not the answering)."""
    store = open_store(url)
    try:
        with store.begin() as conn:
            ids = list(conn.execute(sa.select(item_t.c.id).order_by(item_t.c.id)).scalars())
            chosen = [i for n, i in enumerate(ids) if n % 3]
            for day in range(10):
                part = chosen[day::10]
                at = started + dt.timedelta(days=day, hours=2)
                for start in range(0, len(part), 1000):
                    conn.execute(
                        sa.update(item_t)
                        .where(item_t.c.id.in_(part[start : start + 1000]))
                        .values(state="confirmed", answered_at=at)
                    )
        return len(chosen)
    finally:
        store.close()


def run(url: str) -> dict[str, object]:
    store = open_store(url)
    try:
        load_demo(store)
        snap = SnapshotHolder(store).current
        settings = Settings().replace(database={"url": url}, fax={"gateway": "fax.gw.example"})
        t0 = time.perf_counter()
        started = campaign.start_campaign(store, settings, snap, region_code=campaign.ALL, due_within=10, actor="bench")
        start_s = time.perf_counter() - t0
        with store.read() as conn:
            queued = int(conn.execute(sa.select(sa.func.count()).select_from(outbox_t)).scalar_one())
    finally:
        store.close()
    answered = answer_two_thirds(url, clock.now() - dt.timedelta(days=9))
    store = open_store(url)
    try:
        today = clock.today()
        timings = {}
        for scope in ("", "130000000000"):
            snap = SnapshotHolder(store).current  # a fresh Snapshot: nothing memoised yet
            t0 = time.perf_counter()
            result = render_pictures(store, snap, scope, today)
            cold = (time.perf_counter() - t0) * 1000
            t0 = time.perf_counter()
            render_pictures(store, snap, scope, today)
            warm = (time.perf_counter() - t0) * 1000
            assert result.response is not None and result.response.days[-1][2] > 0
            timings[scope or "ten_regions"] = {"cold_ms": round(cold, 1), "warm_ms": round(warm, 1)}
            svg_bytes = sum(len(s) for s in (result.confirmed_svg, result.no_email_svg, result.tiles_svg))
            timings[scope or "ten_regions"]["svg_bytes"] = svg_bytes
    finally:
        store.close()
    worst = max(float(str(t["cold_ms"])) for t in timings.values())
    return {
        "bench": "campaign",
        "db": url.split(":", 1)[0],
        "offices": started.offices,
        "notices_queued": queued,
        "emails": started.emails,
        "faxes": started.faxes,
        "phone_only": len(started.phones),
        "start_and_queue_s": round(start_s, 3),
        "goal_start_s": GOAL_START_S,
        "answered": answered,
        "pictures": timings,
        "pictures_worst_cold_ms": round(worst, 1),
        "goal_pictures_ms": GOAL_PICTURES_MS,
        "goal_met": start_s < GOAL_START_S and worst < GOAL_PICTURES_MS,
        "machine": f"{platform.machine()} {platform.python_version()}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    if args.db:
        print(json.dumps(run(args.db), ensure_ascii=False))
        return
    with tempfile.TemporaryDirectory(prefix="bohai-bench-") as tmp:
        print(json.dumps(run(f"sqlite:///{Path(tmp) / 'campaign.sqlite3'}"), ensure_ascii=False))


if __name__ == "__main__":
    main()
