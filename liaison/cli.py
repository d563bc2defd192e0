"""The ``bohai`` command.

Owns: argument parsing, help texts and exit codes only. Each sub-command is one small ``cmd_<name>`` function that
calls directory or liaison functions; there is no business logic here. Errors of the domain tree are printed as
``错误：…`` on stderr with exit code 1 (2 for a bad setting or usage).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from directory import settings as settings_mod
from directory.errors import BohaiError, FieldError, SettingsError, ValidationFailed
from directory.settings import Settings
from directory.store import Store, open_store

Handler = Callable[[argparse.Namespace, Settings], int]


def _open(settings: Settings) -> Store:
    return open_store(settings.database.url, pool_size=settings.database.pool_size)


# -- serve ----------------------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.service import serve

    asyncio.run(serve(settings, with_demo=args.demo))
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from liaison.service import load_demo

    store = _open(settings)
    try:
        created = load_demo(store)
    finally:
        store.close()
    print(f"已生成演示单位 {created} 个" if created else "数据库中已有单位，未生成演示数据")
    return 0


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    import dataclasses

    data = dataclasses.asdict(settings)
    for section in data.values():
        for key in section:
            if "password" in key or "secret" in key:
                section[key] = "***" if section[key] else ""
    print(json.dumps(data, ensure_ascii=False, indent=2))
    return 0


def _add_core(sub: Any) -> None:
    p = sub.add_parser("serve", help="启动服务（网页、LDAP、SMTP 等全部接口）")
    p.add_argument("--demo", action="store_true", help="数据库为空时生成演示单位（虚构联系人，标记为演示数据）")
    p.set_defaults(handler=cmd_serve)
    p = sub.add_parser("demo", help="数据库为空时生成演示单位")
    p.set_defaults(handler=cmd_demo)
    p = sub.add_parser("config", help="显示生效的配置（密码隐藏）")
    p.set_defaults(handler=cmd_config)


# -- directory: search -------------------------------------------------------------------------------------------


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from directory.search import search
    from directory.snapshot import SnapshotHolder

    store = _open(settings)
    try:
        result = search(SnapshotHolder(store).current, args.query, args.limit)
    finally:
        store.close()
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
    p.add_argument("--limit", type=int, default=20, help="最多显示的结果数（默认 20）")
    p.set_defaults(handler=cmd_search)


# -- directory: import, export (issue 2) ----------------------------------------------------------------


def _add_directory(sub: Any) -> None:
    pass


# -- accounts: user add|passwd|list|disable (issue 3) -----------------------------------------------------------


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("密码：")
    if getpass.getpass("再次输入密码：") != first:
        raise ValidationFailed([FieldError("password", "两次输入的密码不一致")], "密码未设置")
    return first


def cmd_user_add(args: argparse.Namespace, settings: Settings) -> int:
    from directory import accounts

    password = _read_password(args)
    store = _open(settings)
    try:
        user = accounts.add_user(store, args.username, password, args.role, args.province, "cli")
    finally:
        store.close()
    where = f"，省份 {user.province_name}" if user.province_name else ""
    print(f"已创建用户 {user.username}（{user.role_name}{where}）")
    return 0


def cmd_user_passwd(args: argparse.Namespace, settings: Settings) -> int:
    from directory import accounts

    password = _read_password(args)
    store = _open(settings)
    try:
        accounts.set_password(store, args.username, password, "cli")
    finally:
        store.close()
    print(f"已修改用户 {args.username} 的密码（锁定已解除）")
    return 0


def cmd_user_list(args: argparse.Namespace, settings: Settings) -> int:
    from directory.accounts import ROLE_NAMES
    from directory.regions import PROVINCES

    store = _open(settings)
    try:
        rows = store.list_accounts()
    finally:
        store.close()
    for a in rows:
        province = PROVINCES.get((a["province_code"] or "")[:2], "")
        state = "已停用" if a["disabled"] else ("已锁定" if a["locked_until"] else "正常")
        token = "有令牌" if a["api_token_hash"] else ""
        print(f"{a['username']}\t{ROLE_NAMES.get(a['role'], a['role'])}\t{province or '—'}\t{state}\t{token}".rstrip())
    if not rows:
        print("还没有用户；用 bohai user add 创建", file=sys.stderr)
    return 0


def cmd_user_disable(args: argparse.Namespace, settings: Settings) -> int:
    from directory import accounts

    store = _open(settings)
    try:
        accounts.set_disabled(store, args.username, not args.enable, "cli")
    finally:
        store.close()
    print(f"已{'启用' if args.enable else '停用'}用户 {args.username}")
    return 0


def cmd_user_token(args: argparse.Namespace, settings: Settings) -> int:
    from directory import accounts

    store = _open(settings)
    try:
        token = accounts.new_token(store, args.username, "cli")
    finally:
        store.close()
    print(token)
    print("请妥善保存此令牌（只显示一次，旧令牌已失效）；用法：Authorization: Bearer <令牌>", file=sys.stderr)
    return 0


def _add_accounts(sub: Any) -> None:
    user = sub.add_parser("user", help="管理工作人员账户").add_subparsers(dest="user_command", metavar="ACTION")
    p = user.add_parser("add", help="创建账户")
    p.add_argument("username")
    p.add_argument("--role", choices=["admin", "editor", "reader"], default="reader", help="角色（默认 reader 只读）")
    p.add_argument("--province", help="编辑所属省份代码（如 13 或 130000000000），editor 必填")
    p.add_argument("--password-stdin", action="store_true", help="从标准输入读一行作为密码（供脚本使用）")
    p.set_defaults(handler=cmd_user_add)
    p = user.add_parser("passwd", help="修改密码（同时解除锁定）")
    p.add_argument("username")
    p.add_argument("--password-stdin", action="store_true", help="从标准输入读一行作为密码")
    p.set_defaults(handler=cmd_user_passwd)
    p = user.add_parser("list", help="列出账户")
    p.set_defaults(handler=cmd_user_list)
    p = user.add_parser("disable", help="停用账户（同时吊销访问令牌）")
    p.add_argument("username")
    p.add_argument("--enable", action="store_true", help="重新启用")
    p.set_defaults(handler=cmd_user_disable)
    p = user.add_parser("token", help="生成新的 API 访问令牌（旧令牌失效）")
    p.add_argument("username")
    p.set_defaults(handler=cmd_user_token)


# -- liaison: letters and working days (issue 4) ------------------------------------------------------------------


def _add_letters(sub: Any) -> None:
    pass


# -- liaison: joint meetings (issue 5) ----------------------------------------------------------------------------


def _add_meetings(sub: Any) -> None:
    pass


# -- main -----------------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bohai",
        description="环渤海通讯联络服务：流动人口服务管理单位通讯录与联络函件服务",
        epilog="配置：--config 文件或 BOHAI_CONFIG；"
        "任一选项可用环境变量 BOHAI_<节>_<选项> 覆盖，如 BOHAI_HTTP_PORT=0。",
    )
    parser.add_argument("--config", metavar="FILE", help="TOML 配置文件（默认值见 config/default.toml）")
    parser.add_argument("-v", "--verbose", action="store_true", help="输出调试日志")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_core, _add_search, _add_directory, _add_accounts, _add_letters, _add_meetings):
        add(sub)
    return parser


def _print_field_errors(errors: Sequence[FieldError]) -> None:
    for err in errors:
        print(f"  {err}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = settings_mod.load(args.config)
        handler: Handler = args.handler
        return handler(args, settings)
    except SettingsError as exc:
        print(f"配置错误：{exc}", file=sys.stderr)
        return 2
    except ValidationFailed as exc:
        print(f"错误：{exc}（共 {len(exc.errors)} 处）", file=sys.stderr)
        _print_field_errors(exc.errors)
        return 1
    except BohaiError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
