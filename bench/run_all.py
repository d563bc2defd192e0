"""Run every benchmark, one after the other, and optionally record the figures in docs/benchmarks.md.

Run: ``.venv/bin/python bench/run_all.py [--record]``. Each script ``bench/<name>.py`` prints one JSON line; this
prints them as they come and, with ``--record``, rewrites ``docs/benchmarks.md`` with the machine, the date, the
command of each figure and its JSON line. A benchmark that fails is reported with its exit code and output tail and
makes this command exit non-zero (nothing is recorded then).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHES = ("search", "import", "http_search", "ldap", "outbox", "scale")


def machine() -> str:
    cpu = ""
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor()
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}){mem}, Python " + (
        platform.python_version()
    )


def run(name: str) -> tuple[dict[str, object] | None, str, float]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / f"{name}.py")], cwd=ROOT, capture_output=True, text=True, check=False
    )
    took = time.perf_counter() - t0
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return None, (proc.stdout + proc.stderr)[-3000:], took
    return json.loads(lines[-1]), lines[-1], took


def record(results: dict[str, str]) -> None:
    out = [
        "# Benchmarks",
        "",
        "Every figure below comes from one run of `.venv/bin/python bench/run_all.py --record` on the machine named",
        "here; each benchmark can be run on its own with the command shown, and prints one JSON line. Reference",
        "measurements (slapd, a trivial aiohttp handler, openpyxl alone, a bare aiosmtplib loop) are taken in the",
        "same run on the same data.",
        "",
        f"- Machine: {machine()}",
        f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
    ]
    for name, line in results.items():
        out += [f"## {name}", "", f"Command: `.venv/bin/python bench/{name}.py`", "", "```json", line, "```", ""]
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "benchmarks.md").write_text("\n".join(out), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="rewrite docs/benchmarks.md with the figures")
    parser.add_argument("names", nargs="*", default=list(BENCHES), help="benchmarks to run (default: all)")
    args = parser.parse_args()
    results: dict[str, str] = {}
    failed = []
    for name in args.names:
        if not (ROOT / "bench" / f"{name}.py").exists():
            print(f"{name}: bench/{name}.py does not exist", file=sys.stderr)
            failed.append(name)
            continue
        data, text, took = run(name)
        if data is None:
            print(f"{name}: FAILED after {took:.0f} s\n{text}", file=sys.stderr)
            failed.append(name)
            continue
        print(text, flush=True)
        results[name] = text
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    if args.record:
        record(results)
        print("recorded in docs/benchmarks.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
