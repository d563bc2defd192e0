"""Run the benchmarks of this checkout and of another one (say, a worktree of the previous commit) in one run.

Run: ``.venv/bin/python bench/compare.py ../prev [--bench search --bench ldap] [--rounds 1]``. This machine's speed
varies several-fold from hour to hour, so figures taken at different times cannot be compared; here each benchmark
runs in both trees back to back (the order alternating between rounds), with this checkout's Python, and the figures
are set side by side. Prints one line per benchmark and round as it goes (to stderr) and, at the end, one JSON line
with both trees' JSON lines for every benchmark and, for each numeric figure, the ratio this / other.

Only benchmarks present in both trees are run; ``run_all`` and this script are not benchmarks.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOT_BENCHES = {"run_all", "compare", "__init__"}


def benches(tree: Path) -> set[str]:
    return {p.stem for p in (tree / "bench").glob("*.py") if p.stem not in NOT_BENCHES}


def revision(tree: Path) -> str:
    proc = subprocess.run(
        ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() or str(tree)


def run(tree: Path, name: str) -> dict[str, Any]:
    """One benchmark in ``tree`` (its own code: the script puts its tree first on ``sys.path``)."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(tree / "bench" / f"{name}.py")], cwd=tree, capture_output=True, text=True, check=False
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{name} failed in {tree} (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}")
    figures: dict[str, Any] = json.loads(lines[-1])
    figures["_took_s"] = round(time.perf_counter() - started, 1)
    return figures


def numbers(value: Any, prefix: str = "") -> dict[str, float]:
    """Every numeric leaf of a JSON value by its dotted path (booleans are not figures)."""
    if isinstance(value, dict):
        out: dict[str, float] = {}
        for key, item in value.items():
            out.update(numbers(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {prefix: float(value)}
    return {}


def ratios(this: dict[str, Any], other: dict[str, Any]) -> dict[str, float]:
    a, b = numbers(this), numbers(other)
    return {k: round(a[k] / b[k], 3) for k in sorted(a.keys() & b.keys()) if b[k] and not k.startswith("_")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the other checkout (e.g. a worktree of the previous commit)")
    parser.add_argument("--bench", action="append", default=[], help="only this benchmark (repeatable)")
    parser.add_argument("--rounds", type=int, default=1, help="how many times each benchmark runs in each tree")
    args = parser.parse_args(argv)
    other: Path = args.other.resolve()
    common = benches(ROOT) & benches(other)
    chosen = sorted(set(args.bench) or common)
    unknown = [name for name in chosen if name not in common]
    if unknown:
        parser.error(f"not a benchmark of both trees: {', '.join(unknown)} (both have: {', '.join(sorted(common))})")
    results: dict[str, dict[str, Any]] = {}
    for name in chosen:
        both: dict[str, list[dict[str, Any]]] = {"this": [], "other": []}
        for round_ in range(args.rounds):
            order = [("other", other), ("this", ROOT)]
            for label, tree in order if round_ % 2 == 0 else reversed(order):
                both[label].append(run(tree, name))
                print(
                    f"{name} round {round_ + 1} {label}: {json.dumps(both[label][-1], ensure_ascii=False)}",
                    file=sys.stderr,
                    flush=True,
                )
        results[name] = {
            **both,
            "this_over_other": [ratios(t, o) for t, o in zip(both["this"], both["other"], strict=True)],
        }
    print(
        json.dumps(
            {"bench": "compare", "this": revision(ROOT), "other": revision(other), "results": results},
            ensure_ascii=False,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
