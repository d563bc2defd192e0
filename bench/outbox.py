"""Benchmark: messages/s delivered through the outbox to an aiosmtpd sink, next to a bare aiosmtplib loop to the
same sink in the same run (goal: outbox >= 70% of bare). Prints one JSON line.

Usage: python bench/outbox.py [--n 2000] [--db URL]   (default: a fresh SQLite file in a temporary folder)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiosmtplib

from liaison.database import open_store
from liaison.mail import outbox
from liaison.mail.worker import OutboxWorker
from liaison.settings import Settings
from tests.support.mailsink import Sink, mail_sink


def message(i: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "130100000000@liaison.bohai.example"
    msg["To"] = "dc@beijing.example"
    msg["Subject"] = f"关于核查流动人口信息的函（第{i}号）"
    msg.set_content("请协助核查张三的居住登记信息。" * 20)
    return msg


async def drain(sink: Sink, n: int) -> None:
    for _ in range(n):
        await sink.get(timeout=60)


async def bare(sink: Sink, n: int) -> float:
    data = [message(i).as_bytes() for i in range(n)]
    start = time.perf_counter()
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, start_tls=False) as smtp:
        for body in data:
            await smtp.sendmail("bounces+x@liaison.bohai.example", ["dc@beijing.example"], body)
    await drain(sink, n)
    return n / (time.perf_counter() - start)


async def through_outbox(sink: Sink, n: int, url: str) -> tuple[float, float]:
    store = await asyncio.to_thread(open_store, url)
    try:
        start = time.perf_counter()

        def fill() -> None:
            with store.begin() as conn:
                for i in range(n):
                    outbox.enqueue(conn, message(i), recipient="dc@beijing.example", kind="bench")

        await asyncio.to_thread(fill)
        enqueue_rate = n / (time.perf_counter() - start)
        settings = Settings().replace(database={"url": url}, relay={"port": sink.port})
        worker = OutboxWorker(store, settings)
        start = time.perf_counter()
        worker.start()
        await drain(sink, n)
        rate = n / (time.perf_counter() - start)
        await worker.wait_idle()
        await worker.aclose()
        assert outbox.counts(store) == {"sent": n}
        return rate, enqueue_rate
    finally:
        store.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--db", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/bench.sqlite3"
        async with mail_sink() as sink:
            await bare(sink, 50)  # warm-up
            bare_before = await bare(sink, args.n)
            outbox_rate, enqueue_rate = await through_outbox(sink, args.n, url)
            bare_after = await bare(sink, args.n)  # before and after, so that load from others shows
    bare_rate = (bare_before + bare_after) / 2
    figures = {
        "bench": "outbox",
        "n": args.n,
        "db": url.split(":", 1)[0],
        "bare_aiosmtplib_msgs_per_s": round(bare_rate, 1),
        "bare_before_after": [round(bare_before, 1), round(bare_after, 1)],
        "outbox_msgs_per_s": round(outbox_rate, 1),
        "ratio": round(outbox_rate / bare_rate, 3),
        "goal_ratio": 0.7,
        "enqueue_msgs_per_s": round(enqueue_rate, 1),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}",
    }
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
