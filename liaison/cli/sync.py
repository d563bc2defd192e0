"""``bohai publish`` and ``bohai pull``: our offices into another LDAP directory, and a province's directory into
ours (``directory.sync``; targets and sources are ``[publish.NAME]`` and ``[pull.NAME]`` tables of the config file).
"""

from __future__ import annotations

import argparse
from typing import Any

from directory.errors import SettingsError
from liaison.cli.common import cli_actor, opened
from liaison.settings import Settings

LABELS = {"publish": "发布目标", "pull": "拉取来源"}


def _named(tables: Any, kind: str, name: str) -> Any:
    if name not in tables:
        known = "、".join(sorted(tables)) or "（无）"
        raise SettingsError(f"[{kind}.{name}] 未配置；配置文件中已有的{LABELS[kind]}：{known}")
    return tables[name]


def cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    from directory.snapshot import SnapshotHolder
    from directory.sync import publish
    from directory.sync.plan import Plan, summary

    target = _named(settings.publish, "publish", args.name)
    job = publish.Job(args.name, target, settings.ldap.base_dn)
    options = publish.Options(dry_run=args.dry_run, no_delete=args.no_delete, full=args.full)

    def show(plan: Plan) -> None:
        print("\n".join(summary(plan)), flush=True)

    with opened(settings) as store:
        snap = SnapshotHolder(store).current
        plan = publish.run(store, snap, job, options, show=show)
    print("试运行：未写入任何数据" if args.dry_run else f"完成：已执行 {plan.size()} 项")
    return 0


def cmd_pull(args: argparse.Namespace, settings: Settings) -> int:
    from directory.sync import pull

    source = _named(settings.pull, "pull", args.name)
    with opened(settings) as store:
        actor = cli_actor(f"pull:{args.name}")
        report = pull.run(
            store, args.name, source, dry_run=args.dry_run, actor=actor, source_base=settings.ldap.base_dn
        )
    for warning in report.warnings:
        print(f"警告：{warning}")
    prefix = "试运行（未写入任何数据）：" if args.dry_run else ""
    counts = f"新增 {report.created}，更新 {report.updated}，删除 {report.removed}，未变 {report.unchanged}"
    print(f"{prefix}读取 {report.read} 个条目；{counts}")
    return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser("publish", help="把本服务的单位写入其他 LDAP 目录（OpenLDAP、Active Directory）")
    p.add_argument("name", help="配置文件中 [publish.NAME] 的 NAME")
    p.add_argument("--dry-run", action="store_true", help="只计算并显示计划，不写入目标目录")
    p.add_argument("--no-delete", action="store_true", help="不删除目标中多余的条目（只新增和修改）")
    p.add_argument("--full", action="store_true", help="完整核对目标中的全部条目（默认只处理上次成功以来的变更）")
    p.set_defaults(handler=cmd_publish)
    p = sub.add_parser("pull", help="从某省自己的 LDAP 目录读取该省的单位并写入本服务")
    p.add_argument("name", help="配置文件中 [pull.NAME] 的 NAME")
    p.add_argument("--dry-run", action="store_true", help="只校验并显示将要进行的变更，不写入")
    p.set_defaults(handler=cmd_pull)
