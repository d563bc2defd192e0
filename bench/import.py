"""Benchmark: import of a 15,404-row workbook versus openpyxl alone reading the same file.

Builds the workbook from the demo data through the xlsx exporter, then in the same run times
(a) openpyxl reading it (read_only, values_only, every cell touched) and
(b) the ``bohai import`` path — read + validate + upsert into a fresh SQLite database (schema made beforehand) —
in-process with the functions ``bohai import`` calls, and once more as a real ``bohai import`` subprocess
(interpreter start and schema creation included). Each in-process figure is the best of ``--runs``.
Prints one JSON line. Goals: import_s < 10 and ratio = import_s / openpyxl_read_s < 3.

    .venv/bin/python bench/import.py [--runs 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import openpyxl

from directory.exchange import apply, check_rows, read_rows, render
from directory.snapshot import build
from directory.store import open_store
from liaison.service import load_demo


def make_workbook(folder: Path) -> Path:
    store = open_store(f"sqlite:///{folder / 'demo.sqlite3'}")
    try:
        load_demo(store)
        snap = build(*store.load_all())
    finally:
        store.close()
    path = folder / "offices.xlsx"
    path.write_bytes(render(snap, "xlsx"))
    return path


def openpyxl_read(path: Path) -> float:
    start = time.perf_counter()
    wb = openpyxl.load_workbook(io.BytesIO(path.read_bytes()), read_only=True, data_only=False)
    cells = sum(len(row) for row in wb.worksheets[0].iter_rows(values_only=True))
    wb.close()
    assert cells > 15404 * 9
    return time.perf_counter() - start


def import_once(path: Path, folder: Path, run: int) -> dict[str, float]:
    store = open_store(f"sqlite:///{folder / f'fresh-{run}.sqlite3'}")
    try:
        t0 = time.perf_counter()
        table = read_rows(path)
        t1 = time.perf_counter()
        plan = check_rows(table)
        t2 = time.perf_counter()
        result = apply(store, plan, "bench")
        t3 = time.perf_counter()
    finally:
        store.close()
    assert plan.ok and result.created == 15404, (plan.errors[:3], result)
    return {"import_s": t3 - t0, "read_s": t1 - t0, "validate_s": t2 - t1, "upsert_s": t3 - t2}


def cli_once(path: Path, folder: Path) -> float:
    env = {**os.environ, "BOHAI_DATABASE_URL": f"sqlite:///{folder / 'cli.sqlite3'}"}
    bohai = Path(sys.executable).with_name("bohai")
    start = time.perf_counter()
    done = subprocess.run([str(bohai), "import", str(path)], env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    assert done.returncode == 0 and "新增 15404" in done.stdout, done.stderr[-500:]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bohai-bench-") as tmp:
        folder = Path(tmp)
        path = make_workbook(folder)
        size = path.stat().st_size
        reads, imports = [], []
        for run in range(args.runs):  # interleaved, so both see the same machine load
            reads.append(openpyxl_read(path))
            imports.append(import_once(path, folder, run))
        cli_s = cli_once(path, folder)
    best = min(imports, key=lambda r: r["import_s"])
    read_s = min(reads)
    figures = {
        "bench": "import",
        "rows": 15404,
        "file_bytes": size,
        "openpyxl_read_s": round(read_s, 3),
        **{k: round(v, 3) for k, v in best.items()},
        "ratio": round(best["import_s"] / read_s, 2),
        "cli_total_s": round(cli_s, 3),
        "goal_met": best["import_s"] < 10 and best["import_s"] / read_s < 3,
        "runs": args.runs,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
