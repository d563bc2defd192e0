"""``bohai user …``: staff accounts, API tokens and the app passwords of CardDAV clients."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from directory.errors import FieldError, ValidationFailed
from liaison.cli.common import cli_actor, opened, positive_int
from liaison.settings import Settings

ROLE_HELP = (
    "角色：sysadmin 系统管理员、secadmin 安全管理员、auditor 审计员、editor 编辑、reader 只读（默认）；"
    "sysadmin,secadmin 可同时授予（不推荐），auditor 不能与管理员角色同时授予"
)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line.strip():
            raise ValidationFailed([FieldError("password", "标准输入中没有密码（应为一行）")], "密码未设置")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        # getpass would fall back to echoing stdin, or end in EOFError; say what to do instead
        message = "没有终端可输入密码：请在终端中运行，或加 --password-stdin 从标准输入读一行密码"
        raise ValidationFailed([FieldError("password", message)], "密码未设置")
    import getpass

    try:
        first = getpass.getpass("密码：")
        again = getpass.getpass("再次输入密码：")
    except EOFError:
        raise ValidationFailed([FieldError("password", "输入已结束，没有读到密码")], "密码未设置") from None
    if again != first:
        raise ValidationFailed([FieldError("password", "两次输入的密码不一致")], "密码未设置")
    return first


def cmd_user_add(args: argparse.Namespace, settings: Settings) -> int:
    from directory import accounts, profiles

    password = _read_password(args)
    with opened(settings) as store:
        user = accounts.add_user(store, args.username, password, args.role, args.province, "cli", settings.security)
        if args.office is not None or args.email is not None:
            profiles.set_profile(store, args.username, "cli", office_code=args.office, email=args.email)
    where = f"，省份 {user.province_name}" if user.province_name else ""
    print(f"已创建用户 {user.username}（{user.role_name}{where}）")
    _warn_both(user.role)
    return 0


def _warn_both(role: str) -> None:
    if role == "secadmin,sysadmin":
        warning = "警告：同一账户同时担任系统管理员和安全管理员；等保要求三员分立，请分给两个人（bohai user role）"
        print(warning, file=sys.stderr)


def cmd_user_role(args: argparse.Namespace, settings: Settings) -> int:
    from directory import accounts

    with opened(settings) as store:
        user = accounts.set_role(store, args.username, args.role, args.province, "cli")
    print(f"已将用户 {user.username} 的角色改为 {user.role_name}（其网页会话已全部退出）")
    _warn_both(user.role)
    return 0


def cmd_user_2fa_reset(args: argparse.Namespace, settings: Settings) -> int:
    from directory import twofactor

    with opened(settings) as store:
        if store.get_account(args.username) is None:
            raise ValidationFailed([FieldError("username", "用户不存在", value=args.username)], "未重置")
        ended = twofactor.reset(store, args.username, cli_actor("2fa"))
    print(f"已重置用户 {args.username} 的双因素认证（退出会话 {ended} 个）；其下次登录时须重新设置")
    return 0


def cmd_user_signout(args: argparse.Namespace, settings: Settings) -> int:
    with opened(settings) as store:
        ended = store.end_sessions(args.username, "revoked", cli_actor("signout"))
    print(f"已退出用户 {args.username} 的全部网页会话（{ended} 个）")
    return 0


def cmd_user_set(args: argparse.Namespace, settings: Settings) -> int:
    from directory import profiles

    if args.office is None and args.email is None:
        raise ValidationFailed([FieldError("office", "请至少给出 --office 或 --email")], "没有要修改的内容")
    with opened(settings) as store:
        account = profiles.set_profile(store, args.username, "cli", office_code=args.office, email=args.email)
        office = store.get_office(account["office_code"]) if account.get("office_code") else None
    shown = office["unit_name"] if office else "未设置（使用本省单位）"
    print(f"已修改用户 {args.username}：本单位 {shown}；邮箱 {account.get('email') or '未设置'}")
    return 0


def cmd_user_passwd(args: argparse.Namespace, settings: Settings) -> int:
    from directory import accounts

    password = _read_password(args)
    with opened(settings) as store:
        ended = accounts.set_password(store, args.username, password, "cli", settings.security)
    print(f"已修改用户 {args.username} 的密码（其网页会话 {ended} 个已退出）")
    return 0


def cmd_user_list(args: argparse.Namespace, settings: Settings) -> int:
    from directory.accounts import role_name
    from directory.passwords import password_age
    from directory.regions import PROVINCES

    with opened(settings) as store:
        rows = store.list_accounts()
    for a in rows:
        province = PROVINCES.get((a["province_code"] or "")[:2], "")
        state = "已停用" if a["disabled"] else "正常"  # accounts are never locked (failed logins are slowed)
        age = password_age(a["password_changed_at"], settings.security)
        expiry = "密码已过期" if age.expired else (f"密码{age.days_left}天后过期" if age.warn else "密码有效")
        factor = "双因素已启用" if a["totp_enabled_at"] else "双因素未启用"
        office = f"本单位 {a.get('office_code') or '—'}"
        print(f"{a['username']}\t{role_name(a['role'])}\t{province or '—'}\t{state}\t{expiry}\t{factor}\t{office}")
    if not rows:
        print("还没有用户；用 bohai user add 创建", file=sys.stderr)
    return 0


def cmd_user_disable(args: argparse.Namespace, settings: Settings) -> int:
    from directory import accounts

    with opened(settings) as store:
        accounts.set_disabled(store, args.username, not args.enable, "cli")
    print(f"已{'启用' if args.enable else '停用'}用户 {args.username}")
    return 0


def cmd_token_add(args: argparse.Namespace, settings: Settings) -> int:
    from directory import tokens

    with opened(settings) as store:
        token_id, token = tokens.issue(
            store,
            args.username,
            args.label,
            cli_actor("token"),
            scope=args.scope,
            province=args.province,
            expires_days=args.expires,
        )
    print(token)
    print(
        f"已创建令牌 {token_id}（{tokens.SCOPES[args.scope]}）。请立即妥善保存：令牌只显示这一次。"
        "用法：Authorization: Bearer <令牌>",
        file=sys.stderr,
    )
    return 0


def cmd_token_list(args: argparse.Namespace, settings: Settings) -> int:
    from directory import clock, tokens
    from directory.regions import PROVINCES

    with opened(settings) as store:
        rows = store.list_tokens(args.username)
    for t in rows:
        province = PROVINCES.get((t["province_code"] or "")[:2], "全部")
        used = f"{clock.shown(t['last_used_at'])} {t['last_used_from']}".strip() if t["last_used_at"] else "从未使用"
        expires = clock.shown(t["expires_at"], "不过期")
        print(
            f"{t['id']}\t{t['username']}\t{t['label']}\t{tokens.SCOPES.get(t['scope'], t['scope'])}\t{province}"
            f"\t{tokens.state(t)}\t到期：{expires}\t最近使用：{used}"
        )
    if not rows:
        print("还没有令牌；用 bohai user token add 用户名 --label 名称 创建", file=sys.stderr)
    return 0


def cmd_token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    with opened(settings) as store:
        row = store.revoke_token(args.id, cli_actor("token"))
    print(f"已吊销令牌 {row['id']}（{row['username']}：{row['label']}）")
    return 0


def _add_token_commands(user: Any) -> None:
    from directory import tokens

    token = user.add_parser("token", help="管理 API 访问令牌（可有多个，各有名称、权限、省份与有效期）")
    actions = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    p = actions.add_parser("add", help="创建新令牌（只显示一次）")
    p.add_argument("username", help="令牌所属的用户")
    p.add_argument("--label", required=True, help="令牌名称，说明用途（如：人事系统同步）")
    p.add_argument("--scope", choices=list(tokens.SCOPES), default="read", help="read 只读（默认）或 write 读写")
    p.add_argument("--province", metavar="CODE", help="只允许该省（如 13）；不超出用户本身的权限")
    p.add_argument("--expires", metavar="DAYS", type=positive_int, help="有效天数（默认不过期）")
    p.set_defaults(handler=cmd_token_add)
    p = actions.add_parser("list", help="列出令牌（不显示令牌本身）")
    p.add_argument("username", nargs="?", help="只列出该用户的令牌")
    p.set_defaults(handler=cmd_token_list)
    p = actions.add_parser("revoke", help="吊销令牌")
    p.add_argument("id", type=positive_int, help="令牌编号（见 bohai user token list）")
    p.set_defaults(handler=cmd_token_revoke)


def cmd_app_password_add(args: argparse.Namespace, settings: Settings) -> int:
    from directory import apppasswords

    with opened(settings) as store:
        new = apppasswords.add(store, args.username, args.label, "cli")
    print(new.secret)
    print(
        f"已为用户 {args.username} 创建应用密码（编号 {new.id}，设备“{new.label}”）。请在通讯录应用中以用户名 "
        f"{args.username} 和上面的应用密码登录；此密码只显示一次，只能用于同步通讯录（CardDAV），不能登录网页或 API",
        file=sys.stderr,
    )
    return 0


def cmd_app_password_list(args: argparse.Namespace, settings: Settings) -> int:
    from directory import apppasswords, clock

    with opened(settings) as store:
        rows = apppasswords.listed(store, args.username)
    for r in rows:
        created, used = clock.shown(r["created_at"]), clock.shown(r["last_used_at"], "从未使用")
        print(f"{r['id']}\t{r['label']}\t创建于 {created}\t最近使用 {used}")
    if not rows:
        print(f"用户 {args.username} 没有应用密码；用 bohai user app-password add 创建", file=sys.stderr)
    return 0


def cmd_app_password_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from directory import apppasswords

    with opened(settings) as store:
        label = apppasswords.revoke(store, args.username, args.id, "cli")
    print(f"已吊销用户 {args.username} 的应用密码 {args.id}（设备“{label}”），使用它的设备将无法再同步")
    return 0


def _add_app_password_commands(user: Any) -> None:
    group = user.add_parser("app-password", help="管理通讯录应用（CardDAV）的应用密码")
    actions = group.add_subparsers(dest="app_password_command", metavar="ACTION")
    p = actions.add_parser("add", help="为一台设备创建应用密码（只显示一次）")
    p.add_argument("username")
    p.add_argument("--label", required=True, help="设备名称，如 手机、办公室电脑")
    p.set_defaults(handler=cmd_app_password_add)
    p = actions.add_parser("list", help="列出账户的应用密码（不显示密码本身）")
    p.add_argument("username")
    p.set_defaults(handler=cmd_app_password_list)
    p = actions.add_parser("revoke", help="吊销一个应用密码")
    p.add_argument("username")
    p.add_argument("id", type=int, help="应用密码编号（见 list）")
    p.set_defaults(handler=cmd_app_password_revoke)


def add_commands(sub: Any) -> None:
    user = sub.add_parser("user", help="管理工作人员账户").add_subparsers(dest="user_command", metavar="ACTION")
    p = user.add_parser("add", help="创建账户")
    p.add_argument("username")
    p.add_argument("--role", default="reader", help=ROLE_HELP)
    p.add_argument("--province", help="编辑所属省份代码（如 13 或 130000000000），editor 必填")
    p.add_argument("--password-stdin", action="store_true", help="从标准输入读一行作为密码（供脚本使用）")
    p.add_argument("--office", metavar="CODE", help="本单位的区划代码：写函、发会议通知时默认的发出单位")
    p.add_argument("--email", help="本人电子邮箱：本省单位收到错误报告时通知到这里")
    p.set_defaults(handler=cmd_user_add)
    p = user.add_parser("set", help="修改账户资料（本单位、电子邮箱；空字符串表示清除）")
    p.add_argument("username")
    p.add_argument("--office", metavar="CODE", help="本单位的区划代码")
    p.add_argument("--email", help="本人电子邮箱")
    p.set_defaults(handler=cmd_user_set)
    p = user.add_parser("role", help="修改账户角色（其网页会话全部退出）")
    p.add_argument("username")
    p.add_argument("--role", required=True, help=ROLE_HELP)
    p.add_argument("--province", help="编辑所属省份代码，editor 必填")
    p.set_defaults(handler=cmd_user_role)
    p = user.add_parser("signout", help="退出账户的全部网页会话（所有实例）")
    p.add_argument("username")
    p.set_defaults(handler=cmd_user_signout)
    factor = user.add_parser("2fa", help="双因素认证").add_subparsers(dest="twofa_command", metavar="ACTION")
    p = factor.add_parser("reset", help="重置账户的双因素认证（安全管理员；同时退出其全部会话）")
    p.add_argument("username")
    p.set_defaults(handler=cmd_user_2fa_reset)
    p = user.add_parser("passwd", help="修改密码（同时解除锁定）")
    p.add_argument("username")
    p.add_argument("--password-stdin", action="store_true", help="从标准输入读一行作为密码")
    p.set_defaults(handler=cmd_user_passwd)
    p = user.add_parser("list", help="列出账户")
    p.set_defaults(handler=cmd_user_list)
    p = user.add_parser("disable", help="停用账户（同时吊销其全部访问令牌、退出其全部网页会话）")
    p.add_argument("username")
    p.add_argument("--enable", action="store_true", help="重新启用")
    p.set_defaults(handler=cmd_user_disable)
    _add_token_commands(user)
    _add_app_password_commands(user)
