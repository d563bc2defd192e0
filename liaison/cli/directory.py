"""``bohai search``, ``bohai import``, ``bohai export`` and ``bohai remove``: the directory from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from directory.errors import BohaiError, ValidationFailed
from liaison.cli.common import cli_actor, opened, positive_int
from liaison.settings import Settings


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from directory.search import search
    from directory.snapshot import SnapshotHolder

    with opened(settings) as store:
        result = search(SnapshotHolder(store).current, args.query, args.limit)
    if args.json:
        hits = [h.as_dict() for h in result.hits]
        print(json.dumps({"query": args.query, "total": result.total, "hits": hits}, ensure_ascii=False, indent=2))
        return 0 if result.hits else 1
    if not result.hits:
        print(f"没有找到与“{args.query}”匹配的单位", file=sys.stderr)
        return 1
    for hit in result.hits:
        o = hit.office
        print(f"{o.unit_name}  [{hit.region.code}] {' '.join(hit.region.path)}")
        print(
            f"    联系人：{o.contact_name or '—'}（{o.position or '—'}）  电话：{o.phone_display or '—'}"
            f"  传真：{o.fax_display or '—'}  邮箱：{o.email or '—'}"
        )
        print(f"    地址：{o.address or '—'}  邮编：{o.postal_code or '—'}")
    shown = len(result.hits)
    print(f"共 {result.total} 个结果" + (f"，显示前 {shown} 个" if shown < result.total else ""))
    return 0


def _add_search(sub: Any) -> None:
    p = sub.add_parser("search", help="查找单位：名称、地区、联系人、拼音或首字母、电话、邮箱、邮编、区划代码")
    p.add_argument("query", help="查询词，多个词用空格分开（如：石家庄 长安、changan、zw、0311-8765）")
    p.add_argument("--json", action="store_true", help="以 JSON 输出")
    p.add_argument("--limit", type=positive_int, default=20, help="最多显示的结果数（默认 20）")
    p.set_defaults(handler=cmd_search)


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from directory.exchange import apply, check_rows, preview, read_rows
    from directory.exchange.importer import scope_code
    from directory.exchange.progress import ProgressBar

    scope = scope_code(args.province) if args.province else None
    table = read_rows(args.file)
    bar = ProgressBar(sys.stderr, "校验")
    try:
        plan = check_rows(table, scope=scope, progress=bar)
    finally:
        bar.close()
    for warning in plan.warnings:
        print(f"警告：{warning}", file=sys.stderr)
    if not plan.ok:
        raise ValidationFailed(plan.errors, "文件中有错误，未写入任何数据")
    with opened(settings) as store:
        result = preview(store, plan) if args.dry_run else apply(store, plan, cli_actor("import"))
    prefix = "试运行（未写入任何数据）：" if args.dry_run else ""
    print(f"{prefix}新增 {result.created}，更新 {result.updated}，未变 {result.unchanged}")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from directory import clock
    from directory.exchange.export import BINARY, Watermark, render, resolve_region
    from directory.snapshot import build

    if args.format in BINARY and not args.output:
        raise BohaiError(f"{args.format} 是二进制格式，请用 -o 指定输出文件")
    actor = cli_actor("cli")
    mark = Watermark(actor, clock.now())
    with opened(settings) as store:
        snap = build(*store.load_all())
        root = resolve_region(snap, args.region)
        data = render(snap, args.format, root=root, base_dn=settings.ldap.base_dn, watermark=mark)
        store.record_export(actor, root or "", args.format, args.output or "-", "all")
    if args.output:
        _write_atomically(args.output, data)
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return 0


def _write_atomically(path: str, data: bytes) -> None:
    import os
    import tempfile
    from pathlib import Path

    target = Path(path)
    if target.is_dir():
        raise BohaiError(f"无法写入 {path}：这是一个文件夹，请给出文件名")
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; an export is an ordinary file
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise BohaiError(f"无法写入 {path}：{exc.strerror}") from exc
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    with opened(settings) as store:
        office = store.get_office(args.code)
        if office is None:
            print(f"区划 {args.code} 没有单位记录，未删除任何数据", file=sys.stderr)
            return 1
        if not args.yes:
            print(f"将删除 {office['unit_name']}（{args.code}）及其联系人；确认请加 --yes", file=sys.stderr)
            return 2
        store.remove_office(args.code, cli_actor("remove"))
    print(f"已删除 {office['unit_name']}（{args.code}）；通讯录、LDAP 与同步目标将随之移除该单位")
    return 0


def _add_directory(sub: Any) -> None:
    from directory.exchange.export import FORMATS

    p = sub.add_parser("import", help="导入标准模板的 CSV 或 XLSX 文件（按区划代码新增或更新单位）")
    p.add_argument("file", metavar="FILE", help="CSV（UTF-8 或 GB18030）或 XLSX 文件，第一行为标准表头")
    p.add_argument("--dry-run", action="store_true", help="只校验并显示将新增/更新的数量，不写入")
    p.add_argument("--province", metavar="CODE", help="只允许该区划（如 13 或 12 位代码）之下的单位")
    p.set_defaults(handler=cmd_import)
    p = sub.add_parser("export", help="导出通讯录（CSV、XLSX、vCard、Outlook vCard、LDIF）")
    p.add_argument("--format", required=True, choices=list(FORMATS), help="导出格式")
    p.add_argument("--region", metavar="CODE", help="只导出该区划及其下级")
    p.add_argument("-o", "--output", metavar="FILE", help="输出文件（文本格式默认写到标准输出）")
    p.set_defaults(handler=cmd_export)
    p = sub.add_parser("remove", help="删除一个单位（如机构撤销）；区划保留，操作记入审计")
    p.add_argument("code", metavar="CODE", help="单位的 12 位区划代码")
    p.add_argument("--yes", action="store_true", help="确认删除（否则只显示将删除的单位）")
    p.set_defaults(handler=cmd_remove)


def add_commands(sub: Any) -> None:
    _add_search(sub)
    _add_directory(sub)
