"""``bohai backup``, ``bohai restore`` and ``bohai doctor``: the operator's commands.
"""

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


def add_commands(sub: Any) -> None:
    p = sub.add_parser("backup", help="备份全部数据（服务运行时也可，一致的快照；SQLite 与 PostgreSQL 通用）")
    p.add_argument("file", metavar="FILE", help="备份文件（完成后才以此名出现）")
    p.add_argument("--progress", dest="verbose_tables", action="store_true", help="逐表显示进度")
    p.set_defaults(handler=cmd_backup)
    p = sub.add_parser("restore", help="从备份文件恢复到空数据库（可跨 SQLite 与 PostgreSQL）")
    p.add_argument("file", metavar="FILE", help="bohai backup 写出的备份文件")
    p.add_argument("--force", action="store_true", help="目标数据库已有单位、账户、函件或会议时仍然覆盖")
    p.set_defaults(handler=cmd_restore)
