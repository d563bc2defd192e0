"""``bohai regions update``: apply a new edition of the NBS division codes, with a report of every office touched."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from directory.divisions import Plan
from liaison.cli.common import cli_actor, opened
from liaison.settings import Settings


def cmd_regions_update(args: argparse.Namespace, settings: Settings) -> int:
    from directory import divisions

    edition = divisions.read_edition(Path(args.file))
    changes = divisions.read_changes(Path(args.changes)) if args.changes else {}
    with opened(settings) as store:
        plan = divisions.plan(store.divisions(), store.office_places(), edition, changes)
        if not args.dry_run:
            store.apply_divisions(plan, Path(args.file).name, cli_actor("regions"))
    _report(plan, settings.liaison.domain, args.dry_run)
    return 0


def _report(plan: Plan, domain: str, dry_run: bool) -> None:
    head = "试运行，未写入：" if dry_run else "已更新区划："
    print(f"{head}新增 {len(plan.added)} 个，更名或调整上级 {len(plan.changed)} 个，撤销 {len(plan.retired)} 个")
    for move in plan.moves:
        alias = f"旧角色地址 {move.old_code}@{domain} 保留一年"
        print(f"  迁移单位 {move.unit_name}：{move.old_code} → {move.new_code}（{alias}）")
    for code, unit in plan.renamed_offices:
        print(f"  单位 {unit}（{code}）所在区划更名或调整，地址簿路径随之改变")
    print(f"涉及单位 {len(plan.moves) + len(plan.renamed_offices)} 个")


def add_commands(sub: Any) -> None:
    p = sub.add_parser("regions", help="行政区划：按国家统计局新版区划代码更新")
    rsub = p.add_subparsers(dest="regions_command", metavar="ACTION", required=True)
    q = rsub.add_parser("update", help="应用新版区划（CSV：code,name,level,parent_code,province_code）")
    q.add_argument("file", metavar="FILE", help="新版区划文件（只更新文件中出现的省份）")
    q.add_argument("--changes", metavar="MAP", help="变更对照表 CSV：旧代码,新代码（撤销区划的单位迁往新代码）")
    q.add_argument("--dry-run", action="store_true", help="只列出将发生的变化，不写入")
    q.set_defaults(handler=cmd_regions_update)
