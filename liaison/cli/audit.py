"""``bohai audit``: verify the tamper-evident audit trail, export it to a signed archive, prune archived rows,
and make a new key file. Operator-only (it runs with the database's and the key file's credentials).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from directory import auditmac, clock
from directory.settings import Settings as DirectorySettings
from directory.store import auditlog
from liaison.cli.common import cli_actor, opened
from liaison.settings import Settings


def _date(text: str) -> dt.datetime:
    """A Beijing date as the aware moment it starts."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"应为日期 YYYY-MM-DD：{text!r}") from None
    return dt.datetime.combine(day, dt.time(), clock.ZONE)


def _key(settings: DirectorySettings) -> auditmac.AuditKey | None:
    chain = settings.audit.chain or auditlog.default_chain()
    return auditmac.key_of(settings.audit.key_file, settings.audit.algorithm, chain)


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    if args.archive:
        key = _key(settings)
        if key is None:
            with opened(settings) as store, store.begin() as conn:
                key = store.audit_key_in_force(conn)
        try:
            archive = json.loads(Path(args.archive).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"错误：无法读取归档文件 {args.archive}：{exc}", file=sys.stderr)
            return 1
        problems = auditlog.check_archive(archive, key)
        for text in problems:
            print(f"错误：{text}", file=sys.stderr)
        if not problems:
            print(f"归档文件完好：{len(archive['rows'])} 条记录，签名与每条记录的校验码均正确")
        return 1 if problems else 0
    with opened(settings) as store:
        report = store.verify_audit()
    for chain, count in sorted(report.checked.items()):
        print(f"链 {chain}：已校验 {count} 条")
    if report.legacy:
        print(f"另有 {report.legacy} 条记录写于启用校验链之前，没有校验码")
    for problem in report.problems:
        print(f"错误：{problem.text}", file=sys.stderr)
    if report.ok:
        print("审计记录完好：未发现改动、插入或删除")
        return 0
    return 1


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    out = Path(args.output)
    with opened(settings) as store:
        archive = store.export_audit(args.before)
        _write_atomically(out, archive)
        store.mark_audit_archived(archive, cli_actor("cli"), str(out))
    print(f"已将 {len(archive['rows'])} 条审计记录（{clock.shown(args.before)} 之前）归档到 {out}，并已签名")
    return 0


def _write_atomically(path: Path, archive: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(archive, f, ensure_ascii=False, indent=0)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def cmd_prune(args: argparse.Namespace, settings: Settings) -> int:
    with opened(settings) as store:
        result = store.prune_audit(args.before, settings.audit.keep_days, cli_actor("cli"))
    print(f"已删除 {result.rows} 条已归档的审计记录（{clock.shown(args.before)} 之前）")
    return 0


def cmd_key_new(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.file)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(f"错误：{path} 已存在，不会覆盖（换用新密钥会使已有记录无法校验）", file=sys.stderr)
        return 1
    with os.fdopen(fd, "w") as f:
        f.write(auditmac.new_key_text())
    print(f"已生成审计密钥 {path}（仅所有者可读）；在配置的 [audit] key_file 中指向它")
    return 0


def add_commands(sub: Any) -> None:
    audit = sub.add_parser("audit", help="审计记录：校验防篡改链、签名归档、删除已归档的过期记录")
    asub = audit.add_subparsers(dest="audit_command", metavar="SUBCOMMAND", required=True)
    p = asub.add_parser("verify", help="校验每条审计链，指出第一条被改动、插入或删除的记录（有问题时退出码 1）")
    p.add_argument("--archive", metavar="FILE", help="改为校验 bohai audit export 写出的归档文件")
    p.set_defaults(handler=cmd_verify)
    p = asub.add_parser("export", help="将某日期之前的审计记录写入签名的归档文件")
    p.add_argument("--before", required=True, type=_date, metavar="DATE", help="北京时间该日零点之前的记录")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="归档文件（完成后才以此名出现）")
    p.set_defaults(handler=cmd_export)
    p = asub.add_parser("prune", help="删除某日期之前、已归档且已超过保存期限（[audit] keep_days）的审计记录")
    p.add_argument("--before", required=True, type=_date, metavar="DATE", help="北京时间该日零点之前的记录")
    p.set_defaults(handler=cmd_prune)
    p = asub.add_parser("key-new", help="生成新的审计密钥文件（不覆盖已有文件）")
    p.add_argument("file", metavar="FILE")
    p.set_defaults(handler=cmd_key_new)
