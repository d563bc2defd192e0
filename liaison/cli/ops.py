"""``bohai backup``, ``bohai restore`` and ``bohai doctor``: the operator's commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from liaison.cli.common import opened
from liaison.settings import Settings


def _progress(table: str) -> None:
    print(f"正在备份表 {table}", file=sys.stderr, flush=True)


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.ops.backup import backup

    with opened(settings) as store:
        summary = backup(store, Path(args.file), progress=_progress if args.verbose_tables else lambda _t: None)
    total = sum(summary.rows.values())
    print(f"已备份 {len(summary.rows)} 个表共 {total} 行到 {summary.path}")
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.ops.restore import restore

    with opened(settings) as store:
        summary = restore(store, Path(args.file), force=args.force)
    if summary.migrated_from is not None:
        old = "，".join(f"{k}={v}" for k, v in summary.migrated_from.items())
        print(f"备份的数据库结构版本较旧（{old}），已升级到当前版本")
    print(f"已恢复 {len(summary.rows)} 个表共 {sum(summary.rows.values())} 行")
    return 0


MARKS = {"ok": "正常", "warning": "警告", "error": "错误"}


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    import json

    from liaison.ops import doctor

    findings = asyncio.run(doctor.diagnose(settings))
    if args.json:
        print(json.dumps(doctor.as_json(findings), ensure_ascii=False, indent=2))
        return doctor.verdict(findings)
    for f in findings:
        print(f"[{MARKS[f.level]}] {f.message}")
        if f.fix:
            print(f"        处理：{f.fix}")
    counts = {level: sum(f.level == level for f in findings) for level in ("warning", "error")}
    print(f"共检查 {len(findings)} 项：警告 {counts['warning']} 项，错误 {counts['error']} 项")
    return doctor.verdict(findings)


def add_commands(sub: Any) -> None:
    p = sub.add_parser("backup", help="备份全部数据（服务运行时也可，一致的快照；SQLite 与 PostgreSQL 通用）")
    p.add_argument("file", metavar="FILE", help="备份文件（完成后才以此名出现）")
    p.add_argument("--progress", dest="verbose_tables", action="store_true", help="逐表显示进度")
    p.set_defaults(handler=cmd_backup)
    p = sub.add_parser("restore", help="从备份文件恢复到空数据库（可跨 SQLite 与 PostgreSQL）")
    p.add_argument("file", metavar="FILE", help="bohai backup 写出的备份文件")
    p.add_argument("--force", action="store_true", help="目标数据库已有单位、账户、函件或会议时仍然覆盖")
    p.set_defaults(handler=cmd_restore)
    p = sub.add_parser("doctor", help="检查配置与运行环境，逐项说明问题与处理办法（退出码 0 正常，1 有警告，2 有错误）")
    p.add_argument("--json", action="store_true", help="以 JSON 输出，供监控使用")
    p.set_defaults(handler=cmd_doctor)
