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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCHES = (
    "search", "import", "http_search", "ldap", "outbox", "scale", "startup", "instances", "abuse", "publish",
    "carddav", "campaign",
)  # fmt: skip


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
    figures = {name: json.loads(line) for name, line in results.items()}
    out += ["## Summary against the goals", "", "Read off the JSON lines below by `bench/run_all.py` itself.", ""]
    out += ["| figure | measured in this run | goal | met |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {'yes' if ok else '**no**'} |" for a, b, c, ok in goal_rows(figures)]
    out.append("")
    for name, line in results.items():
        out += [f"## {name}", "", f"Command: `.venv/bin/python bench/{name}.py`", "", "```json", line, "```", ""]
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "benchmarks.md").write_text("\n".join(out), encoding="utf-8")


def goal_rows(f: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(figure, measured, goal, met) for every goal the issues set, from the benchmarks that ran."""
    rows: list[tuple[str, str, str, bool]] = []
    if "search" in f:
        s = f["search"]
        rows.append(
            (
                f"search p50 / p99 over {s['queries']:,} queries, {s['offices']:,} offices (`search`)",
                f"{s['p50_ms']} / {s['p99_ms']} ms",
                "p99 < 5 ms",
                s["p99_ms"] < 5,
            )
        )
        rss, first = s["serve_demo_peak_rss_mb"], s.get("serve_demo_first_run_peak_rss_mb", 0)
        rows.append(
            (
                "peak RSS of `bohai serve --demo`, every face on: existing database / first run (`search`)",
                f"{rss} / {first} MB",
                "< 300 MB",
                max(rss, first) < 300,
            )
        )
    if "import" in f:
        i = f["import"]
        rows.append(
            (
                f"import of {i['rows']:,} rows vs openpyxl reading the same file (`import`)",
                f"{i['import_s']} s vs {i['openpyxl_read_s']} s ({i['ratio']}×)",
                "< 10 s and ≤ 3×",
                i["import_s"] < 10 and i["ratio"] <= 3,
            )
        )
    if "http_search" in f:
        h = f["http_search"]
        for kind, label in (("search_distinct_queries", "distinct queries"), ("search_repeated_queries", "repeated")):
            rows.append(
                (
                    f"HTTP search vs trivial aiohttp handler, {label}, c={h['concurrency']} (`http_search`)",
                    f"{h[kind]['rps']:,} vs {h['trivial']['rps']:,} req/s ({h['rps_vs_trivial'][kind]}×), "
                    f"p99 {h[kind]['p99_ms']} ms, {h[kind]['errors']} errors",
                    "≥ 0.5×, no errors",
                    h["rps_vs_trivial"][kind] >= 0.5 and h[kind]["errors"] == 0,
                )
            )
    if "ldap" in f:
        kinds = f["ldap"]["kinds"]
        for kind, k in kinds.items():  # every kind at least 1.5x slapd with p99 under 10 ms at 8 clients
            ours, ref = k["ours"], k["slapd"]
            goals, limit = {kind: 1.5}, 10.0
            met = k["ratio_ours_to_slapd"] >= goals[kind] and ours["p99_ms"] < limit
            rows.append(
                (
                    f"LDAP {kind} vs slapd, c={f['ldap']['concurrency']} (`ldap`)",
                    f"{ours['searches_per_s']:,} vs {ref['searches_per_s']:,} searches/s "
                    f"({k['ratio_ours_to_slapd']}×), p99 {ours['p99_ms']} vs {ref['p99_ms']} ms; "
                    f"a server doing no work: {k['replay']['searches_per_s']:,}/s ({k['ratio_replay_to_slapd']}×)",
                    f"≥ {goals[kind]}×, p99 < {limit:g} ms",
                    met,
                )
            )
    if "startup" in f:
        rows += _startup_rows(f["startup"])
    if "outbox" in f:
        o = f["outbox"]
        rows.append(
            (
                "outbox vs bare aiosmtplib to the same aiosmtpd sink (`outbox`)",
                f"{o['outbox_msgs_per_s']:,} vs {o['bare_aiosmtplib_msgs_per_s']:,} msg/s ({o['ratio']}×)",
                f"≥ {o['goal_ratio']}×",
                o["ratio"] >= o["goal_ratio"],
            )
        )
    if "publish" in f:
        rows += _publish_rows(f["publish"])
    if "instances" in f:
        n = f["instances"]
        rows.append(
            (
                f"edit on instance A shown by instance B's LDAP, PostgreSQL NOTIFY, {n['edits']} edits (`instances`)",
                f"p50 {n['b_ldap_answers']['p50_ms']} / max {n['b_ldap_answers']['max_ms']} ms "
                f"(B's Snapshot swapped: max {n['b_snapshot_swapped']['max_ms']} ms)",
                f"< {n['goal_s'] * 1000:g} ms",
                n["goal_met"],
            )
        )
    if "abuse" in f:
        a = f["abuse"]
        goal = a["goal_p99_ms"]
        for attack in a["attacks"]:
            h = attack["healthz"] or {}
            p99 = h.get("p99_ms")
            rows.append(
                (
                    f"`/healthz` during {attack['attack']}, {h.get('probes', 0):,} probes (`abuse`)",
                    f"p99 {p99} ms (p50 {h.get('p50_ms')}, max {h.get('max_ms')}; "
                    f"no attack: p99 {a['baseline']['p99_ms']})",
                    f"p99 < {goal:g} ms",
                    p99 is not None and p99 < goal,
                )
            )
    if "carddav" in f:
        rows += _carddav_rows(f["carddav"])
    if "campaign" in f:
        rows += _campaign_rows(f["campaign"])
    return rows


def _startup_rows(s: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    rows = []
    for label, name in (("ten_regions", "ten regions"), ("national_synthetic", "national synthetic")):
        if label not in s:
            continue
        d = s[label]
        rss_goal = 200 if label == "ten_regions" else 350
        rows.append(
            (
                f"`bohai serve --demo` answering LDAP, HTTP search and /healthz, {name} ({d['offices']:,} offices), "
                "restart with the start-up image vs a fresh process reading every office (`startup`)",
                f"{d['warm_answers_median_s']} s vs {d['reference_s']} s ({d['warm_over_reference']}×; "
                f"first start, building: {d['cold']['answers_s']} s, {d['cold_over_reference']}×)",
                "≤ 5×",
                d["warm_over_reference"] <= 5,
            )
        )
        warm_rss = max(w["peak_rss_mb"] for w in d["warm"])
        rows.append(
            (
                f"peak RSS of `bohai serve --demo`, {name}: restart / first start building (`startup`)",
                f"{warm_rss} / {d['cold']['peak_rss_mb']} MB",
                f"< {rss_goal} MB",
                warm_rss < rss_goal and d["cold"]["peak_rss_mb"] < rss_goal,
            )
        )
    return rows


def _campaign_rows(c: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    pictures = c["pictures"]
    return [
        (
            f"verification campaign for all {c['offices']:,} offices started, {c['notices_queued']:,} notices queued"
            " (`campaign`)",
            f"{c['start_and_queue_s']} s",
            f"< {c['goal_start_s']:g} s",
            c["start_and_queue_s"] < c["goal_start_s"],
        ),
        (
            "dashboard pictures of the full directory / of 河北's cities, cold (`campaign`)",
            f"{pictures['ten_regions']['cold_ms']} / {pictures['130000000000']['cold_ms']} ms "
            f"(warm {pictures['ten_regions']['warm_ms']} / {pictures['130000000000']['warm_ms']} ms)",
            f"< {c['goal_pictures_ms']:g} ms",
            c["pictures_worst_cold_ms"] < c["goal_pictures_ms"],
        ),
    ]


def _carddav_rows(c: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    rows = []
    for book, label in (("largest_province", "largest province"), ("all_regions", "all-regions")):
        ours, theirs = c["ours"][book], c["radicale"][book]
        rows.append(
            (
                f"CardDAV initial sync of the {label} book, {ours['cards']:,} cards, vs Radicale (`carddav`)",
                f"{ours['warm_cards_per_s']:,} vs {theirs['warm_cards_per_s']:,} cards/s "
                f"({c['warm_ratio_ours_to_radicale'][book]}×; cold {c['cold_ratio_ours_to_radicale'][book]}×)",
                f"≥ {c['goal']['initial_sync_ratio']}×",
                c["warm_ratio_ours_to_radicale"][book] >= c["goal"]["initial_sync_ratio"],
            )
        )
    inc = c["ours"]["incremental_after_10_edits"]
    rows.append(
        (
            "CardDAV incremental sync after 10 edits (`carddav`)",
            f"{inc['first_ms']} ms ({inc['cards']} cards; Radicale "
            f"{c['radicale']['incremental_after_10_edits']['first_ms']} ms)",
            f"< {c['goal']['incremental_ms']:g} ms",
            c["goal_met"]["incremental"],
        )
    )
    return rows


def _publish_rows(p: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    full = (
        f"full publish of {p['entries']:,} offices into slapd vs ldapadd of the same LDIF (`publish`)",
        f"{p['full_publish_entries_per_s']:,} vs {p['ldapadd_entries_per_s']:,} entries/s ({p['ratio_to_ldapadd']}×)",
        f"≥ {p['goal_ratio']}×",
        p["ratio_to_ldapadd"] >= p["goal_ratio"],
    )
    incremental = (
        f"incremental publish after 10 edits, {p['incremental_modifies']} modifies (`publish`)",
        f"{p['incremental_10_edits_s']} s",
        f"< {p['goal_incremental_s']:g} s",
        p["incremental_10_edits_s"] < p["goal_incremental_s"],
    )
    return [full, incremental]


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
