"""``bohai workdays …``: the working-day calendar and its override table."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from liaison.cli.common import opened
from liaison.settings import Settings


def _calendar(settings: Settings) -> Any:
    from liaison.workdays.store import load_calendar

    with opened(settings) as store:
        return load_calendar(store)


def cmd_workdays_add(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.workdays.calendar import parse_date

    cal = _calendar(settings)
    start = parse_date(args.date, "DATE")
    if args.provisional:
        marked = cal.add_workdays_marked(start, args.n)
        print(f"{marked.date.isoformat()}{'（暂定：部分年份尚无官方放假安排）' if marked.provisional else ''}")
    else:
        print(cal.add_workdays(start, args.n).isoformat())
    return 0


def cmd_workdays_between(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.workdays.calendar import parse_date

    print(_calendar(settings).workdays_between(parse_date(args.a, "A"), parse_date(args.b, "B")))
    return 0


def cmd_workdays_load(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from liaison.letters import deadlines
    from liaison.workdays.calendar import parse_overrides
    from liaison.workdays.store import load_calendar, save_overrides

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"错误：无法读取 {path}：{exc.strerror}", file=sys.stderr)
        return 1
    overrides = parse_overrides(text, name=str(path))
    with opened(settings) as store:
        save_overrides(store, overrides, "cli")
        recomputed = deadlines.recompute_provisional(store, settings, load_calendar(store))
    print(
        f"已载入 {overrides.year} 年放假安排：假日 {len(overrides.holidays)} 天，调休上班 {len(overrides.workdays)} 天"
    )
    print(f"已按新的放假安排重新计算 {recomputed} 个暂定回复期限")
    return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser("workdays", help="工作日计算（含法定节假日与调休）")
    wsub = p.add_subparsers(dest="workdays_command", metavar="ACTION", required=True)
    q = wsub.add_parser("add", help="DATE 之后第 N 个工作日")
    q.add_argument("date", metavar="DATE", help="起始日期 YYYY-MM-DD（不计当天）")
    q.add_argument("n", metavar="N", type=int, help="工作日数")
    q.add_argument("--provisional", action="store_true", help="无官方放假安排的年份按周末估算并标明“暂定”")
    q.set_defaults(handler=cmd_workdays_add)
    q = wsub.add_parser("between", help="A 之后到 B（含）之间的工作日数")
    q.add_argument("a", metavar="A", help="YYYY-MM-DD")
    q.add_argument("b", metavar="B", help="YYYY-MM-DD")
    q.set_defaults(handler=cmd_workdays_between)
    q = wsub.add_parser("load", help="载入某年国务院放假安排（TOML：year, source, holidays, workdays）")
    q.add_argument("file", metavar="FILE")
    q.set_defaults(handler=cmd_workdays_load)
